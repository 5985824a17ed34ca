//! Readiness from the poller, turned into reads and events for the guest: edges recorded
//! per connection, one chunk read per connection per round, connects settled, failures
//! reported after the bytes that came before them.

use std::io;
use std::time::Instant;

use mio::Token;

use super::conn::{AfterHandshake, Chunk, Reading, Writing};
use super::health::Sniffed;
use super::net::Net;
use crate::boundary::{Event, Received};

/// Chunks still delivered from a connection whose socket reported an error.
const MAX_CHUNKS_BEFORE_FAILURE: usize = 4;

/// One readiness event from the poller.
#[derive(Clone, Copy, Debug, Default)]
pub struct Readiness {
    /// The socket may have bytes.
    pub readable: bool,
    /// The socket may take bytes.
    pub writable: bool,
    /// The socket reported an error.
    pub error: bool,
    /// The peer closed its side; the EOF is read after the data.
    pub hang_up: bool,
}

impl Net {
    /// Handles one readiness event for `token`.
    pub fn on_ready(&mut self, token: Token, ready: Readiness) {
        if self.listeners.on_ready(token) {
            return;
        }
        let index = token.0;
        let Some(conn) = self.conns.at_mut(index) else {
            return;
        };
        if let Writing::Closing { .. } = conn.writing {
            if ready.writable || ready.error {
                self.sweep_closing(Instant::now());
            }
            return;
        }
        if let Reading::Discarding { .. } = conn.reading {
            if ready.readable || ready.hang_up || ready.error {
                self.discard(index);
            }
            return;
        }
        if let Reading::Handshaking { .. } = conn.reading {
            self.drive_handshake(index, ready);
            return;
        }
        if conn.writing == Writing::Connecting {
            if ready.writable || ready.error {
                self.settle_connect(index);
            }
            return;
        }
        if ready.error {
            let failure = conn
                .socket
                .take_error()
                .ok()
                .flatten()
                .unwrap_or_else(|| io::Error::from(io::ErrorKind::ConnectionReset));
            // Bytes that arrived before a reset are still readable: deliver them first.
            conn.readable = true;
            for _ in 0..MAX_CHUNKS_BEFORE_FAILURE {
                if !self.read_one(index) {
                    break;
                }
            }
            self.fail(index, &failure);
            return;
        }
        if ready.hang_up {
            conn.peer_closed = true;
        }
        if ready.readable || ready.hang_up {
            conn.readable = true;
            if matches!(conn.reading, Reading::Wanted | Reading::Sniffing { .. }) {
                self.to_read.push(index);
            }
        }
        if ready.writable && conn.writing == Writing::Blocked {
            match conn.write_out() {
                Ok(()) if !conn.has_unwritten() => {
                    conn.writing = Writing::Ready;
                    self.pending.push(Event::Writable(conn.id));
                }
                Ok(()) => {}
                Err(error) => self.fail(index, &error),
            }
        }
    }

    fn settle_connect(&mut self, index: usize) {
        let Some(conn) = self.conns.at_mut(index) else {
            return;
        };
        match conn.socket.take_error() {
            Ok(Some(error)) | Err(error) => return self.fail(index, &error),
            Ok(None) => {}
        }
        match conn.socket.peer_addr() {
            Ok(_) if conn.tls.is_some() => {
                self.start_handshake(index, AfterHandshake::Connect, Instant::now());
            }
            Ok(_) => {
                conn.writing = Writing::Ready;
                conn.readable = true;
                self.pending.push(Event::Connected(conn.id));
            }
            // Not connected yet: a spurious wakeup; the next edge settles it.
            Err(error) if error.kind() == io::ErrorKind::NotConnected => {}
            Err(error) => self.fail(index, &error),
        }
    }

    /// Reads one chunk from every connection that is readable and wanted.
    pub fn read_ready(&mut self) {
        let mut queue = std::mem::take(&mut self.to_read);
        queue.sort_unstable();
        queue.dedup();
        for index in queue {
            self.read_one(index);
        }
    }

    /// Reads one chunk for the guest; returns whether it got bytes (more may follow).
    fn read_one(&mut self, index: usize) -> bool {
        let Some(conn) = self.conns.at_mut(index) else {
            return false;
        };
        if !conn.can_read() {
            return false;
        }
        if let Reading::Sniffing { .. } = conn.reading {
            self.sniff(index);
            return false;
        }
        let chunk = conn.read_chunk(&mut self.read_buf, &mut self.cipher_buf);
        // TLS may have something to say back (a key update, an alert): written after the call.
        if conn.tls.as_ref().is_some_and(|tls| tls.wants_write()) && !conn.corked {
            conn.corked = true;
            self.corked.push(index);
        }
        match chunk {
            Chunk::Bytes { len, more } => {
                if more {
                    self.to_read.push(index);
                }
                self.pending.push(Event::Received(Received {
                    conn: conn.id,
                    bytes: self.read_buf[..len].to_vec(),
                }));
                true
            }
            Chunk::EndOfStream => {
                self.pending.push(Event::EndOfStream(conn.id));
                false
            }
            Chunk::Drained => false,
            Chunk::Failed(error) => {
                self.fail(index, &error);
                false
            }
        }
    }

    /// Lets the sniffer read a new connection's first bytes: a health check is answered and
    /// closed, anything else goes to the guest with its accept.
    fn sniff(&mut self, index: usize) {
        let (Some(conn), Some(sniffer)) = (self.conns.at_mut(index), &self.sniffer) else {
            return;
        };
        let decided = sniffer.sniff(conn, &mut self.read_buf, &mut self.cipher_buf);
        self.sniffed(index, decided, None);
    }

    /// Acts on what the sniffer decided; `first` holds the bytes it decided on when they are
    /// not at the front of the read buffer.
    pub(super) fn sniffed(&mut self, index: usize, decided: Sniffed, first: Option<Vec<u8>>) {
        let Some(conn) = self.conns.at_mut(index) else {
            return;
        };
        match decided {
            Sniffed::Waiting => {}
            Sniffed::Gone => self.remove(index),
            Sniffed::HealthCheck => {
                let id = conn.id;
                self.close(id);
            }
            Sniffed::Guest {
                accepted,
                len,
                more,
            } => {
                if more {
                    self.to_read.push(index);
                }
                let received = Received {
                    conn: conn.id,
                    bytes: first.unwrap_or_else(|| self.read_buf[..len].to_vec()),
                };
                self.pending.push(Event::Accepted(accepted));
                self.pending.push(Event::Received(received));
            }
        }
    }
}
