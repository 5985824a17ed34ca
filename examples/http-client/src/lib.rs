//! The "very simple HTTP client" from Tornado's IOStream documentation, almost line for line:
//! connect, send a GET, read the head, read `Content-Length` bytes of body, print it, close.
//!
//! Run it against any local HTTP server (outbound connections need `--allow-connect`):
//!
//! ```text
//! python3 -m http.server 8000 &
//! cargo run -- run target/guests/http-client.wasm --allow-connect 127.0.0.1:8000 -- http://127.0.0.1:8000/
//! ```

use std::collections::HashMap;

use eddy_guest::{IOStream, Level, StreamError};

/// Fetches `path` from `address` and returns the body.
async fn fetch(address: &str, path: &str) -> Result<Vec<u8>, String> {
    let stream = IOStream::new();
    stream
        .connect(address)
        .await
        .map_err(|e| describe(address, e))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n");
    stream
        .write(request)
        .await
        .map_err(|e| describe(address, e))?;
    let header_data = stream
        .read_until(b"\r\n\r\n", Some(64 * 1024))
        .await
        .map_err(|e| describe(address, e))?;
    let mut headers = HashMap::new();
    for line in String::from_utf8_lossy(&header_data).split("\r\n") {
        let parts: Vec<&str> = line.splitn(2, ':').collect();
        if parts.len() == 2 {
            headers.insert(
                parts[0].trim().to_ascii_lowercase(),
                parts[1].trim().to_string(),
            );
        }
    }
    let body_data = match headers.get("content-length") {
        Some(length) => {
            let length = length
                .parse()
                .map_err(|_| format!("bad Content-Length {length:?}"))?;
            stream.read_bytes(length, false).await
        }
        None => stream.read_until_close().await,
    }
    .map_err(|e| describe(address, e))?;
    stream.close();
    Ok(body_data)
}

fn describe(address: &str, error: StreamError) -> String {
    format!("{address}: {error}")
}

/// Splits `http://host:port/path` into the address to connect to and the path.
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
    let address = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((address, path.to_string()))
}

fn main(args: Vec<String>) -> Result<(), String> {
    let [url] = args.as_slice() else {
        return Err("usage: http-client http://HOST:PORT/PATH".into());
    };
    let (address, path) = split_url(url)?;
    eddy_guest::spawn(async move {
        let code = match fetch(&address, &path).await {
            Ok(body) => {
                eddy_guest::print(&body);
                0
            }
            Err(message) => {
                eddy_guest::log(Level::Error, &message);
                1
            }
        };
        eddy_guest::stop(code);
    });
    Ok(())
}

eddy_guest::export!(main);
