//! A plugin's standard output and error, written to the host log a line at a time under a
//! budget: each plugin (all its instances, in every worker, both streams together) may log
//! [`LOG_BURST_BYTES`] at once and then [`LOG_BYTES_PER_SECOND`]; what it writes beyond that
//! is dropped, counted, and reported in one line. Lines are cut at [`MAX_LINE`] bytes and
//! their control characters escaped, so a plugin cannot fill the disk, hold the log's lock
//! for the other workers, or rewrite what a terminal shows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::access_log::escape_controls;

/// Bytes of output one plugin may log per second, once its burst is spent.
pub const LOG_BYTES_PER_SECOND: u64 = 64 * 1024;

/// Bytes of output one plugin may log at once before the rate applies.
pub const LOG_BURST_BYTES: u64 = 256 * 1024;

/// The longest line logged; the rest of a longer line is dropped and counted.
pub const MAX_LINE: usize = 4096;

/// What each line costs besides its bytes (the log line's own timestamp and fields), so a
/// flood of empty lines is bounded too.
const LINE_COST: u64 = 64;

/// Once output is being dropped, logging resumes only when this much budget is back (a
/// second's worth): a plugin that keeps flooding gets the notice and the count of what was
/// dropped at most once a second, not around every line it is allowed.
const RESUME_AT: u64 = LOG_BYTES_PER_SECOND;

/// A plugin's stdout or stderr, written to the host log.
pub(super) struct LogOutput {
    plugin: String,
    stream: &'static str,
    budget: Arc<LogBudget>,
}

impl LogOutput {
    /// The `stream` ("stdout" or "stderr") of `plugin`, sharing the plugin's budget.
    pub(super) fn new(plugin: &str, stream: &'static str) -> Self {
        Self {
            plugin: plugin.to_owned(),
            stream,
            budget: LogBudget::of(plugin),
        }
    }
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        std::io::empty().async_stream()
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LogLines {
            plugin: self.plugin.clone(),
            stream: self.stream,
            budget: self.budget.clone(),
            line: Vec::new(),
            cut: 0,
            skipping: false,
            dropping_until: None,
        })
    }
}

/// One plugin's log budget, shared by all its streams: a token bucket of bytes.
#[derive(Debug)]
struct LogBudget {
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may be logged now.
    tokens: u64,
    refilled_at: Instant,
    /// Output is being dropped (the notice was logged).
    over: bool,
    /// Bytes dropped and not reported yet.
    dropped: u64,
}

/// What the budget says about one line.
enum Verdict {
    /// Log it; first report this many dropped bytes, if any.
    Log { dropped: u64 },
    /// Drop it, and everything else until then; `notice` when the dropping starts now.
    Drop { until: Instant, notice: bool },
}

impl LogBudget {
    /// The budget of the plugin named `plugin`, made on first use.
    fn of(plugin: &str) -> Arc<Self> {
        static BUDGETS: OnceLock<Mutex<HashMap<String, Arc<LogBudget>>>> = OnceLock::new();
        let mut budgets = BUDGETS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        budgets
            .entry(plugin.to_owned())
            .or_insert_with(|| Arc::new(Self::new(Instant::now())))
            .clone()
    }

    fn new(now: Instant) -> Self {
        Self {
            bucket: Mutex::new(Bucket {
                tokens: LOG_BURST_BYTES,
                refilled_at: now,
                over: false,
                dropped: 0,
            }),
        }
    }

    fn bucket(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.bucket.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `cost` bytes for a line of `bytes` bytes at `now`, or counts them as dropped.
    fn take(&self, bytes: u64, now: Instant) -> Verdict {
        let cost = bytes + LINE_COST;
        let mut bucket = self.bucket();
        bucket.refill(now);
        let needed = if bucket.over {
            cost.max(RESUME_AT)
        } else {
            cost
        };
        if bucket.tokens >= needed {
            bucket.tokens -= cost;
            bucket.over = false;
            return Verdict::Log {
                dropped: std::mem::take(&mut bucket.dropped),
            };
        }
        bucket.dropped += bytes;
        let notice = !std::mem::replace(&mut bucket.over, true);
        let missing = needed.max(RESUME_AT) - bucket.tokens;
        let wait = Duration::from_secs_f64(missing as f64 / LOG_BYTES_PER_SECOND as f64);
        Verdict::Drop {
            until: now + wait,
            notice,
        }
    }

    /// Counts `bytes` dropped without asking (the budget already said to drop until later).
    fn count_dropped(&self, bytes: u64) {
        self.bucket().dropped += bytes;
    }

    /// The bytes dropped and not reported yet, now reported.
    fn take_dropped(&self) -> u64 {
        std::mem::take(&mut self.bucket().dropped)
    }
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        let earned = (elapsed.as_secs_f64() * LOG_BYTES_PER_SECOND as f64) as u64;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(LOG_BURST_BYTES);
            self.refilled_at = now;
        }
    }
}

/// Splits output into lines and logs each one the budget admits.
struct LogLines {
    plugin: String,
    stream: &'static str,
    budget: Arc<LogBudget>,
    /// The current line, at most [`MAX_LINE`] bytes of it.
    line: Vec<u8>,
    /// Bytes of the current line past [`MAX_LINE`].
    cut: u64,
    /// The current line started while output was dropped: it is dropped to its end.
    skipping: bool,
    /// Output is dropped without looking at it until then.
    dropping_until: Option<Instant>,
}

impl LogLines {
    /// Adds a piece of the current line.
    fn push(&mut self, piece: &[u8]) {
        if self.skipping {
            self.budget.count_dropped(piece.len() as u64);
            return;
        }
        let room = MAX_LINE - self.line.len();
        let kept = piece.len().min(room);
        self.line.extend_from_slice(&piece[..kept]);
        self.cut += (piece.len() - kept) as u64;
    }

    /// Ends the current line: logs it if the budget admits it.
    fn end_line(&mut self, now: Instant) {
        if std::mem::take(&mut self.skipping) {
            return;
        }
        let bytes = self.line.len() as u64 + self.cut;
        match self.budget.take(self.line.len() as u64, now) {
            Verdict::Log { dropped } => {
                if dropped > 0 {
                    self.report_dropped(dropped);
                }
                self.emit();
                if self.cut > 0 {
                    self.budget.count_dropped(self.cut);
                }
            }
            Verdict::Drop { until, notice } => {
                self.budget.count_dropped(bytes - self.line.len() as u64);
                self.dropping_until = Some(until);
                if notice {
                    tracing::warn!(
                        plugin = %self.plugin,
                        "plugin output is over its log budget ({LOG_BURST_BYTES} bytes at once, then {LOG_BYTES_PER_SECOND} a second): dropping it"
                    );
                }
            }
        }
        self.line.clear();
        self.cut = 0;
    }

    fn emit(&self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = escape_controls(text.trim_end());
        if self.cut > 0 {
            tracing::info!(plugin = %self.plugin, stream = self.stream, "plugin: {text} [line cut: {} more bytes]", self.cut);
        } else {
            tracing::info!(plugin = %self.plugin, stream = self.stream, "plugin: {text}");
        }
    }

    fn report_dropped(&self, dropped: u64) {
        tracing::warn!(
            plugin = %self.plugin,
            "plugin output: dropped {dropped} bytes over its log budget ({LOG_BURST_BYTES} bytes at once, then {LOG_BYTES_PER_SECOND} a second)"
        );
    }
}

impl Drop for LogLines {
    /// A last line without a newline is logged when the instance goes away, and so is the
    /// count of what was dropped.
    fn drop(&mut self) {
        if !self.line.is_empty() || self.cut > 0 {
            self.end_line(Instant::now());
        }
        let dropped = self.budget.take_dropped();
        if dropped > 0 {
            self.report_dropped(dropped);
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogLines {
    async fn ready(&mut self) {}
}

impl OutputStream for LogLines {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        let now = Instant::now();
        if self.dropping_until.is_some_and(|until| now < until) {
            // Not even looked at: a flood costs the copy the guest made, nothing more.
            self.budget.count_dropped(bytes.len() as u64);
            self.line.clear();
            self.cut = 0;
            self.skipping = true;
            return Ok(());
        }
        self.dropping_until = None;
        let mut rest = &bytes[..];
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            self.push(&rest[..end]);
            self.end_line(now);
            rest = &rest[end + 1..];
            if self.dropping_until.is_some() {
                self.budget.count_dropped(rest.len() as u64);
                self.skipping = true;
                return Ok(());
            }
        }
        self.push(rest);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(budget: &Arc<LogBudget>) -> LogLines {
        LogLines {
            plugin: "test".into(),
            stream: "stdout",
            budget: budget.clone(),
            line: Vec::new(),
            cut: 0,
            skipping: false,
            dropping_until: None,
        }
    }

    #[test]
    fn the_burst_is_logged_then_the_rest_dropped_and_counted() {
        let start = Instant::now();
        let budget = Arc::new(LogBudget::new(start));
        let line = 100u64;
        let admitted = (0..10_000)
            .take_while(|_| matches!(budget.take(line, start), Verdict::Log { .. }))
            .count() as u64;
        assert_eq!(admitted, LOG_BURST_BYTES / (line + LINE_COST));
        let Verdict::Drop { until, notice } = budget.take(line, start) else {
            panic!("over the burst");
        };
        assert!(!notice, "the notice came with the first dropped line");
        assert!(until > start && until < start + Duration::from_secs(1));
        // A second later a second's worth is logged again, after the count of the dropped.
        let later = start + Duration::from_secs(1);
        let Verdict::Log { dropped } = budget.take(line, later) else {
            panic!("refilled");
        };
        assert_eq!(dropped, 2 * line);
    }

    #[test]
    fn long_lines_are_cut_and_dropped_output_is_not_scanned() {
        let budget = Arc::new(LogBudget::new(Instant::now()));
        let mut out = lines(&budget);
        let long = vec![b'x'; MAX_LINE + 100];
        out.write(bytes::Bytes::from([long.as_slice(), b"\n"].concat()))
            .expect("write");
        assert!(out.line.is_empty() && out.cut == 0);
        assert_eq!(budget.take_dropped(), 100, "the cut part is counted");
        out.dropping_until = Some(Instant::now() + Duration::from_secs(60));
        out.write(bytes::Bytes::from_static(b"a\nb\nhalf a line"))
            .expect("write");
        assert_eq!(budget.take_dropped(), 15);
        assert!(out.skipping, "the rest of a line cut in two is dropped too");
    }
}
