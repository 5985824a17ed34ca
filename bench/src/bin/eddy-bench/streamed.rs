//! The streamed-response row of `eddy-bench http`: a 1 MiB body written by a `wasi:http`
//! plugin after `response-outparam.set` (so it streams through the guest in pieces), against
//! nginx sending the same bytes from memory (a file on `/dev/shm`, `sendfile on`). One worker
//! each, keep-alive, `wrk -t1 -c16`, interleaved rounds.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use crate::median;
use crate::server::{Log, Ready, Server, Stop, fail, free_addr, start};
use crate::servers;
use crate::wrk::{self, Load};

/// The body size.
pub const SIZE: usize = 1 << 20;

/// Requests per second of each side, medians over the rounds.
pub struct Streamed {
    /// eddy with the `wasi:http` plugin streaming.
    pub eddy: f64,
    /// nginx sending the file.
    pub nginx: f64,
}

fn nginx_conf(dir: &Path, addr: SocketAddr) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;
pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 100000000;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen {addr};
        default_type application/octet-stream;
        location / {{ root {d}/www; }}
    }}
}}
"
    )
}

fn nginx(binary: &Path, dir: &Path) -> Server {
    let addr = free_addr();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir, addr))
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

/// Runs the pair `rounds` times.
pub fn measure(rounds: usize, duration: &str, nginx_binary: &Path) -> Streamed {
    let dir = Path::new("/dev/shm").join(format!("eddy-bench-{}-streamed", std::process::id()));
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap_or_else(|e| fail(&format!("create {www:?}: {e}")));
    let body: Vec<u8> = (0..SIZE).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(www.join("big"), &body).unwrap_or_else(|e| fail(&format!("write: {e}")));
    let load = |target: &str| Load {
        threads: 1,
        connections: 16,
        duration: duration.to_owned(),
        cpus: None,
        https: false,
        close: false,
        target: target.to_owned(),
    };
    let handler = format!("/stream={}", servers::guest("wasi-http"));
    let (mut eddy, mut nginx_rates) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("round {}/{rounds}: streamed 1 MiB, nginx", round + 1);
        let server = nginx(nginx_binary, &dir);
        nginx_rates.push(wrk::run(server.addr, &load("/big")).rate);
        drop(server);
        eprintln!("round {}/{rounds}: streamed 1 MiB, eddy", round + 1);
        let server = servers::eddy(1, &["--no-access-log", "--handler", &handler], None);
        eddy.push(wrk::run(server.addr, &load(&format!("/stream?n={SIZE}"))).rate);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Streamed {
        eddy: median(eddy),
        nginx: median(nginx_rates),
    }
}

/// The row's table.
pub fn print(streamed: &Streamed, duration: &str) {
    let mib = |rate: f64| rate * SIZE as f64 / (1 << 20) as f64;
    println!(
        "| 1 MiB responses, one worker, `wrk -t1 -c16 -d{duration}` | req/s | MiB/s | × nginx |"
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| nginx, the file from `/dev/shm`, `sendfile on` | {:.0} | {:.0} | 1.00 |",
        streamed.nginx,
        mib(streamed.nginx)
    );
    println!(
        "| eddy, a `wasi:http` plugin writing it after `set` (streamed, chunked) | {:.0} | {:.0} | {:.2} |",
        streamed.eddy,
        mib(streamed.eddy),
        streamed.eddy / streamed.nginx
    );
    println!();
}
