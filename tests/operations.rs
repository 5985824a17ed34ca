//! Operations: the access log (text and JSON) and the host-answered health endpoint.

mod util;

use std::io::Write;
use std::time::Duration;

use util::Guest::{Component, Embedded};
use util::{Eddy, read_response, read_to_close, roundtrip};

#[test]
fn every_request_gets_an_access_log_line() {
    let server = Eddy::serve_guest(Embedded, &[]);
    roundtrip(server.addr, b"GET /first?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    roundtrip(server.addr, b"GET / HTTP/1.1\r\n\r\n"); // no Host: 400
    let log = server.wait_stderr("- - 400");
    let line = log
        .lines()
        .find(|line| line.contains("GET /first 200"))
        .unwrap_or_else(|| panic!("no access line:\n{log}"));
    assert!(
        line.contains("access") && line.contains("127.0.0.1") && line.contains("ms"),
        "{line}"
    );
    let quiet = Eddy::serve_guest(Embedded, &["--no-access-log"]);
    roundtrip(quiet.addr, b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!quiet.stderr().contains("GET /first"), "{}", quiet.stderr());
}

#[test]
fn json_logs_carry_the_access_fields() {
    let server = Eddy::serve_guest(Embedded, &["--log-format", "json"]);
    roundtrip(server.addr, b"GET /j HTTP/1.1\r\nHost: a\r\n\r\n");
    let log = server.wait_stderr(r#""path":"/j""#);
    let line = log
        .lines()
        .find(|line| line.contains(r#""path":"/j""#))
        .unwrap_or_default();
    for field in [
        r#""target":"access""#,
        r#""method":"GET""#,
        r#""status":200"#,
        r#""remote":"127.0.0.1""#,
        r#""duration_us":"#,
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
}

#[test]
fn the_health_path_is_answered_by_the_host() {
    let server = Eddy::serve_guest(Component("streamer"), &["--health-path", "/healthz"]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: lb\r\n\r\n")
        .expect("write");
    let response = read_response(&mut stream, false);
    assert_eq!((response.status, response.text()), (200, "ok\n".to_owned()));
    assert!(read_to_close(&mut stream).is_empty());
    let mut stream = server.connect();
    stream
        .write_all(b"HEAD /healthz?probe=1 HTTP/1.0\r\n\r\n")
        .expect("write");
    assert_eq!(read_response(&mut stream, true).status, 200);
    assert!(read_to_close(&mut stream).is_empty(), "HEAD gets no body");
    // Everything else goes to the guest, bytes intact.
    assert_eq!(
        roundtrip(server.addr, b"GET /healthzz HTTP/1.1\r\nHost: a\r\n\r\n").text(),
        "whole"
    );
    assert_eq!(
        roundtrip(
            server.addr,
            b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
        )
        .text(),
        "whole"
    );
    let log = server.wait_stderr("/healthzz 200");
    assert!(
        !log.contains("GET /healthz 200"),
        "the guest saw a health check:\n{log}"
    );
}
