//! The Tornado TCPServer echo server: read a line, write it back, until the client goes away.
//!
//! Run it (the host builds this component with the workspace):
//!
//! ```text
//! cargo run -- serve target/guests/echo.wasm --listen 127.0.0.1:8888
//! printf 'hello\n' | nc -q1 127.0.0.1 8888
//! ```
//!
//! Its options follow `--`, as with `tornado.options`:
//!
//! ```text
//! cargo run -- serve target/guests/echo.wasm --listen 127.0.0.1:8888 -- --max-line=1KiB
//! cargo run -- run target/guests/echo.wasm -- --help
//! ```
//!
//! or, from a config file (`eddy serve --config eddy.toml`), in its `[guest]` table:
//! `max-line = "1KiB"` (an argument after `--` wins over it).
//!
//! `--max-line` is the longest line accepted (default 64 KiB); a longer line closes that
//! connection only. A bad value stops start-up with one line naming the option.

use eddy_guest::options::{OptionParser, Size};
use eddy_guest::{IOStream, Level, TcpServer};

/// The longest line echoed unless `--max-line` says otherwise.
const DEFAULT_MAX_LINE: Size = Size::kib(64);

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
    let mut options = OptionParser::new();
    let max_line = options.define(
        "max-line",
        DEFAULT_MAX_LINE,
        "the longest line echoed; a longer one closes its connection",
    );
    // A config file's `[guest]` table, then the arguments; `--help` prints the options and
    // stops the program with exit code 0.
    let Some(rest) = options.parse_config_and_command_line(&args)?.or_show_help() else {
        return Ok(());
    };
    if let Some(extra) = rest.first() {
        return Err(format!("unexpected argument {extra:?} (see --help)"));
    }
    eddy_guest::listen(EchoServer {
        max_line: options[max_line].as_usize(),
    });
    Ok(())
}

eddy_guest::export!(main);
