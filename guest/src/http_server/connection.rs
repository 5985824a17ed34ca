//! The connection loop of the HTTP server: runs the sans-IO [`eddy_http::ServerConn`] over
//! one stream, turns each parsed message into a [`Request`] for the handler, finishes what the
//! handler left open, writes the access log and rejects what the parser refuses.
//!
//! Parsing, framing and response encoding live in `eddy-http`; reading under the phase
//! deadlines lives in [`super::reader`], writing in [`super::writer`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use eddy_http::xheaders::{real_ip, real_scheme};
use eddy_http::{
    EncodeOptions, Limits, Message, Phase, Rejection, Request, RequestParts, Response, ServerConn,
    Step, encode,
};

use super::handler::StreamingHandler;
use super::reader::{BodySource, CONTINUE, Reader};
use super::response_budget::{Holder, ResponseBudget};
use super::writer::{Meter, Progress, ResponseWriter, finish};
use crate::host::{AccessEntry, Instant};
use crate::iostream::IOStream;
use crate::wall_clock::{wall_nanos, with_http_date};
use crate::{Level, access_log, log};
use eddy_options::HttpOptions;

/// The IP of `ip:port` or `[ip]:port`.
fn peer_ip(address: &str) -> String {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// One accepted connection: its stream and what its requests need to know.
pub(super) struct Connection {
    stream: IOStream,
    peer_ip: String,
    /// The connection speaks TLS (its requests default to `https`), with this SNI name.
    tls: Option<Option<String>>,
    options: Rc<HttpOptions>,
    /// The parser's limits, with the worker's shared body budget.
    limits: Limits,
    /// This connection's share of the worker's response budget.
    holder: Rc<Holder>,
}

impl Connection {
    /// Wraps a stream accepted from `address` (`ip:port`); its responses are charged to
    /// `responses`.
    pub(super) fn new(
        stream: IOStream,
        address: &str,
        options: Rc<HttpOptions>,
        limits: Limits,
        responses: &Rc<ResponseBudget>,
    ) -> Self {
        // Asked once per connection; every request on it reuses the answer.
        let tls = stream.tls_info().map(|tls| tls.server_name);
        let holder = responses.join(&stream);
        Self {
            stream,
            peer_ip: peer_ip(address),
            tls,
            options,
            limits,
            holder,
        }
    }

    fn reader(&self) -> Reader<'_> {
        Reader {
            stream: &self.stream,
            options: &self.options,
            peer_ip: &self.peer_ip,
        }
    }

    /// Steps the parser until the connection ends: reads under the phase deadlines, answers
    /// `100-continue`, hands each request to `handler` and rejects what the parser refuses.
    pub(super) async fn run<S: StreamingHandler>(self, handler: &S) {
        let conn = RefCell::new(ServerConn::new(self.limits.clone()));
        // When the current request's first byte arrived (event-loop time).
        let mut head_started: Option<Instant> = None;
        let mut body_started: Option<Instant> = None;
        loop {
            let step = conn
                .borrow_mut()
                .step_with(|head| handler.streams_body(head));
            match step {
                Step::NeedData(phase) => {
                    if phase != Phase::Idle && head_started.is_none() {
                        head_started = Some(crate::now());
                    }
                    if phase == Phase::Body && body_started.is_none() {
                        body_started = Some(crate::now());
                    }
                    let started = match phase {
                        Phase::Body => body_started,
                        _ => head_started,
                    };
                    if !self.reader().read(&conn, phase, started).await {
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
                    let start = head_started.take().unwrap_or_else(crate::now);
                    let source = body_started.map(|started| BodySource {
                        conn: &conn,
                        reader: self.reader(),
                        started,
                    });
                    // Boxed: the answer's state (request, handler, response) lives only while
                    // it runs, so an idle connection's task stays small.
                    if !Box::pin(self.answer(handler, *message, start, source)).await {
                        return;
                    }
                }
                Step::Reject(rejection) => return Box::pin(self.reject(rejection)).await,
                Step::Finished => return self.stream.close(),
            }
        }
    }

    /// The request object for `message` (its first byte arrived at `started`), and whether
    /// the connection may stay open after it.
    fn request(&self, message: Message, started: Instant) -> (Request, bool) {
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
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let default_protocol = options.protocol.as_deref().unwrap_or(scheme);
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
            server_name: self.tls.clone().flatten(),
            start_time: wall_nanos().saturating_sub(crate::now().saturating_sub(started)),
        };
        (
            Request::new(parts),
            keep_alive && !options.no_keep_alive && !crate::draining(),
        )
    }

    /// Answers one request; false when the connection ends with it.
    ///
    /// While the worker's response budget is spent, the handler is not called: it waits for
    /// room, so no new response is produced into a full budget.
    async fn answer<S: StreamingHandler>(
        &self,
        handler: &S,
        message: Message,
        started: Instant,
        body: Option<BodySource<'_>>,
    ) -> bool {
        self.holder.wait_for_room().await;
        if self.stream.closed() {
            return false;
        }
        let (request, keep_alive) = self.request(message, started);
        let written_before = self.stream.bytes_written();
        let progress = Cell::new(Progress::NotStarted);
        let meter = Meter::default();
        let (method, version) = (request.method.clone(), request.version);
        // Kept for the access log only when there is one.
        let logged = self
            .options
            .access_log
            .then(|| (request.path.clone(), request.remote_ip.clone()));
        let writer = |accept_encoding: Option<Vec<u8>>| ResponseWriter {
            stream: &self.stream,
            holder: &self.holder,
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
        // Only gzip reads it.
        let accept_encoding = self
            .options
            .gzip
            .then(|| request.headers.get("Accept-Encoding").map(<[u8]>::to_vec))
            .flatten();
        handler.respond(request, writer(accept_encoding)).await;
        if progress.get() == Progress::NotStarted {
            // The handler wrote nothing: an empty 200, like Tornado's auto-finish.
            let _ = writer(None).send(Response::new(200)).await;
        }
        let finished = finish(&self.stream, &progress).await;
        let complete = finished.is_ok() && !meter.failed.get() && !self.stream.closed();
        if let Some((path, remote)) = logged {
            access_log(AccessEntry {
                method,
                path,
                status: meter.status.get(),
                bytes: self.stream.bytes_written().saturating_sub(written_before),
                complete,
                // The clock read now, not the event loop's: the handler's own time counts.
                duration_us: crate::runtime::host().now().saturating_sub(started) / 1000,
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
        let mut response = Response::error(rejection.status);
        if rejection.status == 503 {
            // Only the body budget refuses with 503: worth retrying once others finish.
            response = response.header("Retry-After", "1");
            warn_budget_spent(&rejection.reason, self.limits.body_budget.limit());
        }
        let bytes = with_http_date(|date| {
            let options = EncodeOptions {
                method: "GET",
                version: eddy_http::Version::Http11,
                accept_encoding: None,
                keep_alive: false,
                gzip: false,
                date,
            };
            encode(response, &options)
        });
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
    static LAST_BUDGET_WARNING: Cell<Option<Instant>> = const { Cell::new(None) };
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
}
