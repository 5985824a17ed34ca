//! Standard `wasi:http` handlers as plugins: the eddy request the server guest parsed becomes
//! a `wasi:http` incoming-request, `handle` runs on the call's fiber, and the outgoing
//! response and its body are collected back into an eddy response.
//!
//! `wasi:http/types` and `wasi:http/outgoing-handler` are `wasmtime-wasi-http`'s; this module
//! only converts at the edges and collects the body (`outbound` decides outbound requests).
//!
//! `handle` and the body's reader are polled together by one future: the body (written by
//! the guest into a channel of pieces of at most 64 KiB) is read as soon as
//! `response-outparam.set` hands it over, while `handle` still runs, so a guest writing many
//! MiB never waits on a reader that would only start after it returns. Before `set`, the
//! channel holds `--max-write-buffer-size` worth of full pieces; a guest that writes more than
//! that before setting its response suspends until its deadline (500), holding only its own
//! call.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::task::Poll;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::plugin_state::PluginState;
use super::server_wit::eddy::http::types::{Request, Response};

/// Response headers dropped from a `wasi:http` response: the server guest frames the body
/// and manages the connection itself.
const FRAMING_HEADERS: &[&str] = &["content-length", "transfer-encoding", "connection"];

/// Why a call produced no response.
pub enum CallError {
    /// The guest trapped: its Store is poisoned.
    Trap(wasmtime::Error),
    /// The guest returned without a usable response (a 500, the instance is dropped).
    Failed(String),
}

/// What `response-outparam.set` delivers.
type Delivered = Result<hyper::Response<HyperOutgoingBody>, ErrorCode>;

/// A body being read.
type Collecting = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>;

/// Calls `handle` with `request` and collects the response, at most `max_body` bytes of body.
pub async fn call(
    store: &mut Store<PluginState>,
    proxy: &Proxy,
    request: &Request,
    max_body: usize,
) -> Result<Response, CallError> {
    let incoming = match incoming(request) {
        Ok(incoming) => incoming,
        Err(reason) => return Ok(plain(400, &reason)),
    };
    let scheme = if request.protocol == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let (sender, receiver) = oneshot::channel::<Delivered>();
    let mut http = store.data_mut().http();
    let request_resource = http
        .new_incoming_request(scheme, incoming)
        .map_err(CallError::Trap)?;
    let outparam = http
        .new_response_outparam(sender)
        .map_err(CallError::Trap)?;
    let handle =
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut *store, request_resource, outparam);
    handle_and_collect(handle, receiver, max_body).await
}

/// Runs `handle` to its end while reading the response it delivers.
async fn handle_and_collect(
    handle: impl Future<Output = wasmtime::Result<()>>,
    receiver: oneshot::Receiver<Delivered>,
    max_body: usize,
) -> Result<Response, CallError> {
    let mut handle = pin!(handle);
    let mut returned = false;
    let mut receiver = Some(receiver);
    let mut head = None;
    let mut collecting: Option<Collecting> = None;
    let mut body = None;
    poll_fn(|cx| {
        if !returned && let Poll::Ready(result) = handle.as_mut().poll(cx) {
            if let Err(trap) = result {
                return Poll::Ready(Err(CallError::Trap(trap)));
            }
            returned = true;
        }
        if let Some(waiting) = receiver.as_mut() {
            match Pin::new(waiting).poll(cx) {
                Poll::Ready(Ok(Ok(response))) => {
                    receiver = None;
                    let (parts, outgoing) = response.into_parts();
                    head = Some(parts);
                    collecting = Some(Box::pin(collect(outgoing, max_body)));
                }
                Poll::Ready(Ok(Err(code))) => {
                    return Poll::Ready(Err(CallError::Failed(format!(
                        "handle set an error instead of a response: {code:?}"
                    ))));
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Err(unset())),
                // Nothing runs in the guest once `handle` returned: it never will.
                Poll::Pending if returned => return Poll::Ready(Err(unset())),
                Poll::Pending => {}
            }
        }
        if let Some(reading) = collecting.as_mut()
            && let Poll::Ready(collected) = reading.as_mut().poll(cx)
        {
            collecting = None;
            body = Some(collected);
        }
        match (returned, body.take(), head.as_ref()) {
            (true, Some(collected), Some(parts)) => Poll::Ready(
                collected
                    .map(|bytes| response(parts, bytes))
                    .map_err(CallError::Failed),
            ),
            (_, collected, _) => {
                body = collected;
                Poll::Pending
            }
        }
    })
    .await
}

fn unset() -> CallError {
    CallError::Failed("handle returned without setting a response".into())
}

/// Reads a response body to its end, refusing more than `max` bytes.
async fn collect(mut body: HyperOutgoingBody, max: usize) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the response body failed: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len().saturating_add(data.len()) > max {
                return Err(format!(
                    "the response body is larger than {max} bytes (--max-write-buffer-size)"
                ));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// Builds the `wasi:http` request from the eddy one; why not, when it cannot.
fn incoming(request: &Request) -> Result<http::Request<Full<Bytes>>, String> {
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
    builder
        .body(Full::new(Bytes::copy_from_slice(&request.body)))
        .map_err(|e| format!("the request cannot be given to a wasi:http handler: {e}"))
}

/// Builds the eddy response from the collected head and body.
fn response(parts: &http::response::Parts, body: Vec<u8>) -> Response {
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !FRAMING_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    Response {
        status: parts.status.as_u16(),
        headers,
        body,
    }
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
        let converted = incoming(&request).expect("converts");
        assert_eq!(converted.uri(), "http://example.test:8888/p?q=1");
        assert_eq!(converted.method(), http::Method::POST);
        assert_eq!(converted.headers()["x-test"], "yes");
        let bad = Request {
            host: "bad host".into(),
            ..request
        };
        assert!(incoming(&bad).is_err());
    }
}
