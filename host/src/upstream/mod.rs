//! Eddy's HTTP client for plugins' outbound `wasi:http` requests: connections to allowed
//! upstreams, made on the io runtime with one connect timeout around TCP and TLS, verified
//! against the system's trust store plus `--ca-file`, and kept for reuse.
//!
//! It never decides what is allowed (that is `--allow-http-outbound`, checked before a
//! request gets here) and never resolves a name: it connects to the addresses the policy
//! resolved at start-up.

mod client;
mod connect;
mod idle;
mod timed_body;

pub use client::{Target, Timeouts, Upstreams};
pub use idle::{IDLE_TIMEOUT, MAX_IDLE, MAX_IDLE_PER_UPSTREAM};
