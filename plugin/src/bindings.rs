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

/// Builds the request object from the WIT record, moving its strings, headers and body.
///
/// The server guest already split the target and settled the host, so neither is parsed
/// again; arguments are parsed only if the handler reads them.
pub fn request_from_wit(request: types::Request) -> Request {
    let version = if request.version == "HTTP/1.0" {
        Version::Http10
    } else {
        Version::Http11
    };
    let parts = RequestParts {
        method: request.method,
        uri: request.uri,
        version,
        headers: HeaderMap::from(request.headers),
        body: request.body,
        remote_ip: request.remote_ip,
        protocol: request.protocol,
        host: request.host,
        server_name: request.server_name,
        start_time: request.start_time,
    };
    Request::with_split_target(parts, request.path, request.query)
}

/// Turns a response into the WIT record, moving its headers and body.
pub fn response_to_wit(response: Response) -> types::Response {
    types::Response {
        status: response.status,
        headers: response.headers.into(),
        body: response.body,
    }
}

/// Answers one WIT request with `handler`.
#[doc(hidden)]
pub fn respond(handler: &dyn Handler, request: types::Request) -> types::Response {
    response_to_wit(handler.handle(&request_from_wit(request)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uri: &str, path: &str, query: &str, host: &str) -> types::Request {
        types::Request {
            method: "POST".into(),
            uri: uri.into(),
            path: path.into(),
            query: query.into(),
            version: "HTTP/1.0".into(),
            headers: vec![
                ("Host".into(), b"Ignored:1".to_vec()),
                (
                    "Content-Type".into(),
                    b"application/x-www-form-urlencoded".to_vec(),
                ),
            ],
            body: b"b=2".to_vec(),
            remote_ip: "10.0.0.1".into(),
            protocol: "https".into(),
            host: host.into(),
            server_name: None,
            start_time: 7,
        }
    }

    #[test]
    fn the_record_becomes_the_request_the_server_guest_parsed() {
        let uri = "http://Proxy.Example:81/p/q?a=1";
        let request = request_from_wit(record(uri, "/p/q", "a=1", "Proxy.Example:81"));
        let parsed = Request::new(RequestParts {
            method: "POST".into(),
            uri: uri.into(),
            version: Version::Http10,
            headers: HeaderMap::from(record(uri, "", "", "").headers),
            body: b"b=2".to_vec(),
            remote_ip: "10.0.0.1".into(),
            protocol: "https".into(),
            host: "Ignored:1".into(),
            server_name: None,
            start_time: 7,
        });
        for (what, from_wit, from_new) in [
            ("path", &request.path, &parsed.path),
            ("query", &request.query, &parsed.query),
            ("host", &request.host, &parsed.host),
            ("host_name", &request.host_name, &parsed.host_name),
            ("remote_ip", &request.remote_ip, &parsed.remote_ip),
        ] {
            assert_eq!(from_wit, from_new, "{what}");
        }
        assert_eq!(request.version, Version::Http10);
        assert_eq!(request.headers, parsed.headers);
        assert_eq!(
            request.arguments().collect::<Vec<_>>(),
            [("a", &b"1"[..]), ("b", &b"2"[..])]
        );
    }

    #[test]
    fn a_response_keeps_its_header_order() {
        let response = Response::text(201, "made")
            .header("X-A", "1")
            .header("x-a", "2");
        let record = response_to_wit(response);
        let names: Vec<_> = record.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Content-Type", "X-A", "x-a"]);
        assert_eq!((record.status, record.body.as_slice()), (201, &b"made"[..]));
    }
}
