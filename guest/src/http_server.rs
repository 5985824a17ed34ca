//! Tornado's `HTTPServer` on IOStream: each connection runs the sans-IO
//! [`eddy_http::ServerConn`] over partial reads, answers every request with a [`Handler`]
//! (whole responses) or a [`StreamingHandler`] (a body written in pieces, chunked on
//! HTTP/1.1) and enforces the idle, header and body timeouts.
//!
//! This module only moves bytes between the stream and the state machine; parsing, framing
//! and response encoding live in `eddy-http`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use eddy_http::chunked::{LAST_CHUNK, write_chunk};
use eddy_http::request::RequestParts;
use eddy_http::response::http_date;
use eddy_http::xheaders::{real_ip, real_scheme};
use eddy_http::{
    BodyBudget, BodyStep, EncodeOptions, Handler, Limits, Message, Phase, Rejection, Request,
    RequestHead, Response, ServerConn, Step, StreamFraming, Version, encode, encode_stream_head,
};

use crate::host::AccessEntry;
use crate::iostream::{IOStream, StreamError};
use crate::tcp_server::{TcpServer, listen};
use crate::timer::timeout;
use crate::{Level, access_log, log, wall_time};

/// Bytes asked of the stream per read; the parser never holds more than one read beyond the
/// current request.
pub const READ_SIZE: usize = 64 * 1024;

/// Responses are handed to the stream in pieces of this size, each awaited.
pub const WRITE_PIECE: usize = 1024 * 1024;

/// The default body budget of a worker when the host passes none (a quarter of the default
/// 256 MiB guest memory).
pub const DEFAULT_BODY_BUDGET: usize = 64 * 1024 * 1024;

/// How often a blocked write checks whether the client took any bytes: the write timeout
/// counts only time without progress, measured to this fraction of it.
const WRITE_PROGRESS_CHECKS: u32 = 4;

/// The answer to `Expect: 100-continue` (RFC 9110 §10.1.1).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the HTTP server behaves; every field is an `eddy serve` flag.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Head and body limits.
    pub limits: Limits,
    /// Close after every response (`--no-keep-alive`).
    pub no_keep_alive: bool,
    /// How long a kept-alive connection may wait for the next request.
    pub idle_timeout: Duration,
    /// How long a request head may take from its first byte.
    pub header_timeout: Duration,
    /// How long a whole body may take from the end of its head (a deadline, not a per-read
    /// timer).
    pub body_timeout: Duration,
    /// How long a response may make no progress (the client takes no bytes) before the
    /// connection is cut.
    pub write_timeout: Duration,
    /// Bytes of request bodies the worker may buffer at once, all connections together; a
    /// body that does not fit gets 503.
    pub body_budget: usize,
    /// Trust X-Real-Ip / X-Forwarded-For / X-Scheme / X-Forwarded-Proto (`--xheaders`).
    pub xheaders: bool,
    /// Proxies skipped when walking X-Forwarded-For from the right.
    pub trusted_downstream: Vec<String>,
    /// The protocol requests report (`--protocol`), `http` by default.
    pub protocol: Option<String>,
    /// Compress responses (`--gzip`).
    pub gzip: bool,
    /// Write an access-log entry per request (on unless `--no-access-log`).
    pub access_log: bool,
    /// The Host of HTTP/1.0 requests without one.
    pub default_host: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            no_keep_alive: false,
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            body_budget: DEFAULT_BODY_BUDGET,
            xheaders: false,
            trusted_downstream: Vec::new(),
            protocol: None,
            gzip: false,
            access_log: true,
            default_host: "127.0.0.1".into(),
        }
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("option {name}: {value:?} is not valid"))
}

fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("option {name}: {value:?} is not true or false")),
    }
}

impl HttpOptions {
    /// Reads the options the host passed at start-up (sizes in bytes, durations in
    /// milliseconds, booleans as `true`/`false`); unknown names are left for others.
    ///
    /// # Errors
    /// A known option with a value that does not parse, named in the message.
    pub fn from_start_options(options: &[(String, String)]) -> Result<Self, String> {
        let mut out = Self::default();
        let millis = |name: &str, value: &str| parse::<u64>(name, value).map(Duration::from_millis);
        for (name, value) in options {
            let (name, value) = (name.as_str(), value.as_str());
            match name {
                "max-header-size" => out.limits.max_header_size = parse(name, value)?,
                "max-body-size" => out.limits.max_body_size = parse(name, value)?,
                "decompress-request" => out.limits.decompress = parse_bool(name, value)?,
                "no-keep-alive" => out.no_keep_alive = parse_bool(name, value)?,
                "idle-timeout" => out.idle_timeout = millis(name, value)?,
                "header-timeout" => out.header_timeout = millis(name, value)?,
                "body-timeout" => out.body_timeout = millis(name, value)?,
                "write-timeout" => out.write_timeout = millis(name, value)?,
                "body-budget" => out.body_budget = parse(name, value)?,
                "xheaders" => out.xheaders = parse_bool(name, value)?,
                "trusted-downstream" => out.trusted_downstream.push(value.to_owned()),
                "protocol" => out.protocol = Some(value.to_owned()),
                "gzip" => out.gzip = parse_bool(name, value)?,
                "access-log" => out.access_log = parse_bool(name, value)?,
                "default-host" => out.default_host = value.to_owned(),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Answers requests by writing responses, possibly in pieces (Tornado's `RequestHandler`
/// with `flush()`): call [`ResponseWriter::write_head`], then [`ResponseWriter::write`] as
/// often as needed, then [`ResponseWriter::finish`] (or just return; the server finishes).
pub trait StreamingHandler: 'static {
    /// Answers `request` through `response`.
    fn respond<'a>(
        &'a self,
        request: Request,
        response: ResponseWriter<'a>,
    ) -> impl Future<Output = ()>;

    /// Whether `respond` reads the body of requests like `head` itself, piece by piece, with
    /// [`ResponseWriter::read_body`] (Tornado's `@stream_request_body`): the request then comes
    /// as soon as its head is in, with an empty `body`, and the body takes no share of the
    /// worker's body budget. What the handler leaves unread is discarded. No by default.
    fn streams_body(&self, head: &RequestHead) -> bool {
        let _ = head;
        false
    }
}

/// A whole-response [`Handler`] as a [`StreamingHandler`].
pub struct Whole<H>(pub H);

impl<H: Handler + 'static> StreamingHandler for Whole<H> {
    async fn respond<'a>(&'a self, request: Request, response: ResponseWriter<'a>) {
        let answer = self.0.handle(&request);
        let _ = response.send(answer).await;
    }
}

/// An HTTP/1.1 server (Tornado's `HTTPServer(handler)`).
pub struct HttpServer<S> {
    options: Rc<HttpOptions>,
    handler: Rc<S>,
}

impl<S: StreamingHandler> HttpServer<S> {
    /// A server with `options` answering with `handler`; its connections share one body
    /// budget of `options.body_budget` bytes.
    pub fn new(mut options: HttpOptions, handler: S) -> Self {
        options.limits.body_budget = BodyBudget::new(options.body_budget);
        Self {
            options: Rc::new(options),
            handler: Rc::new(handler),
        }
    }
}

/// Serves HTTP with `handler` (whole responses) on the host's listeners, with the options
/// the host passed.
///
/// # Errors
/// An HTTP option the host passed does not parse.
pub fn serve_http<H: Handler + 'static>(handler: H) -> Result<(), String> {
    serve_http_streaming(Whole(handler))
}

/// Serves HTTP with a [`StreamingHandler`] on the host's listeners.
///
/// # Errors
/// An HTTP option the host passed does not parse.
pub fn serve_http_streaming<S: StreamingHandler>(handler: S) -> Result<(), String> {
    let options = HttpOptions::from_start_options(&crate::runtime::raw_options())?;
    listen(HttpServer::new(options, handler));
    Ok(())
}

impl<S: StreamingHandler> TcpServer for HttpServer<S> {
    async fn handle_stream(&self, stream: IOStream, address: String) {
        let connection = Connection {
            stream,
            peer_ip: peer_ip(&address),
            options: self.options.clone(),
        };
        connection.run(&*self.handler).await;
    }
}

/// How far a response got, shared between the writer and the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// Nothing sent yet.
    NotStarted,
    /// The head is out; the body follows with this framing (and the keep-alive decision).
    Body(StreamFraming, bool),
    /// Complete; whether the connection may stay open.
    Done(bool),
}

/// What one response put on the wire, for the access log.
#[derive(Default)]
struct Meter {
    status: Cell<u16>,
    /// A write failed: the connection cannot carry another response.
    failed: Cell<bool>,
}

/// Where a streamed request body comes from: the connection's parser and socket.
#[derive(Clone, Copy)]
struct BodySource<'a> {
    conn: &'a RefCell<ServerConn>,
    connection: &'a Connection,
    /// When the head ended: the body deadline counts from there.
    started: crate::host::Instant,
}

/// Writes one response, whole or in pieces (and reads a streamed request body).
pub struct ResponseWriter<'a> {
    stream: &'a IOStream,
    body: Option<BodySource<'a>>,
    progress: &'a Cell<Progress>,
    meter: &'a Meter,
    method: String,
    version: Version,
    accept_encoding: Option<Vec<u8>>,
    keep_alive: bool,
    gzip: bool,
    write_timeout: Duration,
}

impl ResponseWriter<'_> {
    /// Hands bytes to the stream within the write timeout; a client that stops reading for
    /// that long is cut off.
    ///
    /// Large writes go in pieces of [`WRITE_PIECE`], each awaited, so a response of any size
    /// flows at the client's pace instead of filling the write buffer.
    async fn put(&self, bytes: impl Into<Vec<u8>>) -> Result<(), StreamError> {
        let bytes = bytes.into();
        let result = if bytes.len() <= WRITE_PIECE {
            self.put_piece(bytes).await
        } else {
            let mut result = Ok(());
            for piece in bytes.chunks(WRITE_PIECE) {
                result = self.put_piece(piece.to_vec()).await;
                if result.is_err() {
                    break;
                }
            }
            result
        };
        if result.is_err() {
            self.meter.failed.set(true);
        }
        result
    }

    /// Writes one piece; the write timeout counts only time in which the client took no
    /// bytes at all (like nginx's `send_timeout`), so a slow but steady reader is never cut.
    async fn put_piece(&self, bytes: Vec<u8>) -> Result<(), StreamError> {
        let mut write = std::pin::pin!(self.stream.write(bytes));
        let check = (self.write_timeout / WRITE_PROGRESS_CHECKS).max(Duration::from_millis(1));
        let mut seen = self.stream.bytes_written();
        let mut stalled = Duration::ZERO;
        loop {
            if let Ok(result) = timeout(check, write.as_mut()).await {
                return result;
            }
            let written = self.stream.bytes_written();
            if written > seen {
                seen = written;
                stalled = Duration::ZERO;
                continue;
            }
            stalled += check;
            if stalled >= self.write_timeout {
                log(
                    Level::Debug,
                    &format!(
                        "closing: the client read nothing for {:?}",
                        self.write_timeout
                    ),
                );
                self.stream.close();
                return Err(StreamError::Closed(None));
            }
        }
    }

    /// The next piece of a streamed request body ([`StreamingHandler::streams_body`]);
    /// `Ok(None)` once it is complete, or at once when the body was not streamed.
    ///
    /// # Errors
    /// The body is malformed or too large (413), was cut short, or did not arrive within the
    /// body timeout; the connection closes after the response.
    pub async fn read_body(&self) -> Result<Option<Vec<u8>>, StreamError> {
        let Some(source) = self.body else {
            return Ok(None);
        };
        loop {
            let step = source.conn.borrow_mut().read_body();
            match step {
                BodyStep::Data(bytes) => return Ok(Some(bytes)),
                BodyStep::End => return Ok(None),
                BodyStep::Continue => self.stream.write(CONTINUE).await?,
                BodyStep::NeedData => {
                    let read = source
                        .connection
                        .read(source.conn, Phase::Body, Some(source.started))
                        .await;
                    if !read {
                        return Err(StreamError::Closed(None));
                    }
                }
                BodyStep::Failed(rejection) => {
                    log(
                        Level::Debug,
                        &format!("a streamed request body failed: {}", rejection.reason),
                    );
                    return Err(StreamError::Closed(None));
                }
            }
        }
    }

    /// Whether the connection stays open after this response: not once the host drains.
    fn keep(&self) -> bool {
        self.keep_alive && !crate::draining()
    }

    fn encode_options<'o>(&'o self, date: &'o str) -> EncodeOptions<'o> {
        EncodeOptions {
            method: &self.method,
            version: self.version,
            accept_encoding: self.accept_encoding.as_deref(),
            keep_alive: self.keep(),
            gzip: self.gzip,
            date,
        }
    }

    /// Sends a whole response (status, headers and body) and finishes.
    ///
    /// # Errors
    /// The response was already started, or the stream closed.
    pub async fn send(&self, response: Response) -> Result<(), StreamError> {
        if self.progress.get() != Progress::NotStarted {
            return Err(StreamError::Closed(None));
        }
        let date = http_date(wall_time().0);
        self.meter
            .status
            .set(if (100..=999).contains(&response.status) {
                response.status
            } else {
                500
            });
        let bytes = encode(response, &self.encode_options(&date));
        self.progress.set(Progress::Done(self.keep()));
        self.put(bytes).await
    }

    /// Sends the status and headers of `head` (its body is ignored); the body follows in
    /// [`ResponseWriter::write`] calls, chunked on HTTP/1.1, until the close on HTTP/1.0.
    ///
    /// # Errors
    /// The response was already started, or the stream closed.
    pub async fn write_head(&self, head: Response) -> Result<(), StreamError> {
        if self.progress.get() != Progress::NotStarted {
            return Err(StreamError::Closed(None));
        }
        let date = http_date(wall_time().0);
        let status = head.status;
        match encode_stream_head(head, &self.encode_options(&date)) {
            Ok((bytes, framing, keep_alive)) => {
                self.meter.status.set(status);
                self.progress.set(Progress::Body(framing, keep_alive));
                self.put(bytes).await
            }
            Err(_) => {
                // A header with CR/LF/NUL: never split the response.
                log(Level::Warn, "a response header was invalid; answering 500");
                Box::pin(self.send(Response::error(500))).await
            }
        }
    }

    /// Writes a piece of the body (after `write_head`; starts a 200 response if not).
    ///
    /// # Errors
    /// The response is finished, or the stream closed.
    pub async fn write(&self, chunk: &[u8]) -> Result<(), StreamError> {
        if self.progress.get() == Progress::NotStarted {
            self.write_head(Response::new(200)).await?;
        }
        match self.progress.get() {
            Progress::Body(StreamFraming::Chunked, _) if !chunk.is_empty() => {
                let mut framed = Vec::with_capacity(chunk.len() + 16);
                write_chunk(&mut framed, chunk);
                self.put(framed).await
            }
            Progress::Body(StreamFraming::UntilClose, _) => self.put(chunk.to_vec()).await,
            Progress::Body(..) => Ok(()),
            Progress::NotStarted | Progress::Done(_) => Err(StreamError::Closed(None)),
        }
    }

    /// Ends the response (the last chunk on HTTP/1.1).
    ///
    /// # Errors
    /// The stream closed.
    pub async fn finish(&self) -> Result<(), StreamError> {
        if let Progress::Body(StreamFraming::Chunked, keep) = self.progress.get() {
            self.progress.set(Progress::Done(keep));
            return self.put(LAST_CHUNK).await;
        }
        finish(self.stream, self.progress).await
    }
}

/// Completes whatever the writer left open.
async fn finish(stream: &IOStream, progress: &Cell<Progress>) -> Result<(), StreamError> {
    match progress.get() {
        Progress::Body(StreamFraming::Chunked, keep) => {
            progress.set(Progress::Done(keep));
            stream.write(LAST_CHUNK).await
        }
        Progress::Body(StreamFraming::UntilClose, _) => {
            progress.set(Progress::Done(false));
            Ok(())
        }
        Progress::Body(StreamFraming::NoBody, keep) => {
            progress.set(Progress::Done(keep));
            Ok(())
        }
        Progress::NotStarted | Progress::Done(_) => Ok(()),
    }
}

/// The output of [`first`].
enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs two futures until the first finishes (the other is dropped).
async fn first<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(out) = a.as_mut().poll(cx) {
            return std::task::Poll::Ready(Either::Left(out));
        }
        if let std::task::Poll::Ready(out) = b.as_mut().poll(cx) {
            return std::task::Poll::Ready(Either::Right(out));
        }
        std::task::Poll::Pending
    })
    .await
}

/// The IP of `ip:port` or `[ip]:port`.
fn peer_ip(address: &str) -> String {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

fn now_nanos() -> u64 {
    let (secs, nanos) = wall_time();
    secs.saturating_mul(1_000_000_000)
        .saturating_add(u64::from(nanos))
}

struct Connection {
    stream: IOStream,
    peer_ip: String,
    options: Rc<HttpOptions>,
}

impl Connection {
    async fn run<S: StreamingHandler>(self, handler: &S) {
        let conn = RefCell::new(ServerConn::new(self.options.limits.clone()));
        let mut head_started: Option<(crate::host::Instant, u64)> = None;
        let mut body_started: Option<crate::host::Instant> = None;
        loop {
            let step = conn
                .borrow_mut()
                .step_with(|head| handler.streams_body(head));
            match step {
                Step::NeedData(phase) => {
                    if phase != Phase::Idle && head_started.is_none() {
                        head_started = Some((crate::now(), now_nanos()));
                    }
                    if phase == Phase::Body && body_started.is_none() {
                        body_started = Some(crate::now());
                    }
                    let started = match phase {
                        Phase::Body => body_started,
                        _ => head_started.map(|(at, _)| at),
                    };
                    if !self.read(&conn, phase, started).await {
                        return;
                    }
                }
                Step::Continue => {
                    // Resolves once handed to the host; a failure shows on the next read.
                    let _ = self.stream.write(CONTINUE).await;
                }
                Step::Request(message) => {
                    // A streamed body is read (or discarded) after this, under its deadline.
                    body_started = message.body_streamed.then(crate::now);
                    let start = head_started.take().map_or_else(now_nanos, |(_, wall)| wall);
                    let source = body_started.map(|started| BodySource {
                        conn: &conn,
                        connection: &self,
                        started,
                    });
                    if !self.answer(handler, *message, start, source).await {
                        return;
                    }
                }
                Step::Reject(rejection) => return self.reject(rejection).await,
                Step::Finished => return self.stream.close(),
            }
        }
    }

    /// Reads more bytes for `conn` within the phase's time; false when the connection ends.
    ///
    /// The head and the body each have a deadline counted from `started` (the head's first
    /// byte, the end of the head), as Tornado's `header_timeout` and `body_timeout`: a client
    /// trickling bytes cannot stretch them.
    async fn read(
        &self,
        conn: &RefCell<ServerConn>,
        phase: Phase,
        started: Option<crate::host::Instant>,
    ) -> bool {
        let left = |deadline: Duration| match started {
            Some(started) => {
                deadline.saturating_sub(Duration::from_nanos(crate::now().saturating_sub(started)))
            }
            None => deadline,
        };
        let limit = match phase {
            Phase::Idle => self.options.idle_timeout,
            Phase::Head => left(self.options.header_timeout),
            Phase::Body => left(self.options.body_timeout),
        };
        if phase == Phase::Idle && crate::draining() {
            self.stream.close();
            return false;
        }
        let read = timeout(limit, self.stream.read_bytes(READ_SIZE, true));
        let outcome = if phase == Phase::Idle {
            // An idle connection closes as soon as the host drains.
            match first(read, crate::drain_started()).await {
                Either::Left(outcome) => outcome,
                Either::Right(()) => {
                    self.stream.close();
                    return false;
                }
            }
        } else {
            read.await
        };
        match outcome {
            Ok(Ok(bytes)) => conn.borrow_mut().feed(&bytes),
            Ok(Err(_)) => conn.borrow_mut().feed_eof(),
            Err(_) => {
                log(
                    Level::Debug,
                    &format!(
                        "closing {}: {phase:?} timeout after {limit:?}",
                        self.peer_ip
                    ),
                );
                self.stream.close();
                return false;
            }
        }
        true
    }

    fn request(&self, message: Message, start_time: u64) -> (Request, bool) {
        let Message {
            head,
            body,
            keep_alive,
            body_streamed: _,
        } = message;
        let options = &self.options;
        let remote_ip = if options.xheaders {
            real_ip(&head.headers, &self.peer_ip, &options.trusted_downstream)
        } else {
            self.peer_ip.clone()
        };
        let default_protocol = options.protocol.as_deref().unwrap_or("http");
        let protocol = if options.xheaders {
            real_scheme(&head.headers, default_protocol)
        } else {
            default_protocol.to_owned()
        };
        let host = head
            .headers
            .get_str("Host")
            .map_or_else(|| options.default_host.clone(), str::to_owned);
        let parts = RequestParts {
            method: head.method,
            uri: head.uri,
            version: head.version,
            headers: head.headers,
            body,
            remote_ip,
            protocol,
            host,
            start_time,
        };
        (
            Request::new(parts),
            keep_alive && !options.no_keep_alive && !crate::draining(),
        )
    }

    /// Answers one request; false when the connection ends with it.
    async fn answer<S: StreamingHandler>(
        &self,
        handler: &S,
        message: Message,
        start_time: u64,
        body: Option<BodySource<'_>>,
    ) -> bool {
        let (request, keep_alive) = self.request(message, start_time);
        let written_before = self.stream.bytes_written();
        let progress = Cell::new(Progress::NotStarted);
        let meter = Meter::default();
        let (method, version) = (request.method.clone(), request.version);
        let (path, remote) = (request.path.clone(), request.remote_ip.clone());
        let writer = |accept_encoding: Option<Vec<u8>>| ResponseWriter {
            stream: &self.stream,
            body,
            progress: &progress,
            meter: &meter,
            method: method.clone(),
            version,
            accept_encoding,
            keep_alive,
            gzip: self.options.gzip,
            write_timeout: self.options.write_timeout,
        };
        let accept_encoding = request.headers.get("Accept-Encoding").map(<[u8]>::to_vec);
        handler.respond(request, writer(accept_encoding)).await;
        if progress.get() == Progress::NotStarted {
            // The handler wrote nothing: an empty 200, like Tornado's auto-finish.
            let _ = writer(None).send(Response::new(200)).await;
        }
        let finished = finish(&self.stream, &progress).await;
        let complete = finished.is_ok() && !meter.failed.get() && !self.stream.closed();
        if self.options.access_log {
            access_log(AccessEntry {
                method,
                path,
                status: meter.status.get(),
                bytes: self.stream.bytes_written().saturating_sub(written_before),
                complete,
                duration_us: now_nanos().saturating_sub(start_time) / 1000,
                remote,
            });
        }
        let keep = matches!(progress.get(), Progress::Done(true));
        if finished.is_err() || meter.failed.get() || !keep || self.stream.closed() {
            self.stream.close();
            return false;
        }
        true
    }

    async fn reject(&self, rejection: Rejection) {
        log(
            Level::Debug,
            &format!(
                "rejecting a request from {}: {} ({})",
                self.peer_ip, rejection.reason, rejection.status
            ),
        );
        let date = http_date(wall_time().0);
        let options = EncodeOptions {
            method: "GET",
            version: eddy_http::Version::Http11,
            accept_encoding: None,
            keep_alive: false,
            gzip: false,
            date: &date,
        };
        let mut response = Response::error(rejection.status);
        if rejection.status == 503 {
            // Only the body budget refuses with 503: worth retrying once others finish.
            response = response.header("Retry-After", "1");
            warn_budget_spent(&rejection.reason, self.options.limits.body_budget.limit());
        }
        let bytes = encode(response, &options);
        let written_before = self.stream.bytes_written();
        let sent = self.stream.write(bytes).await;
        let written = self.stream.bytes_written().saturating_sub(written_before);
        self.stream.close();
        if self.options.access_log {
            access_log(AccessEntry {
                method: "-".into(),
                path: "-".into(),
                status: rejection.status,
                bytes: written,
                complete: sent.is_ok(),
                duration_us: 0,
                remote: self.peer_ip.clone(),
            });
        }
    }
}

thread_local! {
    /// When the last "body budget spent" warning was logged (one per second at most).
    static LAST_BUDGET_WARNING: Cell<Option<crate::host::Instant>> = const { Cell::new(None) };
}

/// Logs that bodies are being refused for want of budget, at most once a second.
fn warn_budget_spent(reason: &str, limit: usize) {
    let now = crate::now();
    let due = LAST_BUDGET_WARNING.with(|last| {
        let due = last
            .get()
            .is_none_or(|at| now.saturating_sub(at) >= 1_000_000_000);
        if due {
            last.set(Some(now));
        }
        due
    });
    if due {
        log(
            Level::Warn,
            &format!(
                "refusing request bodies with 503: {reason} (all {limit} bytes of --body-budget are held by bodies in progress)"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ip_strips_ports_and_brackets() {
        assert_eq!(peer_ip("127.0.0.1:5000"), "127.0.0.1");
        assert_eq!(peer_ip("[::1]:5000"), "::1");
    }

    #[test]
    fn options_parse_and_name_bad_values() {
        let opts = |pairs: &[(&str, &str)]| {
            HttpOptions::from_start_options(
                &pairs
                    .iter()
                    .map(|(a, b)| ((*a).into(), (*b).into()))
                    .collect::<Vec<_>>(),
            )
        };
        let parsed = opts(&[
            ("max-body-size", "5"),
            ("idle-timeout", "1500"),
            ("trusted-downstream", "10.0.0.1"),
        ])
        .expect("valid options");
        assert_eq!(parsed.limits.max_body_size, 5);
        assert_eq!(parsed.idle_timeout, Duration::from_millis(1500));
        assert_eq!(parsed.trusted_downstream, ["10.0.0.1"]);
        let error = opts(&[("gzip", "yes")]).expect_err("bad bool");
        assert!(error.contains("gzip"), "{error}");
    }
}
