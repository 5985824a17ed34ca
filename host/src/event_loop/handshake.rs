//! TLS handshakes, run by the host before a guest hears of the connection (or, for its own
//! `connect-tls` and `start-tls`, before it is told the connection is ready): the host reads
//! and writes for them, and closes the ones that fail or stall, counting them.

use std::io;
use std::time::Instant;

use super::conn::{AfterHandshake, Reading, Writing};
use super::net::Net;
use super::readiness::Readiness;
use crate::boundary::{ErrorCode, Event, Failure, Received, SocketError};
use crate::tls::TlsChunk;

/// The answer to plain HTTP sent to a TLS port, so a person with curl sees the mistake.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 47\r\nConnection: close\r\n\r\nThis port speaks TLS: use https:// to reach it\n";

impl Net {
    /// Starts the handshake of a connection that has a TLS session: `then` says what its end
    /// leads to; it must be done within `--tls-handshake-timeout`.
    pub(super) fn start_handshake(&mut self, index: usize, then: AfterHandshake, now: Instant) {
        let timeout = self.tls.handshake_timeout;
        let Some(conn) = self.conns.at_mut(index) else {
            return;
        };
        conn.reading = Reading::Handshaking {
            then,
            deadline: now + timeout,
        };
        self.handshaking.push(index);
        // A client speaks first (its hello); so may data that arrived already.
        self.drive_handshake(
            index,
            Readiness {
                readable: true,
                writable: true,
                ..Readiness::default()
            },
        );
    }

    /// Moves a handshake on after readiness: reads what came, writes what rustls has to say.
    pub(super) fn drive_handshake(&mut self, index: usize, ready: Readiness) {
        let Some(conn) = self.conns.at_mut(index) else {
            return;
        };
        if ready.error {
            let reason = conn
                .socket
                .take_error()
                .ok()
                .flatten()
                .map_or_else(|| "connection reset".to_owned(), |e| e.to_string());
            return self.fail_handshake(index, &reason);
        }
        // Only a new connection on a TLS listener can be plain HTTP sent to the wrong port.
        let accepting = matches!(
            conn.reading,
            Reading::Handshaking {
                then: AfterHandshake::Accept(_),
                ..
            }
        );
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        let mut plaintext = 0;
        let mut outcome: Result<(), String> = Ok(());
        if ready.readable || ready.hang_up {
            let mut first = [0u8; 8];
            let plain_http = accepting
                && tls.is_fresh()
                && conn
                    .socket
                    .peek(&mut first)
                    .is_ok_and(|n| looks_like_plain_http(&first[..n]));
            if plain_http {
                // Best effort: the peer is told in its own protocol, then the socket closes.
                let _ = io::Write::write(&mut conn.socket, PLAIN_HTTP_ANSWER);
                outcome = Err("plain HTTP sent to a TLS port".into());
            } else {
                match tls.read_socket(&mut conn.socket, &mut self.cipher_buf, &mut self.read_buf) {
                    TlsChunk::Plaintext { len, closed, .. } => {
                        plaintext = len;
                        conn.tls_closed = closed;
                    }
                    TlsChunk::Drained => {}
                    TlsChunk::End => {
                        outcome = Err("the peer closed the connection during the handshake".into());
                    }
                    TlsChunk::Failed(error) => outcome = Err(error.to_string()),
                }
            }
        }
        // What rustls has to send (its flight, or the alert that explains a failure).
        let flushed = tls.flush(&mut conn.socket);
        if let Err(reason) = outcome {
            return self.fail_handshake(index, &reason);
        }
        if let Err(error) = flushed {
            return self.fail_handshake(index, &error.to_string());
        }
        if !tls.is_handshaking() {
            self.finish_handshake(index, plaintext);
        }
    }

    fn finish_handshake(&mut self, index: usize, plaintext: usize) {
        let Some(conn) = self.conns.at_mut(index) else {
            return;
        };
        let then = match std::mem::replace(&mut conn.reading, Reading::Paused) {
            Reading::Handshaking { then, .. } => then,
            other => {
                conn.reading = other;
                return;
            }
        };
        // Bytes may wait in the socket after the handshake's last flight.
        conn.readable = true;
        let id = conn.id;
        let received = (plaintext > 0).then(|| Received {
            conn: id,
            bytes: self.read_buf[..plaintext].to_vec(),
        });
        match then {
            AfterHandshake::Accept(accepted) => {
                if let Some(sniffer) = &self.sniffer {
                    sniffer.watch(conn, accepted, Instant::now());
                    if let Some(received) = received {
                        let decided = sniffer.classify(conn, &received.bytes, true);
                        return self.sniffed(index, decided, Some(received.bytes));
                    }
                    self.sniffing.push(index);
                    return;
                }
                self.pending.push(Event::Accepted(accepted));
            }
            AfterHandshake::Connect | AfterHandshake::Upgrade => {
                conn.writing = Writing::Ready;
                self.pending.push(Event::Connected(id));
            }
        }
        if let Some(received) = received {
            self.pending.push(Event::Received(received));
        }
    }

    /// Ends a failed handshake: an inbound one is counted and closed without the guest ever
    /// knowing it; the guest's own `connect-tls` or `start-tls` gets `failed` with the reason.
    pub(super) fn fail_handshake(&mut self, index: usize, reason: &str) {
        let Some(conn) = self.conns.at_mut(index) else {
            return;
        };
        let then = match &conn.reading {
            Reading::Handshaking { then, .. } => then,
            _ => return,
        };
        if let AfterHandshake::Accept(accepted) = then {
            let peer = accepted.peer.clone();
            self.tls
                .failures
                .record(self.worker, &peer, reason, Instant::now());
            self.remove(index);
            return;
        }
        self.pending.push(Event::Failed(Failure {
            conn: conn.id,
            error: SocketError {
                code: ErrorCode::Other,
                message: format!("TLS handshake failed: {reason}"),
            },
        }));
        self.remove(index);
    }

    /// Fails the handshakes that passed their deadline, and reports held-back failures.
    pub fn sweep_handshakes(&mut self, now: Instant) {
        let conns = &self.conns;
        let mut expired = Vec::new();
        self.handshaking
            .retain(|&index| match conns.at(index).map(|conn| &conn.reading) {
                Some(Reading::Handshaking { deadline, .. }) if now >= *deadline => {
                    expired.push(index);
                    false
                }
                Some(Reading::Handshaking { .. }) => true,
                _ => false,
            });
        for index in expired {
            self.fail_handshake(index, "the handshake timed out");
        }
        self.tls.failures.report(self.worker, now);
    }
}

/// Whether bytes that should open a TLS handshake start like an HTTP request instead.
fn looks_like_plain_http(bytes: &[u8]) -> bool {
    let method_len = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (3..=7).contains(&method_len) && bytes.get(method_len) == Some(&b' ')
}
