//! TLS, terminated by the host: certificates chosen by SNI and reloaded on SIGHUP, the server
//! and client configurations, and one connection's session. Keys never enter a sandbox;
//! guests see plaintext and the facts of the handshake.

mod certs;
mod client;
mod failures;
mod server;
mod session;

pub use certs::{CertPair, Certificates};
pub use client::client_config;
pub use failures::HandshakeFailures;
pub use server::{ServerTls, provider};
pub use session::{CIPHERTEXT_CHUNK, Session, TlsChunk};
