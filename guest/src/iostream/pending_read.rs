//! The one read a stream may have outstanding, and how its result is handed over.

use std::task::Waker;

use super::error::StreamError;
use super::read_buffer::{ReadBuffer, ReadTarget};

/// How a completed read hands over its result.
pub(super) enum Outcome {
    /// The bytes, taken out of the buffer.
    Bytes(Vec<u8>),
    /// `n` bytes left in the buffer for a `read_into` to copy out.
    Buffered(usize),
    /// The read failed.
    Failed(StreamError),
}

impl Outcome {
    /// The bytes read, taken out of `buffer` if they are still there.
    ///
    /// # Errors
    /// The read failed.
    pub(super) fn into_bytes(self, buffer: &mut ReadBuffer) -> Result<Vec<u8>, StreamError> {
        match self {
            Self::Bytes(bytes) => Ok(bytes),
            Self::Buffered(n) => Ok(buffer.consume(n)),
            Self::Failed(error) => Err(error),
        }
    }

    /// Copies the bytes read into `out` (large enough: the read asked for at most its
    /// length); returns how many.
    ///
    /// # Errors
    /// The read failed.
    pub(super) fn copy_into(
        self,
        buffer: &mut ReadBuffer,
        out: &mut [u8],
    ) -> Result<usize, StreamError> {
        match self {
            Self::Buffered(n) => Ok(buffer.consume_into(&mut out[..n])),
            Self::Bytes(bytes) => {
                out[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            Self::Failed(error) => Err(error),
        }
    }
}

/// The one outstanding read: what it waits for until it has an outcome.
pub(super) struct PendingRead {
    /// What completes the read.
    pub(super) target: ReadTarget,
    /// Whether the result stays in the buffer for `read_into`.
    pub(super) in_place: bool,
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

impl PendingRead {
    /// A read of `target` that has no outcome yet.
    pub(super) fn new(target: ReadTarget, in_place: bool) -> Self {
        Self {
            target,
            in_place,
            outcome: None,
            waker: None,
        }
    }

    /// Whether the read still waits for its outcome.
    pub(super) fn is_waiting(&self) -> bool {
        self.outcome.is_none()
    }

    /// Completes the read and wakes its task.
    pub(super) fn settle(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// The outcome, if the read has one; otherwise remembers `waker` for when it does.
    pub(super) fn poll(&mut self, waker: &Waker) -> Option<Outcome> {
        let outcome = self.outcome.take();
        if outcome.is_none() {
            self.waker = Some(waker.clone());
        }
        outcome
    }

    /// Bytes the read had already taken out of the buffer, to put back when it is cancelled.
    pub(super) fn into_taken(self) -> Option<Vec<u8>> {
        match self.outcome {
            Some(Outcome::Bytes(bytes)) => Some(bytes),
            _ => None,
        }
    }
}
