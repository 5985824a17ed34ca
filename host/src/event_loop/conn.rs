//! One connection: its socket, the bytes the host holds for it (the cork), and its read and
//! write sides as states that carry their data.
//!
//! The two sides move mostly on their own: the guest turns reading on and off while writes
//! block and drain. They meet at the end of a connection's life, which the guest starts with
//! `close` ([`Writing::Closing`], [`Reading::Stopped`]) and the host finishes, possibly after
//! dropping what the peer still sends ([`Writing::Shut`], [`Reading::Discarding`]).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::boundary::{Accepted, ConnId};
use crate::tls::Session;

/// Bytes read from one connection per round; one `received` event carries at most this.
pub const READ_CHUNK: usize = 64 * 1024;

/// Bytes the host holds per connection between a guest call and the socket write (the cork):
/// small sends of one wakeup leave in one syscall; larger sends go straight to the socket.
pub const CORK: usize = 64 * 1024;

/// Unsent bytes the kernel may queue per connection (`TCP_NOTSENT_LOWAT`): past it a write
/// would block, and `writable` comes when the queue drains below it. Without it the kernel
/// takes megabytes at once (autotuned send buffers) and then stays silent while a slow
/// client reads them, so the guest could not tell a slow reader from one that reads nothing;
/// with it, what the guest hands over follows what the client takes. Bytes in flight (sent,
/// not yet acknowledged) are not limited by it, so throughput on long paths is unchanged.
pub const MAX_UNSENT: usize = 128 * 1024;

/// How long a closed connection whose peer is still sending keeps reading and dropping its
/// bytes, so the peer can read the response before the socket closes.
pub const DISCARD_TIME: Duration = Duration::from_secs(2);

/// The most bytes dropped that way per connection; past it the socket closes at once.
pub const DISCARD_BYTES: usize = 4 * 1024 * 1024;

/// How long a connection the guest closed may take to flush what the host still holds.
pub const LINGER: Duration = Duration::from_secs(30);

/// The read side of a connection.
#[derive(Debug)]
pub enum Reading {
    /// With `--health-path`, from the accept until the first bytes, which the host reads
    /// itself: the guest has not heard of the connection yet. Left for [`Reading::Paused`]
    /// when the bytes go to the guest (with the held `accepted` event), for
    /// [`Reading::Stopped`] or [`Reading::Discarding`] when they were a health check the
    /// host answered; the connection is removed when it is gone or silent past `deadline`.
    Sniffing {
        /// The accept event, delivered with the first bytes.
        accepted: Accepted,
        /// When a connection that sent nothing is closed (the header timeout).
        deadline: Instant,
    },
    /// A TLS handshake is under way; the host reads and writes for it whatever the guest
    /// wants. Left, once it is done, for what `then` says (or the connection is removed
    /// when it fails or passes `deadline`).
    Handshaking {
        /// What the finished handshake leads to.
        then: AfterHandshake,
        /// When a handshake that is not done yet is given up (`--tls-handshake-timeout`).
        deadline: Instant,
    },
    /// The guest wants no bytes: the socket is not read, so TCP pushes back on the peer.
    /// Entered at accept or connect, after sniffing, and by `set-read-interest(false)`; left
    /// for [`Reading::Wanted`] by `set-read-interest(true)`.
    Paused,
    /// The guest wants bytes: a readable socket is read one chunk per round. Left for
    /// [`Reading::Paused`] by `set-read-interest(false)`, for [`Reading::Finished`] at the
    /// end of the stream.
    Wanted,
    /// The end of the stream was delivered; nothing more is read. Final while the guest
    /// knows the connection.
    Finished,
    /// The guest closed the connection while the host still flushes its cork; nothing is
    /// read. Entered from any state but [`Reading::Discarding`] by `close`; left with the
    /// write side.
    Stopped,
    /// Everything is written and the write side shut down, but the peer was still sending
    /// (an upload refused with 413 or 503): its bytes are read and dropped, since closing a
    /// socket with unread input resets the connection and the client would lose the response
    /// it has not read yet (nginx's lingering close). The connection is removed at the end
    /// of the stream, on an error, when `budget` is spent or at `deadline`.
    Discarding {
        /// When the socket closes regardless.
        deadline: Instant,
        /// Bytes still to drop before the socket closes regardless.
        budget: usize,
    },
}

/// What a finished handshake leads to.
#[derive(Debug)]
pub enum AfterHandshake {
    /// An inbound connection on a TLS listener: the guest hears of it now.
    Accept(Accepted),
    /// An outbound `connect-tls`: the guest gets `connected`.
    Connect,
    /// A `start-tls` upgrade of an open connection: the guest gets `secured`.
    Upgrade,
}

/// The write side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writing {
    /// An outbound connect is in flight; sends take nothing. Left for [`Writing::Ready`] by
    /// the first writable edge (a `connected` event), or the connection fails.
    Connecting,
    /// The socket takes bytes: small sends fill the cork, larger ones go straight out.
    /// Entered at accept, when a connect settles, and when a blocked cork drains (a
    /// `writable` event); left for [`Writing::Blocked`] by a short write and for
    /// [`Writing::Closing`] by `close` while the cork still holds bytes.
    Ready,
    /// The last write was short: sends take nothing until the cork has drained on a writable
    /// edge, which returns to [`Writing::Ready`].
    Blocked,
    /// The guest closed the connection; the cork is flushed until `deadline`, then the
    /// connection ends ([`Writing::Shut`] or removal).
    Closing {
        /// When unwritten bytes are given up.
        deadline: Instant,
    },
    /// Everything is written and the write side shut down, while the read side discards.
    Shut,
}

/// What a send did with the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Held in the cork, to be written after the guest call.
    Corked(usize),
    /// Written to the socket now (possibly 0 bytes).
    Written(usize),
}

/// What one read for the guest found.
#[derive(Debug)]
pub enum Chunk {
    /// This many bytes are at the front of the buffer; `more` when the socket may hold more.
    Bytes { len: usize, more: bool },
    /// The peer closed its side: the read side is [`Reading::Finished`].
    EndOfStream,
    /// Nothing to read now.
    Drained,
    /// The socket failed.
    Failed(io::Error),
}

/// One connection slot.
pub struct Conn {
    /// The id the guest knows it by.
    pub id: ConnId,
    /// The socket, registered with the worker's poller under the id's slot.
    pub socket: TcpStream,
    /// The read side.
    pub reading: Reading,
    /// The write side.
    pub writing: Writing,
    /// The socket may have bytes (an edge was seen and it was not drained since).
    pub readable: bool,
    /// The peer shut down its side: a short read no longer means "drained", the EOF is next.
    pub peer_closed: bool,
    /// Bytes sent by the guest, not yet written to the socket (at most [`CORK`]).
    pub out: Vec<u8>,
    /// Queued for the flush after the guest call.
    pub corked: bool,
    /// Accepted from a listener (counted by `--max-connections`).
    pub inbound: bool,
    /// The TLS session, for a connection that speaks TLS.
    pub tls: Option<Box<Session>>,
    /// The peer sent TLS `close_notify`: the end of the stream is delivered next.
    pub tls_closed: bool,
    /// Our `close_notify` is queued (after everything the guest sent).
    tls_notified: bool,
}

impl Conn {
    /// A connection whose read side is [`Reading::Paused`].
    pub fn new(id: ConnId, socket: TcpStream, writing: Writing) -> Self {
        Self {
            id,
            socket,
            reading: Reading::Paused,
            writing,
            readable: false,
            peer_closed: false,
            out: Vec::new(),
            corked: false,
            inbound: false,
            tls: None,
            tls_closed: false,
            tls_notified: false,
        }
    }

    /// Whether the guest still knows this connection (it has not closed it).
    pub fn is_live(&self) -> bool {
        matches!(
            self.writing,
            Writing::Connecting | Writing::Ready | Writing::Blocked
        )
    }

    /// Whether the host reads the socket now: for the guest or for the sniffer.
    pub fn can_read(&self) -> bool {
        self.readable
            && matches!(self.reading, Reading::Wanted | Reading::Sniffing { .. })
            && self.writing != Writing::Connecting
    }

    /// The guest's read interest; returns whether a read is owed now.
    pub fn set_read_interest(&mut self, on: bool) -> bool {
        if matches!(self.reading, Reading::Paused | Reading::Wanted) {
            self.reading = if on { Reading::Wanted } else { Reading::Paused };
        }
        on && self.readable
    }

    /// Takes `bytes` into the cork if they fit, else writes the cork and then what the
    /// socket takes of `bytes`. Sends take nothing unless the write side is ready.
    ///
    /// # Errors
    /// The socket failed.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<Sent> {
        if self.writing != Writing::Ready {
            return Ok(Sent::Written(0));
        }
        if self.out.len() + bytes.len() <= CORK {
            self.out.extend_from_slice(bytes);
            return Ok(Sent::Corked(bytes.len()));
        }
        self.write_out()?;
        if self.writing == Writing::Blocked {
            return Ok(Sent::Written(0));
        }
        let written = write_socket(&mut self.socket, self.tls.as_deref_mut(), bytes)?;
        if written < bytes.len() || self.has_unwritten() {
            self.writing = Writing::Blocked;
        }
        Ok(Sent::Written(written))
    }

    /// Whether bytes the host took are not all written yet: the cork, or encrypted bytes
    /// the TLS session holds.
    pub fn has_unwritten(&self) -> bool {
        !self.out.is_empty() || self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    /// Writes as much of the cork as the socket takes; a short write blocks a ready side.
    ///
    /// # Errors
    /// The socket failed.
    pub fn write_out(&mut self) -> io::Result<()> {
        if !self.has_unwritten() {
            return Ok(());
        }
        let written = write_socket(&mut self.socket, self.tls.as_deref_mut(), &self.out)?;
        self.out.drain(..written);
        if self.has_unwritten() && self.writing == Writing::Ready {
            self.writing = Writing::Blocked;
        }
        Ok(())
    }

    /// [`Conn::write_out`] for a connection the guest closed: once the cork is empty, a TLS
    /// connection also says `close_notify`, after the last bytes, so the peer can tell the
    /// end from a truncation.
    ///
    /// # Errors
    /// The socket failed.
    pub fn write_out_closing(&mut self) -> io::Result<()> {
        self.write_out()?;
        if self.out.is_empty()
            && !self.tls_notified
            && let Some(tls) = self.tls.as_mut()
        {
            self.tls_notified = true;
            tls.send_close_notify();
            self.write_out()?;
        }
        Ok(())
    }

    /// Reads one chunk into `buf` (through `cipher` when the connection speaks TLS), keeping
    /// `readable` and the read side up to date.
    pub fn read_chunk(&mut self, buf: &mut [u8], cipher: &mut [u8]) -> Chunk {
        if self.tls.is_some() {
            return self.read_tls_chunk(buf, cipher);
        }
        loop {
            return match self.socket.read(buf) {
                Ok(0) => {
                    self.readable = false;
                    self.reading = Reading::Finished;
                    Chunk::EndOfStream
                }
                Ok(len) => {
                    // A short read means the socket is drained; a full one may have more, so
                    // it is read again next round (after the guest had its say).
                    let more = len == buf.len() || self.peer_closed;
                    if !more {
                        self.readable = false;
                    }
                    Chunk::Bytes { len, more }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    Chunk::Drained
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => Chunk::Failed(error),
            };
        }
    }

    /// [`Conn::read_chunk`] for TLS: ciphertext into `cipher`, plaintext into `buf`.
    fn read_tls_chunk(&mut self, buf: &mut [u8], cipher: &mut [u8]) -> Chunk {
        if self.tls_closed {
            return self.end_of_stream();
        }
        loop {
            let len = match self.socket.read(cipher) {
                Ok(0) => return self.end_of_stream(),
                Ok(len) => len,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Chunk::Drained;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Chunk::Failed(error),
            };
            let Some(tls) = self.tls.as_mut() else {
                return Chunk::Drained;
            };
            let read = match tls.feed(&cipher[..len], buf) {
                Ok(read) => read,
                Err(error) => return Chunk::Failed(error),
            };
            let more = len == cipher.len() || self.peer_closed || read.closed;
            self.tls_closed = read.closed;
            if !more {
                self.readable = false;
            }
            if read.len > 0 {
                return Chunk::Bytes {
                    len: read.len,
                    more,
                };
            }
            if read.closed {
                return self.end_of_stream();
            }
            if !more {
                return Chunk::Drained;
            }
        }
    }

    fn end_of_stream(&mut self) -> Chunk {
        self.readable = false;
        self.reading = Reading::Finished;
        Chunk::EndOfStream
    }

    /// The guest closed the connection with bytes still in the cork: flush until [`LINGER`].
    pub fn start_closing(&mut self, now: Instant) {
        self.writing = Writing::Closing {
            deadline: now + LINGER,
        };
        self.reading = Reading::Stopped;
    }

    /// Whether the peer is still sending (closing now would reset the connection).
    pub fn is_peer_sending(&self) -> bool {
        !self.peer_closed
            && !matches!(self.reading, Reading::Finished)
            && (self.readable || unread_bytes(&self.socket) > 0)
    }

    /// Everything is written: shuts the write side down and drops the peer's bytes for
    /// [`DISCARD_TIME`] (at most [`DISCARD_BYTES`]).
    pub fn start_discarding(&mut self, now: Instant) {
        // A socket that cannot shut down is closed soon anyway.
        let _ = self.socket.shutdown(std::net::Shutdown::Write);
        self.writing = Writing::Shut;
        self.reading = Reading::Discarding {
            deadline: now + DISCARD_TIME,
            budget: DISCARD_BYTES,
        };
    }

    /// Reads and drops what a discarding peer sent; returns whether the connection is done
    /// (end of stream, an error, or the budget spent).
    pub fn discard(&mut self, buf: &mut [u8]) -> bool {
        let Reading::Discarding { deadline, budget } = self.reading else {
            return false;
        };
        let mut left = budget;
        let done = loop {
            match self.socket.read(buf) {
                Ok(0) => break true,
                Ok(n) if n >= left => break true,
                Ok(n) => left -= n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break false,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        self.reading = Reading::Discarding {
            deadline,
            budget: left,
        };
        done
    }

    /// When the host gives up on this connection by itself: the end of its linger, of its
    /// discarding, or of the sniffer's wait.
    pub fn deadline(&self) -> Option<Instant> {
        match (&self.writing, &self.reading) {
            (Writing::Closing { deadline }, _)
            | (
                _,
                Reading::Discarding { deadline, .. }
                | Reading::Sniffing { deadline, .. }
                | Reading::Handshaking { deadline, .. },
            ) => Some(*deadline),
            _ => None,
        }
    }
}

/// Bytes waiting in the socket's receive queue (`FIONREAD`); 0 when unknown.
fn unread_bytes(socket: &TcpStream) -> usize {
    use std::os::fd::AsRawFd as _;
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid for it.
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), libc::FIONREAD, &mut count) };
    if result == 0 {
        usize::try_from(count).unwrap_or(0)
    } else {
        0
    }
}

/// Caps the unsent bytes the kernel queues for `socket` at [`MAX_UNSENT`] (Linux only; a
/// failure leaves the kernel's default, which is only less precise).
pub fn limit_unsent(socket: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let value = libc::c_int::try_from(MAX_UNSENT).unwrap_or(libc::c_int::MAX);
        // SAFETY: a valid socket descriptor and a c_int option value of the size passed.
        let _ = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// Writes `bytes` to the socket, through the TLS session when there is one; returns how
/// many the socket (or the session, whose encrypted bytes are all written first) took.
fn write_socket(
    socket: &mut TcpStream,
    tls: Option<&mut Session>,
    bytes: &[u8],
) -> io::Result<usize> {
    let Some(tls) = tls else {
        return write_some(socket, bytes);
    };
    let mut written = 0;
    while tls.flush(socket)? && written < bytes.len() {
        let taken = tls.write_plaintext(&bytes[written..]);
        if taken == 0 {
            break;
        }
        written += taken;
    }
    Ok(written)
}

/// Writes until the socket would block; returns the bytes written.
fn write_some(socket: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match socket.write(&bytes[written..]) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream as StdStream};

    use super::*;

    /// A connection over loopback and the peer's end of it (blocking, with a timeout).
    fn pair(writing: Writing) -> (Conn, StdStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer = StdStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (ours, _) = listener.accept().expect("accept");
        ours.set_nonblocking(true).expect("non-blocking");
        peer.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        (Conn::new(1, TcpStream::from_std(ours), writing), peer)
    }

    /// Reads until `buf` holds `n` bytes or the peer's side has nothing more to give.
    fn read_exactly(peer: &mut StdStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        peer.read_exact(&mut buf).expect("read");
        buf
    }

    #[test]
    fn small_sends_wait_in_the_cork_until_written_out() {
        let (mut conn, mut peer) = pair(Writing::Ready);
        assert_eq!(conn.send(b"hello ").expect("send"), Sent::Corked(6));
        assert_eq!(conn.send(b"world").expect("send"), Sent::Corked(5));
        assert_eq!(conn.out, b"hello world");
        conn.write_out().expect("write");
        assert!(conn.out.is_empty());
        assert_eq!(conn.writing, Writing::Ready);
        assert_eq!(read_exactly(&mut peer, 11), b"hello world");
    }

    #[test]
    fn sends_take_nothing_while_connecting_or_blocked() {
        let (mut conn, _peer) = pair(Writing::Connecting);
        assert_eq!(conn.send(b"early").expect("send"), Sent::Written(0));
        conn.writing = Writing::Blocked;
        assert_eq!(conn.send(b"late").expect("send"), Sent::Written(0));
        assert!(conn.out.is_empty());
    }

    #[test]
    fn a_peer_that_reads_nothing_blocks_the_write_side() {
        let (mut conn, _peer) = pair(Writing::Ready);
        let big = vec![b'x'; 4 * CORK];
        let mut sent = 0;
        while conn.writing == Writing::Ready {
            match conn.send(&big).expect("send") {
                Sent::Written(n) => sent += n,
                Sent::Corked(_) => unreachable!("larger than the cork"),
            }
            assert!(sent < 1 << 30, "the socket never pushed back");
        }
        assert_eq!(conn.writing, Writing::Blocked);
        assert_eq!(conn.send(b"more").expect("send"), Sent::Written(0));
    }

    #[test]
    fn reads_deliver_bytes_then_the_end_of_the_stream() {
        let (mut conn, mut peer) = pair(Writing::Ready);
        conn.readable = true;
        assert!(conn.set_read_interest(true));
        assert!(conn.can_read());
        peer.write_all(b"ping").expect("write");
        peer.shutdown(std::net::Shutdown::Write).expect("shutdown");
        conn.peer_closed = true;
        let mut buf = [0u8; READ_CHUNK];
        let mut got = Vec::new();
        loop {
            match conn.read_chunk(&mut buf, &mut [0u8; 1024]) {
                Chunk::Bytes { len, more } => {
                    assert!(more, "a closed peer's stream is read to its end");
                    got.extend_from_slice(&buf[..len]);
                }
                Chunk::Drained => std::thread::sleep(Duration::from_millis(5)),
                Chunk::EndOfStream => break,
                Chunk::Failed(error) => panic!("read failed: {error}"),
            }
        }
        assert_eq!(got, b"ping");
        assert!(matches!(conn.reading, Reading::Finished));
        assert!(
            !conn.set_read_interest(true),
            "nothing is read after the end"
        );
        assert!(matches!(conn.reading, Reading::Finished));
    }

    #[test]
    fn closing_stops_reading_and_discarding_drops_the_peers_bytes() {
        let (mut conn, mut peer) = pair(Writing::Ready);
        let now = Instant::now();
        conn.set_read_interest(true);
        conn.start_closing(now);
        assert!(!conn.is_live());
        assert!(matches!(conn.reading, Reading::Stopped));
        assert_eq!(conn.deadline(), Some(now + LINGER));
        peer.write_all(&[b'u'; 1000]).expect("write");
        std::thread::sleep(Duration::from_millis(50));
        assert!(conn.is_peer_sending());
        conn.start_discarding(now);
        assert_eq!(conn.deadline(), Some(now + DISCARD_TIME));
        let mut buf = [0u8; READ_CHUNK];
        assert!(!conn.discard(&mut buf), "the peer is still connected");
        assert!(matches!(
            conn.reading,
            Reading::Discarding { budget, .. } if budget == DISCARD_BYTES - 1000
        ));
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest)
            .expect("the write side was shut down");
        drop(peer);
        std::thread::sleep(Duration::from_millis(50));
        assert!(conn.discard(&mut buf), "the end of the stream ends it");
    }
}
