//! The TLS flags: listeners, certificates and the handshake timeout for `serve`; the extra
//! trust for guests' outbound TLS for both `serve` and `run`; certificate reload on SIGHUP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::parse::parse_duration;
use crate::event_loop::TlsSetup;
use crate::reload::Hook;
use crate::tls::{CertPair, Certificates, ServerTls, client_config};

/// TLS, terminated by the host.
#[derive(Args, Debug)]
#[command(next_help_heading = "TLS")]
pub(super) struct TlsFlags {
    /// Address to listen on with TLS (repeatable); its connections are numbered after the
    /// `--listen` ones. Needs --tls-cert and --tls-key.
    #[arg(
        long,
        value_name = "ADDR",
        env = "EDDY_LISTEN_TLS",
        value_delimiter = ',',
        value_parser = super::parse::parse_listen_address
    )]
    pub(super) listen_tls: Vec<String>,
    /// A certificate chain, PEM, leaf first (repeatable, paired in order with --tls-key;
    /// chosen by the client's SNI name, the first when none matches).
    #[arg(
        long,
        value_name = "FILE",
        env = "EDDY_TLS_CERT",
        value_delimiter = ','
    )]
    pub(super) tls_cert: Vec<PathBuf>,
    /// The private key of the --tls-cert at the same position, PEM.
    #[arg(long, value_name = "FILE", env = "EDDY_TLS_KEY", value_delimiter = ',')]
    pub(super) tls_key: Vec<PathBuf>,
    /// How long a TLS handshake may take before the host closes the connection (the guest
    /// never hears of it).
    #[arg(long, value_name = "DURATION", env = "EDDY_TLS_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub(super) tls_handshake_timeout: Duration,
}

impl TlsFlags {
    /// The certificate pairs, checked for matching counts.
    fn pairs(&self) -> anyhow::Result<Vec<CertPair>> {
        anyhow::ensure!(
            self.tls_cert.len() == self.tls_key.len(),
            "--tls-cert and --tls-key go in pairs: {} certificates, {} keys",
            self.tls_cert.len(),
            self.tls_key.len()
        );
        Ok(self
            .tls_cert
            .iter()
            .zip(&self.tls_key)
            .map(|(cert, key)| CertPair {
                cert: cert.clone(),
                key: key.clone(),
            })
            .collect())
    }

    /// The server side: certificates loaded (every file checked now), or none without them.
    ///
    /// # Errors
    /// `--listen-tls` without certificates, unpaired flags, or a file that does not load.
    pub(super) fn server(&self) -> anyhow::Result<Option<ServerTls>> {
        let pairs = self.pairs()?;
        if pairs.is_empty() {
            anyhow::ensure!(
                self.listen_tls.is_empty(),
                "--listen-tls needs a certificate: add --tls-cert FILE --tls-key FILE"
            );
            return Ok(None);
        }
        ServerTls::new(pairs, self.tls_handshake_timeout).map(Some)
    }
}

/// The whole TLS setup of a worker: the server side, and the trust for outbound TLS (the
/// system's roots and `ca_files`).
///
/// # Errors
/// A `--ca-file` does not load.
pub(super) fn tls_setup(
    server: Option<ServerTls>,
    ca_files: &[PathBuf],
) -> anyhow::Result<TlsSetup> {
    Ok(TlsSetup {
        server,
        client: Some(client_config(ca_files)?),
    })
}

/// The SIGHUP hook that reloads the certificates: new handshakes get the new ones, open
/// connections keep theirs, and a broken file keeps the old ones (one line says why).
pub(super) fn certificates_hook(certificates: Arc<Certificates>) -> Hook {
    Hook::new("TLS certificates", move || {
        certificates
            .reload()
            .map(|()| "new handshakes use them".to_owned())
    })
}
