//! The same hello handler in four builds (Rust `eddy:http`, Rust `wasi:http`, Python,
//! JavaScript) under `eddy serve`, both isolation modes, and the Rust `wasi:http` one under
//! `wasmtime serve` as the peer. Prints the Markdown table for `docs/performance.md`.
//! Run through `bench/run languages`, which builds every component and wasmtime first.
//!
//! ```text
//! lang-bench --rust-wasi-http PATH --python PATH --javascript PATH [--wasmtime PATH] [--duration 10s]
//! ```
//!
//! Per row: the time from starting the server to its first 200 response with an empty
//! compile cache (cold) and with the cache filled by the cold start (warm), then
//! `wrk -t1 -c16 -d10s --latency`: requests/s and p99, and the server's resident set after it.
//! Every eddy row runs with `--workers 1 --plugin-max-memory 128MiB`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first request (a cold compile included).
const START_LIMIT: Duration = Duration::from_secs(600);

fn fail(message: &str) -> ! {
    eprintln!("lang-bench: {message}");
    std::process::exit(1);
}

/// A server process, killed on drop.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Resident set size in MiB, from /proc.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|e| fail(&format!("find a free port: {e}")))
}

/// Whether `GET /` answers 200 now.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut conn) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    if conn
        .write_all(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}

/// Starts `command` (which listens on `addr`) and measures the time to its first 200.
fn start(mut command: Command, addr: SocketAddr) -> (Server, Duration) {
    let started = Instant::now();
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("start {command:?}: {e}")));
    let mut server = Server { child };
    loop {
        if answers(addr) {
            return (server, started.elapsed());
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            fail(&format!("{command:?} exited with {status}"));
        }
        if started.elapsed() > START_LIMIT {
            fail(&format!(
                "{command:?} did not answer within {START_LIMIT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs wrk; returns (requests/s, p99 text).
fn wrk(addr: SocketAddr, duration: &str) -> (f64, String) {
    let output = Command::new("wrk")
        .args(["-t1", "-c16", &format!("-d{duration}"), "--latency"])
        .arg(format!("http://{addr}/"))
        .output()
        .unwrap_or_else(|e| fail(&format!("run wrk (apt-get install wrk): {e}")));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        fail(&format!("wrk saw errors:\n{text}"));
    }
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fail(&format!("no Requests/sec in wrk output:\n{text}")));
    (rps, field("99%").unwrap_or_default())
}

/// One measured row.
struct Row {
    name: String,
    rps: f64,
    p99: String,
    rss: f64,
    cold: Duration,
    warm: Duration,
}

fn print(rows: &[Row]) {
    println!(
        "| hello handler | isolation | requests/s | p99 | RSS after | first response, cold | first response, warm |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        let (name, isolation) = row.name.split_once(" @ ").unwrap_or((&row.name, "-"));
        println!(
            "| {name} | {isolation} | {:.0} | {} | {:.0} MiB | {:.2} s | {:.0} ms |",
            row.rps,
            row.p99,
            row.rss,
            row.cold.as_secs_f64(),
            row.warm.as_secs_f64() * 1000.0
        );
    }
}

/// `eddy serve --handler COMPONENT --isolation ISOLATION`, one worker, cold then warm.
fn eddy_row(eddy: &Path, name: &str, component: &Path, isolation: &str, duration: &str) -> Row {
    let cache = std::env::temp_dir().join(format!("eddy-lang-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let command = |addr: SocketAddr| {
        let mut command = Command::new(eddy);
        command
            .args(["serve", "--workers", "1", "--no-access-log", "--listen"])
            .arg(addr.to_string())
            .arg("--cache-dir")
            .arg(&cache)
            .arg("--handler")
            .arg(component)
            .args(["--isolation", isolation])
            // A reused componentize-js instance's SpiderMonkey heap outgrows the 64 MiB
            // default within about 80,000 requests (one 500, then a fresh instance).
            .args(["--plugin-max-memory", "128MiB"])
            .env("EDDY_LOG", "warn");
        command
    };
    eprintln!("{name} ({isolation}): cold start");
    let addr = free_port();
    let (cold_server, cold) = start(command(addr), addr);
    drop(cold_server);
    eprintln!("{name} ({isolation}): warm start and wrk");
    let addr = free_port();
    let (server, warm) = start(command(addr), addr);
    let (rps, p99) = wrk(addr, duration);
    let rss = server.rss_mib();
    let _ = std::fs::remove_dir_all(&cache);
    Row {
        name: format!("{name} @ {isolation}"),
        rps,
        p99,
        rss,
        cold,
        warm,
    }
}

/// `wasmtime serve COMPONENT` (cold: compiles at start) and the same precompiled (warm).
fn wasmtime_row(wasmtime: &Path, component: &Path, duration: &str) -> Row {
    let serve = |addr: SocketAddr, file: &Path, precompiled: bool| {
        let mut command = Command::new(wasmtime);
        // -Scli: components built by cargo for wasm32-wasip2 also import wasi:cli.
        command
            .args(["serve", "-Scli", "--addr"])
            .arg(addr.to_string());
        if precompiled {
            command.arg("--allow-precompiled");
        }
        command.arg(file);
        command
    };
    eprintln!("wasmtime serve: cold start");
    let addr = free_port();
    let (cold_server, cold) = start(serve(addr, component, false), addr);
    drop(cold_server);
    let compiled = std::env::temp_dir().join(format!("lang-bench-{}.cwasm", std::process::id()));
    let status = Command::new(wasmtime)
        .arg("compile")
        .arg(component)
        .arg("-o")
        .arg(&compiled)
        .status()
        .unwrap_or_else(|e| fail(&format!("wasmtime compile: {e}")));
    if !status.success() {
        fail("wasmtime compile failed");
    }
    eprintln!("wasmtime serve: warm start and wrk");
    let addr = free_port();
    let (server, warm) = start(serve(addr, &compiled, true), addr);
    let (rps, p99) = wrk(addr, duration);
    let rss = server.rss_mib();
    let _ = std::fs::remove_file(&compiled);
    Row {
        name: "Rust, wasi:http, under `wasmtime serve` @ per request".into(),
        rps,
        p99,
        rss,
        cold,
        warm,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let path = |name: &str| -> PathBuf {
        arg(name)
            .map(PathBuf::from)
            .unwrap_or_else(|| fail(&format!("missing {name} PATH")))
    };
    let duration = arg("--duration").unwrap_or_else(|| "10s".into());
    let eddy = std::env::current_exe()
        .unwrap_or_else(|e| fail(&format!("current exe: {e}")))
        .with_file_name("eddy");
    let handlers = [
        ("Rust, eddy:http", eddy_host::guests::path("hello")),
        ("Rust, wasi:http", path("--rust-wasi-http")),
        ("Python (componentize-py)", path("--python")),
        ("JavaScript (componentize-js)", path("--javascript")),
    ];
    let mut rows = Vec::new();
    for (name, component) in &handlers {
        for isolation in ["worker", "request"] {
            rows.push(eddy_row(&eddy, name, component, isolation, &duration));
        }
    }
    let Some(wasmtime) = arg("--wasmtime") else {
        print(&rows);
        println!();
        println!("(no --wasmtime: the `wasmtime serve` peer was not measured)");
        return;
    };
    let peer = wasmtime_row(Path::new(&wasmtime), &handlers[1].1, &duration);
    let ratio = |isolation: &str| {
        let row = rows
            .iter()
            .find(|r| r.name == format!("Rust, wasi:http @ {isolation}"))
            .unwrap_or_else(|| fail("no Rust wasi:http row"));
        row.rps / peer.rps
    };
    let (worker_ratio, request_ratio) = (ratio("worker"), ratio("request"));
    rows.push(peer);
    print(&rows);
    println!();
    println!(
        "Rust `wasi:http` hello, eddy / `wasmtime serve` requests/s: {worker_ratio:.2} with `--isolation worker`, {request_ratio:.2} with `--isolation request`."
    );
}
