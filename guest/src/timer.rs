//! Sleeping, timeouts and racing two futures, on timers the host arms (Tornado's
//! `IOLoop.call_later` and `gen.with_timeout`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::host::{Instant, TimerId};
use crate::runtime;

/// A future that resolves at a deadline.
///
/// Dropping it before then disarms the host timer.
pub struct Sleep {
    timer: Option<TimerId>,
}

/// Resolves `duration` after the current event-loop time.
pub fn sleep(duration: Duration) -> Sleep {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    sleep_until(runtime::now().saturating_add(nanos))
}

/// Resolves at `deadline` (a monotonic reading in nanoseconds).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        timer: Some(runtime::arm_timer(deadline)),
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(timer) = self.timer else {
            return Poll::Ready(());
        };
        if runtime::poll_timer(timer, cx.waker()) {
            self.timer = None;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            runtime::disarm_timer(timer);
        }
    }
}

/// The deadline passed before the future finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut;

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for TimedOut {}

/// Runs `future` for at most `duration`; on time-out the future is dropped (cancelling any
/// read it had pending).
///
/// # Errors
/// [`TimedOut`] if the deadline passed first.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, TimedOut> {
    match select(future, sleep(duration)).await {
        Either::Left(output) => Ok(output),
        Either::Right(()) => Err(TimedOut),
    }
}

/// Which of the two futures given to [`select`] finished first, with its output.
pub(crate) enum Either<A, B> {
    /// The first future finished (it wins a tie).
    Left(A),
    /// The second future finished.
    Right(B),
}

/// Runs two futures until the first finishes; the other is dropped, which cancels it.
pub(crate) async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(output) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(output));
        }
        if let Poll::Ready(output) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(output));
        }
        Poll::Pending
    })
    .await
}
