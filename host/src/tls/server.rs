//! The server side's configuration: the crypto provider, ALPN and the certificates.

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

use super::certs::{CertPair, Certificates};

/// The crypto provider: *ring*, whose AES-GCM, ChaCha20-Poly1305, X25519 and P-256 are the
/// same assembly as BoringSSL's, which builds with only a C compiler (no cmake), and which
/// is already in the tree for the plugins' outbound HTTPS.
#[must_use]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS for the host's listeners, shared by every worker.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The configuration each accepted connection's session starts from.
    pub config: Arc<ServerConfig>,
    /// The certificates behind it, reloaded on SIGHUP.
    pub certificates: Arc<Certificates>,
    /// How long a handshake may take before the host closes the connection.
    pub handshake_timeout: Duration,
}

impl ServerTls {
    /// Loads the certificates and builds the configuration: TLS 1.3 and 1.2 with the
    /// provider's safe defaults, ALPN `http/1.1`, a certificate chosen by SNI.
    ///
    /// # Errors
    /// A certificate or key cannot be loaded; the message names the file.
    pub fn new(pairs: Vec<CertPair>, handshake_timeout: Duration) -> anyhow::Result<Self> {
        let provider = provider();
        let certificates = Arc::new(Certificates::load(pairs, provider.clone())?);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(certificates.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            certificates,
            handshake_timeout,
        })
    }
}
