//! `Cookie` request header parsing, matching Tornado's
//! `httputil.parse_cookie` (browser behaviour rather than strict RFC 6265).

/// Parses a `Cookie` header value into (name, value) pairs.
///
/// As Tornado: split on `;`; each chunk is `name=value` split at the first
/// `=`, or, without `=`, an empty name with the chunk as value; name and
/// value are stripped; chunks with both empty are dropped; values in double
/// quotes are unquoted with Python's `http.cookies` rules (`\ooo` octal and
/// `\x` escapes). Like the dict Tornado returns, a repeated name keeps its
/// first position and takes the last value.
pub fn parse_cookie(header: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for chunk in header.split(';') {
        let (name, value) = chunk.split_once('=').unwrap_or(("", chunk));
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() && value.is_empty() {
            continue;
        }
        let value = unquote_cookie(value);
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name.to_owned(), value)),
        }
    }
    out
}

/// Python's `http.cookies._unquote`: strips surrounding double quotes and
/// resolves `\ooo` (octal, first digit 0-3, giving U+0000..U+00FF) and
/// `\c` escapes. Unquoted values are returned unchanged.
pub fn unquote_cookie(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let inner = match chars.as_slice() {
        ['"', inner @ .., '"'] => inner,
        _ => return value.to_owned(),
    };
    let mut out = String::with_capacity(inner.len());
    let mut i = 0usize;
    while let Some(&c) = inner.get(i) {
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        match (inner.get(i + 1), inner.get(i + 2), inner.get(i + 3)) {
            (Some(&a @ '0'..='3'), Some(&b @ '0'..='7'), Some(&c @ '0'..='7')) => {
                let code = (a as u32 - '0' as u32) * 64
                    + (b as u32 - '0' as u32) * 8
                    + (c as u32 - '0' as u32);
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                i += 4;
            }
            // Python's `[\\].` does not match a newline after the backslash.
            (Some(&next), _, _) if next != '\n' => {
                out.push(next);
                i += 2;
            }
            _ => {
                out.push('\\');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn basic() {
        assert_eq!(
            parse_cookie("a=1; b=2;c=3"),
            pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
        );
        assert_eq!(parse_cookie(""), vec![]);
        assert_eq!(parse_cookie(" ; ;"), vec![]);
        assert_eq!(parse_cookie("a=b=c"), pairs(&[("a", "b=c")]));
        assert_eq!(parse_cookie("a="), pairs(&[("a", "")]));
        assert_eq!(parse_cookie("=v"), pairs(&[("", "v")]));
    }

    #[test]
    fn tornado_test_cases() {
        // From tornado/test/httputil_test.py ParseCookieTest.
        assert_eq!(
            parse_cookie("chips=ahoy; vienna=finger"),
            pairs(&[("chips", "ahoy"), ("vienna", "finger")])
        );
        assert_eq!(
            parse_cookie("keebler=\"E=mc2; L=\\\"Loves\\\"; fudge=\\012;\""),
            pairs(&[
                ("keebler", "\"E=mc2"),
                ("L", "\\\"Loves\\\""),
                ("fudge", "\\012"),
                ("", "\"")
            ])
        );
        assert_eq!(
            parse_cookie("keebler=E=mc2"),
            pairs(&[("keebler", "E=mc2")])
        );
        assert_eq!(
            parse_cookie("key:term=value:term"),
            pairs(&[("key:term", "value:term")])
        );
        assert_eq!(
            parse_cookie("a=b; c=[; d=r; f=h"),
            pairs(&[("a", "b"), ("c", "["), ("d", "r"), ("f", "h")])
        );
        assert_eq!(
            parse_cookie("a=b; =; c=d"),
            pairs(&[("a", "b"), ("c", "d")])
        );
        assert_eq!(parse_cookie("a=b; ; c=d"), pairs(&[("a", "b"), ("c", "d")]));
        assert_eq!(
            parse_cookie("  a  =  b  ;  c  =  d  "),
            pairs(&[("a", "b"), ("c", "d")])
        );
        assert_eq!(parse_cookie("a=\"b\""), pairs(&[("a", "b")]));
        assert_eq!(
            parse_cookie("a=b; c=\"d=e\"; f=\"g\\\\h\""),
            pairs(&[("a", "b"), ("c", "d=e"), ("f", "g\\h")])
        );
        assert_eq!(parse_cookie("foo=\"\\101\\102\""), pairs(&[("foo", "AB")]));
    }

    #[test]
    fn tornado_edge_and_invalid_cases() {
        assert_eq!(
            parse_cookie("a=b; Domain=example.com"),
            pairs(&[("a", "b"), ("Domain", "example.com")])
        );
        assert_eq!(
            parse_cookie("a=b; h=i; a=c"),
            pairs(&[("a", "c"), ("h", "i")])
        );
        assert!(
            parse_cookie("abc=def; unnamed; django_language=en")
                .iter()
                .any(|(n, _)| n == "django_language")
        );
        assert_eq!(
            parse_cookie("a=b; \"; c=d"),
            pairs(&[("a", "b"), ("", "\""), ("c", "d")])
        );
        assert_eq!(
            parse_cookie("a b c=d e = f; gh=i"),
            pairs(&[("a b c", "d e = f"), ("gh", "i")])
        );
        assert_eq!(
            parse_cookie("a   b,c<>@:/[]?{}=d  \"  =e,f g"),
            pairs(&[("a   b,c<>@:/[]?{}", "d  \"  =e,f g")])
        );
        assert_eq!(
            parse_cookie("saint=André Bessette"),
            pairs(&[("saint", "André Bessette")])
        );
        assert_eq!(
            parse_cookie("  =  b  ;  ;  =  ;   c  =  ;  "),
            pairs(&[("", "b"), ("c", "")])
        );
    }

    #[test]
    fn no_equals_means_empty_name() {
        assert_eq!(parse_cookie("abc"), pairs(&[("", "abc")]));
        assert_eq!(
            parse_cookie("abc; def"),
            pairs(&[("", "def")]),
            "dict semantics: last value for the empty name"
        );
    }

    #[test]
    fn duplicates_keep_first_position_last_value() {
        assert_eq!(
            parse_cookie("a=1; b=2; a=3"),
            pairs(&[("a", "3"), ("b", "2")])
        );
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote_cookie("plain"), "plain");
        assert_eq!(unquote_cookie("\""), "\"");
        assert_eq!(unquote_cookie("\"\""), "");
        assert_eq!(unquote_cookie("\"a\\\"b\""), "a\"b");
        assert_eq!(unquote_cookie("\"\\377\""), "\u{ff}");
        assert_eq!(unquote_cookie("\"\\400\""), "400");
        assert_eq!(unquote_cookie("\"\\12\""), "12");
        assert_eq!(unquote_cookie("\"a\\\""), "a\\");
        assert_eq!(unquote_cookie("\"é\\é\""), "éé");
        assert_eq!(unquote_cookie("\"x"), "\"x");
    }
}
