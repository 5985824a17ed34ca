//! Where a stream is in its life: the lifecycle of one connection as an enum whose variants
//! carry what only that stage needs.

use std::task::Waker;

use super::error::CloseReason;
use crate::host::ConnId;

/// Where a stream is in its life, with what only that stage needs.
pub(super) enum State {
    /// Made by [`super::IOStream::new`]; `connect` moves it to `Connecting`, or to `Closed`
    /// when the host refuses the address.
    Unconnected,
    /// `connect` was called; the `connected` event moves it to `Open`, `failed` or `close`
    /// to `Closed`. Writes queue until it is open.
    Connecting {
        /// The connection the host is establishing.
        conn: ConnId,
        /// The task awaiting [`super::Connect`].
        waker: Option<Waker>,
    },
    /// Accepted, or connected: reads and writes flow. `close`, end of stream, a failure or a
    /// full read buffer move it to `Closed`.
    Open {
        /// The host's connection.
        conn: ConnId,
        /// A send was short; nothing more is sent until the host says `writable`.
        waiting_writable: bool,
        /// The read interest the host was last told.
        told_read_interest: bool,
    },
    /// Final: every pending operation failed or completed and the host forgot the connection.
    Closed {
        /// Why, when the stream was not closed on purpose (Tornado's `IOStream.error`).
        reason: Option<CloseReason>,
    },
}

impl State {
    /// The host's connection, while there is one.
    pub(super) fn conn(&self) -> Option<ConnId> {
        match self {
            Self::Connecting { conn, .. } | Self::Open { conn, .. } => Some(*conn),
            Self::Unconnected | Self::Closed { .. } => None,
        }
    }

    /// An open connection, before the host was told anything about it.
    pub(super) fn open(conn: ConnId) -> Self {
        Self::Open {
            conn,
            waiting_writable: false,
            told_read_interest: false,
        }
    }

    /// Whether this is the final state.
    pub(super) fn is_closed(&self) -> bool {
        matches!(self, Self::Closed { .. })
    }
}
