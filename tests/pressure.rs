//! Connections under pressure: a connection limit that refuses cleanly, and slowloris
//! clients that never delay a normal one.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::Guest::{Component, Embedded};
use util::{Eddy, read_response};

const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";

/// Whether the server closed `stream` without answering (EOF or reset within 5 s).
fn refused(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = stream.write_all(GET);
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Err(error) => matches!(
            error.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
        ),
        Ok(_) => false,
    }
}

/// Whether the server closed `stream` (EOF or reset) without answering.
fn is_cut(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => matches!(
            error.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
        ),
    }
}

#[test]
fn max_connections_serves_the_first_and_refuses_the_rest_cleanly() {
    let server = Eddy::serve_guest(Embedded, &["--max-connections", "100"]);
    let mut admitted: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut stream = server.connect();
            stream.write_all(GET).expect("write");
            assert_eq!(read_response(&mut stream, false).status, 200);
            stream
        })
        .collect();
    let started = Instant::now();
    let mut extra: Vec<TcpStream> = (0..400).map(|_| server.connect()).collect();
    let refusals = extra.iter_mut().map(refused).filter(|&was| was).count();
    assert_eq!(refusals, 400, "every connection past the limit is closed");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "refusing took {:?}",
        started.elapsed()
    );
    // The admitted ones were not disturbed.
    for stream in admitted.iter_mut().take(10) {
        stream.write_all(GET).expect("write");
        assert_eq!(read_response(stream, false).status, 200);
    }
    // Places free up when connections close.
    admitted.truncate(50);
    std::thread::sleep(Duration::from_millis(300));
    let mut again = server.connect();
    again.write_all(GET).expect("write");
    assert_eq!(read_response(&mut again, false).status, 200);
}

#[test]
fn slowloris_clients_never_delay_a_normal_client() {
    let server = Eddy::serve_guest(Embedded, &["--header-timeout", "3s"]);
    let mut slow: Vec<TcpStream> = (0..2000)
        .map(|_| {
            let stream = TcpStream::connect(server.addr).expect("connect");
            stream.set_nonblocking(true).expect("nonblocking");
            stream
        })
        .collect();
    let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ";
    let mut worst = Duration::ZERO;
    let attack_started = Instant::now();
    let mut round = 0;
    while attack_started.elapsed() < Duration::from_secs(4) {
        // Every slow client sends one more byte of its head.
        let byte = head.get(round).copied().unwrap_or(b'x');
        for stream in &mut slow {
            let _ = stream.write(&[byte]);
        }
        round += 1;
        // A normal client: connect, ask, get the answer.
        let started = Instant::now();
        let mut normal = server.connect();
        normal.write_all(GET).expect("write");
        let response = read_response(&mut normal, false);
        assert_eq!(response.text(), "You requested /x\n");
        worst = worst.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        worst < Duration::from_secs(1),
        "a normal request took {worst:?} under attack"
    );
    // The header timeout (3 s from the first byte) cut every slow client.
    std::thread::sleep(Duration::from_millis(500));
    let cut = slow.iter_mut().map(is_cut).filter(|&was| was).count();
    assert_eq!(cut, 2000, "slow clients left open");
}

#[test]
fn a_client_that_stops_reading_is_cut_by_the_write_timeout() {
    let server = Eddy::serve_guest(Component("streamer"), &["--write-timeout", "1s"]);
    let mut stalled = server.connect();
    stalled
        .write_all(b"GET /big?mb=32 HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_secs(3));
    // Others are served meanwhile.
    let mut other = server.connect();
    other.write_all(GET).expect("write");
    assert_eq!(read_response(&mut other, false).status, 200);
    // The stalled client gets what was already in flight, then the end: never all 32 MiB.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match stalled.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                break;
            }
            Err(error) => panic!("the stalled connection was not cut: {error} after {total} bytes"),
        }
    }
    assert!(
        total < 32 << 20,
        "the whole response arrived ({total} bytes): no write timeout"
    );
}

#[test]
fn running_out_of_file_descriptors_never_spins_the_loop() {
    let server = Eddy::serve_guest(Embedded, &["--workers", "1"]);
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &server.pid().to_string(), "--nofile=64:64"])
        .status()
        .expect("prlimit (util-linux) must be installed");
    assert!(status.success());
    let clients: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = server.cpu_time();
    std::thread::sleep(Duration::from_secs(2));
    let spent = server.cpu_time() - before;
    assert!(
        spent < Duration::from_millis(500),
        "the loop spun: {spent:?} of CPU in 2 s"
    );
    server.wait_stderr("pausing accepts");
    drop(clients);
    std::thread::sleep(Duration::from_millis(500));
    let mut again = server.connect();
    again.write_all(GET).expect("write");
    assert_eq!(read_response(&mut again, false).status, 200);
}
