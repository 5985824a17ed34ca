//! Graceful shutdown: SIGTERM stops accepting, lets in-flight requests finish, closes idle
//! connections and exits 0; a second signal exits at once.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::Guest::Component;
use util::{Eddy, read_response, read_to_close};

#[test]
fn sigterm_lets_in_flight_requests_finish_refuses_new_ones_and_exits_0() {
    let mut server = Eddy::serve_guest(Component("streamer"), &["--workers", "2"]);
    let addr = server.addr;
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            stream
                .write_all(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n")
                .expect("write");
            std::thread::spawn(move || {
                let response = read_response(&mut stream, false);
                (
                    response.status,
                    response.text(),
                    response.header("Connection").map(str::to_owned),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        TcpStream::connect(addr).is_err(),
        "new connections must be refused while draining"
    );
    for client in clients {
        let (status, text, connection) = client.join().expect("client");
        assert_eq!((status, text.as_str()), (200, "slept 1500"));
        assert_eq!(
            connection.as_deref(),
            Some("close"),
            "no keep-alive while draining"
        );
    }
    assert_eq!(
        server.wait_exit(Duration::from_secs(5)),
        Some(Some(0)),
        "{}",
        server.stderr()
    );
}

#[test]
fn idle_connections_close_at_once_on_sigterm() {
    let mut server = Eddy::serve_guest(Component("streamer"), &[]);
    let mut idle = server.connect();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    assert_eq!(read_response(&mut idle, false).text(), "whole");
    let started = Instant::now();
    server.signal("TERM");
    assert!(read_to_close(&mut idle).is_empty());
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(Some(0)));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drain took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = Eddy::serve_guest(Component("streamer"), &[]);
    let mut slow = server.connect();
    slow.write_all(b"GET /slow?ms=10000 HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        server.wait_exit(Duration::from_millis(100)),
        None,
        "the first signal must wait for the slow request"
    );
    server.signal("INT");
    let code = server
        .wait_exit(Duration::from_secs(2))
        .expect("exits after the second signal");
    assert_ne!(code, Some(0));
}

#[test]
fn the_drain_timeout_bounds_the_wait() {
    let mut server = Eddy::serve_guest(Component("streamer"), &["--drain-timeout", "500ms"]);
    let mut slow = server.connect();
    slow.write_all(b"GET /slow?ms=10000 HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(3)), Some(Some(0)));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}
