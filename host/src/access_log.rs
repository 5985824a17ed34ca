//! The access log: one line per answered request, formatted by the worker into its own
//! buffer and written to stderr in one `write` per event-loop wakeup.
//!
//! Going through `tracing` cost a formatter, an escaping writer and a `write` system call per
//! request, about a fifth of a hello-world worker's time. The lines keep `tracing`'s shape
//! (`2026-11-27T01:35:48.449295Z  INFO access: GET / 200 144B 0.10ms 127.0.0.1`, or one
//! JSON object per line), so collectors see no difference. This module performs no other I/O.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use eddy_http::response_head::{civil_from_days, push_decimal};

/// Bytes buffered before the worker writes them out without waiting for the end of its
/// wakeup, so a long burst of requests cannot grow the buffer without bound.
pub const FLUSH_AT_BYTES: usize = 64 * 1024;

/// One answered request, as the guest reported it.
#[derive(Debug, Clone, Copy)]
pub struct AccessRecord<'a> {
    /// The request method.
    pub method: &'a str,
    /// The request target's path.
    pub path: &'a str,
    /// The response status.
    pub status: u16,
    /// Body bytes actually handed to the socket.
    pub bytes: u64,
    /// Whether the whole response was sent.
    pub complete: bool,
    /// From the first byte of the request to the last byte of the response.
    pub duration_us: u64,
    /// The peer's address.
    pub remote: &'a str,
}

/// Whether logs are JSON (`--log-format json`), set once at start-up.
pub static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// How lines are written: like `tracing`'s text or JSON formatter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `TIMESTAMP  INFO access: METHOD PATH STATUS BYTESB MILLISms REMOTE[ incomplete]`.
    Text,
    /// One flat JSON object per line, with `timestamp`, `level`, the fields and `target`.
    Json,
}

/// A worker's access log: a buffer of formatted lines and the clock text they share.
#[derive(Debug)]
pub struct AccessLog {
    format: Format,
    buffer: Vec<u8>,
    /// The second `stamp` was made for, and `YYYY-MM-DDTHH:MM:SS` for it.
    second: u64,
    stamp: [u8; 19],
}

impl Format {
    /// The format the rest of the log is in ([`JSON_LOGS`]).
    pub fn configured() -> Self {
        if JSON_LOGS.load(Ordering::Relaxed) {
            Self::Json
        } else {
            Self::Text
        }
    }
}

impl AccessLog {
    /// An empty log writing in `format`.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            buffer: Vec::new(),
            second: u64::MAX,
            stamp: [b'0'; 19],
        }
    }

    /// Formats one record, stamped with the current wall-clock time.
    pub fn record(&mut self, record: &AccessRecord<'_>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.record_at(record, now.as_secs(), now.subsec_micros());
        if self.buffer.len() >= FLUSH_AT_BYTES {
            self.flush();
        }
    }

    /// Whether lines are waiting to be written.
    pub fn has_pending(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Writes the buffered lines to stderr in one locked write, so no other log line lands
    /// inside them. A failed write drops the lines: the log must never stop the server.
    pub fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(&self.buffer);
        self.buffer.clear();
        // Release a buffer a burst grew, so an idle worker holds nothing.
        if self.buffer.capacity() > 2 * FLUSH_AT_BYTES {
            self.buffer = Vec::new();
        }
    }

    /// The buffered lines (for tests).
    #[cfg(test)]
    fn pending(&self) -> &[u8] {
        &self.buffer
    }

    fn record_at(&mut self, record: &AccessRecord<'_>, secs: u64, micros: u32) {
        if secs != self.second {
            self.second = secs;
            self.stamp = timestamp(secs);
        }
        let buffer = &mut self.buffer;
        match self.format {
            Format::Text => {
                push_stamp(buffer, &self.stamp, micros);
                buffer.extend_from_slice(b"  INFO access: ");
                push_text(buffer, record.method);
                buffer.push(b' ');
                push_text(buffer, record.path);
                let hundredths = record.duration_us.saturating_add(5) / 10;
                // Digits pushed by hand: `write!` was most of this function's time.
                buffer.push(b' ');
                push_decimal(buffer, u64::from(record.status), 1);
                buffer.push(b' ');
                push_decimal(buffer, record.bytes, 1);
                buffer.extend_from_slice(b"B ");
                push_decimal(buffer, hundredths / 100, 1);
                buffer.push(b'.');
                push_decimal(buffer, hundredths % 100, 2);
                buffer.extend_from_slice(b"ms ");
                push_text(buffer, record.remote);
                if !record.complete {
                    buffer.extend_from_slice(b" incomplete");
                }
            }
            Format::Json => {
                buffer.extend_from_slice(b"{\"timestamp\":\"");
                push_stamp(buffer, &self.stamp, micros);
                buffer.extend_from_slice(b"\",\"level\":\"INFO\",\"method\":");
                push_json(buffer, record.method);
                buffer.extend_from_slice(b",\"path\":");
                push_json(buffer, record.path);
                let _ = write!(
                    buffer,
                    ",\"status\":{},\"bytes\":{},\"complete\":{},\"duration_us\":{},\"remote\":",
                    record.status, record.bytes, record.complete, record.duration_us
                );
                push_json(buffer, record.remote);
                buffer.extend_from_slice(b",\"target\":\"access\"}");
            }
        }
        buffer.push(b'\n');
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) for seconds since the Unix epoch.
fn timestamp(secs: u64) -> [u8; 19] {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = [0u8; 19];
    let mut cursor = &mut out[..];
    let _ = write!(
        cursor,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
    out
}

fn push_stamp(buffer: &mut Vec<u8>, stamp: &[u8; 19], micros: u32) {
    buffer.extend_from_slice(stamp);
    buffer.push(b'.');
    push_decimal(buffer, u64::from(micros), 6);
    buffer.push(b'Z');
}

/// Text as is, with control characters escaped so a line stays one line on a terminal.
fn push_text(buffer: &mut Vec<u8>, text: &str) {
    if !text.bytes().any(|byte| byte.is_ascii_control()) {
        buffer.extend_from_slice(text.as_bytes());
        return;
    }
    for &byte in text.as_bytes() {
        if byte.is_ascii_control() {
            let _ = write!(buffer, "\\x{byte:02x}");
        } else {
            buffer.push(byte);
        }
    }
}

/// `text` with its control characters (CR, ESC, BEL, ...) escaped as `\xNN`, so a line of
/// untrusted text stays one line on a terminal and cannot rewrite what is already shown;
/// borrowed when there is nothing to escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|byte| byte.is_ascii_control()) {
        return Cow::Borrowed(text);
    }
    let mut buffer = Vec::with_capacity(text.len() + 16);
    push_text(&mut buffer, text);
    // Only ASCII control bytes were replaced, by ASCII: still UTF-8.
    Cow::Owned(String::from_utf8_lossy(&buffer).into_owned())
}

/// A JSON string literal (RFC 8259 section 7).
fn push_json(buffer: &mut Vec<u8>, text: &str) {
    buffer.push(b'"');
    for &byte in text.as_bytes() {
        match byte {
            b'"' => buffer.extend_from_slice(b"\\\""),
            b'\\' => buffer.extend_from_slice(b"\\\\"),
            b'\n' => buffer.extend_from_slice(b"\\n"),
            b'\r' => buffer.extend_from_slice(b"\\r"),
            b'\t' => buffer.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                let _ = write!(buffer, "\\u{byte:04x}");
            }
            _ => buffer.push(byte),
        }
    }
    buffer.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, complete: bool) -> AccessRecord<'_> {
        AccessRecord {
            method: "GET",
            path,
            status: 200,
            bytes: 144,
            complete,
            duration_us: 1_234,
            remote: "127.0.0.1",
        }
    }

    fn line(format: Format, record: &AccessRecord<'_>) -> String {
        let mut log = AccessLog::new(format);
        // 2026-11-27T01:35:48.449295Z
        log.record_at(record, 1_795_743_348, 449_295);
        let text = String::from_utf8(log.pending().to_vec()).expect("utf-8");
        log.buffer.clear();
        text
    }

    #[test]
    fn text_lines_look_like_tracing_lines() {
        assert_eq!(
            line(Format::Text, &record("/", true)),
            "2026-11-27T01:35:48.449295Z  INFO access: GET / 200 144B 1.23ms 127.0.0.1\n"
        );
        assert!(line(Format::Text, &record("/", false)).ends_with("127.0.0.1 incomplete\n"));
    }

    #[test]
    fn text_lines_escape_control_characters() {
        let text = line(Format::Text, &record("/a\u{1b}[31m\nb", true));
        assert!(text.contains("/a\\x1b[31m\\x0ab "), "{text}");
        assert_eq!(text.matches('\n').count(), 1);
    }

    #[test]
    fn escaping_controls_keeps_plain_text_borrowed() {
        assert!(matches!(escape_controls("plain text"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\rb\u{1b}[2Kc\u{7}"),
            "a\\x0db\\x1b[2Kc\\x07"
        );
        assert_eq!(escape_controls("tab\there é"), "tab\\x09here é");
    }

    #[test]
    fn json_lines_are_flat_objects() {
        let text = line(Format::Json, &record("/q\"\\\u{1}", false));
        assert_eq!(
            text,
            "{\"timestamp\":\"2026-11-27T01:35:48.449295Z\",\"level\":\"INFO\",\"method\":\"GET\",\
             \"path\":\"/q\\\"\\\\\\u0001\",\"status\":200,\"bytes\":144,\"complete\":false,\
             \"duration_us\":1234,\"remote\":\"127.0.0.1\",\"target\":\"access\"}\n"
        );
    }

    #[test]
    fn milliseconds_round_to_two_places() {
        let mut slow = record("/", true);
        slow.duration_us = 7;
        assert!(line(Format::Text, &slow).contains(" 0.01ms "));
        slow.duration_us = 999_996;
        assert!(
            line(Format::Text, &slow).contains(" 1000.00ms "),
            "{}",
            line(Format::Text, &slow)
        );
    }

    #[test]
    fn dates_cross_years_and_leap_days() {
        assert_eq!(&timestamp(0), b"1970-01-01T00:00:00");
        assert_eq!(&timestamp(951_782_400), b"2000-02-29T00:00:00");
        assert_eq!(&timestamp(1_798_761_599), b"2026-12-31T23:59:59");
    }
}
