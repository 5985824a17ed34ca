//! When a plugin is given a rest: the failures of one plugin in one worker, the back-off they
//! cause, and how often they are logged.
//!
//! The rule. A trap (or a call that ends without a usable response, or past its deadline)
//! costs its own request a 500 and its instance; the next request gets a fresh instance at
//! once, however often that happens. The plugin is rested (calls get 503 meanwhile) only when
//! its instantiation fails twice or more in a row: 50 ms, then doubling up to 5 s; a
//! successful instantiation or call clears the count. Calls overlap, so failures and
//! successes count in the order they happen.
//!
//! Why traps never rest a plugin: which request traps is the client's choice. Any rule that
//! rests a plugin after traps (even traps of distinct requests with no success between) lets
//! an attacker who varies the path take the plugin offline for everyone. Back-off exists to
//! stop a plugin that cannot start from burning a worker; a plugin that starts and traps
//! costs what each trapping request costs, one instantiation.

use std::time::{Duration, Instant};

/// The longest a plugin rests.
pub const MAX_PLUGIN_BACKOFF: Duration = Duration::from_secs(5);

/// The first rest.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Failure records per plugin are at least this far apart; the ones in between are counted.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The failures of one plugin in one worker.
#[derive(Debug, Default)]
pub struct Health {
    /// Instantiations that failed in a row.
    failed_starts: u32,
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
            "{plugin} is resting after {} failed instantiations",
            self.failed_starts
        ))
    }

    /// A call succeeded: every count starts over.
    pub fn succeeded(&mut self) {
        self.failed_starts = 0;
        self.retry_at = None;
    }

    /// An instantiation failed.
    pub fn start_failed(&mut self, now: Instant) -> Verdict {
        self.failed_starts += 1;
        let backoff = doubling(self.failed_starts.saturating_sub(1));
        self.rest(now, backoff)
    }

    /// A call failed: its request pays for it, the plugin does not rest.
    pub fn call_failed(&mut self, now: Instant) -> Verdict {
        self.rest(now, Duration::ZERO)
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
    fn failed_calls_never_rest_the_plugin() {
        let mut health = Health::default();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(health.call_failed(now).backoff, Duration::ZERO);
        }
        assert_eq!(health.refusal("p"), None);
    }

    #[test]
    fn failed_instantiations_back_off_from_the_second() {
        let mut health = Health::default();
        let now = Instant::now();
        assert_eq!(health.start_failed(now).backoff, Duration::ZERO);
        assert_eq!(health.start_failed(now).backoff, FIRST_BACKOFF);
        assert!(health.refusal("p").is_some());
        assert_eq!(health.start_failed(now).backoff, 2 * FIRST_BACKOFF);
        for _ in 0..20 {
            health.start_failed(now);
        }
        assert_eq!(health.start_failed(now).backoff, MAX_PLUGIN_BACKOFF);
        health.succeeded();
        assert_eq!(health.refusal("p"), None);
        assert_eq!(
            health.start_failed(now).backoff,
            Duration::ZERO,
            "counted afresh"
        );
    }

    #[test]
    fn reports_are_a_second_apart_and_count_the_rest() {
        let mut health = Health::default();
        let now = Instant::now();
        assert_eq!(health.call_failed(now).report, Some(0));
        assert_eq!(health.call_failed(now).report, None);
        assert_eq!(health.call_failed(now).report, None);
        let later = now + REPORT_INTERVAL;
        assert_eq!(health.call_failed(later).report, Some(2));
    }
}
