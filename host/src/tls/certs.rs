//! The server's certificates: PEM chains and keys loaded from files, one chosen per handshake
//! by the client's SNI name (the first when none matches), swapped whole on reload.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::regular_file;

/// One `--tls-cert`/`--tls-key` pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertPair {
    /// The certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The loaded certificates, in flag order.
type Loaded = Vec<Arc<CertifiedKey>>;

/// The server's certificates, shared by every worker's handshakes.
#[derive(Debug)]
pub struct Certificates {
    pairs: Vec<CertPair>,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<Loaded>>,
}

impl Certificates {
    /// Loads every pair.
    ///
    /// # Errors
    /// A file is missing or unreadable, holds no certificate or key, or the key does not
    /// belong to the certificate; the message names the file.
    pub fn load(pairs: Vec<CertPair>, provider: Arc<CryptoProvider>) -> anyhow::Result<Self> {
        anyhow::ensure!(!pairs.is_empty(), "TLS needs --tls-cert and --tls-key");
        let loaded = load_all(&pairs, &provider)?;
        Ok(Self {
            pairs,
            provider,
            current: RwLock::new(Arc::new(loaded)),
        })
    }

    /// Reads the files again; on success new handshakes use the new certificates (open
    /// connections keep theirs), on failure the old ones stay and the error says why.
    ///
    /// # Errors
    /// As [`Certificates::load`].
    pub fn reload(&self) -> anyhow::Result<()> {
        let loaded = load_all(&self.pairs, &self.provider)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
        Ok(())
    }

    fn snapshot(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let loaded = self.snapshot();
        let first = loaded.first()?;
        if loaded.len() == 1 {
            return Some(first.clone());
        }
        let Some(name) = client_hello
            .server_name()
            .and_then(|name| ServerName::try_from(name.to_owned()).ok())
        else {
            return Some(first.clone());
        };
        let chosen = loaded.iter().find(|key| {
            key.end_entity_cert()
                .ok()
                .and_then(|cert| ParsedCertificate::try_from(cert).ok())
                .is_some_and(|cert| rustls::client::verify_server_name(&cert, &name).is_ok())
        });
        Some(chosen.unwrap_or(first).clone())
    }
}

fn load_all(pairs: &[CertPair], provider: &CryptoProvider) -> anyhow::Result<Loaded> {
    pairs
        .iter()
        .map(|pair| load_pair(pair, provider).map(Arc::new))
        .collect()
}

fn load_pair(pair: &CertPair, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let cert_name = pair.cert.display();
    let key_name = pair.key.display();
    // Regular files under a cap: a path pointed at a FIFO or /dev/zero fails here at once.
    let cert_pem = regular_file::read(&pair.cert, regular_file::MAX_PEM_FILE)
        .map_err(|e| anyhow::anyhow!("--tls-cert {cert_name}: {e}"))?;
    let key_pem = regular_file::read(&pair.key, regular_file::MAX_PEM_FILE)
        .map_err(|e| anyhow::anyhow!("--tls-key {key_name}: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--tls-cert {cert_name}: {}", pem_error(&e)))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "--tls-cert {cert_name}: no CERTIFICATE block in the file"
    );
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| anyhow::anyhow!("--tls-key {key_name}: {}", pem_error(&e)))?;
    CertifiedKey::from_der(chain, key, provider)
        .with_context(|| format!("--tls-key {key_name} does not go with --tls-cert {cert_name}"))
}

fn pem_error(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "no PEM block of the expected kind in the file".to_owned(),
        other => format!("not valid PEM: {other}"),
    }
}
