//! Plugin handlers in their own Stores: a trap costs one 500, the plugin is re-instantiated,
//! and every other request and connection carries on.

mod util;

use std::io::Write;
use std::time::Duration;

use util::Guest::{self, Handlers};
use util::{Eddy, read_response, roundtrip};

/// The faulty plugin under `/f/`, and hello for every other path.
const FAULTY_THEN_HELLO: Guest<'static> = Handlers(&["/f/.*=faulty", "hello"]);

const GET_OK: &[u8] = b"GET /f/ok HTTP/1.1\r\nHost: a\r\n\r\n";
const GET_PANIC: &[u8] = b"GET /f/panic HTTP/1.1\r\nHost: a\r\n\r\n";
const GET_HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn a_panicking_plugin_costs_one_500_and_nothing_else() {
    let mut server = Eddy::serve_guest(FAULTY_THEN_HELLO, &[]);
    // A kept-alive connection to the healthy plugin, open across the crash.
    let mut bystander = server.connect();
    bystander.write_all(GET_HELLO).expect("write");
    assert_eq!(read_response(&mut bystander, false).text(), "Hello, world!");

    // The same connection sees ok, panic (500), ok again: the connection survives the trap.
    let mut conn = server.connect();
    conn.write_all(GET_OK).expect("write");
    assert_eq!(read_response(&mut conn, false).text(), "ok 1");
    conn.write_all(GET_PANIC).expect("write");
    let crashed = read_response(&mut conn, false);
    assert_eq!(crashed.status, 500, "{}", crashed.head);
    conn.write_all(GET_OK).expect("write");
    // A fresh instance: its counter starts again.
    assert_eq!(read_response(&mut conn, false).text(), "ok 1");

    bystander.write_all(GET_HELLO).expect("write");
    assert_eq!(read_response(&mut bystander, false).text(), "Hello, world!");
    assert_eq!(roundtrip(server.addr, GET_HELLO).text(), "Hello, world!");
    assert!(server.is_running(), "the server must never exit");
    // One record: the reason, then the wasm backtrace.
    let log = server.wait_stderr("wasm backtrace:");
    let record = log
        .split_once("trapped on GET /f/panic: ")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no trap record: {log}"));
    let (reason, trace) = record
        .split_once("\nwasm backtrace:\n")
        .expect("reason first");
    assert!(reason.contains("unreachable"), "the reason: {reason}");
    assert!(trace.trim_start().starts_with("0:"), "the frames: {trace}");
}

/// A request for `/f/{n}/panic`: the plugin traps, on a different path each time.
fn get_panic_at(n: usize) -> Vec<u8> {
    format!("GET /f/{n}/panic HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
}

#[test]
fn a_plugin_failing_every_request_costs_each_its_500_and_rests_nobody_else() {
    let mut server = Eddy::serve_guest(FAULTY_THEN_HELLO, &["--workers", "1"]);
    // Every request traps, each on another path: each costs its own 500 and instance.
    let statuses: Vec<u16> = (0..20)
        .map(|n| roundtrip(server.addr, &get_panic_at(n)).status)
        .collect();
    assert!(statuses.iter().all(|status| *status == 500), "{statuses:?}");
    // The plugin still answers the requests it can.
    assert_eq!(roundtrip(server.addr, GET_OK).text(), "ok 1");
    // One log record per trap at most a second apart, the others counted, not 20 records.
    let log = server.stderr();
    let records = log
        .lines()
        .filter(|line| line.contains("trapped on"))
        .count();
    assert!(
        records < 10,
        "{records} trap records for 20 requests:\n{log}"
    );
    // The healthy plugin never noticed.
    assert_eq!(roundtrip(server.addr, GET_HELLO).text(), "Hello, world!");
    std::thread::sleep(Duration::from_millis(100));
    assert!(server.is_running());
}

#[test]
fn one_request_that_always_traps_never_takes_the_plugin_offline() {
    let server = Eddy::serve_guest(FAULTY_THEN_HELLO, &["--workers", "1"]);
    let addr = server.addr;
    // An attacker sends a trapping request a hundred times a second...
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(roundtrip(addr, GET_PANIC).status, 500);
                sent += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            sent
        })
    };
    // ...while legitimate requests to the same plugin keep being answered.
    let mut statuses = Vec::new();
    for _ in 0..100 {
        statuses.push(roundtrip(addr, GET_OK).status);
        std::thread::sleep(Duration::from_millis(15));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = attacker.join().expect("the attacker");
    let answered = statuses.iter().filter(|status| **status == 200).count();
    assert!(sent >= 50, "the attack sent only {sent} requests");
    assert!(
        answered >= 95,
        "{answered} of 100 legitimate requests answered 200 under attack: {statuses:?}"
    );
}

#[test]
fn memory_bombs_trap_at_the_plugin_cap() {
    let mut server = Eddy::serve_guest(FAULTY_THEN_HELLO, &["--plugin-max-memory", "16MiB"]);
    let response = roundtrip(server.addr, b"GET /f/alloc HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(response.status, 500, "{}", response.head);
    assert!(
        server.rss() < 200 << 20,
        "host RSS {} after the bomb",
        server.rss()
    );
    assert_eq!(roundtrip(server.addr, GET_HELLO).text(), "Hello, world!");
    assert!(server.is_running());
}

#[test]
fn request_isolation_gives_every_request_a_fresh_instance() {
    let server = Eddy::serve_guest(
        FAULTY_THEN_HELLO,
        &["--isolation", "request", "--workers", "1"],
    );
    for _ in 0..3 {
        assert_eq!(roundtrip(server.addr, GET_OK).text(), "ok 1");
    }
    let reused = Eddy::serve_guest(FAULTY_THEN_HELLO, &["--workers", "1"]);
    let counts: Vec<String> = (0..3)
        .map(|_| roundtrip(reused.addr, GET_OK).text())
        .collect();
    assert_eq!(counts, ["ok 1", "ok 2", "ok 3"]);
}

#[test]
fn unmatched_paths_are_404() {
    let server = Eddy::serve_guest(Handlers(&["/only=faulty"]), &[]);
    let response = roundtrip(server.addr, b"GET /only/not HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(response.status, 404);
    assert!(response.text().contains("404: Not Found"));
}
