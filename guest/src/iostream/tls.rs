//! A stream's TLS: the facts of its handshake, asked of the host once, and `start_tls`
//! (Tornado's `IOStream.start_tls`), which the host performs while the stream waits as if
//! connecting.

use super::error::{CloseReason, StreamError};
use super::inner::StreamInner;
use super::state::State;
use crate::host::TlsInfo;
use crate::runtime;

impl StreamInner {
    /// What the connection's TLS handshake agreed on (asked of the host once, while open).
    pub(super) fn tls_info(&mut self) -> Option<TlsInfo> {
        if self.tls.is_none() {
            let State::Open { conn, .. } = self.state else {
                return None;
            };
            self.tls = Some(runtime::host().tls_info(conn).map(Box::new));
        }
        self.tls.clone().flatten().map(|info| *info)
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
        if waiting_writable
            || !self.writes.is_empty()
            || self.read.is_some()
            || self.tls_info().is_some()
        {
            return Err(StreamError::Busy(
                "start_tls needs a plaintext stream with no pending read or unsent write",
            ));
        }
        match runtime::host().start_tls(conn, server_name) {
            Ok(()) => {
                // `connected` opens the stream again, and the TLS facts are asked anew.
                self.tls = None;
                self.state = State::Connecting { conn, waker: None };
                Ok(())
            }
            Err(error) => {
                self.close(Some(CloseReason::Socket(error)));
                Err(self.closed_error())
            }
        }
    }
}
