//! The shared state of one stream: where the connection is in its life, the read and write
//! buffers, the one pending read and the tasks waiting on writes.
//!
//! The runtime holds it by connection id and feeds it host events; the [`super::IOStream`]
//! handle and its futures change it. Nothing here awaits: every method runs to completion and
//! wakes the futures it settles.

use std::task::{Poll, Waker};

use super::error::{CloseReason, StreamError};
use super::pending_read::{Outcome, PendingRead};
use super::read_buffer::{ReadBuffer, ReadTarget};
use super::state::State;
use super::write_buffer::WriteBuffer;
use crate::host::{ConnId, SocketError, TlsInfo};
use crate::{executor, runtime};

/// The most bytes handed to the host in one `send` call.
pub const WRITE_CHUNK: usize = 256 * 1024;

/// The shared state of one stream; the runtime holds it by connection id.
pub(crate) struct StreamInner {
    state: State,
    buffer: ReadBuffer,
    read: Option<PendingRead>,
    writes: WriteBuffer,
    /// Tasks awaiting a write, by the write index that completes them.
    write_wakers: Vec<(u64, Waker)>,
    close_callback: Option<Box<dyn FnOnce()>>,
    /// Past this many unread bytes the stream closes with [`CloseReason::BufferFull`].
    pub(super) max_buffer_size: usize,
    /// A write that would queue more than this fails with [`StreamError::BufferFull`].
    pub(super) max_write_buffer_size: usize,
    /// Whether the stream is already in the runtime's list of streams to service.
    queued: bool,
    /// What the TLS handshake agreed on, once the connection speaks TLS.
    pub(super) tls: Option<Box<TlsInfo>>,
    /// A `start_tls` is under way: `secured` opens the stream again.
    upgrading: bool,
}

impl StreamInner {
    /// A stream in `state`, with the runtime's buffer caps.
    fn new(state: State) -> Self {
        let options = runtime::stream_options();
        Self {
            state,
            buffer: ReadBuffer::default(),
            read: None,
            writes: WriteBuffer::default(),
            write_wakers: Vec::new(),
            close_callback: None,
            max_buffer_size: options.max_buffer_size.to_usize(),
            max_write_buffer_size: options.max_write_buffer_size.to_usize(),
            queued: false,
            tls: None,
            upgrading: false,
        }
    }

    /// A stream for an outbound connection, not started yet.
    pub(super) fn unconnected() -> Self {
        Self::new(State::Unconnected)
    }

    /// A stream on a connection the host accepted.
    pub(super) fn accepted(conn: ConnId, tls: Option<TlsInfo>) -> Self {
        let mut inner = Self::new(State::open(conn));
        inner.tls = tls.map(Box::new);
        inner
    }

    /// Queues the stream for service at the end of the round (once).
    fn mark(&mut self) {
        if let Some(conn) = self.state.conn()
            && !self.queued
        {
            self.queued = true;
            runtime::queue_service(conn);
        }
    }

    /// The host's connection, while there is one.
    pub(super) fn conn(&self) -> Option<ConnId> {
        self.state.conn()
    }

    /// Whether `connect` may still be called.
    pub(super) fn is_unconnected(&self) -> bool {
        matches!(self.state, State::Unconnected)
    }

    /// Whether the stream reached its final state.
    pub(super) fn is_closed(&self) -> bool {
        self.state.is_closed()
    }

    /// Why the stream closed, if it closed because of an error.
    pub(super) fn close_reason(&self) -> Option<CloseReason> {
        match &self.state {
            State::Closed { reason } => reason.clone(),
            _ => None,
        }
    }

    /// The error for an operation on the closed stream.
    pub(super) fn closed_error(&self) -> StreamError {
        StreamError::Closed(self.close_reason())
    }

    /// Bytes arrived from the host.
    pub(crate) fn on_received(&mut self, bytes: Vec<u8>) {
        if self.is_closed() {
            return;
        }
        self.buffer.extend_owned(bytes);
        self.try_read();
        if !self.is_closed() && self.buffer.len() > self.max_buffer_size {
            runtime::log_warn(&format!(
                "connection {:?}: reached maximum read buffer size",
                self.state.conn()
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
        self.shut(Some(CloseReason::Socket(error)), false);
    }

    /// The socket can take bytes again after a short send.
    pub(crate) fn on_writable(&mut self) {
        if let State::Open {
            waiting_writable, ..
        } = &mut self.state
        {
            *waiting_writable = false;
        }
        self.mark();
    }

    /// The outbound connection is established.
    pub(crate) fn on_connected(&mut self) {
        if let State::Connecting { conn, waker } = &mut self.state {
            let waker = waker.take();
            self.state = State::open(*conn);
            if let Some(waker) = waker {
                waker.wake();
            }
            self.mark();
        }
    }

    /// A TLS handshake finished: after `start_tls` the stream is open again (reading off);
    /// after `connect_tls`, `connected` follows.
    pub(crate) fn on_secured(&mut self, tls: TlsInfo) {
        self.tls = Some(Box::new(tls));
        if std::mem::take(&mut self.upgrading) {
            self.on_connected();
        }
    }

    /// Starts a TLS upgrade of the open connection (Tornado's `start_tls`): it must have
    /// written everything and wait for nothing.
    pub(super) fn start_tls(&mut self, server_name: Option<&str>) -> Result<(), StreamError> {
        let State::Open {
            conn,
            waiting_writable,
            ..
        } = self.state
        else {
            return Err(self.closed_error());
        };
        if waiting_writable || !self.writes.is_empty() || self.read.is_some() || self.tls.is_some()
        {
            return Err(StreamError::Busy(
                "start_tls needs a plaintext stream with no pending read or unsent write",
            ));
        }
        match runtime::host().start_tls(conn, server_name) {
            Ok(()) => {
                self.upgrading = true;
                self.state = State::Connecting { conn, waker: None };
                Ok(())
            }
            Err(error) => {
                self.close(Some(CloseReason::Socket(error)));
                Err(self.closed_error())
            }
        }
    }

    /// Starts connecting on `conn`, which the host just made.
    pub(super) fn on_connecting(&mut self, conn: ConnId) {
        self.state = State::Connecting { conn, waker: None };
    }

    /// Hands queued writes to the host until it stops taking them; the runtime calls this at
    /// the end of every round for each stream that changed.
    pub(crate) fn flush(&mut self) {
        self.queued = false;
        let State::Open {
            conn,
            waiting_writable,
            ..
        } = &mut self.state
        else {
            return;
        };
        let conn = *conn;
        while !*waiting_writable && !self.writes.is_empty() {
            let chunk = self.writes.next_chunk(WRITE_CHUNK);
            let offered = chunk.len();
            match runtime::host().send(conn, chunk) {
                Ok(taken) => {
                    self.writes.advance(taken);
                    *waiting_writable = taken < offered;
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
        let closed = self.is_closed();
        self.write_wakers.retain(|(index, waker)| {
            let finished = closed || *index <= done;
            if finished {
                waker.wake_by_ref();
            }
            !finished
        });
    }

    /// Whether a read is outstanding.
    pub(super) fn is_reading(&self) -> bool {
        self.read.as_ref().is_some_and(PendingRead::is_waiting)
    }

    fn wants_read(&self) -> bool {
        let watching_close =
            self.close_callback.is_some() && self.buffer.len() < self.max_buffer_size;
        self.is_reading() || watching_close
    }

    /// Tells the host whether this stream wants to read, if that changed.
    pub(crate) fn sync_read_interest(&mut self) {
        let wanted = self.wants_read();
        if let State::Open {
            conn,
            told_read_interest,
            ..
        } = &mut self.state
            && wanted != *told_read_interest
        {
            *told_read_interest = wanted;
            runtime::host().set_read_interest(*conn, wanted);
        }
    }

    /// Completes the pending read if the buffer satisfies it (Tornado's `_try_inline_read`).
    fn try_read(&mut self) {
        let closed = self.is_closed();
        let Some(read) = self.read.as_ref() else {
            return;
        };
        if !read.is_waiting() {
            return;
        }
        let in_place = read.in_place;
        let outcome = match self.buffer.find(&read.target, closed) {
            Ok(Some(n)) if in_place => Outcome::Buffered(n),
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
            read.settle(outcome);
        }
    }

    /// Starts the stream's one read; with `in_place` the result stays in the buffer until
    /// [`StreamInner::copy_out`].
    ///
    /// # Errors
    /// [`StreamError::AlreadyReading`] while another read is outstanding.
    pub(super) fn start_read(
        &mut self,
        target: ReadTarget,
        in_place: bool,
    ) -> Result<(), StreamError> {
        if self.read.is_some() {
            return Err(StreamError::AlreadyReading);
        }
        self.read = Some(PendingRead::new(target, in_place));
        self.try_read();
        self.mark();
        Ok(())
    }

    /// The pending read's outcome once it has one (the read is then over); until then
    /// `waker` is woken when it does. A stream without a pending read reports it closed.
    pub(super) fn poll_read(&mut self, waker: &Waker) -> Poll<Outcome> {
        let Some(read) = self.read.as_mut() else {
            return Poll::Ready(Outcome::Failed(StreamError::Closed(None)));
        };
        let Some(outcome) = read.poll(waker) else {
            return Poll::Pending;
        };
        self.read = None;
        self.mark();
        Poll::Ready(outcome)
    }

    /// Cancels the pending read; bytes it had already taken go back into the buffer.
    pub(super) fn cancel_read(&mut self) {
        if let Some(bytes) = self.read.take().and_then(PendingRead::into_taken) {
            self.buffer.unread(bytes);
        }
        self.mark();
    }

    /// The bytes of a finished read.
    ///
    /// # Errors
    /// The read failed.
    pub(super) fn take_bytes(&mut self, outcome: Outcome) -> Result<Vec<u8>, StreamError> {
        outcome.into_bytes(&mut self.buffer)
    }

    /// Copies the bytes of a finished read into `out`; returns how many.
    ///
    /// # Errors
    /// The read failed.
    pub(super) fn copy_out(
        &mut self,
        outcome: Outcome,
        out: &mut [u8],
    ) -> Result<usize, StreamError> {
        outcome.copy_into(&mut self.buffer, out)
    }

    /// Queues `data`; returns the write index that completes it.
    ///
    /// # Errors
    /// [`StreamError::Closed`] on a closed stream; [`StreamError::BufferFull`] (stream left
    /// open) when the queue would pass the write buffer cap.
    pub(super) fn start_write(&mut self, data: Vec<u8>) -> Result<u64, StreamError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        if self.writes.len() + data.len() > self.max_write_buffer_size {
            return Err(StreamError::BufferFull);
        }
        let index = self.writes.push(data);
        self.mark();
        Ok(index)
    }

    /// Whether every byte up to write `index` was handed to the host; until then `waker` is
    /// woken when that changes.
    pub(super) fn poll_write(
        &mut self,
        index: u64,
        waker: &Waker,
    ) -> Poll<Result<(), StreamError>> {
        if self.writes.done_total() >= index {
            return Poll::Ready(Ok(()));
        }
        if self.is_closed() {
            return Poll::Ready(Err(self.closed_error()));
        }
        self.write_wakers.push((index, waker.clone()));
        Poll::Pending
    }

    /// Total bytes handed to the host so far.
    pub(super) fn bytes_written(&self) -> u64 {
        self.writes.done_total()
    }

    /// Whether written bytes are still waiting to be handed to the host.
    pub(super) fn is_writing(&self) -> bool {
        !self.writes.is_empty()
    }

    /// How many received bytes are buffered and unread.
    pub(super) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Whether the connection is established; until then `waker` is woken when it is (or
    /// fails).
    pub(super) fn poll_connect(&mut self, new_waker: &Waker) -> Poll<Result<(), StreamError>> {
        match &mut self.state {
            State::Open { .. } => Poll::Ready(Ok(())),
            State::Closed { .. } => Poll::Ready(Err(self.closed_error())),
            State::Connecting { waker, .. } => {
                *waker = Some(new_waker.clone());
                Poll::Pending
            }
            // `connect` leaves a stream connecting or closed, never unconnected.
            State::Unconnected => Poll::Ready(Err(StreamError::Closed(None))),
        }
    }

    /// Sets what runs once the stream closes; on a closed stream it runs at once (as a task).
    pub(super) fn set_close_callback(&mut self, callback: Box<dyn FnOnce()>) {
        if self.is_closed() {
            executor::spawn(async move { callback() });
            return;
        }
        self.close_callback = Some(callback);
        self.mark();
    }

    /// Closes the stream: completes or fails the pending read, fails pending writes, closes
    /// the connection and schedules the close callback after all of them.
    pub(crate) fn close(&mut self, reason: Option<CloseReason>) {
        self.shut(reason, true);
    }

    /// Moves to `Closed` (once); `release` tells the host to close the connection, which it
    /// has already done when the connection failed.
    fn shut(&mut self, reason: Option<CloseReason>, release: bool) {
        let previous = std::mem::replace(&mut self.state, State::Closed { reason });
        let conn = match previous {
            State::Closed { .. } => {
                self.state = previous;
                return;
            }
            State::Connecting { conn, waker } => {
                if let Some(waker) = waker {
                    waker.wake();
                }
                Some(conn)
            }
            State::Open { conn, .. } => Some(conn),
            State::Unconnected => None,
        };
        self.try_read();
        self.writes.clear();
        self.wake_writers();
        if let Some(conn) = conn {
            runtime::forget(conn);
            if release {
                runtime::host().close(conn);
            }
        }
        if let Some(callback) = self.close_callback.take() {
            executor::spawn(async move { callback() });
        }
    }
}
