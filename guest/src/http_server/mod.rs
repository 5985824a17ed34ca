//! Tornado's `HTTPServer` on IOStream: each connection runs the sans-IO
//! [`eddy_http::ServerConn`] over partial reads, answers every request with a
//! [`eddy_http::Handler`] (whole responses) or a [`StreamingHandler`] (a body written in
//! pieces, chunked on HTTP/1.1) and enforces the idle, header, body and write timeouts.
//!
//! This module only moves bytes between the stream and the state machine; parsing, framing
//! and response encoding live in `eddy-http`.

mod connection;
mod handler;
mod reader;
mod response_budget;
mod server;
#[cfg(test)]
mod tests;
mod writer;

pub use handler::{StreamingHandler, Whole};
pub use reader::READ_SIZE;
pub use response_budget::{PATIENCE, STALL_GRACE};
pub use server::{HttpServer, serve_http, serve_http_streaming};
pub use writer::{Reservation, ResponseWriter, WRITE_PIECE};
