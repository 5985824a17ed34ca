//! The pieces of a response head on the wire: the status line with its reason phrase,
//! checked header lines, the `Date` value, and Tornado's error page. It knows nothing of
//! the [`Response`](super::Response) type; `response.rs` puts the pieces together.

use std::fmt;

use super::head::Version;
use super::headers::is_token;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Converts days since 1970-01-01 to a (year, month 1..=12, day 1..=31)
/// civil date (proleptic Gregorian; H. Hinnant's `civil_from_days`).
pub fn civil_from_days(days: u64) -> (u64, u32, u32) {
    // Shift the epoch to 0000-03-01 so that leap days end each cycle.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Formats a Unix timestamp as an IMF-fixdate,
/// e.g. `"Sun, 06 Nov 1994 08:49:37 GMT"` (RFC 9110 §5.6.7). Years past
/// 9999 are printed with more digits.
pub fn http_date(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 4).
    let weekday = WEEKDAYS
        .get(((days + 4) % 7) as usize)
        .copied()
        .unwrap_or("Sun");
    let month_name = MONTHS
        .get((month as usize).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Standard reason phrase for `code` (RFC 9110 wording, as Python's
/// `http.HTTPStatus` in 3.13), or `"Unknown"`.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a Teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "Unknown",
    }
}

/// True when `name` is a valid field name (a non-empty token).
pub fn valid_header_name(name: &str) -> bool {
    is_token(name.as_bytes())
}

/// True when `value` can be sent as a field value without enabling
/// response splitting: no CR, LF or NUL. (Tornado's `set_header` is
/// stricter and refuses every byte below 0x20; other CTLs are let through
/// here.)
pub fn valid_header_value(value: &[u8]) -> bool {
    !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

/// A header that [`write_header`] refused to serialise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidHeader {
    /// The name is not a token.
    Name,
    /// The value contains CR, LF or NUL.
    Value,
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidHeader::Name => "invalid header name",
            InvalidHeader::Value => "invalid header value",
        })
    }
}

impl std::error::Error for InvalidHeader {}

/// Appends `"HTTP/1.1 404 Not Found\r\n"`. Bytes of `reason` that may not
/// appear in a reason-phrase (CTLs other than HTAB, DEL) are written as
/// spaces, so the line can never be split. `code` is written as given
/// (callers pass 100..=999).
pub fn write_status_line(out: &mut Vec<u8>, version: Version, code: u16, reason: &str) {
    out.extend_from_slice(version.as_str().as_bytes());
    let code = code.min(999);
    out.extend_from_slice(&[
        b' ',
        b'0' + (code / 100) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
        b' ',
    ]);
    out.extend(reason.bytes().map(|b| {
        if b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80 {
            b
        } else {
            b' '
        }
    }));
    out.extend_from_slice(b"\r\n");
}

/// Appends `"name: value\r\n"` after checking both with
/// [`valid_header_name`] and [`valid_header_value`]; on error nothing is
/// written.
pub fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) -> Result<(), InvalidHeader> {
    if !valid_header_name(name) {
        return Err(InvalidHeader::Name);
    }
    if !valid_header_value(value) {
        return Err(InvalidHeader::Value);
    }
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (`Content-Length`, the
/// host's access-log lines): no formatter, no allocation.
pub fn push_decimal(out: &mut Vec<u8>, n: u64, width: u32) {
    let mut divisor = 1u64;
    let mut digits = 1;
    while n / divisor >= 10 || digits < width {
        divisor *= 10;
        digits += 1;
    }
    while divisor > 0 {
        out.push(b'0' + (n / divisor % 10) as u8);
        divisor /= 10;
    }
}

/// Tornado's default error page:
/// `<html><title>404: Not Found</title><body>404: Not Found</body></html>`.
pub fn error_page(code: u16) -> Vec<u8> {
    let reason = reason_phrase(code);
    format!("<html><title>{code}: {reason}</title><body>{code}: {reason}</body></html>")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        for (t, s) in [
            (0u64, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (86_399, "Thu, 01 Jan 1970 23:59:59 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (951_868_800, "Wed, 01 Mar 2000 00:00:00 GMT"),
            (1_078_012_800, "Sun, 29 Feb 2004 00:00:00 GMT"),
            (1_359_312_200, "Sun, 27 Jan 2013 18:43:20 GMT"),
            (1_582_934_400, "Sat, 29 Feb 2020 00:00:00 GMT"),
            (1_709_164_800, "Thu, 29 Feb 2024 00:00:00 GMT"),
            (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT"),
            (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"),
            (2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT"),
            (4_000_000_000, "Tue, 02 Oct 2096 07:06:40 GMT"),
            (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
            (4_107_456_000, "Sun, 28 Feb 2100 00:00:00 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (11_644_473_600, "Sun, 01 Jan 2339 00:00:00 GMT"),
            (32_503_680_000, "Wed, 01 Jan 3000 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            assert_eq!(http_date(t), s, "{t}");
        }
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        let s = http_date(u64::MAX);
        assert!(s.ends_with(" GMT"));
        assert!(http_date(253_402_300_800).contains(" 10000 "));
    }

    #[test]
    fn civil_dates_roundtrip_every_day_for_500_years() {
        // Walk day by day and check the calendar advances correctly.
        let (mut y, mut m, mut d) = (1970u64, 1u32, 1u32);
        for days in 0..(500 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn reasons() {
        assert_eq!(reason_phrase(200), "OK");
        assert_eq!(reason_phrase(404), "Not Found");
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(505), "HTTP Version Not Supported");
        assert_eq!(reason_phrase(599), "Unknown");
        assert_eq!(reason_phrase(0), "Unknown");
    }

    #[test]
    fn header_validation() {
        assert!(valid_header_name("Content-Type"));
        assert!(!valid_header_name(""));
        assert!(!valid_header_name("Bad Name"));
        assert!(!valid_header_name("X:Y"));
        assert!(!valid_header_name("Ä"));
        assert!(valid_header_value(b"text/html; charset=\"utf-8\""));
        assert!(valid_header_value(b""));
        assert!(valid_header_value(b"a\tb\xe9"));
        assert!(!valid_header_value(b"a\r\nSet-Cookie: x"));
        assert!(!valid_header_value(b"a\nb"));
        assert!(!valid_header_value(b"a\rb"));
        assert!(!valid_header_value(b"a\x00b"));
    }

    #[test]
    fn status_line() {
        let mut out = Vec::new();
        write_status_line(&mut out, Version::Http11, 404, "Not Found");
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\n");
        out.clear();
        write_status_line(&mut out, Version::Http10, 200, "Evil\r\nX: y");
        assert_eq!(out, b"HTTP/1.0 200 Evil  X: y\r\n");
        out.clear();
        write_status_line(&mut out, Version::Http11, 204, "");
        assert_eq!(out, b"HTTP/1.1 204 \r\n");
    }

    #[test]
    fn header_lines() {
        let mut out = Vec::new();
        assert_eq!(write_header(&mut out, "X-A", b"1"), Ok(()));
        assert_eq!(
            write_header(&mut out, "X B", b"1"),
            Err(InvalidHeader::Name)
        );
        assert_eq!(
            write_header(&mut out, "X-C", b"1\r\n"),
            Err(InvalidHeader::Value)
        );
        assert_eq!(out, b"X-A: 1\r\n");
        assert_eq!(InvalidHeader::Value.to_string(), "invalid header value");
    }

    #[test]
    fn decimals_pad_to_their_width() {
        for (n, width, text) in [
            (0, 1, "0"),
            (7, 1, "7"),
            (7, 2, "07"),
            (10, 1, "10"),
            (99, 1, "99"),
            (100, 1, "100"),
            (12_345, 1, "12345"),
            (449_295, 6, "449295"),
            (42, 6, "000042"),
            (1_234_567, 2, "1234567"),
            (u64::MAX, 1, "18446744073709551615"),
        ] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n, width);
            assert_eq!(out, format!("x{text}").into_bytes());
        }
    }

    #[test]
    fn error_pages() {
        assert_eq!(
            error_page(404),
            b"<html><title>404: Not Found</title><body>404: Not Found</body></html>"
        );
        assert_eq!(
            error_page(599),
            b"<html><title>599: Unknown</title><body>599: Unknown</body></html>"
        );
    }
}
