//! Log lines at a bounded rate: a device fleet sending garbage must not flood the log.
//! Each reason may log once per interval; the next line says how many were suppressed.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use dashmap::DashMap;

#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    last: DashMap<&'static str, Mutex<(Instant, u64)>>,
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

impl LogLimiter {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: DashMap::new(),
        }
    }

    /// Whether a line for `reason` may be logged now.
    pub fn allow(&self, reason: &'static str) -> bool {
        self.allow_counting(reason).is_some()
    }

    /// `Some(suppressed since the last line)` when a line for `reason` may be logged now.
    pub fn allow_counting(&self, reason: &'static str) -> Option<u64> {
        let now = Instant::now();
        let entry = self
            .last
            .entry(reason)
            .or_insert_with(|| Mutex::new((now - self.interval * 2, 0)));
        let mut state = entry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if now.duration_since(state.0) >= self.interval {
            let suppressed = state.1;
            *state = (now, 0);
            Some(suppressed)
        } else {
            state.1 += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_logs_once_and_counts_the_rest() {
        let limiter = LogLimiter::new(Duration::from_secs(60));
        assert_eq!(limiter.allow_counting("bad_shape"), Some(0));
        for _ in 0..5 {
            assert_eq!(limiter.allow_counting("bad_shape"), None);
        }
        assert_eq!(
            limiter.allow_counting("not_json"),
            Some(0),
            "reasons are independent"
        );
    }

    #[test]
    fn after_the_interval_the_next_line_reports_what_was_suppressed() {
        let limiter = LogLimiter::new(Duration::from_millis(1));
        assert!(limiter.allow("x"));
        assert!(!limiter.allow("x"));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(limiter.allow_counting("x"), Some(1));
    }
}
