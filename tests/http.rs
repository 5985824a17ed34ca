//! The HTTP/1.1 server guest over raw loopback sockets: request validation, keep-alive,
//! pipelining, body framing (and the smuggling shapes), limits, 100-continue, timeouts,
//! response framing and the request object as the `inspect` plugin reports it.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::Guest::{Embedded, Handlers};
use util::{Eddy, SCHEME, read_response, read_to_close, roundtrip};

fn connect(server: &Eddy) -> TcpStream {
    let stream = server.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Sends `request`, expects exactly one response with `status`, then the close.
#[track_caller]
fn rejected(server: &Eddy, request: &[u8], status: u16) {
    let mut stream = connect(server);
    stream.write_all(request).expect("write");
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.status,
        status,
        "{}\nfor {:?}",
        response.head,
        String::from_utf8_lossy(request)
    );
    assert_eq!(
        response.header("Connection"),
        Some("close"),
        "{}",
        response.head
    );
    let rest = read_to_close(&mut stream);
    assert!(
        rest.is_empty(),
        "more than one response: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn the_embedded_default_answers_with_the_uri() {
    let server = Eddy::serve_guest(Embedded, &[]);
    let response = roundtrip(server.addr, b"GET /foo?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        (response.status, response.text()),
        (200, "You requested /foo?x=1\n".to_owned())
    );
    assert_eq!(response.header("Server"), Some("eddy"));
    let date = response.header("Date").expect("Date header");
    // IMF-fixdate: "Wed, 25 Nov 2026 04:50:16 GMT".
    assert!(
        date.len() == 29 && date.ends_with(" GMT") && date.as_bytes()[3] == b',',
        "{date}"
    );
}

#[test]
fn malformed_heads_get_one_400_and_a_close() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &[]);
    for request in [
        &b"GET / HTTP/1.1\r\n\r\n"[..], // HTTP/1.1 without Host
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", // two Hosts
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", // NUL in a value
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n", // obs-fold
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", // space in a name
        b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", // space in the target
        b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", // method not a token
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", // bad Host value
    ] {
        rejected(&server, request, 400);
    }
    rejected(&server, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
}

#[test]
fn heads_over_the_limit_get_431() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &["--max-header-size", "8KiB"]);
    let mut line = b"GET /".to_vec();
    line.extend(std::iter::repeat_n(b'a', 100_000));
    line.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    rejected(&server, &line, 431);
    let mut big = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..200 {
        big.extend_from_slice(format!("X-Header-{i}: {}\r\n", "v".repeat(60)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    rejected(&server, &big, 431);
}

#[test]
fn smuggling_shapes_are_refused() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &[]);
    let cases: &[(&[u8], u16)] = &[
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ];
    for (request, status) in cases {
        rejected(&server, request, *status);
    }
    // Equal duplicates are one length.
    let response = roundtrip(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(response.status, 200, "{}", response.head);
}

#[test]
fn bodies_by_length_and_by_chunks_reach_the_handler() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &[]);
    let response = roundtrip(
        server.addr,
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(
        response.text().contains(r#""body": "hello""#),
        "{}",
        response.text()
    );
    let chunked = b"POST /x HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked\r\n\r\n\
5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: dropped\r\n\r\n";
    let response = roundtrip(server.addr, chunked);
    assert!(
        response.text().contains(r#""body": "hello world""#),
        "{}",
        response.text()
    );
    assert!(
        !response.text().contains("dropped"),
        "trailers must be dropped: {}",
        response.text()
    );
}

#[test]
fn keep_alive_pipelining_and_extra_blank_lines() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &[]);
    let mut stream = connect(&server);
    stream
        .write_all(
            b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\nPOST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
GET /three HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
        )
        .expect("write");
    let paths: Vec<String> = (0..3)
        .map(|_| {
            let response = read_response(&mut stream, false);
            assert_eq!(response.status, 200);
            response
                .text()
                .split(r#""path": ""#)
                .nth(1)
                .and_then(|p| p.split('"').next())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(paths, ["/one", "/two", "/three"]);
    assert!(
        read_to_close(&mut stream).is_empty(),
        "Connection: close must close after the third"
    );
}

#[test]
fn http10_keeps_alive_only_when_asked() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &[]);
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .expect("write");
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.header("Connection"),
        Some("keep-alive"),
        "{}",
        response.head
    );
    assert!(
        response.head.starts_with("HTTP/1.0 200"),
        "{}",
        response.head
    );
    let host = format!(r#""host": "{}""#, server.listen_addr);
    assert!(
        response.text().contains(&host),
        "default host: {}",
        response.text()
    );
    stream.write_all(b"GET /b HTTP/1.0\r\n\r\n").expect("write");
    let response = read_response(&mut stream, false);
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(read_to_close(&mut stream).is_empty());
}

#[test]
fn no_keep_alive_closes_after_every_response() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &["--no-keep-alive"]);
    let mut stream = connect(&server);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    let response = read_response(&mut stream, false);
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(read_to_close(&mut stream).is_empty());
}

#[test]
fn bodies_over_the_limit_get_413_before_being_read() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &["--max-body-size", "1KiB"]);
    // The body is never sent: the answer must come from the Content-Length alone.
    rejected(
        &server,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n",
        413,
    );
    let mut chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("200\r\n{}\r\n", "x".repeat(512)).as_bytes());
    }
    rejected(&server, &chunked, 413);
}

#[test]
fn expect_100_continue_only_for_acceptable_requests() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &["--max-body-size", "1KiB"]);
    let mut stream = connect(&server);
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-CONTINUE\r\nContent-Length: 4\r\n\r\n",
        )
        .expect("write");
    let interim = read_response(&mut stream, false);
    assert_eq!(interim.head, "HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"body").expect("write");
    let response = read_response(&mut stream, false);
    assert!(
        response.status == 200 && response.text().contains(r#""body": "body""#),
        "{}",
        response.text()
    );
    // Too large: 413 and no 100.
    rejected(
        &server,
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
        413,
    );
}

#[test]
fn slow_heads_idle_connections_and_slow_bodies_are_closed() {
    let server = Eddy::serve_guest(
        Handlers(&["inspect"]),
        &[
            "--header-timeout",
            "300ms",
            "--idle-timeout",
            "300ms",
            "--body-timeout",
            "300ms",
        ],
    );
    for (request, what) in [
        (&b"GET / HTTP/1.1\r\nHost"[..], "header"),
        (b"", "idle"),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
            "body",
        ),
    ] {
        let mut stream = connect(&server);
        stream.write_all(request).expect("write");
        let started = Instant::now();
        assert!(
            read_to_close(&mut stream).is_empty(),
            "{what}: no response expected"
        );
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_secs(5),
            "{what} timeout took {waited:?}"
        );
    }
    // The header timeout counts from the first byte, not per read: trickling does not help.
    let mut stream = connect(&server);
    let started = Instant::now();
    for byte in b"GET / HTTP/1.1\r\nHost: a\r\n" {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    assert!(read_to_close(&mut stream).is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "trickled head survived {:?}",
        started.elapsed()
    );
}

#[test]
fn head_204_and_304_have_no_body() {
    let server = Eddy::serve_guest(Handlers(&["router"]), &[]);
    let mut stream = connect(&server);
    stream
        .write_all(b"HEAD /users/ada HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    let response = read_response(&mut stream, true);
    assert_eq!(
        (response.status, response.header("Content-Length")),
        (200, Some("12"))
    );
    stream.write_all(b"DELETE /api/items/7 HTTP/1.1\r\nHost: a\r\n\r\nGET /users/bob HTTP/1.1\r\nHost: a\r\n\r\n").expect("write");
    let deleted = read_response(&mut stream, true);
    assert_eq!(
        (deleted.status, deleted.header("Content-Length")),
        (204, None),
        "{}",
        deleted.head
    );
    // Had HEAD or 204 carried a body, this response would start in the middle of it.
    let next = read_response(&mut stream, false);
    assert_eq!(
        (next.status, next.text()),
        (200, "Hello, bob!\n".to_owned())
    );
}

#[test]
fn header_injection_in_a_response_becomes_a_500() {
    let server = Eddy::serve_guest(Handlers(&["faulty"]), &[]);
    let response = roundtrip(server.addr, b"GET /split HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(response.status, 500);
    assert!(!response.head.contains("stolen"), "{}", response.head);
}

#[test]
fn inspect_round_trips_urlencoded_and_multipart_forms() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &[]);
    let form = b"a=1&b=&c=x+y%21";
    let mut request =
        format!("POST /form?q=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n", form.len())
            .into_bytes();
    request.extend_from_slice(form);
    let text = roundtrip(server.addr, &request).text();
    assert!(
        text.contains(r#""arguments": [["q", "1"], ["a", "1"], ["b", ""], ["c", "x y!"]]"#),
        "{text}"
    );
    let body = "--BOUNDARY\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue\r\n\
--BOUNDARY\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\n\
line one\r\nline two\r\n--BOUNDARY--\r\n";
    let request = format!(
        "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=BOUNDARY\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let text = roundtrip(server.addr, request.as_bytes()).text();
    assert!(
        text.contains(r#""arguments": [["field", "value"]]"#),
        "{text}"
    );
    assert!(
        text.contains(r#""files": [{"field": "upload", "filename": "notes.txt", "content_type": "text/plain", "size": 18}]"#),
        "{text}"
    );
}

#[test]
fn malformed_forms_are_served_and_read_as_no_arguments() {
    // No final boundary, and a stray escape in the query: arguments are parsed only when a
    // handler reads them, and then a malformed form body gives none, as it always did.
    let body = "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n";
    let request = |path: &str| {
        format!(
            "POST {path}?a=%zz HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let embedded = Eddy::serve_guest(Embedded, &[]);
    let response = roundtrip(embedded.addr, request("/form").as_bytes());
    assert_eq!(
        (response.status, response.text()),
        (200, "You requested /form?a=%zz\n".to_owned())
    );
    let server = Eddy::serve_guest(Handlers(&["/i/.*=inspect", "hello"]), &[]);
    let response = roundtrip(server.addr, request("/form").as_bytes());
    assert_eq!(
        (response.status, response.text()),
        (200, "Hello, world!".to_owned())
    );
    let text = roundtrip(server.addr, request("/i/form").as_bytes()).text();
    assert!(
        text.contains(r#""arguments": [["a", "%zz"]]"#) && text.contains(r#""files": []"#),
        "{text}"
    );
    assert!(text.contains(r#""query": "a=%zz""#), "{text}");
}

#[test]
fn xheaders_are_trusted_only_when_asked() {
    let request = b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9, 10.0.0.2\r\nX-Forwarded-Proto: https\r\n\r\n";
    let plain = Eddy::serve_guest(Handlers(&["inspect"]), &[]);
    let text = roundtrip(plain.addr, request).text();
    assert!(
        text.contains(r#""remote_ip": "127.0.0.1""#)
            && text.contains(&format!(r#""protocol": "{SCHEME}""#)),
        "{text}"
    );
    let proxied = Eddy::serve_guest(
        Handlers(&["inspect"]),
        &["--xheaders", "--trusted-downstream", "10.0.0.2"],
    );
    let text = roundtrip(proxied.addr, request).text();
    assert!(
        text.contains(r#""remote_ip": "203.0.113.9""#) && text.contains(r#""protocol": "https""#),
        "{text}"
    );
    let garbage = b"GET / HTTP/1.1\r\nHost: h\r\nX-Real-Ip: not-an-ip\r\n\r\n";
    let text = roundtrip(proxied.addr, garbage).text();
    assert!(text.contains(r#""remote_ip": "127.0.0.1""#), "{text}");
    let https = Eddy::serve_guest(Handlers(&["inspect"]), &["--protocol", "https"]);
    assert!(
        roundtrip(https.addr, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            .text()
            .contains(r#""protocol": "https""#)
    );
}

#[test]
fn gzip_both_ways_when_enabled() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &["--gzip", "--decompress-request"]);
    let request = format!(
        "GET /{} HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n",
        "p".repeat(1200)
    );
    let response = roundtrip(server.addr, request.as_bytes());
    assert_eq!(
        response.header("Content-Encoding"),
        Some("gzip"),
        "{}",
        response.head
    );
    assert_eq!(response.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(&response.body[..2], [0x1f, 0x8b]);
    // A gzip request body is decoded before the handler sees it.
    let packed: &[u8] = &[
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0, 0x86, 0xa6,
        0x10, 0x36, 5, 0, 0, 0,
    ];
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        packed.len()
    )
    .into_bytes();
    request.extend_from_slice(packed);
    let text = roundtrip(server.addr, &request).text();
    assert!(text.contains(r#""body": "hello""#), "{text}");
}
