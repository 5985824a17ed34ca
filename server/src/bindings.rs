//! The only module of this guest that knows about wit-bindgen: the host's `plugins` import
//! and the conversions between the WIT records and `eddy-http`'s request and response.

// The generated items mirror the WIT, whose documentation they carry where wit-bindgen can.
#![allow(missing_docs)]

use eddy_guest::http::{HeaderMap, Request, Response};

wit_bindgen::generate!({
    path: "../wit/http",
    world: "eddy:http/server",
});

pub use eddy::http::plugins::PluginError;
use eddy::http::{plugins, types};

/// Hands `request` to the host's router, moving its strings, headers and body into the
/// record; `None` when no route matches.
pub fn dispatch(request: Request) -> Option<Result<Response, PluginError>> {
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
    let answer = plugins::dispatch(&record, request.server_name.as_deref())?;
    Some(answer.map(|response| Response {
        status: response.status,
        headers: HeaderMap::from(response.headers),
        body: response.body,
    }))
}
