//! Reading requests off the stream under the phase deadlines: the idle (keep-alive) timeout
//! between requests, the header deadline and the body deadline. An idle connection closes as
//! soon as the host drains.

use std::cell::RefCell;
use std::time::Duration;

use eddy_http::{BodyStep, Phase, ServerConn};

use crate::host::Instant;
use crate::iostream::{IOStream, StreamError};
use crate::timer::{Either, select, timeout};
use crate::{Level, log};
use eddy_options::HttpOptions;

/// Bytes asked of the stream per read; the parser never holds more than one read beyond the
/// current request.
pub const READ_SIZE: usize = 64 * 1024;

/// The answer to `Expect: 100-continue` (RFC 9110 §10.1.1).
pub(super) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// One connection's stream, seen as the source of its requests.
#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    pub(super) stream: &'a IOStream,
    pub(super) options: &'a HttpOptions,
    /// For log lines.
    pub(super) peer_ip: &'a str,
}

impl Reader<'_> {
    /// Reads more bytes for `conn` within the phase's time; false when the connection ends.
    ///
    /// The head and the body each have a deadline counted from `started` (the head's first
    /// byte, the end of the head), as Tornado's `header_timeout` and `body_timeout`: a client
    /// trickling bytes cannot stretch them.
    pub(super) async fn read(
        &self,
        conn: &RefCell<ServerConn>,
        phase: Phase,
        started: Option<Instant>,
    ) -> bool {
        let limit = self.time_left(phase, started);
        if phase == Phase::Idle && crate::draining() {
            self.stream.close();
            return false;
        }
        let read = timeout(limit, self.stream.read_bytes(READ_SIZE, true));
        let outcome = if phase == Phase::Idle {
            // An idle connection closes as soon as the host drains.
            match select(read, crate::drain_started()).await {
                Either::Left(outcome) => outcome,
                Either::Right(()) => {
                    self.stream.close();
                    return false;
                }
            }
        } else {
            read.await
        };
        match outcome {
            // The read's buffer moves into the parser: the bytes are not copied again.
            Ok(Ok(bytes)) => conn.borrow_mut().feed_owned(bytes),
            Ok(Err(_)) => conn.borrow_mut().feed_eof(),
            Err(_) => {
                log(
                    Level::Debug,
                    &format!(
                        "closing {}: {phase:?} timeout after {limit:?}",
                        self.peer_ip
                    ),
                );
                self.stream.close();
                return false;
            }
        }
        true
    }

    /// How long the next read of `phase` may take: the idle timeout in full, or what is left
    /// of the head's or the body's deadline since `started`.
    fn time_left(&self, phase: Phase, started: Option<Instant>) -> Duration {
        let left = |deadline: Duration| match started {
            Some(started) => {
                deadline.saturating_sub(Duration::from_nanos(crate::now().saturating_sub(started)))
            }
            None => deadline,
        };
        match phase {
            Phase::Idle => self.options.idle_timeout,
            Phase::Head => left(self.options.header_timeout),
            Phase::Body => left(self.options.body_timeout),
        }
    }
}

/// Where a streamed request body comes from: the connection's parser and socket.
#[derive(Clone, Copy)]
pub(super) struct BodySource<'a> {
    pub(super) conn: &'a RefCell<ServerConn>,
    pub(super) reader: Reader<'a>,
    /// When the head ended: the body deadline counts from there.
    pub(super) started: Instant,
}

impl BodySource<'_> {
    /// The next piece of the body, `Ok(None)` once it is complete.
    ///
    /// # Errors
    /// The body is malformed or too large, was cut short, or did not arrive within the body
    /// timeout.
    pub(super) async fn next(&self) -> Result<Option<Vec<u8>>, StreamError> {
        loop {
            let step = self.conn.borrow_mut().read_body();
            match step {
                BodyStep::Data(bytes) => return Ok(Some(bytes)),
                BodyStep::End => return Ok(None),
                BodyStep::Continue => self.reader.stream.write(CONTINUE).await?,
                BodyStep::NeedData => {
                    let read = self
                        .reader
                        .read(self.conn, Phase::Body, Some(self.started))
                        .await;
                    if !read {
                        return Err(StreamError::Closed(None));
                    }
                }
                BodyStep::Failed(rejection) => {
                    log(
                        Level::Debug,
                        &format!("a streamed request body failed: {}", rejection.reason),
                    );
                    return Err(StreamError::Closed(None));
                }
            }
        }
    }
}
