//! Sending one request: a kept connection to the upstream if there is one, else a new one
//! within the connect timeout; the response head within the first-byte timeout; a body whose
//! pieces come within the between-bytes timeout. The connection is kept for reuse once the
//! response body has been read to its end.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::client::conn::http1::SendRequest;
use rustls::ClientConfig;
use tokio::time::{Instant, timeout_at};
use wasmtime_wasi_http::{Error, WasiBody};

use super::connect::connect;
use super::idle::{Idle, Key};
use super::timed_body::TimedBody;

/// Where a request goes, as the policy allowed and resolved it.
#[derive(Clone, Debug)]
pub struct Target {
    /// Whether to speak TLS.
    pub https: bool,
    /// The host as the plugin wrote it (the TLS name), without IPv6 brackets.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The addresses the host resolved to at start-up (or the address it is).
    pub addresses: Vec<SocketAddr>,
}

/// The timeouts of one request, each already capped by the call's deadline.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// TCP connect, TLS handshake and HTTP handshake together.
    pub connect: Duration,
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// Between pieces of the response body.
    pub between_bytes: Duration,
    /// The call's deadline: nothing outlasts it.
    pub deadline: std::time::Instant,
}

/// The client of a process: its trust and its kept connections.
#[derive(Default)]
pub struct Upstreams {
    /// The TLS configuration; by default made at the first HTTPS request (reading the
    /// system's trust store takes a while) from the system's roots alone.
    tls: OnceLock<Result<Arc<ClientConfig>, String>>,
    idle: Idle,
}

/// What a request gives back: the response, and a future for `wasi:http` that ends with the
/// exchange (nothing to wait for: the connection's I/O runs as its own task).
type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("idle_connections", &self.idle.len())
            .finish_non_exhaustive()
    }
}

impl Upstreams {
    /// A client that trusts what `tls` trusts (the system's roots and `--ca-file`, as
    /// guests' own TLS connections do).
    pub fn new(tls: Arc<ClientConfig>) -> Self {
        let upstreams = Self::default();
        let _ = upstreams.tls.set(Ok(tls));
        upstreams
    }

    /// How many connections are kept idle.
    pub fn idle_connections(&self) -> usize {
        self.idle.len()
    }

    fn tls(&self) -> Result<Arc<ClientConfig>, Error> {
        self.tls
            .get_or_init(|| crate::tls::client_config(&[]).map_err(|e| e.to_string()))
            .clone()
            .map_err(|reason| {
                tracing::warn!("outbound HTTPS has no trust configuration: {reason}");
                Error::TlsCertificateError
            })
    }

    /// Sends `request` to `target`.
    ///
    /// # Errors
    /// The connection, the TLS handshake or the exchange failed, or a timeout passed.
    pub async fn send(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
        target: Target,
        timeouts: Timeouts,
    ) -> Result<Sent, Error> {
        let deadline = Instant::from_std(timeouts.deadline);
        let key: Key = (target.https, target.host.clone(), target.port);
        let request = origin_form(request);
        let first_byte = |from: Instant| (from + timeouts.first_byte).min(deadline);
        let (mut sender, request) = match self.idle.take(&key) {
            Some(mut kept) => {
                match timeout_at(first_byte(Instant::now()), kept.try_send_request(request)).await {
                    Err(_) => return Err(Error::ConnectionReadTimeout),
                    Ok(Ok(response)) => return Ok(self.kept(key, kept, response, timeouts)),
                    // The connection closed before the request went out: send it on a new one.
                    Ok(Err(mut failed)) => match failed.take_message() {
                        Some(request) => (self.open(&target, timeouts).await?, request),
                        None => return Err(Error::from(failed.into_error())),
                    },
                }
            }
            None => (self.open(&target, timeouts).await?, request),
        };
        let response = timeout_at(first_byte(Instant::now()), sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(Error::from)?;
        Ok(self.kept(key, sender, response, timeouts))
    }

    /// A new connection to `target` within the connect timeout.
    async fn open(
        &self,
        target: &Target,
        timeouts: Timeouts,
    ) -> Result<SendRequest<WasiBody>, Error> {
        let tls = if target.https {
            Some(self.tls()?)
        } else {
            None
        };
        let until = (Instant::now() + timeouts.connect).min(Instant::from_std(timeouts.deadline));
        timeout_at(until, connect(&target.addresses, &target.host, tls, until))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
    }

    /// Hands out `response` with its body timed, and keeps `sender` for reuse once the
    /// exchange is over.
    fn kept(
        self: Arc<Self>,
        key: Key,
        mut sender: SendRequest<WasiBody>,
        response: http::Response<hyper::body::Incoming>,
        timeouts: Timeouts,
    ) -> Sent {
        let deadline = Instant::from_std(timeouts.deadline);
        let response = response.map(|incoming| {
            TimedBody::new(incoming, timeouts.between_bytes, deadline).boxed_unsync()
        });
        // Ready again once the body has been read to its end; an abandoned body closes the
        // connection, and the task ends with it.
        let upstreams = self.clone();
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                upstreams.idle.put(key, sender);
            }
        });
        (response, Box::new(async { Ok(()) }))
    }
}

/// The request with its target in origin form (`/path?query`): the scheme and authority
/// only go into a request sent to a proxy.
fn origin_form(mut request: http::Request<WasiBody>) -> http::Request<WasiBody> {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if let Ok(uri) = http::Uri::builder().path_and_query(path).build() {
        *request.uri_mut() = uri;
    }
    request
}
