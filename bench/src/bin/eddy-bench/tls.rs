//! `eddy-bench tls`: TLS hello against nginx with TLS. One worker each, the same ECDSA P-256
//! certificate, TLS 1.3, and the cipher suite the client picks from the same offer (checked
//! with `openssl s_client` and shown per row); keep-alive (`wrk -t1 -c64`) and a new
//! handshake per request (`Connection: close`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::median;
use crate::server::{Log, Ready, Server, Stop, fail, free_addr, sibling, start};
use crate::wrk::{self, Load, show_micros};

/// What `eddy-bench tls` was asked to do.
pub struct Options {
    /// Interleaved rounds; every number is the median over them.
    pub rounds: usize,
    /// wrk's `-d` per server, load and round.
    pub duration: String,
    /// The nginx binary.
    pub nginx: PathBuf,
}

/// The certificate both servers use.
struct Cert {
    cert: PathBuf,
    key: PathBuf,
}

fn make_cert(dir: &Path) -> Cert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap_or_else(|e| fail(&format!("generate a key: {e}")));
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .and_then(|params| params.self_signed(&key))
        .unwrap_or_else(|e| fail(&format!("make a certificate: {e}")));
    let paths = Cert {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&paths.cert, cert.pem()).unwrap_or_else(|e| fail(&format!("write: {e}")));
    std::fs::write(&paths.key, key.serialize_pem())
        .unwrap_or_else(|e| fail(&format!("write: {e}")));
    paths
}

fn nginx_conf(dir: &Path, addr: SocketAddr, cert: &Cert) -> String {
    let (d, c, k) = (dir.display(), cert.cert.display(), cert.key.display());
    format!(
        "worker_processes 1;
pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen {addr} ssl;
        ssl_certificate {c};
        ssl_certificate_key {k};
        ssl_protocols TLSv1.3;
        ssl_session_tickets off;
        ssl_session_cache off;
        default_type text/plain;
        location / {{ return 200 'Hello, world!'; }}
    }}
}}
"
    )
}

fn nginx(binary: &Path, dir: &Path, cert: &Cert) -> Server {
    let addr = free_addr();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir, addr, cert))
        .unwrap_or_else(|e| fail(&format!("write {conf:?}: {e}")));
    let mut command = Command::new(binary);
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .args(["-e", "stderr", "-g", "daemon off;"]);
    start(command, Ready::Accepts(addr), Stop::Terminate, Log::Discard)
}

fn eddy(cert: &Cert, extra: &[&str]) -> Server {
    let mut command = Command::new(sibling("eddy"));
    command
        .args(["serve", "--listen-tls", "127.0.0.1:0", "--workers", "1"])
        .arg("--tls-cert")
        .arg(&cert.cert)
        .arg("--tls-key")
        .arg(&cert.key)
        .args(extra)
        .env_remove("EDDY_LOG");
    start(command, Ready::LogLine, Stop::Kill, Log::Discard)
}

/// The protocol and cipher suite `openssl s_client` gets from `addr`.
fn negotiated(addr: SocketAddr) -> String {
    let output = Command::new("openssl")
        .args(["s_client", "-brief", "-connect", &addr.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| fail(&format!("run openssl s_client: {e}")));
    let text = String::from_utf8_lossy(&output.stderr);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .map_or("?", str::trim)
            .to_owned()
    };
    format!("{} {}", field("Protocol version:"), field("Ciphersuite:"))
}

/// Runs the comparison and prints the table.
pub fn run(options: &Options) {
    let dir = std::env::temp_dir().join(format!("eddy-bench-{}-tls", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("create {dir:?}: {e}")));
    let cert = make_cert(&dir);
    type Start<'a> = Box<dyn Fn() -> Server + 'a>;
    let rows: Vec<(&str, Start<'_>)> = vec![
        (
            "nginx, 1 worker, `return 200`, no access log",
            Box::new(|| nginx(&options.nginx, &dir, &cert)),
        ),
        (
            "`eddy serve --listen-tls` (embedded default, access log on)",
            Box::new(|| eddy(&cert, &[])),
        ),
        (
            "same, `--no-access-log`",
            Box::new(|| eddy(&cert, &["--no-access-log"])),
        ),
    ];
    let load = |close: bool| Load {
        threads: 1,
        connections: 64,
        duration: options.duration.clone(),
        cpus: None,
        https: true,
        close,
        target: "/".to_owned(),
    };
    let mut keep = vec![Vec::new(); rows.len()];
    let mut fresh = vec![Vec::new(); rows.len()];
    let mut p99 = vec![Vec::new(); rows.len()];
    let mut suites = vec![String::new(); rows.len()];
    for round in 0..options.rounds {
        for (index, (label, start)) in rows.iter().enumerate() {
            eprintln!("round {}/{}: {label}", round + 1, options.rounds);
            let server = start();
            suites[index] = negotiated(server.addr);
            let measured = wrk::run(server.addr, &load(false));
            keep[index].push(measured.rate);
            p99[index].push(measured.p99_us);
            fresh[index].push(wrk::run(server.addr, &load(true)).rate);
        }
    }
    let keep: Vec<f64> = keep.into_iter().map(median).collect();
    let fresh: Vec<f64> = fresh.into_iter().map(median).collect();
    println!(
        "TLS hello, one worker each, ECDSA P-256, `wrk -t1 -c64 -d{}`, median of {} interleaved rounds\n",
        options.duration, options.rounds
    );
    println!(
        "| server | negotiated | keep-alive req/s | × nginx | p99 | new handshake per request req/s | × nginx |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (index, (label, _)) in rows.iter().enumerate() {
        println!(
            "| {label} | {} | {:.0} | {:.2} | {} | {:.0} | {:.2} |",
            suites[index],
            keep[index],
            keep[index] / keep[0],
            show_micros(median(p99[index].clone())),
            fresh[index],
            fresh[index] / fresh[0],
        );
    }
    let ratio = keep[1] / keep[0];
    let status = if ratio >= 0.9 { "met" } else { "missed" };
    println!("\nTarget: keep-alive ≥ 0.9× nginx: {ratio:.2}× ({status}).");
    let _ = std::fs::remove_dir_all(&dir);
}
