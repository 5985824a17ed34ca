//! Standard `wasi:http` handlers as plugins (a Rust component built with the `wasip2` crate,
//! exporting `wasi:http/incoming-handler@0.2.4`), over real sockets: both isolation modes,
//! keep-alive, a multi-MiB body written through the stream, traps, and outbound requests
//! denied unless allowed.

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use util::Guest::Handlers;
use util::{Eddy, guest, read_response, roundtrip};

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: eddy.test\r\n\r\n").into_bytes()
}

#[test]
fn hello_answers_under_both_isolation_modes_with_keep_alive() {
    for isolation in ["worker", "request"] {
        let server = Eddy::serve_guest(
            Handlers(&["wasi-http"]),
            &["--workers", "1", "--isolation", isolation],
        );
        let mut conn = server.connect();
        let mut counts = Vec::new();
        for _ in 0..3 {
            conn.write_all(&get("/")).expect("write");
            let response = read_response(&mut conn, false);
            assert_eq!(response.status, 200, "{isolation}: {}", response.head);
            assert_eq!(response.text(), "hello from wasi:http\n");
            conn.write_all(&get("/count")).expect("write");
            counts.push(read_response(&mut conn, false).text());
        }
        let expected = match isolation {
            // One instance answers every request: its counter goes on.
            "worker" => ["2", "4", "6"],
            // A fresh instance per request: the counter starts again each time.
            _ => ["1", "1", "1"],
        };
        assert_eq!(counts, expected, "{isolation}");
    }
}

#[test]
fn requests_arrive_with_method_authority_headers_and_body() {
    let server = Eddy::serve_guest(Handlers(&["wasi-http"]), &["--workers", "1"]);
    let response = roundtrip(
        server.addr,
        b"POST /echo?x=1 HTTP/1.1\r\nHost: eddy.test:8080\r\nX-Test: yes\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(
        response.text(),
        "Method::Post eddy.test:8080 x-test=yes body=hello"
    );
}

#[test]
fn a_body_of_several_mib_arrives_whole() {
    let server = Eddy::serve_guest(Handlers(&["wasi-http"]), &["--workers", "1"]);
    let size = 6 * 1024 * 1024 + 7;
    let mut conn = server.connect();
    conn.write_all(&get(&format!("/big?n={size}")))
        .expect("write");
    assert_big_body(&mut conn, size);
    // Written before `response-outparam.set`, when nothing reads it yet.
    conn.write_all(&get(&format!("/early?n={size}")))
        .expect("write");
    assert_big_body(&mut conn, size);
    // The connection carries on.
    conn.write_all(&get("/")).expect("write");
    assert_eq!(read_response(&mut conn, false).status, 200);
}

#[track_caller]
fn assert_big_body(conn: &mut std::net::TcpStream, size: usize) {
    let response = read_response(conn, false);
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body.len(), size);
    assert!(
        response
            .body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == b'a' + (i % 26) as u8),
        "the body is not what the handler wrote"
    );
}

#[test]
fn a_trap_costs_one_500_and_the_next_request_gets_200() {
    let server = Eddy::serve_guest(Handlers(&["wasi-http"]), &["--workers", "1"]);
    let mut conn = server.connect();
    conn.write_all(&get("/trap")).expect("write");
    let response = read_response(&mut conn, false);
    assert_eq!(response.status, 500, "{}", response.head);
    let mut conn = server.connect();
    conn.write_all(&get("/")).expect("write");
    assert_eq!(read_response(&mut conn, false).status, 200);
    let log = server.wait_stderr("trapped on GET /trap");
    assert!(log.contains("the handler panicked on purpose"), "{log}");
    let log = server.wait_stderr("wasm backtrace:");
    assert!(log.contains("unreachable"), "{log}");
}

#[test]
fn a_handler_that_sets_no_response_costs_one_500() {
    let server = Eddy::serve_guest(Handlers(&["wasi-http"]), &["--workers", "1"]);
    let response = roundtrip(server.addr, &get("/silent"));
    assert_eq!(response.status, 500, "{}", response.head);
    assert_eq!(roundtrip(server.addr, &get("/")).status, 200);
    server.wait_stderr("failed on GET /silent: handle returned without setting a response");
}

/// A one-shot HTTP server answering 204 to whatever connects.
fn upstream() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

#[test]
fn outbound_requests_are_denied_and_logged() {
    let (listener, addr) = upstream();
    listener.set_nonblocking(true).expect("nonblocking");
    let server = Eddy::serve_guest(Handlers(&["wasi-http"]), &["--workers", "1"]);
    let response = roundtrip(server.addr, &get(&format!("/outbound?to={addr}")));
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.text(), "failed: ErrorCode::HttpRequestDenied");
    let log = server.wait_stderr("denied an outbound request");
    assert!(
        log.contains(&format!("--allow-http-outbound {addr}")),
        "{log}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(listener.accept().is_err(), "the plugin reached upstream");
}

#[test]
fn allowed_outbound_requests_are_sent() {
    let (listener, addr) = upstream();
    let answer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .expect("answer");
        String::from_utf8_lossy(&head).into_owned()
    });
    let allowed = addr.to_string();
    let server = Eddy::serve_guest(
        Handlers(&["wasi-http"]),
        &["--workers", "1", "--allow-http-outbound", &allowed],
    );
    let response = roundtrip(server.addr, &get(&format!("/outbound?to={addr}")));
    assert_eq!(response.text(), "status: 204");
    let head = answer.join().expect("upstream");
    assert!(head.starts_with("GET / HTTP/1.1\r\n"), "{head}");
}

#[test]
fn eddy_compile_precompiles_plugins_of_both_kinds() {
    let dir = std::env::temp_dir().join(format!("eddy-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut compiled = Vec::new();
    for name in ["hello", "wasi-http"] {
        let output = dir.join(format!("{name}.cwasm"));
        let (code, _, stderr) = util::eddy(
            &[
                "compile",
                guest(name).to_str().expect("utf-8"),
                "-o",
                output.to_str().expect("utf-8"),
            ],
            Duration::from_secs(120),
        );
        assert_eq!(code, Some(0), "{stderr}");
        compiled.push(output.to_str().expect("utf-8").to_owned());
    }
    let hello_route = format!("/hello={}", compiled[0]);
    let server = Eddy::serve(&[
        "--listen",
        "127.0.0.1:0",
        "--allow-precompiled",
        "--handler",
        &hello_route,
        "--handler",
        &compiled[1],
    ]);
    assert_eq!(
        roundtrip(server.addr, &get("/hello")).text(),
        "Hello, world!"
    );
    assert_eq!(
        roundtrip(server.addr, &get("/")).text(),
        "hello from wasi:http\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn host_resources_a_plugin_holds_are_capped() {
    // Header maps live in the host, outside the plugin's linear memory: 20,000 of 16 KiB
    // each would be 320 MiB under a 16 MiB cap. The resource cap traps the call instead.
    let mut server = Eddy::serve_guest(
        Handlers(&["wasi-http"]),
        &["--workers", "1", "--plugin-max-memory", "16MiB"],
    );
    let base = server.rss();
    assert_eq!(
        get_text(&server, "/fields?n=20000"),
        "made 20000",
        "dropped at once: fine"
    );
    let response = roundtrip(server.addr, &get("/fields?n=20000&keep=1"));
    assert_eq!(response.status, 500);
    assert!(
        server.rss() < base + (64 << 20),
        "RSS went from {base} to {}",
        server.rss()
    );
    let log = server.wait_stderr("--plugin-max-resources 1024");
    assert!(log.contains("trapped on GET /fields"), "{log}");
    // The next request gets a fresh instance.
    assert_eq!(get_text(&server, "/"), "hello from wasi:http\n");
    assert!(server.is_running());
}

fn get_text(server: &Eddy, target: &str) -> String {
    roundtrip(server.addr, &get(target)).text()
}
