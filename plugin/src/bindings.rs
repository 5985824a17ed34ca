//! The only module that knows about wit-bindgen: it generates the `plugin` world's bindings
//! and converts between the WIT records and `eddy-http`'s request and response.

// The generated items mirror the WIT, whose documentation they carry where wit-bindgen can.
#![allow(missing_docs)]

use eddy_http::request::RequestParts;
use eddy_http::{Handler, HeaderMap, Request, Response, Version};

// The whole `wit/` directory, as every plugin author's toolchain reads it (docs/wit.md).
wit_bindgen::generate!({
    path: "../wit",
    world: "eddy:http/plugin",
    pub_export_macro: true,
    export_macro_name: "export_plugin",
    default_bindings_module: "eddy_plugin::bindings",
    runtime_path: "eddy_plugin::bindings::wit_bindgen_rt::rt",
});

#[doc(hidden)]
pub use wit_bindgen as wit_bindgen_rt;

use eddy::http::types;

/// Builds the request object from the WIT record.
pub fn request_from_wit(request: types::Request) -> Request {
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for (name, value) in request.headers {
        headers.add(name, value);
    }
    let version = if request.version == "HTTP/1.0" {
        Version::Http10
    } else {
        Version::Http11
    };
    Request::new(RequestParts {
        method: request.method,
        uri: request.uri,
        version,
        headers,
        body: request.body,
        remote_ip: request.remote_ip,
        protocol: request.protocol,
        host: request.host,
        start_time: request.start_time,
    })
}

/// Turns a response into the WIT record.
pub fn response_to_wit(response: Response) -> types::Response {
    types::Response {
        status: response.status,
        headers: response
            .headers
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_vec()))
            .collect(),
        body: response.body,
    }
}

/// Answers one WIT request with `handler`.
#[doc(hidden)]
pub fn respond(handler: &dyn Handler, request: types::Request) -> types::Response {
    response_to_wit(handler.handle(&request_from_wit(request)))
}
