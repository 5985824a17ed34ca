//! Standard `wasi:http` handlers as plugins: the eddy request the server guest parsed becomes
//! a `wasi:http` incoming-request, `handle` runs synchronously under the plugin's deadline,
//! and the outgoing response and its body are collected back into an eddy response.
//!
//! `wasi:http/types` and `wasi:http/outgoing-handler` are `wasmtime-wasi-http`'s; this module
//! only converts at the edges and collects the body (`outbound` decides outbound requests).
//!
//! The response body is written by the guest into a channel of pieces of at most 64 KiB.
//! When `handle` returns, the worker thread reads it; if the guest is still writing 5 ms
//! after `response-outparam.set`, a task on wasmtime-wasi's tokio runtime drains it
//! meanwhile, so a guest writing many MiB never waits on a reader that only starts after
//! `handle` returns. Before `set`, the channel holds `--max-write-buffer-size` worth of
//! full pieces; a guest that writes more pieces than that before setting its response waits
//! for a reader that never comes, holding its worker (a known limit: toolchains set first).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use wasmtime::Store;
use wasmtime_wasi::runtime::{AbortOnDropJoinHandle, in_tokio, spawn};
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::sync::Proxy;
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

/// A response body not read yet, taken by whichever reader comes first: the worker thread
/// once `handle` returns, or the drain task if the guest is still writing after
/// `DRAIN_AFTER` (it may be waiting for room in the channel).
type Unread = Arc<Mutex<Option<HyperOutgoingBody>>>;

/// What `response-outparam.set` delivered: the head, the body, and the drain task.
type Delivered = Result<
    (
        http::response::Parts,
        Unread,
        AbortOnDropJoinHandle<Option<Result<Vec<u8>, String>>>,
    ),
    ErrorCode,
>;

/// How long after `response-outparam.set` a body still unread is drained by a task on the
/// tokio runtime instead of the worker thread. Most handlers return well before: their body is
/// then read on the worker thread, without a hand-off between threads.
const DRAIN_AFTER: Duration = Duration::from_millis(5);

fn take(unread: &Unread) -> Option<HyperOutgoingBody> {
    unread.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// Calls `handle` with `request` and collects the response, at most `max_body` bytes of
/// body, all within `deadline` from `started`.
pub fn call(
    store: &mut Store<PluginState>,
    proxy: &Proxy,
    request: &Request,
    max_body: usize,
    started: Instant,
    deadline: Duration,
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
    let delivered: Arc<Mutex<Option<Delivered>>> = Arc::default();
    let slot = delivered.clone();
    let mut http = store.data_mut().http();
    let request_resource = http
        .new_incoming_request(scheme, incoming)
        .map_err(CallError::Trap)?;
    let outparam = http
        .new_response_outparam_from_callback(move |result| {
            let outcome = result.map(|response| {
                let (parts, body) = response.into_parts();
                let unread: Unread = Arc::new(Mutex::new(Some(body)));
                let for_drain = unread.clone();
                let drain = spawn(async move {
                    tokio::time::sleep(DRAIN_AFTER).await;
                    let body = take(&for_drain)?;
                    Some(collect(body, max_body).await)
                });
                (parts, unread, drain)
            });
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        })
        .map_err(CallError::Trap)?;
    proxy
        .wasi_http_incoming_handler()
        .call_handle(&mut *store, request_resource, outparam)
        .map_err(CallError::Trap)?;
    let outcome = delivered
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match outcome {
        None => Err(CallError::Failed(
            "handle returned without setting a response".into(),
        )),
        Some(Err(code)) => Err(CallError::Failed(format!(
            "handle set an error instead of a response: {code:?}"
        ))),
        Some(Ok((parts, unread, drain))) => {
            let left = deadline.saturating_sub(started.elapsed());
            let collected = match take(&unread) {
                Some(body) => {
                    drop(drain);
                    in_tokio(
                        async move { tokio::time::timeout(left, collect(body, max_body)).await },
                    )
                }
                None => in_tokio(async move { tokio::time::timeout(left, drain).await })
                    .map(|drained| drained.unwrap_or_else(|| Err("the body was lost".into()))),
            };
            match collected {
                Ok(Ok(body)) => Ok(response(&parts, body)),
                Ok(Err(reason)) => Err(CallError::Failed(reason)),
                Err(_) => Err(CallError::Failed(format!(
                    "the response body was not finished within {deadline:?}"
                ))),
            }
        }
    }
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
            server_name: None,
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
