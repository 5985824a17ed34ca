//! The echo example under the real host over loopback: many connections, big transfers,
//! backpressure, the per-line limit and the program's options.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use util::Guest::Component;
use util::{Eddy, eddy, guest, is_closed_by_peer, read_exact, write_all};

#[test]
fn thousand_concurrent_connections_each_echo_hundred_lines() {
    let server = Eddy::serve_guest(Component("echo"), &[]);
    let threads: Vec<_> = (0..10)
        .map(|thread| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let mut conns: Vec<TcpStream> = (0..100)
                    .map(|_| {
                        let conn = TcpStream::connect(addr).expect("connect");
                        conn.set_read_timeout(Some(Duration::from_secs(30)))
                            .expect("timeout");
                        conn
                    })
                    .collect();
                for line in 0..100 {
                    for (index, conn) in conns.iter_mut().enumerate() {
                        write_all(
                            conn,
                            format!("thread {thread} conn {index} line {line}\n").as_bytes(),
                        );
                    }
                    for (index, conn) in conns.iter_mut().enumerate() {
                        let expected = format!("thread {thread} conn {index} line {line}\n");
                        assert_eq!(read_exact(conn, expected.len()), expected.as_bytes());
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("client thread");
    }
}

/// Deterministic lines of varying length, 64 MiB in all.
fn big_payload() -> Vec<u8> {
    let total = 64 << 20;
    let mut payload = Vec::with_capacity(total);
    let mut n: u32 = 1;
    while payload.len() < total {
        let len = (n as usize * 7919) % 4000;
        payload.extend((0..len).map(|i| b'!' + ((i as u32 + n) % 90) as u8));
        payload.push(b'\n');
        n += 1;
    }
    payload.truncate(total - 1);
    payload.push(b'\n');
    payload
}

#[test]
fn one_connection_echoes_64_mib_byte_exact() {
    let server = Eddy::serve_guest(Component("echo"), &[]);
    let payload = big_payload();
    let mut conn = server.connect();
    let mut writer = conn.try_clone().expect("clone");
    let sent = payload.clone();
    let sender = std::thread::spawn(move || writer.write_all(&sent).expect("send"));
    let mut received = vec![0u8; payload.len()];
    conn.read_exact(&mut received).expect("echo");
    sender.join().expect("sender");
    assert!(received == payload, "64 MiB came back altered");
}

#[test]
fn client_that_never_reads_does_not_grow_server_memory() {
    let server = Eddy::serve_guest(Component("echo"), &[]);
    let before = server.rss();
    let mut conn = server.connect();
    conn.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let line = [b'x'; 1023]
        .iter()
        .copied()
        .chain([b'\n'])
        .collect::<Vec<u8>>();
    let mut sent = 0usize;
    while sent < 64 << 20 {
        match conn.write(&line) {
            Ok(n) => sent += n,
            Err(_) => break, // the server stopped reading: backpressure reached the client
        }
    }
    let after = server.rss();
    assert!(
        sent < 32 << 20,
        "the server kept reading {sent} bytes although nobody read the echo"
    );
    let growth = after.saturating_sub(before);
    assert!(
        growth < 16 << 20,
        "server RSS grew by {growth} bytes (from {before} to {after})"
    );
}

#[test]
fn line_over_the_limit_closes_that_connection_only() {
    let server = Eddy::serve_guest(Component("echo"), &["--", "--max-line", "1KiB"]);
    let mut good = server.connect();
    write_all(&mut good, b"before\n");
    assert_eq!(read_exact(&mut good, 7), b"before\n");
    let mut bad = server.connect();
    write_all(&mut bad, &[b'a'; 2000]);
    assert!(
        is_closed_by_peer(&mut bad),
        "an over-long line must close its connection"
    );
    write_all(&mut good, b"after\n");
    assert_eq!(
        read_exact(&mut good, 6),
        b"after\n",
        "other connections carry on"
    );
    let mut fresh = server.connect();
    write_all(&mut fresh, &[b'b'; 1000]);
    write_all(&mut fresh, b"\n");
    assert_eq!(
        read_exact(&mut fresh, 1001).len(),
        1001,
        "a line within the limit still echoes"
    );
}

#[test]
fn help_after_the_double_dash_prints_the_options_and_exits_zero() {
    let component = guest("echo");
    let (code, stdout, stderr) = eddy(
        &[
            "run",
            component.to_str().expect("utf-8 path"),
            "--",
            "--help",
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8(stdout).expect("utf-8 help");
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.starts_with("Options:\n")
            && stdout.contains("--max-line=SIZE")
            && stdout.contains("(default: 64KiB)"),
        "{stdout}"
    );
}

#[test]
fn serve_with_help_prints_the_options_once_and_listens_on_nothing() {
    let component = guest("echo");
    let (code, stdout, stderr) = eddy(
        &[
            "serve",
            component.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--",
            "--help",
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8(stdout).expect("utf-8 help");
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout.matches("Options:").count(), 1, "{stdout}");
    assert!(stdout.contains("--max-line=SIZE"), "{stdout}");
    assert!(
        !stderr.contains("listening on"),
        "nothing listens: {stderr}"
    );
}

#[test]
fn bad_max_line_stops_start_up_with_one_line_naming_the_option() {
    let component = guest("echo");
    let (code, _, stderr) = eddy(
        &[
            "serve",
            component.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
            "--",
            "--max-line=lots",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("max-line"))
        .collect();
    assert_eq!(
        lines,
        [
            "eddy: the guest failed to start: option --max-line: \"lots\" is not a size (like 512, 64KiB or 1MiB)"
        ],
        "{stderr}"
    );
    assert!(
        !stderr.contains("listening on"),
        "nothing listens: {stderr}"
    );
}
