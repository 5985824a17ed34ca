//! The futures of an [`IOStream`](super::IOStream): reads, writes and connecting.
//!
//! They hold the stream's shared state, not the handle, so the handle's module depends on
//! this one and not the other way round.
//!
//! Each future only asks the stream's shared state whether it is done; dropping a read
//! before it completes cancels it and puts back the bytes it had taken.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::StreamError;
use super::pending_read::Outcome;
use super::read_buffer::ReadTarget;
use std::cell::RefCell;

use super::inner::StreamInner;

/// The future of a read; resolves to the bytes read.
///
/// Dropping it before completion cancels the read; bytes it had already taken are put back.
pub struct Read<'a> {
    stream: &'a RefCell<StreamInner>,
    early: Option<StreamError>,
    /// Whether this future owns the stream's pending read (started and not yet resolved).
    active: bool,
}

impl<'a> Read<'a> {
    /// Starts reading `target`; with `in_place` the bytes wait in the stream's buffer to be
    /// copied out (see [`ReadInto`]).
    pub(super) fn start(
        stream: &'a RefCell<StreamInner>,
        target: ReadTarget,
        in_place: bool,
    ) -> Self {
        let started = stream.borrow_mut().start_read(target, in_place);
        Self {
            stream,
            active: started.is_ok(),
            early: started.err(),
        }
    }

    /// The read's outcome once it has one; the one poll behind both read futures.
    fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        if let Some(error) = self.early.take() {
            return Poll::Ready(Outcome::Failed(error));
        }
        let outcome = self.stream.borrow_mut().poll_read(cx.waker());
        if outcome.is_ready() {
            self.active = false;
        }
        outcome
    }
}

impl Future for Read<'_> {
    type Output = Result<Vec<u8>, StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let stream = self.stream;
        self.poll_outcome(cx)
            .map(|outcome| stream.borrow_mut().take_bytes(outcome))
    }
}

impl Drop for Read<'_> {
    fn drop(&mut self) {
        if self.active {
            self.stream.borrow_mut().cancel_read();
        }
    }
}

/// The future of [`IOStream::read_into`](super::IOStream::read_into); resolves to the number of bytes copied.
///
/// A [`Read`] whose bytes stay in the stream's buffer until they are copied into the
/// caller's; dropping it cancels the read like dropping a `Read`.
pub struct ReadInto<'a> {
    read: Read<'a>,
    buf: &'a mut [u8],
}

impl<'a> ReadInto<'a> {
    /// Starts a read of `buf.len()` bytes (or, with `partial`, of what is available).
    pub(super) fn start(
        stream: &'a RefCell<StreamInner>,
        buf: &'a mut [u8],
        partial: bool,
    ) -> Self {
        let target = ReadTarget::Bytes {
            n: buf.len(),
            partial,
        };
        Self {
            read: Read::start(stream, target, true),
            buf,
        }
    }
}

impl Future for ReadInto<'_> {
    type Output = Result<usize, StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let stream = this.read.stream;
        this.read
            .poll_outcome(cx)
            .map(|outcome| stream.borrow_mut().copy_out(outcome, this.buf))
    }
}

/// The future of a write; resolves once the written bytes were handed to the host.
pub struct Write<'a> {
    stream: &'a RefCell<StreamInner>,
    /// The write index that completes this write, or why it failed at once.
    queued: Result<u64, Option<StreamError>>,
}

impl<'a> Write<'a> {
    /// Queues `data` on `stream`.
    pub(super) fn start(stream: &'a RefCell<StreamInner>, data: Vec<u8>) -> Self {
        let queued = stream.borrow_mut().start_write(data).map_err(Some);
        Self { stream, queued }
    }
}

impl Future for Write<'_> {
    type Output = Result<(), StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let stream = self.stream;
        match &mut self.queued {
            Ok(index) => stream.borrow_mut().poll_write(*index, cx.waker()),
            Err(early) => Poll::Ready(Err(early.take().unwrap_or(StreamError::Closed(None)))),
        }
    }
}

/// The future of [`IOStream::connect`](super::IOStream::connect).
pub struct Connect<'a> {
    stream: &'a RefCell<StreamInner>,
    /// Set when the connect failed at once.
    early: Option<StreamError>,
}

impl<'a> Connect<'a> {
    /// Waits for the connection `stream` started, or reports `early` failure.
    pub(super) fn new(stream: &'a RefCell<StreamInner>, early: Option<StreamError>) -> Self {
        Self { stream, early }
    }
}

impl Future for Connect<'_> {
    type Output = Result<(), StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(error) = self.early.take() {
            return Poll::Ready(Err(error));
        }
        self.stream.borrow_mut().poll_connect(cx.waker())
    }
}
