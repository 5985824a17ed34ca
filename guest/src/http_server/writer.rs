//! Writing one response, whole or in pieces: [`ResponseWriter`] encodes the head, frames the
//! body (chunked on HTTP/1.1, until close on HTTP/1.0), charges what it queues to the
//! worker's response budget and cuts a client that takes no bytes for the write timeout. It
//! also hands a streaming handler the request body.

use std::cell::Cell;
use std::time::Duration;

use eddy_http::chunked::{LAST_CHUNK, write_chunk};
use eddy_http::{
    EncodeOptions, FINAL_STATUS, Response, StreamFraming, Version, encode, encode_parts,
    encode_sized_stream_head, is_final_status,
};

use super::reader::BodySource;
use super::response_budget::{Charge, Holder};
use crate::iostream::{IOStream, StreamError};
use crate::timer::timeout;
use crate::wall_clock::with_http_date;
use crate::{Level, log};

/// Responses are handed to the stream in pieces of this size, each awaited, and each given
/// back to the response budget once the host took it.
pub const WRITE_PIECE: usize = 1024 * 1024;

/// How often a blocked write checks whether the client took any bytes: the write timeout
/// counts only time without progress, measured to this fraction of it.
const WRITE_PROGRESS_CHECKS: u32 = 4;

/// How far a response got, shared between the writer and the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// Nothing sent yet.
    NotStarted,
    /// The head is out; the body follows with this framing (and the keep-alive decision).
    Body(StreamFraming, bool),
    /// Complete; whether the connection may stay open.
    Done(bool),
}

/// What one response put on the wire, for the access log.
#[derive(Default)]
pub(super) struct Meter {
    /// The status sent (500 for one that is not final).
    pub(super) status: Cell<u16>,
    /// A write failed: the connection cannot carry another response.
    pub(super) failed: Cell<bool>,
}

/// Writes one response, whole or in pieces (and reads a streamed request body).
///
/// The connection makes one per request; see [`super::StreamingHandler`].
pub struct ResponseWriter<'a> {
    pub(super) stream: &'a IOStream,
    /// The connection's share of the worker's response budget.
    pub(super) holder: &'a Holder,
    /// The request body still to read, when the handler streams it.
    pub(super) body: Option<BodySource<'a>>,
    pub(super) progress: &'a Cell<Progress>,
    pub(super) meter: &'a Meter,
    /// The request's method (a response to HEAD has no body).
    pub(super) method: String,
    pub(super) version: Version,
    pub(super) accept_encoding: Option<Vec<u8>>,
    /// Whether the request allows the connection to stay open.
    pub(super) keep_alive: bool,
    pub(super) gzip: bool,
    pub(super) write_timeout: Duration,
}

impl ResponseWriter<'_> {
    /// Hands bytes to the stream within the write timeout; a client that stops reading for
    /// that long is cut off.
    async fn put(&self, bytes: impl Into<Vec<u8>>) -> Result<(), StreamError> {
        let bytes = bytes.into();
        let length = bytes.len();
        if length <= WRITE_PIECE {
            return self.put_pieces(std::iter::once(bytes), length).await;
        }
        self.put_pieces(into_pieces(bytes, WRITE_PIECE), length)
            .await
    }

    /// Writes `pieces` (`length` bytes in all), each awaited, so a response of any size flows
    /// at the client's pace instead of filling the write buffer. They are charged to the
    /// response budget first and given back one by one as the host takes them.
    async fn put_pieces(
        &self,
        pieces: impl IntoIterator<Item = Vec<u8>>,
        length: usize,
    ) -> Result<(), StreamError> {
        let mut charge = self.holder.charge(length);
        let mut result = Ok(());
        for piece in pieces {
            let taken = piece.len();
            result = self.put_piece(piece).await;
            if result.is_err() {
                break;
            }
            charge.release(taken);
        }
        if result.is_err() {
            self.meter.failed.set(true);
        }
        result
    }

    /// Writes one piece; the write timeout counts only time in which the client took no
    /// bytes at all (like nginx's `send_timeout`), so a slow but steady reader is never cut.
    async fn put_piece(&self, bytes: Vec<u8>) -> Result<(), StreamError> {
        let mut write = std::pin::pin!(self.stream.write(bytes));
        let check = (self.write_timeout / WRITE_PROGRESS_CHECKS).max(Duration::from_millis(1));
        let mut seen = self.stream.bytes_written();
        let mut stalled = Duration::ZERO;
        loop {
            if let Ok(result) = timeout(check, write.as_mut()).await {
                return result;
            }
            let written = self.stream.bytes_written();
            if written > seen {
                seen = written;
                stalled = Duration::ZERO;
                continue;
            }
            stalled += check;
            if stalled >= self.write_timeout {
                log(
                    Level::Debug,
                    &format!(
                        "closing: the client read nothing for {:?}",
                        self.write_timeout
                    ),
                );
                self.stream.close();
                return Err(StreamError::Closed(None));
            }
        }
    }

    /// The next piece of a streamed request body ([`StreamingHandler::streams_body`]);
    /// `Ok(None)` once it is complete, or at once when the body was not streamed.
    ///
    /// # Errors
    /// The body is malformed or too large (413), was cut short, or did not arrive within the
    /// body timeout; the connection closes after the response.
    pub async fn read_body(&self) -> Result<Option<Vec<u8>>, StreamError> {
        match self.body {
            Some(source) => source.next().await,
            None => Ok(None),
        }
    }

    /// Whether the request body comes piece by piece through [`ResponseWriter::read_body`]
    /// ([`StreamingHandler::streams_body`](super::StreamingHandler::streams_body) said so).
    pub fn streams_body(&self) -> bool {
        self.body.is_some()
    }

    /// Whether the connection stays open after this response: not once the host drains.
    fn keep(&self) -> bool {
        self.keep_alive && !crate::draining()
    }

    fn encode_options<'o>(&'o self, date: &'o str) -> EncodeOptions<'o> {
        EncodeOptions {
            method: &self.method,
            version: self.version,
            accept_encoding: self.accept_encoding.as_deref(),
            keep_alive: self.keep(),
            gzip: self.gzip,
            date,
        }
    }

    /// Sends a whole response (status, headers and body) and finishes.
    ///
    /// A status that is not final ([`FINAL_STATUS`]) is answered as a 500, with a log line.
    ///
    /// # Errors
    /// The response was already started, or the stream closed.
    pub async fn send(&self, response: Response) -> Result<(), StreamError> {
        if self.progress.get() != Progress::NotStarted {
            return Err(StreamError::Closed(None));
        }
        let response = self.final_status(response);
        self.meter.status.set(response.status);
        self.progress.set(Progress::Done(self.keep()));
        if response.body.len() <= WRITE_PIECE {
            let bytes = with_http_date(|date| encode(response, &self.encode_options(date)));
            return self.put(bytes).await;
        }
        // A large body is written after its head without being copied behind it.
        let (head, body) =
            with_http_date(|date| encode_parts(response, &self.encode_options(date)));
        let length = head.len() + body.len();
        let pieces = std::iter::once(head).chain(into_pieces(body, WRITE_PIECE));
        self.put_pieces(pieces, length).await
    }

    /// `response`, or a 500 in its place when its status is not a final one (a 1xx would
    /// leave the client waiting for the real answer, and on a pipelined connection it would
    /// take the next response for this one's).
    fn final_status(&self, response: Response) -> Response {
        if is_final_status(response.status) {
            return response;
        }
        log(
            Level::Warn,
            &format!(
                "a handler answered {} with status {}, outside {}–{}: sending 500 instead",
                self.method,
                response.status,
                FINAL_STATUS.start(),
                FINAL_STATUS.end()
            ),
        );
        Response::error(500)
    }

    /// Sends the status and headers of `head` (its body is ignored); the body follows in
    /// [`ResponseWriter::write`] calls, chunked on HTTP/1.1, until the close on HTTP/1.0.
    ///
    /// A status that is not final ([`FINAL_STATUS`]) is answered as a 500, with a log line.
    ///
    /// # Errors
    /// The response was already started, or the stream closed.
    pub async fn write_head(&self, head: Response) -> Result<(), StreamError> {
        self.write_sized_head(head, None).await
    }

    /// Like [`ResponseWriter::write_head`] for a body of exactly `length` bytes, when known:
    /// framed by `Content-Length` instead of chunks. A body that ends short or runs long
    /// closes the connection (the client cannot tell a complete response otherwise).
    ///
    /// # Errors
    /// The response was already started, or the stream closed.
    pub async fn write_sized_head(
        &self,
        head: Response,
        length: Option<u64>,
    ) -> Result<(), StreamError> {
        if self.progress.get() != Progress::NotStarted {
            return Err(StreamError::Closed(None));
        }
        if !is_final_status(head.status) {
            return Box::pin(self.send(head)).await;
        }
        let status = head.status;
        match with_http_date(|date| {
            encode_sized_stream_head(head, &self.encode_options(date), length)
        }) {
            Ok((bytes, framing, keep_alive)) => {
                self.meter.status.set(status);
                self.progress.set(Progress::Body(framing, keep_alive));
                self.put(bytes).await
            }
            Err(_) => {
                // A header with CR/LF/NUL: never split the response.
                log(Level::Warn, "a response header was invalid; answering 500");
                Box::pin(self.send(Response::error(500))).await
            }
        }
    }

    /// Writes a piece of the body (after `write_head`; starts a 200 response if not).
    ///
    /// While the worker's response budget is spent, it first waits for room.
    ///
    /// # Errors
    /// The response is finished, or the stream closed.
    pub async fn write(&self, chunk: &[u8]) -> Result<(), StreamError> {
        if self.progress.get() == Progress::NotStarted {
            self.write_head(Response::new(200)).await?;
        }
        self.holder.wait_for_room().await;
        match self.progress.get() {
            Progress::Body(StreamFraming::Chunked, _) if !chunk.is_empty() => {
                let mut framed = Vec::with_capacity(chunk.len() + 16);
                write_chunk(&mut framed, chunk);
                self.put(framed).await
            }
            Progress::Body(StreamFraming::UntilClose, _) => self.put(chunk.to_vec()).await,
            Progress::Body(StreamFraming::Length(left), keep) => {
                let fits = u64::try_from(chunk.len()).is_ok_and(|n| n <= left);
                if !fits {
                    log(
                        Level::Warn,
                        "a response body ran past its Content-Length; cutting it",
                    );
                    self.abort();
                    return Err(StreamError::Closed(None));
                }
                let left = left - chunk.len() as u64;
                self.progress
                    .set(Progress::Body(StreamFraming::Length(left), keep));
                self.put(chunk.to_vec()).await
            }
            Progress::Body(..) => Ok(()),
            Progress::NotStarted | Progress::Done(_) => Err(StreamError::Closed(None)),
        }
    }

    /// Waits for room in the worker's response budget, then holds `bytes` of it until the
    /// returned reservation is dropped: for a piece about to be produced elsewhere (a
    /// plugin's next body piece), so that many responses cannot all produce past the budget
    /// at once. Drop it when the piece is in hand, just before writing it.
    pub async fn reserve(&self, bytes: usize) -> Reservation<'_> {
        self.holder.wait_for_room().await;
        Reservation {
            _held: self.holder.charge(bytes),
        }
    }

    /// Cuts the response where it is: the connection closes at once, without the last chunk,
    /// so the client sees an incomplete response (a body that broke off midway).
    pub fn abort(&self) {
        self.meter.failed.set(true);
        self.progress.set(Progress::Done(false));
        self.stream.close();
    }

    /// Ends the response (the last chunk on HTTP/1.1).
    ///
    /// # Errors
    /// The stream closed.
    pub async fn finish(&self) -> Result<(), StreamError> {
        if let Progress::Body(StreamFraming::Chunked, keep) = self.progress.get() {
            self.progress.set(Progress::Done(keep));
            return self.put(LAST_CHUNK).await;
        }
        finish(self.stream, self.progress).await
    }
}

/// Splits `body` into pieces of at most `size` bytes, in order. Each piece but the first is
/// copied off the end of the body, which is shrunk behind it, so at most one piece more than
/// the body is ever held, and every piece the host took is memory given back.
fn into_pieces(mut body: Vec<u8>, size: usize) -> impl Iterator<Item = Vec<u8>> {
    let size = size.max(1);
    let mut pieces = Vec::with_capacity(body.len().div_ceil(size));
    while body.len() > size {
        let last = (body.len() - 1) / size * size;
        pieces.push(body.split_off(last));
        body.shrink_to_fit();
    }
    pieces.push(body);
    pieces.into_iter().rev()
}

/// Room held in the response budget for a piece not produced yet
/// ([`ResponseWriter::reserve`]); given back when dropped.
pub struct Reservation<'a> {
    /// Held only to be dropped: its `Drop` gives the room back.
    _held: Charge<'a>,
}

/// Completes whatever the writer left open.
pub(super) async fn finish(
    stream: &IOStream,
    progress: &Cell<Progress>,
) -> Result<(), StreamError> {
    match progress.get() {
        Progress::Body(StreamFraming::Chunked, keep) => {
            progress.set(Progress::Done(keep));
            stream.write(LAST_CHUNK).await
        }
        Progress::Body(StreamFraming::UntilClose, _) => {
            progress.set(Progress::Done(false));
            Ok(())
        }
        Progress::Body(StreamFraming::NoBody | StreamFraming::Length(0), keep) => {
            progress.set(Progress::Done(keep));
            Ok(())
        }
        // Shorter than its Content-Length: only a close tells the client.
        Progress::Body(StreamFraming::Length(_), _) => {
            progress.set(Progress::Done(false));
            stream.close();
            Err(StreamError::Closed(None))
        }
        Progress::NotStarted | Progress::Done(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_the_order_and_the_bytes() {
        let body: Vec<u8> = (0..2_500u32).map(|i| (i % 251) as u8).collect();
        for size in [1, 7, 1000, 2_499, 2_500, 4_096] {
            let pieces: Vec<Vec<u8>> = into_pieces(body.clone(), size).collect();
            assert!(pieces.iter().all(|piece| piece.len() <= size), "{size}");
            assert_eq!(pieces.concat(), body, "{size}");
        }
        assert_eq!(into_pieces(Vec::new(), 10).count(), 1);
    }
}
