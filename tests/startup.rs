//! What can never work is refused at start-up, before anything listens, with one line naming
//! the problem: components that are not plugins (in well under a second, before compiling),
//! limits a plugin cannot instantiate under, and route patterns that do not parse.

mod util;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use util::{eddy, guest};

/// Runs `eddy serve` expecting it to exit 1; returns the error line (log records aside), the
/// whole stderr, and how long the process took.
fn refused(args: &[&str]) -> (String, String, Duration) {
    let started = Instant::now();
    let (code, _, stderr) = eddy(args, Duration::from_secs(120));
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        !stderr.contains("listening on"),
        "it listened first:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains(" INFO ")).collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{stderr}");
    (lines[0].to_owned(), stderr, took)
}

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn components_that_are_not_plugins_are_refused_at_once() {
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let cases = [
        (
            guest("echo"),
            "exports eddy:io/guest@0.1.0, but must export `eddy:http/handler@0.1.0` or `wasi:http/incoming-handler@0.2.x`",
        ),
        (
            scratch("empty.wasm", b"\0asm\x0d\0\x01\0"),
            "exports nothing, but must export",
        ),
        (
            scratch("core.wasm", b"\0asm\x01\0\0\0"),
            "is a core WebAssembly module, not a component",
        ),
        (
            scratch("random.wasm", &random),
            "is not a WebAssembly component (no \\0asm header)",
        ),
    ];
    let mut timings = Vec::new();
    for (path, expected) in cases {
        let path = path.to_str().expect("utf-8").to_owned();
        let (line, stderr, took) =
            refused(&["serve", "--listen", "127.0.0.1:0", "--handler", &path]);
        assert!(line.starts_with(&format!("eddy: {path} ")), "{line}");
        assert!(line.contains(expected), "{line}");
        assert!(!stderr.contains(&format!("compiling {path}")), "{stderr}");
        timings.push(took);
    }
    eprintln!("refusal times: {timings:?}");
    assert!(
        timings.iter().all(|t| *t < Duration::from_secs(5)),
        "{timings:?}"
    );
}

#[test]
fn a_plugin_that_cannot_instantiate_stops_the_start() {
    let hello = guest("hello").to_str().expect("utf-8").to_owned();
    let (line, _, _) = refused(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--handler",
        &hello,
        "--plugin-max-memory",
        "1B",
    ]);
    assert!(
        line.starts_with(&format!("eddy: plugin {hello} cannot be instantiated: ")),
        "{line}"
    );
    assert!(line.contains("--plugin-max-memory is 1B"), "{line}");
    let (line, _, _) = refused(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--handler",
        &hello,
        "--max-instances",
        "0",
    ]);
    assert!(line.contains(&format!("plugin {hello}")), "{line}");
    assert!(line.contains("--max-instances"), "{line}");
}

#[test]
fn a_server_guest_that_cannot_instantiate_stops_the_start() {
    let (line, _, _) = refused(&["serve", "--listen", "127.0.0.1:0", "--max-memory", "64KiB"]);
    assert!(
        line.starts_with("eddy: the server guest cannot be instantiated: "),
        "{line}"
    );
    assert!(line.contains("--max-memory is 64KiB"), "{line}");
}

#[test]
fn a_bad_route_fails_before_listening() {
    let hello = guest("hello").to_str().expect("utf-8").to_owned();
    let route = format!("/api/(unclosed={hello}");
    let (line, _, _) = refused(&["serve", "--listen", "127.0.0.1:0", "--handler", &route]);
    assert!(line.contains("route \"/api/(unclosed\""), "{line}");
}
