//! The read side of an IOStream as a plain state machine: bytes go in, reads come out.
//!
//! This module performs no I/O and knows nothing of futures; `stream.rs` wraps it. It decides,
//! for the one outstanding read, whether the buffered bytes satisfy it (Tornado's
//! `_find_read_pos`) and enforces `max_bytes`.

use std::fmt;

use regex::bytes::Regex;

/// What the outstanding read is waiting for.
#[derive(Clone, Debug)]
pub enum ReadTarget {
    /// Everything up to and including `delimiter`, failing past `max_bytes`.
    Until {
        /// The delimiter to find.
        delimiter: Vec<u8>,
        /// The most bytes the result may have, delimiter included.
        max_bytes: Option<usize>,
    },
    /// Everything up to and including the first match of `regex`, failing past `max_bytes`.
    UntilRegex {
        /// The pattern to match.
        regex: Regex,
        /// The most bytes the result may have, match included.
        max_bytes: Option<usize>,
    },
    /// Exactly `n` bytes, or with `partial` as soon as at least one byte is buffered.
    Bytes {
        /// How many bytes to read (at most, with `partial`).
        n: usize,
        /// Whether any non-empty prefix satisfies the read.
        partial: bool,
    },
    /// Everything until the stream closes.
    UntilClose,
}

/// The buffered bytes cannot satisfy the read within its `max_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsatisfiableRead {
    /// The limit that was passed.
    pub max_bytes: usize,
}

impl fmt::Display for UnsatisfiableRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "delimiter not found within {} bytes", self.max_bytes)
    }
}

/// The bytes received but not yet consumed by a read.
#[derive(Debug, Default)]
pub struct ReadBuffer {
    bytes: Vec<u8>,
    /// Bytes before `start` were consumed; they are dropped when it pays off.
    start: usize,
    /// Where a delimiter search may resume: nothing before it can start a match.
    scanned: usize,
}

impl ReadBuffer {
    /// Appends received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.bytes.len() / 2 {
            self.bytes.drain(..self.start);
            self.scanned -= self.start.min(self.scanned);
            self.start = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    /// Appends `data`, taking its buffer as the whole buffer when nothing is buffered (the
    /// bytes of a host event then land in the stream without a copy).
    pub fn extend_owned(&mut self, data: Vec<u8>) {
        if self.is_empty() {
            self.bytes = data;
            self.start = 0;
            self.scanned = 0;
        } else {
            self.extend(&data);
        }
    }

    /// How many bytes are buffered.
    pub fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffered bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Puts bytes back in front of the buffer (a read whose result was never taken).
    pub fn unread(&mut self, data: Vec<u8>) {
        let mut joined = data;
        joined.extend_from_slice(self.as_slice());
        self.bytes = joined;
        self.start = 0;
        self.scanned = 0;
    }

    /// Removes and returns the first `n` buffered bytes.
    pub fn consume(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.len());
        let out = if self.start == 0 && n == self.bytes.len() {
            std::mem::take(&mut self.bytes)
        } else {
            self.bytes[self.start..self.start + n].to_vec()
        };
        self.start += n;
        if self.start >= self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        }
        self.scanned = 0;
        out
    }

    /// Copies up to `out.len()` bytes into `out` and consumes them; returns how many.
    pub fn consume_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len());
        out[..n].copy_from_slice(&self.as_slice()[..n]);
        self.start += n;
        if self.start >= self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        }
        self.scanned = 0;
        n
    }

    /// How many leading bytes satisfy `target`, if the buffer holds enough.
    ///
    /// `closed` says whether more bytes can still arrive.
    ///
    /// # Errors
    /// [`UnsatisfiableRead`] when the target's `max_bytes` is already exceeded.
    pub fn find(
        &mut self,
        target: &ReadTarget,
        closed: bool,
    ) -> Result<Option<usize>, UnsatisfiableRead> {
        match target {
            ReadTarget::Until {
                delimiter,
                max_bytes,
            } => self.find_delimiter(delimiter, *max_bytes),
            ReadTarget::UntilRegex { regex, max_bytes } => {
                let found = regex.find(self.as_slice()).map(|m| m.end());
                check_max(found, self.len(), *max_bytes)
            }
            ReadTarget::Bytes { n, partial } => {
                Ok(if self.len() >= *n || (*partial && !self.is_empty()) {
                    Some((*n).min(self.len()))
                } else {
                    None
                })
            }
            ReadTarget::UntilClose => Ok(closed.then_some(self.len())),
        }
    }

    fn find_delimiter(
        &mut self,
        delimiter: &[u8],
        max_bytes: Option<usize>,
    ) -> Result<Option<usize>, UnsatisfiableRead> {
        let haystack = self.as_slice();
        let from = self.scanned.min(haystack.len());
        let found =
            find_subslice(&haystack[from..], delimiter).map(|at| from + at + delimiter.len());
        if found.is_none() {
            // A delimiter may straddle the end: resume just before the last partial match.
            self.scanned = haystack
                .len()
                .saturating_sub(delimiter.len().saturating_sub(1));
        }
        check_max(found, self.len(), max_bytes)
    }
}

/// Tornado's `_check_max_bytes`: a match past `max_bytes`, or no match in more than
/// `max_bytes` bytes, can never be satisfied.
fn check_max(
    found: Option<usize>,
    buffered: usize,
    max_bytes: Option<usize>,
) -> Result<Option<usize>, UnsatisfiableRead> {
    let size = found.unwrap_or(buffered);
    match max_bytes {
        Some(max) if size > max => Err(UnsatisfiableRead { max_bytes: max }),
        _ => Ok(found),
    }
}

/// Finds the first `byte` in `haystack`, eight bytes per step.
///
/// The guest runs under epoch interruption, which checks the deadline on every loop
/// iteration: a word-at-a-time scan does one check per eight bytes instead of one per byte.
pub fn find_byte(haystack: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(byte);
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == byte)
        .map(|at| offset + at)
}

/// Finds the first occurrence of `needle` in `haystack`.
pub fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    let (&first, rest) = needle.split_first()?;
    let mut offset = 0;
    while offset + needle.len() <= haystack.len() {
        let at = find_byte(&haystack[offset..=haystack.len() - needle.len()], first)?;
        let start = offset + at;
        if &haystack[start + 1..start + needle.len()] == rest {
            return Some(start);
        }
        offset = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn until(delimiter: &[u8], max_bytes: Option<usize>) -> ReadTarget {
        ReadTarget::Until {
            delimiter: delimiter.to_vec(),
            max_bytes,
        }
    }

    #[test]
    fn owned_bytes_are_taken_when_empty_and_appended_otherwise() {
        let mut buffer = ReadBuffer::default();
        let bytes = b"abc".to_vec();
        let at = bytes.as_ptr();
        buffer.extend_owned(bytes);
        assert_eq!(buffer.as_slice().as_ptr(), at);
        buffer.extend_owned(b"def".to_vec());
        assert_eq!(buffer.as_slice(), b"abcdef");
        let taken = buffer.consume(6);
        assert_eq!(taken, b"abcdef");
        assert!(buffer.is_empty());
    }

    #[test]
    fn read_until_finds_delimiter_split_at_every_point() {
        let message = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        let target = until(b"\r\n\r\n", None);
        for split in 0..=message.len() {
            let mut buffer = ReadBuffer::default();
            buffer.extend(&message[..split]);
            let early = buffer.find(&target, false).expect("no max");
            buffer.extend(&message[split..]);
            let found = early.or_else(|| buffer.find(&target, false).expect("no max"));
            assert_eq!(found, Some(27), "split at {split}");
            assert_eq!(buffer.consume(27), &message[..27]);
            assert_eq!(buffer.as_slice(), b"rest");
        }
    }

    #[test]
    fn read_until_finds_delimiter_fed_byte_by_byte() {
        let message = b"abc\r\n\r\n";
        let target = until(b"\r\n\r\n", None);
        let mut buffer = ReadBuffer::default();
        let mut found = None;
        for &byte in message {
            buffer.extend(&[byte]);
            found = buffer.find(&target, false).expect("no max");
        }
        assert_eq!(found, Some(message.len()));
    }

    #[test]
    fn read_until_past_max_bytes_is_unsatisfiable() {
        let mut buffer = ReadBuffer::default();
        buffer.extend(b"0123456789");
        assert_eq!(buffer.find(&until(b"\n", Some(10)), false), Ok(None));
        buffer.extend(b"x");
        assert_eq!(
            buffer.find(&until(b"\n", Some(10)), false),
            Err(UnsatisfiableRead { max_bytes: 10 })
        );
    }

    #[test]
    fn read_until_match_ending_past_max_bytes_is_unsatisfiable() {
        let mut buffer = ReadBuffer::default();
        buffer.extend(b"abcd\n");
        assert_eq!(buffer.find(&until(b"\n", Some(5)), false), Ok(Some(5)));
        assert!(buffer.find(&until(b"\n", Some(4)), false).is_err());
    }

    #[test]
    fn read_until_regex_matches_across_chunks() {
        let regex = Regex::new(r"\r?\n\r?\n").expect("valid");
        let target = ReadTarget::UntilRegex {
            regex,
            max_bytes: Some(100),
        };
        let mut buffer = ReadBuffer::default();
        buffer.extend(b"head\n");
        assert_eq!(buffer.find(&target, false), Ok(None));
        buffer.extend(b"\nbody");
        assert_eq!(buffer.find(&target, false), Ok(Some(6)));
    }

    #[test]
    fn read_bytes_full_and_partial() {
        let mut buffer = ReadBuffer::default();
        buffer.extend(b"abc");
        assert_eq!(
            buffer.find(
                &ReadTarget::Bytes {
                    n: 5,
                    partial: false
                },
                false
            ),
            Ok(None)
        );
        assert_eq!(
            buffer.find(
                &ReadTarget::Bytes {
                    n: 5,
                    partial: true
                },
                false
            ),
            Ok(Some(3))
        );
        assert_eq!(
            buffer.find(
                &ReadTarget::Bytes {
                    n: 2,
                    partial: false
                },
                false
            ),
            Ok(Some(2))
        );
    }

    #[test]
    fn read_until_close_waits_for_close() {
        let mut buffer = ReadBuffer::default();
        buffer.extend(b"tail");
        assert_eq!(buffer.find(&ReadTarget::UntilClose, false), Ok(None));
        assert_eq!(buffer.find(&ReadTarget::UntilClose, true), Ok(Some(4)));
    }

    #[test]
    fn consume_compacts_and_unread_restores() {
        let mut buffer = ReadBuffer::default();
        buffer.extend(b"hello world");
        assert_eq!(buffer.consume(6), b"hello ");
        let mut out = [0u8; 3];
        assert_eq!(buffer.consume_into(&mut out), 3);
        assert_eq!(&out, b"wor");
        buffer.unread(b"wor".to_vec());
        assert_eq!(buffer.as_slice(), b"world");
        buffer.extend(b"!");
        assert_eq!(buffer.consume(10), b"world!");
        assert!(buffer.is_empty());
    }

    #[test]
    fn find_byte_agrees_with_a_plain_scan() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..80 {
            for _ in 0..20 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        [b'a', b'\n', 0x80, 0xff, 0x0a ^ 0x80][(seed % 5) as usize]
                    })
                    .collect();
                for byte in [b'\n', 0x80, 0xff, b'z'] {
                    assert_eq!(
                        find_byte(&bytes, byte),
                        bytes.iter().position(|&b| b == byte),
                        "{bytes:?} {byte}"
                    );
                }
            }
        }
    }

    #[test]
    fn find_subslice_handles_edges() {
        assert_eq!(find_subslice(b"aab", b"ab"), Some(1));
        assert_eq!(find_subslice(b"ab", b"abc"), None);
        assert_eq!(find_subslice(b"", b"a"), None);
        assert_eq!(find_subslice(b"xyz", b"z"), Some(2));
    }
}
