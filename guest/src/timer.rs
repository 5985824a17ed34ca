//! Sleeping and timeouts, on timers the host arms (Tornado's `IOLoop.call_later` and
//! `gen.with_timeout`).

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
    let mut future = std::pin::pin!(future);
    let mut deadline = sleep(duration);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut deadline).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(TimedOut)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
