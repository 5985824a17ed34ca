//! The sandbox under attack: a plugin that never returns is interrupted at its deadline, and a
//! server guest that traps costs only its worker's connections.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};

use util::Guest::{Component, Handlers};
use util::{Eddy, read_response, read_to_close, roundtrip};

#[test]
fn an_infinite_loop_is_interrupted_at_the_deadline_and_others_are_served() {
    let mut server = Eddy::serve_guest(
        Handlers(&["/f/.*=faulty", "hello"]),
        &["--workers", "1", "--handler-timeout", "1s"],
    );
    let addr = server.addr;
    let attack = std::thread::spawn(move || {
        let started = Instant::now();
        let response = roundtrip(addr, b"GET /f/spin HTTP/1.1\r\nHost: a\r\n\r\n");
        (response.status, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    let clients: Vec<_> = (0..100)
        .map(|_| {
            std::thread::spawn(move || roundtrip(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text())
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().expect("client"), "Hello, world!");
    }
    let (status, took) = attack.join().expect("attack");
    assert!(status == 500 || status == 503, "status {status}");
    assert!(
        took < Duration::from_secs(2),
        "the spinning plugin was stopped after {took:?} (deadline 1 s)"
    );
    assert!(
        server.stderr().contains("interrupted"),
        "{}",
        server.stderr()
    );
    assert_eq!(
        roundtrip(addr, b"GET /f/ok HTTP/1.1\r\nHost: a\r\n\r\n").status,
        200
    );
    assert!(server.is_running());
}

#[test]
fn a_trapping_server_guest_loses_only_its_connections_and_serves_again() {
    let server = Eddy::serve_guest(Component("streamer"), &["--workers", "1"]);
    let mut bystander = server.connect();
    bystander
        .write_all(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    assert_eq!(read_response(&mut bystander, false).text(), "whole");
    let mut attacker = server.connect();
    attacker
        .write_all(b"GET /trap HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    assert!(
        read_to_close(&mut attacker).is_empty(),
        "no response from a trapped guest"
    );
    // The worker's connections went with its guest.
    assert!(read_to_close(&mut bystander).is_empty());
    // ... and the worker serves again right after.
    let started = Instant::now();
    assert_eq!(
        roundtrip(server.addr, b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n").text(),
        "whole"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "recovery took {:?}",
        started.elapsed()
    );
    // The record (reason, backtrace, then the restart) may reach the pipe a moment later.
    let log = server.wait_stderr("restarting the guest");
    assert!(log.contains("wasm backtrace:"), "{log}");
}
