//! The sockets one worker owns: its connections by never-reused id, its listeners, its
//! timers, and the events gathered for the guest's next call.
//!
//! The guest's imports land here (through [`Imports`]); the worker loop feeds readiness in
//! and takes the pending events out. Each connection's own state lives in [`Conn`]; this
//! file keeps the lists that say which connections need the loop's attention.

use std::io;
use std::net::SocketAddr;
use std::task::Waker;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::accept::{Admitted, Listeners};
use super::conn::{AfterHandshake, Conn, READ_CHUNK, Reading, Writing};
use super::health::Sniffer;
use super::slab::{Slab, slot_of};
use super::socket_error::socket_error;
use super::timers::Timers;
use super::tls_setup::{TlsSetup, TlsState};
use crate::admission::Admission;
use crate::boundary::{Accepted, ConnId, Event, Failure};
use crate::policy::ConnectPolicy;
use crate::tls::{CIPHERTEXT_CHUNK, Session};

/// The sockets and timers of one worker.
pub struct Net {
    pub(super) registry: Registry,
    pub(super) conns: Slab<Conn>,
    pub(super) listeners: Listeners,
    pub(super) pending: Vec<Event>,
    /// Slab indices that may have bytes for the guest.
    pub(super) to_read: Vec<usize>,
    /// One read buffer for every connection; each event gets a copy of exactly what was read.
    pub(super) read_buf: Box<[u8]>,
    /// Ciphertext read from TLS connections, before it is decrypted into `read_buf`.
    pub(super) cipher_buf: Box<[u8]>,
    /// Connections whose cork has bytes to write after the guest call.
    pub(super) corked: Vec<usize>,
    /// Connections the guest closed that still flush their cork or discard their input.
    pub(super) closing: Vec<usize>,
    /// Connections whose first bytes the health-check sniffer still waits for.
    pub(super) sniffing: Vec<usize>,
    /// Connections in a TLS handshake.
    pub(super) handshaking: Vec<usize>,
    pub(super) tls: TlsState,
    pub(super) sniffer: Option<Sniffer>,
    pub(super) timers: Timers,
    pub(super) policy: ConnectPolicy,
    pub(super) epoch: Instant,
    pub(super) worker: usize,
    /// The process-wide connection limit, given back when an inbound connection closes.
    pub(super) admission: Admission,
    /// Wakes the loop from any thread (a no-op on a loop that never waits: the trial one).
    pub(super) loop_waker: Waker,
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
            registry,
            conns: Slab::default(),
            listeners: Listeners::new(admission.clone(), worker),
            pending: Vec::new(),
            to_read: Vec::new(),
            read_buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            cipher_buf: vec![0u8; CIPHERTEXT_CHUNK].into_boxed_slice(),
            corked: Vec::new(),
            closing: Vec::new(),
            sniffing: Vec::new(),
            handshaking: Vec::new(),
            tls: TlsState::from(TlsSetup::default()),
            sniffer: None,
            timers: Timers::default(),
            policy,
            epoch: Instant::now(),
            worker,
            admission,
            loop_waker: Waker::noop().clone(),
        }
    }

    /// What wakes this worker's loop from any thread: for plugin calls that wait.
    pub fn loop_waker(&self) -> Waker {
        self.loop_waker.clone()
    }

    /// Adds a listener (already bound) and starts watching it; a `tls` listener's
    /// connections go through a handshake before the guest hears of them.
    ///
    /// # Errors
    /// Registering with the poller failed.
    pub fn add_listener(&mut self, listener: std::net::TcpListener, tls: bool) -> io::Result<()> {
        self.listeners.add(&self.registry, listener, tls)
    }

    /// Sets up TLS: the certificates for TLS listeners, the trust for guests' connects.
    pub fn set_tls(&mut self, setup: TlsSetup) {
        self.tls = TlsState::from(setup);
    }

    /// Answers `GET`/`HEAD` requests for `path` in the host, without entering the guest; a
    /// new connection that sends nothing for `timeout` is closed.
    pub fn set_health_path(&mut self, path: Option<&str>, timeout: Duration) {
        self.sniffer = path.map(|path| Sniffer::new(path, timeout));
    }

    /// Whether the guest can still receive anything: a listener, a connection or a timer.
    pub fn has_sources(&self) -> bool {
        !self.listeners.is_empty() || !self.conns.is_empty() || !self.timers.is_empty()
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The local addresses of the listeners.
    pub fn listener_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.addrs()
    }

    /// A connection the guest still knows.
    pub(super) fn live(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id).filter(|conn| conn.is_live())
    }

    pub(super) fn insert(&mut self, mut socket: TcpStream, writing: Writing) -> io::Result<ConnId> {
        let id = self.conns.next_id();
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.registry
            .register(&mut socket, Token(slot_of(id)), interest)?;
        Ok(self.conns.insert(Conn::new(id, socket, writing)))
    }

    pub(super) fn remove(&mut self, index: usize) {
        if let Some(mut conn) = self.conns.remove(index) {
            if conn.inbound {
                self.admission.leave();
            }
            // Deregistering can only fail for a socket the poller never saw; dropping closes it.
            let _ = self.registry.deregister(&mut conn.socket);
        }
    }

    pub(super) fn fail(&mut self, index: usize, error: &io::Error) {
        let Some(conn) = self.conns.at(index) else {
            return;
        };
        self.pending.push(Event::Failed(Failure {
            conn: conn.id,
            error: socket_error(error),
        }));
        self.remove(index);
    }

    /// Writes every cork filled during the guest call; a socket that fails is reported.
    pub fn flush(&mut self) {
        for index in std::mem::take(&mut self.corked) {
            let Some(conn) = self.conns.at_mut(index) else {
                continue;
            };
            conn.corked = false;
            if let Err(error) = conn.write_out() {
                self.fail(index, &error);
            }
        }
    }

    /// Closes connection `id` for the guest: what the host already took is still written
    /// (for up to [`LINGER`](super::conn::LINGER)), then the socket closes.
    pub fn close(&mut self, id: ConnId) {
        let index = slot_of(id);
        let Some(conn) = self.live(id) else {
            return;
        };
        if conn.writing != Writing::Connecting
            && conn.write_out_closing().is_ok()
            && conn.has_unwritten()
        {
            conn.start_closing(Instant::now());
            self.closing.push(index);
            return;
        }
        self.end(index, Instant::now());
    }

    /// Closes a connection whose output is all written: at once, unless the peer is still
    /// sending, in which case its bytes are dropped for a while first.
    fn end(&mut self, index: usize, now: Instant) {
        let Some(conn) = self.conns.at_mut(index) else {
            return;
        };
        if !conn.is_peer_sending() {
            self.remove(index);
            return;
        }
        conn.start_discarding(now);
        self.closing.push(index);
        self.discard(index);
    }

    pub(super) fn discard(&mut self, index: usize) {
        if let Some(conn) = self.conns.at_mut(index)
            && conn.discard(&mut self.read_buf)
        {
            self.remove(index);
        }
    }

    /// Closes lingering connections whose flush is done or whose time is up.
    pub fn sweep_closing(&mut self, now: Instant) {
        for index in std::mem::take(&mut self.closing) {
            let Some(conn) = self.conns.at_mut(index) else {
                continue;
            };
            match (conn.writing, &conn.reading) {
                (Writing::Closing { deadline }, _) => {
                    let flushed = conn.write_out_closing().is_err() || !conn.has_unwritten();
                    if flushed {
                        self.end(index, now);
                    } else if now >= deadline {
                        self.remove(index);
                    } else {
                        self.closing.push(index);
                    }
                }
                (_, Reading::Discarding { deadline, .. }) if now >= *deadline => {
                    self.remove(index);
                }
                (_, Reading::Discarding { .. }) => self.closing.push(index),
                _ => {}
            }
        }
    }

    /// Takes the events gathered for the guest.
    pub fn take_pending(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.pending)
    }

    /// Whether events wait for the guest.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether a round of reads is owed (connections left readable after a full chunk).
    pub fn has_reads(&self) -> bool {
        !self.to_read.is_empty()
    }

    /// Monotonic nanoseconds since this worker started.
    pub fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Queues `timer` events for every due timer.
    pub fn fire_timers(&mut self) {
        let now = self.now();
        for id in self.timers.expired(now) {
            self.pending.push(Event::Timer(id));
        }
    }

    /// Whether a listener has connections left over from a capped batch.
    pub fn has_accepts(&self, now: Instant) -> bool {
        self.listeners.has_accepts(now)
    }

    /// When the poller must wake up at the latest: the next timer, the end of an accept
    /// pause, or a connection's linger, discard or sniff deadline.
    pub fn next_wakeup(&mut self) -> Option<Instant> {
        let conns = &self.conns;
        let deadlines = self
            .closing
            .iter()
            .chain(&self.sniffing)
            .chain(&self.handshaking)
            .filter_map(|&index| conns.at(index).and_then(Conn::deadline))
            .min();
        let timer = self
            .timers
            .next_deadline()
            .map(|deadline| self.epoch + Duration::from_nanos(deadline));
        [
            deadlines,
            timer,
            self.listeners.next_resume(),
            self.tls.failures.next_report(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Closes every connection and disarms every timer (the guest that knew them is gone).
    pub fn reset_guest_state(&mut self) {
        for index in 0..self.conns.capacity() {
            self.remove(index);
        }
        self.pending.clear();
        self.to_read.clear();
        self.corked.clear();
        self.closing.clear();
        self.sniffing.clear();
        self.handshaking.clear();
        self.timers.clear();
    }

    /// Stops accepting (the listening sockets close, so new connections are refused) and
    /// tells the guest to drain. Connections the guest never heard of (silent since their
    /// accept) close at once.
    pub fn start_draining(&mut self) {
        self.listeners.close_all(&self.registry);
        for index in std::mem::take(&mut self.sniffing) {
            if let Some(conn) = self.conns.at(index)
                && matches!(conn.reading, Reading::Sniffing { .. })
            {
                self.remove(index);
            }
        }
        for index in std::mem::take(&mut self.handshaking) {
            if let Some(conn) = self.conns.at(index)
                && matches!(
                    conn.reading,
                    Reading::Handshaking {
                        then: AfterHandshake::Accept(_),
                        ..
                    }
                )
            {
                self.remove(index);
            } else {
                self.handshaking.push(index);
            }
        }
        self.pending.push(Event::Draining);
    }

    /// Accepts pending connections on every ready listener, a bounded batch each.
    pub fn accept_ready(&mut self, now: Instant) {
        let mut admitted = Vec::new();
        self.listeners.accept_ready(now, |a| admitted.push(a));
        for connection in admitted {
            self.admit(connection, now);
        }
    }

    fn admit(&mut self, admitted: Admitted, now: Instant) {
        let Admitted {
            socket,
            listener,
            peer,
            tls,
        } = admitted;
        let local = socket
            .local_addr()
            .map_or_else(|_| "unknown".to_string(), |addr| addr.to_string());
        let conn = match self.insert(socket, Writing::Ready) {
            Ok(conn) => conn,
            Err(error) => {
                self.admission.leave();
                tracing::warn!(
                    worker = self.worker,
                    "cannot watch connection from {peer}: {error}"
                );
                return;
            }
        };
        let accepted = Accepted {
            conn,
            listener: u32::try_from(listener).unwrap_or(u32::MAX),
            peer: peer.to_string(),
            local,
        };
        let Some(entry) = self.conns.get_mut(conn) else {
            return;
        };
        entry.inbound = true;
        if tls {
            let session = self
                .tls
                .server
                .as_ref()
                .map(|server| Session::server(&server.config));
            match session {
                Some(Ok(session)) => {
                    entry.tls = Some(Box::new(session));
                    self.start_handshake(slot_of(conn), AfterHandshake::Accept(accepted), now);
                }
                _ => {
                    tracing::error!(worker = self.worker, "a TLS listener without certificates");
                    self.remove(slot_of(conn));
                }
            }
            return;
        }
        match &self.sniffer {
            // The first bytes decide: a health check is answered here, anything else goes
            // to the guest with them.
            Some(sniffer) => {
                sniffer.watch(entry, accepted, now);
                self.sniffing.push(slot_of(conn));
            }
            None => self.pending.push(Event::Accepted(accepted)),
        }
    }

    /// Closes connections that stayed silent past the sniff timeout; the guest never knew
    /// them.
    pub fn sweep_sniffing(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let conns = &self.conns;
        self.sniffing
            .retain(|&index| match conns.at(index).map(|conn| &conn.reading) {
                Some(Reading::Sniffing { deadline, .. }) => {
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
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream as StdStream;

    use mio::Poll;

    use super::*;
    use crate::boundary::{ErrorCode, Imports as _, Received};
    use crate::event_loop::readiness::Readiness;

    /// A worker's `Net` with one loopback listener, and a client connected to it.
    fn accepted() -> (Poll, Net, StdStream, ConnId) {
        let poll = Poll::new().expect("poll");
        let registry = poll.registry().try_clone().expect("registry");
        let mut net = Net::new(registry, ConnectPolicy::default(), Admission::default(), 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        net.add_listener(listener, false).expect("listen");
        let client = StdStream::connect(net.listener_addrs()[0]).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        for _ in 0..200 {
            net.accept_ready(Instant::now());
            if net.has_pending() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let events = net.take_pending();
        let [Event::Accepted(accepted)] = events.as_slice() else {
            panic!("expected one accept, got {events:?}");
        };
        let conn = accepted.conn;
        (poll, net, client, conn)
    }

    /// Reports the connection readable until the guest gets an event.
    fn read_events(net: &mut Net, conn: ConnId) -> Vec<Event> {
        let ready = Readiness {
            readable: true,
            ..Readiness::default()
        };
        for _ in 0..200 {
            net.on_ready(Token(slot_of(conn)), ready);
            net.read_ready();
            if net.has_pending() {
                return net.take_pending();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Vec::new()
    }

    #[test]
    fn bytes_reach_the_guest_only_while_it_reads() {
        let (_poll, mut net, mut client, conn) = accepted();
        client.write_all(b"hello").expect("write");
        assert!(
            read_events(&mut net, conn).is_empty(),
            "read interest is off"
        );
        net.set_read_interest(conn, true);
        net.read_ready();
        let mut events = net.take_pending();
        if events.is_empty() {
            events = read_events(&mut net, conn);
        }
        assert_eq!(
            events,
            [Event::Received(Received {
                conn,
                bytes: b"hello".to_vec()
            })]
        );
    }

    #[test]
    fn sends_are_flushed_after_the_call_and_close_forgets_the_id() {
        let (_poll, mut net, mut client, conn) = accepted();
        assert_eq!(net.send(conn, b"HTTP/1.1 200 OK\r\n"), Ok(17));
        assert_eq!(net.send(conn, b"\r\n"), Ok(2));
        net.flush();
        net.close(conn);
        assert_eq!(net.connection_count(), 0);
        let mut got = Vec::new();
        client.read_to_end(&mut got).expect("read");
        assert_eq!(got, b"HTTP/1.1 200 OK\r\n\r\n");
        let error = net.send(conn, b"late").expect_err("closed");
        assert_eq!(error.code, ErrorCode::UnknownConnection);
    }

    #[test]
    fn a_denied_connect_names_the_flag() {
        let (_poll, mut net, _client, _) = accepted();
        let error = net.connect("example.com:80").expect_err("denied");
        assert_eq!(error.code, ErrorCode::NotPermitted);
        assert!(error.message.contains("--allow-connect example.com:80"));
    }

    #[test]
    fn draining_closes_listeners_and_tells_the_guest() {
        let (_poll, mut net, _client, _) = accepted();
        net.start_draining();
        assert_eq!(net.take_pending(), [Event::Draining]);
        assert!(net.listener_addrs().is_empty());
        assert!(net.has_sources(), "the accepted connection is still open");
    }
}
