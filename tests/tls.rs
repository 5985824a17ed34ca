//! TLS terminated by the host: `--listen-tls` with certificates made at run time (rcgen,
//! ECDSA P-256), checked with curl, Python's `ssl` with h11, and rustls; SNI, ALPN and
//! `protocol = https` as a plugin sees them; bad handshakes that never reach the guest;
//! certificates reloaded on SIGHUP; and the guests' outbound TLS (`examples/http-client`).

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use util::{Eddy, eddy, guest_arg};

/// A CA and the files of the certificates it signed, in a fresh directory.
struct Pki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("eddy-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("Eddy test CA {name}"));
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write CA");
        Self { dir, ca }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn ca_file(&self) -> String {
        self.path("ca.pem").display().to_string()
    }

    /// Issues a certificate for `names` into `NAME.pem` and `NAME.key`; returns its DER.
    fn issue(&self, file: &str, names: &[&str]) -> CertificateDer<'static> {
        let key = KeyPair::generate().expect("key");
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        std::fs::write(self.path(&format!("{file}.pem")), cert.pem()).expect("write cert");
        std::fs::write(self.path(&format!("{file}.key")), key.serialize_pem()).expect("write key");
        cert.der().clone()
    }

    fn cert_flags(&self, file: &str) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.path(&format!("{file}.pem")).display().to_string(),
            "--tls-key".into(),
            self.path(&format!("{file}.key")).display().to_string(),
        ]
    }

    /// A rustls client trusting this CA.
    fn client(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("CA");
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Every handshake a full one, so each shows the certificate the server uses now.
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn tls_connect(addr: SocketAddr, config: &Arc<ClientConfig>, name: &str) -> Tls {
    let socket = TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let name = ServerName::try_from(name.to_owned()).expect("name");
    let conn = ClientConnection::new(config.clone(), name).expect("client");
    let mut stream = StreamOwned::new(conn, socket);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake");
    }
    stream
}

/// Sends a GET for `path` and reads one response with a Content-Length; returns the status
/// line and the body.
fn get(stream: &mut Tls, path: &str) -> (String, String) {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .expect("send");
    stream.flush().expect("flush");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("read head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .expect("Content-Length");
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("read body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `eddy serve` with the inspect plugin on one TLS listener.
fn serve_tls(pki: &Pki, certs: &[&str], extra: &[&str]) -> Eddy {
    let mut args = vec![
        "--listen-tls".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--handler".to_owned(),
        guest_arg("inspect"),
    ];
    for cert in certs {
        args.extend(pki.cert_flags(cert));
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    Eddy::serve(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_plugin_sees_https_and_the_sni_name_over_rustls_with_keep_alive() {
    let pki = Pki::new("basic");
    pki.issue("server", &["localhost", "127.0.0.1"]);
    let server = serve_tls(&pki, &["server"], &[]);
    let mut stream = tls_connect(server.addr, &pki.client(), "localhost");
    assert_eq!(stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    for path in ["/one", "/two", "/three"] {
        let (status, body) = get(&mut stream, path);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(body.contains(r#""protocol": "https""#), "{body}");
        assert!(body.contains(r#""server_name": "localhost""#), "{body}");
        assert!(body.contains(&format!(r#""path": "{path}""#)), "{body}");
    }
}

#[test]
fn curl_fetches_twice_on_one_connection() {
    let pki = Pki::new("curl");
    pki.issue("server", &["localhost"]);
    let server = serve_tls(&pki, &["server"], &[]);
    let port = server.addr.port();
    let output = Command::new("curl")
        .args(["-sS", "-v", "--cacert", &pki.ca_file(), "--resolve"])
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg(format!("https://localhost:{port}/a"))
        .arg(format!("https://localhost:{port}/b"))
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "curl failed: {stderr}");
    assert!(stdout.contains(r#""path": "/a""#) && stdout.contains(r#""path": "/b""#));
    assert_eq!(
        stdout.matches(r#""protocol": "https""#).count(),
        2,
        "{stdout}"
    );
    assert!(
        stderr.contains("Re-using existing connection")
            || stderr.contains("Reusing existing connection"),
        "the second request did not reuse the connection: {stderr}"
    );
}

/// Three requests pipelined in one write over Python's `ssl`, the responses parsed by h11.
const PYTHON_PIPELINE: &str = r#"
import socket, ssl, sys, h11
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(["http/1.1"])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="localhost")
assert s.selected_alpn_protocol() == "http/1.1", s.selected_alpn_protocol()
paths = ["/p1", "/p2", "/p3"]
wire = b"".join(
    b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % p.encode() for p in paths)
s.sendall(wire)
conn = h11.Connection(h11.CLIENT)
for p in paths:
    conn.send(h11.Request(method="GET", target=p, headers=[("Host", "localhost")]))
    conn.send(h11.EndOfMessage())
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(s.recv(65536))
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
    print(status, body.decode())
    conn.start_next_cycle()
print(s.version())
"#;

/// Runs a Python client `script` with the CA file and the port as its arguments; returns
/// what it printed.
fn python(script: &str, pki: &Pki, port: u16) -> String {
    let output = Command::new("python3")
        .args(["-c", script, &pki.ca_file(), &port.to_string()])
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn python_ssl_and_h11_get_pipelined_responses() {
    let pki = Pki::new("python");
    pki.issue("server", &["localhost"]);
    let server = serve_tls(&pki, &["server"], &[]);
    let stdout = python(PYTHON_PIPELINE, &pki, server.addr.port());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    for (line, path) in lines.iter().zip(["/p1", "/p2", "/p3"]) {
        assert!(line.starts_with("200 "), "{line}");
        assert!(line.contains(&format!(r#""path": "{path}""#)), "{line}");
        assert!(line.contains(r#""server_name": "localhost""#), "{line}");
    }
    assert_eq!(lines[3], "TLSv1.3");
}

#[test]
fn sni_chooses_the_certificate_and_no_sni_gets_the_first() {
    let pki = Pki::new("sni");
    let first = pki.issue("first", &["localhost", "127.0.0.1"]);
    let other = pki.issue("other", &["other.test"]);
    let server = serve_tls(&pki, &["first", "other"], &[]);
    let config = pki.client();
    let peer = |stream: &Tls| stream.conn.peer_certificates().expect("certs")[0].clone();
    let mut stream = tls_connect(server.addr, &config, "other.test");
    assert_eq!(peer(&stream), other);
    let (_, body) = get(&mut stream, "/");
    assert!(body.contains(r#""server_name": "other.test""#), "{body}");
    let stream = tls_connect(server.addr, &config, "localhost");
    assert_eq!(peer(&stream), first);
    // An IP address sends no SNI: the first certificate answers.
    let mut stream = tls_connect(server.addr, &config, "127.0.0.1");
    assert_eq!(peer(&stream), first);
    let (_, body) = get(&mut stream, "/");
    assert!(body.contains(r#""server_name": null"#), "{body}");
}

#[test]
fn bad_handshakes_are_closed_by_the_host_and_others_stay_fast() {
    let pki = Pki::new("bad");
    pki.issue("server", &["localhost"]);
    let server = serve_tls(&pki, &["server"], &["--tls-handshake-timeout", "2s"]);
    // Plain HTTP to the TLS port: a plain 400 saying so, then the close.
    let mut plain = TcpStream::connect(server.addr).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("use https://"), "{answer}");
    // Random bytes: closed.
    let mut garbage = TcpStream::connect(server.addr).expect("connect");
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0x42, 0x42, 0x42])
        .expect("send");
    let mut rest = Vec::new();
    let _ = garbage.read_to_end(&mut rest);
    // 500 stalled handshakes: a truncated ClientHello each, then silence.
    let stalled: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).expect("connect");
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                .expect("send");
            s
        })
        .collect();
    // Meanwhile a normal client's handshake and request stay fast. The machine running the
    // tests is shared (other tests run beside this one): one outlier is forgiven.
    let config = pki.client();
    let mut took: Vec<Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            let mut stream = tls_connect(server.addr, &config, "localhost");
            let (status, _) = get(&mut stream, "/fast");
            assert_eq!(status, "HTTP/1.1 200 OK");
            started.elapsed()
        })
        .collect();
    took.sort();
    assert!(
        took[18] < Duration::from_millis(100) && took[19] < Duration::from_millis(500),
        "TLS requests beside 500 stalled handshakes took {took:?}"
    );
    // The stalled ones are closed at the handshake timeout.
    let mut first = stalled.into_iter().next().expect("one");
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = matches!(first.read(&mut buf), Ok(0) | Err(_));
    assert!(closed && started.elapsed() < Duration::from_secs(5));
    let log = server.wait_stderr("TLS handshake failed");
    // Only the 20 good requests reached the guest (one access line each).
    assert_eq!(log.matches("GET /fast").count(), 20, "{log}");
    assert!(
        !log.contains("GET / "),
        "the plain request reached the guest: {log}"
    );
    let failure_lines = log.matches("TLS handshake failed").count();
    assert!(
        failure_lines <= 5,
        "failures are logged at most once a second: {log}"
    );
}

#[test]
fn sighup_reloads_certificates_and_keeps_open_connections() {
    let pki = Pki::new("reload");
    let old = pki.issue("server", &["localhost"]);
    let server = serve_tls(&pki, &["server"], &[]);
    let config = pki.client();
    let mut kept = tls_connect(server.addr, &config, "localhost");
    assert_eq!(get(&mut kept, "/before").0, "HTTP/1.1 200 OK");
    let new = pki.issue("server", &["localhost"]);
    assert_ne!(old, new);
    server.signal("HUP");
    server.wait_stderr("SIGHUP: reloaded TLS certificates");
    let fresh = tls_connect(server.addr, &config, "localhost");
    assert_eq!(fresh.conn.peer_certificates().expect("certs")[0], new);
    assert_eq!(get(&mut kept, "/after").0, "HTTP/1.1 200 OK");
    // A broken file keeps the certificates in use.
    std::fs::write(pki.path("server.pem"), "not a certificate").expect("write");
    server.signal("HUP");
    server.wait_stderr("TLS certificates not reloaded, keeping the old ones");
    let after = tls_connect(server.addr, &config, "localhost");
    assert_eq!(after.conn.peer_certificates().expect("certs")[0], new);
}

#[test]
fn bad_certificate_flags_refuse_to_start_with_one_line() {
    let pki = Pki::new("flags");
    pki.issue("server", &["localhost"]);
    let cases: [(&[&str], &str); 3] = [
        (
            &["--listen-tls", "127.0.0.1:0"],
            "--listen-tls needs a certificate",
        ),
        (
            &[
                "--listen-tls",
                "127.0.0.1:0",
                "--tls-cert",
                "/nonexistent.pem",
                "--tls-key",
                "/nonexistent.key",
            ],
            "--tls-cert /nonexistent.pem",
        ),
        (
            &["--listen-tls", "127.0.0.1:0", "--tls-cert", "/x.pem"],
            "--tls-cert and --tls-key go in pairs",
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["serve"];
        args.extend_from_slice(flags);
        let (code, _, stderr) = eddy(&args, Duration::from_secs(60));
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

fn fetch(url: &str, flags: &[&str]) -> (Option<i32>, String, String) {
    let client = guest_arg("http-client");
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend([client.as_str(), url]);
    let (code, stdout, stderr) = eddy(&args, Duration::from_secs(60));
    (code, String::from_utf8_lossy(&stdout).into_owned(), stderr)
}

#[test]
fn http_client_fetches_https_and_fails_clearly_on_bad_certificates() {
    let pki = Pki::new("outbound");
    pki.issue("server", &["localhost"]);
    let server = serve_tls(&pki, &["server"], &[]);
    let port = server.addr.port();
    let ca = pki.ca_file();
    let url = format!("https://localhost:{port}/fetched");
    // The policy matches addresses as written.
    let by_name = format!("localhost:{port}");
    let by_ip = format!("127.0.0.1:{port}");
    let allow = [
        "--allow-connect",
        by_name.as_str(),
        "--allow-connect",
        by_ip.as_str(),
    ];
    let with_ca = [&allow[..], &["--ca-file", ca.as_str()]].concat();
    let (code, stdout, stderr) = fetch(&url, &with_ca);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(r#""path": "/fetched""#), "{stdout}");
    assert!(stdout.contains(r#""protocol": "https""#), "{stdout}");
    // Without the CA the certificate is not trusted.
    let (code, _, stderr) = fetch(&url, &allow);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    // A name the certificate is not for.
    let (code, _, stderr) = fetch(&format!("https://127.0.0.1:{port}/"), &with_ca);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
}

/// A client that asks for STARTTLS in plaintext, then upgrades with Python's `ssl`.
const PYTHON_STARTTLS: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
s.sendall(b"STARTTLS\r\n")
ready = b""
while not ready.endswith(b"\n"):
    ready += s.recv(1)
print(ready.decode().strip())
t = ctx.wrap_socket(s, server_hostname="localhost")
t.sendall(b"hello\n")
answer = b""
while not answer.endswith(b"\n"):
    answer += t.recv(1024)
print(answer.decode().strip())
"#;

#[test]
fn start_tls_upgrades_plaintext_connections_on_both_sides() {
    let pki = Pki::new("starttls");
    pki.issue("server", &["localhost"]);
    let mut args = vec![
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        guest_arg("starttls"),
    ];
    args.extend(pki.cert_flags("server"));
    let server = Eddy::serve(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // The server side, with Python's ssl as the client.
    let stdout = python(PYTHON_STARTTLS, &pki, server.addr.port());
    assert_eq!(stdout, "220 ready\nTLSv1.3 hello\n");
    // The client side: the same guest run as a program against the server.
    let addr = server.addr.to_string();
    let client = guest_arg("starttls");
    let ca = pki.ca_file();
    let run = |name: &str, ca: &[&str]| {
        let mut args = vec!["run", "--allow-connect", addr.as_str()];
        args.extend_from_slice(ca);
        args.extend([client.as_str(), addr.as_str(), name]);
        let (code, stdout, stderr) = eddy(&args, Duration::from_secs(60));
        (code, String::from_utf8_lossy(&stdout).into_owned(), stderr)
    };
    let (code, stdout, stderr) = run("localhost", &["--ca-file", ca.as_str()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "TLSv1.3 ping\n");
    // Without the CA, the upgrade fails and says why.
    let (code, _, stderr) = run("localhost", &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}

#[test]
fn the_health_path_is_answered_by_the_host_over_tls() {
    let pki = Pki::new("health");
    pki.issue("server", &["localhost"]);
    let server = serve_tls(&pki, &["server"], &["--health-path", "/healthz"]);
    let config = pki.client();
    let mut stream = tls_connect(server.addr, &config, "localhost");
    let (status, body) = get(&mut stream, "/healthz");
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    // Anything else still reaches the guest, first bytes included.
    let mut stream = tls_connect(server.addr, &config, "localhost");
    let (status, body) = get(&mut stream, "/other");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains(r#""path": "/other""#), "{body}");
}

#[test]
fn tls_flags_come_from_a_config_file_with_paths_relative_to_it() {
    let pki = Pki::new("config");
    pki.issue("server", &["localhost"]);
    // The TLS flags are keys like any other: the config code knows no flag by name.
    let text = format!(
        "listen-tls = [\"127.0.0.1:0\"]\ntls-cert = [\"server.pem\"]\ntls-key = [\"server.key\"]\ntls-handshake-timeout = \"5s\"\n\n[[handler]]\ncomponent = {:?}\n",
        guest_arg("inspect")
    );
    let path = pki.path("eddy.toml");
    std::fs::write(&path, text).expect("write config");
    let server = Eddy::serve(&["--config", &path.display().to_string()]);
    let mut stream = tls_connect(server.addr, &pki.client(), "localhost");
    let (status, body) = get(&mut stream, "/from-file");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains(r#""protocol": "https""#), "{body}");
}
