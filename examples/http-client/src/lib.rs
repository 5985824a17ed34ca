//! The "very simple HTTP client" from Tornado's IOStream documentation, almost line for line:
//! connect, send a GET, read the head, read `Content-Length` bytes of body, print it, close.
//!
//! Run it against any local HTTP server (outbound connections need `--allow-connect`):
//!
//! ```text
//! python3 -m http.server 8000 &
//! cargo run -- run target/guests/http-client.wasm --allow-connect 127.0.0.1:8000 -- http://127.0.0.1:8000/
//! ```
//!
//! `https://` URLs connect with TLS (Tornado's `SSLIOStream`): the host verifies the server's
//! certificate against the system's trust store and `--ca-file`, for the URL's host name.

use std::collections::HashMap;

use eddy_guest::{IOStream, Level, StreamError};

/// Fetches `path` from `address` and returns the body; with `tls`, over TLS verifying that
/// the server is `tls`.
async fn fetch(address: &str, path: &str, tls: Option<&str>) -> Result<Vec<u8>, String> {
    let stream = IOStream::new();
    match tls {
        Some(server_name) => stream.connect_tls(address, server_name).await,
        None => stream.connect(address).await,
    }
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

/// Where a URL points.
struct Target {
    /// `host:port` to connect to.
    address: String,
    /// The path to ask for.
    path: String,
    /// For `https://`: the host name the certificate must be for.
    tls: Option<String>,
}

/// Splits `http://host:port/path` or `https://host:port/path`.
fn split_url(url: &str) -> Result<Target, String> {
    let (rest, secure) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, true)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, false)
    } else {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    };
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
    let (host, address) = match authority.rsplit_once(':') {
        Some((host, _port)) if !authority.ends_with(']') => (host, authority.to_string()),
        _ => (
            authority,
            format!("{authority}:{}", if secure { 443 } else { 80 }),
        ),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(Target {
        address,
        path: path.to_string(),
        tls: secure.then(|| host.to_string()),
    })
}

fn main(args: Vec<String>) -> Result<(), String> {
    let [url] = args.as_slice() else {
        return Err("usage: http-client http[s]://HOST:PORT/PATH".into());
    };
    let Target { address, path, tls } = split_url(url)?;
    eddy_guest::spawn(async move {
        let code = match fetch(&address, &path, tls.as_deref()).await {
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
