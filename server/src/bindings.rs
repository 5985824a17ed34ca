//! The only module of this guest that knows about wit-bindgen: the host's `plugins` import,
//! the `plugin-results` export, and the conversions between the WIT records and
//! `eddy-http`'s request and response.

// The generated items mirror the WIT, whose documentation they carry where wit-bindgen can.
#![allow(missing_docs)]

use eddy_guest::http::{HeaderMap, Request, Response};

use crate::pending::{self, Answer};

wit_bindgen::generate!({
    path: "../wit/http",
    world: "eddy:http/async-server",
});

use eddy::http::{plugins, types};
use exports::eddy::http::plugin_results::{Guest as PluginResults, PluginResult};

pub use eddy::http::plugins::PluginError;

/// What the host did with a request.
pub enum Started {
    /// The plugin answered at once (`None`: no route matches).
    Ready(Option<Answer>),
    /// The plugin waits; its answer comes through `plugin-results` under this id.
    Pending(u64),
}

/// Hands `request` to the host's router, moving its strings, headers and body into the
/// record.
pub fn start(request: Request) -> Started {
    let record = types::Request {
        version: request.version.as_str().to_owned(),
        headers: request.headers.into(),
        method: request.method,
        uri: request.uri,
        path: request.path,
        query: request.query,
        body: request.body,
        remote_ip: request.remote_ip,
        protocol: request.protocol,
        host: request.host,
        start_time: request.start_time,
    };
    // Over TLS the plugin may ask for the server name (SNI) during the call.
    match plugins::start(&record, request.server_name.as_deref()) {
        plugins::Started::Ready(answer) => Started::Ready(answer.map(answer_of)),
        plugins::Started::Pending(call) => Started::Pending(call),
    }
}

fn answer_of(answer: Result<types::Response, PluginError>) -> Answer {
    answer.map(|response| Response {
        status: response.status,
        headers: HeaderMap::from(response.headers),
        body: response.body,
    })
}

/// The `plugin-results` export: answers of calls that waited, handed to their requests.
struct Results;

impl PluginResults for Results {
    fn complete(now: u64, results: Vec<PluginResult>) {
        eddy_guest::resume(now, || {
            for result in results {
                pending::complete(result.call, answer_of(result.answer));
            }
        });
    }
}

export!(Results);
