//! The guest's socket, timer and clock imports, served by the worker's [`Net`].

use std::net::SocketAddr;

use mio::net::TcpStream;

use super::conn::{AfterHandshake, Reading, Sent, Writing};
use super::net::Net;
use super::slab::slot_of;
use super::socket_error::socket_error;
use crate::boundary::{ConnId, ErrorCode, Imports, SocketError, TimerId};
use crate::tls::Session;

impl Imports for Net {
    /// Takes what fits in the cork or what the socket takes now.
    ///
    /// Small sends are held (at most [`CORK`](super::conn::CORK) bytes) and written together
    /// by [`Net::flush`] after the guest call; the count returned is what the host took
    /// responsibility for.
    fn send(&mut self, id: ConnId, bytes: &[u8]) -> Result<u32, SocketError> {
        let conn = self.live(id).ok_or_else(|| SocketError::unknown(id))?;
        let taken = match conn.send(bytes).map_err(|e| socket_error(&e))? {
            Sent::Corked(taken) => {
                if !conn.corked {
                    conn.corked = true;
                    self.corked.push(slot_of(id));
                }
                taken
            }
            Sent::Written(taken) => taken,
        };
        Ok(u32::try_from(taken).unwrap_or(u32::MAX))
    }

    fn set_read_interest(&mut self, id: ConnId, on: bool) {
        if let Some(conn) = self.live(id)
            && conn.set_read_interest(on)
        {
            self.to_read.push(slot_of(id));
        }
    }

    fn set_nodelay(&mut self, id: ConnId, on: bool) -> Result<(), SocketError> {
        let conn = self.live(id).ok_or_else(|| SocketError::unknown(id))?;
        conn.socket.set_nodelay(on).map_err(|e| socket_error(&e))
    }

    fn close(&mut self, id: ConnId) {
        Net::close(self, id);
    }

    /// Checks the policy on the address as written (nothing is resolved for a denied name),
    /// then starts a non-blocking connect to the address the allowed name resolved to at
    /// start-up.
    fn connect(&mut self, address: &str) -> Result<ConnId, SocketError> {
        let Some(&resolved) = self
            .policy
            .addresses(address)
            .and_then(<[SocketAddr]>::first)
        else {
            tracing::warn!(
                worker = self.worker,
                "denied outbound connection to {address}: not allowed by --allow-connect"
            );
            return Err(SocketError {
                code: ErrorCode::NotPermitted,
                message: format!(
                    "connecting to {address} is not allowed; start eddy with --allow-connect {address}"
                ),
            });
        };
        let socket = TcpStream::connect(resolved).map_err(|e| socket_error(&e))?;
        self.insert(socket, Writing::Connecting)
            .map_err(|e| socket_error(&e))
    }

    /// Starts the connect; the handshake starts when it settles (see `settle_connect`).
    fn connect_tls(&mut self, address: &str, server_name: &str) -> Result<ConnId, SocketError> {
        let session = self.client_session(server_name)?;
        let id = self.connect(address)?;
        if let Some(conn) = self.conns.get_mut(id) {
            conn.tls = Some(Box::new(session));
        }
        Ok(id)
    }

    fn start_tls(&mut self, id: ConnId, server_name: Option<&str>) -> Result<(), SocketError> {
        let refuse = |message: String| SocketError {
            code: ErrorCode::Other,
            message,
        };
        let session = match server_name {
            Some(name) => self.client_session(name)?,
            None => {
                let config = self.tls.server.as_ref().map(|server| server.config.clone());
                let config = config.ok_or_else(|| {
                    refuse("start-tls as a server needs --tls-cert and --tls-key".into())
                })?;
                Session::server(&config).map_err(|e| socket_error(&e))?
            }
        };
        let conn = self.live(id).ok_or_else(|| SocketError::unknown(id))?;
        if conn.tls.is_some() {
            return Err(refuse(format!("connection {id} already speaks TLS")));
        }
        if conn.writing != Writing::Ready || matches!(conn.reading, Reading::Finished) {
            return Err(refuse(format!(
                "connection {id} cannot start TLS now (it is blocked, connecting or at its end)"
            )));
        }
        conn.write_out().map_err(|e| socket_error(&e))?;
        if conn.has_unwritten() {
            return Err(refuse(format!(
                "connection {id} still has unwritten bytes; start TLS once they are written"
            )));
        }
        conn.tls = Some(Box::new(session));
        conn.writing = Writing::Connecting;
        self.start_handshake(
            slot_of(id),
            AfterHandshake::Upgrade,
            std::time::Instant::now(),
        );
        Ok(())
    }

    fn set_timer(&mut self, deadline: u64) -> TimerId {
        self.timers.arm(deadline)
    }

    fn cancel_timer(&mut self, timer: TimerId) {
        self.timers.cancel(timer);
    }

    fn now(&self) -> u64 {
        Net::now(self)
    }
}

impl Net {
    /// A client session verifying `server_name` against the trust store and `--ca-file`.
    fn client_session(&self, server_name: &str) -> Result<Session, SocketError> {
        let config = self.tls.client.as_ref().ok_or_else(|| SocketError {
            code: ErrorCode::Other,
            message: "this host has no TLS client configuration".into(),
        })?;
        Session::client(config, server_name).map_err(|message| SocketError {
            code: ErrorCode::InvalidAddress,
            message,
        })
    }
}
