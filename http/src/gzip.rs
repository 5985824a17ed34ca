//! gzip (RFC 1952) through `flate2`'s gzip codec on the miniz_oxide backend, with a bound on
//! the decompressed size, plus the content negotiation rules of Tornado's
//! `GZipContentEncoding`.

use std::fmt;
use std::io::Read;

use flate2::bufread::{GzDecoder, GzEncoder};
use flate2::{Compression, Crc};

use super::headers::{element_token, list_elements, trim_ows};

/// Responses shorter than this are not worth compressing (Tornado).
pub const MIN_LENGTH: usize = 1024;
/// Compression level Tornado uses.
pub const GZIP_LEVEL: u8 = 6;
/// Media types (besides `text/*`) that Tornado compresses.
pub const CONTENT_TYPES: [&str; 7] = [
    "application/javascript",
    "application/x-javascript",
    "application/xml",
    "application/atom+xml",
    "application/json",
    "application/xhtml+xml",
    "image/svg+xml",
];

/// Decompressed bytes are taken from the codec this many at a time and kept only while
/// the total stays within the caller's limit.
const OUT_CHUNK_BYTES: usize = 16 * 1024;
/// The first bytes of every member: ID1, ID2 and CM = 8 (deflate).
const MAGIC: [u8; 3] = [0x1f, 0x8b, 8];
/// CRC32 and ISIZE close every member.
const TRAILER_BYTES: usize = 8;
/// Part of `flate2`'s message for a member whose CRC32 or ISIZE is wrong (and for a wrong
/// header CRC16, which fails before the header is complete and so is told apart).
const TRAILER_MISMATCH: &str = "does not have a matching checksum";

/// Why gzip data could not be decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GzipError {
    /// The output would exceed the caller's limit (413).
    TooLarge,
    /// Not a gzip member header (bad magic, method or flags).
    InvalidHeader,
    /// Corrupt deflate data.
    InvalidData,
    /// The input ends inside a member.
    Truncated,
    /// CRC32 in the trailer does not match the data.
    ChecksumMismatch,
    /// ISIZE in the trailer does not match the data length.
    LengthMismatch,
}

impl GzipError {
    /// HTTP status for a request body that failed to decompress: 413 for
    /// [`GzipError::TooLarge`], else 400.
    pub fn status(&self) -> u16 {
        match self {
            GzipError::TooLarge => 413,
            _ => 400,
        }
    }

    /// Short human-readable description.
    pub fn reason(&self) -> &'static str {
        match self {
            GzipError::TooLarge => "decompressed body too large",
            GzipError::InvalidHeader => "invalid gzip header",
            GzipError::InvalidData => "invalid deflate data",
            GzipError::Truncated => "truncated gzip data",
            GzipError::ChecksumMismatch => "gzip CRC mismatch",
            GzipError::LengthMismatch => "gzip length mismatch",
        }
    }
}

impl fmt::Display for GzipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for GzipError {}

/// Compresses `data` into a single gzip member (level 0..=10, clamped; MTIME 0, OS 255
/// "unknown", XFL as `flate2` writes it).
pub fn gzip_compress(data: &[u8], level: u8) -> Vec<u8> {
    let level = Compression::new(u32::from(level.min(10)));
    let mut out = Vec::with_capacity(data.len() / 2 + 32);
    #[allow(clippy::expect_used, reason = "reading a slice into a Vec cannot fail")]
    GzEncoder::new(data, level)
        .read_to_end(&mut out)
        .expect("reading a slice into a Vec cannot fail");
    out
}

/// Decompresses gzip data (one or more concatenated members; zero bytes
/// after the last member are ignored, as Python's gzip module does).
///
/// Fails with [`GzipError::TooLarge`] as soon as the output would exceed
/// `max_out` bytes; the output buffer never grows beyond `max_out`. Each
/// member's header, CRC32 and ISIZE are verified.
///
/// # Errors
///
/// Any [`GzipError`]; see its variants.
pub fn gzip_decompress(data: &[u8], max_out: usize) -> Result<Vec<u8>, GzipError> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; OUT_CHUNK_BYTES];
    let mut rest = data;
    loop {
        rest = decompress_member(rest, max_out, &mut out, &mut chunk)?;
        let first_non_zero = rest.iter().position(|&b| b != 0).unwrap_or(rest.len());
        rest = rest.get(first_non_zero..).unwrap_or(&[]);
        if rest.is_empty() {
            return Ok(out);
        }
    }
}

/// Decompresses the member at the start of `data` into `out`; returns the input after it.
fn decompress_member<'a>(
    data: &'a [u8],
    max_out: usize,
    out: &mut Vec<u8>,
    chunk: &mut [u8],
) -> Result<&'a [u8], GzipError> {
    let start = out.len();
    let mut decoder = GzDecoder::new(data);
    loop {
        match decoder.read(chunk) {
            Ok(0) => return Ok(decoder.into_inner()),
            Ok(n) => append_limited(out, chunk.get(..n).unwrap_or(&[]), max_out)?,
            Err(error) => {
                let consumed = data.len() - decoder.get_ref().len();
                let member = out.get(start..).unwrap_or(&[]);
                return Err(classify(&decoder, &error, data, consumed, member));
            }
        }
    }
}

/// Maps a `flate2` error to a [`GzipError`].
///
/// No header yet means a header error. After the header, `flate2` gives corrupt deflate
/// data and a bad trailer the same error kind and tells them apart only by message (the
/// `corrupt_inputs` test pins that down); a bad trailer is then read back from the end of
/// the consumed input to say which of CRC32 or ISIZE disagrees, CRC32 first.
fn classify(
    decoder: &GzDecoder<&[u8]>,
    error: &std::io::Error,
    data: &[u8],
    consumed: usize,
    member: &[u8],
) -> GzipError {
    let eof = error.kind() == std::io::ErrorKind::UnexpectedEof;
    if decoder.header().is_none() {
        // Too short: truncated only if what is there is a valid start.
        let valid_start = data.iter().zip(MAGIC.iter()).all(|(a, b)| a == b);
        return if eof && valid_start {
            GzipError::Truncated
        } else {
            GzipError::InvalidHeader
        };
    }
    if eof {
        return GzipError::Truncated;
    }
    if !error.to_string().contains(TRAILER_MISMATCH) {
        return GzipError::InvalidData;
    }
    let stored_crc = consumed
        .checked_sub(TRAILER_BYTES)
        .and_then(|from| data.get(from..from + 4));
    let mut crc = Crc::new();
    crc.update(member);
    match stored_crc {
        Some(&[c0, c1, c2, c3]) if u32::from_le_bytes([c0, c1, c2, c3]) == crc.sum() => {
            GzipError::LengthMismatch
        }
        _ => GzipError::ChecksumMismatch,
    }
}

/// Appends `data` to `out` unless the total would exceed `max_out`;
/// grows the capacity geometrically but never beyond `max_out`.
fn append_limited(out: &mut Vec<u8>, data: &[u8], max_out: usize) -> Result<(), GzipError> {
    let needed = out
        .len()
        .checked_add(data.len())
        .filter(|&n| n <= max_out)
        .ok_or(GzipError::TooLarge)?;
    if needed > out.capacity() {
        let target = needed.max(out.capacity().saturating_mul(2)).min(max_out);
        out.reserve_exact(target - out.len());
    }
    out.extend_from_slice(data);
    Ok(())
}

/// True when an `Accept-Encoding` value allows gzip: an explicit `gzip` (or
/// `x-gzip`) element with q > 0, or, with neither listed, a `*` with
/// q > 0. A malformed q makes its element unacceptable. (Tornado itself
/// only checks that the substring "gzip" occurs.)
pub fn accepts_gzip(accept_encoding: &[u8]) -> bool {
    let mut star = None;
    for element in list_elements(accept_encoding) {
        let token = element_token(element);
        let acceptable = qvalue(element).is_some_and(|q| q > 0);
        if token.eq_ignore_ascii_case(b"gzip") || token.eq_ignore_ascii_case(b"x-gzip") {
            return acceptable;
        }
        if token == b"*" && star.is_none() {
            star = Some(acceptable);
        }
    }
    star.unwrap_or(false)
}

/// The q parameter of a list element in thousandths (1000 when absent),
/// or `None` when malformed.
fn qvalue(element: &[u8]) -> Option<u16> {
    let mut params = element.split(|&b| b == b';').skip(1);
    let q = params.find_map(|p| {
        let p = trim_ows(p);
        match p {
            [b'q' | b'Q', rest @ ..] => {
                let rest = trim_ows(rest);
                rest.strip_prefix(b"=").map(trim_ows)
            }
            _ => None,
        }
    });
    let Some(q) = q else {
        return Some(1000);
    };
    let (int, frac) = match q.iter().position(|&b| b == b'.') {
        Some(i) => (q.get(..i)?, q.get(i + 1..)?),
        None => (q, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        let d = frac.get(i).map_or(0, |&b| u16::from(b - b'0'));
        thousandths = thousandths * 10 + d;
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// True when a response with this Content-Type should be gzipped:
/// `text/*` or one of [`CONTENT_TYPES`] (parameters ignored, compared
/// case-insensitively).
pub fn compressible_type(ct: &str) -> bool {
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media.starts_with("text/") || CONTENT_TYPES.contains(&media.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| b"hello gzip world "[i % 17] ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn roundtrip_levels_and_sizes() {
        for n in [0, 1, 100, MIN_LENGTH, 70_000] {
            let data = sample(n);
            for level in [0, 1, GZIP_LEVEL, 9, 10, 200] {
                let gz = gzip_compress(&data, level);
                assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
                assert_eq!(
                    gzip_decompress(&gz, n).expect("test input is valid"),
                    data,
                    "n={n} level={level}"
                );
            }
        }
    }

    #[test]
    fn python_gzip_output_decodes() {
        // python3 -c "import gzip,sys;sys.stdout.buffer.write(gzip.compress(b'hello world\n', mtime=0))"
        let gz = [
            0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9,
            0xc9, 0x57, 0x28, 0xcf, 0x2f, 0xca, 0x49, 0xe1, 0x02, 0x00, 0x2d, 0x3b, 0x08, 0xaf,
            0x0c, 0x00, 0x00, 0x00,
        ];
        assert_eq!(
            gzip_decompress(&gz, 100).expect("test input is valid"),
            b"hello world\n"
        );
    }

    #[test]
    fn header_flags() {
        let data = b"flagged member";
        let plain = gzip_compress(data, 6);
        let body = &plain[10..];
        // FHCRC | FEXTRA | FNAME | FCOMMENT
        let mut h = vec![0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3];
        h.extend_from_slice(&[3, 0, b'a', b'b', b'c']);
        h.extend_from_slice(b"name.txt\0");
        h.extend_from_slice(b"a comment\0");
        let mut crc = Crc::new();
        crc.update(&h);
        let hcrc = (crc.sum() & 0xffff) as u16;
        h.extend_from_slice(&hcrc.to_le_bytes());
        let mut gz = h.clone();
        gz.extend_from_slice(body);
        assert_eq!(
            gzip_decompress(&gz, 100).expect("test input is valid"),
            data
        );
        // Wrong header CRC.
        let mut bad = gz.clone();
        let i = h.len() - 1;
        bad[i] ^= 0xff;
        assert_eq!(gzip_decompress(&bad, 100), Err(GzipError::InvalidHeader));
        // Reserved flag bit.
        let mut bad = plain.clone();
        bad[3] = 0x20;
        assert_eq!(gzip_decompress(&bad, 100), Err(GzipError::InvalidHeader));
    }

    #[test]
    fn concatenated_members_and_zero_padding() {
        let mut gz = gzip_compress(b"abc", 6);
        gz.extend_from_slice(&gzip_compress(b"def", 1));
        gz.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            gzip_decompress(&gz, 6).expect("test input is valid"),
            b"abcdef"
        );
        assert_eq!(gzip_decompress(&gz, 5), Err(GzipError::TooLarge));
        gz.push(7);
        assert_eq!(gzip_decompress(&gz, 100), Err(GzipError::InvalidHeader));
    }

    #[test]
    fn limit_is_enforced() {
        let data = vec![b'a'; 1_000_000];
        let gz = gzip_compress(&data, 9);
        assert!(gz.len() < 10_000);
        assert_eq!(gzip_decompress(&gz, 999_999), Err(GzipError::TooLarge));
        assert_eq!(gzip_decompress(&gz, 1000), Err(GzipError::TooLarge));
        assert_eq!(gzip_decompress(&gz, 0), Err(GzipError::TooLarge));
        let out = gzip_decompress(&gz, 1_000_000).expect("test input is valid");
        assert_eq!(out.len(), 1_000_000);
        assert!(out.capacity() <= 1_000_000);
        assert_eq!(
            gzip_decompress(&gzip_compress(b"", 6), 0).expect("test input is valid"),
            b""
        );
    }

    #[test]
    fn corrupt_inputs() {
        let data = sample(5000);
        let gz = gzip_compress(&data, 6);
        assert_eq!(gzip_decompress(b"", 10), Err(GzipError::Truncated));
        assert_eq!(gzip_decompress(b"\x1f", 10), Err(GzipError::Truncated));
        assert_eq!(
            gzip_decompress(b"\x1f\x8b\x08", 10),
            Err(GzipError::Truncated)
        );
        assert_eq!(
            gzip_decompress(b"not gzip at all", 10),
            Err(GzipError::InvalidHeader)
        );
        let mut bad = gz.clone();
        bad[2] = 7; // method
        assert_eq!(gzip_decompress(&bad, 10_000), Err(GzipError::InvalidHeader));
        // Every truncation fails cleanly.
        for cut in 0..gz.len() {
            let r = gzip_decompress(&gz[..cut], 10_000);
            assert!(r.is_err(), "cut at {cut}");
        }
        let n = gz.len();
        let mut bad = gz.clone();
        bad[n - 8] ^= 1;
        assert_eq!(
            gzip_decompress(&bad, 10_000),
            Err(GzipError::ChecksumMismatch)
        );
        let mut bad = gz.clone();
        bad[n - 4] ^= 1;
        assert_eq!(
            gzip_decompress(&bad, 10_000),
            Err(GzipError::LengthMismatch)
        );
        bad[n - 8] ^= 1; // both wrong: the CRC32 is reported
        assert_eq!(
            gzip_decompress(&bad, 10_000),
            Err(GzipError::ChecksumMismatch)
        );
        let mut bad = gz.clone();
        bad[10] = 0xff; // invalid block type
        assert_eq!(gzip_decompress(&bad, 10_000), Err(GzipError::InvalidData));
        assert_eq!(GzipError::TooLarge.status(), 413);
        assert_eq!(GzipError::InvalidData.status(), 400);
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let gz = gzip_compress(&sample(3000), 6);
        for i in 0..gz.len() {
            for mask in [1u8, 0x80, 0xff] {
                let mut bad = gz.clone();
                bad[i] ^= mask;
                let _ = gzip_decompress(&bad, 4000);
            }
        }
    }

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip(b"gzip"));
        assert!(accepts_gzip(b"gzip, deflate, br"));
        assert!(accepts_gzip(b"deflate, GZIP;q=0.5"));
        assert!(accepts_gzip(b"x-gzip"));
        assert!(accepts_gzip(b"gzip;q=1.000"));
        assert!(accepts_gzip(b"gzip ; q = 0.001"));
        assert!(accepts_gzip(b"*"));
        assert!(accepts_gzip(b"br, *;q=0.1"));
        assert!(!accepts_gzip(b""));
        assert!(!accepts_gzip(b"deflate, br"));
        assert!(!accepts_gzip(b"gzip;q=0"));
        assert!(!accepts_gzip(b"gzip;q=0.000"));
        assert!(!accepts_gzip(b"gzip;q=0, *"));
        assert!(!accepts_gzip(b"*;q=0"));
        assert!(!accepts_gzip(b"gzipped"));
        assert!(!accepts_gzip(b"gzip;q=2"));
        assert!(!accepts_gzip(b"gzip;q=1.5"));
        assert!(!accepts_gzip(b"gzip;q=0.0001"));
        assert!(!accepts_gzip(b"gzip;q="));
        assert!(!accepts_gzip(b"gzip;q=abc"));
        assert!(accepts_gzip(b"gzip;level=1"));
    }

    #[test]
    fn content_types() {
        assert!(compressible_type("text/html; charset=UTF-8"));
        assert!(compressible_type("text/plain"));
        assert!(compressible_type("application/json"));
        assert!(compressible_type("Application/JSON ; charset=utf-8"));
        assert!(compressible_type("application/javascript"));
        assert!(compressible_type("application/x-javascript"));
        assert!(compressible_type("application/xml"));
        assert!(compressible_type("application/atom+xml"));
        assert!(compressible_type("application/xhtml+xml"));
        assert!(compressible_type("image/svg+xml"));
        assert!(!compressible_type("image/png"));
        assert!(!compressible_type("application/octet-stream"));
        assert!(!compressible_type(""));
        assert!(!compressible_type("textual/html"));
    }
}
