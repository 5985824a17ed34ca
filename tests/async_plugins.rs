//! Plugins that wait without stopping their worker: calls that wait on an upstream, a WASI
//! clock or the CPU are suspended, and one worker keeps serving everyone else meanwhile;
//! `--handler-timeout` holds while a call waits.
//!
//! Every test here runs one worker and measures wall-clock time, so they run one at a time.

mod util;

use std::net::SocketAddr;
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use util::Guest::Handlers;
use util::upstream::{self, Upstream};
use util::{Eddy, roundtrip};

/// The `wasi:http` test plugin for the paths it probes with, hello for every other path.
const WASI_THEN_HELLO: util::Guest<'static> =
    Handlers(&["/(?:outbound|sleep|spin|trap)=wasi-http", "hello"]);

/// Timing tests take the machine one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Sends `count` requests for `target` at once, each on its own connection; returns each
/// one's status and body, and the wall time until the last answer.
fn at_once(addr: SocketAddr, count: usize, target: &str) -> (Vec<(u16, String)>, Duration) {
    let barrier = Arc::new(Barrier::new(count + 1));
    let request = Arc::new(get(target));
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let (barrier, request) = (barrier.clone(), request.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let response = roundtrip(addr, &request);
                (response.status, response.text())
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let answers = threads
        .into_iter()
        .map(|thread| thread.join().expect("a client"))
        .collect();
    (answers, started.elapsed())
}

/// Sends `count` requests for `/hello`, one after another, `gap` apart, starting after
/// `after`; returns each one's latency.
fn bystanders(
    addr: SocketAddr,
    count: usize,
    after: Duration,
    gap: Duration,
) -> std::thread::JoinHandle<Vec<Duration>> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        (0..count)
            .map(|_| {
                let started = Instant::now();
                let response = roundtrip(addr, &get("/hello"));
                let took = started.elapsed();
                assert_eq!(response.text(), "Hello, world!");
                std::thread::sleep(gap);
                took
            })
            .collect()
    })
}

/// The 99th percentile of `samples` (the largest of 20).
fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let index = (samples.len() * 99).div_ceil(100).saturating_sub(1);
    samples[index]
}

#[test]
fn two_hundred_calls_waiting_on_a_slow_upstream_share_one_worker() {
    let _serial = serial();
    let upstream = Upstream::start(Duration::from_millis(200));
    let allowed = upstream.addr.to_string();
    let server = Eddy::serve_guest(
        WASI_THEN_HELLO,
        &["--workers", "1", "--allow-http-outbound", &allowed],
    );
    let target = format!("/outbound?to={}", upstream.addr);
    let watch = bystanders(
        server.addr,
        20,
        Duration::from_millis(50),
        Duration::from_millis(20),
    );
    let (answers, took) = at_once(server.addr, 200, &target);
    let waits = watch.join().expect("bystanders");
    for (status, text) in &answers {
        assert_eq!((*status, text.as_str()), (200, "status: 200"));
    }
    assert!(took <= Duration::from_secs(1), "200 fetches took {took:?}");
    let worst = p99(waits);
    assert!(
        worst <= Duration::from_millis(50),
        "bystanders' p99 {worst:?}"
    );
    // Connections to the upstream are kept and reused: a second round opens few new ones.
    let opened = upstream.connections();
    let (again, _) = at_once(server.addr, 50, &target);
    assert!(again.iter().all(|(status, _)| *status == 200));
    assert!(
        upstream.connections() < opened + 50,
        "{} connections for {} requests",
        upstream.connections(),
        upstream.requests()
    );
}

#[test]
fn a_hundred_one_second_sleeps_take_one_second() {
    let _serial = serial();
    let server = Eddy::serve_guest(WASI_THEN_HELLO, &["--workers", "1"]);
    let (answers, took) = at_once(server.addr, 100, "/sleep?ms=1000");
    assert!(
        answers
            .iter()
            .all(|answer| answer == &(200, "slept".to_owned()))
    );
    assert!(took <= Duration::from_secs(2), "100 sleeps took {took:?}");
}

#[test]
fn a_spinning_plugin_yields_to_bystanders() {
    let _serial = serial();
    let server = Eddy::serve_guest(
        WASI_THEN_HELLO,
        &["--workers", "1", "--handler-timeout", "5s"],
    );
    let watch = bystanders(
        server.addr,
        20,
        Duration::from_millis(100),
        Duration::from_millis(50),
    );
    let started = Instant::now();
    let spun = roundtrip(server.addr, &get("/spin?ms=2000"));
    assert_eq!(spun.text(), "spun true");
    assert!(started.elapsed() >= Duration::from_secs(2));
    let worst = p99(watch.join().expect("bystanders"));
    assert!(
        worst <= Duration::from_millis(50),
        "bystanders' p99 {worst:?}"
    );
}

#[test]
fn several_spinning_plugins_at_once_still_leave_bystanders_a_turn() {
    let _serial = serial();
    let server = Eddy::serve_guest(
        WASI_THEN_HELLO,
        &["--workers", "1", "--handler-timeout", "5s"],
    );
    let addr = server.addr;
    let spinners = std::thread::spawn(move || at_once(addr, 5, "/spin?ms=2000").0);
    let watch = bystanders(
        server.addr,
        20,
        Duration::from_millis(200),
        Duration::from_millis(50),
    );
    let worst = p99(watch.join().expect("bystanders"));
    let spun = spinners.join().expect("spinners");
    assert!(
        spun.iter()
            .all(|answer| answer == &(200, "spun true".to_owned()))
    );
    assert!(
        worst <= Duration::from_millis(50),
        "bystanders' p99 {worst:?}"
    );
}

#[test]
fn a_sleep_past_the_handler_timeout_gets_its_500_at_the_deadline() {
    let _serial = serial();
    let server = Eddy::serve_guest(
        WASI_THEN_HELLO,
        &["--workers", "1", "--handler-timeout", "2s"],
    );
    let watch = bystanders(
        server.addr,
        20,
        Duration::from_millis(100),
        Duration::from_millis(50),
    );
    let started = Instant::now();
    let response = roundtrip(server.addr, &get("/sleep?ms=20000"));
    let took = started.elapsed();
    assert_eq!(response.status, 500);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2500),
        "the 500 came after {took:?}"
    );
    let worst = p99(watch.join().expect("bystanders"));
    assert!(
        worst <= Duration::from_millis(50),
        "bystanders' p99 {worst:?}"
    );
    // The log states the real duration.
    let log = server.wait_stderr("timed out on GET /sleep");
    assert!(log.contains("no response after 2.0"), "{log}");
}

#[test]
fn a_stalled_tls_handshake_fails_the_call_at_the_connect_timeout() {
    let _serial = serial();
    let silent = upstream::silent();
    let allowed = silent.to_string();
    let server = Eddy::serve_guest(
        WASI_THEN_HELLO,
        &["--workers", "1", "--allow-http-outbound", &allowed],
    );
    let watch = bystanders(
        server.addr,
        20,
        Duration::from_millis(100),
        Duration::from_millis(30),
    );
    let started = Instant::now();
    let target = format!("/outbound?to={silent}&scheme=https&connect_ms=1000");
    let response = roundtrip(server.addr, &get(&target));
    let took = started.elapsed();
    assert_eq!(response.status, 200);
    assert!(
        response.text().starts_with("failed:") && response.text().contains("ConnectionTimeout"),
        "{}",
        response.text()
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(2),
        "the call failed after {took:?}"
    );
    let worst = p99(watch.join().expect("bystanders"));
    assert!(
        worst <= Duration::from_millis(50),
        "bystanders' p99 {worst:?}"
    );
}

#[test]
fn a_trap_in_one_waiting_call_costs_only_its_request() {
    let _serial = serial();
    let server = Eddy::serve_guest(WASI_THEN_HELLO, &["--workers", "1"]);
    let addr = server.addr;
    let sleepers = std::thread::spawn(move || at_once(addr, 20, "/sleep?ms=500").0);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(roundtrip(server.addr, &get("/trap")).status, 500);
    let answers = sleepers.join().expect("sleepers");
    assert!(
        answers
            .iter()
            .all(|answer| answer == &(200, "slept".to_owned()))
    );
}

#[test]
fn sigterm_lets_waiting_calls_finish() {
    let _serial = serial();
    let mut server = Eddy::serve_guest(WASI_THEN_HELLO, &["--workers", "1"]);
    let addr = server.addr;
    let sleepers = std::thread::spawn(move || at_once(addr, 10, "/sleep?ms=1000").0);
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    let answers = sleepers.join().expect("sleepers");
    assert!(
        answers
            .iter()
            .all(|answer| answer == &(200, "slept".to_owned()))
    );
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(Some(0)));
}

#[test]
fn waiting_calls_cost_what_the_memory_formula_says() {
    let _serial = serial();
    let server = Eddy::serve_guest(WASI_THEN_HELLO, &["--workers", "1"]);
    assert_eq!(roundtrip(server.addr, &get("/sleep?ms=1")).status, 200);
    let base = server.rss();
    let addr = server.addr;
    let sleepers = std::thread::spawn(move || at_once(addr, 200, "/sleep?ms=2000").0);
    std::thread::sleep(Duration::from_millis(1200));
    let loaded = server.rss();
    assert!(
        sleepers
            .join()
            .expect("sleepers")
            .iter()
            .all(|(status, _)| *status == 200)
    );
    // docs/architecture.md: per waiting call, the touched pages of a fiber stack, of the
    // instance's linear memory and of its Store: 52 KB measured, five times that allowed.
    let per_call = 256 << 10;
    let formula = base + 200 * per_call;
    assert!(
        loaded <= formula,
        "RSS {loaded} with 200 waiting calls, over the formula's {formula} (base {base})"
    );
}

/// A config file of one worker whose only handler is `component` for `route`.
fn one_handler(path: &std::path::Path, route: &str, component: &str) {
    let text = format!(
        "listen = \"127.0.0.1:0\"\nworkers = 1\n\n[[handler]]\nroute = \"{route}\"\ncomponent = \"{}\"\n",
        util::guest_arg(component)
    );
    std::fs::write(path, text).expect("write the config");
}

#[test]
fn a_sighup_during_a_hundred_waiting_calls_loses_none() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("eddy-async-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let config = dir.join("eddy.toml");
    one_handler(&config, "/.*", "wasi-http");
    let server = Eddy::serve(&["--config", config.to_str().expect("utf-8 path")]);
    let addr = server.addr;
    let sleepers = std::thread::spawn(move || at_once(addr, 100, "/sleep?ms=1500").0);
    std::thread::sleep(Duration::from_millis(500));
    one_handler(&config, "/.*", "hello");
    server.signal("HUP");
    server.wait_stderr("reloaded handlers");
    // New requests go to the new table while the old calls still wait.
    assert_eq!(roundtrip(addr, &get("/sleep?ms=1")).text(), "Hello, world!");
    let answers = sleepers.join().expect("sleepers");
    let slept = answers
        .iter()
        .filter(|answer| *answer == &(200, "slept".to_owned()))
        .count();
    assert_eq!(slept, 100, "{answers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
