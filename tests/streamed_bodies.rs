//! Bodies that stream between clients and `wasi:http` plugins, both ways, through one worker:
//! Server-Sent Events to a thousand clients, a 1 GiB upload hashed as it arrives, a 256 MiB
//! download at the client's pace, a client that stops reading, and bytes written before the
//! response is set. Memory stays bounded and bystanders are served throughout.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use util::Guest::Handlers;
use util::{Eddy, read_response, roundtrip};

/// The `wasi:http` test plugin for the paths it streams with, hello for every other path.
const STREAMER: util::Guest<'static> =
    Handlers(&["/(?:sse|stream|sha256|early|big)=wasi-http", "hello"]);

/// These tests measure time and memory: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").into_bytes()
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("in range")
}

/// Samples the server's RSS every 50 ms until `stop`; returns the largest.
fn peak_rss(server: &Eddy, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let pid = server.pid();
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let kib: u64 = status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            peak = peak.max(kib * 1024);
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    })
}

/// Twenty requests for `/hello`, `gap` apart; returns the slowest.
fn bystanders(addr: SocketAddr, gap: Duration) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        (0..20)
            .map(|_| {
                let started = Instant::now();
                let response = roundtrip(addr, &get("/hello"));
                let took = started.elapsed();
                assert_eq!(response.text(), "Hello, world!");
                std::thread::sleep(gap);
                took
            })
            .max()
            .unwrap_or_default()
    })
}

/// Reads one SSE stream to its end; the lateness of each event, in ms.
fn sse_client(addr: SocketAddr, events: u64, gap_ms: u64, start: Arc<Barrier>) -> Vec<u64> {
    start.wait();
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
        .write_all(&get(&format!("/sse?n={events}&ms={gap_ms}")))
        .expect("write");
    let mut seen = Vec::new();
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read the stream");
        if n == 0 {
            return seen;
        }
        let arrived = now_ms();
        pending.extend_from_slice(&buf[..n]);
        while let Some(at) = pending.windows(6).position(|w| w == b"data: ") {
            let rest = &pending[at + 6..];
            let Some(end) = rest.iter().position(|b| *b == b'\n') else {
                break;
            };
            let due: u64 = std::str::from_utf8(&rest[..end])
                .expect("ascii")
                .parse()
                .expect("a timestamp");
            seen.push(arrived.saturating_sub(due));
            pending.drain(..at + 6 + end);
        }
    }
}

#[test]
fn a_thousand_clients_get_every_server_sent_event_on_time() {
    let _serial = serial();
    let server = Eddy::serve_guest(
        STREAMER,
        &[
            "--workers",
            "1",
            "--no-access-log",
            "--max-plugin-calls",
            "1000",
        ],
    );
    let base = server.rss();
    let (clients, events, gap) = (1000, 100, 100);
    let start = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, start) = (server.addr, start.clone());
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || sse_client(addr, events, gap, start))
                .expect("a client thread")
        })
        .collect();
    start.wait();
    std::thread::sleep(Duration::from_secs(5));
    let loaded = server.rss();
    let mut lateness: Vec<u64> = Vec::new();
    for thread in threads {
        let seen = thread.join().expect("a client");
        assert_eq!(seen.len() as u64, events, "a client missed events");
        lateness.extend(seen);
    }
    lateness.sort_unstable();
    let p99 = lateness[lateness.len() * 99 / 100];
    eprintln!(
        "SSE: {clients} streams, p99 lateness {p99} ms, RSS {} → {} ({} bytes per stream)",
        base,
        loaded,
        loaded.saturating_sub(base) / clients as u64
    );
    assert!(p99 <= 50, "p99 lateness {p99} ms");
}

#[test]
fn a_gibibyte_upload_is_hashed_as_it_arrives() {
    let _serial = serial();
    let server = Eddy::serve_guest(
        STREAMER,
        &[
            "--workers",
            "1",
            "--max-body-size",
            "2GiB",
            "--body-timeout",
            "120s",
            "--no-access-log",
        ],
    );
    let base = server.rss();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = peak_rss(&server, stop.clone());
    let size: u64 = 1 << 30;
    let mut stream = server.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let head = format!("POST /sha256 HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("write the head");
    let piece = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) {
        stream.write_all(&piece).expect("write the body");
    }
    let response = read_response(&mut stream, false);
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().expect("the sampler");
    // `head -c 1073741824 /dev/zero | sha256sum`
    assert_eq!(
        response.text(),
        "49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14 1073741824"
    );
    assert!(
        peak <= base + (64 << 20),
        "RSS went from {base} to {peak} during the upload"
    );
}

#[test]
fn a_large_download_streams_at_the_clients_pace_and_a_silent_client_is_cut() {
    let _serial = serial();
    let server = Eddy::serve_guest(
        STREAMER,
        &["--workers", "1", "--no-access-log", "--write-timeout", "1s"],
    );
    let base = server.rss();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = peak_rss(&server, stop.clone());
    let size: u64 = 256 << 20;
    let mut stream = server.connect();
    stream
        .write_all(&get(&format!("/stream?n={size}")))
        .expect("write");
    let mut total = 0u64;
    let mut head_and_body = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = stream.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        if head_and_body.len() < 4096 {
            head_and_body.extend_from_slice(&buf[..n]);
        }
        total += n as u64;
    }
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().expect("the sampler");
    let head = String::from_utf8_lossy(&head_and_body);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    // The body and its chunk framing: at least the body.
    assert!(total > size, "only {total} bytes for a {size}-byte body");
    assert!(
        peak <= base + (64 << 20),
        "RSS went from {base} to {peak} during the download"
    );

    // A client that never reads is cut once it has taken nothing for the write timeout;
    // bystanders are answered meanwhile.
    let mut silent = server.connect();
    silent
        .write_all(&get(&format!("/stream?n={size}")))
        .expect("write");
    let watch = bystanders(server.addr, Duration::from_millis(50));
    std::thread::sleep(Duration::from_secs(4));
    let slowest = watch.join().expect("bystanders");
    assert!(
        slowest <= Duration::from_millis(50),
        "a bystander took {slowest:?}"
    );
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let read = AtomicU64::new(0);
    loop {
        match silent.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                read.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    assert!(
        read.load(Ordering::Relaxed) < size,
        "the silent client got the whole body"
    );
}

#[test]
fn bytes_written_before_set_are_delivered_up_to_the_write_buffer_and_no_further() {
    let _serial = serial();
    let server = Eddy::serve_guest(
        STREAMER,
        &[
            "--workers",
            "1",
            "--max-write-buffer-size",
            "1MiB",
            "--handler-timeout",
            "2s",
        ],
    );
    let fits = 1 << 20;
    let watch = bystanders(server.addr, Duration::from_millis(20));
    let response = roundtrip(server.addr, &get(&format!("/early?n={fits}")));
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body.len(), fits);
    let started = Instant::now();
    let response = roundtrip(server.addr, &get(&format!("/early?n={}", 2 * fits)));
    let took = started.elapsed();
    assert_eq!(response.status, 500, "{}", response.head);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2600),
        "the 500 came after {took:?}"
    );
    let slowest = watch.join().expect("bystanders");
    assert!(
        slowest <= Duration::from_millis(50),
        "a bystander took {slowest:?}"
    );
}

/// An upstream that answers `/slow` with a body in three pieces 300 ms apart and `/fast` at
/// once, each over HTTP/1.0 with the connection's close ending the body.
fn piecemeal_upstream() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let slow = head.starts_with(b"GET /slow ");
                let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n");
                for piece in ["one ", "two ", "three"] {
                    let _ = stream.write_all(piece.as_bytes());
                    if slow {
                        std::thread::sleep(Duration::from_millis(300));
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_handler_in_the_guest_streams_its_upstreams_body_as_it_arrives() {
    let _serial = serial();
    let upstream = piecemeal_upstream();
    let allowed = upstream.to_string();
    let server = Eddy::serve_guest(
        util::Guest::Component("streaming-proxy"),
        &[
            "--workers",
            "1",
            "--allow-connect",
            &allowed,
            "--",
            "--upstream",
            &allowed,
        ],
    );
    let started = Instant::now();
    let mut slow = server.connect();
    slow.write_all(&get("/slow")).expect("write");
    // The first piece arrives long before the upstream is done.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("one ") {
        let n = slow.read(&mut buf).expect("read");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let first_piece = started.elapsed();
    assert!(
        first_piece < Duration::from_millis(250),
        "the first piece took {first_piece:?}"
    );
    // Another request is answered meanwhile, whole.
    let mut fast = server.connect();
    fast.write_all(&get("/fast")).expect("write");
    let quick = String::from_utf8_lossy(&util::read_to_close(&mut fast)).into_owned();
    assert!(
        quick.starts_with("HTTP/1.1 200")
            && quick.contains("three")
            && quick.ends_with("0\r\n\r\n"),
        "{quick}"
    );
    assert!(started.elapsed() < Duration::from_millis(550));
    // The rest follows, chunked, and the response ends properly.
    loop {
        let n = slow.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("Transfer-Encoding: chunked"), "{text}");
    for piece in ["one ", "two ", "three", "\r\n0\r\n\r\n"] {
        assert!(text.contains(piece), "{piece:?} missing from {text}");
    }
}
