//! What answers requests: anything that turns a [`Request`] into a [`Response`].
//!
//! A closure, an [`crate::Application`] router, or (in the server guest) a call into a plugin
//! component are all handlers.

use super::request::Request;
use super::response::Response;

/// Answers one request with one whole response.
pub trait Handler {
    /// Answers `request`.
    fn handle(&self, request: &Request) -> Response;
}

impl<F: Fn(&Request) -> Response> Handler for F {
    fn handle(&self, request: &Request) -> Response {
        self(request)
    }
}
