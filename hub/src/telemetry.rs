//! Log setup: installs the process-wide `tracing` subscriber once, in text or JSON.
//! This is the only process-global the hub touches, and installing it twice is harmless,
//! so many hubs (and tests) in one process can all call [`init_tracing`].
//! [`LogLimiter`] keeps lines about floods (bad device messages, refused connections) at a
//! bounded rate: once per interval per reason, the next line saying how many were dropped.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use dashmap::DashMap;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// What is logged when `RUST_LOG` is not set: our own info, and only sqlx's warnings
/// (it logs every statement at info). The embedded broker logs ordinary disconnects as
/// errors, so it is silent unless asked for (`RUST_LOG=info,rumqttd=info`); the gate and
/// the bridge log what matters about devices.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,rumqttd=off";

/// Installs the subscriber. `RUST_LOG` overrides [`DEFAULT_FILTER`]. Returns `false`
/// if a subscriber was already installed, which is not an error.
pub fn init_tracing(format: LogFormat) -> bool {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.try_init().is_ok(),
        LogFormat::Json => builder.json().try_init().is_ok(),
    }
}

/// Log lines at a bounded rate: each reason may log once per interval.
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

    #[test]
    fn initialising_twice_is_harmless() {
        init_tracing(LogFormat::Text);
        assert!(!init_tracing(LogFormat::Json));
    }
}
