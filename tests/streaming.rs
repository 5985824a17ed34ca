//! Streaming responses: chunked on HTTP/1.1 (pieces arrive as they are written, the
//! connection stays open), close-delimited on HTTP/1.0; and streamed request bodies, read by
//! the handler in pieces instead of buffered.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use util::Guest::Component;
use util::{Eddy, read_response, read_to_close};

#[test]
fn http11_streams_chunks_as_they_are_written_and_keeps_the_connection() {
    let server = Eddy::serve_guest(Component("streamer"), &[]);
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
    let server = Eddy::serve_guest(Component("streamer"), &[]);
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
    let server = Eddy::serve_guest(Component("streamer"), &[]);
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
    let server = Eddy::serve_guest(Component("streamer"), &["--max-write-buffer-size", "4MiB"]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /big?mb=32 HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    let response = read_response(&mut stream, false);
    assert_eq!(response.body.len(), 32 << 20);
    assert!(response.body.iter().all(|&b| b == b'x'));
}

/// Sends `body` as a `POST` to `path` on a new connection (chunked when `chunked`), then a
/// pipelined `GET /after`; returns both responses.
fn upload_then_get(
    addr: std::net::SocketAddr,
    path: &str,
    body: &[u8],
    chunked: bool,
) -> (util::HttpResponse, util::HttpResponse) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let writer = stream.try_clone().expect("clone");
    let path = path.to_owned();
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        let mut writer = writer;
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_owned()
        } else {
            format!("Content-Length: {}", body.len())
        };
        let head = format!("POST {path} HTTP/1.1\r\nHost: a\r\n{framing}\r\n\r\n");
        writer.write_all(head.as_bytes()).expect("head");
        for piece in body.chunks(100_000) {
            if chunked {
                writer
                    .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .expect("size");
                writer.write_all(piece).expect("piece");
                writer.write_all(b"\r\n").expect("crlf");
            } else {
                writer.write_all(piece).expect("piece");
            }
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n").expect("last chunk");
        }
        writer
            .write_all(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
            .expect("pipelined");
    });
    let first = util::read_response(&mut stream, false);
    let second = util::read_response(&mut stream, false);
    sender.join().expect("sender");
    (first, second)
}

#[test]
fn a_streaming_handler_reads_a_body_larger_than_the_body_budget() {
    // A 16 MiB guest has a 4 MiB body budget: an 8 MB buffered body gets 503, a streamed one
    // passes through in pieces.
    let eddy = Eddy::serve_guest(Component("streamer"), &["--max-memory", "16MiB"]);
    let body: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    for chunked in [false, true] {
        let (counted, after) = upload_then_get(eddy.addr, "/count", &body, chunked);
        assert_eq!(
            counted.text(),
            format!("counted 8000000 sum {sum}"),
            "chunked: {chunked}"
        );
        assert_eq!(after.text(), "whole", "the pipelined request after it");
    }
    // A body the handler does not read is discarded, and the connection goes on.
    let (ignored, after) = upload_then_get(eddy.addr, "/ignore", &body, false);
    assert_eq!(ignored.text(), "ignored");
    assert_eq!(after.text(), "whole");
    // The same body to a handler that does not stream it is refused by the budget.
    let mut stream = eddy.connect();
    util::write_all(
        &mut stream,
        b"POST /whole HTTP/1.1\r\nHost: a\r\nContent-Length: 8000000\r\n\r\n",
    );
    assert_eq!(util::read_response(&mut stream, false).status, 503);
}
