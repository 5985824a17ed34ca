//! The request object handlers see: Tornado's `HTTPServerRequest`.
//!
//! A [`Request`] is built from [`RequestParts`] (what the connection or the WIT record
//! carries); building it splits the target and the host name from the port. The query
//! string and the body arguments (urlencoded or multipart/form-data, blank values kept) are
//! parsed on first use, since most handlers never read them.

use std::sync::OnceLock;
use std::time::Duration;

use super::cookies::parse_cookie;
use super::head::Version;
use super::headers::HeaderMap;
use super::multipart::{
    UploadedFile, boundary_from_content_type, parse_header_params, parse_multipart_form_data,
};
use super::query::{absolute_form, parse_qs_bytes, split_uri};

/// The raw parts a [`Request`] is built from.
#[derive(Clone, Debug)]
pub struct RequestParts {
    /// The method.
    pub method: String,
    /// The request target as sent.
    pub uri: String,
    /// The protocol version.
    pub version: Version,
    /// The header fields.
    pub headers: HeaderMap,
    /// The complete body.
    pub body: Vec<u8>,
    /// The client's address.
    pub remote_ip: String,
    /// `http` or `https`.
    pub protocol: String,
    /// The Host header, or the server's default.
    pub host: String,
    /// The server name the client asked for in its TLS handshake (SNI).
    pub server_name: Option<String>,
    /// When the first byte of the request arrived, in nanoseconds since the Unix epoch.
    pub start_time: u64,
}

/// One HTTP request, as handlers see it (Tornado's `HTTPServerRequest`).
#[derive(Clone, Debug)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target as sent, e.g. `/a/b?c=d`.
    pub uri: String,
    /// The path part of `uri` (still percent-encoded).
    pub path: String,
    /// The query part of `uri` without `?` (empty when there is none).
    pub query: String,
    /// The protocol version.
    pub version: Version,
    /// The header fields (case-insensitive names, several values per name allowed).
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The client's address.
    pub remote_ip: String,
    /// `http` or `https`.
    pub protocol: String,
    /// The Host header (or the server's default).
    pub host: String,
    /// The server name the client asked for in its TLS handshake (SNI), on a TLS
    /// connection that sent one.
    pub server_name: Option<String>,
    /// `host` without the port, lower-cased.
    pub host_name: String,
    /// When the first byte of the request arrived, in nanoseconds since the Unix epoch.
    pub start_time: u64,
    /// Arguments from `query`, parsed on first use. (`OnceLock` rather than `OnceCell` keeps
    /// the request `Sync`, as it was when these were plain fields.)
    query_arguments: OnceLock<Vec<(String, Vec<u8>)>>,
    /// Arguments and files from `body`, parsed on first use.
    body_arguments: OnceLock<BodyArguments>,
}

impl Request {
    /// Builds the request object: splits the target into `path` and `query` and takes the
    /// host from an absolute-form target. Arguments are parsed later, on first use.
    pub fn new(mut parts: RequestParts) -> Self {
        // RFC 9112 §3.2.2: with an absolute-form target, its authority is the host and the
        // Host header is ignored.
        let (target, authority) = match absolute_form(&parts.uri) {
            Some((authority, target)) => (target, Some(authority.to_owned())),
            None => (parts.uri.as_str(), None),
        };
        let (path, query) = split_uri(target);
        let (path, query) = (path.to_owned(), query.unwrap_or("").to_owned());
        if let Some(authority) = authority {
            parts.host = authority;
        }
        Self::with_split_target(parts, path, query)
    }

    /// Builds the request object from parts whose target is already split, as the WIT
    /// record carries it: `path` and `query` are what [`Request::new`] would compute from
    /// `parts.uri`, and `parts.host` is the final host (an absolute-form target's authority
    /// already in place). Nothing is parsed again.
    pub fn with_split_target(parts: RequestParts, path: String, query: String) -> Self {
        let host_name = host_name(&parts.host);
        Self {
            method: parts.method,
            uri: parts.uri,
            path,
            query,
            version: parts.version,
            headers: parts.headers,
            body: parts.body,
            remote_ip: parts.remote_ip,
            protocol: parts.protocol,
            host: parts.host,
            host_name,
            server_name: parts.server_name,
            start_time: parts.start_time,
            query_arguments: OnceLock::new(),
            body_arguments: OnceLock::new(),
        }
    }

    /// Arguments from the query string, in order, blank values kept.
    ///
    /// Parsed from `query` on the first call; later changes to `query` are not seen.
    pub fn query_arguments(&self) -> &[(String, Vec<u8>)] {
        self.query_arguments
            .get_or_init(|| parse_qs_bytes(self.query.as_bytes(), true))
    }

    /// Arguments from a urlencoded or multipart body, in order, blank values kept.
    ///
    /// Parsed from `body` and its `Content-Type` on the first call (with [`Request::files`]);
    /// later changes to either are not seen. A body that claims a form type but does not
    /// parse gives no arguments and no files (Tornado logs and carries on the same way); the
    /// raw `body` is always there.
    pub fn body_arguments(&self) -> &[(String, Vec<u8>)] {
        &self.parsed_body().0
    }

    /// Files uploaded in a multipart body, by field name; parsed as
    /// [`Request::body_arguments`] says.
    pub fn files(&self) -> &[(String, UploadedFile)] {
        &self.parsed_body().1
    }

    fn parsed_body(&self) -> &BodyArguments {
        self.body_arguments
            .get_or_init(|| body_arguments(&self.headers, &self.body))
    }

    /// Every argument, query first then body (Tornado's `arguments`).
    pub fn arguments(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.query_arguments()
            .iter()
            .chain(self.body_arguments())
            .map(|(name, value)| (name.as_str(), value.as_slice()))
    }

    /// The last value of argument `name` as text (Tornado's `get_argument`), if present.
    pub fn argument(&self, name: &str) -> Option<String> {
        self.arguments()
            .filter(|(key, _)| *key == name)
            .last()
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }

    /// Every value of argument `name` as text (Tornado's `get_arguments`).
    pub fn argument_values(&self, name: &str) -> Vec<String> {
        self.arguments()
            .filter(|(key, _)| *key == name)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
            .collect()
    }

    /// The cookies sent, parsed from every `Cookie` header.
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.headers
            .get_all("Cookie")
            .flat_map(|value| parse_cookie(&String::from_utf8_lossy(value)))
            .collect()
    }

    /// The value of cookie `name`, if sent.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The full URL, e.g. `http://example.com/a?b=c` (Tornado's `full_url`).
    pub fn full_url(&self) -> String {
        format!("{}://{}{}", self.protocol, self.host, self.uri)
    }

    /// How long the request has been in flight at wall-clock time `now` (ns since the epoch).
    pub fn request_time(&self, now: u64) -> Duration {
        Duration::from_nanos(now.saturating_sub(self.start_time))
    }
}

/// `host` without its port, lower-cased (`[::1]:80` → `[::1]`).
fn host_name(host: &str) -> String {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.to_ascii_lowercase()
}

type BodyArguments = (Vec<(String, Vec<u8>)>, Vec<(String, UploadedFile)>);

/// Tornado's `parse_body_arguments`: urlencoded and multipart/form-data bodies.
fn body_arguments(headers: &HeaderMap, body: &[u8]) -> BodyArguments {
    let Some(content_type) = headers.get_str("Content-Type") else {
        return Default::default();
    };
    let (kind, _) = parse_header_params(content_type);
    match kind.to_ascii_lowercase().as_str() {
        "application/x-www-form-urlencoded" => (parse_qs_bytes(body, true), Vec::new()),
        "multipart/form-data" => boundary_from_content_type(content_type)
            .and_then(|boundary| parse_multipart_form_data(&boundary, body).ok())
            .unwrap_or_default(),
        _ => Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.add(*name, value.as_bytes().to_vec());
        }
        Request::new(RequestParts {
            method: "POST".into(),
            uri: uri.into(),
            version: Version::Http11,
            headers: map,
            body: body.to_vec(),
            remote_ip: "127.0.0.1".into(),
            protocol: "http".into(),
            host: "Example.COM:8080".into(),
            server_name: None,
            start_time: 0,
        })
    }

    #[test]
    fn splits_the_uri_and_keeps_blank_query_values() {
        let req = request("/a/b?x=1&y=&x=%20z", &[], b"");
        assert_eq!(
            (req.path.as_str(), req.query.as_str()),
            ("/a/b", "x=1&y=&x=%20z")
        );
        assert_eq!(req.argument_values("x"), ["1", " z"]);
        assert_eq!(req.argument("y").as_deref(), Some(""));
        assert_eq!(req.host_name, "example.com");
        assert_eq!(req.full_url(), "http://Example.COM:8080/a/b?x=1&y=&x=%20z");
    }

    #[test]
    fn an_absolute_form_target_names_the_host_and_the_host_header_is_ignored() {
        let req = request("http://Host.Example:81/p/q?x=1", &[], b"");
        assert_eq!(req.path, "/p/q");
        assert_eq!(req.query, "x=1");
        assert_eq!(req.argument("x").as_deref(), Some("1"));
        assert_eq!(req.host, "Host.Example:81");
        assert_eq!(req.host_name, "host.example");
        assert_eq!(
            req.uri, "http://Host.Example:81/p/q?x=1",
            "the target as sent"
        );
    }

    #[test]
    fn parses_urlencoded_bodies_after_the_query() {
        let req = request(
            "/?a=1",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            b"a=2&b=",
        );
        let all: Vec<_> = req
            .arguments()
            .map(|(k, v)| (k.to_owned(), v.to_vec()))
            .collect();
        assert_eq!(
            all,
            [
                ("a".into(), b"1".to_vec()),
                ("a".into(), b"2".to_vec()),
                ("b".into(), vec![])
            ]
        );
        assert_eq!(req.argument("a").as_deref(), Some("2"));
    }

    #[test]
    fn parses_multipart_fields_and_files() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--XX\r\n\
Content-Disposition: form-data; name=\"up\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XX--\r\n";
        let req = request(
            "/",
            &[("Content-Type", "multipart/form-data; boundary=XX")],
            body,
        );
        assert_eq!(req.argument("f").as_deref(), Some("v"));
        let (name, file) = &req.files()[0];
        assert_eq!(
            (
                name.as_str(),
                file.filename.as_str(),
                file.content_type.as_str()
            ),
            ("up", "a.txt", "text/plain")
        );
        assert_eq!(file.body, b"hi");
    }

    #[test]
    fn arguments_are_parsed_only_when_read() {
        // No final boundary: this body does not parse as multipart.
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n";
        let req = request(
            "/up?a=%zz&b&=c&d=%41",
            &[("Content-Type", "multipart/form-data; boundary=XX")],
            body,
        );
        assert_eq!(
            (req.path.as_str(), req.host_name.as_str()),
            ("/up", "example.com")
        );
        assert!(req.query_arguments.get().is_none() && req.body_arguments.get().is_none());
        assert!(
            req.cookie("a").is_none(),
            "other accessors leave the arguments alone"
        );
        assert!(req.query_arguments.get().is_none() && req.body_arguments.get().is_none());
        // Read, they are what the eager parse gave: malformed form data is no arguments.
        assert!(req.body_arguments().is_empty() && req.files().is_empty());
        assert_eq!(
            req.query_arguments(),
            [
                ("a".to_owned(), b"%zz".to_vec()),
                ("b".to_owned(), vec![]),
                (String::new(), b"c".to_vec()),
                ("d".to_owned(), b"A".to_vec())
            ]
        );
        assert_eq!(req.body, body, "the raw body is always there");
    }

    #[test]
    fn reading_arguments_twice_gives_the_same_values() {
        let req = request(
            "/?q=1",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"a=1&a=2",
        );
        let first: Vec<_> = req
            .arguments()
            .map(|(k, v)| (k.to_owned(), v.to_vec()))
            .collect();
        let again: Vec<_> = req
            .arguments()
            .map(|(k, v)| (k.to_owned(), v.to_vec()))
            .collect();
        assert_eq!(first, again);
        assert_eq!(req.argument_values("a"), ["1", "2"]);
        assert_eq!(req.clone().argument("q").as_deref(), Some("1"));
    }

    #[test]
    fn a_split_target_builds_the_same_request_as_new() {
        for uri in ["/a/b?x=1", "/", "/p?", "*", "http://Other.Host:81/p/q?x=1"] {
            let built = request(uri, &[], b"");
            let parts = RequestParts {
                method: "POST".into(),
                uri: uri.into(),
                version: Version::Http11,
                headers: HeaderMap::new(),
                body: Vec::new(),
                remote_ip: "127.0.0.1".into(),
                protocol: "http".into(),
                host: built.host.clone(),
                server_name: None,
                start_time: 0,
            };
            let split = Request::with_split_target(parts, built.path.clone(), built.query.clone());
            assert_eq!(
                (&split.path, &split.query, &split.host, &split.host_name),
                (&built.path, &built.query, &built.host, &built.host_name),
                "{uri}"
            );
            assert_eq!(split.query_arguments(), built.query_arguments(), "{uri}");
        }
    }

    #[test]
    fn reads_cookies_from_every_cookie_header() {
        let req = request("/", &[("Cookie", "a=1; b=\"two\""), ("Cookie", "c=3")], b"");
        assert_eq!(req.cookie("b").as_deref(), Some("two"));
        assert_eq!(req.cookie("c").as_deref(), Some("3"));
    }

    #[test]
    fn host_name_handles_ipv6_and_missing_ports() {
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("a:"), "a:");
    }
}
