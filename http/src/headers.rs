//! Ordered, case-insensitive header multimap plus helpers for the
//! comma-separated list syntax of RFC 9110 §5.6.1.

/// An ordered multimap of header fields.
///
/// Names keep the spelling they were received (or added) with; every lookup
/// compares names ASCII-case-insensitively. Values are raw bytes because
/// HTTP field values may carry obs-text (bytes >= 0x80). The map itself does
/// not validate names or values: parsers validate on input and
/// [`super::response_head::write_header`] validates on output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    entries: Vec<(String, Vec<u8>)>,
}

impl HeaderMap {
    /// Creates an empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates an empty map with room for `capacity` fields.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
        }
    }

    /// Number of fields (a name present twice counts twice).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the map holds no field.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Value of the first field called `name`, if it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Values of every field called `name`, in received order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// All values of `name` joined with `,` (what Tornado's
    /// `HTTPHeaders.get` returns for a repeated field); `None` if absent.
    pub fn get_combined(&self, name: &str) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for v in self.get_all(name) {
            match out.as_mut() {
                Some(buf) => {
                    buf.push(b',');
                    buf.extend_from_slice(v);
                }
                None => out = Some(v.to_vec()),
            }
        }
        out
    }

    /// Number of fields called `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// True when at least one field is called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Appends a field, keeping any existing ones of the same name.
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.entries.push((name.into(), value.into()));
    }

    /// Replaces every field called `name` by a single one. The new field
    /// takes the position of the first old one, or goes last if none existed.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        let name = name.into();
        let value = value.into();
        match self
            .entries
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(pos) => {
                let mut index = 0usize;
                self.entries.retain(|(n, _)| {
                    let keep = index <= pos || !n.eq_ignore_ascii_case(&name);
                    index += 1;
                    keep
                });
                if let Some(slot) = self.entries.get_mut(pos) {
                    *slot = (name, value);
                }
            }
            None => self.entries.push((name, value)),
        }
    }

    /// Removes every field called `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.entries.len()
    }

    /// Bytes the fields take as `Name: value\r\n` lines.
    pub fn wire_len(&self) -> usize {
        self.entries
            .iter()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum()
    }

    /// Iterates over `(name, value)` in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }
}

/// Takes fields in order as they are (the shape of the WIT `fields` type), without copying.
impl From<Vec<(String, Vec<u8>)>> for HeaderMap {
    fn from(entries: Vec<(String, Vec<u8>)>) -> Self {
        Self { entries }
    }
}

/// Gives the fields back in order (the shape of the WIT `fields` type), without copying.
impl From<HeaderMap> for Vec<(String, Vec<u8>)> {
    fn from(map: HeaderMap) -> Self {
        map.entries
    }
}

/// RFC 9110 `tchar`, by byte value (a table: names are checked byte by byte on every
/// request and every response).
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0u8;
    let mut rest: &mut [bool] = &mut table;
    while let [slot, tail @ ..] = rest {
        *slot = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        rest = tail;
        b = b.wrapping_add(1);
    }
    table
};

/// True for an RFC 9110 `tchar`.
pub fn is_tchar(b: u8) -> bool {
    TCHAR.get(usize::from(b)).copied().unwrap_or(false)
}

/// True when `s` is a non-empty RFC 9110 `token`.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Iterator over the elements of a comma-separated header list; see
/// [`list_elements`].
#[derive(Debug, Clone)]
pub struct ListElements<'a> {
    rest: &'a [u8],
    finished: bool,
}

impl<'a> Iterator for ListElements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.finished {
            let mut in_quotes = false;
            let mut escaped = false;
            let mut split = None;
            for (i, &b) in self.rest.iter().enumerate() {
                if in_quotes {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_quotes = false;
                    }
                } else if b == b'"' {
                    in_quotes = true;
                } else if b == b',' {
                    split = Some(i);
                    break;
                }
            }
            let element = match split {
                Some(i) => {
                    let (head, tail) = self.rest.split_at(i);
                    self.rest = tail.get(1..).unwrap_or(&[]);
                    head
                }
                None => {
                    self.finished = true;
                    self.rest
                }
            };
            let element = trim_ows(element);
            if !element.is_empty() {
                return Some(element);
            }
        }
        None
    }
}

/// Splits a field value on commas that are outside quoted strings, trims
/// optional whitespace and skips empty elements (RFC 9110 §5.6.1).
pub fn list_elements(value: &[u8]) -> ListElements<'_> {
    ListElements {
        rest: value,
        finished: false,
    }
}

/// The token part of a list element: everything before the first `;`,
/// with whitespace trimmed (`"gzip ; q=0.5"` → `"gzip"`).
pub fn element_token(element: &[u8]) -> &[u8] {
    let end = element
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(element.len());
    trim_ows(element.get(..end).unwrap_or(element))
}

/// True when the comma-separated list `value` contains `token`
/// (ASCII-case-insensitive; parameters after `;` are ignored), e.g.
/// `has_token(b"keep-alive, Upgrade", "upgrade")`.
pub fn has_token(value: &[u8], token: &str) -> bool {
    list_elements(value).any(|e| element_token(e).eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchar_table_matches_the_grammar() {
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), expected, "byte {b}");
        }
    }

    fn sample() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.add("Host", "example.com");
        h.add("X-Forwarded-For", "1.1.1.1");
        h.add("Accept", "text/html");
        h.add("x-forwarded-for", "2.2.2.2");
        h
    }

    #[test]
    fn lookup_is_case_insensitive_and_first_wins() {
        let h = sample();
        assert_eq!(h.get("HOST"), Some(&b"example.com"[..]));
        assert_eq!(h.get("x-FORWARDED-for"), Some(&b"1.1.1.1"[..]));
        assert_eq!(h.get_str("accept"), Some("text/html"));
        assert_eq!(h.get("missing"), None);
        assert!(h.contains("accept"));
        assert!(!h.contains("accept-encoding"));
        assert_eq!(h.len(), 4);
        assert!(!h.is_empty());
        assert!(HeaderMap::with_capacity(4).is_empty());
    }

    #[test]
    fn get_all_and_combined() {
        let h = sample();
        let all: Vec<&[u8]> = h.get_all("X-Forwarded-For").collect();
        assert_eq!(all, vec![&b"1.1.1.1"[..], &b"2.2.2.2"[..]]);
        assert_eq!(h.count("x-forwarded-for"), 2);
        assert_eq!(
            h.get_combined("X-Forwarded-For"),
            Some(b"1.1.1.1,2.2.2.2".to_vec())
        );
        assert_eq!(h.get_combined("host"), Some(b"example.com".to_vec()));
        assert_eq!(h.get_combined("nope"), None);
    }

    #[test]
    fn get_str_rejects_invalid_utf8() {
        let mut h = HeaderMap::new();
        h.add("X", vec![0xff, 0xfe]);
        assert_eq!(h.get_str("x"), None);
        assert_eq!(h.get("x"), Some(&[0xff, 0xfe][..]));
    }

    #[test]
    fn set_replaces_all_in_place() {
        let mut h = sample();
        h.set("X-FORWARDED-FOR", "3.3.3.3");
        let names: Vec<&str> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["Host", "X-FORWARDED-FOR", "Accept"]);
        assert_eq!(h.get("x-forwarded-for"), Some(&b"3.3.3.3"[..]));
        h.set("New", "v");
        assert_eq!(h.iter().last(), Some(("New", &b"v"[..])));
    }

    #[test]
    fn remove_counts() {
        let mut h = sample();
        assert_eq!(h.remove("X-Forwarded-For"), 2);
        assert_eq!(h.remove("X-Forwarded-For"), 0);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn iter_preserves_order_and_spelling() {
        let h = sample();
        let v: Vec<(&str, &[u8])> = h.iter().collect();
        assert_eq!(v[0], ("Host", &b"example.com"[..]));
        assert_eq!(v[3], ("x-forwarded-for", &b"2.2.2.2"[..]));
    }

    #[test]
    fn tokens() {
        assert!(is_token(b"GET"));
        assert!(is_token(b"x-custom_Header.1~"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(!is_token(b"a\"b"));
        assert!(!is_token(&[0x80]));
    }

    #[test]
    fn trim() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
    }

    #[test]
    fn list_splitting() {
        let v: Vec<&[u8]> = list_elements(b" a, ,b ;q=1,,\t\"c,d\" , e").collect();
        assert_eq!(v, vec![&b"a"[..], b"b ;q=1", b"\"c,d\"", b"e"]);
        let v: Vec<&[u8]> = list_elements(b"x;p=\"a\\\",b\", y").collect();
        assert_eq!(v, vec![&b"x;p=\"a\\\",b\""[..], b"y"]);
        assert_eq!(list_elements(b"").count(), 0);
        assert_eq!(list_elements(b" , ,").count(), 0);
        // Unterminated quote: the rest is one element, no panic.
        assert_eq!(list_elements(b"a, \"b, c").count(), 2);
    }

    #[test]
    fn has_token_cases() {
        assert!(has_token(b"keep-alive", "keep-alive"));
        assert!(has_token(b"Keep-Alive, Upgrade", "upgrade"));
        assert!(has_token(b"close", "CLOSE"));
        assert!(!has_token(b"closed", "close"));
        assert!(!has_token(b"", "close"));
        assert!(has_token(b"gzip;q=0, br", "gzip"));
        assert!(has_token(b"deflate , gzip ; q=0.5", "gzip"));
        assert!(!has_token(b"x-gzip", "gzip"));
        assert_eq!(element_token(b" gzip ; q=1"), b"gzip");
        assert_eq!(element_token(b";"), b"");
    }
}
