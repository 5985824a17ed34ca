//! Side-by-side benchmarks of Eddy against native peers, printed as Markdown for
//! `docs/performance.md`. Run through `bench/run` (which builds everything in release first).
//!
//! ```text
//! eddy-bench echo [--runs 3]
//! ```
//!
//! `echo` measures `eddy serve examples/echo` against `native-peer echo` (mio, no wasm):
//! streaming throughput over one connection, ping-pong lines per second over 64 connections,
//! and the guest calls per echoed line (from eddy's debug crossings report).
//!
//! `http` runs `wrk -t1 -c64 -d10s` against `eddy serve --handler hello.wasm` (1 worker, with
//! `--isolation worker` and `--isolation request`), against the same hello as a standard
//! `wasi:http` handler (`tests/guests/wasi-http`, both isolation modes), against the embedded
//! default (an in-guest handler, no plugin), and against `native-peer hello` (mio +
//! httparse), alternating.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

const STREAM_BYTES: usize = 256 << 20;
const LINE: usize = 1024;
const PING_CONNS: usize = 64;
const PING_TIME: Duration = Duration::from_secs(5);
const CROSSING_LINES: u64 = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(3usize);
    match args.first().map(String::as_str) {
        Some("echo") => echo(runs),
        Some("http") => http(runs),
        _ => {
            eprintln!("usage: eddy-bench echo|http [--runs N]");
            std::process::exit(2);
        }
    }
}

fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("current exe: {e}")));
    exe.with_file_name(name)
}

fn fail(message: &str) -> ! {
    eprintln!("eddy-bench: {message}");
    std::process::exit(1);
}

/// A server process, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut command: Command) -> Server {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("start {command:?}: {e}")));
    let (tx, log) = mpsc::channel();
    let mut server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log,
    };
    let stderr = server
        .child
        .stderr
        .take()
        .unwrap_or_else(|| fail("no stderr"));
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let Ok(line) = server
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            drop(server);
            fail(&format!("{command:?} did not start listening"));
        };
        if let Some(addr) = line.split("listening on ").nth(1) {
            server.addr = addr
                .trim()
                .parse()
                .unwrap_or_else(|e| fail(&format!("bad address in {line:?}: {e}")));
            return server;
        }
    }
}

fn eddy(debug: bool) -> Server {
    let mut command = Command::new(sibling("eddy"));
    // One worker, like the single-threaded native peer.
    command
        .arg("serve")
        .arg(eddy_host::guests::path("echo"))
        .args(["--listen", "127.0.0.1:0", "--workers", "1"]);
    command.env("EDDY_LOG", if debug { "eddy_host=debug" } else { "info" });
    start(command)
}

fn native() -> Server {
    let mut command = Command::new(sibling("native-peer"));
    command.args(["echo", "127.0.0.1:0"]);
    start(command)
}

/// One connection: a writer thread sends `STREAM_BYTES` in lines while this thread reads the
/// echo back and checks it; returns MiB/s.
fn stream(addr: SocketAddr) -> f64 {
    let conn = TcpStream::connect(addr).unwrap_or_else(|e| fail(&format!("connect: {e}")));
    conn.set_nodelay(true).ok();
    let mut writer = conn
        .try_clone()
        .unwrap_or_else(|e| fail(&format!("clone: {e}")));
    let mut line = vec![b'x'; LINE];
    line[LINE - 1] = b'\n';
    let block: Vec<u8> = line.iter().copied().cycle().take(64 * LINE).collect();
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        for _ in 0..STREAM_BYTES / block.len() {
            writer
                .write_all(&block)
                .unwrap_or_else(|e| fail(&format!("write: {e}")));
        }
    });
    let mut reader = conn;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0usize;
    while got < STREAM_BYTES {
        let n = reader
            .read(&mut buf)
            .unwrap_or_else(|e| fail(&format!("read: {e}")));
        if n == 0 {
            fail("server closed the stream early");
        }
        if buf[..n].iter().any(|&b| b != b'x' && b != b'\n') {
            fail("echo corrupted the bytes");
        }
        got += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = sender.join();
    STREAM_BYTES as f64 / (1 << 20) as f64 / elapsed
}

/// `PING_CONNS` connections each send a 64-byte line and wait for it, for `PING_TIME`;
/// returns lines per second.
fn ping(addr: SocketAddr) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..PING_CONNS)
        .map(|_| {
            let (stop, count) = (stop.clone(), count.clone());
            std::thread::spawn(move || {
                let mut conn =
                    TcpStream::connect(addr).unwrap_or_else(|e| fail(&format!("connect: {e}")));
                conn.set_nodelay(true).ok();
                let line = [b'p'; 63]
                    .iter()
                    .copied()
                    .chain([b'\n'])
                    .collect::<Vec<u8>>();
                let mut back = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    conn.write_all(&line)
                        .unwrap_or_else(|e| fail(&format!("write: {e}")));
                    conn.read_exact(&mut back)
                        .unwrap_or_else(|e| fail(&format!("read: {e}")));
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let start = count.load(Ordering::Relaxed);
    std::thread::sleep(PING_TIME);
    let done = count.load(Ordering::Relaxed) - start;
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    done as f64 / PING_TIME.as_secs_f64()
}

/// The last crossings report in the server's debug log: (guest calls, import calls).
fn crossings(server: &Server) -> (u64, u64) {
    std::thread::sleep(Duration::from_millis(1200));
    let mut last = None;
    while let Ok(line) = server.log.try_recv() {
        if line.contains("crossings") {
            let field = |name: &str| -> Option<u64> {
                let rest = line.split(&format!("{name}=")).nth(1)?;
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            };
            last = field("guest_calls").zip(field("import_calls"));
        }
    }
    last.unwrap_or_else(|| fail("no crossings report in eddy's debug log"))
}

/// Guest calls and import calls per echoed line, one line at a time on one connection.
fn crossings_per_line() -> (f64, f64) {
    let server = eddy(true);
    let mut conn =
        TcpStream::connect(server.addr).unwrap_or_else(|e| fail(&format!("connect: {e}")));
    conn.set_nodelay(true).ok();
    let mut back = [0u8; 64];
    let line = [b'c'; 63]
        .iter()
        .copied()
        .chain([b'\n'])
        .collect::<Vec<u8>>();
    conn.write_all(&line)
        .unwrap_or_else(|e| fail(&format!("write: {e}")));
    conn.read_exact(&mut back)
        .unwrap_or_else(|e| fail(&format!("read: {e}")));
    let before = crossings(&server);
    for _ in 0..CROSSING_LINES {
        conn.write_all(&line)
            .unwrap_or_else(|e| fail(&format!("write: {e}")));
        conn.read_exact(&mut back)
            .unwrap_or_else(|e| fail(&format!("read: {e}")));
    }
    let after = crossings(&server);
    let per = |a: u64, b: u64| (a - b) as f64 / CROSSING_LINES as f64;
    (per(after.0, before.0), per(after.1, before.1))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn echo(runs: usize) {
    let (mut eddy_stream, mut native_stream, mut eddy_ping, mut native_ping) =
        (vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        eprintln!("run {}/{runs}", run + 1);
        let (e, n) = (eddy(false), native());
        eddy_stream.push(stream(e.addr));
        native_stream.push(stream(n.addr));
        eddy_ping.push(ping(e.addr));
        native_ping.push(ping(n.addr));
    }
    let (calls, imports) = crossings_per_line();
    let (es, ns, ep, np) = (
        median(eddy_stream),
        median(native_stream),
        median(eddy_ping),
        median(native_ping),
    );
    println!(
        "| echo, medians of {runs} runs | eddy serve examples/echo | native mio echo | eddy / native |"
    );
    println!("|---|---|---|---|");
    println!(
        "| stream 256 MiB of 1 KiB lines, 1 connection | {es:.0} MiB/s | {ns:.0} MiB/s | {:.2} |",
        es / ns
    );
    println!(
        "| ping-pong 64-byte lines, {PING_CONNS} connections | {ep:.0} lines/s | {np:.0} lines/s | {:.2} |",
        ep / np
    );
    println!();
    println!(
        "Guest calls per echoed line (one connection, one line at a time, {CROSSING_LINES} lines): {calls:.2} `handle-events` calls and {imports:.2} import calls."
    );
}

const WRK: [&str; 6] = [
    "-t1",
    "-c64",
    "-d10s",
    "--latency",
    "-H",
    "Connection: keep-alive",
];

/// Runs wrk against `addr`; returns (requests/s, p50 latency text, p99 latency text).
fn wrk(addr: SocketAddr) -> (f64, String, String) {
    let output = Command::new("wrk")
        .args(WRK)
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
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fail(&format!("no Requests/sec in wrk output:\n{text}")));
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        fail(&format!("wrk saw errors:\n{text}"));
    }
    (
        rps,
        field("50%").unwrap_or_default(),
        field("99%").unwrap_or_default(),
    )
}

fn eddy_http(args: &[&str]) -> Server {
    let mut command = Command::new(sibling("eddy"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
        .args(args)
        .env("EDDY_LOG", "warn,eddy_host::cli=info");
    start(command)
}

fn http(runs: usize) {
    let hello = eddy_host::guests::path("hello");
    let hello = hello.to_str().unwrap_or_else(|| fail("non-UTF-8 path"));
    let wasi_hello = eddy_host::guests::path("wasi-http");
    let wasi_hello = wasi_hello
        .to_str()
        .unwrap_or_else(|| fail("non-UTF-8 path"));
    let configs: Vec<(String, Box<dyn Fn() -> Server>)> = vec![
        (
            "native mio + httparse hello".into(),
            Box::new(|| {
                let mut command = Command::new(sibling("native-peer"));
                command.args(["hello", "127.0.0.1:0"]);
                start(command)
            }),
        ),
        (
            "eddy serve --handler hello.wasm".to_owned(),
            Box::new(move || eddy_http(&["--handler", hello])),
        ),
        (
            "eddy serve --handler hello.wasm --isolation request".to_owned(),
            Box::new(move || eddy_http(&["--handler", hello, "--isolation", "request"])),
        ),
        (
            "eddy serve --handler wasi-http.wasm (wasi:http)".to_owned(),
            Box::new(move || eddy_http(&["--handler", wasi_hello])),
        ),
        (
            "eddy serve --handler wasi-http.wasm --isolation request".to_owned(),
            Box::new(move || eddy_http(&["--handler", wasi_hello, "--isolation", "request"])),
        ),
        (
            "eddy serve (embedded default, in-guest handler)".into(),
            Box::new(|| eddy_http(&[])),
        ),
    ];
    let mut results: Vec<Vec<(f64, String, String)>> = vec![Vec::new(); configs.len()];
    for run in 0..runs {
        for (index, (name, make)) in configs.iter().enumerate() {
            eprintln!("run {}/{runs}: {name}", run + 1);
            let server = make();
            results[index].push(wrk(server.addr));
        }
    }
    let native = median(results[0].iter().map(|r| r.0).collect());
    println!(
        "| `wrk {}`, medians of {runs} runs | requests/s | p50 | p99 | / native |",
        WRK[..3].join(" ")
    );
    println!("|---|---|---|---|---|");
    for ((name, _), runs) in configs.iter().zip(&results) {
        let rps = median(runs.iter().map(|r| r.0).collect());
        let mid = &runs[runs.len() / 2];
        println!(
            "| {name} | {rps:.0} | {} | {} | {:.2} |",
            mid.1,
            mid.2,
            rps / native
        );
    }
}
