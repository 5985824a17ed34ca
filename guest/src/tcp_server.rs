//! Tornado's `TCPServer`: implement `handle_stream`, and every accepted connection runs it as
//! its own task.

use std::future::Future;
use std::rc::Rc;

use crate::executor;
use crate::iostream::IOStream;
use crate::runtime;

/// A server for the connections the host accepts on its `--listen` addresses.
pub trait TcpServer: 'static {
    /// Handles one connection, from accept to close (Tornado's `TCPServer.handle_stream`).
    ///
    /// `address` is the peer's `ip:port`. The stream closes when the future drops it.
    fn handle_stream(&self, stream: IOStream, address: String) -> impl Future<Output = ()>;
}

/// Starts serving: from now on every accepted connection is handed to `server`.
pub fn listen<S: TcpServer>(server: S) {
    let server = Rc::new(server);
    runtime::set_accept_handler(move |conn, address, tls| {
        let stream = IOStream::accepted(conn, tls);
        let server = server.clone();
        executor::spawn(async move { server.handle_stream(stream, address).await });
    });
}
