//! The IOStream handle and its futures.
//!
//! An [`IOStream`] wraps one connection the host owns. Reads and writes are futures; the
//! runtime feeds received bytes in and, at the end of every round, flushes queued writes and
//! tells the host whether the stream wants to read (flow control: no pending read, no reading).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use regex::bytes::Regex;

use super::error::{CloseReason, StreamError};
use super::read_buffer::{ReadBuffer, ReadTarget};
use super::write_buffer::WriteBuffer;
use crate::host::{ConnId, SocketError};
use crate::{executor, runtime};

/// Default cap on buffered, unread bytes per stream (`--max-buffer-size`): past it the stream
/// closes with [`CloseReason::BufferFull`]. Tornado's 100 MiB is far too much for a sandbox
/// whose memory never shrinks.
pub const DEFAULT_MAX_BUFFER_SIZE: usize = 1024 * 1024;

/// Default cap on queued, unsent bytes per stream (`--max-write-buffer-size`): a write that
/// would pass it fails with [`StreamError::BufferFull`] and the stream stays open.
pub const DEFAULT_MAX_WRITE_BUFFER_SIZE: usize = 16 * 1024 * 1024;

/// The most bytes handed to the host in one `send` call.
pub const WRITE_CHUNK: usize = 256 * 1024;

/// Where a stream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Made by [`IOStream::new`]; `connect` moves it to `Connecting`.
    Unconnected,
    /// `connect` was called; the `connected` event moves it to `Open`, `failed` to `Closed`.
    Connecting,
    /// Reads and writes flow; `close`, end of stream or a failure move it to `Closed`.
    Open,
    /// Final: every pending operation failed or completed.
    Closed,
}

/// How a completed read hands over its result.
enum Outcome {
    /// The bytes, taken out of the buffer.
    Bytes(Vec<u8>),
    /// `n` bytes left in the buffer for a `read_into` to copy out.
    Buffered(usize),
    /// The read failed.
    Failed(StreamError),
}

/// The one outstanding read.
struct PendingRead {
    target: ReadTarget,
    /// Whether the result stays in the buffer for `read_into`.
    into: bool,
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

/// The shared state of one stream; the runtime holds it by connection id.
pub(crate) struct StreamInner {
    conn: Option<ConnId>,
    state: State,
    buffer: ReadBuffer,
    read: Option<PendingRead>,
    writes: WriteBuffer,
    write_wakers: Vec<(u64, Waker)>,
    connect_waker: Option<Waker>,
    /// A send was short; nothing more is sent until the host says `writable`.
    waiting_writable: bool,
    error: Option<CloseReason>,
    close_callback: Option<Box<dyn FnOnce()>>,
    max_buffer_size: usize,
    max_write_buffer_size: usize,
    /// The read interest the host was last told.
    told_read_interest: bool,
    /// Whether the stream is already in the runtime's list of streams to service.
    pub(crate) queued: bool,
}

impl StreamInner {
    fn new(conn: Option<ConnId>, state: State) -> Self {
        let options = runtime::options();
        Self {
            conn,
            state,
            buffer: ReadBuffer::default(),
            read: None,
            writes: WriteBuffer::default(),
            write_wakers: Vec::new(),
            connect_waker: None,
            waiting_writable: false,
            error: None,
            close_callback: None,
            max_buffer_size: options.max_buffer_size,
            max_write_buffer_size: options.max_write_buffer_size,
            told_read_interest: false,
            queued: false,
        }
    }

    fn mark(&mut self) {
        if let Some(conn) = self.conn
            && !self.queued
        {
            self.queued = true;
            runtime::queue_service(conn);
        }
    }

    /// Bytes arrived from the host.
    pub(crate) fn on_received(&mut self, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.buffer.extend(bytes);
        self.try_read();
        if self.state != State::Closed && self.buffer.len() > self.max_buffer_size {
            runtime::log_warn(&format!(
                "connection {:?}: reached maximum read buffer size",
                self.conn
            ));
            self.close(Some(CloseReason::BufferFull));
        }
        self.mark();
    }

    /// The peer closed its side: like Tornado, the stream closes (pending reads that the
    /// buffer satisfies still complete, and `read_until_close` gets the rest).
    pub(crate) fn on_end_of_stream(&mut self) {
        self.close(None);
    }

    /// The connection failed; the host already forgot it.
    pub(crate) fn on_failed(&mut self, error: SocketError) {
        if let Some(conn) = self.conn.take() {
            runtime::forget(conn);
        }
        self.close(Some(CloseReason::Socket(error)));
    }

    /// The socket can take bytes again after a short send.
    pub(crate) fn on_writable(&mut self) {
        self.waiting_writable = false;
        self.mark();
    }

    /// The outbound connection is established.
    pub(crate) fn on_connected(&mut self) {
        if self.state == State::Connecting {
            self.state = State::Open;
            if let Some(waker) = self.connect_waker.take() {
                waker.wake();
            }
            self.mark();
        }
    }

    /// Hands queued writes to the host until it stops taking them; the runtime calls this at
    /// the end of every round for each stream that changed.
    pub(crate) fn flush(&mut self) {
        self.queued = false;
        let Some(conn) = self.conn else { return };
        if self.state != State::Open {
            return;
        }
        while !self.waiting_writable && !self.writes.is_empty() {
            let chunk = self.writes.next_chunk(WRITE_CHUNK);
            let offered = chunk.len();
            match runtime::host().send(conn, chunk) {
                Ok(taken) => {
                    self.writes.advance(taken);
                    if taken < offered {
                        self.waiting_writable = true;
                    }
                }
                Err(error) => {
                    self.close(Some(CloseReason::Socket(error)));
                    return;
                }
            }
        }
        self.wake_writers();
    }

    fn wake_writers(&mut self) {
        let done = self.writes.done_total();
        let closed = self.state == State::Closed;
        self.write_wakers.retain(|(index, waker)| {
            let finished = closed || *index <= done;
            if finished {
                waker.wake_by_ref();
            }
            !finished
        });
    }

    fn wants_read(&self) -> bool {
        let read_pending = self
            .read
            .as_ref()
            .is_some_and(|read| read.outcome.is_none());
        let watching_close =
            self.close_callback.is_some() && self.buffer.len() < self.max_buffer_size;
        self.state == State::Open && (read_pending || watching_close)
    }

    /// Tells the host whether this stream wants to read, if that changed.
    pub(crate) fn sync_read_interest(&mut self) {
        let Some(conn) = self.conn else { return };
        let wanted = self.wants_read();
        if wanted != self.told_read_interest && self.state != State::Closed {
            self.told_read_interest = wanted;
            runtime::host().set_read_interest(conn, wanted);
        }
    }

    /// Completes the pending read if the buffer satisfies it (Tornado's `_try_inline_read`).
    fn try_read(&mut self) {
        let closed = self.state == State::Closed;
        let Some(read) = self.read.as_ref() else {
            return;
        };
        if read.outcome.is_some() {
            return;
        }
        let into = read.into;
        let outcome = match self.buffer.find(&read.target, closed) {
            Ok(Some(n)) if into => Outcome::Buffered(n),
            Ok(Some(n)) => Outcome::Bytes(self.buffer.consume(n)),
            Ok(None) | Err(_) if closed => Outcome::Failed(self.closed_error()),
            Ok(None) => return,
            Err(unsatisfiable) => {
                // Tornado closes the stream, which fails this read with the cause attached.
                self.close(Some(CloseReason::UnsatisfiableRead(unsatisfiable)));
                return;
            }
        };
        if let Some(read) = self.read.as_mut() {
            read.outcome = Some(outcome);
            if let Some(waker) = read.waker.take() {
                waker.wake();
            }
        }
    }

    fn start_read(&mut self, target: ReadTarget, into: bool) -> Result<(), StreamError> {
        if self.read.is_some() {
            return Err(StreamError::AlreadyReading);
        }
        self.read = Some(PendingRead {
            target,
            into,
            outcome: None,
            waker: None,
        });
        self.try_read();
        self.mark();
        Ok(())
    }

    /// Closes the stream: completes or fails the pending read, fails pending writes, closes
    /// the connection and schedules the close callback after all of them.
    pub(crate) fn close(&mut self, reason: Option<CloseReason>) {
        if self.state == State::Closed {
            return;
        }
        if self.error.is_none() {
            self.error = reason;
        }
        self.state = State::Closed;
        self.try_read();
        self.writes.clear();
        self.wake_writers();
        if let Some(waker) = self.connect_waker.take() {
            waker.wake();
        }
        if let Some(conn) = self.conn {
            runtime::forget(conn);
            runtime::host().close(conn);
        }
        if let Some(callback) = self.close_callback.take() {
            executor::spawn(async move { callback() });
        }
    }

    fn closed_error(&self) -> StreamError {
        StreamError::Closed(self.error.clone())
    }
}

/// A buffered, non-blocking stream over one connection (Tornado's `IOStream`).
///
/// Dropping the handle closes the stream.
pub struct IOStream {
    inner: Rc<RefCell<StreamInner>>,
}

impl Default for IOStream {
    fn default() -> Self {
        Self::new()
    }
}

impl IOStream {
    /// Makes an unconnected stream for an outbound connection; call [`IOStream::connect`].
    pub fn new() -> Self {
        Self {
            inner: Rc::new(RefCell::new(StreamInner::new(None, State::Unconnected))),
        }
    }

    /// Wraps a connection the host accepted.
    pub(crate) fn accepted(conn: ConnId) -> Self {
        let stream = Self {
            inner: Rc::new(RefCell::new(StreamInner::new(Some(conn), State::Open))),
        };
        runtime::register(conn, stream.inner.clone());
        stream
    }

    /// Connects to `address` (`host:port`); resolves once the connection is established.
    ///
    /// Writes issued before it resolves are queued and sent right after. The host only allows
    /// addresses its policy permits (`--allow-connect`).
    pub fn connect(&self, address: &str) -> Connect<'_> {
        let mut inner = self.inner.borrow_mut();
        if inner.state != State::Unconnected {
            return Connect {
                stream: self,
                early: Some(Err(StreamError::AlreadyConnected)),
            };
        }
        match runtime::host().connect(address) {
            Ok(conn) => {
                inner.conn = Some(conn);
                inner.state = State::Connecting;
                runtime::register(conn, self.inner.clone());
                Connect {
                    stream: self,
                    early: None,
                }
            }
            Err(error) => {
                inner.close(Some(CloseReason::Socket(error)));
                Connect {
                    stream: self,
                    early: Some(Err(inner.closed_error())),
                }
            }
        }
    }

    /// Reads up to and including `delimiter` (Tornado's `read_until`).
    ///
    /// With `max_bytes`, a delimiter not found within that many bytes closes the stream and
    /// fails the read with [`CloseReason::UnsatisfiableRead`].
    pub fn read_until(&self, delimiter: &[u8], max_bytes: Option<usize>) -> Read<'_> {
        self.read(ReadTarget::Until {
            delimiter: delimiter.to_vec(),
            max_bytes,
        })
    }

    /// Reads up to and including the first match of `regex` (Tornado's `read_until_regex`).
    pub fn read_until_regex(&self, regex: &Regex, max_bytes: Option<usize>) -> Read<'_> {
        self.read(ReadTarget::UntilRegex {
            regex: regex.clone(),
            max_bytes,
        })
    }

    /// Reads `n` bytes; with `partial`, resolves as soon as 1..=n bytes are available.
    pub fn read_bytes(&self, n: usize, partial: bool) -> Read<'_> {
        self.read(ReadTarget::Bytes { n, partial })
    }

    /// Reads everything until the stream closes, including what is buffered at close.
    pub fn read_until_close(&self) -> Read<'_> {
        self.read(ReadTarget::UntilClose)
    }

    /// Reads into `buf`: fills it, or with `partial` copies what is available (at least 1 byte).
    /// Resolves to the number of bytes copied; saves an allocation per read.
    pub fn read_into<'a>(&'a self, buf: &'a mut [u8], partial: bool) -> ReadInto<'a> {
        let started = self.inner.borrow_mut().start_read(
            ReadTarget::Bytes {
                n: buf.len(),
                partial,
            },
            true,
        );
        ReadInto {
            stream: self,
            buf,
            active: started.is_ok(),
            early: started.err(),
        }
    }

    fn read(&self, target: ReadTarget) -> Read<'_> {
        let started = self.inner.borrow_mut().start_read(target, false);
        Read {
            stream: self,
            active: started.is_ok(),
            early: started.err(),
        }
    }

    /// Queues `data` for writing; resolves once every byte up to it has been handed to the host.
    ///
    /// Fails at once with [`StreamError::BufferFull`] (stream left open) if the queue would
    /// pass the write buffer cap, and with [`StreamError::Closed`] on a closed stream.
    pub fn write(&self, data: impl Into<Vec<u8>>) -> Write<'_> {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Closed {
            return Write {
                stream: self,
                index: 0,
                early: Some(inner.closed_error()),
            };
        }
        let data = data.into();
        if inner.writes.len() + data.len() > inner.max_write_buffer_size {
            return Write {
                stream: self,
                index: 0,
                early: Some(StreamError::BufferFull),
            };
        }
        let index = inner.writes.push(data);
        inner.mark();
        Write {
            stream: self,
            index,
            early: None,
        }
    }

    /// Closes the stream (Tornado's `close`); pending reads and writes fail with
    /// [`StreamError::Closed`] and then the close callback runs.
    pub fn close(&self) {
        self.inner.borrow_mut().close(None);
    }

    /// Sets a function to run once the stream closes, for whatever reason.
    ///
    /// While a close callback is set the stream keeps reading (up to the buffer cap) so that it
    /// notices the peer going away even when no read is pending.
    pub fn set_close_callback(&self, callback: impl FnOnce() + 'static) {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Closed {
            executor::spawn(async move { callback() });
            return;
        }
        inner.close_callback = Some(Box::new(callback));
        inner.mark();
    }

    /// Whether the stream is closed.
    pub fn closed(&self) -> bool {
        self.inner.borrow().state == State::Closed
    }

    /// Whether a read is outstanding.
    pub fn reading(&self) -> bool {
        self.inner
            .borrow()
            .read
            .as_ref()
            .is_some_and(|read| read.outcome.is_none())
    }

    /// Total bytes of this stream handed to the host so far: a write makes progress when
    /// this grows.
    pub fn bytes_written(&self) -> u64 {
        self.inner.borrow().writes.done_total()
    }

    /// Whether written bytes are still waiting to be handed to the host.
    pub fn writing(&self) -> bool {
        !self.inner.borrow().writes.is_empty()
    }

    /// Why the stream closed, if it closed because of an error.
    pub fn error(&self) -> Option<CloseReason> {
        self.inner.borrow().error.clone()
    }

    /// The host's id of the underlying connection, once there is one.
    pub fn conn_id(&self) -> Option<ConnId> {
        self.inner.borrow().conn
    }

    /// Sets `TCP_NODELAY` (Tornado's `set_nodelay`).
    ///
    /// # Errors
    /// [`StreamError::Closed`] if there is no open connection, or the socket's error.
    pub fn set_nodelay(&self, on: bool) -> Result<(), StreamError> {
        let inner = self.inner.borrow();
        match (inner.conn, inner.state) {
            (Some(conn), State::Open | State::Connecting) => runtime::host()
                .set_nodelay(conn, on)
                .map_err(|error| StreamError::Closed(Some(CloseReason::Socket(error)))),
            _ => Err(inner.closed_error()),
        }
    }

    /// Changes the read buffer cap of this stream.
    pub fn set_max_buffer_size(&self, bytes: usize) {
        self.inner.borrow_mut().max_buffer_size = bytes;
    }

    /// Changes the write buffer cap of this stream.
    pub fn set_max_write_buffer_size(&self, bytes: usize) {
        self.inner.borrow_mut().max_write_buffer_size = bytes;
    }

    /// How many received bytes are buffered and unread.
    pub fn buffered(&self) -> usize {
        self.inner.borrow().buffer.len()
    }
}

impl Drop for IOStream {
    fn drop(&mut self) {
        self.inner.borrow_mut().close(None);
    }
}

/// The future of a read; resolves to the bytes read.
///
/// Dropping it before completion cancels the read; bytes it had already taken are put back.
pub struct Read<'a> {
    stream: &'a IOStream,
    early: Option<StreamError>,
    /// Whether this future owns the stream's pending read (started and not yet resolved).
    active: bool,
}

impl Future for Read<'_> {
    type Output = Result<Vec<u8>, StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(error) = self.early.take() {
            return Poll::Ready(Err(error));
        }
        let mut inner = self.stream.inner.borrow_mut();
        let Some(read) = inner.read.as_mut() else {
            return Poll::Ready(Err(StreamError::Closed(None)));
        };
        match read.outcome.take() {
            None => {
                read.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Some(outcome) => {
                inner.read = None;
                inner.mark();
                drop(inner);
                self.active = false;
                let mut inner = self.stream.inner.borrow_mut();
                Poll::Ready(match outcome {
                    Outcome::Bytes(bytes) => Ok(bytes),
                    Outcome::Buffered(n) => Ok(inner.buffer.consume(n)),
                    Outcome::Failed(error) => Err(error),
                })
            }
        }
    }
}

impl Drop for Read<'_> {
    fn drop(&mut self) {
        if self.active {
            cancel_read(&self.stream.inner);
        }
    }
}

fn cancel_read(inner: &RefCell<StreamInner>) {
    let mut inner = inner.borrow_mut();
    if let Some(read) = inner.read.take()
        && let Some(Outcome::Bytes(bytes)) = read.outcome
    {
        inner.buffer.unread(bytes);
    }
    inner.mark();
}

/// The future of [`IOStream::read_into`]; resolves to the number of bytes copied.
pub struct ReadInto<'a> {
    stream: &'a IOStream,
    buf: &'a mut [u8],
    early: Option<StreamError>,
    /// Whether this future owns the stream's pending read (started and not yet resolved).
    active: bool,
}

impl Future for ReadInto<'_> {
    type Output = Result<usize, StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(error) = self.early.take() {
            return Poll::Ready(Err(error));
        }
        let this = &mut *self;
        let mut inner = this.stream.inner.borrow_mut();
        let Some(read) = inner.read.as_mut() else {
            return Poll::Ready(Err(StreamError::Closed(None)));
        };
        match read.outcome.take() {
            None => {
                read.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Some(outcome) => {
                inner.read = None;
                inner.mark();
                this.active = false;
                Poll::Ready(match outcome {
                    Outcome::Buffered(n) => Ok(inner.buffer.consume_into(&mut this.buf[..n])),
                    Outcome::Bytes(bytes) => {
                        this.buf[..bytes.len()].copy_from_slice(&bytes);
                        Ok(bytes.len())
                    }
                    Outcome::Failed(error) => Err(error),
                })
            }
        }
    }
}

impl Drop for ReadInto<'_> {
    fn drop(&mut self) {
        if self.active {
            cancel_read(&self.stream.inner);
        }
    }
}

/// The future of a write; resolves once the written bytes were handed to the host.
pub struct Write<'a> {
    stream: &'a IOStream,
    index: u64,
    early: Option<StreamError>,
}

impl Future for Write<'_> {
    type Output = Result<(), StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(error) = self.early.take() {
            return Poll::Ready(Err(error));
        }
        let mut inner = self.stream.inner.borrow_mut();
        if inner.writes.done_total() >= self.index {
            return Poll::Ready(Ok(()));
        }
        if inner.state == State::Closed {
            return Poll::Ready(Err(inner.closed_error()));
        }
        let index = self.index;
        inner.write_wakers.push((index, cx.waker().clone()));
        Poll::Pending
    }
}

/// The future of [`IOStream::connect`].
pub struct Connect<'a> {
    stream: &'a IOStream,
    early: Option<Result<(), StreamError>>,
}

impl Future for Connect<'_> {
    type Output = Result<(), StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.early.take() {
            return Poll::Ready(result);
        }
        let mut inner = self.stream.inner.borrow_mut();
        match inner.state {
            State::Open => Poll::Ready(Ok(())),
            State::Closed => Poll::Ready(Err(inner.closed_error())),
            State::Connecting | State::Unconnected => {
                inner.connect_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::host::{ErrorCode, Event};
    use crate::testing::{FakeHost, deliver, received};
    use crate::{TcpServer, executor, listen};

    type Log = Rc<RefCell<Vec<String>>>;

    /// Accepts connection `conn` and runs `body` as its handler.
    fn serve<F, Fut>(conn: ConnId, body: F)
    where
        F: Fn(IOStream) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        struct Server<F>(F);
        impl<F, Fut> TcpServer for Server<F>
        where
            F: Fn(IOStream) -> Fut + 'static,
            Fut: Future<Output = ()> + 'static,
        {
            fn handle_stream(
                &self,
                stream: IOStream,
                _address: String,
            ) -> impl Future<Output = ()> {
                (self.0)(stream)
            }
        }
        listen(Server(body));
        deliver([Event::Accepted {
            conn,
            listener: 0,
            peer: "127.0.0.1:9".into(),
        }]);
    }

    fn echo_lines(
        max: Option<usize>,
        log: Log,
    ) -> impl Fn(IOStream) -> Pin<Box<dyn Future<Output = ()>>> {
        move |stream| {
            let log = log.clone();
            Box::pin(async move {
                loop {
                    match stream.read_until(b"\n", max).await {
                        Ok(line) => {
                            if stream.write(line).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            log.borrow_mut().push(error.to_string());
                            return;
                        }
                    }
                }
            })
        }
    }

    #[test]
    fn echo_one_line_costs_one_send_and_no_interest_churn() {
        let host = FakeHost::install();
        serve(1, echo_lines(None, Log::default()));
        assert!(host.interest(1), "a pending read turns read interest on");
        let interest_changes = host.0.borrow().interest.len();
        deliver([received(1, b"hello\nwor")]);
        assert_eq!(host.sent_on(1), b"hello\n");
        deliver([received(1, b"ld\n")]);
        assert_eq!(host.sent_on(1), b"hello\nworld\n");
        assert_eq!(host.0.borrow().send_calls, 2);
        assert_eq!(
            host.0.borrow().interest.len(),
            interest_changes,
            "interest stays on between lines"
        );
    }

    #[test]
    fn read_until_past_max_bytes_closes_with_unsatisfiable_read() {
        let host = FakeHost::install();
        let log = Log::default();
        serve(7, echo_lines(Some(8), log.clone()));
        deliver([received(7, b"0123456789")]);
        assert!(host.was_closed(7));
        assert_eq!(
            log.borrow().as_slice(),
            ["stream is closed: unsatisfiable read: delimiter not found within 8 bytes"]
        );
    }

    #[test]
    fn delimiter_split_across_every_pair_of_reads_is_found() {
        let message = b"first line\r\n";
        for split in 1..message.len() {
            let host = FakeHost::install();
            let got: Rc<RefCell<Vec<u8>>> = Rc::default();
            let sink = got.clone();
            serve(3, move |stream| {
                let sink = sink.clone();
                async move {
                    *sink.borrow_mut() = stream.read_until(b"\r\n", Some(64)).await.expect("line")
                }
            });
            deliver([received(3, &message[..split])]);
            assert!(
                got.borrow().is_empty(),
                "split {split}: nothing before the delimiter completes"
            );
            deliver([received(3, &message[split..])]);
            assert_eq!(got.borrow().as_slice(), message, "split {split}");
            assert!(host.was_closed(3), "the handler dropped the stream");
        }
    }

    #[test]
    fn end_of_stream_gives_read_until_close_the_rest_and_runs_close_callback_after() {
        let host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(5, move |stream| {
            let seen = seen.clone();
            async move {
                let order = seen.clone();
                stream.set_close_callback(move || order.borrow_mut().push("callback".into()));
                let rest = stream.read_until_close().await.expect("rest");
                seen.borrow_mut()
                    .push(String::from_utf8(rest).expect("utf8"));
                assert!(stream.closed());
            }
        });
        deliver([
            received(5, b"tail "),
            received(5, b"bytes"),
            Event::EndOfStream(5),
        ]);
        assert_eq!(log.borrow().as_slice(), ["tail bytes", "callback"]);
        assert!(host.was_closed(5));
    }

    #[test]
    fn reset_fails_pending_read_with_socket_error_and_runs_close_callback() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(6, move |stream| {
            let seen = seen.clone();
            async move {
                let order = seen.clone();
                stream.set_close_callback(move || order.borrow_mut().push("callback".into()));
                let error = stream.read_bytes(10, false).await.expect_err("reset");
                seen.borrow_mut().push(error.to_string());
            }
        });
        let reset = SocketError {
            code: ErrorCode::ConnectionReset,
            message: "connection reset by peer".into(),
        };
        deliver([
            received(6, b"abc"),
            Event::Failed {
                conn: 6,
                error: reset,
            },
        ]);
        assert_eq!(
            log.borrow().as_slice(),
            [
                "stream is closed: socket error: connection reset by peer",
                "callback"
            ]
        );
    }

    #[test]
    fn buffered_read_completes_even_after_close() {
        let _host = FakeHost::install();
        type Results = Vec<Result<Vec<u8>, StreamError>>;
        let got: Rc<RefCell<Results>> = Rc::default();
        let sink = got.clone();
        serve(8, move |stream| {
            let sink = sink.clone();
            async move {
                crate::sleep(std::time::Duration::from_secs(1)).await;
                let first = stream.read_bytes(3, false).await;
                sink.borrow_mut().push(first);
                let second = stream.read_bytes(3, false).await;
                sink.borrow_mut().push(second);
            }
        });
        deliver([received(8, b"abcd"), Event::EndOfStream(8), Event::Timer(1)]);
        let got = got.borrow();
        assert_eq!(got[0], Ok(b"abc".to_vec()));
        assert_eq!(got[1], Err(StreamError::Closed(None)));
    }

    #[test]
    fn short_sends_wait_for_writable_and_write_resolves_when_handed_over() {
        let host = FakeHost::install();
        host.0.borrow_mut().send_budget = Some(4);
        let done = Rc::new(RefCell::new(false));
        let flag = done.clone();
        serve(9, move |stream| {
            let flag = flag.clone();
            async move {
                stream.write(b"0123456789".to_vec()).await.expect("written");
                *flag.borrow_mut() = true;
            }
        });
        assert_eq!(host.sent_on(9), b"0123");
        assert!(!*done.borrow());
        host.0.borrow_mut().send_budget = None;
        deliver([Event::Writable(9)]);
        assert_eq!(host.sent_on(9), b"0123456789");
        assert!(*done.borrow());
    }

    #[test]
    fn write_past_max_write_buffer_size_fails_without_closing() {
        let host = FakeHost::install();
        host.0.borrow_mut().send_budget = Some(0);
        let log = Log::default();
        let seen = log.clone();
        serve(10, move |stream| {
            let seen = seen.clone();
            async move {
                stream.set_max_write_buffer_size(8);
                let first = stream.write(b"12345".to_vec());
                let second = stream.write(b"6789".to_vec()).await;
                seen.borrow_mut()
                    .push(format!("{second:?} closed={}", stream.closed()));
                drop(first);
            }
        });
        assert_eq!(log.borrow().as_slice(), ["Err(BufferFull) closed=false"]);
    }

    #[test]
    fn read_buffer_past_max_closes_with_buffer_full() {
        let host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(11, move |stream| {
            let seen = seen.clone();
            async move {
                stream.set_max_buffer_size(4);
                let error = stream.read_bytes(100, false).await.expect_err("too big");
                seen.borrow_mut().push(format!("{:?}", error.reason()));
            }
        });
        deliver([received(11, b"0123456789")]);
        assert_eq!(log.borrow().as_slice(), ["Some(BufferFull)"]);
        assert!(host.was_closed(11));
    }

    #[test]
    fn no_pending_read_turns_read_interest_off() {
        let host = FakeHost::install();
        serve(12, move |stream| async move {
            let _ = stream.read_bytes(2, false).await;
            crate::sleep(std::time::Duration::from_secs(5)).await;
            drop(stream);
        });
        assert!(host.interest(12));
        deliver([received(12, b"ab")]);
        assert!(
            !host.interest(12),
            "nobody reads, so the host must stop reading"
        );
    }

    #[test]
    fn second_read_fails_with_already_reading() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(13, move |stream| {
            let seen = seen.clone();
            async move {
                let first = stream.read_bytes(1, false);
                let second = stream.read_bytes(1, false).await;
                seen.borrow_mut().push(format!("{second:?}"));
                drop(second);
                let first = first.await;
                seen.borrow_mut().push(format!("{first:?}"));
            }
        });
        deliver([received(13, b"x")]);
        assert_eq!(
            log.borrow().as_slice(),
            ["Err(AlreadyReading)", "Ok([120])"]
        );
    }

    #[test]
    fn writes_before_connect_completes_are_sent_after_it() {
        let host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        executor::spawn(async move {
            let stream = IOStream::new();
            let connecting = stream.connect("127.0.0.1:80");
            let write = stream.write(b"GET / HTTP/1.0\r\n\r\n".to_vec());
            connecting.await.expect("connected");
            write.await.expect("sent");
            let reply = stream.read_until_close().await.expect("reply");
            seen.borrow_mut()
                .push(String::from_utf8(reply).expect("utf8"));
        });
        deliver([]);
        assert_eq!(
            host.sent_on(1001),
            b"",
            "nothing is sent before the connection exists"
        );
        deliver([Event::Connected(1001)]);
        assert_eq!(host.sent_on(1001), b"GET / HTTP/1.0\r\n\r\n");
        deliver([
            received(1001, b"HTTP/1.0 200 OK\r\n\r\nhi"),
            Event::EndOfStream(1001),
        ]);
        assert_eq!(log.borrow().as_slice(), ["HTTP/1.0 200 OK\r\n\r\nhi"]);
    }

    #[test]
    fn denied_connect_fails_with_the_host_reason() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        executor::spawn(async move {
            let stream = IOStream::new();
            let error = stream.connect("denied:80").await.expect_err("denied");
            seen.borrow_mut().push(error.to_string());
        });
        deliver([]);
        assert_eq!(
            log.borrow().as_slice(),
            ["stream is closed: socket error: denied:80 not allowed"]
        );
    }

    #[test]
    fn read_into_copies_into_the_callers_buffer() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(14, move |stream| {
            let seen = seen.clone();
            async move {
                let mut buf = [0u8; 4];
                let n = stream.read_into(&mut buf, false).await.expect("four bytes");
                seen.borrow_mut().push(format!("{n} {:?}", &buf));
                let n = stream.read_into(&mut buf, true).await.expect("partial");
                seen.borrow_mut().push(format!("{n} {:?}", &buf[..n]));
            }
        });
        deliver([received(14, b"abcdef")]);
        assert_eq!(
            log.borrow().as_slice(),
            ["4 [97, 98, 99, 100]", "2 [101, 102]"]
        );
    }

    #[test]
    fn cancelled_read_puts_its_bytes_back() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(15, move |stream| {
            let seen = seen.clone();
            async move {
                let early = crate::timeout(
                    std::time::Duration::from_secs(1),
                    stream.read_bytes(10, false),
                )
                .await;
                seen.borrow_mut().push(format!("{early:?}"));
                let all = stream.read_bytes(10, false).await.expect("all ten");
                seen.borrow_mut()
                    .push(String::from_utf8(all).expect("utf8"));
            }
        });
        deliver([received(15, b"01234"), Event::Timer(1)]);
        deliver([received(15, b"56789")]);
        assert_eq!(log.borrow().as_slice(), ["Err(TimedOut)", "0123456789"]);
    }
}
