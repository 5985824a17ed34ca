//! Request body framing (RFC 9112 §6): decides from the head whether the
//! body is absent, has a fixed length, or is chunked.

use std::fmt;

use super::head::{RequestHead, Version};
use super::headers::{element_token, is_token, list_elements, trim_ows};

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (neither Content-Length nor Transfer-Encoding).
    None,
    /// Exactly this many bytes follow the head (may be 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`; decode with [`super::chunked`].
    Chunked,
}

/// Why the body framing could not be determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// Malformed or conflicting framing headers (400).
    Bad(&'static str),
    /// A transfer coding we do not implement, e.g. `gzip, chunked` (501).
    NotImplemented(&'static str),
}

impl FramingError {
    /// HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            FramingError::Bad(_) => 400,
            FramingError::NotImplemented(_) => 501,
        }
    }

    /// Short human-readable description.
    pub fn reason(&self) -> &str {
        match self {
            FramingError::Bad(r) | FramingError::NotImplemented(r) => r,
        }
    }
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for FramingError {}

/// Determines the body framing of a request.
///
/// * Content-Length: every field and every comma-separated element must be
///   1*DIGIT fitting in u64, and all must be equal (numerically); otherwise
///   400.
/// * Transfer-Encoding: the codings of all TE fields together must be exactly
///   `chunked` (case-insensitive, no parameters). Unknown but well-formed
///   codings (`gzip, chunked`, `identity`) → 501; `chunked` repeated, not
///   last, with parameters, or a malformed/empty list → 400.
/// * TE together with Content-Length, or TE in an HTTP/1.0 request → 400.
pub fn body_framing(head: &RequestHead) -> Result<Framing, FramingError> {
    let has_te = head.headers.contains("Transfer-Encoding");
    let length = content_length(head)?;
    if has_te {
        if length.is_some() {
            return Err(FramingError::Bad(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        if head.version == Version::Http10 {
            return Err(FramingError::Bad("Transfer-Encoding in HTTP/1.0 request"));
        }
        check_transfer_encoding(head)?;
        return Ok(Framing::Chunked);
    }
    Ok(match length {
        Some(n) => Framing::Length(n),
        None => Framing::None,
    })
}

fn content_length(head: &RequestHead) -> Result<Option<u64>, FramingError> {
    let mut result: Option<u64> = None;
    for value in head.headers.get_all("Content-Length") {
        for element in value.split(|&b| b == b',') {
            let n = parse_decimal(trim_ows(element))
                .ok_or(FramingError::Bad("invalid Content-Length"))?;
            match result {
                Some(prev) if prev != n => {
                    return Err(FramingError::Bad("conflicting Content-Length values"));
                }
                _ => result = Some(n),
            }
        }
    }
    Ok(result)
}

/// Parses 1*DIGIT into a u64; `None` on empty input, any non-digit or
/// overflow.
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn check_transfer_encoding(head: &RequestHead) -> Result<(), FramingError> {
    let mut codings = 0usize;
    let mut chunked_seen = false;
    let mut unknown = false;
    for value in head.headers.get_all("Transfer-Encoding") {
        for element in list_elements(value) {
            codings += 1;
            let name = element_token(element);
            if !is_token(name) {
                return Err(FramingError::Bad("malformed Transfer-Encoding"));
            }
            if chunked_seen {
                // Something follows chunked (another chunked or any coding).
                return Err(FramingError::Bad("chunked must be the final coding, once"));
            }
            if name.eq_ignore_ascii_case(b"chunked") {
                if name.len() != element.len() {
                    return Err(FramingError::Bad("chunked takes no parameters"));
                }
                chunked_seen = true;
            } else {
                unknown = true;
            }
        }
    }
    if codings == 0 {
        return Err(FramingError::Bad("empty Transfer-Encoding"));
    }
    if unknown {
        return Err(FramingError::NotImplemented("unsupported transfer coding"));
    }
    if !chunked_seen {
        return Err(FramingError::Bad("chunked must be the final coding"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::head::parse_request_head;
    use super::*;

    fn head(version: &str, fields: &[(&str, &str)]) -> RequestHead {
        let mut s = format!("POST / {version}\r\nHost: a\r\n");
        for (n, v) in fields {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        match parse_request_head(s.as_bytes(), 65536) {
            Ok(Some((h, _))) => h,
            other => panic!("{other:?}"),
        }
    }

    fn framing(fields: &[(&str, &str)]) -> Result<Framing, FramingError> {
        body_framing(&head("HTTP/1.1", fields))
    }

    #[test]
    fn no_body() {
        assert_eq!(framing(&[]), Ok(Framing::None));
    }

    #[test]
    fn content_length_ok() {
        assert_eq!(framing(&[("Content-Length", "0")]), Ok(Framing::Length(0)));
        assert_eq!(
            framing(&[("Content-Length", "42")]),
            Ok(Framing::Length(42))
        );
        assert_eq!(
            framing(&[("Content-Length", "007")]),
            Ok(Framing::Length(7))
        );
        assert_eq!(
            framing(&[("Content-Length", "18446744073709551615")]),
            Ok(Framing::Length(u64::MAX))
        );
        assert_eq!(
            framing(&[("Content-Length", "5"), ("content-length", "5")]),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing(&[("Content-Length", "5, 5,5")]),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            body_framing(&head("HTTP/1.0", &[("Content-Length", "3")])),
            Ok(Framing::Length(3))
        );
    }

    #[test]
    fn content_length_bad() {
        for v in [
            "",
            "-1",
            "+1",
            "1 2",
            "0x10",
            "1.0",
            "abc",
            "18446744073709551616",
            "5,",
            ",5",
            "5,,5",
            "5, 6",
            "\u{661}",
        ] {
            let r = framing(&[("Content-Length", v)]);
            assert_eq!(r.map_err(|e| e.status()), Err(400), "{v:?}");
        }
        assert_eq!(
            framing(&[("Content-Length", "5"), ("Content-Length", "6")]),
            Err(FramingError::Bad("conflicting Content-Length values"))
        );
    }

    #[test]
    fn chunked_ok() {
        assert_eq!(
            framing(&[("Transfer-Encoding", "chunked")]),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&[("Transfer-Encoding", "Chunked")]),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&[("Transfer-Encoding", " chunked ,")]),
            Ok(Framing::Chunked)
        );
    }

    #[test]
    fn transfer_encoding_errors() {
        let cases: &[(&[(&str, &str)], u16)] = &[
            (&[("Transfer-Encoding", "gzip, chunked")], 501),
            (&[("Transfer-Encoding", "identity")], 501),
            (&[("Transfer-Encoding", "gzip")], 501),
            (
                &[
                    ("Transfer-Encoding", "gzip"),
                    ("Transfer-Encoding", "chunked"),
                ],
                501,
            ),
            (&[("Transfer-Encoding", "chunked, chunked")], 400),
            (
                &[
                    ("Transfer-Encoding", "chunked"),
                    ("Transfer-Encoding", "chunked"),
                ],
                400,
            ),
            (&[("Transfer-Encoding", "chunked, gzip")], 400),
            (&[("Transfer-Encoding", "chunked;foo=bar")], 400),
            (&[("Transfer-Encoding", "")], 400),
            (&[("Transfer-Encoding", ",")], 400),
            (&[("Transfer-Encoding", "chun ked")], 400),
            (&[("Transfer-Encoding", "\"chunked\"")], 400),
            (
                &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
                400,
            ),
            (
                &[("Content-Length", "5"), ("Transfer-Encoding", "gzip")],
                400,
            ),
        ];
        for (fields, status) in cases {
            let r = framing(fields);
            assert_eq!(r.map_err(|e| e.status()), Err(*status), "{fields:?}");
        }
        let r = body_framing(&head("HTTP/1.0", &[("Transfer-Encoding", "chunked")]));
        assert_eq!(
            r,
            Err(FramingError::Bad("Transfer-Encoding in HTTP/1.0 request"))
        );
    }

    #[test]
    fn bad_content_length_reported_even_with_te() {
        let r = framing(&[("Transfer-Encoding", "chunked"), ("Content-Length", "x")]);
        assert_eq!(r.map_err(|e| e.status()), Err(400));
    }

    #[test]
    fn accessors() {
        let e = FramingError::NotImplemented("unsupported transfer coding");
        assert_eq!(e.status(), 501);
        assert_eq!(e.reason(), "unsupported transfer coding");
        assert!(e.to_string().contains("501"));
        assert_eq!(parse_decimal(b"123"), Some(123));
        assert_eq!(parse_decimal(b""), None);
    }
}
