//! `multipart/form-data` bodies and `Content-Type`-style header parameters,
//! after Tornado's `httputil.parse_multipart_form_data` and `_parse_header`.

use std::fmt;

use super::headers::HeaderMap;
use super::query::percent_decode;

/// Content type given to an uploaded file whose part has no Content-Type.
/// (Tornado uses `application/unknown`.)
pub const DEFAULT_FILE_CONTENT_TYPE: &str = "application/unknown";

/// A file field of a multipart form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// `filename` parameter of the part's Content-Disposition.
    pub filename: String,
    /// The part's Content-Type, or [`DEFAULT_FILE_CONTENT_TYPE`].
    pub content_type: String,
    /// The file's bytes.
    pub body: Vec<u8>,
}

/// Plain form fields, as (name, value) in body order.
pub type FormArguments = Vec<(String, Vec<u8>)>;
/// File fields, as (field name, file) in body order.
pub type FormFiles = Vec<(String, UploadedFile)>;

/// Why a multipart body was rejected (all map to 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartError {
    /// The boundary is empty.
    EmptyBoundary,
    /// No `--boundary--` delimiter in the body.
    NoFinalBoundary,
    /// A part has no empty line ending its headers.
    MissingHeaders,
    /// A part's header section is not UTF-8 or has a line without a colon.
    InvalidPartHeaders,
    /// A part's Content-Disposition is not `form-data`.
    InvalidDisposition,
    /// A part's data is not followed by CRLF before the next delimiter.
    MissingCrlf,
}

impl MultipartError {
    /// HTTP status code to answer with (always 400).
    pub fn status(&self) -> u16 {
        400
    }

    /// Short human-readable description.
    pub fn reason(&self) -> &'static str {
        match self {
            MultipartError::EmptyBoundary => "empty multipart boundary",
            MultipartError::NoFinalBoundary => "multipart body has no final boundary",
            MultipartError::MissingHeaders => "multipart part is missing headers",
            MultipartError::InvalidPartHeaders => "invalid multipart part headers",
            MultipartError::InvalidDisposition => "multipart part is not form-data",
            MultipartError::MissingCrlf => "multipart part not terminated by CRLF",
        }
    }
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for MultipartError {}

/// The `boundary` parameter of a Content-Type value (surrounding quotes
/// removed), or `None` if absent or empty. The media type itself is not
/// checked: callers test for `multipart/form-data` first.
pub fn boundary_from_content_type(ct: &str) -> Option<Vec<u8>> {
    ct.split(';').skip(1).find_map(|field| {
        let (k, v) = field.trim().split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = strip_quotes(v.trim().as_bytes());
        (!v.is_empty()).then(|| v.to_vec())
    })
}

fn strip_quotes(b: &[u8]) -> &[u8] {
    match b {
        [b'"', inner @ .., b'"'] => inner,
        _ => b,
    }
}

/// Parses a `Content-Type` / `Content-Disposition` style value into its
/// main value and parameters, like Tornado's `_parse_header`:
/// `form-data; name="a;b"; filename*=utf-8''%C3%A4.txt` →
/// `("form-data", [("name","a;b"), ("filename","ä.txt")])`.
///
/// Semicolons inside quoted strings do not split; parameter names are
/// lowercased; quoted values are unquoted (`\\` and `\"` unescaped); RFC
/// 2231 extended (`name*=charset'lang'pct`) and continued (`name*0`,
/// `name*1*`) parameters are decoded and take precedence over the plain
/// form. A parameter repeated keeps its first position and last value.
pub fn parse_header_params(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = split_params(value).into_iter();
    let key = parts.next().unwrap_or_default().to_owned();
    let mut plain: Vec<(String, String)> = Vec::new();
    // name -> [(continuation number, segment, percent-encoded)]
    let mut extended: Vec<(String, Vec<Rfc2231Segment>)> = Vec::new();
    for p in parts {
        let Some((name, val)) = p.split_once('=') else {
            continue;
        };
        let name = name.trim().to_lowercase();
        let val = email_unquote(val.trim());
        match rfc2231_name(&name) {
            Some((base, num)) => {
                let encoded = name.ends_with('*');
                let entry = match extended.iter().position(|(n, _)| n == base) {
                    Some(i) => extended.get_mut(i),
                    None => {
                        extended.push((base.to_owned(), Vec::new()));
                        extended.last_mut()
                    }
                };
                if let Some((_, segments)) = entry {
                    segments.push((num, val, encoded));
                }
            }
            None => plain.push((name, val)),
        }
    }
    for (name, mut segments) in extended {
        segments.sort_by_key(|s| s.0);
        let value = if segments.iter().any(|s| s.2) {
            let mut raw = Vec::new();
            for (_, seg, encoded) in &segments {
                if *encoded {
                    raw.extend_from_slice(&percent_decode(seg.as_bytes(), false));
                } else {
                    raw.extend_from_slice(seg.as_bytes());
                }
            }
            decode_rfc2231(&raw)
        } else {
            segments.into_iter().map(|s| s.1).collect()
        };
        plain.push((name, value));
    }
    let mut params: Vec<(String, String)> = Vec::with_capacity(plain.len());
    for (name, mut value) in plain {
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = value.get(1..value.len() - 1).unwrap_or_default().to_owned();
        }
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => params.push((name, value)),
        }
    }
    (key, params)
}

/// One `name*N[*]` piece: (continuation number, value, percent-encoded).
type Rfc2231Segment = (Option<u32>, String, bool);

/// Splits on `;` outside quoted strings (Tornado's `_parseparam`), trimming
/// each piece; the first piece is the main value.
fn split_params(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        let mut end = rest.find(';');
        while let Some(e) = end {
            let head = rest.get(..e).unwrap_or_default();
            let quotes = head.matches('"').count() - head.matches("\\\"").count();
            if e == 0 || quotes % 2 == 0 {
                break;
            }
            end = rest
                .get(e + 1..)
                .and_then(|r| r.find(';'))
                .map(|x| x + e + 1);
        }
        let end = end.unwrap_or(rest.len());
        out.push(rest.get(..end).unwrap_or_default().trim());
        match rest.get(end..).and_then(|r| r.strip_prefix(';')) {
            Some(r) => rest = r,
            None => return out,
        }
    }
}

/// `email.utils.unquote`.
fn email_unquote(s: &str) -> String {
    if s.len() > 1 {
        if let Some(inner) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
            return inner.replace("\\\\", "\\").replace("\\\"", "\"");
        }
        if let Some(inner) = s.strip_prefix('<').and_then(|x| x.strip_suffix('>')) {
            return inner.to_owned();
        }
    }
    s.to_owned()
}

/// Matches `^(\w+)\*(\d+\*?)?$` (ASCII `\w`): returns the base name and
/// the continuation number.
fn rfc2231_name(name: &str) -> Option<(&str, Option<u32>)> {
    let (base, tail) = name.split_once('*')?;
    if base.is_empty() || !base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    if tail.is_empty() {
        return Some((base, None));
    }
    let digits = tail.strip_suffix('*').unwrap_or(tail);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, Some(digits.parse().unwrap_or(u32::MAX))))
}

/// Decodes `charset'language'text` (text already percent-decoded).
fn decode_rfc2231(raw: &[u8]) -> String {
    let mut pieces = raw.splitn(3, |&b| b == b'\'');
    let (charset, text) = match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(cs), Some(_lang), Some(text)) => (String::from_utf8_lossy(cs).to_lowercase(), text),
        _ => (String::new(), raw),
    };
    match charset.as_str() {
        "utf-8" | "utf8" => String::from_utf8_lossy(text).into_owned(),
        "" | "us-ascii" | "ascii" => text
            .iter()
            .map(|&b| {
                if b.is_ascii() {
                    char::from(b)
                } else {
                    '\u{fffd}'
                }
            })
            .collect(),
        // latin-1 and, like Python's fallback for unknown charsets, the rest.
        _ => text.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parses a `multipart/form-data` body, following Tornado:
///
/// * `boundary` may be quoted; the body must contain `--boundary--`
///   (anything after the last one is ignored) or `NoFinalBoundary`;
/// * parts are separated by `--boundary\r\n`; the preamble before the first
///   delimiter is ignored; each part needs a header block ended by an empty
///   line (`MissingHeaders`), a `form-data` Content-Disposition
///   (`InvalidDisposition`) and CRLF before the next delimiter
///   (`MissingCrlf`). Part headers must be UTF-8 and may use continuation
///   lines;
/// * a part without a non-empty `name` is skipped;
/// * a part with a non-empty `filename` is a file (content type from its
///   Content-Type, default [`DEFAULT_FILE_CONTENT_TYPE`]), otherwise an
///   argument.
///
/// Malformed parts are errors, as in Tornado >= 6.5 (older versions logged
/// and skipped them).
pub fn parse_multipart_form_data(
    boundary: &[u8],
    body: &[u8],
) -> Result<(FormArguments, FormFiles), MultipartError> {
    let boundary = strip_quotes(boundary);
    if boundary.is_empty() {
        return Err(MultipartError::EmptyBoundary);
    }
    let final_delim = [&b"--"[..], boundary, b"--"].concat();
    let end = rfind(body, &final_delim).ok_or(MultipartError::NoFinalBoundary)?;
    let data = body.get(..end).unwrap_or_default();
    let delim = [&b"--"[..], boundary, b"\r\n"].concat();

    let mut arguments = Vec::new();
    let mut files = Vec::new();
    for part in split_on(data, &delim).skip(1) {
        if part.is_empty() {
            continue;
        }
        let eoh = find(part, b"\r\n\r\n").ok_or(MultipartError::MissingHeaders)?;
        let headers = parse_part_headers(part.get(..eoh).unwrap_or_default())?;
        let disposition = headers.get_str("Content-Disposition").unwrap_or("");
        let (kind, params) = parse_header_params(disposition);
        if !kind.eq_ignore_ascii_case("form-data") {
            return Err(MultipartError::InvalidDisposition);
        }
        if !part.ends_with(b"\r\n") {
            return Err(MultipartError::MissingCrlf);
        }
        let value = part
            .get(eoh + 4..part.len() - 2)
            .unwrap_or_default()
            .to_vec();
        let param = |n: &str| {
            params
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let Some(name) = param("name") else {
            continue;
        };
        match param("filename") {
            Some(filename) => files.push((
                name.to_owned(),
                UploadedFile {
                    filename: filename.to_owned(),
                    content_type: headers
                        .get_str("Content-Type")
                        .unwrap_or(DEFAULT_FILE_CONTENT_TYPE)
                        .to_owned(),
                    body: value,
                },
            )),
            None => arguments.push((name.to_owned(), value)),
        }
    }
    Ok((arguments, files))
}

/// Parses a part's header block (Tornado's `HTTPHeaders.parse`): lines end
/// in CRLF or LF, a line starting with whitespace continues the previous
/// value, values are trimmed.
fn parse_part_headers(block: &[u8]) -> Result<HeaderMap, MultipartError> {
    let text = std::str::from_utf8(block).map_err(|_| MultipartError::InvalidPartHeaders)?;
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let (_, value) = fields
                .last_mut()
                .ok_or(MultipartError::InvalidPartHeaders)?;
            value.push(' ');
            value.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(MultipartError::InvalidPartHeaders)?;
        fields.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        headers.add(name, value);
    }
    Ok(headers)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(haystack.len());
    }
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// Like Python's `bytes.split(sep)` for a non-empty separator.
fn split_on<'a>(data: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        match find(current, sep).filter(|_| !sep.is_empty()) {
            Some(i) => {
                rest = current.get(i + sep.len()..);
                current.get(..i)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf(s: &str) -> Vec<u8> {
        s.replace('\n', "\r\n").into_bytes()
    }

    fn parse(boundary: &str, body: &str) -> Result<(FormArguments, FormFiles), MultipartError> {
        parse_multipart_form_data(boundary.as_bytes(), &crlf(body))
    }

    #[test]
    fn file_upload() {
        let (args, files) = parse(
            "1234",
            "--1234\nContent-Disposition: form-data; name=\"files\"; filename=\"ab.txt\"\n\nFoo\n--1234--",
        )
        .expect("test input is valid");
        assert!(args.is_empty());
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "files");
        assert_eq!(files[0].1.filename, "ab.txt");
        assert_eq!(files[0].1.body, b"Foo");
        assert_eq!(files[0].1.content_type, DEFAULT_FILE_CONTENT_TYPE);
    }

    #[test]
    fn mixed_fields_and_files() {
        let body = "preamble\n--xyz\n\
Content-Disposition: form-data; name=\"a\"\n\nline1\nline2\n\
--xyz\nContent-Disposition: form-data; name=\"f\"; filename=\"x.png\"\n\
Content-Type: image/png\n\n\u{1}\u{2}--xy\n\
--xyz\ncontent-disposition: Form-Data; name=a\n\n\n\
--xyz\nContent-Disposition: form-data; name=\"empty\"; filename=\"\"\n\nnot a file\n\
--xyz--\nepilogue";
        let (args, files) = parse("\"xyz\"", body).expect("test input is valid");
        assert_eq!(
            args,
            vec![
                ("a".to_string(), b"line1\r\nline2".to_vec()),
                ("a".to_string(), b"".to_vec()),
                ("empty".to_string(), b"not a file".to_vec()),
            ]
        );
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].1.content_type, "image/png");
        assert_eq!(files[0].1.body, b"\x01\x02--xy");
    }

    #[test]
    fn data_after_final_boundary_is_ignored() {
        let (_, files) = parse(
            "1234",
            "--1234\nContent-Disposition: form-data; name=\"files\"; filename=\"ab.txt\"\n\nFoo\n--1234--\n",
        )
        .expect("test input is valid");
        assert_eq!(files[0].1.body, b"Foo");
    }

    #[test]
    fn special_filenames() {
        for filename in [
            "a;b.txt",
            "a\"b.txt",
            "a\";b.txt",
            "a;\"b.txt",
            "a\";\";.txt",
            "a\\\"b.txt",
            "a\\b.txt",
        ] {
            let escaped = filename.replace('\\', "\\\\").replace('"', "\\\"");
            let body = format!(
                "--1234\nContent-Disposition: form-data; name=\"files\"; filename=\"{escaped}\"\n\nFoo\n--1234--"
            );
            let (_, files) = parse("1234", &body).expect("test input is valid");
            assert_eq!(files[0].1.filename, filename);
            assert_eq!(files[0].1.body, b"Foo");
        }
    }

    #[test]
    fn non_ascii_filename() {
        let body = "--1234\nContent-Disposition: form-data; name=\"files\"; filename=\"ab.txt\"; filename*=UTF-8''%C3%A1b.txt\n\nFoo\n--1234--";
        let (_, files) = parse("1234", body).expect("test input is valid");
        assert_eq!(files[0].1.filename, "áb.txt");
        let body = "--1234\nContent-Disposition: form-data; name=\"f\"; filename=\"\u{e9}.txt\"\n\nFoo\n--1234--";
        let (_, files) = parse("1234", body).expect("test input is valid");
        assert_eq!(files[0].1.filename, "é.txt");
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(
                "1234",
                "--1234\nContent-Disposition: form-data; name=\"a\"\n\nFoo\n--1234"
            ),
            Err(MultipartError::NoFinalBoundary)
        );
        assert_eq!(
            parse(
                "1234",
                "--1234\nContent-Disposition: form-data; name=\"a\"\nFoo\n--1234--"
            ),
            Err(MultipartError::MissingHeaders)
        );
        assert_eq!(
            parse(
                "1234",
                "--1234\nContent-Disposition: invalid; name=\"a\"\n\nFoo\n--1234--"
            ),
            Err(MultipartError::InvalidDisposition)
        );
        assert_eq!(
            parse("1234", "--1234\nX-No-Disposition: 1\n\nFoo\n--1234--"),
            Err(MultipartError::InvalidDisposition)
        );
        assert_eq!(
            parse(
                "1234",
                "--1234\nContent-Disposition: form-data; name=\"a\"\n\nFoo--1234--"
            ),
            Err(MultipartError::MissingCrlf)
        );
        assert_eq!(
            parse("1234", "--1234\nNo colon here\n\nFoo\n--1234--"),
            Err(MultipartError::InvalidPartHeaders)
        );
        assert_eq!(
            parse_multipart_form_data(b"1234", b"--1234\r\nX: \xff\r\n\r\nv\r\n--1234--"),
            Err(MultipartError::InvalidPartHeaders)
        );
        assert_eq!(parse("", "----"), Err(MultipartError::EmptyBoundary));
        assert_eq!(parse("\"\"", "----"), Err(MultipartError::EmptyBoundary));
        assert_eq!(MultipartError::MissingCrlf.status(), 400);
    }

    #[test]
    fn nameless_parts_are_skipped() {
        let (args, files) = parse(
            "1234",
            "--1234\nContent-Disposition: form-data; filename=\"ab.txt\"\n\nFoo\n\
--1234\nContent-Disposition: form-data; name=\"\"\n\nBar\n\
--1234\nContent-Disposition: form-data; name=\"ok\"\n\nBaz\n--1234--",
        )
        .expect("test input is valid");
        assert!(files.is_empty());
        assert_eq!(args, vec![("ok".to_string(), b"Baz".to_vec())]);
    }

    #[test]
    fn continuation_lines_in_part_headers() {
        let (args, _) = parse(
            "b",
            "--b\nContent-Disposition: form-data;\n name=\"x\"\n\nv\n--b--",
        )
        .expect("test input is valid");
        assert_eq!(args, vec![("x".to_string(), b"v".to_vec())]);
        assert_eq!(
            parse("b", "--b\n leading: x\n\nv\n--b--"),
            Err(MultipartError::InvalidPartHeaders)
        );
    }

    #[test]
    fn empty_form() {
        assert_eq!(parse("b", "--b--"), Ok((vec![], vec![])));
        assert_eq!(parse("b", "--b--\n"), Ok((vec![], vec![])));
    }

    #[test]
    fn short_part_does_not_panic() {
        // Headers end exactly at the part end: value is empty.
        let r = parse_multipart_form_data(
            b"b",
            b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n--b--",
        );
        assert_eq!(r, Ok((vec![("x".to_string(), vec![])], vec![])));
    }

    #[test]
    fn boundaries_from_content_type() {
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary=abc"),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            boundary_from_content_type("multipart/form-data;charset=utf-8; Boundary=\"a b\""),
            Some(b"a b".to_vec())
        );
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary="),
            None
        );
        assert_eq!(boundary_from_content_type("multipart/form-data"), None);
        assert_eq!(boundary_from_content_type("boundary=x"), None);
    }

    fn params(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn header_params() {
        assert_eq!(
            parse_header_params("text/html; charset=UTF-8"),
            ("text/html".to_string(), params(&[("charset", "UTF-8")]))
        );
        // Tornado's doctest.
        let (key, p) =
            parse_header_params("form-data; foo=\"b\\\\a\\\"r\"; file*=utf-8''T%C3%A4st");
        assert_eq!(key, "form-data");
        assert_eq!(p, params(&[("foo", "b\\a\"r"), ("file", "Täst")]));
        assert_eq!(
            parse_header_params("attachment; FILENAME=\"a;b\"; novalue; x= y "),
            (
                "attachment".to_string(),
                params(&[("filename", "a;b"), ("x", "y")])
            )
        );
        assert_eq!(parse_header_params(""), (String::new(), vec![]));
        assert_eq!(
            parse_header_params(" a ; b=1; b=2"),
            ("a".to_string(), params(&[("b", "2")]))
        );
    }

    #[test]
    fn rfc2231_variants() {
        let (_, p) = parse_header_params("x; t*0=\"ab\"; t*1=cd");
        assert_eq!(p, params(&[("t", "abcd")]));
        let (_, p) = parse_header_params("x; t*1*=%41; t*0*=iso-8859-1''%E9");
        assert_eq!(p, params(&[("t", "éA")]));
        let (_, p) = parse_header_params("x; t*=%E9abc");
        assert_eq!(p, params(&[("t", "\u{fffd}abc")]));
        let (_, p) = parse_header_params("x; t*=unknown''%E9");
        assert_eq!(p, params(&[("t", "é")]));
        // Extended form wins over the plain one whatever the order.
        let (_, p) = parse_header_params("x; t*=utf-8''%C3%A9; t=plain");
        assert_eq!(p, params(&[("t", "é")]));
        // Not an RFC 2231 name.
        let (_, p) = parse_header_params("x; a-b*=1");
        assert_eq!(p, params(&[("a-b*", "1")]));
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet = b"-b\r\n:;=\"\\*'%C Content-Disposition form-data name filename";
        for buf in crate::test_input::garbage(alphabet, 0x1234_5678_9abc_def1u64, 90, 3000) {
            let _ = parse_multipart_form_data(b"b", &buf);
            let text = String::from_utf8_lossy(&buf);
            let _ = parse_header_params(&text);
            let _ = boundary_from_content_type(&text);
        }
    }
}
