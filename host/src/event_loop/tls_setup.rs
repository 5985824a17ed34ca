//! What a worker's loop knows about TLS: the server side for its TLS listeners, the client
//! side for the guest's TLS connects, and its count of failed handshakes.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;

use crate::tls::{HandshakeFailures, ServerTls};

/// What a worker needs for TLS: the listeners' side and the guests' outbound side.
#[derive(Clone, Debug, Default)]
pub struct TlsSetup {
    /// For `--listen-tls` listeners and server-side `start-tls`.
    pub server: Option<ServerTls>,
    /// For `connect-tls` and client-side `start-tls`.
    pub client: Option<Arc<ClientConfig>>,
}

/// A worker's TLS setup and its count of failed handshakes.
#[derive(Debug)]
pub(super) struct TlsState {
    pub(super) server: Option<ServerTls>,
    pub(super) client: Option<Arc<ClientConfig>>,
    pub(super) handshake_timeout: Duration,
    pub(super) failures: HandshakeFailures,
}

impl From<TlsSetup> for TlsState {
    fn from(setup: TlsSetup) -> Self {
        let handshake_timeout = setup
            .server
            .as_ref()
            .map_or(DEFAULT_HANDSHAKE_TIMEOUT, |server| server.handshake_timeout);
        Self {
            server: setup.server,
            client: setup.client,
            handshake_timeout,
            failures: HandshakeFailures::default(),
        }
    }
}

/// How long a handshake may take when nothing says otherwise (`--tls-handshake-timeout`).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
