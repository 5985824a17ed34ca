//! Query strings and URL-encoded form bodies (Python `urllib.parse` /
//! Tornado `parse_qs_bytes` semantics).

/// Decodes `%XX` escapes (either hex case); with `plus_as_space`, `+`
/// becomes a space first (form encoding). Invalid or truncated escapes are
/// kept literally, like `urllib.parse.unquote`.
pub fn percent_decode(bytes: &[u8], plus_as_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&c| hex(c));
                let lo = bytes.get(i + 2).and_then(|&c| hex(c));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push((hi << 4) | lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_as_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses `a=1&b=2&a=3` into `[("a", b"1"), ("b", b"2"), ("a", b"3")]`,
/// in order (group by name for Tornado's dict-of-lists).
///
/// Follows `urllib.parse.parse_qsl` (Python >= 3.10): fields are split on
/// `&` only; empty fields are skipped; a field without `=` counts as a
/// blank value; blank values are dropped unless `keep_blank_values`
/// (Tornado's request parsing passes `true`). `+` means space and `%XX` is
/// decoded in names and values. Names are decoded as UTF-8 with invalid
/// sequences replaced (Tornado uses latin-1 here; UTF-8 is what clients
/// send); values stay raw bytes.
pub fn parse_qs_bytes(qs: &[u8], keep_blank_values: bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for field in qs.split(|&b| b == b'&') {
        if field.is_empty() {
            continue;
        }
        let (name, value) = match field.iter().position(|&b| b == b'=') {
            Some(i) => (
                field.get(..i).unwrap_or(&[]),
                field.get(i + 1..).unwrap_or(&[]),
            ),
            None => (field, &[][..]),
        };
        if value.is_empty() && !keep_blank_values {
            continue;
        }
        let name = String::from_utf8_lossy(&percent_decode(name, true)).into_owned();
        out.push((name, percent_decode(value, true)));
    }
    out
}

/// Splits a request-target into path and query: `"/a?b=1#f"` →
/// `("/a", Some("b=1"))`. Any `#fragment` is dropped first (clients should
/// not send one); `"/a?"` gives `Some("")`, `"/a"` gives `None`.
pub fn split_uri(uri: &str) -> (&str, Option<&str>) {
    let uri = match uri.split_once('#') {
        Some((before, _)) => before,
        None => uri,
    };
    match uri.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (uri, None),
    }
}

/// Splits an absolute-form request target (`http://host:port/path?query`, RFC 9112 §3.2.2)
/// into its authority and the origin-form rest (`/path?query`, `/` when the path is empty).
///
/// Returns `None` for any other form (origin, authority or asterisk). Userinfo before `@` is
/// dropped: it never names the host.
pub fn absolute_form(uri: &str) -> Option<(&str, &str)> {
    let scheme_end = uri.find("://")?;
    let scheme = uri.get(..scheme_end)?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    let rest = uri.get(scheme_end + 3..)?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end)?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let target = match rest.get(authority_end..)? {
        "" => "/",
        target => target,
    };
    Some((authority, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_targets_split_into_authority_and_origin_form() {
        assert_eq!(
            absolute_form("http://host.example:8080/p?q=1"),
            Some(("host.example:8080", "/p?q=1"))
        );
        assert_eq!(absolute_form("HTTPS://a.example"), Some(("a.example", "/")));
        assert_eq!(
            absolute_form("http://u:pw@a.example/x"),
            Some(("a.example", "/x"))
        );
        assert_eq!(
            absolute_form("http://a.example?x"),
            Some(("a.example", "?x"))
        );
        assert_eq!(absolute_form("/p?http://x"), None);
        assert_eq!(absolute_form("ftp://a.example/"), None);
        assert_eq!(absolute_form("*"), None);
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode(b"a%20b%2Bc%2bd", false), b"a b+c+d");
        assert_eq!(percent_decode(b"a+b", false), b"a+b");
        assert_eq!(percent_decode(b"a+b", true), b"a b");
        assert_eq!(percent_decode(b"%", false), b"%");
        assert_eq!(percent_decode(b"%4", false), b"%4");
        assert_eq!(percent_decode(b"%zz%4g%", false), b"%zz%4g%");
        assert_eq!(percent_decode(b"%%41", false), b"%A");
        assert_eq!(percent_decode(b"%C3%A9", false), "é".as_bytes());
        assert_eq!(percent_decode(b"%ff%00", false), vec![0xff, 0]);
        assert_eq!(percent_decode(b"", true), b"");
        assert_eq!(percent_decode(b"%2B", true), b"+");
    }

    #[test]
    fn qs_basic() {
        assert_eq!(
            parse_qs_bytes(b"a=1&b=2&a=3", false),
            pairs(&[("a", "1"), ("b", "2"), ("a", "3")])
        );
        assert_eq!(
            parse_qs_bytes(b"q=hello+world&x=%26%3D", false),
            pairs(&[("q", "hello world"), ("x", "&=")])
        );
        assert_eq!(parse_qs_bytes(b"a=b=c", false), pairs(&[("a", "b=c")]));
    }

    #[test]
    fn qs_blank_values() {
        assert_eq!(parse_qs_bytes(b"a=&b&c=1", false), pairs(&[("c", "1")]));
        assert_eq!(
            parse_qs_bytes(b"a=&b&c=1", true),
            pairs(&[("a", ""), ("b", ""), ("c", "1")])
        );
        assert_eq!(parse_qs_bytes(b"&&a=1&&", true), pairs(&[("a", "1")]));
        assert_eq!(parse_qs_bytes(b"=x", false), pairs(&[("", "x")]));
        assert_eq!(parse_qs_bytes(b"", true), vec![]);
        assert_eq!(parse_qs_bytes(b"=", true), pairs(&[("", "")]));
    }

    #[test]
    fn qs_semicolons_are_not_separators() {
        assert_eq!(parse_qs_bytes(b"a=1;b=2", false), pairs(&[("a", "1;b=2")]));
    }

    #[test]
    fn qs_non_utf8() {
        let r = parse_qs_bytes(b"n%E9=%E9&caf%C3%A9=1", false);
        assert_eq!(r[0].0, "n\u{fffd}");
        assert_eq!(r[0].1, vec![0xe9]);
        assert_eq!(r[1].0, "café");
    }

    #[test]
    fn split() {
        assert_eq!(split_uri("/a/b?x=1&y=2"), ("/a/b", Some("x=1&y=2")));
        assert_eq!(split_uri("/a?"), ("/a", Some("")));
        assert_eq!(split_uri("/a"), ("/a", None));
        assert_eq!(split_uri("/a?b?c"), ("/a", Some("b?c")));
        assert_eq!(split_uri("/a#x?y"), ("/a", None));
        assert_eq!(split_uri("/a?q#frag"), ("/a", Some("q")));
        assert_eq!(split_uri(""), ("", None));
        assert_eq!(split_uri("*"), ("*", None));
    }
}
