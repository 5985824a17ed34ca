//! Failed handshakes, counted per worker and logged at most once per second: a flood of
//! garbage must not become a flood of log lines.

use std::time::{Duration, Instant};

/// Log lines about failed handshakes are at least this far apart.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// One worker's failed handshakes.
#[derive(Debug, Default)]
pub struct HandshakeFailures {
    /// Every failure since the worker started.
    pub total: u64,
    unreported: u64,
    last_report: Option<Instant>,
    last_reason: String,
}

impl HandshakeFailures {
    /// Counts one failure from `peer`; logs it unless a line went out less than a second
    /// ago, in which case the next line counts it.
    pub fn record(&mut self, worker: usize, peer: &str, reason: &str, now: Instant) {
        self.total += 1;
        self.unreported += 1;
        self.last_reason = format!("{peer}: {reason}");
        self.report(worker, now);
    }

    /// Logs the failures not yet reported, if the interval allows.
    pub fn report(&mut self, worker: usize, now: Instant) {
        if self.unreported == 0
            || self
                .last_report
                .is_some_and(|last| now.duration_since(last) < REPORT_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            worker,
            "TLS handshake failed ({} since the last report, {} in all); last from {}",
            self.unreported,
            self.total,
            self.last_reason
        );
        self.unreported = 0;
        self.last_report = Some(now);
    }

    /// When held-back failures may be reported next.
    pub fn next_report(&self) -> Option<Instant> {
        (self.unreported > 0)
            .then(|| self.last_report.map(|last| last + REPORT_INTERVAL))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_one_line_then_counted_into_the_next() {
        let mut failures = HandshakeFailures::default();
        let start = Instant::now();
        failures.record(0, "1.2.3.4:5", "garbage", start);
        assert_eq!(
            failures.unreported, 0,
            "the first failure is logged at once"
        );
        for _ in 0..499 {
            failures.record(0, "1.2.3.4:5", "garbage", start + Duration::from_millis(10));
        }
        assert_eq!(failures.unreported, 499);
        assert_eq!(failures.next_report(), Some(start + REPORT_INTERVAL));
        failures.report(0, start + REPORT_INTERVAL);
        assert_eq!(failures.unreported, 0);
        assert_eq!(failures.total, 500);
    }
}
