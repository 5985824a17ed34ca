//! The boundary between the guest runtime and whoever drives it.
//!
//! Everything the guest can ask of the outside world goes through [`Host`]. In a component the
//! implementation calls eddy's WIT imports (see `bindings`); in native unit tests it is a fake
//! that records calls. Nothing here performs I/O itself.

use std::fmt;

/// Names one connection for its whole life; the host never reuses an id.
pub type ConnId = u64;

/// Names one armed timer; the host never reuses an id.
pub type TimerId = u64;

/// Monotonic time in nanoseconds since the host started.
pub type Instant = u64;

/// Why a socket operation failed (mirrors the WIT `error-code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The peer refused the connection.
    ConnectionRefused,
    /// The peer reset the connection.
    ConnectionReset,
    /// The connection broke locally (broken pipe, aborted).
    ConnectionAborted,
    /// The operation timed out.
    TimedOut,
    /// The host's policy forbids the operation.
    NotPermitted,
    /// The address could not be parsed or resolved.
    InvalidAddress,
    /// The network or host is unreachable.
    Unreachable,
    /// The connection id is unknown to the host.
    UnknownConnection,
    /// The host ran out of file descriptors or memory.
    ResourceExhausted,
    /// Any other operating-system error.
    Other,
}

/// A failed socket operation, as reported by the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// A one-line description for people.
    pub message: String,
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SocketError {}

/// How important a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Information for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that was recovered from.
    Warn,
    /// Something failed.
    Error,
}

/// What a TLS handshake agreed on (mirrors the WIT `tls-info` record).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The cipher suite's IANA name.
    pub cipher_suite: String,
    /// The server name the client asked for (SNI), on the server side.
    pub server_name: Option<String>,
    /// The protocol agreed with ALPN.
    pub alpn: Option<String>,
}

/// One thing the host reports (mirrors the WIT `event` variant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A listener accepted a connection.
    Accepted {
        /// The new connection.
        conn: ConnId,
        /// Index of the listener that accepted it.
        listener: u32,
        /// The peer's address.
        peer: String,
        /// What the TLS handshake agreed on, for a `--listen-tls` listener.
        tls: Option<TlsInfo>,
    },
    /// Bytes arrived.
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes, never empty.
        bytes: Vec<u8>,
    },
    /// The peer closed its sending side.
    EndOfStream(ConnId),
    /// A connection whose send was short can take more bytes.
    Writable(ConnId),
    /// An outbound connection is established.
    Connected(ConnId),
    /// A TLS handshake the guest asked for finished (`start-tls`, or `connect-tls` just
    /// before `connected`).
    Secured {
        /// The connection.
        conn: ConnId,
        /// What the handshake agreed on.
        tls: TlsInfo,
    },
    /// A connection failed and is gone.
    Failed {
        /// The connection.
        conn: ConnId,
        /// Why it failed.
        error: SocketError,
    },
    /// The host drains: finish in-flight work, close idle connections.
    Draining,
    /// A timer is due.
    Timer(TimerId),
}

/// One answered request, for the access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    /// The request method.
    pub method: String,
    /// The request path.
    pub path: String,
    /// The response status.
    pub status: u16,
    /// Bytes of the response handed to the socket.
    pub bytes: u64,
    /// Whether the whole response was sent.
    pub complete: bool,
    /// Time from the first request byte to the last response byte, in microseconds.
    pub duration_us: u64,
    /// The client's address.
    pub remote: String,
}

/// What the guest runtime needs from its host: the WIT imports, as a Rust trait.
pub trait Host {
    /// Hands bytes to the socket; returns how many it took (possibly 0).
    ///
    /// # Errors
    /// The socket failed or the connection is unknown.
    fn send(&self, conn: ConnId, bytes: &[u8]) -> Result<usize, SocketError>;
    /// Turns read interest on or off.
    fn set_read_interest(&self, conn: ConnId, on: bool);
    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// The socket refused the option or the connection is unknown.
    fn set_nodelay(&self, conn: ConnId, on: bool) -> Result<(), SocketError>;
    /// Closes and forgets the connection.
    fn close(&self, conn: ConnId);
    /// Starts an outbound connection.
    ///
    /// # Errors
    /// The policy forbids the address, or it cannot be resolved.
    fn connect(&self, address: &str) -> Result<ConnId, SocketError>;
    /// Starts an outbound TLS connection verifying `server_name`.
    ///
    /// # Errors
    /// As [`Host::connect`], or the name cannot be verified by TLS.
    fn connect_tls(&self, address: &str, server_name: &str) -> Result<ConnId, SocketError>;
    /// Upgrades an open connection to TLS: the client side verifying `server_name`, or the
    /// server side when it is `None`.
    ///
    /// # Errors
    /// The connection cannot start TLS now (see the WIT).
    fn start_tls(&self, conn: ConnId, server_name: Option<&str>) -> Result<(), SocketError>;
    /// Arms a timer for `deadline`.
    fn set_timer(&self, deadline: Instant) -> TimerId;
    /// Disarms a timer.
    fn cancel_timer(&self, timer: TimerId);
    /// Reads the monotonic clock.
    fn now(&self) -> Instant;
    /// Seconds and nanoseconds since the Unix epoch.
    fn wall_time(&self) -> (u64, u32);
    /// Writes a log line.
    fn log(&self, level: Level, message: &str);

    /// Writes one access-log entry.
    fn access(&self, entry: AccessEntry);
    /// Writes bytes to standard output.
    fn write_stdout(&self, bytes: &[u8]);
    /// Stops the event loop after the current call.
    fn stop(&self, code: u8);
}
