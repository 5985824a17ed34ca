//! Outbound `wasi:http` requests from plugins: the allow-list (`--allow-http-outbound`) and
//! the hooks of a plugin Store, which check each request against it, cap its timeouts by the
//! plugin's deadline and size the body channel.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// The largest piece a guest may write to a body stream at once (its `check-write` budget).
pub(super) const BODY_PIECE: usize = 64 * 1024;

/// Which outbound `wasi:http` requests plugins may send (`--allow-http-outbound`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpOutbound {
    /// `(host, port)`, the host lowercase as written; no port allows every port.
    allowed: Vec<(String, Option<u16>)>,
}

impl HttpOutbound {
    /// Parses `HOST` and `HOST:PORT` entries.
    ///
    /// # Errors
    /// An entry with an empty host or a port that is not a number.
    pub fn new(entries: &[String]) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for entry in entries {
            let (host, port) = match entry.rsplit_once(':') {
                Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                    let port: u16 = port.parse().map_err(|_| {
                        format!("--allow-http-outbound {entry:?}: the port is not a number")
                    })?;
                    (host, Some(port))
                }
                _ => (entry.as_str(), None),
            };
            if host.is_empty() {
                return Err(format!(
                    "--allow-http-outbound {entry:?}: the host is empty"
                ));
            }
            allowed.push((host.to_ascii_lowercase(), port));
        }
        Ok(Self { allowed })
    }

    /// Whether a request to `host` on `port` may be sent: names match as written, without
    /// resolving anything.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allowed.iter().any(|(allowed, allowed_port)| {
            allowed.eq_ignore_ascii_case(host) && allowed_port.is_none_or(|p| p == port)
        })
    }
}

/// The `wasi:http` hooks of one plugin Store: outbound requests are checked against the
/// allow-list, and the timeouts of allowed ones are capped by the plugin's deadline.
pub struct Hooks {
    plugin: Arc<str>,
    outbound: Arc<HttpOutbound>,
    timeout: Duration,
    max_body: usize,
}

impl Hooks {
    /// Hooks for plugin `plugin`, whose response bodies may be `max_body` bytes.
    pub fn new(
        plugin: Arc<str>,
        outbound: Arc<HttpOutbound>,
        timeout: Duration,
        max_body: usize,
    ) -> Self {
        Self {
            plugin,
            outbound,
            timeout,
            max_body,
        }
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for Hooks {
    /// Room for a whole body of the largest size taken, in pieces of `BODY_PIECE`, so that a
    /// guest writing its body before `response-outparam.set` (when nothing reads it yet)
    /// does not wait on a reader; the memory this can hold is about `max_body`.
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        self.max_body / BODY_PIECE + 2
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        BODY_PIECE
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        drop(fut);
        let uri = request.uri();
        let host = uri.host().unwrap_or_default();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        if !self.outbound.allows(host, port) {
            tracing::warn!(
                plugin = %self.plugin,
                "denied an outbound request to {host}:{port} (HTTP-request-denied); \
                 allow it with --allow-http-outbound {host}:{port}"
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let cap =
            |asked: Option<Duration>| Some(asked.map_or(self.timeout, |t| t.min(self.timeout)));
        let options = RequestOptions {
            connect_timeout: cap(options.and_then(|o| o.connect_timeout)),
            first_byte_timeout: cap(options.and_then(|o| o.first_byte_timeout)),
            between_bytes_timeout: cap(options.and_then(|o| o.between_bytes_timeout)),
        };
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(|body| body.boxed_unsync()),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_names_match_as_written() {
        let outbound = HttpOutbound::new(&["Example.com:8080".into(), "api.test".into()])
            .expect("entries parse");
        assert!(outbound.allows("example.com", 8080));
        assert!(!outbound.allows("example.com", 80));
        assert!(outbound.allows("api.test", 443));
        assert!(!outbound.allows("127.0.0.1", 80));
        assert!(HttpOutbound::new(&[":80".into()]).is_err());
        assert!(HttpOutbound::new(&["a:b".into()]).is_err());
        assert!(!HttpOutbound::default().allows("localhost", 80));
    }
}
