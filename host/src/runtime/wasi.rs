//! WASI 0.2 for plugins built by other languages' toolchains, with everything denied: no
//! preopened directories, no environment or arguments, no sockets or name lookups. Clocks
//! are the real ones (or read zero with `--frozen-clocks`), random works, and standard
//! output and error go to the host log, a line at a time, naming the plugin, under a log
//! budget per plugin (see [`super::plugin_log`]).
//!
//! A plugin that imports no WASI never sees any of this.

use std::time::Duration;

use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use super::plugin_log::LogOutput;

/// A WASI context that grants nothing but clocks, random and logged output; `plugin` names
/// the log lines of its output.
pub fn deny_all(plugin: &str, frozen_clocks: bool) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(LogOutput::new(plugin, "stdout"))
        .stderr(LogOutput::new(plugin, "stderr"))
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
