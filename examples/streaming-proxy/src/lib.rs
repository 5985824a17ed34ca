//! A handler compiled into the server guest, written as a Tornado user writes
//! `async def get` with `AsyncHTTPClient` and `self.flush()`: every request is answered by
//! fetching the same path from an upstream with the guest's own HTTP client (the IOStream
//! seed's `fetch`), and the upstream's body is streamed on to the client as it arrives, a
//! piece at a time, each piece flushed before the next is read. While one request waits on
//! the upstream, the worker serves every other connection.
//!
//! ```text
//! python3 -m http.server 8000 &
//! cargo run -- serve target/guests/streaming-proxy.wasm --allow-connect 127.0.0.1:8000 \
//!     -- --upstream 127.0.0.1:8000
//! curl -N http://127.0.0.1:8888/
//! ```
//!
//! `--upstream` may also come from a config file's `[guest]` table. The upstream must be
//! allowed with `--allow-connect` (names are matched as written and resolved at start-up).

use eddy_guest::http::{Request, Response};
use eddy_guest::options::OptionParser;
use eddy_guest::{IOStream, Level, ResponseWriter, StreamingHandler, log, serve_http_streaming};

/// The most of an upstream's head read before giving up on it.
const MAX_UPSTREAM_HEAD: usize = 64 * 1024;

/// The largest piece read from the upstream, and written on, at a time.
const PIECE: usize = 64 * 1024;

/// Answers every request from the upstream.
struct Proxy {
    /// `host:port` of the upstream.
    upstream: String,
}

/// What went wrong with the upstream, and whether the client's response had started.
struct Failure {
    message: String,
    started: bool,
}

impl Proxy {
    /// `GET` the request's path from the upstream and stream the answer to `response`.
    async fn relay(&self, request: &Request, response: &ResponseWriter<'_>) -> Result<(), Failure> {
        let failed = |started: bool| {
            move |error: eddy_guest::StreamError| Failure {
                message: error.to_string(),
                started,
            }
        };
        // The fetch: connect, send the request, read the head.
        let upstream = IOStream::new();
        upstream
            .connect(&self.upstream)
            .await
            .map_err(failed(false))?;
        let ask = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\n\r\n",
            request.uri, self.upstream
        );
        upstream.write(ask).await.map_err(failed(false))?;
        let head = upstream
            .read_until(b"\r\n\r\n", Some(MAX_UPSTREAM_HEAD))
            .await
            .map_err(failed(false))?;
        let (status, content_type) = parse_head(&head).ok_or_else(|| Failure {
            message: "the upstream's answer is not HTTP".into(),
            started: false,
        })?;
        let mut answer = Response::new(status);
        if let Some(content_type) = content_type {
            answer = answer.header("Content-Type", content_type);
        }
        // `flush()`: the head goes now; the body follows, piece by piece, as it arrives.
        response.write_head(answer).await.map_err(failed(true))?;
        loop {
            match upstream.read_bytes(PIECE, true).await {
                Ok(piece) => response.write(&piece).await.map_err(failed(true))?,
                // The upstream closed: the body is complete (HTTP/1.0, close-delimited).
                Err(_) if upstream.closed() => break,
                Err(error) => return Err(failed(true)(error)),
            }
        }
        upstream.close();
        Ok(())
    }
}

impl StreamingHandler for Proxy {
    async fn respond<'a>(&'a self, request: Request, response: ResponseWriter<'a>) {
        match self.relay(&request, &response).await {
            Ok(()) => {
                let _ = response.finish().await;
            }
            Err(failure) => {
                log(
                    Level::Warn,
                    &format!(
                        "{} {}: upstream {}: {}",
                        request.method, request.uri, self.upstream, failure.message
                    ),
                );
                if failure.started {
                    // The head is out: only a cut tells the client the body is incomplete.
                    response.abort();
                } else {
                    let _ = response.send(Response::error(502)).await;
                }
            }
        }
    }
}

/// The status code and `Content-Type` of an upstream's head.
fn parse_head(head: &[u8]) -> Option<(u16, Option<String>)> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let content_type = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-type")
            .then(|| value.trim().to_owned())
    });
    Some((status, content_type))
}

fn main(args: Vec<String>) -> Result<(), String> {
    let mut options = OptionParser::new();
    let upstream = options.define(
        "upstream",
        String::new(),
        "HOST:PORT of the upstream every request is fetched from (allow it with --allow-connect)",
    );
    let Some(rest) = options.parse_config_and_command_line(&args)?.or_show_help() else {
        return Ok(());
    };
    if let Some(extra) = rest.first() {
        return Err(format!("unexpected argument {extra:?} (see --help)"));
    }
    let upstream = options[upstream].clone();
    if upstream.is_empty() {
        return Err("--upstream HOST:PORT is required (see --help)".into());
    }
    serve_http_streaming(Proxy { upstream })
}

eddy_guest::export!(main);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_give_their_status_and_content_type() {
        let head =
            b"HTTP/1.0 203 Non-Authoritative\r\nServer: x\r\ncontent-type: text/plain\r\n\r\n";
        assert_eq!(parse_head(head), Some((203, Some("text/plain".into()))));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n"), Some((200, None)));
        assert_eq!(parse_head(b"garbage"), None);
    }
}
