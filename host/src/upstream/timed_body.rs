//! An upstream's response body that fails when it makes no progress for a while (the
//! between-bytes timeout), or runs past the call's deadline.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

/// A response body whose frames must come at most `between` apart.
pub struct TimedBody {
    incoming: Incoming,
    between: Duration,
    /// The latest moment the next frame may come: `between` from the last one, capped by the
    /// call's deadline.
    deadline: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl TimedBody {
    /// Wraps `incoming`; `deadline` is the call's, which no frame may pass.
    pub fn new(incoming: Incoming, between: Duration, deadline: Instant) -> Self {
        let next = (Instant::now() + between).min(deadline);
        Self {
            incoming,
            between,
            deadline,
            sleep: Box::pin(tokio::time::sleep_until(next)),
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = (Instant::now() + self.between).min(self.deadline);
                self.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(Error::from(error)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
