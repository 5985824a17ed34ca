//! A new connection to an upstream: TCP to each of its addresses in turn, then TLS verified
//! against the name as the plugin wrote it, then the HTTP/1.1 handshake. The caller bounds
//! the whole of it with one connect timeout, so a server that accepts TCP and never answers
//! the ClientHello costs a call its connect timeout, not its worker.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::client::conn::http1::{self, SendRequest};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

/// A byte stream to an upstream: plain TCP or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Connects to the first of `addresses` that answers and, with `tls`, secures the connection
/// for `host`. The connection's I/O runs as a task on the io runtime until it closes.
///
/// # Errors
/// No address accepts (the last error), the TLS handshake fails, or `host` is not a name TLS
/// can verify.
pub async fn connect(
    addresses: &[SocketAddr],
    host: &str,
    tls: Option<Arc<ClientConfig>>,
    until: tokio::time::Instant,
) -> Result<SendRequest<WasiBody>, Error> {
    let tcp = tcp(addresses, until).await?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some(config) => {
            let name = server_name(host)?;
            let secured = TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(Error::Tls)?;
            Box::new(secured)
        }
    };
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(Error::from)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!("an upstream connection ended: {error}");
        }
    });
    Ok(sender)
}

/// TCP to each address in turn, each given an equal share of the time left before `until`,
/// so an address that drops packets (an unreachable IPv6 address of a name that has IPv4
/// ones too) cannot spend the whole connect timeout.
async fn tcp(addresses: &[SocketAddr], until: tokio::time::Instant) -> Result<TcpStream, Error> {
    let mut last = None;
    for (index, address) in addresses.iter().enumerate() {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let share = left / u32::try_from(addresses.len() - index).unwrap_or(u32::MAX);
        match tokio::time::timeout(share, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(error)) => last = Some(error),
            Err(_) => {
                last = Some(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{address} did not answer"),
                ));
            }
        }
    }
    Err(match last {
        Some(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
            Error::ConnectionRefused
        }
        Some(error) if error.kind() == std::io::ErrorKind::TimedOut => Error::ConnectionTimeout,
        Some(error) => Error::Connect(error),
        None => Error::DestinationNotFound,
    })
}

/// The name a certificate must carry: an IP address as such, a host name as written.
fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(bare.to_owned()).map_err(|_| Error::TlsCertificateError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_ip_addresses_or_host_names() {
        assert!(matches!(
            server_name("[::1]").expect("ipv6"),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("127.0.0.1").expect("ipv4"),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("api.example").expect("name"),
            ServerName::DnsName(_)
        ));
        assert!(server_name("not a name").is_err());
    }
}
