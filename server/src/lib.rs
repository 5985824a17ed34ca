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

use eddy_guest::http::{Request, Response};
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
    /// Calls the plugin that `request` routes to; the request (body included) moves into
    /// the call instead of being copied. A call that waits is awaited.
    async fn answer(&self, request: Request) -> Response {
        let (method, path) = (request.method.clone(), request.path.clone());
        let answer = match bindings::start(request) {
            bindings::Started::Ready(answer) => answer,
            bindings::Started::Pending(call) => Some(pending::PendingAnswer::new(call).await),
        };
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
}

impl StreamingHandler for Plugins {
    async fn respond<'a>(&'a self, request: Request, response: ResponseWriter<'a>) {
        let answer = self.answer(request).await;
        let _ = response.send(answer).await;
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
