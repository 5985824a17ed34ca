//! Streaming responses: chunked on HTTP/1.1 (pieces arrive as they are written, the
//! connection stays open), close-delimited on HTTP/1.0.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use util::{Eddy, guest, read_response, read_to_close};

fn streamer() -> Eddy {
    Eddy::serve(&[
        guest("streamer").to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
    ])
}

#[test]
fn http11_streams_chunks_as_they_are_written_and_keeps_the_connection() {
    let server = streamer();
    let mut stream = server.connect();
    stream
        .write_all(b"GET /stream?n=5 HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        reader.read_line(&mut head).expect("head line");
    }
    assert!(
        head.contains("Transfer-Encoding: chunked\r\n") && !head.contains("Content-Length"),
        "{head}"
    );
    let started = Instant::now();
    let mut body = String::new();
    let mut arrivals = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).expect("chunk size");
        let size = usize::from_str_radix(size.trim_end(), 16).expect("hex size");
        let mut data = vec![0; size + 2];
        reader.read_exact(&mut data).expect("chunk data");
        assert_eq!(&data[size..], b"\r\n");
        if size == 0 {
            break;
        }
        arrivals.push(started.elapsed());
        body.push_str(std::str::from_utf8(&data[..size]).expect("utf-8"));
    }
    assert_eq!(body, "piece 0\npiece 1\npiece 2\npiece 3\npiece 4\n");
    // Pieces are written 20 ms apart: the first arrives well before the last is written.
    let spread = arrivals[arrivals.len() - 1] - arrivals[0];
    assert!(
        spread >= Duration::from_millis(40),
        "the pieces arrived together: {arrivals:?}"
    );
    // The connection is still usable.
    stream
        .write_all(b"GET /whole HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    let mut stream = reader.into_inner();
    assert_eq!(read_response(&mut stream, false).text(), "whole");
}

#[test]
fn http10_streams_until_the_close() {
    let server = streamer();
    let mut stream = server.connect();
    stream
        .write_all(b"GET /stream?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .expect("write");
    let all = String::from_utf8(read_to_close(&mut stream)).expect("utf-8");
    let (head, body) = all.split_once("\r\n\r\n").expect("head");
    assert!(
        head.starts_with("HTTP/1.0 200") && head.contains("Connection: close"),
        "{head}"
    );
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert_eq!(body, "piece 0\npiece 1\n");
}

#[test]
fn head_requests_get_no_streamed_body() {
    let server = streamer();
    let mut stream = server.connect();
    stream
        .write_all(
            b"HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\nGET /whole HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .expect("write");
    let head = read_response(&mut stream, true);
    assert_eq!(head.status, 200);
    assert_eq!(read_response(&mut stream, false).text(), "whole");
}

#[test]
fn whole_responses_larger_than_the_write_buffer_arrive_complete() {
    let server = Eddy::serve(&[
        guest("streamer").to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
        "--max-write-buffer-size",
        "4MiB",
    ]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /big?mb=32 HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    let response = read_response(&mut stream, false);
    assert_eq!(response.body.len(), 32 << 20);
    assert!(response.body.iter().all(|&b| b == b'x'));
}
