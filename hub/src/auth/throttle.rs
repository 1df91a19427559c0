//! [`LoginThrottle`]: slows down PIN and password guessing by locking a key (a venue, an
//! address) after repeated failed logins. It owns only in-memory counters: nothing is
//! persisted, and it never sleeps or awaits; callers pass `now` and decide what to send.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use dashmap::DashMap;

/// Limits of the throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures within `window` that lock the key.
    pub max_failures: usize,
    pub window: Duration,
    /// How long a locked key stays locked.
    pub lockout: Duration,
    /// Above this many keys, entries with nothing recent are dropped; if that is not
    /// enough (a flood of distinct keys), new keys are not tracked until there is room,
    /// so an attacker cannot grow the hub's memory without bound.
    pub max_keys: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(5 * 60),
            lockout: Duration::from_secs(5 * 60),
            max_keys: 10_000,
        }
    }
}

#[derive(Debug, Default)]
struct Attempts {
    /// Times of the recent failures, oldest first; never longer than `max_failures`.
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

impl Attempts {
    fn is_stale(&self, now: Instant, window: Duration) -> bool {
        let locked = self.locked_until.is_some_and(|until| until > now);
        let recent = self
            .failures
            .back()
            .is_some_and(|last| now.saturating_duration_since(*last) < window);
        !locked && !recent
    }
}

/// Failed-login counters per key, e.g. `"venue:<uuid>"` or `"ip:<addr>"`. Shared by all
/// requests of one hub: keep one in `AppState` (behind its `Arc`); it locks internally.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    attempts: DashMap<String, Attempts>,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            attempts: DashMap::new(),
        }
    }

    pub fn config(&self) -> ThrottleConfig {
        self.config
    }

    /// `Ok` if a login may be tried for `key` now, otherwise how long until it may.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        match self.attempts.get(key).and_then(|a| a.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed login for `key`; the `max_failures`-th failure inside the sliding
    /// window locks the key for `lockout`.
    pub fn record_failure(&self, key: &str, now: Instant) {
        if let Some(mut attempts) = self.tracked(key, now) {
            self.count_failure(&mut attempts, now);
        }
    }

    /// Counts a login attempt for `key` before its secret is checked, as a failure that a
    /// success then forgets, or refuses it with how long until one may be tried. The check
    /// and the count are one step under the key's lock, so concurrent attempts cannot all
    /// pass the check while the first ones are still hashing.
    pub fn attempt(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Some(mut attempts) = self.tracked(key, now) else {
            // Too many keys to track one more: refuse rather than let guesses run unmetered.
            return Err(self.config.window);
        };
        if let Some(until) = attempts.locked_until
            && until > now
        {
            return Err(until - now);
        }
        self.count_failure(&mut attempts, now);
        Ok(())
    }

    /// The key's counters, created if there is room for one more key.
    fn tracked(
        &self,
        key: &str,
        now: Instant,
    ) -> Option<dashmap::mapref::one::RefMut<'_, String, Attempts>> {
        if !self.attempts.contains_key(key) && self.attempts.len() >= self.config.max_keys {
            self.prune(now);
            if self.attempts.len() >= self.config.max_keys {
                tracing::warn!(
                    keys = self.attempts.len(),
                    "login throttle full; not tracking a new key"
                );
                return None;
            }
        }
        Some(self.attempts.entry(key.to_owned()).or_default())
    }

    fn count_failure(&self, attempts: &mut Attempts, now: Instant) {
        if attempts.locked_until.is_some_and(|until| until <= now) {
            // The lockout is over: start afresh rather than relock on the next failure.
            attempts.locked_until = None;
            attempts.failures.clear();
        }
        let window = self.config.window;
        while attempts
            .failures
            .front()
            .is_some_and(|first| now.saturating_duration_since(*first) >= window)
        {
            attempts.failures.pop_front();
        }
        attempts.failures.push_back(now);
        if attempts.failures.len() >= self.config.max_failures {
            attempts.locked_until = Some(now + self.config.lockout);
            attempts.failures.clear();
        }
    }

    /// A successful login forgets the key's failures.
    pub fn record_success(&self, key: &str) {
        self.attempts.remove(key);
    }

    /// Number of keys currently tracked.
    pub fn len(&self) -> usize {
        self.attempts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    /// Drops keys that are neither locked nor failed within the window.
    pub fn prune(&self, now: Instant) {
        let window = self.config.window;
        self.attempts.retain(|_, a| !a.is_stale(now, window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "venue:demo";

    fn fail(throttle: &LoginThrottle, key: &str, times: usize, now: Instant) {
        for _ in 0..times {
            throttle.record_failure(key, now);
        }
    }

    #[test]
    fn four_failures_do_not_lock_but_the_fifth_does() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        fail(&throttle, KEY, 4, t0);
        assert_eq!(throttle.check(KEY, t0), Ok(()));
        throttle.record_failure(KEY, t0 + Duration::from_secs(10));
        let retry = throttle
            .check(KEY, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(retry, Duration::from_secs(300));
        assert_eq!(
            throttle.check(KEY, t0 + Duration::from_secs(70)),
            Err(Duration::from_secs(240))
        );
    }

    #[test]
    fn a_lock_ends_after_the_lockout() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        fail(&throttle, KEY, 5, t0);
        assert!(throttle.check(KEY, t0 + Duration::from_secs(299)).is_err());
        let later = t0 + Duration::from_secs(300);
        assert_eq!(throttle.check(KEY, later), Ok(()));
        // And the counter restarted: one more failure does not relock.
        throttle.record_failure(KEY, later);
        assert_eq!(throttle.check(KEY, later), Ok(()));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        fail(&throttle, KEY, 4, t0);
        let later = t0 + Duration::from_secs(301);
        throttle.record_failure(KEY, later);
        assert_eq!(throttle.check(KEY, later), Ok(()));
    }

    #[test]
    fn the_window_slides_rather_than_resetting() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        fail(&throttle, KEY, 3, t0);
        fail(&throttle, KEY, 1, t0 + Duration::from_secs(200));
        // The first three have left the window; two remain after this one.
        fail(&throttle, KEY, 1, t0 + Duration::from_secs(350));
        assert_eq!(throttle.check(KEY, t0 + Duration::from_secs(350)), Ok(()));
        // Three more within five minutes of the one at 200 s lock the key.
        fail(&throttle, KEY, 3, t0 + Duration::from_secs(360));
        assert!(throttle.check(KEY, t0 + Duration::from_secs(360)).is_err());
    }

    #[test]
    fn attempts_are_counted_before_they_are_checked() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        // Five attempts start before any has finished: each is counted as it starts.
        for _ in 0..5 {
            assert_eq!(throttle.attempt(KEY, t0), Ok(()));
        }
        assert_eq!(throttle.attempt(KEY, t0), Err(Duration::from_secs(300)));
    }

    #[test]
    fn a_successful_attempt_is_forgotten() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..4 {
            throttle.attempt(KEY, t0).unwrap();
        }
        throttle.record_success(KEY);
        for _ in 0..4 {
            assert_eq!(throttle.attempt(KEY, t0), Ok(()));
        }
    }

    #[test]
    fn an_attempt_on_a_full_throttle_is_refused() {
        let throttle = LoginThrottle::new(ThrottleConfig {
            max_keys: 1,
            ..ThrottleConfig::default()
        });
        let t0 = Instant::now();
        throttle.attempt("a", t0).unwrap();
        assert!(throttle.attempt("b", t0).is_err());
    }

    #[test]
    fn a_success_forgets_earlier_failures() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        fail(&throttle, KEY, 4, t0);
        throttle.record_success(KEY);
        throttle.record_failure(KEY, t0);
        assert_eq!(throttle.check(KEY, t0), Ok(()));
    }

    #[test]
    fn keys_are_throttled_independently() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        fail(&throttle, "ip:10.0.0.7", 5, t0);
        assert!(throttle.check("ip:10.0.0.7", t0).is_err());
        assert_eq!(throttle.check("ip:10.0.0.8", t0), Ok(()));
        assert_eq!(throttle.check(KEY, t0), Ok(()));
    }

    #[test]
    fn limits_are_configurable() {
        let throttle = LoginThrottle::new(ThrottleConfig {
            max_failures: 2,
            window: Duration::from_secs(10),
            lockout: Duration::from_secs(1),
            ..ThrottleConfig::default()
        });
        let t0 = Instant::now();
        fail(&throttle, KEY, 2, t0);
        assert_eq!(throttle.check(KEY, t0), Err(Duration::from_secs(1)));
    }

    #[test]
    fn stale_keys_are_dropped_when_the_map_is_full() {
        let throttle = LoginThrottle::new(ThrottleConfig {
            max_keys: 3,
            ..ThrottleConfig::default()
        });
        let t0 = Instant::now();
        for key in ["a", "b", "c"] {
            throttle.record_failure(key, t0);
        }
        // "c" is locked a little later, so it is still locked when "d" arrives.
        fail(&throttle, "c", 4, t0 + Duration::from_secs(100));
        assert_eq!(throttle.len(), 3);
        let later = t0 + Duration::from_secs(301);
        throttle.record_failure("d", later);
        // "a" and "b" were stale; "c" is still locked and kept.
        assert_eq!(throttle.len(), 2);
        assert!(throttle.check("c", later).is_err());
    }

    #[test]
    fn a_full_map_of_live_keys_does_not_grow() {
        let throttle = LoginThrottle::new(ThrottleConfig {
            max_keys: 2,
            ..ThrottleConfig::default()
        });
        let t0 = Instant::now();
        for key in ["a", "b", "c"] {
            throttle.record_failure(key, t0);
        }
        assert_eq!(throttle.len(), 2);
        // Keys already tracked keep counting.
        fail(&throttle, "a", 4, t0);
        assert!(throttle.check("a", t0).is_err());
    }
}
