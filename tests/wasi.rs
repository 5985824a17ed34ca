//! A plugin built with the WASI toolchain gets WASI with everything denied: no files, no
//! environment, no sockets; its clocks are real (frozen with `--frozen-clocks`) and its
//! output lands in the host log.

mod util;

use std::net::TcpListener;
use std::time::Duration;

use util::Guest::Handlers;
use util::{Eddy, roundtrip};

fn ask(server: &Eddy, target: &str) -> String {
    let response = roundtrip(
        server.addr,
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.head);
    response.text()
}

#[test]
fn files_and_directories_are_denied() {
    let server = Eddy::serve_guest(Handlers(&["wasi-probe"]), &[]);
    let secret = std::env::temp_dir().join(format!("eddy-wasi-secret-{}", std::process::id()));
    std::fs::write(&secret, "the secret").expect("write secret");
    for target in [
        format!("/file?path={}", secret.display()),
        "/file?path=/etc/passwd".to_owned(),
        "/dir".to_owned(),
    ] {
        let answer = ask(&server, &target);
        assert!(answer.starts_with("denied:"), "{target}: {answer}");
        assert!(
            !answer.contains("the secret") && !answer.contains("root:"),
            "{target}: {answer}"
        );
    }
    let _ = std::fs::remove_file(&secret);
}

#[test]
fn sockets_are_denied_and_nothing_connects() {
    let server = Eddy::serve_guest(Handlers(&["wasi-probe"]), &[]);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let answer = ask(&server, &format!("/socket?addr={addr}"));
    assert!(answer.starts_with("denied:"), "{answer}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        listener.accept().is_err(),
        "the plugin reached the listener"
    );
}

#[test]
fn environment_is_empty_and_the_clock_is_real() {
    let server = Eddy::serve_guest(Handlers(&["wasi-probe"]), &[]);
    assert_eq!(ask(&server, "/env"), "vars: 0");
    let answer = ask(&server, "/clock");
    let seconds: u64 = answer
        .strip_prefix("granted: ")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a clock reading: {answer}"));
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(host.abs_diff(seconds) <= 1, "plugin {seconds}, host {host}");
}

#[test]
fn frozen_clocks_read_zero() {
    let server = Eddy::serve_guest(Handlers(&["wasi-probe"]), &["--frozen-clocks"]);
    assert_eq!(ask(&server, "/clock"), "granted: 0");
}

#[test]
fn output_goes_to_the_host_log() {
    let server = Eddy::serve_guest(Handlers(&["wasi-probe"]), &[]);
    assert_eq!(ask(&server, "/print"), "printed");
    // Standard output and standard error reach the log separately: wait for each.
    server.wait_stderr("hello from a plugin");
    server.wait_stderr("and its stderr");
}
