//! Client address and scheme from proxy headers (`xheaders=True` in
//! Tornado's `HTTPServer`, `_HTTPRequestContext._apply_xheaders`).

use std::net::IpAddr;

use super::headers::HeaderMap;

/// The client IP to report for a request received from `peer_ip`.
///
/// Mirrors Tornado exactly:
/// 1. start from `X-Forwarded-For` (all fields joined with `,`), or
///    `peer_ip` if absent;
/// 2. walk its comma-separated entries from the right, skipping entries
///    listed in `trusted` (trusted downstream proxies); the first untrusted
///    entry is the candidate (the leftmost one if all are trusted);
/// 3. if `X-Real-Ip` is present it replaces the candidate (Tornado gives it
///    precedence, it is not a fallback);
/// 4. the candidate is used only if it parses as an [`IpAddr`]; otherwise
///    `peer_ip` is returned.
pub fn real_ip(headers: &HeaderMap, peer_ip: &str, trusted: &[String]) -> String {
    let forwarded = headers
        .get_combined("X-Forwarded-For")
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let chain = forwarded.as_deref().unwrap_or(peer_ip);
    let mut candidate = "";
    for entry in chain.rsplit(',').map(str::trim) {
        candidate = entry;
        if !trusted.iter().any(|t| t == entry) {
            break;
        }
    }
    let real = headers
        .get_combined("X-Real-Ip")
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let candidate = real.as_deref().unwrap_or(candidate);
    if is_valid_ip(candidate) {
        candidate.to_owned()
    } else {
        peer_ip.to_owned()
    }
}

/// True when `s` is a literal IPv4 or IPv6 address (no brackets, port or
/// zone).
pub fn is_valid_ip(s: &str) -> bool {
    !s.is_empty() && s.parse::<IpAddr>().is_ok()
}

/// The request scheme: `X-Scheme` if present, else `X-Forwarded-Proto`,
/// else `default`; of a comma list only the last entry (trimmed) counts;
/// the result is used only if it is exactly `http` or `https`
/// (case-sensitive, as in Tornado), otherwise `default` is returned. An
/// invalid `X-Scheme` does not fall back to `X-Forwarded-Proto`.
pub fn real_scheme(headers: &HeaderMap, default: &str) -> String {
    let value = headers
        .get_combined("X-Scheme")
        .or_else(|| headers.get_combined("X-Forwarded-Proto"));
    if let Some(value) = value {
        let value = String::from_utf8_lossy(&value);
        let last = value.rsplit(',').next().unwrap_or("").trim();
        if last == "http" || last == "https" {
            return last.to_owned();
        }
    }
    default.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(fields: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in fields {
            m.add(*n, *v);
        }
        m
    }

    fn trusted(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_headers_gives_peer() {
        assert_eq!(real_ip(&h(&[]), "10.0.0.1", &[]), "10.0.0.1");
    }

    #[test]
    fn forwarded_for_rightmost_untrusted() {
        let hs = h(&[("X-Forwarded-For", "1.2.3.4, 5.6.7.8, 127.0.0.1")]);
        assert_eq!(real_ip(&hs, "9.9.9.9", &[]), "127.0.0.1");
        assert_eq!(real_ip(&hs, "9.9.9.9", &trusted(&["127.0.0.1"])), "5.6.7.8");
        assert_eq!(
            real_ip(&hs, "9.9.9.9", &trusted(&["127.0.0.1", "5.6.7.8"])),
            "1.2.3.4"
        );
        // All trusted: the leftmost entry.
        assert_eq!(
            real_ip(
                &hs,
                "9.9.9.9",
                &trusted(&["127.0.0.1", "5.6.7.8", "1.2.3.4"])
            ),
            "1.2.3.4"
        );
    }

    #[test]
    fn multiple_forwarded_for_fields_are_joined() {
        let hs = h(&[
            ("X-Forwarded-For", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
        ]);
        assert_eq!(real_ip(&hs, "9.9.9.9", &[]), "2.2.2.2");
        assert_eq!(real_ip(&hs, "9.9.9.9", &trusted(&["2.2.2.2"])), "1.1.1.1");
    }

    #[test]
    fn invalid_candidates_fall_back_to_peer() {
        for bad in [
            "unknown",
            "",
            "1.2.3",
            "[::1]",
            "1.2.3.4:80",
            "fe80::1%eth0",
            "1.2.3.4\0",
        ] {
            let hs = h(&[("X-Forwarded-For", bad)]);
            assert_eq!(real_ip(&hs, "9.9.9.9", &[]), "9.9.9.9", "{bad:?}");
        }
        let hs = h(&[("X-Forwarded-For", "1.1.1.1, garbage")]);
        assert_eq!(real_ip(&hs, "9.9.9.9", &[]), "9.9.9.9");
    }

    #[test]
    fn ipv6() {
        let hs = h(&[("X-Forwarded-For", "2001:db8::1")]);
        assert_eq!(real_ip(&hs, "::1", &[]), "2001:db8::1");
    }

    #[test]
    fn real_ip_header_takes_precedence() {
        let hs = h(&[("X-Real-Ip", "4.4.4.4")]);
        assert_eq!(real_ip(&hs, "9.9.9.9", &[]), "4.4.4.4");
        let hs = h(&[("X-Forwarded-For", "1.1.1.1"), ("X-Real-IP", "4.4.4.4")]);
        assert_eq!(real_ip(&hs, "9.9.9.9", &[]), "4.4.4.4");
        // Invalid X-Real-Ip discards the X-Forwarded-For candidate too.
        let hs = h(&[("X-Forwarded-For", "1.1.1.1"), ("X-Real-Ip", "bogus")]);
        assert_eq!(real_ip(&hs, "9.9.9.9", &[]), "9.9.9.9");
    }

    #[test]
    fn schemes() {
        assert_eq!(real_scheme(&h(&[]), "http"), "http");
        assert_eq!(real_scheme(&h(&[("X-Scheme", "https")]), "http"), "https");
        assert_eq!(
            real_scheme(&h(&[("X-Forwarded-Proto", "https")]), "http"),
            "https"
        );
        assert_eq!(
            real_scheme(&h(&[("X-Forwarded-Proto", "http, https ")]), "http"),
            "https"
        );
        assert_eq!(
            real_scheme(&h(&[("X-Forwarded-Proto", "https, http")]), "https"),
            "http"
        );
        assert_eq!(
            real_scheme(&h(&[("X-Forwarded-Proto", "ftp")]), "http"),
            "http"
        );
        assert_eq!(
            real_scheme(&h(&[("X-Forwarded-Proto", "HTTPS")]), "http"),
            "http"
        );
        // X-Scheme wins even when invalid.
        assert_eq!(
            real_scheme(
                &h(&[("X-Scheme", "gopher"), ("X-Forwarded-Proto", "https")]),
                "http"
            ),
            "http"
        );
        assert_eq!(
            real_scheme(
                &h(&[
                    ("X-Forwarded-Proto", "https"),
                    ("X-Forwarded-Proto", "http")
                ]),
                "https"
            ),
            "http"
        );
    }
}
