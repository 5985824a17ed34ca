//! The Tornado TCPServer echo server: read a line, write it back, until the client goes away.
//!
//! Run it (the host builds this component with the workspace):
//!
//! ```text
//! cargo run -- serve target/guests/echo.wasm --listen 127.0.0.1:8888
//! printf 'hello\n' | nc -q1 127.0.0.1 8888
//! ```
//!
//! An optional argument after `--` sets the longest line accepted, in bytes (default 64 KiB);
//! a longer line closes that connection only.

use eddy_guest::{IOStream, Level, TcpServer};

/// The longest line echoed unless the first argument says otherwise.
const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Echoes every line it reads back to the same connection.
struct EchoServer {
    max_line: usize,
}

impl TcpServer for EchoServer {
    async fn handle_stream(&self, stream: IOStream, address: String) {
        loop {
            let line = match stream.read_until(b"\n", Some(self.max_line)).await {
                Ok(line) => line,
                Err(error) => {
                    if error.reason().is_some() {
                        eddy_guest::log(Level::Info, &format!("{address}: {error}"));
                    }
                    return;
                }
            };
            if stream.write(line).await.is_err() {
                return;
            }
        }
    }
}

fn main(args: Vec<String>) -> Result<(), String> {
    let max_line = match args.first() {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("max line length {arg:?} is not a number of bytes"))?,
        None => DEFAULT_MAX_LINE,
    };
    eddy_guest::listen(EchoServer { max_line });
    Ok(())
}

eddy_guest::export!(main);
