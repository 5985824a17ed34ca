//! Plugin components: request handlers that export `eddy:http/handler`, each in its own
//! `Store` with its own memory cap, called by the server guest through the `eddy:http/plugins`
//! import.
//!
//! A trap in a plugin poisons only that plugin's Store: the call returns `trapped` (the
//! server guest answers 500), the instance is dropped and the next request gets a fresh one.
//! A plugin that keeps trapping is re-instantiated with growing delay and reported
//! `unavailable` (503) meanwhile, with one log line per incident rather than per request.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};

/// The server-side bindings (`eddy:http/server`: the `plugins` import).
#[allow(missing_docs)]
pub(super) mod server_wit {
    wasmtime::component::bindgen!({
        path: "../wit/http",
        world: "eddy:http/server",
    });
}

/// The plugin-side bindings (`eddy:http/plugin`: the `handler` export), sharing the types.
#[allow(missing_docs)]
mod plugin_wit {
    wasmtime::component::bindgen!({
        path: "../wit/http",
        world: "eddy:http/plugin",
        with: { "eddy:http/types": super::server_wit::eddy::http::types },
    });
}

use plugin_wit::{Plugin as PluginBindings, PluginPre};
use server_wit::eddy::http::plugins::PluginError;
use server_wit::eddy::http::types::{Request, Response};

/// The interface a plugin exports, with its version.
pub const HANDLER_INTERFACE: &str = "eddy:http/handler@0.1.0";

/// Default limit on one plugin call (`--handler-timeout`); past it the call is interrupted.
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(10);

/// Default cap on one plugin instance's linear memory (`--plugin-max-memory`).
pub const DEFAULT_PLUGIN_MAX_MEMORY: usize = 64 * 1024 * 1024;

/// The longest a crash-looping plugin waits before its next instance.
pub const MAX_PLUGIN_BACKOFF: Duration = Duration::from_secs(5);

/// How plugin instances are reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// One instance per plugin per worker, reused until it traps (fast).
    Worker,
    /// A fresh instance for every request (nothing survives between requests).
    Request,
}

/// A plugin compiled once and checked, ready to instantiate in any worker.
#[derive(Clone)]
pub struct PluginProgram {
    name: String,
    pre: PluginPre<PluginState>,
}

impl PluginProgram {
    /// Compiles and links a plugin component; `name` appears in errors and logs.
    ///
    /// # Errors
    /// Not a component, imports something (plugins get no imports), or does not export
    /// `eddy:http/handler`.
    pub fn from_bytes(engine: &Engine, bytes: &[u8], name: &str) -> anyhow::Result<Self> {
        let component: Component = super::compile(engine, bytes, name)?;
        if component.get_export(None, HANDLER_INTERFACE).is_none() {
            anyhow::bail!("{name} is not a plugin: the export `{HANDLER_INTERFACE}` is missing");
        }
        let mut linker = Linker::<PluginState>::new(engine);
        // Plugins built by other toolchains import WASI; they get it with everything denied.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow!("{e}"))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("{name} imports something plugins are not given: {e}"))?;
        let pre =
            PluginPre::new(instance_pre).map_err(|e| anyhow!("{name} is not a plugin: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            pre,
        })
    }

    /// The plugin's name (its path).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What a plugin's `Store` holds: its limits and a WASI context that grants nothing.
pub struct PluginState {
    limits: StoreLimits,
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
}

impl wasmtime_wasi::WasiView for PluginState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct Live {
    store: Store<PluginState>,
    bindings: PluginBindings,
}

struct Slot {
    program: PluginProgram,
    live: Option<Live>,
    /// Traps in a row; reset by a successful call.
    failures: u32,
    /// While set and in the future, calls are answered `unavailable`.
    retry_at: Option<Instant>,
}

/// The plugins of one worker.
pub struct Plugins {
    slots: Vec<Slot>,
    isolation: Isolation,
    max_memory: usize,
    timeout: Duration,
    instantiations: u64,
}

impl Plugins {
    /// The worker's plugins, not yet instantiated (each is on its first request).
    pub fn new(
        programs: &[PluginProgram],
        isolation: Isolation,
        max_memory: usize,
        timeout: Duration,
    ) -> Self {
        let slots = programs
            .iter()
            .map(|program| Slot {
                program: program.clone(),
                live: None,
                failures: 0,
                retry_at: None,
            })
            .collect();
        Self {
            slots,
            isolation,
            max_memory,
            timeout,
            instantiations: 0,
        }
    }

    /// How many plugin instances were created so far.
    pub fn instantiations(&self) -> u64 {
        self.instantiations
    }

    fn instantiate(&mut self, index: usize) -> anyhow::Result<Live> {
        let slot = &self.slots[index];
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.max_memory)
            .instances(4)
            .build();
        let state = PluginState {
            limits,
            wasi: super::wasi::deny_all(&slot.program.name),
            table: super::wasi::table(),
        };
        let mut store = Store::new(slot.program.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(super::ticks(self.timeout));
        self.instantiations += 1;
        let bindings = slot
            .program
            .pre
            .instantiate(&mut store)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(Live { store, bindings })
    }

    /// Calls plugin `index` with `request`.
    pub fn call(&mut self, index: u32, request: &Request) -> Result<Response, PluginError> {
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        let Some(slot) = self.slots.get_mut(index) else {
            return Err(PluginError::UnknownPlugin);
        };
        if let Some(at) = slot.retry_at
            && Instant::now() < at
        {
            let message = format!(
                "{} is restarting after {} failures",
                slot.program.name, slot.failures
            );
            return Err(PluginError::Unavailable(message));
        }
        let mut live = match slot.live.take() {
            Some(live) => live,
            None => match self.instantiate(index) {
                Ok(live) => live,
                Err(error) => {
                    let message = format!(
                        "instantiating {} failed: {error}",
                        self.slots[index].program.name
                    );
                    self.failed(index, &message);
                    return Err(PluginError::Unavailable(message));
                }
            },
        };
        live.store.set_epoch_deadline(super::ticks(self.timeout));
        match live
            .bindings
            .eddy_http_handler()
            .call_handle(&mut live.store, request)
        {
            Ok(response) => {
                let slot = &mut self.slots[index];
                slot.failures = 0;
                slot.retry_at = None;
                if self.isolation == Isolation::Worker {
                    slot.live = Some(live);
                }
                Ok(response)
            }
            Err(trap) => {
                let message = match trap.downcast_ref::<wasmtime::Trap>() {
                    Some(wasmtime::Trap::Interrupt) => {
                        format!("interrupted after {:?}", self.timeout)
                    }
                    _ => first_line(&trap.to_string()),
                };
                self.failed(
                    index,
                    &format!("{} trapped: {message}", self.slots[index].program.name),
                );
                Err(PluginError::Trapped(message))
            }
        }
    }

    /// Records a failure: the instance is gone; after the first in a row, back off.
    fn failed(&mut self, index: usize, message: &str) {
        let slot = &mut self.slots[index];
        slot.failures += 1;
        let backoff = if slot.failures <= 1 {
            Duration::ZERO
        } else {
            (Duration::from_millis(50) * 2u32.saturating_pow((slot.failures - 2).min(16)))
                .min(MAX_PLUGIN_BACKOFF)
        };
        slot.retry_at = (!backoff.is_zero()).then(|| Instant::now() + backoff);
        // One line per incident: the first failure, then at 2, 4, 8, ... in a row.
        if slot.failures.is_power_of_two() {
            let instances = self.instantiations;
            tracing::error!(
                failures = slot.failures,
                instances,
                "{message}; next instance in {backoff:?}"
            );
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).to_owned()
}
