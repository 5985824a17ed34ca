//! `eddy-bench echo`: `eddy serve examples/echo` against `native-peer echo` (mio, no wasm):
//! streaming throughput over one connection, ping-pong lines per second over 64 connections,
//! and the guest calls per echoed line (from eddy's debug crossings report).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::median;
use crate::server::{Log, Ready, Server, Stop, fail, sibling, start};

/// Bytes the stream measurement sends through one connection.
const STREAM_BYTES: usize = 256 << 20;
/// The length of one streamed line, newline included.
const LINE: usize = 1024;
/// Connections of the ping-pong measurement.
const PING_CONNS: usize = 64;
/// How long the ping-pong measurement counts lines.
const PING_TIME: Duration = Duration::from_secs(5);
/// Lines sent one at a time for the crossings count.
const CROSSING_LINES: u64 = 10_000;

/// `eddy serve examples/echo` with one worker; with `debug`, its crossings report is logged.
pub fn eddy(debug: bool) -> Server {
    let mut command = Command::new(sibling("eddy"));
    // One worker, like the single-threaded native peer.
    command
        .arg("serve")
        .arg(eddy_host::guests::path("echo"))
        .args(["--listen", "127.0.0.1:0", "--workers", "1"]);
    command.env("EDDY_LOG", if debug { "eddy_host=debug" } else { "info" });
    start(command, Ready::LogLine, Stop::Kill, Log::Keep)
}

/// `native-peer echo`: echoes every byte back.
pub fn native() -> Server {
    let mut command = Command::new(sibling("native-peer"));
    command.args(["echo", "127.0.0.1:0"]);
    start(command, Ready::LogLine, Stop::Kill, Log::Discard)
}

/// One connection: a writer thread sends `STREAM_BYTES` in lines while this thread reads the
/// echo back and checks it; returns MiB/s.
pub fn stream(addr: SocketAddr) -> f64 {
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

/// Eddy's and the native server's stream MiB/s, one measurement each (for a round).
pub fn stream_pair() -> (f64, f64) {
    let eddy_rate = stream(eddy(false).addr);
    let native_rate = stream(native().addr);
    (eddy_rate, native_rate)
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

/// Runs the echo benchmark and prints its Markdown table.
pub fn run(runs: usize) {
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
