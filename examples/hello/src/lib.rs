//! A plugin handler answering every request with `Hello, world!`.
//!
//! ```sh
//! cargo run --release -- serve --handler target/guests/hello.wasm
//! curl http://127.0.0.1:8888/
//! ```

use eddy_plugin::{Request, Response};

fn hello(_request: &Request) -> Response {
    Response::text(200, "Hello, world!")
}

eddy_plugin::export_handler!(hello);
