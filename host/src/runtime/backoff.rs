//! When a plugin is given a rest: the failures of one plugin in one worker, the back-off they
//! cause, and how often they are logged.
//!
//! The rule. A trap (or a call that ends without a usable response, or past its deadline)
//! costs its own request a 500 and its instance; the next request gets a fresh instance at
//! once. The plugin is only rested (calls get 503 meanwhile) when it looks broken rather than
//! fed a bad request:
//! - its instantiation fails, twice or more in a row: 50 ms, then doubling up to 5 s;
//! - or calls for [`DISTINCT_FAILURES`] distinct requests (method and path) failed with no
//!   success between them: 50 ms, doubling with each such rest up to 5 s.
//!
//! One request that always traps, sent as often as an attacker likes, never rests the plugin
//! for the others. Calls overlap, so failures and successes count in the order the calls
//! end; any success clears the count.

use std::time::{Duration, Instant};

/// The longest a plugin rests.
pub const MAX_PLUGIN_BACKOFF: Duration = Duration::from_secs(5);

/// The first rest.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Failed calls for this many distinct requests, with no success between, rest the plugin.
pub const DISTINCT_FAILURES: usize = 4;

/// Failure records per plugin are at least this far apart; the ones in between are counted.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The failures of one plugin in one worker.
#[derive(Debug, Default)]
pub struct Health {
    /// Instantiations that failed in a row.
    failed_starts: u32,
    /// The distinct requests (method and path) whose calls failed since the last success.
    failing: Vec<String>,
    /// Rests caused by failed calls since the last success.
    rests: u32,
    /// While set and in the future, calls are refused.
    retry_at: Option<Instant>,
    /// When a failure was last logged, and how many were not logged since.
    last_report: Option<Instant>,
    unreported: u32,
}

/// What a failure led to.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// How long the plugin rests (zero: not at all).
    pub backoff: Duration,
    /// Whether to log this failure now, and how many earlier ones were held back.
    pub report: Option<u32>,
}

impl Health {
    /// Why a call is refused now, if the plugin rests.
    pub fn refusal(&mut self, plugin: &str) -> Option<String> {
        let at = self.retry_at?;
        if Instant::now() >= at {
            self.retry_at = None;
            return None;
        }
        Some(format!(
            "{plugin} is resting after {} failures",
            self.failed_starts.max(self.failing.len() as u32).max(1)
        ))
    }

    /// A call succeeded: every count starts over.
    pub fn succeeded(&mut self) {
        self.failed_starts = 0;
        self.failing.clear();
        self.rests = 0;
        self.retry_at = None;
    }

    /// An instantiation failed.
    pub fn start_failed(&mut self, now: Instant) -> Verdict {
        self.failed_starts += 1;
        let backoff = doubling(self.failed_starts.saturating_sub(1));
        self.rest(now, backoff)
    }

    /// A call for `request` (its method and path) failed.
    pub fn call_failed(&mut self, now: Instant, request: &str) -> Verdict {
        if !self.failing.iter().any(|seen| seen == request) {
            self.failing.push(request.to_owned());
        }
        let backoff = if self.failing.len() >= DISTINCT_FAILURES {
            self.failing.clear();
            self.rests += 1;
            doubling(self.rests)
        } else {
            Duration::ZERO
        };
        self.rest(now, backoff)
    }

    fn rest(&mut self, now: Instant, backoff: Duration) -> Verdict {
        if !backoff.is_zero() {
            self.retry_at = Some(now + backoff);
        }
        let report = if self
            .last_report
            .is_some_and(|at| now.duration_since(at) < REPORT_INTERVAL)
        {
            self.unreported += 1;
            None
        } else {
            self.last_report = Some(now);
            Some(std::mem::take(&mut self.unreported))
        };
        Verdict { backoff, report }
    }
}

/// 0 for `n = 0`, then 50 ms doubling up to [`MAX_PLUGIN_BACKOFF`].
fn doubling(n: u32) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    (FIRST_BACKOFF * 2u32.saturating_pow((n - 1).min(16))).min(MAX_PLUGIN_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_that_always_fails_never_rests_the_plugin() {
        let mut health = Health::default();
        let now = Instant::now();
        for _ in 0..100 {
            let verdict = health.call_failed(now, "GET /trap");
            assert_eq!(verdict.backoff, Duration::ZERO);
        }
        assert_eq!(health.refusal("p"), None);
    }

    #[test]
    fn distinct_failures_with_no_success_between_rest_it() {
        let mut health = Health::default();
        let now = Instant::now();
        for path in ["/a", "/b", "/c"] {
            assert_eq!(health.call_failed(now, path).backoff, Duration::ZERO);
        }
        assert_eq!(health.call_failed(now, "/d").backoff, FIRST_BACKOFF);
        assert!(health.refusal("p").is_some());
        for path in ["/e", "/f", "/g"] {
            health.call_failed(now, path);
        }
        assert_eq!(health.call_failed(now, "/h").backoff, 2 * FIRST_BACKOFF);
        health.succeeded();
        assert_eq!(health.refusal("p"), None);
        for path in ["/a", "/b", "/c"] {
            health.call_failed(now, path);
        }
        assert_eq!(
            health.call_failed(now, "/d").backoff,
            FIRST_BACKOFF,
            "a success starts the doubling over"
        );
    }

    #[test]
    fn a_success_between_failures_clears_the_count() {
        let mut health = Health::default();
        let now = Instant::now();
        for path in ["/a", "/b", "/c", "/d", "/e", "/f"] {
            assert_eq!(health.call_failed(now, path).backoff, Duration::ZERO);
            if path == "/c" {
                health.succeeded();
            }
        }
    }

    #[test]
    fn failed_instantiations_back_off_from_the_second() {
        let mut health = Health::default();
        let now = Instant::now();
        assert_eq!(health.start_failed(now).backoff, Duration::ZERO);
        assert_eq!(health.start_failed(now).backoff, FIRST_BACKOFF);
        assert_eq!(health.start_failed(now).backoff, 2 * FIRST_BACKOFF);
        for _ in 0..20 {
            health.start_failed(now);
        }
        assert_eq!(health.start_failed(now).backoff, MAX_PLUGIN_BACKOFF);
    }

    #[test]
    fn reports_are_a_second_apart_and_count_the_rest() {
        let mut health = Health::default();
        let now = Instant::now();
        assert_eq!(health.call_failed(now, "/a").report, Some(0));
        assert_eq!(health.call_failed(now, "/a").report, None);
        assert_eq!(health.call_failed(now, "/a").report, None);
        let later = now + REPORT_INTERVAL;
        assert_eq!(health.call_failed(later, "/a").report, Some(2));
    }
}
