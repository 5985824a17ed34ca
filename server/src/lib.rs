//! Eddy's HTTP server guest, the component `eddy serve` runs by default.
//!
//! With no `--handler`, it answers every request like Tornado's HTTPServer seed example:
//! `You requested /the/uri`. With `--handler [REGEX=]COMPONENT`, the host passes one `route`
//! option per plugin, in order, and every request goes to `eddy:http/plugins.start`: the
//! host calls the first plugin whose regex matches the whole path in its current handler
//! table (404 when none does), so a reload can change the routes under a running guest.
//! A plugin that waits (on an upstream, a timer) holds only its own request: the host
//! answers `pending`, and the request's task awaits the answer, which arrives through the
//! `plugin-results` export while the guest serves other connections.
//!
//! It has no options of its own: `eddy serve -- --help` says so and exits 0, and any other
//! argument stops start-up with one line.

mod bindings;
mod pending;

use pending::{Answer, Call, Event};
use std::future::{Future, poll_fn};
use std::pin::pin;

use eddy_guest::http::query::split_uri;
use eddy_guest::http::{Request, RequestHead, Response};
use eddy_guest::options::{CommandLine, OptionParser};
use eddy_guest::{Level, ResponseWriter, StreamingHandler, log, serve_http, serve_http_streaming};

/// The seed example of Tornado's HTTPServer.
fn you_requested(request: &Request) -> Response {
    Response::text(200, format!("You requested {}\n", request.uri))
}

/// Hands requests to the plugins; the host matches the routes against its current handler
/// table (a SIGHUP with `--config` may replace it while the server runs).
struct Plugins;

impl Plugins {
    /// The error response for a call that gave no response.
    fn refusal(method: &str, path: &str, answer: Option<Answer>) -> Response {
        match answer {
            None => Response::error(404),
            Some(Ok(response)) => response,
            Some(Err(bindings::PluginError::Trapped(message))) => {
                // The host has logged the trap with its backtrace: one record per trap.
                log(
                    Level::Debug,
                    &format!("the plugin for {method} {path} failed: {message}"),
                );
                Response::error(500)
            }
            Some(Err(bindings::PluginError::Unavailable(message))) => {
                log(
                    Level::Debug,
                    &format!("the plugin for {path} is unavailable: {message}"),
                );
                Response::error(503).header("Retry-After", "1")
            }
            Some(Err(bindings::PluginError::UnknownPlugin)) => {
                log(
                    Level::Error,
                    &format!("the route for {path} names no plugin"),
                );
                Response::error(500)
            }
        }
    }

    /// Writes what the host says about a waiting call to the client: a whole answer, or a
    /// head, the body's pieces (one at a time: the next is asked for once the last was
    /// written and the response budget has room for it) and its end.
    ///
    /// The room asked for starts small and doubles while pieces come full, up to
    /// [`PIECE`]: a stream of small events (Server-Sent Events) holds little of the budget,
    /// a large download soon moves a mebibyte a piece.
    async fn relay(call: &Call, response: &ResponseWriter<'_>, method: &str, path: &str) {
        let mut reserved = None;
        let mut room = FIRST_ROOM;
        loop {
            let event = call.next().await;
            drop(reserved.take());
            match event {
                Event::Answer(answer) => {
                    let _ = response
                        .send(Self::refusal(method, path, Some(answer)))
                        .await;
                    return;
                }
                Event::Head {
                    status,
                    headers,
                    length,
                } => {
                    let mut head = Response::new(status);
                    head.headers = headers;
                    if response.write_sized_head(head, length).await.is_err() {
                        return;
                    }
                    reserved = Some(response.reserve(room).await);
                    bindings::more_body(call.id(), room);
                }
                Event::Body(piece) => {
                    if piece.len() >= room {
                        room = (room * 2).min(PIECE);
                    }
                    if response.write(&piece).await.is_err() {
                        return;
                    }
                    reserved = Some(response.reserve(room).await);
                    bindings::more_body(call.id(), room);
                }
                Event::End(None) => {
                    let _ = response.finish().await;
                    return;
                }
                Event::End(Some(reason)) => {
                    log(
                        Level::Debug,
                        &format!("the plugin's body for {method} {path} broke off: {reason}"),
                    );
                    response.abort();
                    return;
                }
                Event::Window => {}
            }
        }
    }

    /// Hands the request body to the host as it arrives, waiting for room when the host's
    /// window is full (the client is not read meanwhile).
    async fn pump(call: &Call, response: &ResponseWriter<'_>) {
        loop {
            let piece = match response.read_body().await {
                Ok(Some(piece)) => piece,
                Ok(None) => return bindings::finish_body(call.id(), true),
                Err(_) => return bindings::finish_body(call.id(), false),
            };
            let mut rest = piece.as_slice();
            while !rest.is_empty() {
                let taken = bindings::write_body(call.id(), rest).min(rest.len());
                rest = &rest[taken..];
                if !rest.is_empty() {
                    call.window().await;
                }
            }
        }
    }
}

/// The largest body piece the host delivers at once (`plugin-results.call-event.body`).
const PIECE: usize = 1024 * 1024;

/// The room a streamed response asks for first.
const FIRST_ROOM: usize = 16 * 1024;

/// Runs `first` to its end while also running `second` (until it ends, or `first` does).
async fn alongside(first: impl Future<Output = ()>, second: impl Future<Output = ()>) {
    let mut first = pin!(first);
    let mut second = pin!(second);
    let mut second_done = false;
    poll_fn(|cx| {
        if !second_done && second.as_mut().poll(cx).is_ready() {
            second_done = true;
        }
        first.as_mut().poll(cx)
    })
    .await;
}

impl StreamingHandler for Plugins {
    /// A request with a body (only those are asked) for a plugin that reads it as a stream
    /// (`wasi:http`) is started before its body arrives; the body then takes no share of the
    /// body budget.
    fn streams_body(&self, head: &RequestHead) -> bool {
        bindings::streams_body(split_uri(&head.uri).0)
    }

    async fn respond<'a>(&'a self, request: Request, response: ResponseWriter<'a>) {
        let (method, path) = (request.method.clone(), request.path.clone());
        let streamed = response.streams_body();
        let call = match bindings::start(request, streamed) {
            bindings::Started::Ready(answer) => {
                let _ = response.send(Self::refusal(&method, &path, answer)).await;
                return;
            }
            bindings::Started::Pending(call) => Call::new(call),
        };
        let relay = Self::relay(&call, &response, &method, &path);
        if streamed {
            alongside(relay, Self::pump(&call, &response)).await;
        } else {
            relay.await;
        }
    }
}

/// What `eddy serve -- --help` shows above the (empty) list of the guest's own options.
const ABOUT: &str = "The default HTTP server guest of eddy. It takes no options of its own: its \
HTTP settings are eddy serve's flags (see eddy serve --help).\n";

fn main(args: Vec<String>) -> Result<(), String> {
    // No options of its own, but `--help` and a one-line refusal of anything else, as every
    // guest that uses `eddy_guest::options`.
    let mut options = OptionParser::new();
    match options.parse_config_and_command_line(&args)? {
        CommandLine::Help(text) => {
            eddy_guest::print(format!("{ABOUT}{text}").as_bytes());
            eddy_guest::stop(0);
            return Ok(());
        }
        CommandLine::Run(rest) => {
            if let Some(extra) = rest.first() {
                return Err(format!("unexpected argument {extra:?} (see --help)"));
            }
        }
    }
    // The host checks and matches the routes; the guest only needs to know there are some.
    if eddy_guest::options().routes.is_empty() {
        serve_http(you_requested)
    } else {
        serve_http_streaming(Plugins)
    }
}

eddy_guest::export!(main);
