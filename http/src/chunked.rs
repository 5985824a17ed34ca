//! Incremental decoder for the chunked transfer coding (RFC 9112 §7.1),
//! plus small helpers to encode chunks.
//!
//! The decoder never copies body bytes: it hands back ranges into the slice
//! it was given. Feed it any pieces of the stream, in order:
//!
//! ```text
//! let mut dec = ChunkedDecoder::new();
//! let mut input: &[u8] = b"5\r\nhello\r\n0\r\n\r\nNEXT";
//! let mut body = Vec::new();
//! loop {
//!     let step = dec.decode(input).expect("test input is valid");
//!     if let Some(r) = step.data.clone() {
//!         body.extend_from_slice(&input[r]);
//!     }
//!     input = &input[step.consumed..];
//!     if step.done || input.is_empty() {
//!         break;
//!     }
//! }
//! assert_eq!(body, b"hello");
//! assert_eq!(input, b"NEXT");
//! ```

use std::fmt;
use std::ops::Range;

use super::headers::is_tchar;

/// Most hex digits accepted in a chunk-size (16 fill a u64).
pub const MAX_SIZE_DIGITS: u8 = 16;
/// Longest accepted chunk-size line (size plus extensions, without CRLF).
pub const MAX_SIZE_LINE: usize = 4 * 1024;
/// Largest accepted trailer section (all trailer lines plus the final CRLF).
pub const MAX_TRAILER_SIZE: usize = 64 * 1024;
/// The last-chunk with no trailers that ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A violation of the chunked coding; every one maps to 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// chunk-size missing or not hexadecimal.
    InvalidSize,
    /// chunk-size with more than [`MAX_SIZE_DIGITS`] digits.
    SizeTooLarge,
    /// chunk-size line longer than [`MAX_SIZE_LINE`].
    LineTooLong,
    /// Control character inside a chunk extension.
    InvalidExtension,
    /// A line or chunk-data not followed by CRLF (bare LF included).
    MissingCrlf,
    /// Malformed trailer field line.
    InvalidTrailer,
    /// Trailer section longer than [`MAX_TRAILER_SIZE`].
    TrailerTooLarge,
}

impl ChunkedError {
    /// HTTP status code to answer with (always 400).
    pub fn status(&self) -> u16 {
        400
    }

    /// Short human-readable description.
    pub fn reason(&self) -> &'static str {
        match self {
            ChunkedError::InvalidSize => "invalid chunk size",
            ChunkedError::SizeTooLarge => "chunk size too large",
            ChunkedError::LineTooLong => "chunk size line too long",
            ChunkedError::InvalidExtension => "invalid chunk extension",
            ChunkedError::MissingCrlf => "missing CRLF in chunked body",
            ChunkedError::InvalidTrailer => "invalid trailer field",
            ChunkedError::TrailerTooLarge => "trailer section too large",
        }
    }
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ChunkedError {}

/// Result of one [`ChunkedDecoder::decode`] step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input used up; feed the rest (`input[consumed..]`) next.
    pub consumed: usize,
    /// Body bytes found, as a range into the input given to this call.
    pub data: Option<Range<usize>>,
    /// The whole chunked body, trailers included, has been read; the bytes
    /// after `consumed` belong to the next message.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    SizeWs,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
    Failed(ChunkedError),
}

/// Incremental chunked-body decoder; see the module docs for the loop.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// Size being parsed, then bytes of the current chunk still to come.
    remaining: u64,
    digits: u8,
    line_len: usize,
    trailer_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder positioned at the first chunk-size line.
    pub fn new() -> Self {
        Self {
            state: State::Size,
            remaining: 0,
            digits: 0,
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// True once the final CRLF after the trailers has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Processes bytes from the start of `input`.
    ///
    /// Returns after the first run of body bytes (so that the range can be
    /// handed on without copying), at the end of the body, or when `input`
    /// is exhausted. Unless the body is done, a non-empty `input` always
    /// yields `consumed > 0`. After an error the decoder keeps returning it.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, ChunkedError> {
        let mut pos = 0usize;
        loop {
            match self.state {
                State::Done => {
                    return Ok(Decoded {
                        consumed: pos,
                        data: None,
                        done: true,
                    });
                }
                State::Failed(e) => return Err(e),
                State::Data => {
                    let avail = input.len().saturating_sub(pos);
                    if avail == 0 {
                        return Ok(self.pending(pos));
                    }
                    let n = usize::try_from(self.remaining).map_or(avail, |r| r.min(avail));
                    self.remaining = self.remaining.saturating_sub(n as u64);
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    let end = pos.saturating_add(n);
                    return Ok(Decoded {
                        consumed: end,
                        data: Some(pos..end),
                        done: false,
                    });
                }
                _ => {}
            }
            let Some(&b) = input.get(pos) else {
                return Ok(self.pending(pos));
            };
            pos += 1;
            if let Err(e) = self.step(b) {
                self.state = State::Failed(e);
                return Err(e);
            }
        }
    }

    /// Decodes from `input`, appending body bytes to `out`. Returns
    /// `(consumed, done)`; with `done == false` all of `input` was consumed.
    pub fn decode_to_vec(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, bool), ChunkedError> {
        let mut offset = 0usize;
        loop {
            let rest = input.get(offset..).unwrap_or(&[]);
            let step = self.decode(rest)?;
            if let Some(data) = step.data.and_then(|r| rest.get(r)) {
                out.extend_from_slice(data);
            }
            offset = offset.saturating_add(step.consumed);
            if step.done || offset >= input.len() {
                return Ok((offset, step.done));
            }
        }
    }

    fn pending(&self, consumed: usize) -> Decoded {
        Decoded {
            consumed,
            data: None,
            done: false,
        }
    }

    /// Counts a byte of the size line (the terminating CR excluded).
    fn size_line_byte(&mut self, b: u8) -> Result<(), ChunkedError> {
        if b == b'\r' {
            return Ok(());
        }
        self.line_len += 1;
        if self.line_len > MAX_SIZE_LINE {
            Err(ChunkedError::LineTooLong)
        } else {
            Ok(())
        }
    }

    fn trailer_byte(&mut self) -> Result<(), ChunkedError> {
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILER_SIZE {
            Err(ChunkedError::TrailerTooLarge)
        } else {
            Ok(())
        }
    }

    /// Advances the state machine by one framing byte.
    fn step(&mut self, b: u8) -> Result<(), ChunkedError> {
        match self.state {
            State::Size => {
                self.size_line_byte(b)?;
                if let Some(d) = hex_value(b) {
                    if self.digits >= MAX_SIZE_DIGITS {
                        return Err(ChunkedError::SizeTooLarge);
                    }
                    self.digits += 1;
                    self.remaining = self
                        .remaining
                        .checked_mul(16)
                        .and_then(|v| v.checked_add(u64::from(d)))
                        .ok_or(ChunkedError::SizeTooLarge)?;
                    return Ok(());
                }
                if self.digits == 0 {
                    return Err(ChunkedError::InvalidSize);
                }
                self.state = match b {
                    b';' => State::Ext,
                    b' ' | b'\t' => State::SizeWs,
                    b'\r' => State::SizeLf,
                    b'\n' => return Err(ChunkedError::MissingCrlf),
                    _ => return Err(ChunkedError::InvalidSize),
                };
            }
            State::SizeWs => {
                self.size_line_byte(b)?;
                self.state = match b {
                    b' ' | b'\t' => State::SizeWs,
                    b';' => State::Ext,
                    b'\r' => State::SizeLf,
                    b'\n' => return Err(ChunkedError::MissingCrlf),
                    _ => return Err(ChunkedError::InvalidSize),
                };
            }
            State::Ext => {
                self.size_line_byte(b)?;
                match b {
                    b'\r' => self.state = State::SizeLf,
                    b'\n' => return Err(ChunkedError::MissingCrlf),
                    b if is_field_byte(b) => {}
                    _ => return Err(ChunkedError::InvalidExtension),
                }
            }
            State::SizeLf => {
                if b != b'\n' {
                    return Err(ChunkedError::MissingCrlf);
                }
                self.digits = 0;
                self.line_len = 0;
                self.state = if self.remaining == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                };
            }
            State::DataCr => {
                if b != b'\r' {
                    return Err(ChunkedError::MissingCrlf);
                }
                self.state = State::DataLf;
            }
            State::DataLf => {
                if b != b'\n' {
                    return Err(ChunkedError::MissingCrlf);
                }
                self.state = State::Size;
            }
            State::TrailerStart => {
                self.trailer_byte()?;
                self.state = match b {
                    b'\r' => State::FinalLf,
                    b if is_tchar(b) => State::TrailerName,
                    b'\n' => return Err(ChunkedError::MissingCrlf),
                    _ => return Err(ChunkedError::InvalidTrailer),
                };
            }
            State::TrailerName => {
                self.trailer_byte()?;
                match b {
                    b':' => self.state = State::TrailerValue,
                    b if is_tchar(b) => {}
                    _ => return Err(ChunkedError::InvalidTrailer),
                }
            }
            State::TrailerValue => {
                self.trailer_byte()?;
                match b {
                    b'\r' => self.state = State::TrailerLf,
                    b'\n' => return Err(ChunkedError::MissingCrlf),
                    b if is_field_byte(b) => {}
                    _ => return Err(ChunkedError::InvalidTrailer),
                }
            }
            State::TrailerLf => {
                self.trailer_byte()?;
                if b != b'\n' {
                    return Err(ChunkedError::MissingCrlf);
                }
                self.state = State::TrailerStart;
            }
            State::FinalLf => {
                if b != b'\n' {
                    return Err(ChunkedError::MissingCrlf);
                }
                self.state = State::Done;
            }
            // Handled by `decode` before a byte is taken.
            State::Data | State::Done | State::Failed(_) => {}
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80
}

/// Appends one chunk carrying `data` (nothing for empty data, since an
/// empty chunk would end the body; use [`LAST_CHUNK`] for that).
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"4;ext=1;name=\"q;v\"\r\nWiki\r\n\
5 ; x\r\npedia\r\n\
E\r\n in\r\n\r\nchunks.\r\n\
000\r\n\
Expires: never\r\n\
X-Trailer: a\tb\r\n\
\r\n";
    const DECODED: &[u8] = b"Wikipedia in\r\n\r\nchunks.";

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), ChunkedError> {
        let mut dec = ChunkedDecoder::new();
        let mut out = Vec::new();
        let (n, done) = dec.decode_to_vec(input, &mut out)?;
        Ok((out, n, done))
    }

    /// Feeds `pieces` in order, returning the body and total consumed.
    fn feed(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool), ChunkedError> {
        let mut dec = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut done = false;
        for p in pieces {
            let (n, d) = dec.decode_to_vec(p, &mut out)?;
            if d {
                done = true;
                assert_eq!(n, p.len(), "nothing after the body here");
                break;
            }
            assert_eq!(n, p.len());
        }
        Ok((out, done))
    }

    #[test]
    fn decodes_whole() {
        let mut input = BODY.to_vec();
        input.extend_from_slice(b"GET /next");
        let (out, n, done) = decode_all(&input).expect("test input is valid");
        assert_eq!(out, DECODED);
        assert_eq!(n, BODY.len());
        assert!(done);
    }

    #[test]
    fn every_split_point() {
        for i in 0..=BODY.len() {
            let (out, done) = feed(&[&BODY[..i], &BODY[i..]]).expect("test input is valid");
            assert_eq!(out, DECODED, "split at {i}");
            assert!(done);
        }
    }

    #[test]
    fn every_pair_of_split_points() {
        for i in 0..=BODY.len() {
            for j in i..=BODY.len() {
                let (out, done) =
                    feed(&[&BODY[..i], &BODY[i..j], &BODY[j..]]).expect("test input is valid");
                assert_eq!(out, DECODED, "split at {i},{j}");
                assert!(done);
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let pieces: Vec<&[u8]> = BODY.chunks(1).collect();
        let (out, done) = feed(&pieces).expect("test input is valid");
        assert_eq!(out, DECODED);
        assert!(done);
    }

    #[test]
    fn zero_copy_ranges() {
        let mut dec = ChunkedDecoder::new();
        let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let s = dec.decode(input).expect("test input is valid");
        assert_eq!(s.data, Some(3..6));
        assert_eq!(s.consumed, 6);
        let rest = &input[6..];
        let s = dec.decode(rest).expect("test input is valid");
        assert_eq!(s.data.map(|r| &rest[r]), Some(&b"de"[..]));
        let rest = &rest[s.consumed..];
        let s = dec.decode(rest).expect("test input is valid");
        assert_eq!(
            s,
            Decoded {
                consumed: rest.len(),
                data: None,
                done: true
            }
        );
        assert!(dec.is_done());
        // Done stays done and consumes nothing.
        assert_eq!(
            dec.decode(b"more").expect("test input is valid"),
            Decoded {
                consumed: 0,
                data: None,
                done: true
            }
        );
    }

    #[test]
    fn empty_body_and_progress() {
        let (out, n, done) = decode_all(b"0\r\n\r\n").expect("test input is valid");
        assert!(out.is_empty() && done && n == 5);
        let mut dec = ChunkedDecoder::new();
        let s = dec.decode(b"").expect("test input is valid");
        assert_eq!(
            s,
            Decoded {
                consumed: 0,
                data: None,
                done: false
            }
        );
        let s = dec.decode(b"1").expect("test input is valid");
        assert_eq!(s.consumed, 1);
        assert!(!s.done);
    }

    #[test]
    fn large_sizes() {
        // 16 digits are accepted (size parsed, body incomplete).
        let mut dec = ChunkedDecoder::new();
        let s = dec
            .decode(b"ffffffffffffffff\r\nab")
            .expect("test input is valid");
        assert_eq!(s.data, Some(18..20));
        let mut dec = ChunkedDecoder::new();
        assert!(dec.decode(b"0000000000000001\r\nx\r\n0\r\n\r\n").is_ok());
        // 17 digits are not.
        assert_eq!(
            decode_all(b"10000000000000000\r\n"),
            Err(ChunkedError::SizeTooLarge)
        );
        assert_eq!(
            decode_all(b"00000000000000001\r\n"),
            Err(ChunkedError::SizeTooLarge)
        );
    }

    #[test]
    fn errors() {
        let cases: &[(&[u8], ChunkedError)] = &[
            (b"\r\n", ChunkedError::InvalidSize),
            (b"-1\r\n", ChunkedError::InvalidSize),
            (b"+1\r\n", ChunkedError::InvalidSize),
            (b"0x10\r\n", ChunkedError::InvalidSize),
            (b"g\r\n", ChunkedError::InvalidSize),
            (b" 1\r\n", ChunkedError::InvalidSize),
            (b"1 2\r\n", ChunkedError::InvalidSize),
            (b";ext\r\n", ChunkedError::InvalidSize),
            (b"1\n", ChunkedError::MissingCrlf),
            (b"1\rx", ChunkedError::MissingCrlf),
            (b"1;a\n", ChunkedError::MissingCrlf),
            (b"1;a\x00\r\n", ChunkedError::InvalidExtension),
            (b"3\r\nabcd\r\n", ChunkedError::MissingCrlf),
            (b"3\r\nabc\n0\r\n\r\n", ChunkedError::MissingCrlf),
            (b"3\r\nabc\rX", ChunkedError::MissingCrlf),
            (b"3\r\nabc0\r\n\r\n", ChunkedError::MissingCrlf),
            (b"0\r\n\n", ChunkedError::MissingCrlf),
            (b"0\r\n\rX", ChunkedError::MissingCrlf),
            (b"0\r\nX: y\n\r\n", ChunkedError::MissingCrlf),
            (b"0\r\n : y\r\n\r\n", ChunkedError::InvalidTrailer),
            (b"0\r\nX y: z\r\n\r\n", ChunkedError::InvalidTrailer),
            (b"0\r\nX: a\x01\r\n\r\n", ChunkedError::InvalidTrailer),
            (b"0\r\nNoColon\r\n\r\n", ChunkedError::InvalidTrailer),
        ];
        for (input, expected) in cases {
            assert_eq!(
                decode_all(input).map(|(o, _, d)| (o, d)),
                Err(*expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            // Same verdict byte at a time.
            let pieces: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(feed(&pieces), Err(*expected));
        }
        assert_eq!(ChunkedError::InvalidSize.status(), 400);
    }

    #[test]
    fn errors_are_sticky() {
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(b"z"), Err(ChunkedError::InvalidSize));
        assert_eq!(dec.decode(b"0\r\n\r\n"), Err(ChunkedError::InvalidSize));
    }

    #[test]
    fn limits() {
        let mut line = b"1;".to_vec();
        line.extend(std::iter::repeat_n(b'a', MAX_SIZE_LINE));
        assert_eq!(decode_all(&line), Err(ChunkedError::LineTooLong));
        let mut ok_line = b"1;".to_vec();
        ok_line.extend(std::iter::repeat_n(b'a', MAX_SIZE_LINE - 2));
        ok_line.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert_eq!(decode_all(&ok_line).map(|r| r.0), Ok(b"x".to_vec()));

        let mut trailers = b"0\r\n".to_vec();
        while trailers.len() < MAX_TRAILER_SIZE + 100 {
            trailers
                .extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        trailers.extend_from_slice(b"\r\n");
        assert_eq!(decode_all(&trailers), Err(ChunkedError::TrailerTooLarge));
    }

    #[test]
    fn encoder_roundtrip() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"hello");
        write_chunk(&mut out, b"");
        write_chunk(&mut out, &[b'x'; 300]);
        out.extend_from_slice(LAST_CHUNK);
        assert!(out.starts_with(b"5\r\nhello\r\n12c\r\n"));
        let (body, n, done) = decode_all(&out).expect("test input is valid");
        assert!(done);
        assert_eq!(n, out.len());
        assert_eq!(body.len(), 305);
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet = b"0123456789abcdefABCDEF;= \t\r\n:xX\x00\x80\"";
        for buf in crate::test_input::garbage(alphabet, 0x9e37_79b9_7f4a_7c15u64, 64, 3000) {
            let whole = decode_all(&buf).map(|(o, _, d)| (o, d));
            let pieces: Vec<&[u8]> = buf.chunks(3).collect();
            let mut dec = ChunkedDecoder::new();
            let mut out = Vec::new();
            let mut res = Ok(false);
            for p in pieces {
                match dec.decode_to_vec(p, &mut out) {
                    Ok((_, true)) => {
                        res = Ok(true);
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        res = Err(e);
                        break;
                    }
                }
            }
            assert_eq!(whole, res.map(|d| (out, d)));
        }
    }
}
