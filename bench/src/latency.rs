//! Latency summaries: collects request durations and reduces them to the percentiles a
//! report prints. Pure arithmetic; it never times anything itself.

use std::time::Duration;

/// Durations of completed requests, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    micros: Vec<u64>,
}

/// What a report prints about a set of latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latencies {
    pub fn record(&mut self, elapsed: Duration) {
        self.micros
            .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    /// Nearest-rank percentiles; `None` when nothing was recorded.
    pub fn summary(mut self) -> Option<Summary> {
        if self.micros.is_empty() {
            return None;
        }
        self.micros.sort_unstable();
        let at = |percent: usize| {
            let rank = (self.micros.len() * percent).div_ceil(100).max(1);
            Duration::from_micros(self.micros[rank - 1])
        };
        Some(Summary {
            count: self.micros.len(),
            p50: at(50),
            p99: at(99),
            max: at(100),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(millis: impl IntoIterator<Item = u64>) -> Latencies {
        let mut latencies = Latencies::default();
        for ms in millis {
            latencies.record(Duration::from_millis(ms));
        }
        latencies
    }

    #[test]
    fn nothing_recorded_has_no_summary() {
        assert_eq!(Latencies::default().summary(), None);
    }

    #[test]
    fn percentiles_are_nearest_rank_over_every_recorded_request() {
        let summary = of((1..=100).rev()).summary().unwrap();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));
    }

    #[test]
    fn a_single_slow_request_shows_in_max_but_not_in_the_median() {
        let mut latencies = of([2; 9]);
        latencies.merge(of([500]));
        let summary = latencies.summary().unwrap();
        assert_eq!(summary.p50, Duration::from_millis(2));
        assert_eq!(summary.max, Duration::from_millis(500));
    }
}
