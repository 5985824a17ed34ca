//! `eddy-bench upstream`: handlers that wait on another HTTP service, Eddy against Tornado.
//!
//! Eddy runs the `wasi:http` test plugin (`/outbound?to=UPSTREAM`: `GET http://UPSTREAM/`,
//! answer its status) and the hello plugin for every other path; Tornado runs
//! `bench/tornado_upstream.py` (`AsyncHTTPClient` in an `async def get`, and a hello). Both
//! are pinned to CPU 0 (`taskset -c 0`) with one worker, and are allowed as many fetches at
//! once as the bench sends (`--max-plugin-calls`, `max_clients`). The upstream, the clients
//! and wrk run in this process's CPUs (`bench/run upstream` pins it to CPU 1). Three numbers:
//! the wall time of N concurrent fetches of an upstream that answers after 200 ms, the p99 of
//! 20 requests to the hello route sent meanwhile, and requests per second through a fast
//! upstream (`wrk -t1 -c64`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::median;
use crate::server::{Log, Ready, Server, Stop, fail, sibling, start};
use crate::servers::guest;
use crate::wrk::{self, Load, show_micros};

/// What `eddy-bench upstream` was asked to do.
pub struct Options {
    /// Interleaved rounds; every number is the median over them.
    pub rounds: usize,
    /// Concurrent fetches of the slow upstream.
    pub fetches: usize,
    /// wrk's `-d` for the fast upstream.
    pub duration: String,
    /// The Python that runs Tornado.
    pub python: String,
    /// `bench/tornado_upstream.py`.
    pub tornado_app: PathBuf,
}

/// How long the slow upstream takes to answer.
const SLOW: Duration = Duration::from_millis(200);

/// Starts an upstream on loopback that answers `200 ok` after `delay`, a thread per
/// connection, keep-alive honoured; it runs until the bench ends.
fn upstream(delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| fail(&format!("address: {e}")));
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || answer(stream, delay));
        }
    });
    addr
}

fn answer(mut stream: TcpStream, delay: Duration) {
    let _ = stream.set_nodelay(true);
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            std::thread::sleep(delay);
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if stream.write_all(reply).is_err() {
                return;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// One GET on a new connection: the status line's code and how long it took.
fn get(addr: SocketAddr, target: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| fail(&format!("connect {addr}: {e}")));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let request = format!("GET {target} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| fail(&format!("write to {addr}: {e}")));
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let status = String::from_utf8_lossy(response.get(9..12).unwrap_or_default())
        .parse()
        .unwrap_or(0);
    (status, started.elapsed())
}

/// The wall time of `count` fetches at once, and the p99 of 20 hello requests meanwhile.
fn fan_out(server: SocketAddr, slow: SocketAddr, count: usize) -> (Duration, Duration) {
    let barrier = Arc::new(Barrier::new(count + 1));
    let target = format!("/outbound?to={slow}");
    let clients: Vec<_> = (0..count)
        .map(|_| {
            let (barrier, target) = (barrier.clone(), target.clone());
            std::thread::spawn(move || {
                barrier.wait();
                get(server, &target).0
            })
        })
        .collect();
    let bystanders = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        let mut waits: Vec<Duration> = (0..20)
            .map(|_| {
                let (status, took) = get(server, "/hello");
                if status != 200 {
                    fail(&format!("a bystander got {status}"));
                }
                std::thread::sleep(Duration::from_millis(5));
                took
            })
            .collect();
        waits.sort();
        waits[waits.len() - 1]
    });
    barrier.wait();
    let started = Instant::now();
    for client in clients {
        let status = client.join().unwrap_or_else(|_| fail("a client panicked"));
        if status != 200 {
            fail(&format!("a fetch got {status}"));
        }
    }
    let took = started.elapsed();
    let p99 = bystanders
        .join()
        .unwrap_or_else(|_| fail("the bystanders panicked"));
    (took, p99)
}

fn eddy(slow: SocketAddr, fast: SocketAddr, calls: usize) -> Server {
    let mut command = Command::new("taskset");
    command
        .args(["-c", "0"])
        .arg(sibling("eddy"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--no-access-log",
        ])
        .args(["--max-plugin-calls", &calls.to_string()])
        .args(["--allow-http-outbound", &slow.to_string()])
        .args(["--allow-http-outbound", &fast.to_string()])
        .args(["--handler", &format!("/outbound={}", guest("wasi-http"))])
        .args(["--handler", &guest("hello")])
        .env_remove("EDDY_LOG");
    start(command, Ready::LogLine, Stop::Kill, Log::Discard)
}

fn tornado(options: &Options, clients: usize) -> Server {
    let mut command = Command::new("taskset");
    command
        .args(["-c", "0", &options.python])
        .arg(&options.tornado_app)
        .arg("127.0.0.1:0")
        .arg(clients.to_string());
    start(command, Ready::LogLine, Stop::Kill, Log::Discard)
}

/// Runs the comparison and prints the table.
pub fn run(options: &Options) {
    let slow = upstream(SLOW);
    let fast = upstream(Duration::ZERO);
    let tornado_version = crate::servers::tornado_version(&options.python);
    let calls = options.fetches.max(64);
    type Start<'a> = Box<dyn Fn() -> Server + 'a>;
    let rows: Vec<(String, Start<'_>)> = vec![
        (
            format!("Tornado {tornado_version}, `AsyncHTTPClient` in `async def get`"),
            Box::new(|| tornado(options, calls)),
        ),
        (
            "Eddy, `wasi:http` plugin, `--allow-http-outbound`".to_owned(),
            Box::new(|| eddy(slow, fast, calls)),
        ),
    ];
    let load = Load {
        threads: 1,
        connections: 64,
        duration: options.duration.clone(),
        cpus: None,
        https: false,
        close: false,
        target: format!("/outbound?to={fast}"),
    };
    let (mut wall, mut p99, mut rate) = (
        vec![Vec::new(); rows.len()],
        vec![Vec::new(); rows.len()],
        vec![Vec::new(); rows.len()],
    );
    for round in 0..options.rounds {
        for (index, (label, start)) in rows.iter().enumerate() {
            eprintln!("round {}/{}: {label}", round + 1, options.rounds);
            let server = start();
            // A warm-up round: Eddy makes its instances, Tornado warms its client.
            fan_out(server.addr, slow, options.fetches);
            let (took, worst) = fan_out(server.addr, slow, options.fetches);
            wall[index].push(took.as_secs_f64());
            p99[index].push(worst.as_secs_f64() * 1e6);
            rate[index].push(wrk::run(server.addr, &load).rate);
        }
    }
    println!(
        "Handlers waiting on an upstream, one worker pinned to CPU 0 each, median of {} interleaved rounds\n",
        options.rounds
    );
    println!(
        "| server | {} fetches of a 200 ms upstream, wall time | bystanders' p99 (20 `GET /hello` meanwhile) | req/s through a fast upstream (`{}`) |",
        options.fetches,
        load.flags()
    );
    println!("|---|---:|---:|---:|");
    for (index, (label, _)) in rows.iter().enumerate() {
        println!(
            "| {label} | {:.3} s | {} | {:.0} |",
            median(wall[index].clone()),
            show_micros(median(p99[index].clone())),
            median(rate[index].clone()),
        );
    }
}
