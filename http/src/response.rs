//! Responses and their encoding on the wire.
//!
//! A handler returns a whole [`Response`]; [`encode`] turns it into bytes for one request:
//! status line, `Date`, `Server: eddy`, `Content-Length`, the connection header when needed,
//! optional gzip (Tornado's `GZipContentEncoding` rules), no body for HEAD/204/304. A
//! header value with CR, LF or NUL, or a status that is not a final one ([`FINAL_STATUS`]),
//! can never reach the wire: the response becomes a 500.

use std::ops::RangeInclusive;

use super::gzip::{GZIP_LEVEL, MIN_LENGTH, accepts_gzip, compressible_type, gzip_compress};
use super::head::Version;
use super::headers::HeaderMap;
use super::json::Json;
use super::response_head::{
    InvalidHeader, error_page, push_decimal, reason_phrase, write_header, write_status_line,
};

/// The `Date` value that [`EncodeOptions::date`] expects.
pub use super::response_head::http_date;

/// The statuses a handler's response may carry (RFC 9110 §15: 1xx responses are interim, and
/// a client that gets one as the answer waits for another; no class exists past 5xx). Any
/// other status is answered as a 500, as hyper does.
pub const FINAL_STATUS: RangeInclusive<u16> = 200..=599;

/// Whether `status` may answer a request ([`FINAL_STATUS`]).
pub fn is_final_status(status: u16) -> bool {
    FINAL_STATUS.contains(&status)
}

/// Headers the server owns: a handler's values for them are replaced.
const SERVER_OWNED: [&str; 4] = ["Content-Length", "Transfer-Encoding", "Connection", "Date"];

/// One HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code (200–599, [`FINAL_STATUS`]; anything else is answered as a 500).
    pub status: u16,
    /// Header fields.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Default for Response {
    fn default() -> Self {
        Self::new(200)
    }
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// A `text/plain; charset=UTF-8` response.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status)
            .header("Content-Type", "text/plain; charset=UTF-8")
            .body(body)
    }

    /// An `application/json; charset=UTF-8` response.
    pub fn json(status: u16, value: &Json) -> Self {
        Self::new(status)
            .header("Content-Type", "application/json; charset=UTF-8")
            .body(value.to_string())
    }

    /// Tornado's HTML error page for `status`.
    pub fn error(status: u16) -> Self {
        Self::new(status)
            .header("Content-Type", "text/html; charset=UTF-8")
            .body(error_page(status))
    }

    /// Adds a header field (builder style).
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.add(name, value);
        self
    }

    /// Sets the body (builder style).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// How [`encode`] frames one response.
#[derive(Clone, Debug)]
pub struct EncodeOptions<'a> {
    /// The request's method (`HEAD` gets no body).
    pub method: &'a str,
    /// The request's version; the response uses the same.
    pub version: Version,
    /// The request's `Accept-Encoding`, for `--gzip`.
    pub accept_encoding: Option<&'a [u8]>,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
    /// Whether `--gzip` is on.
    pub gzip: bool,
    /// The `Date` value (an IMF-fixdate).
    pub date: &'a str,
}

fn has_body(method: &str, status: u16) -> bool {
    !(method == "HEAD" || status == 204 || status == 304)
}

/// Encodes `response` for one request, as bytes ready to write.
pub fn encode(response: Response, options: &EncodeOptions<'_>) -> Vec<u8> {
    let (mut out, body) = encode_head(response, options, true);
    out.extend_from_slice(&body);
    out
}

/// Encodes `response` for one request as its head (status line, headers, framing) and its
/// body apart: the body is moved, not copied behind the head, so a large one can be written
/// in pieces while only it is held. The body is empty when the request gets none (HEAD).
pub fn encode_parts(response: Response, options: &EncodeOptions<'_>) -> (Vec<u8>, Vec<u8>) {
    encode_head(response, options, false)
}

/// The head of `response` and the body to send after it; with `room_for_body` the head's
/// buffer has room for the body too.
fn encode_head(
    mut response: Response,
    options: &EncodeOptions<'_>,
    room_for_body: bool,
) -> (Vec<u8>, Vec<u8>) {
    if !is_final_status(response.status) {
        response = Response::error(500);
    }
    if options.gzip {
        gzip_body(&mut response, options.accept_encoding);
    }
    let status = response.status;
    let length = response.body.len();
    let body = if has_body(options.method, status) {
        std::mem::take(&mut response.body)
    } else {
        Vec::new()
    };
    let room = if room_for_body { body.len() } else { 0 };
    let mut out = Vec::with_capacity(HEAD_ROOM + response.headers.wire_len() + room);
    let Ok(seen) = write_head_start(&mut out, options, status, &response.headers) else {
        // A handler put CR/LF/NUL in a header: never split the response, answer 500.
        return encode_head(Response::error(500), options, room_for_body);
    };
    if status != 204 && status != 304 {
        if !seen.content_type && length > 0 {
            out.extend_from_slice(b"Content-Type: text/html; charset=UTF-8\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(&mut out, u64::try_from(length).unwrap_or(u64::MAX), 1);
        out.extend_from_slice(b"\r\n");
    }
    write_head_end(&mut out, options, options.keep_alive);
    (out, body)
}

/// Room for the status line and the server's own headers.
const HEAD_ROOM: usize = 192;

/// Which of the headers the server adds only when missing the handler set.
struct Seen {
    server: bool,
    content_type: bool,
}

/// Writes the status line, the handler's headers (not the server-owned ones), `Date` and
/// `Server`, straight into `out`: this runs for every response, so it builds no header map.
fn write_head_start(
    out: &mut Vec<u8>,
    options: &EncodeOptions<'_>,
    status: u16,
    headers: &HeaderMap,
) -> Result<Seen, InvalidHeader> {
    write_status_line(out, options.version, status, reason_phrase(status));
    let mut seen = Seen {
        server: false,
        content_type: false,
    };
    for (name, value) in headers.iter() {
        if SERVER_OWNED
            .iter()
            .any(|owned| name.eq_ignore_ascii_case(owned))
        {
            continue;
        }
        seen.server |= name.eq_ignore_ascii_case("Server");
        seen.content_type |= name.eq_ignore_ascii_case("Content-Type");
        write_header(out, name, value)?;
    }
    out.extend_from_slice(b"Date: ");
    out.extend_from_slice(options.date.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !seen.server {
        out.extend_from_slice(b"Server: eddy\r\n");
    }
    Ok(seen)
}

/// Writes the connection header the version needs and the empty line ending the head.
fn write_head_end(out: &mut Vec<u8>, options: &EncodeOptions<'_>, keep_alive: bool) {
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if options.version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How a streamed body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFraming {
    /// No body may follow (HEAD, 1xx, 204, 304).
    NoBody,
    /// `Transfer-Encoding: chunked` (HTTP/1.1).
    Chunked,
    /// The body ends when the connection closes (HTTP/1.0 has no chunking).
    UntilClose,
    /// `Content-Length`: exactly this many bytes follow.
    Length(u64),
}

/// Encodes the head of a response whose body is written later in pieces.
///
/// HTTP/1.1 bodies are chunked; HTTP/1.0 bodies end with the connection. Returns the head,
/// the framing of what follows and whether the connection may stay open afterwards.
///
/// # Errors
/// A header name or value is invalid (CR, LF, NUL): nothing may be sent as given.
pub fn encode_stream_head(
    response: Response,
    options: &EncodeOptions<'_>,
) -> Result<(Vec<u8>, StreamFraming, bool), InvalidHeader> {
    encode_sized_stream_head(response, options, None)
}

/// Encodes the head of a response whose body is written later in pieces and, with `length`,
/// is exactly that long: framed by `Content-Length` then, on either version.
///
/// # Errors
/// A header name or value is invalid (CR, LF, NUL): nothing may be sent as given.
pub fn encode_sized_stream_head(
    mut response: Response,
    options: &EncodeOptions<'_>,
    length: Option<u64>,
) -> Result<(Vec<u8>, StreamFraming, bool), InvalidHeader> {
    if !is_final_status(response.status) {
        response = Response::error(500);
    }
    let status = response.status;
    let mut out = Vec::with_capacity(HEAD_ROOM + response.headers.wire_len());
    write_head_start(&mut out, options, status, &response.headers)?;
    let (framing, keep_alive) = if !has_body(options.method, status) {
        (StreamFraming::NoBody, options.keep_alive)
    } else if let Some(length) = length {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(&mut out, length, 1);
        out.extend_from_slice(b"\r\n");
        (StreamFraming::Length(length), options.keep_alive)
    } else if options.version == Version::Http11 {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        (StreamFraming::Chunked, options.keep_alive)
    } else {
        (StreamFraming::UntilClose, false)
    };
    write_head_end(&mut out, options, keep_alive);
    Ok((out, framing, keep_alive))
}

/// Tornado's `GZipContentEncoding`: compress compressible bodies of at least `MIN_LENGTH`
/// bytes for clients that accept gzip, and say `Vary: Accept-Encoding` either way.
fn gzip_body(response: &mut Response, accept_encoding: Option<&[u8]>) {
    let content_type = response.headers.get_str("Content-Type").unwrap_or("");
    if !compressible_type(content_type) || matches!(response.status, 204 | 304) {
        return;
    }
    match response.headers.get_combined("Vary") {
        Some(vary)
            if !String::from_utf8_lossy(&vary)
                .to_ascii_lowercase()
                .contains("accept-encoding") =>
        {
            let mut value = vary;
            value.extend_from_slice(b", Accept-Encoding");
            response.headers.set("Vary", value);
        }
        Some(_) => {}
        None => response.headers.add("Vary", "Accept-Encoding"),
    }
    let wants = accept_encoding.is_some_and(accepts_gzip);
    if wants && response.body.len() >= MIN_LENGTH && !response.headers.contains("Content-Encoding")
    {
        response.body = gzip_compress(&response.body, GZIP_LEVEL);
        response.headers.add("Content-Encoding", "gzip");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(method: &str, keep_alive: bool) -> EncodeOptions<'_> {
        EncodeOptions {
            method,
            version: Version::Http11,
            accept_encoding: None,
            keep_alive,
            gzip: false,
            date: "Sun, 06 Nov 1994 08:49:37 GMT",
        }
    }

    #[test]
    fn encodes_status_date_server_and_length() {
        let out = encode(Response::text(200, "hi"), &options("GET", true));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
Server: eddy\r\nContent-Length: 2\r\n\r\nhi"
        );
    }

    #[test]
    fn head_keeps_the_length_but_drops_the_body() {
        let out = encode(Response::text(200, "hello"), &options("HEAD", false));
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("Content-Length: 5\r\n") && text.contains("Connection: close\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }

    #[test]
    fn no_length_or_body_for_204_and_304() {
        for status in [204, 304] {
            let text = String::from_utf8_lossy(&encode(
                Response::new(status).body("x"),
                &options("GET", true),
            ))
            .into_owned();
            assert!(
                !text.contains("Content-Length") && text.ends_with("\r\n\r\n"),
                "{text}"
            );
        }
    }

    #[test]
    fn header_injection_becomes_a_500() {
        let response = Response::new(200).header("X-Bad", "a\r\nSet-Cookie: evil=1");
        let text = String::from_utf8_lossy(&encode(response, &options("GET", true))).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 500 Internal Server Error\r\n") && !text.contains("evil"),
            "{text}"
        );
    }

    #[test]
    fn http10_keep_alive_is_announced() {
        let mut opts = options("GET", true);
        opts.version = Version::Http10;
        let text = String::from_utf8_lossy(&encode(Response::text(200, "x"), &opts)).into_owned();
        assert!(
            text.starts_with("HTTP/1.0 200 OK\r\n") && text.contains("Connection: keep-alive\r\n"),
            "{text}"
        );
    }

    #[test]
    fn gzips_large_compressible_bodies_for_clients_that_accept_it() {
        let mut opts = options("GET", true);
        opts.gzip = true;
        opts.accept_encoding = Some(b"gzip, deflate");
        let body = "a".repeat(4096);
        let out = encode(Response::text(200, body.clone()), &opts);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("Content-Encoding: gzip\r\n")
                && text.contains("Vary: Accept-Encoding\r\n"),
            "{text}"
        );
        let start = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |p| p + 4);
        let plain = crate::gzip::gzip_decompress(&out[start..], 1 << 20).expect("valid gzip");
        assert_eq!(plain, body.as_bytes());
        // Small bodies stay plain but still vary.
        let text =
            String::from_utf8_lossy(&encode(Response::text(200, "tiny"), &opts)).into_owned();
        assert!(
            !text.contains("Content-Encoding") && text.contains("Vary: Accept-Encoding"),
            "{text}"
        );
    }

    #[test]
    fn a_streamed_head_with_a_length_is_framed_by_it_on_either_version() {
        for version in [Version::Http11, Version::Http10] {
            let mut opts = options("GET", true);
            opts.version = version;
            let (head, framing, _) =
                encode_sized_stream_head(Response::new(200), &opts, Some(1234)).expect("valid");
            let text = String::from_utf8_lossy(&head).into_owned();
            assert!(
                text.contains("Content-Length: 1234\r\n") && !text.contains("chunked"),
                "{text}"
            );
            assert_eq!(framing, StreamFraming::Length(1234));
        }
        let (_, framing, _) =
            encode_sized_stream_head(Response::new(200), &options("HEAD", true), Some(9))
                .expect("valid");
        assert_eq!(framing, StreamFraming::NoBody);
    }

    #[test]
    fn streamed_heads_are_chunked_for_http11_and_close_delimited_for_http10() {
        let (head, framing, keep) =
            encode_stream_head(Response::new(200), &options("GET", true)).expect("valid");
        let text = String::from_utf8_lossy(&head).into_owned();
        assert!(
            text.contains("Transfer-Encoding: chunked\r\n") && !text.contains("Content-Length"),
            "{text}"
        );
        assert_eq!((framing, keep), (StreamFraming::Chunked, true));
        let mut opts = options("GET", true);
        opts.version = Version::Http10;
        let (head, framing, keep) = encode_stream_head(Response::new(200), &opts).expect("valid");
        assert!(String::from_utf8_lossy(&head).contains("Connection: close\r\n"));
        assert_eq!((framing, keep), (StreamFraming::UntilClose, false));
        let (_, framing, _) =
            encode_stream_head(Response::new(200), &options("HEAD", true)).expect("valid");
        assert_eq!(framing, StreamFraming::NoBody);
        assert!(
            encode_stream_head(
                Response::new(200).header("X", "a\nb"),
                &options("GET", true)
            )
            .is_err()
        );
    }

    #[test]
    fn a_status_that_is_not_final_becomes_a_500() {
        for status in [0, 42, 100, 101, 199, 600, 999, 1000] {
            let text =
                String::from_utf8_lossy(&encode(Response::new(status), &options("GET", true)))
                    .into_owned();
            assert!(text.starts_with("HTTP/1.1 500 "), "{status}: {text}");
            let (head, _, _) =
                encode_stream_head(Response::new(status), &options("GET", true)).expect("valid");
            assert!(head.starts_with(b"HTTP/1.1 500 "), "{status}");
        }
        for status in [200, 404, 599] {
            let text =
                String::from_utf8_lossy(&encode(Response::new(status), &options("GET", true)))
                    .into_owned();
            assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        }
    }

    #[test]
    fn parts_are_the_encoding_split_at_the_body() {
        let big = vec![b'x'; 100_000];
        for method in ["GET", "HEAD"] {
            let whole = encode(Response::text(200, big.clone()), &options(method, true));
            let (head, body) =
                encode_parts(Response::text(200, big.clone()), &options(method, true));
            assert_eq!([head, body].concat(), whole, "{method}");
        }
        let (head, body) = encode_parts(Response::new(204).body("x"), &options("GET", true));
        assert!(body.is_empty() && head.ends_with(b"\r\n\r\n"));
    }
}
