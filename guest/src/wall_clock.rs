//! The wall clock as a server reads it per request: the `Date` header and request start
//! times, without a host call each.
//!
//! The host's wall clock is read once per wall-clock second; in between, the time is that
//! reading moved on by the monotonic clock of the event loop ([`crate::now`]). The `Date`
//! header is formatted once per second too. A wall clock stepped by the system shows within a
//! second.

use std::cell::RefCell;

use eddy_http::response::http_date;

use crate::host::Instant;
use crate::runtime;

const SECOND: u64 = 1_000_000_000;

/// The last reading of the host's wall clock.
struct Reading {
    /// The event-loop time of the reading.
    at: Instant,
    /// Nanoseconds since the Unix epoch at `at`.
    wall: u64,
    /// When the wall clock turns to its next second: read it again from then on.
    stale_at: Instant,
    /// `Date` for the reading's second.
    date: String,
}

thread_local! {
    static READING: RefCell<Option<Reading>> = const { RefCell::new(None) };
}

/// Runs `f` on the current reading, reading the host's clock first when the second turned.
fn with_reading<R>(f: impl FnOnce(&Reading, Instant) -> R) -> R {
    let now = runtime::now();
    READING.with(|reading| {
        let mut reading = reading.borrow_mut();
        let current = reading
            .as_ref()
            .is_some_and(|reading| now >= reading.at && now < reading.stale_at);
        if !current {
            let (secs, nanos) = runtime::host().wall_time();
            *reading = Some(Reading {
                at: now,
                wall: secs.saturating_mul(SECOND).saturating_add(u64::from(nanos)),
                stale_at: now.saturating_add(SECOND - u64::from(nanos.min(999_999_999))),
                date: http_date(secs),
            });
        }
        let reading = reading
            .as_ref()
            .expect("invariant: a reading was just taken");
        f(reading, now)
    })
}

/// Wall-clock nanoseconds since the Unix epoch at the current event-loop time.
pub fn wall_nanos() -> u64 {
    with_reading(|reading, now| reading.wall.saturating_add(now - reading.at))
}

/// Calls `f` with the `Date` header value (RFC 9110 IMF-fixdate) for the current second.
pub fn with_http_date<R>(f: impl FnOnce(&str) -> R) -> R {
    with_reading(|reading, _| f(&reading.date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;

    #[test]
    fn the_host_clock_is_read_once_per_second() {
        let host = FakeHost::install();
        host.0.borrow_mut().wall = (1_700_000_000, 400_000_000);
        runtime::handle_events(1_000, []);
        let first = with_http_date(str::to_owned);
        assert_eq!(first, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(wall_nanos(), 1_700_000_000_400_000_000);
        // Later in the same second: no new reading; the time moves with the loop's clock.
        host.0.borrow_mut().wall = (1_800_000_000, 0);
        runtime::handle_events(1_000 + 500_000_000, []);
        assert_eq!(wall_nanos(), 1_700_000_000_900_000_000);
        assert_eq!(with_http_date(str::to_owned), first);
        assert_eq!(host.0.borrow().wall_reads, 1);
        // The second turned: the host's clock is read again, stepped or not.
        runtime::handle_events(1_000 + 600_000_000, []);
        assert_eq!(wall_nanos(), 1_800_000_000_000_000_000);
        assert_eq!(
            with_http_date(str::to_owned),
            "Fri, 15 Jan 2027 08:00:00 GMT"
        );
        assert_eq!(host.0.borrow().wall_reads, 2);
    }
}
