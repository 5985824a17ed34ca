//! The response budget: clients that ask for large responses and never read them cannot run
//! a worker's server guest out of memory. Past `--response-budget`, new responses wait and
//! the connections whose clients took nothing are cut; readers get every byte.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use util::Eddy;
use util::Guest::Handlers;

/// Mebibytes each client asks for: the red team's shape (24 × 16 MB trapped the guest).
const MIB_EACH: usize = 16;

/// Connects with a small receive buffer, so the kernel holds little of what is not read and
/// the server has to keep the rest.
fn connect_small(addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    socket.into()
}

/// Sends `GET target` and returns the connection without reading anything.
fn ask_and_never_read(addr: SocketAddr, target: &str) -> TcpStream {
    let mut stream = connect_small(addr);
    let request = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("request");
    stream
}

/// The faulty plugin's answer of `mib` MiB: `0123456789` repeated.
fn faulty_big(mib: usize) -> String {
    format!("/big?mb={mib}")
}

fn digits(i: usize) -> u8 {
    b'0' + (i % 10) as u8
}

/// Downloads `mib` MiB from the faulty plugin and checks every byte.
#[track_caller]
fn download_whole(addr: SocketAddr, mib: usize) -> Duration {
    download_checked(addr, &faulty_big(mib), mib << 20, digits)
}

/// Downloads `target`, which must answer `length` bytes, byte `i` being `expected(i)`.
#[track_caller]
fn download_checked(
    addr: SocketAddr,
    target: &str,
    length: usize,
    expected: fn(usize) -> u8,
) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let request = format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the whole download");
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&response[..split]);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let body = &response[split..];
    assert_eq!(body.len(), length, "the download was cut: {head}");
    assert!(
        body.iter().enumerate().all(|(i, &got)| got == expected(i)),
        "the download's bytes are wrong"
    );
    started.elapsed()
}

#[test]
fn non_reading_clients_never_trap_the_worker_and_downloads_arrive_whole() {
    let eddy = Eddy::serve_guest(Handlers(&["faulty"]), &["--workers", "1"]);
    let rss_before = eddy.rss();
    let addr = eddy.addr;
    let attackers: Vec<TcpStream> = (0..24)
        .map(|_| ask_and_never_read(addr, &faulty_big(MIB_EACH)))
        .collect();
    // A normal download while the attackers hold their connections open.
    let during = std::thread::spawn(move || download_whole(addr, MIB_EACH));
    let waited = during.join().expect("the download during the attack");
    let rss_during = eddy.rss();
    // And one afterwards, on a worker that is still the same guest.
    download_whole(addr, MIB_EACH);
    let log = eddy.stderr();
    assert!(
        !log.contains("the guest trapped") && !log.contains("restarting the guest"),
        "the server guest trapped:\n{log}"
    );
    assert!(
        log.contains("--response-budget"),
        "the budget never had to cut anyone (was the attack real?):\n{log}"
    );
    eprintln!(
        "download during the attack took {waited:?}; RSS {} MiB before, {} MiB during",
        rss_before >> 20,
        rss_during >> 20
    );
    drop(attackers);
}

#[test]
fn a_response_waits_for_room_instead_of_growing_past_the_budget() {
    // An 8 MiB budget and two 10 MiB responses to clients that do not read: whatever the
    // kernel takes of them, the budget is spent, and a reader's response waits until one of
    // them is cut (its client took nothing for the stall grace), then arrives whole.
    let eddy = Eddy::serve_guest(
        Handlers(&["faulty"]),
        &["--workers", "1", "--response-budget", "8MiB"],
    );
    let addr = eddy.addr;
    let first = ask_and_never_read(addr, &faulty_big(10));
    let second = ask_and_never_read(addr, &faulty_big(10));
    std::thread::sleep(Duration::from_millis(300));
    download_whole(addr, 10);
    assert!(
        eddy.stderr().contains("cutting a connection holding"),
        "{}",
        eddy.stderr()
    );
    drop((first, second));
}

#[test]
fn a_wasi_http_plugins_answers_are_held_to_the_budget_too() {
    // A smaller guest (96 MiB, so a 12 MiB budget) and ten clients asking a `wasi:http`
    // plugin for 8 MiB each: more than the guest could hold at once.
    let eddy = Eddy::serve_guest(
        Handlers(&["wasi-http"]),
        &["--workers", "1", "--max-memory", "96MiB"],
    );
    let addr = eddy.addr;
    let size = 8 << 20;
    let target = format!("/big?n={size}");
    let attackers: Vec<TcpStream> = (0..10).map(|_| ask_and_never_read(addr, &target)).collect();
    let letters = |i: usize| b'a' + (i % 26) as u8;
    download_checked(addr, &target, size, letters);
    let log = eddy.stderr();
    assert!(
        !log.contains("the guest trapped") && !log.contains("restarting the guest"),
        "the server guest trapped:\n{log}"
    );
    assert!(log.contains("--response-budget"), "{log}");
    drop(attackers);
}
