//! Reliability under hostile clients: body floods within the limit, trickled bodies, slow
//! readers, silent connections, and the RFC corners attackers reach for. Each test drives the
//! real `eddy` binary over loopback.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::Guest::{Component, Embedded, Handlers};
use util::{Eddy, is_closed_by_peer, read_response, roundtrip, write_all};

/// Starts one `POST` with `Content-Length: length`, sends `send` bytes of it and keeps the
/// connection open; a refused upload stops sending when the server cuts it off.
fn start_upload(eddy: &Eddy, length: usize, send: usize) -> TcpStream {
    let mut stream = eddy.connect();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let head = format!("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: {length}\r\n\r\n");
    let _ = stream.write_all(head.as_bytes());
    let chunk = vec![b'u'; 64 * 1024];
    let mut sent = 0;
    while sent < send {
        let n = chunk.len().min(send - sent);
        // A refused upload is cut off by the server (503 and close): stop sending then.
        if stream.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent += n;
    }
    stream
}

#[test]
fn a_body_flood_within_the_limit_never_traps_the_worker() {
    let eddy = Eddy::serve_guest(Embedded, &["--workers", "1"]);
    let mut innocent = eddy.connect();
    write_all(&mut innocent, b"GET /before HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(read_response(&mut innocent, false).status, 200);

    // 16 uploads of 10,000,000 bytes (under the 10 MiB body limit), each one 1,000 bytes
    // short of complete, all held open: the red-team shape that ran the guest out of memory.
    let uploaders: Vec<_> = (0..16)
        .map(|_| {
            let addr = eddy.addr;
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream
                    .set_write_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                let head = "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n";
                let _ = stream.write_all(head.as_bytes());
                let chunk = vec![b'u'; 64 * 1024];
                let mut sent = 0;
                while sent < 9_999_000 {
                    let n = chunk.len().min(9_999_000 - sent);
                    if stream.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
                stream
            })
        })
        .collect();
    let mut uploads: Vec<TcpStream> = uploaders
        .into_iter()
        .map(|t| t.join().expect("uploader"))
        .collect();

    // Every upload was either taken in whole (it waits for its last bytes) or refused with
    // 503: none was dropped without an answer.
    let mut refused = 0;
    for upload in &mut uploads {
        upload
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut first = [0u8; 12];
        match upload.read(&mut first) {
            Ok(12) => {
                assert_eq!(&first, b"HTTP/1.1 503", "a refused upload gets 503");
                refused += 1;
            }
            Ok(n) => panic!("an upload was cut without an answer ({n} bytes)"),
            Err(error) => assert!(
                matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "an upload was dropped: {error}"
            ),
        }
    }
    assert!(refused > 0, "16 held uploads fit a 64 MiB body budget?");
    assert!(refused < 16, "some uploads must be admitted");

    // The innocent keep-alive connection is still served, and nothing trapped.
    write_all(&mut innocent, b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    let response = read_response(&mut innocent, false);
    assert_eq!(response.text(), "You requested /after\n");
    // The admitted uploads complete normally.
    for upload in &mut uploads {
        upload
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        if upload.write_all(&[b'u'; 1000]).is_ok()
            && let Ok(n) = upload.peek(&mut [0u8; 1])
            && n == 1
        {
            let response = read_response(upload, false);
            assert!(
                response.status == 200 || response.status == 503,
                "{response:?}"
            );
        }
    }
    let log = eddy.stderr();
    assert!(!log.contains("trapped"), "the guest trapped:\n{log}");
    assert!(
        log.contains("body budget"),
        "refusals are logged with the reason:\n{log}"
    );
}

#[test]
fn an_upload_larger_than_the_budget_on_its_own_is_still_refused_cleanly() {
    // A 16 MiB guest memory leaves a 4 MiB body budget: a 5 MB body can never fit.
    let eddy = Eddy::serve_guest(Embedded, &["--max-memory", "16MiB"]);
    let mut upload = start_upload(&eddy, 5_000_000, 0);
    let response = read_response(&mut upload, false);
    assert_eq!(response.status, 503, "{response:?}");
    assert!(response.header("Retry-After").is_some());
    assert_eq!(
        roundtrip(eddy.addr, b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n").status,
        200
    );
}

#[test]
fn the_body_timeout_is_a_deadline_for_the_whole_body() {
    let eddy = Eddy::serve_guest(Embedded, &["--body-timeout", "2s"]);
    let mut stream = start_upload(&eddy, 1000, 1);
    let started = Instant::now();
    // One byte every 500 ms: each read is well within 2 s, the body never is.
    let closed_at = loop {
        std::thread::sleep(Duration::from_millis(500));
        if stream.write_all(b"x").is_err() {
            break started.elapsed();
        }
        stream
            .set_read_timeout(Some(Duration::from_millis(1)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        if stream.read(&mut buf).is_ok() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "a body trickled at 2 bytes/s was still open after 8 s with --body-timeout 2s"
        );
    };
    assert!(
        closed_at >= Duration::from_millis(1500),
        "closed too early: {closed_at:?}"
    );
}

/// Serves the streamer guest with `--write-timeout write_timeout` and asks it for an 8 MiB
/// response on a connection whose receive window is `window` bytes, so the server's progress
/// follows the reader's pace.
fn ask_for_8_mib(write_timeout: &str, window: usize) -> (Eddy, TcpStream) {
    let eddy = Eddy::serve_guest(
        Component("streamer"),
        &["--write-timeout", write_timeout, "--workers", "1"],
    );
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(window).expect("rcvbuf");
    socket.connect(&eddy.addr.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write_all(&mut stream, b"GET /big?mb=8 HTTP/1.1\r\nHost: a\r\n\r\n");
    (eddy, stream)
}

#[test]
fn a_steady_slow_reader_gets_the_whole_response() {
    let (eddy, mut stream) = ask_for_8_mib("3s", 64 * 1024);
    // Read 32 KiB every 100 ms (about 320 KB/s): steady progress, yet each 1 MiB takes
    // longer than the 3 s write timeout.
    let total = 8 * 1024 * 1024;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.extend_from_slice(&util::read_exact(&mut stream, 1));
    }
    let mut received = 0;
    let mut buf = vec![0u8; 32 * 1024];
    while received < total {
        let want = buf.len().min(total - received);
        let n = read_some(&mut stream, &mut buf[..want]);
        if n == 0 {
            break;
        }
        received += n;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(received, total, "the slow reader was cut off");
    let log = eddy.stderr();
    assert!(
        !log.contains("read nothing"),
        "a reading client was reported idle:\n{log}"
    );
}

/// Reads until `buf` is full or the peer closes (a steady pace needs whole reads).
fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]).expect("read") {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

#[test]
fn a_cut_response_is_logged_as_incomplete() {
    let (eddy, _stream) = ask_for_8_mib("1s", 16 * 1024);
    // Never read: the server makes no progress and cuts the response after 1 s.
    let log = eddy.wait_stderr("incomplete");
    let line = log
        .lines()
        .find(|line| line.contains("/big") && line.contains("incomplete"))
        .expect("an access line for /big");
    let bytes: u64 = line
        .split_whitespace()
        .find_map(|word| word.strip_suffix('B')?.parse().ok())
        .expect("a byte count");
    assert!(
        bytes < 8 * 1024 * 1024,
        "the access log claims the whole body was sent: {line}"
    );
}

#[test]
fn a_silent_connection_is_closed_by_the_header_timeout_with_a_health_path() {
    let mut eddy = Eddy::serve_guest(
        Embedded,
        &["--health-path", "/healthz", "--header-timeout", "1s"],
    );
    let mut silent = eddy.connect();
    let started = Instant::now();
    assert!(is_closed_by_peer(&mut silent), "the silent connection");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "closed after {elapsed:?}, header timeout 1s"
    );
    // Drain does not wait for a silent connection either.
    let _held = eddy.connect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    eddy.signal("TERM");
    assert_eq!(eddy.wait_exit(Duration::from_secs(5)), Some(Some(0)));
    assert!(started.elapsed() < Duration::from_secs(2), "drain waited");
}

#[test]
fn http_1_2_is_served_as_http_1_1() {
    let eddy = Eddy::serve_guest(Embedded, &[]);
    let response = roundtrip(eddy.addr, b"GET /minor HTTP/1.2\r\nHost: a\r\n\r\n");
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.head.starts_with("HTTP/1.1 200"), "{response:?}");
    assert_eq!(response.text(), "You requested /minor\n");
    let response = roundtrip(eddy.addr, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n");
    assert_eq!(response.status, 505, "a new major version is refused");
}

#[test]
fn an_absolute_form_target_gives_its_path_query_and_host() {
    let eddy = Eddy::serve_guest(Handlers(&["inspect"]), &[]);
    let response = roundtrip(
        eddy.addr,
        b"GET http://host.example:8080/p/q?x=1 HTTP/1.1\r\nHost: other.example\r\n\r\n",
    );
    assert_eq!(response.status, 200, "{response:?}");
    let text = response.text();
    assert!(text.contains(r#""path": "/p/q""#), "{text}");
    assert!(text.contains(r#""query": "x=1""#), "{text}");
    assert!(text.contains(r#""host": "host.example:8080""#), "{text}");
}

#[test]
fn connect_is_refused_and_ends_the_connection() {
    let eddy = Eddy::serve_guest(Embedded, &[]);
    let mut stream = eddy.connect();
    write_all(
        &mut stream,
        b"CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let response = read_response(&mut stream, false);
    assert_eq!(response.status, 501, "{response:?}");
    assert!(
        is_closed_by_peer(&mut stream),
        "nothing after CONNECT is parsed as HTTP"
    );
}

#[test]
fn a_flood_of_large_slow_heads_never_traps_the_worker() {
    // 32 MiB of guest memory: 600 connections each holding 60 KiB of an unfinished head
    // would need more than that; past the 8 MiB budget they are refused instead.
    let eddy = Eddy::serve_guest(Embedded, &["--workers", "1", "--max-memory", "32MiB"]);
    let mut innocent = eddy.connect();
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ".to_vec();
    head.resize(60 * 1024, b'p');
    let mut held = Vec::new();
    for _ in 0..600 {
        let mut stream = eddy.connect();
        write_all(&mut stream, &head);
        held.push(stream);
    }
    std::thread::sleep(Duration::from_millis(500));
    write_all(&mut innocent, b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        read_response(&mut innocent, false).text(),
        "You requested /after\n"
    );
    let mut refused = 0;
    for stream in &mut held {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut status = [0u8; 12];
        if stream.read_exact(&mut status).is_ok() && &status == b"HTTP/1.1 503" {
            refused += 1;
        }
    }
    assert!(refused > 0, "600 large heads fit an 8 MiB budget?");
    let log = eddy.stderr();
    assert!(!log.contains("trapped"), "the guest trapped:\n{log}");
}

#[test]
fn a_refused_upload_is_closed_gracefully_while_the_client_still_sends() {
    // The client sends a body the server refuses before reading it (413) and keeps sending.
    // Closing a socket with unread input resets the connection, and on a real network the
    // reset overtakes the answer; the server instead shuts down its side and drops what
    // still comes for a while, like nginx's lingering close.
    let eddy = Eddy::serve_guest(Embedded, &["--max-body-size", "1KiB"]);
    let mut stream = eddy.connect();
    write_all(
        &mut stream,
        b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\n\r\n",
    );
    write_all(&mut stream, &[b'x'; 64 * 1024]);
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the answer, then the end of the stream");
    assert!(
        answer.starts_with(b"HTTP/1.1 413"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // The rest of the upload still goes out without a reset.
    for _ in 0..10 {
        stream
            .write_all(&[b'x'; 16 * 1024])
            .expect("the server drops the rest instead of resetting");
        std::thread::sleep(Duration::from_millis(30));
    }
}
