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

/// Calls plugin number `plugin` with `request`, moving its strings, headers and body into
/// the record.
pub fn call(plugin: u32, request: Request) -> Result<Response, PluginError> {
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
        server_name: request.server_name,
        start_time: request.start_time,
    };
    let response = plugins::call(plugin, &record)?;
    Ok(Response {
        status: response.status,
        headers: HeaderMap::from(response.headers),
        body: response.body,
    })
}
