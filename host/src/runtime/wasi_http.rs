//! Standard `wasi:http` handlers as plugins: the eddy request the server guest parsed becomes
//! a `wasi:http` incoming-request (its body whole, or streamed from the guest), `handle` runs
//! on the call's fiber, and the response goes back whole or in pieces ([`Exchange`]).
//!
//! `wasi:http/types` and `wasi:http/outgoing-handler` are `wasmtime-wasi-http`'s; this module
//! only converts at the edges (`outbound` decides outbound requests).
//!
//! `handle` and the response are polled together by one future: the body (written by the
//! guest into a channel of pieces of at most 64 KiB) is read as soon as
//! `response-outparam.set` hands it over, while `handle` still runs. Before `set`, the
//! channel holds `--max-write-buffer-size` worth of full pieces; a guest that writes more
//! than that before setting its response suspends until its deadline (500), holding only its
//! own call.

use std::future::poll_fn;
use std::pin::pin;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiBody, WasiHttpView as _};

use super::call_error::CallError;
use super::call_io::CallIo;
use super::exchange::{Delivered, Exchange, Limits, Outcome};
use super::pipe::GuestBody;
use super::plugin_state::PluginState;
use super::server_wit::eddy::http::types::{Request, Response};

/// Calls `handle` with `request` (whose body is `body` when the guest streams it) and takes
/// its response, whole or streamed through `io`.
pub async fn call(
    store: &mut Store<PluginState>,
    proxy: &Proxy,
    request: &Request,
    body: Option<GuestBody>,
    io: Option<&CallIo>,
    limits: Limits,
) -> Result<Outcome, CallError> {
    let incoming = match incoming(request, body) {
        Ok(incoming) => incoming,
        Err(reason) => return Ok(Outcome::Whole(plain(400, &reason))),
    };
    let scheme = if request.protocol == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let (sender, receiver) = oneshot::channel::<Delivered>();
    let deadline = store.data().deadline.clone();
    let yielded = store.data().yielded.clone();
    let mut http = store.data_mut().http();
    let request_resource = http
        .new_incoming_request(scheme, incoming)
        .map_err(CallError::Trap)?;
    let outparam = http
        .new_response_outparam(sender)
        .map_err(CallError::Trap)?;
    let mut handle = pin!(proxy.wasi_http_incoming_handler().call_handle(
        &mut *store,
        request_resource,
        outparam
    ));
    let mut exchange = Exchange::new(receiver, io, limits, deadline, yielded);
    poll_fn(|cx| exchange.poll(cx, handle.as_mut())).await
}

/// Builds the `wasi:http` request from the eddy one, with `body` when the guest streams it;
/// why not, when it cannot.
fn incoming(request: &Request, body: Option<GuestBody>) -> Result<http::Request<WasiBody>, String> {
    let scheme = if request.protocol == "https" {
        "https"
    } else {
        "http"
    };
    let target = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    let uri = http::Uri::builder()
        .scheme(scheme)
        .authority(request.host.as_str())
        .path_and_query(target)
        .build()
        .map_err(|e| format!("the request target cannot be given to a wasi:http handler: {e}"))?;
    let mut builder = http::Request::builder()
        .method(request.method.as_bytes())
        .uri(uri)
        .version(if request.version == "HTTP/1.0" {
            http::Version::HTTP_10
        } else {
            http::Version::HTTP_11
        });
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    let body = match body {
        Some(streamed) => streamed.boxed_unsync(),
        None => Full::new(Bytes::copy_from_slice(&request.body))
            .map_err(Into::into)
            .boxed_unsync(),
    };
    builder
        .body(body)
        .map_err(|e| format!("the request cannot be given to a wasi:http handler: {e}"))
}

fn plain(status: u16, text: &str) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), b"text/plain".to_vec())],
        body: format!("{text}\n").into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_convert_with_host_query_and_headers() {
        let request = Request {
            method: "POST".into(),
            uri: "/p?q=1".into(),
            path: "/p".into(),
            query: "q=1".into(),
            version: "HTTP/1.1".into(),
            headers: vec![("X-Test".into(), b"yes".to_vec())],
            body: b"body".to_vec(),
            remote_ip: "127.0.0.1".into(),
            protocol: "http".into(),
            host: "example.test:8888".into(),
            start_time: 0,
        };
        let converted = incoming(&request, None).expect("converts");
        assert_eq!(converted.uri(), "http://example.test:8888/p?q=1");
        assert_eq!(converted.method(), http::Method::POST);
        assert_eq!(converted.headers()["x-test"], "yes");
        let bad = Request {
            host: "bad host".into(),
            ..request
        };
        assert!(incoming(&bad, None).is_err());
    }
}
