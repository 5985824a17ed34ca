//! A standard `wasi:http` handler, built with the `wasip2` crate (`wasi:http@0.2.4`) for
//! `wasm32-wasip2`, as any toolchain's `wasi:http/proxy` template would be. Each path shows
//! one behaviour the tests check:
//!
//! - `/`: `hello from wasi:http`; `/echo`: the method, authority, `x-test` header and body;
//! - `/count`: how many requests this instance has answered (isolation);
//! - `/big?n=BYTES`: a body of `n` bytes written through the outgoing-body stream;
//!   `/early?n=BYTES`: the same, written before the response is set;
//! - `/trap`: panics; `/silent`: returns without a response; `/clock`: the wall clock;
//! - `/outbound?to=AUTHORITY`: sends `GET http://AUTHORITY/` and answers how it went.

use std::sync::atomic::{AtomicU64, Ordering};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
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
                let text = outbound(&argument("to"));
                respond(out, 200, text.as_bytes());
            }
            _ => respond(out, 404, b"no such probe\n"),
        }
    }
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

/// Sends `GET http://AUTHORITY/` and says how it went.
fn outbound(authority: &str) -> String {
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some("/"));
    match outgoing_handler::handle(request, None) {
        Err(code) => format!("refused: {code:?}"),
        Ok(future) => {
            future.subscribe().block();
            match future.get() {
                Some(Ok(Ok(response))) => format!("status: {}", response.status()),
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
