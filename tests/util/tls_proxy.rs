//! Running plaintext tests over TLS: a certificate made at run time, and a local proxy that
//! takes the tests' plaintext connections and speaks TLS (rustls) to `eddy --listen-tls`.
//!
//! Each byte the test sends is encrypted and sent on; each byte the server sends is
//! decrypted and passed back. A test's half-close becomes TLS `close_notify` plus a TCP
//! half-close, and the server's close comes back as the test's end of stream.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// The certificate and key files (for `localhost`), and a client that trusts them.
pub struct TestCert {
    /// `--tls-cert`.
    pub cert: PathBuf,
    /// `--tls-key`.
    pub key: PathBuf,
    client: Arc<ClientConfig>,
}

/// Made once per test binary.
pub fn test_cert() -> &'static TestCert {
    static CERT: OnceLock<TestCert> = OnceLock::new();
    CERT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("eddy-test-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, cert.pem()).expect("write cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        let mut roots = RootCertStore::empty();
        roots.add(cert.der().clone()).expect("root");
        let client =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        TestCert {
            cert: cert_file,
            key: key_file,
            client: Arc::new(client),
        }
    })
}

/// Starts a proxy from a fresh loopback port to the TLS server at `server`; returns the port's
/// address. It lives as long as the test binary.
pub fn start(server: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let addr = listener.local_addr().expect("proxy address");
    let config = test_cert().client.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let config = config.clone();
            std::thread::spawn(move || {
                if let Ok(upstream) = TcpStream::connect(server) {
                    let _ = pump(client, upstream, config);
                }
            });
        }
    });
    addr
}

/// Moves bytes both ways until both sides are done.
fn pump(client: TcpStream, upstream: TcpStream, config: Arc<ClientConfig>) -> io::Result<()> {
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let mut tls = ClientConnection::new(config, name).map_err(io::Error::other)?;
    // The test's bytes are taken whole; the socket to the server paces them.
    tls.set_buffer_limit(None);
    client.set_nonblocking(true)?;
    upstream.set_nonblocking(true)?;
    let (mut client, mut upstream) = (client, upstream);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut client_done, mut server_done) = (false, false);
    let mut idle = 0u32;
    let mut upstream_broken = false;
    loop {
        let mut progress = false;
        // The test's bytes, encrypted (after the handshake, which rustls drives itself).
        if !client_done && !tls.is_handshaking() {
            match client.read(&mut buf) {
                Ok(0) => {
                    client_done = true;
                    tls.send_close_notify();
                    progress = true;
                }
                Ok(n) => {
                    if !upstream_broken {
                        tls.writer().write_all(&buf[..n])?;
                    }
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    client_done = true;
                    tls.send_close_notify();
                }
            }
        }
        while tls.wants_write() && !upstream_broken {
            match tls.write_tls(&mut upstream) {
                Ok(_) => progress = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // The server is gone: what the test still sends is dropped (as the
                    // server's lingering close would), so closing cannot reset what it
                    // has not read yet.
                    upstream_broken = true;
                    server_done = true;
                }
            }
        }
        if client_done && !tls.wants_write() {
            let _ = upstream.shutdown(Shutdown::Write);
        }
        // The server's bytes, decrypted.
        if !server_done {
            match tls.read_tls(&mut upstream) {
                Ok(0) => server_done = true,
                Ok(_) => {
                    progress = true;
                    if tls.process_new_packets().is_err() {
                        server_done = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // A reset from the server is passed on as one.
                    if e.kind() == io::ErrorKind::ConnectionReset {
                        let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
                    }
                    server_done = true;
                }
            }
        }
        loop {
            match tls.reader().read(&mut buf) {
                Ok(0) => {
                    server_done = true;
                    break;
                }
                Ok(n) => {
                    write_blocking(&mut client, &buf[..n])?;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    server_done = true;
                    break;
                }
            }
        }
        if server_done {
            let _ = client.shutdown(Shutdown::Write);
            if client_done {
                return Ok(());
            }
        }
        // Back off while idle, up to a few milliseconds.
        idle = if progress { 0 } else { (idle + 1).min(7) };
        if idle > 0 {
            std::thread::sleep(Duration::from_micros(40 << idle));
        }
    }
}

fn write_blocking(socket: &mut TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match socket.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(500));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
