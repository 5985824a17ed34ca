//! The response budget: clients that ask for large responses and never read them cannot run
//! a worker's server guest out of memory. Past `--response-budget`, new responses wait and
//! the connections whose clients took nothing are cut; readers get every byte.
//!
//! The responses come from the streamer guest's own handler (`/big?mb=N`, whole responses of
//! `x`). A plugin's answer that comes back within `plugins.start` is held to the budget the
//! same way; the answers of plugin calls that wait arrive through `plugin-results` before the
//! guest can charge them (see docs/architecture.md, "Memory of a worker").

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use util::Eddy;
use util::Guest::Component;

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

/// The streamer guest's whole response of `mib` MiB of `x`.
fn big(mib: usize) -> String {
    format!("/big?mb={mib}")
}

/// Downloads `mib` MiB from the streamer guest and checks every byte.
#[track_caller]
fn download_whole(addr: SocketAddr, mib: usize) -> Duration {
    let target = big(mib);
    let length = mib << 20;
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
        body.iter().all(|&byte| byte == b'x'),
        "the download's bytes are wrong"
    );
    started.elapsed()
}

#[test]
fn non_reading_clients_never_trap_the_worker_and_downloads_arrive_whole() {
    let eddy = Eddy::serve_guest(Component("streamer"), &["--workers", "1"]);
    let rss_before = eddy.rss();
    let addr = eddy.addr;
    let attackers: Vec<TcpStream> = (0..24)
        .map(|_| ask_and_never_read(addr, &big(MIB_EACH)))
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
        Component("streamer"),
        &["--workers", "1", "--response-budget", "8MiB"],
    );
    let addr = eddy.addr;
    let first = ask_and_never_read(addr, &big(10));
    let second = ask_and_never_read(addr, &big(10));
    std::thread::sleep(Duration::from_millis(300));
    download_whole(addr, 10);
    assert!(
        eddy.stderr().contains("cutting a connection holding"),
        "{}",
        eddy.stderr()
    );
    drop((first, second));
}
