//! The HTTP integration cases of `tests/http.rs`, run again with the server behind a TLS
//! listener: every request and response crosses rustls on the test's side and the host's
//! TLS termination on the server's (`tests/util/tls_proxy.rs`).

#[path = "http.rs"]
mod cases;
