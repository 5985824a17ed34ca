//! What a plugin's `Store` holds, and the WASI and `wasi:http` views wasmtime reads it by.

use std::sync::Arc;
use std::time::Instant;

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
    /// When the call in progress must have answered (`--handler-timeout` from its request):
    /// the epoch callback interrupts the plugin past it.
    pub(super) deadline: Instant,
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
