//! The HTTP server itself (Tornado's `HTTPServer`): the entry points that start serving on
//! the host's listeners. Each connection runs in [`super::connection`].

use std::rc::Rc;

use eddy_http::{BodyBudget, Handler, Limits};
use eddy_options::HttpOptions;

use super::connection::Connection;
use super::handler::{StreamingHandler, Whole};
use super::response_budget::ResponseBudget;
use crate::iostream::IOStream;
use crate::tcp_server::{TcpServer, listen};

/// An HTTP/1.1 server (Tornado's `HTTPServer(handler)`).
pub struct HttpServer<S> {
    options: Rc<HttpOptions>,
    /// The parser's limits, with the body budget all connections share.
    limits: Limits,
    /// The response budget all connections share.
    responses: Rc<ResponseBudget>,
    handler: Rc<S>,
}

impl<S: StreamingHandler> HttpServer<S> {
    /// A server with `options` answering with `handler`; its connections share one body
    /// budget of `options.body_budget` bytes and one response budget of
    /// `options.response_budget` bytes.
    pub fn new(options: HttpOptions, handler: S) -> Self {
        let limits = Limits {
            max_header_size: options.max_header_size.to_usize(),
            max_body_size: options.max_body_size.to_usize(),
            decompress: options.decompress_request,
            body_budget: BodyBudget::new(options.body_budget.to_usize()),
        };
        Self {
            responses: ResponseBudget::new(options.response_budget.to_usize()),
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
        let connection = Connection::new(
            stream,
            &address,
            self.options.clone(),
            self.limits.clone(),
            &self.responses,
        );
        connection.run(&*self.handler).await;
    }
}
