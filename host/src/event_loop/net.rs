//! The sockets one worker owns: listeners, connections (by never-reused id), pending events
//! for the guest, timers and the outbound policy.
//!
//! The guest's imports land here (`send`, `set_read_interest`, `close`, `connect`, timers);
//! the loop in `mod.rs` feeds readiness in and takes the pending events out.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::timers::Timers;
use crate::admission::Admission;
use crate::policy::ConnectPolicy;
use crate::runtime::{Accepted, ErrorCode, Event, Failure, Received, SocketError};

/// Bytes read from one connection per round; one `received` event carries at most this.
pub const READ_CHUNK: usize = 64 * 1024;

/// Connections accepted from one listener per wakeup, so a flood cannot starve the others.
pub const ACCEPT_BATCH: usize = 128;

/// How long a listener rests after `EMFILE`/`ENFILE` before accepting again (no busy loop).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

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

/// Chunks still delivered from a connection whose socket reported an error.
const MAX_CHUNKS_BEFORE_FAILURE: usize = 4;

/// Listener tokens count down from here; connection tokens are slab indices from 0.
const LISTENER_TOKEN_BASE: usize = usize::MAX - 1024;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// An outbound connect is in flight; the first writable event settles it.
    Connecting,
    /// Established.
    Open,
    /// The guest closed it; the host flushes its cork, then closes (the id is already retired).
    Closing { deadline: Instant },
    /// Everything is written and the write side shut down, but the peer was still sending
    /// (an upload refused with 413 or 503): its bytes are read and dropped for a while, since
    /// closing a socket with unread input resets the connection and the client would lose
    /// the response it has not read yet (nginx's lingering close).
    Discarding { deadline: Instant, budget: usize },
}

/// One connection slot.
struct Conn {
    id: u64,
    socket: TcpStream,
    phase: Phase,
    /// The guest wants bytes.
    read_interest: bool,
    /// The peer shut down its side: a short read no longer means "drained", the EOF is next.
    peer_closed: bool,
    /// The socket may have bytes (edge seen, not yet drained).
    readable: bool,
    /// The last send was short: report `writable` on the next writable edge.
    write_blocked: bool,
    /// End of stream was delivered; nothing more to read.
    finished_reading: bool,
    /// Bytes sent by the guest, not yet written to the socket (at most [`CORK`]).
    out: Vec<u8>,
    /// Queued in `Net::corked` for the flush after the guest call.
    corked: bool,
    /// Accepted from a listener (counted by `--max-connections`).
    inbound: bool,
    /// With `--health-path`: the accept not yet reported, until the first bytes show whether
    /// this is a health check, and when the connection is closed if none come.
    sniff: Option<(Accepted, Instant)>,
}

/// A slab slot: the connection, or free with the generation the next occupant gets.
enum Slot {
    Used(Conn),
    Free { generation: u32 },
}

/// A listening socket.
struct Listener {
    socket: TcpListener,
    local: SocketAddr,
    /// Pending connections may be waiting (edge seen, not yet drained).
    ready: bool,
    /// After `EMFILE`, accepting resumes at this time.
    paused_until: Option<Instant>,
}

/// Counters for `docs/architecture.md`: how often the boundary is crossed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Crossings {
    /// Calls into the guest (`handle-events`).
    pub guest_calls: u64,
    /// Calls from the guest into the host's socket and timer imports.
    pub import_calls: u64,
}

/// The sockets and timers of one worker.
pub struct Net {
    registry: Registry,
    slots: Vec<Slot>,
    free: Vec<usize>,
    listeners: Vec<Listener>,
    pending: Vec<Event>,
    /// Slab indices that may have bytes for the guest.
    to_read: Vec<usize>,
    /// One read buffer for every connection; each event gets a copy of exactly what was read.
    read_buf: Box<[u8]>,
    /// Connections whose cork has bytes to write after the guest call.
    corked: Vec<usize>,
    /// Connections the guest closed that still flush their cork.
    closing: Vec<usize>,
    timers: Timers,
    policy: ConnectPolicy,
    epoch: Instant,
    stopped: Option<u8>,
    crossings: Crossings,
    worker: usize,
    last_emfile_log: Option<Instant>,
    /// The process-wide connection limit.
    admission: Admission,
    /// When the last "--max-connections reached" line was logged.
    last_refusal_log: Option<Instant>,
    /// `--health-path`: requests for it are answered by the host itself.
    health_path: Option<Vec<u8>>,
    /// How long a new connection may stay silent while the host waits for its first bytes
    /// (the header timeout: the guest has not heard of it yet, so its timers cannot apply).
    sniff_timeout: Duration,
    /// Connections whose first bytes the host still waits for.
    sniffing: Vec<usize>,
}

fn socket_error(error: &io::Error) -> SocketError {
    let code = match error.kind() {
        io::ErrorKind::ConnectionRefused => ErrorCode::ConnectionRefused,
        io::ErrorKind::ConnectionReset => ErrorCode::ConnectionReset,
        io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe => {
            ErrorCode::ConnectionAborted
        }
        io::ErrorKind::TimedOut => ErrorCode::TimedOut,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ErrorCode::Unreachable
        }
        _ if is_fd_exhaustion(error) => ErrorCode::ResourceExhausted,
        _ => ErrorCode::Other,
    };
    SocketError {
        code,
        message: error.to_string(),
    }
}

fn unknown(conn: u64) -> SocketError {
    SocketError {
        code: ErrorCode::UnknownConnection,
        message: format!("connection {conn} is closed or unknown"),
    }
}

/// `EMFILE` (process) or `ENFILE` (system): out of file descriptors.
fn is_fd_exhaustion(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(24 | 23))
}

fn display_addr(addr: io::Result<SocketAddr>) -> String {
    addr.map_or_else(|_| "unknown".to_string(), |addr| addr.to_string())
}

impl Net {
    /// Creates the worker's socket table around `registry` (a clone of its `Poll`'s).
    pub fn new(
        registry: Registry,
        policy: ConnectPolicy,
        admission: Admission,
        worker: usize,
    ) -> Self {
        Self {
            admission,
            last_refusal_log: None,
            health_path: None,
            sniff_timeout: Duration::from_secs(10),
            sniffing: Vec::new(),
            registry,
            slots: Vec::new(),
            free: Vec::new(),
            listeners: Vec::new(),
            pending: Vec::new(),
            to_read: Vec::new(),
            corked: Vec::new(),
            read_buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            closing: Vec::new(),
            timers: Timers::default(),
            policy,
            epoch: Instant::now(),
            stopped: None,
            crossings: Crossings::default(),
            worker,
            last_emfile_log: None,
        }
    }

    /// Adds a listener (already bound, non-blocking) and starts watching it.
    ///
    /// # Errors
    /// Registering with the poller failed.
    pub fn add_listener(&mut self, listener: std::net::TcpListener) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let mut socket = TcpListener::from_std(listener);
        let token = Token(LISTENER_TOKEN_BASE + self.listeners.len());
        self.registry
            .register(&mut socket, token, Interest::READABLE)?;
        self.listeners.push(Listener {
            socket,
            local,
            ready: true,
            paused_until: None,
        });
        Ok(())
    }

    /// The worker's index, for log lines.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Monotonic nanoseconds since this worker started.
    pub fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The boundary crossings so far.
    pub fn crossings(&self) -> Crossings {
        self.crossings
    }

    pub(crate) fn count_guest_call(&mut self) {
        self.crossings.guest_calls += 1;
    }

    pub(crate) fn count_import_call(&mut self) {
        self.crossings.import_calls += 1;
    }

    /// The exit code the guest asked for with `stop`, if it did.
    pub fn stopped(&self) -> Option<u8> {
        self.stopped
    }

    pub(crate) fn stop(&mut self, code: u8) {
        self.stopped = Some(code);
    }

    /// Whether the guest can still receive anything: a listener, a connection or a timer.
    pub fn has_sources(&self) -> bool {
        !self.listeners.is_empty()
            || self.slots.iter().any(|slot| matches!(slot, Slot::Used(_)))
            || !self.timers.is_empty()
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    fn conn_mut(&mut self, id: u64) -> Option<&mut Conn> {
        match self.slots.get_mut(slot_of(id)) {
            Some(Slot::Used(conn))
                if conn.id == id
                    && !matches!(conn.phase, Phase::Closing { .. } | Phase::Discarding { .. }) =>
            {
                Some(conn)
            }
            _ => None,
        }
    }

    fn insert(&mut self, mut socket: TcpStream, phase: Phase) -> io::Result<u64> {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::Free { generation: 0 });
            self.slots.len() - 1
        });
        let Slot::Free { generation } = self.slots[index] else {
            unreachable!("free list holds free slots only");
        };
        if let Err(error) = self.registry.register(
            &mut socket,
            Token(index),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.free.push(index);
            return Err(error);
        }
        let id = (u64::from(generation) << 32) | index as u64;
        let conn = Conn {
            id,
            socket,
            phase,
            read_interest: false,
            peer_closed: false,
            readable: false,
            write_blocked: false,
            finished_reading: false,
            out: Vec::new(),
            corked: false,
            inbound: false,
            sniff: None,
        };
        self.slots[index] = Slot::Used(conn);
        Ok(id)
    }

    fn remove(&mut self, index: usize) {
        let Some(Slot::Used(conn)) = self.slots.get(index) else {
            return;
        };
        let next = Slot::Free {
            generation: ((conn.id >> 32) as u32).wrapping_add(1),
        };
        if let Slot::Used(mut conn) = std::mem::replace(&mut self.slots[index], next) {
            if conn.inbound {
                self.admission.leave();
            } // Deregistering can only fail for a socket the poller never saw; dropping closes it.
            let _ = self.registry.deregister(&mut conn.socket);
        }
        self.free.push(index);
    }

    /// The guest's `send` import: takes what fits in the cork or what the socket takes now.
    ///
    /// Small sends are held (at most [`CORK`] bytes) and written together by [`Net::flush`]
    /// after the guest call; the count returned is what the host took responsibility for.
    pub fn send(&mut self, id: u64, bytes: &[u8]) -> Result<u32, SocketError> {
        let index = slot_of(id);
        let conn = self.conn_mut(id).ok_or_else(|| unknown(id))?;
        if conn.phase != Phase::Open || conn.write_blocked {
            return Ok(0);
        }
        let taken = if conn.out.len() + bytes.len() <= CORK {
            conn.out.extend_from_slice(bytes);
            if !conn.corked {
                conn.corked = true;
                self.corked.push(index);
            }
            bytes.len()
        } else {
            write_out(conn).map_err(|e| socket_error(&e))?;
            if conn.write_blocked {
                return Ok(0);
            }
            let written = write_some(&mut conn.socket, bytes).map_err(|e| socket_error(&e))?;
            if written < bytes.len() {
                conn.write_blocked = true;
            }
            written
        };
        Ok(u32::try_from(taken).unwrap_or(u32::MAX))
    }

    /// Writes every cork filled during the guest call; a socket that fails is reported.
    pub fn flush(&mut self) {
        for index in std::mem::take(&mut self.corked) {
            let Some(Slot::Used(conn)) = self.slots.get_mut(index) else {
                continue;
            };
            conn.corked = false;
            if let Err(error) = write_out(conn) {
                self.fail(index, &error);
            }
        }
    }

    /// The guest's `set-read-interest` import.
    pub fn set_read_interest(&mut self, id: u64, on: bool) {
        let index = slot_of(id);
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        conn.read_interest = on;
        if on && conn.readable {
            self.to_read.push(index);
        }
    }

    /// The guest's `set-nodelay` import.
    pub fn set_nodelay(&mut self, id: u64, on: bool) -> Result<(), SocketError> {
        let conn = self.conn_mut(id).ok_or_else(|| unknown(id))?;
        conn.socket.set_nodelay(on).map_err(|e| socket_error(&e))
    }

    /// The guest's `close` import: what the host already took is still written (for up to
    /// [`LINGER`]), then the socket closes.
    pub fn close(&mut self, id: u64) {
        let index = slot_of(id);
        let Some(conn) = self.conn_mut(id) else {
            return;
        };
        if conn.phase == Phase::Open
            && !conn.out.is_empty()
            && write_out(conn).is_ok()
            && !conn.out.is_empty()
        {
            conn.phase = Phase::Closing {
                deadline: Instant::now() + LINGER,
            };
            conn.read_interest = false;
            self.closing.push(index);
            return;
        }
        self.end(index, Instant::now());
    }

    /// Closes a connection whose output is all written: at once, unless the peer is still
    /// sending, in which case its bytes are dropped for [`DISCARD_TIME`] first.
    fn end(&mut self, index: usize, now: Instant) {
        let Some(Slot::Used(conn)) = self.slots.get_mut(index) else {
            return;
        };
        let sending = !conn.peer_closed
            && !conn.finished_reading
            && (conn.readable || unread_bytes(&conn.socket) > 0);
        if !sending {
            self.remove(index);
            return;
        }
        let _ = conn.socket.shutdown(std::net::Shutdown::Write);
        conn.read_interest = false;
        conn.phase = Phase::Discarding {
            deadline: now + DISCARD_TIME,
            budget: DISCARD_BYTES,
        };
        self.closing.push(index);
        self.discard(index);
    }

    /// Reads and drops what a discarding connection's peer sent; closes it at the end of the
    /// stream, on an error, or past its byte budget.
    fn discard(&mut self, index: usize) {
        let Some(Slot::Used(conn)) = self.slots.get_mut(index) else {
            return;
        };
        let Phase::Discarding { deadline, budget } = conn.phase else {
            return;
        };
        let mut left = budget;
        let done = loop {
            match conn.socket.read(&mut self.read_buf) {
                Ok(0) => break true,
                Ok(n) if n >= left => break true,
                Ok(n) => left -= n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break false,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        conn.phase = Phase::Discarding {
            deadline,
            budget: left,
        };
        if done {
            self.remove(index);
        }
    }

    /// Closes lingering connections whose flush is done or whose time is up.
    pub fn sweep_closing(&mut self, now: Instant) {
        let closing = std::mem::take(&mut self.closing);
        for index in closing {
            let Some(Slot::Used(conn)) = self.slots.get_mut(index) else {
                continue;
            };
            match conn.phase {
                Phase::Closing { deadline } => {
                    let flushed = write_out(conn).is_err() || conn.out.is_empty();
                    if flushed {
                        self.end(index, now);
                    } else if now >= deadline {
                        self.remove(index);
                    } else {
                        self.closing.push(index);
                    }
                }
                Phase::Discarding { deadline, .. } if now >= deadline => self.remove(index),
                Phase::Discarding { .. } => self.closing.push(index),
                Phase::Connecting | Phase::Open => {}
            }
        }
    }

    /// The guest's `connect` import: checks the policy on the address as written (nothing
    /// is resolved for a denied name), then starts a non-blocking connect to the address the
    /// allowed name resolved to at start-up.
    pub fn connect(&mut self, address: &str) -> Result<u64, SocketError> {
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
        self.insert(socket, Phase::Connecting)
            .map_err(|e| socket_error(&e))
    }

    /// The guest's `set-timer` import.
    pub fn set_timer(&mut self, deadline: u64) -> u64 {
        self.timers.arm(deadline)
    }

    /// The guest's `cancel-timer` import.
    pub fn cancel_timer(&mut self, id: u64) {
        self.timers.cancel(id);
    }

    /// Takes the events gathered for the guest.
    pub fn take_pending(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.pending)
    }

    /// Answers `GET`/`HEAD` requests for `path` in the host, without entering the guest; a
    /// new connection that sends nothing for `timeout` is closed.
    pub fn set_health_path(&mut self, path: Option<&str>, timeout: Duration) {
        self.health_path = path.map(|p| p.as_bytes().to_vec());
        self.sniff_timeout = timeout;
    }

    /// Stops accepting (the listening sockets close, so new connections are refused) and
    /// tells the guest to drain. Connections the guest never heard of (silent since their
    /// accept) close at once.
    pub fn start_draining(&mut self) {
        for mut listener in self.listeners.drain(..) {
            let _ = self.registry.deregister(&mut listener.socket);
        }
        for index in std::mem::take(&mut self.sniffing) {
            if let Some(Slot::Used(conn)) = self.slots.get(index)
                && conn.sniff.is_some()
            {
                self.remove(index);
            }
        }
        self.pending.push(Event::Draining);
    }

    /// Closes connections that stayed silent past the sniff timeout; the guest never knew
    /// them.
    pub fn sweep_sniffing(&mut self, now: Instant) {
        let mut expired = Vec::new();
        self.sniffing.retain(|&index| match self.slots.get(index) {
            Some(Slot::Used(Conn {
                sniff: Some((_, deadline)),
                ..
            })) => {
                if now >= *deadline {
                    expired.push(index);
                    false
                } else {
                    true
                }
            }
            _ => false,
        });
        for index in expired {
            tracing::debug!(
                worker = self.worker,
                "closing a connection that sent nothing"
            );
            self.remove(index);
        }
    }

    /// Whether events wait for the guest.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Handles one readiness event from the poller.
    ///
    /// `hang_up` reports that the peer closed its side; the EOF is then read after the data.
    pub fn on_ready(
        &mut self,
        token: Token,
        readable: bool,
        writable: bool,
        error: bool,
        hang_up: bool,
    ) {
        if token.0 >= LISTENER_TOKEN_BASE {
            if let Some(listener) = self.listeners.get_mut(token.0 - LISTENER_TOKEN_BASE) {
                listener.ready = true;
            }
            return;
        }
        let index = token.0;
        let Some(Slot::Used(conn)) = self.slots.get_mut(index) else {
            return;
        };
        if let Phase::Closing { .. } = conn.phase {
            if writable || error {
                self.sweep_closing(Instant::now());
            }
            return;
        }
        if let Phase::Discarding { .. } = conn.phase {
            if readable || hang_up || error {
                self.discard(index);
            }
            return;
        }
        if conn.phase == Phase::Connecting {
            if writable || error {
                self.settle_connect(index);
            }
            return;
        }
        if error {
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
        if hang_up {
            conn.peer_closed = true;
        }
        if readable || hang_up {
            conn.readable = true;
            if conn.read_interest {
                self.to_read.push(index);
            }
        }
        if writable && conn.write_blocked {
            match write_out(conn) {
                Ok(()) if conn.out.is_empty() => {
                    conn.write_blocked = false;
                    self.pending.push(Event::Writable(conn.id));
                }
                Ok(()) => {}
                Err(error) => self.fail(index, &error),
            }
        }
    }

    fn settle_connect(&mut self, index: usize) {
        let Some(Slot::Used(conn)) = self.slots.get_mut(index) else {
            return;
        };
        match conn.socket.take_error() {
            Ok(Some(error)) | Err(error) => return self.fail(index, &error),
            Ok(None) => {}
        }
        match conn.socket.peer_addr() {
            Ok(_) => {
                conn.phase = Phase::Open;
                conn.readable = true;
                self.pending.push(Event::Connected(conn.id));
            }
            // Not connected yet: a spurious wakeup; the next edge settles it.
            Err(error) if error.kind() == io::ErrorKind::NotConnected => {}
            Err(error) => self.fail(index, &error),
        }
    }

    fn fail(&mut self, index: usize, error: &io::Error) {
        let Some(Slot::Used(conn)) = self.slots.get(index) else {
            return;
        };
        let conn_id = conn.id;
        self.pending.push(Event::Failed(Failure {
            conn: conn_id,
            error: socket_error(error),
        }));
        self.remove(index);
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
        let Some(Slot::Used(conn)) = self.slots.get_mut(index) else {
            return false;
        };
        if !conn.read_interest
            || !conn.readable
            || conn.finished_reading
            || conn.phase != Phase::Open
        {
            return false;
        }
        if conn.sniff.is_some() {
            self.sniff(index);
            return false;
        }
        let buf = &mut self.read_buf;
        loop {
            return match conn.socket.read(buf) {
                Ok(0) => {
                    conn.readable = false;
                    conn.finished_reading = true;
                    self.pending.push(Event::EndOfStream(conn.id));
                    false
                }
                Ok(n) => {
                    // A short read means the socket is drained; a full one may have more, so
                    // it is read again next round (after the guest had its say).
                    if n < READ_CHUNK && !conn.peer_closed {
                        conn.readable = false;
                    } else {
                        self.to_read.push(index);
                    }
                    let bytes = buf[..n].to_vec();
                    self.pending.push(Event::Received(Received {
                        conn: conn.id,
                        bytes,
                    }));
                    true
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    conn.readable = false;
                    false
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.fail(index, &error);
                    false
                }
            };
        }
    }

    /// Reads the first bytes of a connection accepted with `--health-path` set: answers a
    /// health check without the guest, or hands the connection and its bytes to the guest.
    fn sniff(&mut self, index: usize) {
        let Some(Slot::Used(conn)) = self.slots.get_mut(index) else {
            return;
        };
        let read = loop {
            match conn.socket.read(&mut self.read_buf) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = match read {
            Ok(n) if n > 0 => n,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                conn.readable = false;
                return;
            }
            // Gone before saying anything: the guest never hears of it.
            Ok(_) | Err(_) => return self.remove(index),
        };
        let bytes = &self.read_buf[..n];
        if let Some(path) = &self.health_path
            && let Some(response) = health_response(bytes, path)
        {
            conn.out.extend_from_slice(response);
            let id = conn.id;
            return self.close(id);
        }
        let Some((accepted, _)) = conn.sniff.take() else {
            return;
        };
        conn.read_interest = false;
        if n < READ_CHUNK && !conn.peer_closed {
            conn.readable = false;
        } else {
            self.to_read.push(index);
        }
        let received = Received {
            conn: conn.id,
            bytes: bytes.to_vec(),
        };
        self.pending.push(Event::Accepted(accepted));
        self.pending.push(Event::Received(received));
    }

    /// Whether a round of reads is owed (connections left readable after a full chunk).
    pub fn has_reads(&self) -> bool {
        !self.to_read.is_empty()
    }

    /// Accepts pending connections on every ready listener, a bounded batch each.
    pub fn accept_ready(&mut self, now: Instant) {
        for index in 0..self.listeners.len() {
            let listener = &mut self.listeners[index];
            if listener.paused_until.is_some_and(|until| now < until) {
                continue;
            }
            listener.paused_until = None;
            if listener.ready {
                self.accept_batch(index, now);
            }
        }
    }

    fn accept_batch(&mut self, index: usize, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            match self.listeners[index].socket.accept() {
                Ok((socket, peer)) => self.admit(index, socket, peer),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.listeners[index].ready = false;
                    return;
                }
                Err(error) if is_fd_exhaustion(&error) => {
                    self.listeners[index].paused_until = Some(now + ACCEPT_BACKOFF);
                    if self
                        .last_emfile_log
                        .is_none_or(|at| now.duration_since(at) > Duration::from_secs(5))
                    {
                        self.last_emfile_log = Some(now);
                        tracing::error!(
                            worker = self.worker,
                            "accept failed: {error}; pausing accepts for {ACCEPT_BACKOFF:?}"
                        );
                    }
                    return;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // ECONNABORTED and friends concern one connection only.
                Err(error) => tracing::debug!(worker = self.worker, "accept: {error}"),
            }
        }
    }

    fn admit(&mut self, listener: usize, socket: TcpStream, peer: SocketAddr) {
        if !self.admission.try_enter() {
            // Over --max-connections: close at once; existing connections are not disturbed.
            drop(socket);
            let now = Instant::now();
            if self
                .last_refusal_log
                .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
            {
                self.last_refusal_log = Some(now);
                tracing::warn!(
                    worker = self.worker,
                    open = self.admission.open(),
                    "refusing connections from {peer} and others: --max-connections reached"
                );
            }
            return;
        }
        // Small request/response writes must not wait for delayed ACKs.
        let _ = socket.set_nodelay(true);
        limit_unsent(&socket);
        let local = display_addr(socket.local_addr());
        match self.insert(socket, Phase::Open) {
            Ok(conn) => {
                let accepted = Accepted {
                    conn,
                    listener: u32::try_from(listener).unwrap_or(u32::MAX),
                    peer: peer.to_string(),
                    local,
                };
                let sniffing = self.health_path.is_some();
                if let Some(Slot::Used(entry)) = self.slots.get_mut(slot_of(conn)) {
                    entry.inbound = true;
                    if sniffing {
                        // The first bytes decide: a health check is answered here, anything
                        // else goes to the guest with them.
                        entry.read_interest = true;
                        entry.sniff = Some((accepted, Instant::now() + self.sniff_timeout));
                        self.sniffing.push(slot_of(conn));
                        return;
                    }
                }
                self.pending.push(Event::Accepted(accepted));
            }
            Err(error) => {
                self.admission.leave();
                tracing::warn!(
                    worker = self.worker,
                    "cannot watch connection from {peer}: {error}"
                );
            }
        }
    }

    /// Whether a listener has connections left over from a capped batch.
    pub fn has_accepts(&self, now: Instant) -> bool {
        self.listeners
            .iter()
            .any(|l| l.ready && l.paused_until.is_none_or(|until| now >= until))
    }

    /// When the poller must wake up at the latest: the next timer or the end of an accept pause.
    pub fn next_wakeup(&mut self) -> Option<Instant> {
        let linger = self
            .closing
            .iter()
            .filter_map(|&index| match self.slots.get(index) {
                Some(Slot::Used(Conn {
                    phase: Phase::Closing { deadline } | Phase::Discarding { deadline, .. },
                    ..
                })) => Some(*deadline),
                _ => None,
            });
        let sniff = self
            .sniffing
            .iter()
            .filter_map(|&index| match self.slots.get(index) {
                Some(Slot::Used(Conn {
                    sniff: Some((_, deadline)),
                    ..
                })) => Some(*deadline),
                _ => None,
            })
            .min();
        let linger = linger.min().into_iter().chain(sniff).min();
        let timers = self.next_timer_or_accept();
        match (linger, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn next_timer_or_accept(&mut self) -> Option<Instant> {
        let timer = self
            .timers
            .next_deadline()
            .map(|deadline| self.epoch + Duration::from_nanos(deadline));
        let pause = self.listeners.iter().filter_map(|l| l.paused_until).min();
        timer.into_iter().chain(pause).min()
    }

    /// Queues `timer` events for every due timer.
    pub fn fire_timers(&mut self) {
        let now = self.now();
        for id in self.timers.expired(now) {
            self.pending.push(Event::Timer(id));
        }
    }

    /// Closes every connection and disarms every timer (the guest that knew them is gone).
    pub fn reset_guest_state(&mut self) {
        for index in 0..self.slots.len() {
            self.remove(index);
        }
        self.pending.clear();
        self.to_read.clear();
        self.corked.clear();
        self.closing.clear();
        self.sniffing.clear();
        self.timers.clear();
    }

    /// The local addresses of the listeners.
    pub fn listener_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.local).collect()
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
fn limit_unsent(socket: &TcpStream) {
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

/// Writes as much of the cork as the socket takes; a short write marks the connection blocked.
fn write_out(conn: &mut Conn) -> io::Result<()> {
    if conn.out.is_empty() {
        return Ok(());
    }
    let written = write_some(&mut conn.socket, &conn.out)?;
    conn.out.drain(..written);
    if !conn.out.is_empty() {
        conn.write_blocked = true;
    }
    Ok(())
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

fn slot_of(id: u64) -> usize {
    (id & 0xffff_ffff) as usize
}
