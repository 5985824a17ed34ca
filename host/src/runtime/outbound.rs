//! Outbound `wasi:http` requests from plugins: the allow-list (`--allow-http-outbound`), its
//! names resolved once at start-up, and the hooks of a plugin Store, which check each request
//! against it before anything is looked up and hand allowed ones to the process's
//! [`Upstreams`] client with timeouts capped by the call's deadline.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use crate::upstream::{Target, Timeouts, Upstreams};

/// The largest piece a guest may write to a body stream at once (its `check-write` budget).
pub(super) const BODY_PIECE: usize = 64 * 1024;

/// Outgoing bodies per call with room for a whole body before anyone reads them.
pub const ROOMY_BODIES: usize = 2;

/// Pieces of [`BODY_PIECE`] each later body of a call may hold before its reader takes them.
pub const SMALL_BODY_CHUNKS: usize = 2;

/// A connect (TCP and TLS) takes at most this long unless the plugin asks for less; the
/// call's deadline caps it too.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One allowed upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Allowed {
    /// The host as written, lower-cased, without IPv6 brackets.
    host: String,
    /// No port: every port.
    port: Option<u16>,
    /// What the host resolved to at start-up (the address itself for an IP literal); empty
    /// until [`HttpOutbound::resolve`].
    addresses: Vec<IpAddr>,
}

/// Which outbound `wasi:http` requests plugins may send (`--allow-http-outbound`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpOutbound {
    allowed: Vec<Allowed>,
}

/// Splits an entry into a lower-cased host without brackets and an optional port.
fn parse_entry(entry: &str) -> Result<(String, Option<u16>), String> {
    let refuse = |why: &str| format!("--allow-http-outbound {entry:?}: {why}");
    let port = |text: &str| {
        text.parse::<u16>()
            .map_err(|_| refuse("the port is not a number"))
    };
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| refuse("an IPv6 address opened with [ is not closed"))?;
        inside
            .parse::<Ipv6Addr>()
            .map_err(|_| refuse("not an IPv6 address inside [ ]"))?;
        match after.strip_prefix(':') {
            Some(text) => (inside, Some(port(text)?)),
            None if after.is_empty() => (inside, None),
            None => return Err(refuse("expected :PORT after the ]")),
        }
    } else if entry.parse::<Ipv6Addr>().is_ok() {
        // A bare IPv6 address: its colons are not a port separator.
        (entry, None)
    } else if let Some((host, text)) = entry.split_once(':') {
        if host.contains(':') || text.contains(':') {
            return Err(refuse(
                "write an IPv6 address with a port in brackets, e.g. [::1]:8080",
            ));
        }
        (host, Some(port(text)?))
    } else {
        (entry, None)
    };
    if host.is_empty() {
        return Err(refuse("the host is empty"));
    }
    if host.contains(['@', '/', '?', '#']) {
        return Err(refuse("not a host name or address"));
    }
    Ok((host.to_ascii_lowercase(), port))
}

impl HttpOutbound {
    /// Parses `HOST`, `HOST:PORT`, `IPV6`, `[IPV6]` and `[IPV6]:PORT` entries; nothing is
    /// resolved yet.
    ///
    /// # Errors
    /// An entry with an empty host, a port that is not a number, or an IPv6 address that is
    /// not bracketed before a port.
    pub fn new(entries: &[String]) -> Result<Self, String> {
        let allowed = entries
            .iter()
            .map(|entry| {
                let (host, port) = parse_entry(entry)?;
                let addresses = host
                    .parse::<IpAddr>()
                    .map(|ip| vec![ip])
                    .unwrap_or_default();
                Ok(Allowed {
                    host,
                    port,
                    addresses,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { allowed })
    }

    /// Resolves every allowed name once, at start-up, as `--allow-connect` does: requests
    /// use these addresses, and no request ever waits on a name lookup.
    ///
    /// # Errors
    /// A name does not resolve.
    pub fn resolve(&mut self) -> Result<(), String> {
        for allowed in &mut self.allowed {
            if !allowed.addresses.is_empty() {
                continue;
            }
            let found = (allowed.host.as_str(), 0).to_socket_addrs().map_err(|e| {
                format!(
                    "--allow-http-outbound {}: cannot resolve ({e})",
                    allowed.host
                )
            })?;
            allowed.addresses = found.map(|address| address.ip()).collect();
            if allowed.addresses.is_empty() {
                return Err(format!(
                    "--allow-http-outbound {}: resolves to no address",
                    allowed.host
                ));
            }
        }
        Ok(())
    }

    fn find(&self, host: &str, port: u16) -> Option<&Allowed> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed.iter().find(|allowed| {
            allowed.host.eq_ignore_ascii_case(host) && allowed.port.is_none_or(|p| p == port)
        })
    }

    /// Whether a request to `host` on `port` may be sent: names match as written, without
    /// resolving anything.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.find(host, port).is_some()
    }

    /// The addresses a request to `host:port` connects to, when it is allowed.
    fn addresses(&self, host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        let allowed = self.find(host, port)?;
        Some(
            allowed
                .addresses
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect(),
        )
    }
}

/// The `wasi:http` hooks of one plugin Store: outbound requests are checked against the
/// allow-list and sent by the process's client, with timeouts capped by the call's deadline.
pub struct Hooks {
    plugin: Arc<str>,
    outbound: Arc<HttpOutbound>,
    upstreams: Arc<Upstreams>,
    max_body: usize,
    /// The deadline of the call in progress.
    deadline: Instant,
    /// Outgoing bodies made during the call in progress: the first ones get room for a whole
    /// body, later ones a little (see `p2_outgoing_body_buffer_chunks`).
    bodies: usize,
}

impl Hooks {
    /// Hooks for plugin `plugin`, whose response bodies may be `max_body` bytes.
    pub fn new(
        plugin: Arc<str>,
        outbound: Arc<HttpOutbound>,
        upstreams: Arc<Upstreams>,
        max_body: usize,
    ) -> Self {
        Self {
            plugin,
            outbound,
            upstreams,
            max_body,
            deadline: Instant::now(),
            bodies: 0,
        }
    }

    /// Sets the deadline of the call that starts (and starts counting its bodies afresh).
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.bodies = 0;
    }

    /// Why a request to `uri` is refused, logged; `None` when it may go.
    fn refusal(&self, uri: &http::Uri) -> Option<wasmtime_wasi_http::Error> {
        let authority = uri.authority().map_or("", |a| a.as_str());
        if authority.contains('@') {
            tracing::warn!(
                plugin = %self.plugin,
                "denied an outbound request with credentials in its authority \
                 ({authority:?}, HTTP-request-denied): put them in a header"
            );
            return Some(wasmtime_wasi_http::Error::HttpRequestDenied);
        }
        let host = uri.host().unwrap_or_default();
        let port = port_of(uri);
        if self.outbound.allows(host, port) {
            return None;
        }
        tracing::warn!(
            plugin = %self.plugin,
            "denied an outbound request to {host}:{port} (HTTP-request-denied); \
             allow it with --allow-http-outbound {host}:{port}"
        );
        Some(wasmtime_wasi_http::Error::HttpRequestDenied)
    }
}

/// The port of `uri`, or its scheme's.
fn port_of(uri: &http::Uri) -> u16 {
    uri.port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        })
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for Hooks {
    /// Room for a whole body of the largest size taken, in pieces of `BODY_PIECE`, so that a
    /// guest writing its body before `response-outparam.set` (when nothing reads it yet)
    /// does not wait on a reader; the memory this can hold is about `max_body`. Only the
    /// first [`ROOMY_BODIES`] bodies of a call get it (the response's, an outgoing request's):
    /// a plugin making body after body gets [`SMALL_BODY_CHUNKS`] pieces for each, so the
    /// host memory its bodies can hold stays bounded (see `--plugin-max-resources`).
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        self.bodies += 1;
        if self.bodies <= ROOMY_BODIES {
            self.max_body / BODY_PIECE + 2
        } else {
            SMALL_BODY_CHUNKS
        }
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
        if let Some(refusal) = self.refusal(request.uri()) {
            return Box::new(async move { Err(refusal) });
        }
        let uri = request.uri();
        let host = uri.host().unwrap_or_default();
        let port = port_of(uri);
        let target = Target {
            https: uri.scheme_str() == Some("https"),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            addresses: self.outbound.addresses(host, port).unwrap_or_default(),
        };
        let left = self.deadline.saturating_duration_since(Instant::now());
        let cap = |asked: Option<Duration>, default: Duration| asked.unwrap_or(default).min(left);
        let timeouts = Timeouts {
            connect: cap(
                options.and_then(|o| o.connect_timeout),
                DEFAULT_CONNECT_TIMEOUT,
            ),
            first_byte: cap(options.and_then(|o| o.first_byte_timeout), left),
            between_bytes: cap(options.and_then(|o| o.between_bytes_timeout), left),
            deadline: self.deadline,
        };
        Box::new(self.upstreams.clone().send(request, target, timeouts))
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

    #[test]
    fn ipv6_entries_are_bare_or_bracketed() {
        let outbound = HttpOutbound::new(&["::1".into(), "[fe80::2]:8080".into(), "[::3]".into()])
            .expect("entries parse");
        assert!(
            outbound.allows("[::1]", 80),
            "a bare address allows every port"
        );
        assert!(outbound.allows("[::1]", 9999));
        assert!(outbound.allows("[fe80::2]", 8080));
        assert!(!outbound.allows("[fe80::2]", 80));
        assert!(outbound.allows("[::3]", 443));
        let error = HttpOutbound::new(&["::1:80x".into()]).expect_err("ambiguous");
        assert!(error.contains("brackets"), "{error}");
        assert!(HttpOutbound::new(&["[::1".into()]).is_err());
        assert!(HttpOutbound::new(&["[nope]:80".into()]).is_err());
        assert!(HttpOutbound::new(&["user@host".into()]).is_err());
    }

    #[test]
    fn addresses_are_known_for_literals_and_resolved_names() {
        let mut outbound =
            HttpOutbound::new(&["127.0.0.1:8080".into(), "localhost".into()]).expect("parse");
        assert_eq!(
            outbound.addresses("127.0.0.1", 8080),
            Some(vec!["127.0.0.1:8080".parse().expect("addr")])
        );
        assert_eq!(outbound.addresses("localhost", 81), Some(Vec::new()));
        outbound.resolve().expect("localhost resolves");
        let found = outbound.addresses("localhost", 81).expect("allowed");
        assert!(!found.is_empty() && found.iter().all(|a| a.port() == 81));
        assert_eq!(outbound.addresses("127.0.0.1", 80), None);
    }

    #[test]
    fn credentials_in_the_authority_are_refused_before_any_lookup() {
        let outbound = Arc::new(HttpOutbound::new(&["allowed.test".into()]).expect("parse"));
        let hooks = Hooks::new("p".into(), outbound, Arc::default(), 1024);
        let uri: http::Uri = "http://user@allowed.test/".parse().expect("uri");
        assert!(hooks.refusal(&uri).is_some());
        let uri: http::Uri = "http://allowed.test/".parse().expect("uri");
        assert!(hooks.refusal(&uri).is_none());
    }
}
