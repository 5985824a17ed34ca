//! Trap reports: the reason first, then the wasm backtrace, in one log record.
//!
//! wasmtime attaches the backtrace to a trap as the outermost context, so the error's own
//! `Display` is only `error while executing at wasm backtrace:`; the reason is further down
//! the chain.

use std::time::Duration;

use wasmtime::{Trap, WasmBacktrace};

/// What a trap was and where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapReport {
    /// One line: why the code stopped (the trap code, or the host error that trapped it).
    pub reason: String,
    /// The wasm frames, innermost first, one per line; empty when none were captured.
    pub backtrace: String,
}

const BACKTRACE_HEADER: &str = "error while executing at wasm backtrace:";

impl TrapReport {
    /// Reads a trap; `after` (how long the call ran) and `flag` explain an epoch interrupt,
    /// `denial` a refused memory or table growth that preceded the trap.
    pub fn new(
        error: &wasmtime::Error,
        after: Duration,
        flag: &str,
        denial: Option<String>,
    ) -> Self {
        let mut reason = if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            format!("interrupted after {after:.2?} ({flag})")
        } else {
            let parts: Vec<String> = error
                .chain()
                .map(ToString::to_string)
                .filter(|text| !text.starts_with(BACKTRACE_HEADER))
                .map(|text| text.replace('\n', " "))
                .collect();
            if parts.is_empty() {
                "trapped".to_owned()
            } else {
                parts.join(": ")
            }
        };
        if let Some(denial) = denial {
            reason.push_str(&format!(" (after a refused growth: {denial})"));
        }
        let backtrace = error
            .downcast_ref::<WasmBacktrace>()
            .map(|trace| {
                let text = trace.to_string();
                text.strip_prefix(BACKTRACE_HEADER)
                    .unwrap_or(&text)
                    .trim_start_matches('\n')
                    .to_owned()
            })
            .unwrap_or_default();
        Self { reason, backtrace }
    }

    /// The report as one log message: the reason, then the backtrace on the lines below.
    pub fn message(&self) -> String {
        if self.backtrace.is_empty() {
            self.reason.clone()
        } else {
            format!("{}\nwasm backtrace:\n{}", self.reason, self.backtrace)
        }
    }
}
