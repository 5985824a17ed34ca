//! The errors of an IOStream, named after Tornado's (`StreamClosedError`,
//! `UnsatisfiableReadError`, `StreamBufferFullError`).

use std::fmt;

use super::read_buffer::UnsatisfiableRead;
use crate::host::SocketError;

/// Why a stream was closed, when it was not closed on purpose (Tornado's `IOStream.error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// A read's `max_bytes` was exceeded.
    UnsatisfiableRead(UnsatisfiableRead),
    /// The read buffer grew past `max_buffer_size`.
    BufferFull,
    /// The socket failed (reset, refused, broken pipe, policy).
    Socket(SocketError),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsatisfiableRead(error) => write!(f, "unsatisfiable read: {error}"),
            Self::BufferFull => f.write_str("reached maximum read buffer size"),
            Self::Socket(error) => write!(f, "socket error: {error}"),
        }
    }
}

/// A failed stream operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// The stream is closed (`StreamClosedError`); the reason says why, when there is one.
    Closed(Option<CloseReason>),
    /// The write would pass `max_write_buffer_size`; the stream stays open.
    BufferFull,
    /// Another read is already outstanding on this stream.
    AlreadyReading,
    /// `connect` was called on a stream that already has a connection.
    AlreadyConnected,
    /// The stream cannot do this now; the text says why.
    Busy(&'static str),
}

impl StreamError {
    /// The reason the stream closed, if this error is a close with a known cause.
    pub fn reason(&self) -> Option<&CloseReason> {
        match self {
            Self::Closed(reason) => reason.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(None) => f.write_str("stream is closed"),
            Self::Closed(Some(reason)) => write!(f, "stream is closed: {reason}"),
            Self::BufferFull => f.write_str("reached maximum write buffer size"),
            Self::AlreadyReading => f.write_str("already reading"),
            Self::AlreadyConnected => f.write_str("already connected"),
            Self::Busy(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StreamError {}
