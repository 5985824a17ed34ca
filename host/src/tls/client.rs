//! The client side's configuration, for guests' outbound TLS: the system's trust store plus
//! `--ca-file`.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{ClientConfig, RootCertStore};

use super::server::provider;
use crate::regular_file;

/// A client configuration that trusts the system's roots and every certificate in
/// `ca_files`.
///
/// # Errors
/// A `--ca-file` is unreadable or holds no certificate.
pub fn client_config(ca_files: &[PathBuf]) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    // A machine without a trust store still reaches the servers `--ca-file` vouches for.
    let system = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(system.certs);
    tracing::debug!("{added} trusted roots from the system store");
    for file in ca_files {
        let pem = regular_file::read(file, regular_file::MAX_PEM_FILE)
            .map_err(|e| anyhow::anyhow!("--ca-file {}: {e}", file.display()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("--ca-file {}: {e}", file.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "--ca-file {}: no CERTIFICATE block in the file",
            file.display()
        );
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("--ca-file {}: {e}", file.display()))?;
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
