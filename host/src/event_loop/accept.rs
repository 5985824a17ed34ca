//! A worker's listening sockets and accepting from them: bounded batches, a pause after
//! `EMFILE`, and the process-wide `--max-connections` admission.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::conn::limit_unsent;
use super::socket_error::is_fd_exhaustion;
use crate::admission::Admission;

/// Connections accepted from one listener per wakeup, so a flood cannot starve the others.
pub const ACCEPT_BATCH: usize = 128;

/// How long a listener rests after `EMFILE`/`ENFILE` before accepting again (no busy loop).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Listener tokens count down from here; connection tokens are slab indices from 0.
pub const LISTENER_TOKEN_BASE: usize = usize::MAX - 1024;

/// A listening socket.
struct Listener {
    socket: TcpListener,
    local: SocketAddr,
    /// Pending connections may be waiting (edge seen, not yet drained).
    ready: bool,
    /// After `EMFILE`, accepting resumes at this time.
    paused_until: Option<Instant>,
    /// Its connections speak TLS.
    tls: bool,
}

/// A connection admitted from a listener, ready to be watched.
pub struct Admitted {
    /// The socket, with `TCP_NODELAY` and the unsent-bytes cap set.
    pub socket: TcpStream,
    /// The index of the listener that accepted it.
    pub listener: usize,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The listener speaks TLS.
    pub tls: bool,
}

/// The listening sockets of one worker.
pub struct Listeners {
    listeners: Vec<Listener>,
    admission: Admission,
    worker: usize,
    last_emfile_log: Option<Instant>,
    /// When the last "--max-connections reached" line was logged.
    last_refusal_log: Option<Instant>,
}

impl Listeners {
    /// No listeners yet; admission is checked against the process-wide `admission`.
    pub fn new(admission: Admission, worker: usize) -> Self {
        Self {
            listeners: Vec::new(),
            admission,
            worker,
            last_emfile_log: None,
            last_refusal_log: None,
        }
    }

    /// Adds a listener (already bound) and starts watching it.
    ///
    /// # Errors
    /// The socket cannot be made non-blocking or registered with the poller.
    pub fn add(
        &mut self,
        registry: &Registry,
        listener: std::net::TcpListener,
        tls: bool,
    ) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let mut socket = TcpListener::from_std(listener);
        let token = Token(LISTENER_TOKEN_BASE + self.listeners.len());
        registry.register(&mut socket, token, Interest::READABLE)?;
        self.listeners.push(Listener {
            socket,
            local,
            ready: true,
            paused_until: None,
            tls,
        });
        Ok(())
    }

    /// Records a readiness edge for the listener behind `token`; returns whether the token
    /// is a listener's.
    pub fn on_ready(&mut self, token: Token) -> bool {
        if token.0 < LISTENER_TOKEN_BASE {
            return false;
        }
        if let Some(listener) = self.listeners.get_mut(token.0 - LISTENER_TOKEN_BASE) {
            listener.ready = true;
        }
        true
    }

    /// Accepts pending connections on every ready listener, a bounded batch each, and hands
    /// each admitted one to `admit`.
    pub fn accept_ready(&mut self, now: Instant, mut admit: impl FnMut(Admitted)) {
        for index in 0..self.listeners.len() {
            let listener = &mut self.listeners[index];
            if listener.paused_until.is_some_and(|until| now < until) {
                continue;
            }
            listener.paused_until = None;
            if listener.ready {
                self.accept_batch(index, now, &mut admit);
            }
        }
    }

    fn accept_batch(&mut self, index: usize, now: Instant, admit: &mut impl FnMut(Admitted)) {
        for _ in 0..ACCEPT_BATCH {
            match self.listeners[index].socket.accept() {
                Ok((socket, peer)) => {
                    if self.try_admit(&socket, peer) {
                        admit(Admitted {
                            socket,
                            listener: index,
                            peer,
                            tls: self.listeners[index].tls,
                        });
                    }
                }
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

    /// Counts the connection in `--max-connections`, or refuses it (it is closed when
    /// dropped; existing connections are not disturbed).
    fn try_admit(&mut self, socket: &TcpStream, peer: SocketAddr) -> bool {
        if !self.admission.try_enter() {
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
            return false;
        }
        // Small request/response writes must not wait for delayed ACKs.
        let _ = socket.set_nodelay(true);
        limit_unsent(socket);
        true
    }

    /// Whether a listener has connections left over from a capped batch.
    pub fn has_accepts(&self, now: Instant) -> bool {
        self.listeners
            .iter()
            .any(|l| l.ready && l.paused_until.is_none_or(|until| now >= until))
    }

    /// When the earliest accept pause ends.
    pub fn next_resume(&self) -> Option<Instant> {
        self.listeners.iter().filter_map(|l| l.paused_until).min()
    }

    /// Whether any listener is open.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Stops listening: the sockets close, so new connections are refused.
    pub fn close_all(&mut self, registry: &Registry) {
        for mut listener in self.listeners.drain(..) {
            // Deregistering only fails for a socket the poller never saw; dropping closes it.
            let _ = registry.deregister(&mut listener.socket);
        }
    }

    /// The local addresses of the listeners.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.local).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream as StdStream;

    use mio::Poll;

    use super::*;

    fn listening(admission: Admission) -> (Poll, Listeners, SocketAddr) {
        let poll = Poll::new().expect("poll");
        let mut listeners = Listeners::new(admission, 0);
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listeners.add(poll.registry(), socket, false).expect("add");
        let addr = listeners.addrs()[0];
        (poll, listeners, addr)
    }

    /// Accepts until `want` connections came or a second passed.
    fn accept(listeners: &mut Listeners, want: usize) -> Vec<Admitted> {
        let mut admitted = Vec::new();
        for _ in 0..200 {
            listeners.on_ready(Token(LISTENER_TOKEN_BASE));
            listeners.accept_ready(Instant::now(), |a| admitted.push(a));
            if admitted.len() >= want {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        admitted
    }

    #[test]
    fn connections_are_accepted_with_their_listener_and_peer() {
        let (_poll, mut listeners, addr) = listening(Admission::default());
        let client = StdStream::connect(addr).expect("connect");
        let admitted = accept(&mut listeners, 1);
        assert_eq!(admitted.len(), 1);
        assert_eq!(admitted[0].listener, 0);
        assert_eq!(admitted[0].peer, client.local_addr().expect("addr"));
        assert!(admitted[0].socket.nodelay().expect("nodelay"));
        assert!(!listeners.has_accepts(Instant::now()), "drained");
    }

    #[test]
    fn connections_past_the_limit_are_refused() {
        let admission = Admission::new(Some(1));
        let (_poll, mut listeners, addr) = listening(admission.clone());
        let _first = StdStream::connect(addr).expect("connect");
        let _second = StdStream::connect(addr).expect("connect");
        std::thread::sleep(Duration::from_millis(50));
        let admitted = accept(&mut listeners, 1);
        assert_eq!(admitted.len(), 1);
        assert_eq!(admission.open(), 1);
    }

    #[test]
    fn tokens_below_the_base_are_connections() {
        let (poll, mut listeners, _) = listening(Admission::default());
        assert!(!listeners.on_ready(Token(0)));
        assert!(listeners.on_ready(Token(LISTENER_TOKEN_BASE)));
        listeners.close_all(poll.registry());
        assert!(listeners.is_empty());
        assert_eq!(listeners.next_resume(), None);
    }
}
