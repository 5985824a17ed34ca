//! A standard `wasi:http` handler, built with the `wasip2` crate (`wasi:http@0.2.4`) for
//! `wasm32-wasip2`, as any toolchain's `wasi:http/proxy` template would be. Each path shows
//! one behaviour the tests check:
//!
//! - `/`: `hello from wasi:http`; `/echo`: the method, authority, `x-test` header and body;
//! - `/count`: how many requests this instance has answered (isolation);
//! - `/big?n=BYTES`: a body of `n` bytes written through the outgoing-body stream;
//!   `/early?n=BYTES`: the same, written before the response is set;
//! - `/trap`: panics; `/silent`: returns without a response; `/clock`: the wall clock;
//! - `/outbound?to=AUTHORITY`: sends `GET http://AUTHORITY/` and answers how it went
//!   (`&scheme=https` for HTTPS, `&path=/x` for another path, `&connect_ms=N` for a connect
//!   timeout);
//! - `/sleep?ms=N`: waits N ms on a WASI monotonic-clock pollable, then answers `slept`;
//! - `/spin?ms=N`: computes for N ms without waiting on anything, then answers `spun`;
//! - `/sse?n=N&ms=M`: Server-Sent Events: N events M ms apart, each `data: T` where T is the
//!   wall-clock millisecond it was due at;
//! - `/stream?n=BYTES`: a body of `n` bytes made and written piece by piece after `set`;
//! - `/sha256`: reads the request body as it arrives and answers its SHA-256 and length;
//! - `/fields?n=N&keep=1`: makes N header maps of 16 KiB each in the host, dropping each at
//!   once or (`keep=1`) holding them all, then answers how many it made.

use std::sync::atomic::{AtomicU64, Ordering};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, RequestOptions,
    ResponseOutparam, Scheme,
};
use wasip2::io::streams::StreamError;

/// Requests answered by this instance.
static ANSWERED: AtomicU64 = AtomicU64::new(0);

/// The largest piece written to the body stream at once.
const PIECE: usize = 64 * 1024;

struct Handler;

impl wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let count = ANSWERED.fetch_add(1, Ordering::Relaxed) + 1;
        let target = request.path_with_query().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let argument = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_default()
                .to_owned()
        };
        match path {
            "/" => respond(out, 200, b"hello from wasi:http\n"),
            "/echo" => {
                let test = request.headers().get("x-test");
                let text = format!(
                    "{:?} {} x-test={} body={}",
                    request.method(),
                    request.authority().unwrap_or_default(),
                    test.first()
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default(),
                    String::from_utf8_lossy(&read_body(&request)),
                );
                respond(out, 200, text.as_bytes());
            }
            "/count" => respond(out, 200, count.to_string().as_bytes()),
            "/big" | "/early" => {
                let size: usize = argument("n").parse().unwrap_or(0);
                let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
                respond_when(out, 200, &body, path == "/early");
            }
            "/trap" => panic!("the handler panicked on purpose"),
            "/silent" => drop(out),
            "/clock" => {
                let now = wasip2::clocks::wall_clock::now();
                respond(out, 200, now.seconds.to_string().as_bytes());
            }
            "/outbound" => {
                let scheme = if argument("scheme") == "https" {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                let path = argument("path");
                let path = if path.is_empty() { "/" } else { &path };
                let connect = argument("connect_ms").parse::<u64>().ok();
                let text = outbound(&scheme, &argument("to"), path, connect);
                respond(out, 200, text.as_bytes());
            }
            "/sleep" => {
                let ms: u64 = argument("ms").parse().unwrap_or(0);
                wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                respond(out, 200, b"slept");
            }
            "/sse" => {
                let count: u64 = argument("n").parse().unwrap_or(10);
                let gap: u64 = argument("ms").parse().unwrap_or(100);
                server_sent_events(out, count, gap);
            }
            "/stream" => {
                let size: u64 = argument("n").parse().unwrap_or(0);
                stream_bytes(out, size);
            }
            "/sha256" => {
                let (digest, length) = hash_body(&request);
                respond(out, 200, format!("{digest} {length}").as_bytes());
            }
            "/fields" => {
                let count: usize = argument("n").parse().unwrap_or(0);
                let keep = argument("keep") == "1";
                let value = vec![b'v'; 16 * 1024];
                let mut kept = Vec::new();
                let mut made = 0;
                for _ in 0..count {
                    let fields = Fields::new();
                    if fields.append("x-filler", &value).is_err() {
                        break;
                    }
                    made += 1;
                    if keep {
                        kept.push(fields);
                    }
                }
                respond(out, 200, format!("made {made}").as_bytes());
            }
            "/spin" => {
                let ms: u64 = argument("ms").parse().unwrap_or(0);
                let until = wasip2::clocks::monotonic_clock::now() + ms * 1_000_000;
                let mut turns = 0u64;
                while wasip2::clocks::monotonic_clock::now() < until {
                    turns = turns.wrapping_add(1);
                }
                respond(out, 200, format!("spun {}", turns > 0).as_bytes());
            }
            _ => respond(out, 404, b"no such probe\n"),
        }
    }
}

/// Sets a `text/event-stream` response, then writes `count` events `gap_ms` apart.
fn server_sent_events(out: ResponseOutparam, count: u64, gap_ms: u64) {
    let headers = Fields::new();
    let _ = headers.append("content-type", b"text/event-stream");
    let response = OutgoingResponse::new(headers);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    let Ok(stream) = outgoing.write() else {
        return;
    };
    let now_ms = || {
        let now = wasip2::clocks::wall_clock::now();
        now.seconds * 1000 + u64::from(now.nanoseconds / 1_000_000)
    };
    let start = now_ms();
    for event in 0..count {
        let due = start + event * gap_ms;
        let wait = due.saturating_sub(now_ms());
        if wait > 0 {
            wasip2::clocks::monotonic_clock::subscribe_duration(wait * 1_000_000).block();
        }
        let line = format!("data: {due}\n\n");
        if stream.blocking_write_and_flush(line.as_bytes()).is_err() {
            return;
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}

/// Sets a response, then makes and writes `size` bytes a piece at a time.
fn stream_bytes(out: ResponseOutparam, size: u64) {
    let response = OutgoingResponse::new(Fields::new());
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    let Ok(stream) = outgoing.write() else {
        return;
    };
    let piece: Vec<u8> = (0..PIECE).map(|i| b'a' + (i % 26) as u8).collect();
    let mut left = size;
    while left > 0 {
        let room = match stream.check_write() {
            Ok(0) => {
                stream.subscribe().block();
                continue;
            }
            Ok(room) => room.min(left).min(PIECE as u64) as usize,
            Err(_) => return,
        };
        if stream.write(&piece[..room]).is_err() {
            return;
        }
        left -= room as u64;
    }
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}

/// Reads the request body as it arrives: its SHA-256 (hex) and length.
fn hash_body(request: &IncomingRequest) -> (String, u64) {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut length = 0u64;
    if let Ok(body) = request.consume()
        && let Ok(stream) = body.stream()
    {
        while let Ok(piece) = stream.blocking_read(PIECE as u64) {
            length += piece.len() as u64;
            hasher.update(&piece);
        }
    }
    let digest = hasher.finalize();
    let hex = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    (hex, length)
}

/// Reads a whole request body.
fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let Ok(body) = request.consume() else {
        return Vec::new();
    };
    let Ok(stream) = body.stream() else {
        return Vec::new();
    };
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(PIECE as u64) {
            Ok(piece) => bytes.extend_from_slice(&piece),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(_)) => break,
        }
    }
    bytes
}

/// Sends `GET SCHEME://AUTHORITY/PATH` and says how it went; `connect_ms` bounds the connect.
fn outbound(scheme: &Scheme, authority: &str, path: &str, connect_ms: Option<u64>) -> String {
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(scheme));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let options = connect_ms.map(|ms| {
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(ms * 1_000_000));
        options
    });
    match outgoing_handler::handle(request, options) {
        Err(code) => format!("refused: {code:?}"),
        Ok(future) => {
            future.subscribe().block();
            match future.get() {
                Some(Ok(Ok(response))) => {
                    // Read to the end, so the host may keep the connection for the next request.
                    if let Ok(body) = response.consume()
                        && let Ok(stream) = body.stream()
                    {
                        while stream.blocking_read(PIECE as u64).is_ok() {}
                    }
                    format!("status: {}", response.status())
                }
                Some(Ok(Err(code))) => format!("failed: {code:?}"),
                other => format!("no response: {other:?}"),
            }
        }
    }
}

/// Sends a response, writing the body through the stream a piece at a time.
fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    respond_when(out, status, body, false);
}

/// Sends a response; with `early`, the body is written before the response is set.
fn respond_when(out: ResponseOutparam, status: u16, body: &[u8], early: bool) {
    let response = OutgoingResponse::new(Fields::new());
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    let mut out = Some(out);
    let mut response = Some(response);
    if !early && let (Some(out), Some(response)) = (out.take(), response.take()) {
        ResponseOutparam::set(out, Ok(response));
    }
    {
        let Ok(stream) = outgoing.write() else {
            return;
        };
        let mut rest = body;
        while !rest.is_empty() {
            let room = match stream.check_write() {
                Ok(0) => {
                    stream.subscribe().block();
                    continue;
                }
                Ok(room) => usize::try_from(room).unwrap_or(PIECE).min(PIECE),
                Err(_) => return,
            };
            let (piece, later) = rest.split_at(room.min(rest.len()));
            if stream.write(piece).is_err() {
                return;
            }
            rest = later;
        }
        if stream.blocking_flush().is_err() {
            return;
        }
    }
    if let (Some(out), Some(response)) = (out, response) {
        ResponseOutparam::set(out, Ok(response));
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

wasip2::http::proxy::export!(Handler);
