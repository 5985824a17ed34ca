//! What a plugin's `Store` holds, and the WASI and `wasi:http` views wasmtime reads it by.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::limits::Limiter;
use super::outbound::Hooks;

/// What a plugin's `Store` holds: its limits, a WASI context that grants nothing but clocks,
/// random and logged output, and `wasi:http` with outbound requests checked by `hooks`.
pub struct PluginState {
    pub(super) limiter: Limiter,
    pub(super) wasi: wasmtime_wasi::WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) hooks: Hooks,
    pub(super) table: ResourceTable,
    /// The TLS server name (SNI) of the request being handled (`eddy:http/connection`).
    pub(super) server_name: Option<String>,
    /// The plugin's `[plugins.NAME]` settings, read through `wasi:config/store`.
    pub(super) config: Arc<WasiConfigVariables>,
    /// When the call in progress must be done: its head by `--handler-timeout` from the
    /// request, a streamed body by `--max-stream-duration` from its head. The epoch callback
    /// interrupts the plugin past it.
    pub(super) deadline: Deadline,
    /// Set by the epoch callback when the call yields at a tick: the call then waits for the
    /// loop, not for something outside (a response body is not streamed for that).
    pub(super) yielded: Arc<AtomicBool>,
}

/// A deadline shared by a call's future, which moves it when the response starts to stream,
/// and the Store's epoch callback, which reads it at every tick: nanoseconds after a fixed
/// origin, in an atomic.
#[derive(Clone, Debug)]
pub struct Deadline(Arc<AtomicU64>);

/// The origin deadlines are counted from.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Deadline {
    /// A deadline at `at`.
    pub fn new(at: Instant) -> Self {
        let deadline = Self(Arc::default());
        deadline.set(at);
        deadline
    }

    /// When it is.
    pub fn get(&self) -> Instant {
        origin() + Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    /// Moves it to `at`.
    pub fn set(&self, at: Instant) {
        let nanos = at.saturating_duration_since(origin()).as_nanos();
        self.0
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}
impl wasmtime_wasi::WasiView for PluginState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
