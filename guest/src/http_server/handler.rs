//! What answers requests: the [`StreamingHandler`] trait, and [`Whole`] to use a
//! whole-response [`Handler`] as one.

use std::future::Future;

use eddy_http::{Handler, Request, RequestHead};

use super::writer::ResponseWriter;

/// Answers requests by writing responses, possibly in pieces (Tornado's `RequestHandler`
/// with `flush()`): call [`ResponseWriter::write_head`], then [`ResponseWriter::write`] as
/// often as needed, then [`ResponseWriter::finish`] (or just return; the server finishes).
pub trait StreamingHandler: 'static {
    /// Answers `request` through `response`.
    fn respond<'a>(
        &'a self,
        request: Request,
        response: ResponseWriter<'a>,
    ) -> impl Future<Output = ()>;

    /// Whether `respond` reads the body of requests like `head` itself, piece by piece, with
    /// [`ResponseWriter::read_body`] (Tornado's `@stream_request_body`): the request then comes
    /// as soon as its head is in, with an empty `body`, and the body takes no share of the
    /// worker's body budget. What the handler leaves unread is discarded. Asked only for
    /// requests that have a body; no by default.
    fn streams_body(&self, head: &RequestHead) -> bool {
        let _ = head;
        false
    }
}

/// A whole-response [`Handler`] as a [`StreamingHandler`].
pub struct Whole<H>(pub H);

impl<H: Handler + 'static> StreamingHandler for Whole<H> {
    async fn respond<'a>(&'a self, request: Request, response: ResponseWriter<'a>) {
        let answer = self.0.handle(&request);
        let _ = response.send(answer).await;
    }
}
