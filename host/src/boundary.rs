//! The vocabulary the event loop and the runtime share: the events a guest is given, the
//! socket errors it sees, what it may ask of the host ([`Imports`]) and what the loop may ask
//! of a guest ([`Exports`]).
//!
//! These are plain Rust types: neither mio nor wasmtime appears here. The event loop
//! implements [`Imports`] and lends itself to the runtime for each call into a guest; the
//! runtime implements [`Exports`] and converts these types to and from its WIT bindings.

use std::fmt;
use std::ops::AddAssign;

/// Names one connection for its whole life; never reused within a worker.
pub type ConnId = u64;

/// Names one armed timer; never reused within a worker.
pub type TimerId = u64;

/// Why a socket operation failed (`eddy:io/types.error-code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The peer refused the connection.
    ConnectionRefused,
    /// The peer reset the connection.
    ConnectionReset,
    /// The connection was aborted locally or broke (broken pipe).
    ConnectionAborted,
    /// The operation timed out.
    TimedOut,
    /// The host's policy forbids this.
    NotPermitted,
    /// The address could not be parsed or resolved.
    InvalidAddress,
    /// The network or host is unreachable.
    Unreachable,
    /// The connection id is not (or no longer) known to the host.
    UnknownConnection,
    /// The host has run out of a resource (file descriptors, memory).
    ResourceExhausted,
    /// Any other operating-system error; the message says which.
    Other,
}

/// A failed socket operation: a code to act on and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// A one-line description, including the OS error where there is one.
    pub message: String,
}

impl SocketError {
    /// The error for an id the host does not know (closed, failed or never issued).
    pub fn unknown(conn: ConnId) -> Self {
        Self {
            code: ErrorCode::UnknownConnection,
            message: format!("connection {conn} is closed or unknown"),
        }
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A connection a listener accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The new connection.
    pub conn: ConnId,
    /// Which listener accepted it: the index of its `--listen` flag, from 0.
    pub listener: u32,
    /// The peer's address, `ip:port`.
    pub peer: String,
    /// The local address the connection arrived on, `ip:port`.
    pub local: String,
}

/// What a finished TLS handshake agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The cipher suite's IANA name, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// The server name the client asked for (SNI), if it sent one.
    pub server_name: Option<String>,
    /// The protocol agreed with ALPN, e.g. `http/1.1`.
    pub alpn: Option<String>,
}

/// Bytes read from a connection; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The connection they came from.
    pub conn: ConnId,
    /// The bytes, in order.
    pub bytes: Vec<u8>,
}

/// A connection that failed; the host has closed its socket and forgotten its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The connection that failed.
    pub conn: ConnId,
    /// Why it failed.
    pub error: SocketError,
}

/// One thing that happened since the previous call into the guest (`eddy:io/types.event`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A listener accepted a new connection; reading is off until the guest asks.
    Accepted(Accepted),
    /// Bytes arrived on a connection whose read interest is on.
    Received(Received),
    /// The peer closed its sending side.
    EndOfStream(ConnId),
    /// A connection whose last send was short can take more bytes now.
    Writable(ConnId),
    /// An outbound connection is established.
    Connected(ConnId),
    /// A connection failed; its id is dead.
    Failed(Failure),
    /// A timer is due.
    Timer(TimerId),
    /// The host is shutting down gracefully.
    Draining,
}

/// Counters for `docs/architecture.md`: how often the boundary is crossed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crossings {
    /// Calls into the guest (`handle-events`).
    pub guest_calls: u64,
    /// Calls from the guest into the host's socket, timer and plugin imports.
    pub import_calls: u64,
}

impl AddAssign for Crossings {
    fn add_assign(&mut self, other: Self) {
        self.guest_calls += other.guest_calls;
        self.import_calls += other.import_calls;
    }
}

/// What a guest may ask of the event loop: the socket, timer and clock imports of
/// `eddy:io`. The loop implements it and lends it to the runtime for each call.
pub trait Imports {
    /// `net.send`: takes what the host can hold or write now; returns the count taken.
    ///
    /// # Errors
    /// The id is unknown, or the socket failed.
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> Result<u32, SocketError>;

    /// `net.set-read-interest`: whether the host reads the socket for the guest.
    fn set_read_interest(&mut self, conn: ConnId, on: bool);

    /// `net.set-nodelay`: sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// The id is unknown, or the socket refused the option.
    fn set_nodelay(&mut self, conn: ConnId, on: bool) -> Result<(), SocketError>;

    /// `net.close`: forgets the id; what the host took is still written.
    fn close(&mut self, conn: ConnId);

    /// `net.connect`: starts an outbound connection to `address` if the policy allows it.
    ///
    /// # Errors
    /// The policy denies the address, or the connect failed at once.
    fn connect(&mut self, address: &str) -> Result<ConnId, SocketError>;

    /// `net.connect-tls`: like [`Imports::connect`], then a TLS handshake verifying
    /// `server_name`; `connected` comes once the handshake is done.
    ///
    /// # Errors
    /// As [`Imports::connect`], or `server_name` cannot be verified by TLS.
    fn connect_tls(&mut self, address: &str, server_name: &str) -> Result<ConnId, SocketError>;

    /// `net.start-tls`: upgrades an open connection to TLS, as the client verifying
    /// `server_name`, or as the server when it is `None`; `secured` or `failed` follows.
    ///
    /// # Errors
    /// The connection is unknown, already speaks TLS, or holds unwritten bytes; the server
    /// side has no certificate; the name cannot be verified.
    fn start_tls(&mut self, conn: ConnId, server_name: Option<&str>) -> Result<(), SocketError>;

    /// `net.tls-info`: what the TLS handshake of `conn` agreed on, once it is done.
    fn tls_info(&mut self, conn: ConnId) -> Option<TlsInfo>;

    /// `timers.set-timer`: arms a timer for `deadline` (a [`Imports::now`] reading).
    fn set_timer(&mut self, deadline: u64) -> TimerId;

    /// `timers.cancel-timer`: disarms a timer; unknown ids are ignored.
    fn cancel_timer(&mut self, timer: TimerId);

    /// `clock.now`: monotonic nanoseconds since the worker started.
    fn now(&self) -> u64;
}

/// What the event loop may ask of a running guest instance.
pub trait Exports {
    /// `guest.handle-events`: one call into the guest with everything that happened.
    ///
    /// # Errors
    /// The guest trapped; the instance is unusable afterwards and must be replaced.
    fn handle_events(
        &mut self,
        imports: &mut (dyn Imports + 'static),
        now: u64,
        events: Vec<Event>,
    ) -> anyhow::Result<()>;

    /// Polls the guest's plugin calls that were woken since the last turn, once each, and
    /// hands the answers of those that finished to the guest in one call.
    ///
    /// # Errors
    /// The guest trapped; the instance is unusable afterwards and must be replaced.
    fn poll_calls(&mut self, imports: &mut (dyn Imports + 'static), now: u64)
    -> anyhow::Result<()>;

    /// Whether a plugin call was woken and waits for [`Exports::poll_calls`]: the loop must
    /// not sleep.
    fn has_ready_calls(&self) -> bool;

    /// How many plugin calls wait (on an upstream, a timer, a turn of the CPU).
    fn waiting_calls(&self) -> usize;

    /// The exit code the guest asked for with `process.stop`, if it did.
    fn stopped(&self) -> Option<u8>;

    /// The boundary crossings of this instance so far.
    fn crossings(&self) -> Crossings;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossings_add_up_across_instances() {
        let mut total = Crossings {
            guest_calls: 2,
            import_calls: 5,
        };
        total += Crossings {
            guest_calls: 1,
            import_calls: 3,
        };
        assert_eq!(
            total,
            Crossings {
                guest_calls: 3,
                import_calls: 8
            }
        );
    }

    #[test]
    fn unknown_connections_are_named_in_the_message() {
        let error = SocketError::unknown(7);
        assert_eq!(error.code, ErrorCode::UnknownConnection);
        assert_eq!(error.to_string(), "connection 7 is closed or unknown");
    }
}
