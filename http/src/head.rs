//! Incremental, validating parser for the request head (request line plus
//! header section) of an HTTP/1.x request.
//!
//! The caller keeps the bytes received so far in one buffer and calls
//! [`parse_request_head`] after every read. The result depends only on the
//! first `max_header_size` bytes of the buffer (and on whether the buffer has
//! reached that size), so a head split across reads at any point parses
//! exactly as if it arrived at once.

use std::fmt;

use super::headers::{HeaderMap, is_token, trim_ows};

/// Maximum number of header fields in one request head; more → 431.
pub const MAX_HEADERS: usize = 128;

/// HTTP protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

impl Version {
    /// The version as written on the wire (`"HTTP/1.1"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed and validated request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Request method, e.g. `GET` (case preserved; methods are case-sensitive).
    pub method: String,
    /// Request-target exactly as received (visible ASCII only).
    pub uri: String,
    /// Protocol version.
    pub version: Version,
    /// Header fields in received order, values with surrounding OWS trimmed.
    pub headers: HeaderMap,
}

impl RequestHead {
    /// Whether the client asks to keep the connection open afterwards:
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive` (and no `close`).
    pub fn wants_keep_alive(&self) -> bool {
        let has = |t: &str| {
            self.headers
                .get_all("Connection")
                .any(|v| super::headers::has_token(v, t))
        };
        if has("close") {
            return false;
        }
        match self.version {
            Version::Http11 => true,
            Version::Http10 => has("keep-alive"),
        }
    }

    /// True for an HTTP/1.1 request carrying `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self
                .headers
                .get("Expect")
                .is_some_and(|v| trim_ows(v).eq_ignore_ascii_case(b"100-continue"))
    }
}

/// Why a request head was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// No complete head within the size limit (431). This includes an
    /// over-long request line: we answer 431 rather than 414 because the
    /// limit applies to the whole head.
    TooLarge,
    /// More than [`MAX_HEADERS`] header fields (431).
    TooManyHeaders,
    /// A well-formed `HTTP/x.y` version other than 1.0 and 1.1 (505).
    VersionNotSupported,
    /// Malformed or invalid head (400); the text says what was wrong.
    Bad(&'static str),
}

impl HeadError {
    /// HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge | HeadError::TooManyHeaders => 431,
            HeadError::VersionNotSupported => 505,
            HeadError::Bad(_) => 400,
        }
    }

    /// Short human-readable description (for logs, not for clients).
    pub fn reason(&self) -> &str {
        match self {
            HeadError::TooLarge => "request head too large",
            HeadError::TooManyHeaders => "too many header fields",
            HeadError::VersionNotSupported => "HTTP version not supported",
            HeadError::Bad(reason) => reason,
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for HeadError {}

/// Tries to parse a request head at the start of `buf`.
///
/// * `Ok(None)`: the head is not complete yet; read more and call again with
///   the grown buffer.
/// * `Ok(Some((head, consumed)))`: `consumed` bytes (leading empty lines
///   included) form the head; the body or next request starts there.
/// * `Err(_)`: reject the request with `err.status()`.
///
/// Empty lines (CRLF or bare LF) before the request line are skipped and
/// count towards `max_header_size`, like the rest of the head. Lines may end
/// in CRLF or bare LF. An empty `buf` always yields `Ok(None)`.
pub fn parse_request_head(
    buf: &[u8],
    max_header_size: usize,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let window = buf.get(..max_header_size).unwrap_or(buf);
    let start = skip_empty_lines(window);
    let rest = window.get(start..).unwrap_or(&[]);
    match find_head_end(rest) {
        Some(end) => {
            let head = rest.get(..end).unwrap_or(rest);
            let parsed = parse_complete_head(head)?;
            Ok(Some((parsed, start.saturating_add(end))))
        }
        None if buf.len() >= max_header_size => Err(HeadError::TooLarge),
        None => Ok(None),
    }
}

/// Length of the run of empty lines at the start of `buf`.
fn skip_empty_lines(buf: &[u8]) -> usize {
    let mut pos = 0usize;
    loop {
        match buf.get(pos..) {
            Some([b'\r', b'\n', ..]) => pos += 2,
            Some([b'\n', ..]) => pos += 1,
            _ => return pos,
        }
    }
}

/// Offset just past the empty line that ends the head, if present.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0usize;
    while let Some(rel) = buf.get(from..)?.iter().position(|&b| b == b'\n') {
        let nl = from + rel;
        match buf.get(nl + 1..) {
            Some([b'\n', ..]) => return Some(nl + 2),
            Some([b'\r', b'\n', ..]) => return Some(nl + 3),
            _ => from = nl + 1,
        }
    }
    None
}

/// Parses a head known to end with its terminating empty line.
fn parse_complete_head(head: &[u8]) -> Result<RequestHead, HeadError> {
    reject_obs_fold(head)?;
    // Left uninitialised: httparse writes the slots it fills (zeroing 128 of them per
    // request showed in profiles).
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut slots) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(HeadError::Bad("malformed request head")),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(httparse::Error::Version) => {
            // RFC 9110 §2.5: a higher minor version of HTTP/1 is served as HTTP/1.1.
            return match later_minor_version(head) {
                Some(at) => {
                    let mut patched = head.to_vec();
                    if let Some(minor) = patched.get_mut(at) {
                        *minor = b'1';
                    }
                    parse_complete_head(&patched)
                }
                None => Err(classify_version_error(head)),
            };
        }
        Err(httparse::Error::HeaderName) => return Err(HeadError::Bad("invalid header name")),
        Err(httparse::Error::HeaderValue) => return Err(HeadError::Bad("invalid header value")),
        Err(httparse::Error::NewLine) => return Err(HeadError::Bad("invalid line ending")),
        Err(_) => return Err(HeadError::Bad("malformed request line")),
    }

    let method = req.method.unwrap_or_default();
    if !is_token(method.as_bytes()) {
        return Err(HeadError::Bad("invalid method"));
    }
    let uri = req.path.unwrap_or_default();
    if uri.is_empty() || !uri.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(HeadError::Bad("invalid request target"));
    }
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(HeadError::VersionNotSupported),
    };

    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        if !is_token(h.name.as_bytes()) {
            return Err(HeadError::Bad("invalid header name"));
        }
        let value = trim_ows(h.value);
        if !value.iter().all(|&b| is_field_byte(b)) {
            return Err(HeadError::Bad("invalid header value"));
        }
        headers.add(h.name, value);
    }

    match headers.count("Host") {
        0 if version == Version::Http11 => return Err(HeadError::Bad("missing Host header")),
        0 => {}
        1 => {
            if !headers.get("Host").is_some_and(valid_host) {
                return Err(HeadError::Bad("invalid Host header"));
            }
        }
        _ => return Err(HeadError::Bad("multiple Host headers")),
    }

    Ok(RequestHead {
        method: method.to_owned(),
        uri: uri.to_owned(),
        version,
        headers,
    })
}

/// Field-value bytes: HTAB, SP, VCHAR and obs-text; no other CTL, no DEL.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80
}

/// A line of the header section starting with SP/HTAB is obsolete line
/// folding (or whitespace before the first field name): reject it.
fn reject_obs_fold(head: &[u8]) -> Result<(), HeadError> {
    let mut lines = head.split(|&b| b == b'\n');
    lines.next(); // request line
    for line in lines {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(HeadError::Bad("obsolete line folding"));
        }
    }
    Ok(())
}

/// The offset of the minor digit of an `HTTP/1.d` version with `d` above 1, if the request
/// line ends in one (a later HTTP/1 minor version, which RFC 9110 §2.5 says to serve as the
/// highest minor version supported).
fn later_minor_version(head: &[u8]) -> Option<usize> {
    let line_end = head.iter().position(|&b| b == b'\n')?;
    let line = head.get(..line_end)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version_start = line.iter().rposition(|&b| b == b' ')? + 1;
    match line.get(version_start..)? {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if (b'2'..=b'9').contains(minor) => {
            Some(version_start + 7)
        }
        _ => None,
    }
}

/// httparse reports any bad version the same way; tell a syntactically
/// valid `HTTP/d.d` (505) from garbage (400).
fn classify_version_error(head: &[u8]) -> HeadError {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return HeadError::Bad("malformed request line");
    };
    if !is_token(method) || target.is_empty() {
        return HeadError::Bad("malformed request line");
    }
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HeadError::VersionNotSupported
        }
        _ => HeadError::Bad("malformed HTTP version"),
    }
}

/// Validates a Host field value: `host [ ":" port ]` where host is a
/// reg-name (unreserved / pct-encoded / sub-delims), an IPv4 address or a
/// bracketed IP-literal, and port is at most 5 digits fitting in u16 (an
/// empty port is allowed by RFC 3986). The empty value is allowed too
/// (RFC 9112 §3.2 lets clients send it when the target has no authority).
pub fn valid_host(value: &[u8]) -> bool {
    let empty: &[u8] = &[];
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(close) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = value.get(1..close).unwrap_or(empty);
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':' || b == b'%')
        {
            return false;
        }
        match value.get(close + 1..) {
            Some([]) | None => return true,
            Some([b':', port @ ..]) => (None, port),
            Some(_) => return false,
        }
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(i) => (
                Some(value.get(..i).unwrap_or(empty)),
                value.get(i + 1..).unwrap_or(empty),
            ),
            None => (Some(value), empty),
        }
    };
    if let Some(host) = host {
        let has_port_sep = host.len() != value.len();
        if has_port_sep && host.is_empty() {
            return false; // ":80"
        }
        if !host
            .iter()
            .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b'%')
        {
            return false;
        }
    }
    port.is_empty()
        || (port.len() <= 5
            && port.iter().all(u8::is_ascii_digit)
            && std::str::from_utf8(port)
                .ok()
                .and_then(|s| s.parse::<u16>().ok())
                .is_some())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 64 * 1024;

    fn parse(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
        parse_request_head(buf, LIMIT)
    }

    fn ok(buf: &[u8]) -> (RequestHead, usize) {
        match parse(buf) {
            Ok(Some(x)) => x,
            other => panic!("expected head, got {other:?}"),
        }
    }

    fn err(buf: &[u8]) -> HeadError {
        match parse(buf) {
            Err(e) => e,
            other => panic!("expected error, got {other:?}"),
        }
    }

    const SAMPLE: &[u8] = b"POST /path/x?a=1&b=%20 HTTP/1.1\r\n\
Host: example.com:8080\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
X-Empty:\r\n\
X-Multi: one\r\n\
x-multi:  two \t\r\n\
Content-Length: 5\r\n\r\n";

    #[test]
    fn parses_sample() {
        let mut buf = SAMPLE.to_vec();
        buf.extend_from_slice(b"hello");
        let (h, n) = ok(&buf);
        assert_eq!(n, SAMPLE.len());
        assert_eq!(h.method, "POST");
        assert_eq!(h.uri, "/path/x?a=1&b=%20");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.headers.get("host"), Some(&b"example.com:8080"[..]));
        assert_eq!(h.headers.get("x-empty"), Some(&b""[..]));
        let multi: Vec<&[u8]> = h.headers.get_all("X-Multi").collect();
        assert_eq!(multi, vec![&b"one"[..], b"two"]);
        assert_eq!(h.headers.len(), 6);
    }

    #[test]
    fn every_split_point_parses_identically() {
        let (whole, n) = ok(SAMPLE);
        for i in 0..SAMPLE.len() {
            let first = parse(&SAMPLE[..i]);
            assert_eq!(first, Ok(None), "prefix of {i} bytes");
            let (second, m) = ok(SAMPLE);
            assert_eq!((&second, m), (&whole, n));
        }
        // And with leading empty lines and bare LFs.
        let lf: Vec<u8> = [&b"\r\n\n"[..], b"GET / HTTP/1.0\nHost: a\nX: y\n\n"].concat();
        let (whole, n) = ok(&lf);
        assert_eq!(n, lf.len());
        for i in 0..lf.len() {
            assert_eq!(parse(&lf[..i]), Ok(None), "prefix of {i} bytes");
        }
        assert_eq!(whole.headers.get("x"), Some(&b"y"[..]));
    }

    #[test]
    fn split_invariance_for_errors_too() {
        let bad = b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n";
        let e = err(bad);
        assert_eq!(e.status(), 400);
        for i in 0..bad.len() {
            // A prefix never yields a different error than the whole.
            match parse(&bad[..i]) {
                Ok(None) => {}
                Err(x) => assert_eq!(x, e),
                Ok(Some(_)) => panic!("prefix parsed"),
            }
        }
    }

    #[test]
    fn leading_empty_lines_are_consumed() {
        let (h, n) = ok(b"\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\nrest");
        assert_eq!(h.method, "GET");
        assert_eq!(n, 5 + 16 + 9 + 2);
        assert_eq!(parse(b"\r\n\r\n"), Ok(None));
        assert_eq!(parse(b"\r"), Ok(None));
        assert_eq!(parse(b""), Ok(None));
    }

    #[test]
    fn pipelined_requests() {
        let buf = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
        let (a, n) = ok(buf);
        assert_eq!(a.uri, "/a");
        let (b, m) = ok(&buf[n..]);
        assert_eq!(b.uri, "/b");
        assert_eq!(n + m, buf.len());
    }

    #[test]
    fn http10_without_host_is_fine() {
        let (h, _) = ok(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(h.version, Version::Http10);
        assert!(h.headers.is_empty());
        assert!(!h.wants_keep_alive());
    }

    #[test]
    fn keep_alive_and_continue() {
        let (h, _) = ok(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(h.wants_keep_alive());
        assert!(!h.expects_continue());
        let (h, _) = ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, Close\r\n\r\n");
        assert!(!h.wants_keep_alive());
        let (h, _) = ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(h.wants_keep_alive());
        let (h, _) = ok(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n");
        assert!(h.expects_continue());
        let (h, _) = ok(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
        assert!(!h.expects_continue());
    }

    #[test]
    fn too_large() {
        let mut big = b"GET /".to_vec();
        big.extend(std::iter::repeat_n(b'a', 100 * 1024));
        big.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(err(&big), HeadError::TooLarge);
        assert_eq!(err(&big).status(), 431);
        // Partial but already at the limit.
        assert_eq!(
            parse_request_head(&big[..LIMIT], LIMIT),
            Err(HeadError::TooLarge)
        );
        assert_eq!(parse_request_head(&big[..LIMIT - 1], LIMIT), Ok(None));
        // A head of exactly the limit fits; one byte more does not.
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(parse_request_head(head, head.len()).is_ok_and(|r| r.is_some()));
        assert_eq!(
            parse_request_head(head, head.len() - 1),
            Err(HeadError::TooLarge)
        );
        // Endless empty lines are bounded too.
        let blank = b"\r\n".repeat(LIMIT);
        assert_eq!(err(&blank), HeadError::TooLarge);
    }

    #[test]
    fn too_many_headers() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        let e = err(&buf);
        assert_eq!(e, HeadError::TooManyHeaders);
        assert_eq!(e.status(), 431);
    }

    #[test]
    fn versions() {
        assert_eq!(err(b"GET / HTTP/2.0\r\n\r\n").status(), 505);
        assert_eq!(err(b"GET / HTTP/3.0\r\nHost: a\r\n\r\n").status(), 505);
        assert_eq!(
            err(b"GET / HTTP/0.9\r\n\r\n"),
            HeadError::VersionNotSupported
        );
        assert_eq!(err(b"GET / http/1.1\r\n\r\n").status(), 400);
        assert_eq!(err(b"GET / HTTP/1.10\r\n\r\n").status(), 400);
        assert_eq!(err(b"GET / HTTP/1\r\n\r\n").status(), 400);
        assert_eq!(err(b"GET / FOO\r\n\r\n").status(), 400);
        assert_eq!(err(b"GET /\r\n\r\n").status(), 400);
        assert_eq!(Version::Http11.to_string(), "HTTP/1.1");
    }

    #[test]
    fn later_http_1_minor_versions_are_served_as_1_1() {
        for version in ["HTTP/1.2", "HTTP/1.9"] {
            let head = format!("GET /a?b HTTP/{}\r\nHost: a\r\n\r\n", &version[5..]);
            let (h, used) = ok(head.as_bytes());
            assert_eq!(h.version, Version::Http11, "{version}");
            assert_eq!(h.uri, "/a?b");
            assert_eq!(used, head.len());
        }
        // Still a 1.1 request: Host is required.
        assert_eq!(err(b"GET / HTTP/1.2\r\n\r\n").status(), 400);
    }

    #[test]
    fn bad_request_lines() {
        for bad in [
            &b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
            b" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\rHost: a\r\n\r\n",
            b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET\r\n\r\n",
        ] {
            let e = err(bad);
            assert_eq!(
                e.status(),
                400,
                "{:?} -> {e:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bad_headers() {
        for (bad, why) in [
            (
                &b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n"[..],
                "space before colon",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX\t: y\r\n\r\n",
                "tab before colon",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n",
                "obs-fold",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\tz\r\n\r\n",
                "obs-fold tab",
            ),
            (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", "leading space"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", "NUL"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", "bare CR"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bb\r\n\r\n", "ESC"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", "DEL"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n", "bad name"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", "no colon"),
            (b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", "empty name"),
        ] {
            assert_eq!(err(bad).status(), 400, "{why}");
        }
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n"),
            HeadError::Bad("obsolete line folding")
        );
        // Tabs and obs-text inside values are fine.
        let (h, _) = ok(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb \xe9\r\n\r\n");
        assert_eq!(h.headers.get("x"), Some(&b"a\tb \xe9"[..]));
    }

    #[test]
    fn host_rules() {
        assert_eq!(
            err(b"GET / HTTP/1.1\r\n\r\n"),
            HeadError::Bad("missing Host header")
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"),
            HeadError::Bad("multiple Host headers")
        );
        assert_eq!(
            err(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").status(),
            400
        );
        for bad in [
            &b"a b"[..],
            b"user@host",
            b"host/path",
            b"host?q",
            b"host#f",
            b"host:80:90",
            b"host:99999",
            b"host:8a",
            b"[::1",
            b"[::1]x",
            b"[]",
            b"\"quoted\"",
            b":80",
            b"h\\x",
        ] {
            let req = [&b"GET / HTTP/1.1\r\nHost: "[..], bad, b"\r\n\r\n"].concat();
            assert_eq!(
                err(&req),
                HeadError::Bad("invalid Host header"),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        for good in [
            &b"example.com"[..],
            b"EXAMPLE.com:80",
            b"127.0.0.1:8888",
            b"[::1]",
            b"[::1]:443",
            b"[fe80::1%25eth0]",
            b"xn--bcher-kva.example",
            b"host:",
            b"",
            b"a_b~c%41",
        ] {
            let req = [&b"GET / HTTP/1.1\r\nHost: "[..], good, b"\r\n\r\n"].concat();
            let (h, _) = ok(&req);
            assert_eq!(h.headers.get("host"), Some(good));
        }
    }

    #[test]
    fn targets() {
        for t in [
            "*",
            "http://example.com/x?y",
            "example.com:443",
            "/a%20b?c=d#frag",
        ] {
            let req = format!("OPTIONS {t} HTTP/1.1\r\nHost: a\r\n\r\n");
            let (h, _) = ok(req.as_bytes());
            assert_eq!(h.uri, t);
        }
    }

    #[test]
    fn error_accessors() {
        assert_eq!(HeadError::Bad("x").reason(), "x");
        assert_eq!(HeadError::TooLarge.reason(), "request head too large");
        assert!(HeadError::VersionNotSupported.to_string().contains("505"));
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet = b"GET / HTTP/1.1\r\n:Host a\t\x00\x80[]@";
        for buf in crate::test_input::garbage(alphabet, 0x2545_f491_4f6c_dd1du64, 80, 3000) {
            let _ = parse_request_head(&buf, 40);
            let _ = parse(&buf);
            let _ = valid_host(&buf);
        }
    }
}
