//! Eddy's HTTP server guest, the component `eddy serve` runs by default.
//!
//! With no `--handler`, it answers every request like Tornado's HTTPServer seed example:
//! `You requested /the/uri`. With `--handler [REGEX=]COMPONENT`, the host passes one `route`
//! option per plugin, in order; a request goes to the first plugin whose regex matches its
//! whole path (404 when none does), through the host's `eddy:http/plugins` import.
//!
//! It has no options of its own: `eddy serve -- --help` says so and exits 0, and any other
//! argument stops start-up with one line.

mod bindings;

use eddy_guest::http::{Request, Response};
use eddy_guest::options::{CommandLine, OptionParser};
use eddy_guest::{Level, ResponseWriter, StreamingHandler, log, serve_http, serve_http_streaming};
use regex::Regex;

/// The seed example of Tornado's HTTPServer.
fn you_requested(request: &Request) -> Response {
    Response::text(200, format!("You requested {}\n", request.uri))
}

/// Routes requests to plugins by path.
struct Plugins {
    routes: Vec<Regex>,
}

impl Plugins {
    /// Calls the plugin that `request` routes to; the request (body included) moves into
    /// the call instead of being copied.
    fn answer(&self, request: Request) -> Response {
        let Some(index) = self
            .routes
            .iter()
            .position(|route| route.is_match(&request.path))
        else {
            return Response::error(404);
        };
        let plugin = u32::try_from(index).unwrap_or(u32::MAX);
        let (method, path) = (request.method.clone(), request.path.clone());
        match bindings::call(plugin, request) {
            Ok(response) => response,
            Err(bindings::PluginError::Trapped(message)) => {
                // The host has logged the trap with its backtrace: one record per trap.
                log(
                    Level::Debug,
                    &format!("plugin {plugin} failed on {method} {path}: {message}"),
                );
                Response::error(500)
            }
            Err(bindings::PluginError::Unavailable(message)) => {
                log(
                    Level::Debug,
                    &format!("plugin {plugin} unavailable: {message}"),
                );
                Response::error(503).header("Retry-After", "1")
            }
            Err(bindings::PluginError::UnknownPlugin) => {
                log(Level::Error, &format!("route {index} names no plugin"));
                Response::error(500)
            }
        }
    }
}

impl StreamingHandler for Plugins {
    async fn respond<'a>(&'a self, request: Request, response: ResponseWriter<'a>) {
        let answer = self.answer(request);
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
    let routes = eddy_guest::options()
        .routes
        .iter()
        .map(|pattern| {
            Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("route {pattern:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if routes.is_empty() {
        serve_http(you_requested)
    } else {
        serve_http_streaming(Plugins { routes })
    }
}

eddy_guest::export!(main);
