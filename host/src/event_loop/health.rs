//! The health-check sniffer (`--health-path`): the host reads a new connection's first bytes
//! itself and answers `GET`/`HEAD` for the health path without the guest, so a load balancer's
//! probe works even while plugins misbehave. Anything else goes to the guest unchanged.
//!
//! This is the one place the host looks at protocol bytes, and it only matches a prefix.

use std::time::{Duration, Instant};

use super::conn::{Chunk, Conn, Reading};
use crate::boundary::Accepted;

/// What the sniffer is told: the path it answers and how long it waits for first bytes.
#[derive(Clone, Debug)]
pub struct Sniffer {
    path: Vec<u8>,
    /// How long a new connection may stay silent (the header timeout: the guest has not
    /// heard of it yet, so its timers cannot apply).
    timeout: Duration,
}

/// What a connection's first bytes turned out to be.
#[derive(Debug)]
pub enum Sniffed {
    /// Nothing arrived yet.
    Waiting,
    /// The peer left (or failed) before saying anything: the guest never hears of it.
    Gone,
    /// A health check: the answer is in the cork; close the connection.
    HealthCheck,
    /// Anything else: the guest gets the accept, then the `len` bytes at the front of the
    /// buffer; `more` when the socket may hold more.
    Guest {
        /// The held accept event.
        accepted: Accepted,
        /// Bytes read.
        len: usize,
        /// Whether another read is owed.
        more: bool,
    },
}

impl Sniffer {
    /// A sniffer answering `path`, closing connections silent for `timeout`.
    pub fn new(path: &str, timeout: Duration) -> Self {
        Self {
            path: path.as_bytes().to_vec(),
            timeout,
        }
    }

    /// Puts a new connection's read side into [`Reading::Sniffing`], holding its accept.
    pub fn watch(&self, conn: &mut Conn, accepted: Accepted, now: Instant) {
        conn.reading = Reading::Sniffing {
            accepted,
            deadline: now + self.timeout,
        };
    }

    /// Reads a sniffing connection's first bytes into `buf` and decides what they are.
    pub fn sniff(&self, conn: &mut Conn, buf: &mut [u8], cipher: &mut [u8]) -> Sniffed {
        match conn.read_chunk(buf, cipher) {
            Chunk::Bytes { len, more } => self.classify(conn, &buf[..len], more),
            Chunk::Drained => Sniffed::Waiting,
            Chunk::EndOfStream | Chunk::Failed(_) => Sniffed::Gone,
        }
    }

    /// Decides on a watched connection's first bytes, `first` (already read: by
    /// [`Sniffer::sniff`], or with the end of a TLS handshake).
    pub fn classify(&self, conn: &mut Conn, first: &[u8], more: bool) -> Sniffed {
        let len = first.len();
        if let Some(response) = health_response(first, &self.path) {
            conn.out.extend_from_slice(response);
            // The peer may send more (a pipelined request): while the socket counts as
            // readable, the close that follows drops those bytes (a lingering close) instead
            // of resetting the connection under the answer.
            conn.readable = true;
            return Sniffed::HealthCheck;
        }
        match std::mem::replace(&mut conn.reading, Reading::Paused) {
            Reading::Sniffing { accepted, .. } => Sniffed::Guest {
                accepted,
                len,
                more,
            },
            other => {
                conn.reading = other;
                Sniffed::Waiting
            }
        }
    }
}

/// The host's answer to a complete `GET`/`HEAD` request for the health path, if `bytes` is one.
fn health_response(bytes: &[u8], path: &[u8]) -> Option<&'static [u8]> {
    let (rest, head) = if let Some(rest) = bytes.strip_prefix(b"GET ") {
        (rest, false)
    } else {
        (bytes.strip_prefix(b"HEAD ")?, true)
    };
    let after = rest.strip_prefix(path)?;
    if !(after.starts_with(b" HTTP/1.") || after.starts_with(b"?")) {
        return None;
    }
    if !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
        return None;
    }
    Some(if head {
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
    } else {
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::net::{TcpListener, TcpStream as StdStream};

    use super::*;
    use crate::event_loop::conn::{READ_CHUNK, Writing};

    #[test]
    fn only_complete_requests_for_the_path_are_answered() {
        let path = b"/healthz";
        let get = health_response(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", path);
        assert!(get.is_some_and(|r| r.ends_with(b"\r\n\r\nok\n")));
        let head = health_response(b"HEAD /healthz?probe=1 HTTP/1.1\r\n\r\n", path);
        assert!(head.is_some_and(|r| r.ends_with(b"close\r\n\r\n")));
        for other in [
            &b"GET /healthz HTTP/1.1\r\nHost: x\r\n"[..],
            b"GET /healthzz HTTP/1.1\r\n\r\n",
            b"POST /healthz HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(health_response(other, path), None, "{other:?}");
        }
    }

    /// A connection in the sniffer's care, and the peer's end.
    fn sniffing(sniffer: &Sniffer) -> (Conn, StdStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer = StdStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (ours, addr) = listener.accept().expect("accept");
        ours.set_nonblocking(true).expect("non-blocking");
        let socket = mio::net::TcpStream::from_std(ours);
        let mut conn = Conn::new(9, socket, Writing::Ready);
        let accepted = Accepted {
            conn: 9,
            listener: 0,
            peer: addr.to_string(),
            local: String::new(),
            tls: None,
        };
        sniffer.watch(&mut conn, accepted, Instant::now());
        conn.readable = true;
        (conn, peer)
    }

    /// Sniffs until something other than `Waiting` comes.
    fn sniff_until_decided(sniffer: &Sniffer, conn: &mut Conn, buf: &mut [u8]) -> Sniffed {
        for _ in 0..200 {
            conn.readable = true;
            match sniffer.sniff(conn, buf, &mut [0u8; 1024]) {
                Sniffed::Waiting => std::thread::sleep(Duration::from_millis(5)),
                decided => return decided,
            }
        }
        panic!("the sniffer never decided");
    }

    #[test]
    fn a_health_check_is_answered_into_the_cork() {
        let sniffer = Sniffer::new("/healthz", Duration::from_secs(10));
        let (mut conn, mut peer) = sniffing(&sniffer);
        let mut buf = vec![0; READ_CHUNK];
        assert!(matches!(
            sniffer.sniff(&mut conn, &mut buf, &mut [0u8; 1024]),
            Sniffed::Waiting
        ));
        peer.write_all(b"GET /healthz HTTP/1.1\r\n\r\n")
            .expect("write");
        let sniffed = sniff_until_decided(&sniffer, &mut conn, &mut buf);
        assert!(matches!(sniffed, Sniffed::HealthCheck));
        assert!(conn.out.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn other_requests_go_to_the_guest_with_their_accept() {
        let sniffer = Sniffer::new("/healthz", Duration::from_secs(10));
        let (mut conn, mut peer) = sniffing(&sniffer);
        let mut buf = vec![0; READ_CHUNK];
        peer.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
        let Sniffed::Guest { accepted, len, .. } =
            sniff_until_decided(&sniffer, &mut conn, &mut buf)
        else {
            panic!("not handed to the guest");
        };
        assert_eq!(accepted.conn, 9);
        assert_eq!(&buf[..len], b"GET / HTTP/1.1\r\n\r\n");
        assert!(matches!(conn.reading, Reading::Paused));
        assert!(conn.out.is_empty());
    }

    #[test]
    fn a_peer_that_leaves_silently_is_gone() {
        let sniffer = Sniffer::new("/healthz", Duration::from_secs(10));
        let (mut conn, peer) = sniffing(&sniffer);
        drop(peer);
        let mut buf = vec![0; READ_CHUNK];
        let sniffed = sniff_until_decided(&sniffer, &mut conn, &mut buf);
        assert!(matches!(sniffed, Sniffed::Gone));
    }
}
