//! A plugin's stdout and stderr reach the log under a budget: a flood is cut down to the
//! plugin's burst and rate with one line saying how much was dropped, a bystander is not
//! held up by it, long lines are cut and control characters (CR included) are escaped.

mod util;

use std::time::{Duration, Instant};

use util::Guest::Handlers;
use util::{Eddy, read_response, roundtrip, write_all};

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
}

/// The number in `... dropped N bytes ...` of the log, if there is one.
fn dropped_bytes(log: &str) -> Option<u64> {
    let line = log.lines().find(|line| line.contains("dropped"))?;
    let (_, rest) = line.split_once("dropped ")?;
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_log_flood_is_bounded_and_does_not_hold_up_a_bystander() {
    // A fresh instance per request: the flood's instance ends with its request, and with it
    // the line counting what was dropped. One worker: the bystander waits for whatever the
    // flood costs it (4 MiB took 0.3 s to log whole before the budget, a tenth of that now).
    let eddy = Eddy::serve_guest(
        Handlers(&["wasi-probe"]),
        &["--workers", "1", "--isolation", "request"],
    );
    let addr = eddy.addr;
    let flood = std::thread::spawn(move || {
        let started = Instant::now();
        let response = roundtrip(addr, &get("/flood?mb=4"));
        (response, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    let mut bystander = eddy.connect();
    write_all(&mut bystander, &get("/clock"));
    let answer = read_response(&mut bystander, false);
    let waited = started.elapsed();
    let (response, took) = flood.join().expect("the flood request");
    assert!(response.text().starts_with("flooded "), "{response:?}");
    assert!(answer.text().starts_with("granted"), "{answer:?}");
    let log = eddy.wait_stderr("dropped");
    assert!(
        waited <= Duration::from_millis(100),
        "the bystander waited {waited:?} (the flood took {took:?})"
    );
    let flood_lines = log
        .lines()
        .filter(|line| line.contains("flood line"))
        .count();
    // 256 KiB at once and 64 KiB a second, at 100 + 64 bytes a line: about 1,600 lines, plus
    // what the seconds the flood took earned.
    let allowed = (256 * 1024 + 64 * 1024 * (took.as_secs() + 1)) / 164 + 1;
    assert!(
        flood_lines as u64 <= allowed,
        "{flood_lines} flood lines logged, more than the budget's {allowed}"
    );
    assert!(flood_lines > 0, "the burst is logged");
    let dropped = dropped_bytes(&log).expect("a count of the dropped bytes");
    assert!(
        dropped >= 3 << 20,
        "only {dropped} bytes of a 4 MiB flood reported dropped"
    );
    // One line when the dropping starts and one with the count, at most once a second.
    let notes = log
        .lines()
        .filter(|line| line.contains("over its log budget"))
        .count() as u64;
    assert!(
        (2..=2 * (took.as_secs() + 1)).contains(&notes),
        "{notes} lines about the budget in {took:?}:\n{}",
        log.lines()
            .filter(|line| !line.contains("flood line"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn control_characters_are_escaped_and_long_lines_cut() {
    let eddy = Eddy::serve_guest(Handlers(&["wasi-probe"]), &["--workers", "1"]);
    assert_eq!(roundtrip(eddy.addr, &get("/cr")).text(), "printed");
    let log = eddy.wait_stderr("plugin: before");
    assert!(
        log.contains(r"plugin: before\x0dafter \x1b[2K\x07end"),
        "the control characters are escaped:\n{log}"
    );
    assert!(!log.contains('\r'), "a raw CR reached the log");
    assert_eq!(roundtrip(eddy.addr, &get("/long?kb=100")).text(), "printed");
    let log = eddy.wait_stderr("plugin: long");
    let line = log
        .lines()
        .find(|line| line.contains("plugin: long"))
        .expect("the long line");
    assert!(line.len() < 4096 + 200, "a {} byte log line", line.len());
    assert!(line.contains("[line cut: "), "{line}");
}
