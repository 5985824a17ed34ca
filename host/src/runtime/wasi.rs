//! WASI 0.2 for plugins built by other languages' toolchains, with everything denied: no
//! preopened directories, no environment or arguments, no sockets or name lookups. Clocks
//! are the real ones (or read zero with `--frozen-clocks`), random works, and standard
//! output and error go to the host log, a line at a time, naming the plugin.
//!
//! A plugin that imports no WASI never sees any of this.

use std::time::Duration;

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// The longest line kept before it is logged anyway.
const MAX_LINE: usize = 4096;

/// A WASI context that grants nothing but clocks, random and logged output; `plugin` names
/// the log lines of its output.
pub fn deny_all(plugin: &str, frozen_clocks: bool) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(LogOutput {
            plugin: plugin.to_owned(),
            stream: "stdout",
        })
        .stderr(LogOutput {
            plugin: plugin.to_owned(),
            stream: "stderr",
        })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if frozen_clocks {
        builder.wall_clock(Frozen).monotonic_clock(Frozen);
    }
    builder.build()
}

/// Clocks that always read zero (`--frozen-clocks`), for deterministic plugins.
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// A plugin's stdout or stderr, written to the host log.
struct LogOutput {
    plugin: String,
    stream: &'static str,
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
            line: Vec::new(),
        })
    }
}

/// Splits output into lines and logs each one.
struct LogLines {
    plugin: String,
    stream: &'static str,
    line: Vec<u8>,
}

impl LogLines {
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        tracing::info!(plugin = %self.plugin, stream = self.stream, "plugin: {}", text.trim_end());
        self.line.clear();
    }
}

impl Drop for LogLines {
    /// A last line without a newline is logged when the instance goes away.
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogLines {
    async fn ready(&mut self) {}
}

impl OutputStream for LogLines {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        for &byte in &bytes {
            if byte == b'\n' {
                self.emit();
            } else {
                self.line.push(byte);
                if self.line.len() >= MAX_LINE {
                    self.emit();
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}
