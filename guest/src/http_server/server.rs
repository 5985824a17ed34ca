//! The HTTP server itself (Tornado's `HTTPServer`): the handler traits and the entry points
//! that start serving on the host's listeners. Each connection runs in [`super::connection`].

use std::future::Future;
use std::rc::Rc;

use eddy_http::{BodyBudget, Handler, Limits, Request, RequestHead};
use eddy_options::HttpOptions;

use super::connection::Connection;
use super::writer::ResponseWriter;
use crate::iostream::IOStream;
use crate::tcp_server::{TcpServer, listen};

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
    /// worker's body budget. What the handler leaves unread is discarded. No by default.
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

/// An HTTP/1.1 server (Tornado's `HTTPServer(handler)`).
pub struct HttpServer<S> {
    options: Rc<HttpOptions>,
    /// The parser's limits, with the body budget all connections share.
    limits: Limits,
    handler: Rc<S>,
}

impl<S: StreamingHandler> HttpServer<S> {
    /// A server with `options` answering with `handler`; its connections share one body
    /// budget of `options.body_budget` bytes.
    pub fn new(options: HttpOptions, handler: S) -> Self {
        let limits = Limits {
            max_header_size: options.max_header_size.to_usize(),
            max_body_size: options.max_body_size.to_usize(),
            decompress: options.decompress_request,
            body_budget: BodyBudget::new(options.body_budget.to_usize()),
        };
        Self {
            options: Rc::new(options),
            limits,
            handler: Rc::new(handler),
        }
    }
}

/// Serves HTTP with `handler` (whole responses) on the host's listeners, with the options
/// the host passed.
///
/// # Errors
/// None today: `start` already refused options that do not parse (the `Result` keeps
/// callers' `?` working).
pub fn serve_http<H: Handler + 'static>(handler: H) -> Result<(), String> {
    serve_http_streaming(Whole(handler))
}

/// Serves HTTP with a [`StreamingHandler`] on the host's listeners.
///
/// # Errors
/// None today: `start` already refused options that do not parse (the `Result` keeps
/// callers' `?` working).
pub fn serve_http_streaming<S: StreamingHandler>(handler: S) -> Result<(), String> {
    let options = crate::runtime::options().http.clone();
    listen(HttpServer::new(options, handler));
    Ok(())
}

impl<S: StreamingHandler> TcpServer for HttpServer<S> {
    async fn handle_stream(&self, stream: IOStream, address: String) {
        let connection =
            Connection::new(stream, &address, self.options.clone(), self.limits.clone());
        connection.run(&*self.handler).await;
    }
}
