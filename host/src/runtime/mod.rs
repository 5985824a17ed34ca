//! The wasmtime side of the host: one shared `Engine`, components compiled once and
//! instantiated per worker through `InstancePre`, and the WIT imports implemented on top of
//! the event loop's [`Net`].
//!
//! This is the only module that touches wasmtime; it knows nothing of sockets.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, UpdateDeadline};

use crate::event_loop::Net;

mod cache;
mod compile;
mod inspect;
mod limits;
mod plugin_program;
mod plugins;
mod trap;
mod wasi;
mod wasi_http;

pub use cache::{default_cache_dir, set_cache_dir};
use compile::compile;
pub use compile::{check_plugin, component_imports, precompile};
use inspect::Kind;
use limits::Limiter;
pub use limits::{
    DEFAULT_MAX_INSTANCES, DEFAULT_MAX_MEMORIES, DEFAULT_MAX_TABLE_ELEMENTS, DEFAULT_MAX_TABLES,
    Limits,
};
pub use wasi_http::HttpOutbound;

pub use plugin_program::{DEFAULT_MAX_RESPONSE_BODY, PluginProgram, PluginSettings};
use plugins::server_wit;
pub use plugins::{
    DEFAULT_HANDLER_TIMEOUT, DEFAULT_PLUGIN_MAX_MEMORY, HANDLER_INTERFACE, Isolation, Plugins,
};

/// The bindings wasmtime generates from `wit/`; their documentation is the WIT's.
#[allow(missing_docs)]
mod wit {
    wasmtime::component::bindgen!({
        path: "../wit/io",
        world: "eddy:io/io-guest",
    });
}

use wit::eddy;
pub use wit::eddy::io::types::{Accepted, ErrorCode, Event, Failure, Received, SocketError};
use wit::{IoGuest, IoGuestPre};

/// The interface every eddy guest exports, with its version.
pub const GUEST_INTERFACE: &str = "eddy:io/guest@0.1.0";

/// Default cap on one guest's linear memory (`--max-memory`).
pub const DEFAULT_MAX_MEMORY: usize = 256 * 1024 * 1024;

/// How often the engine's epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Default limit on the time a server guest spends in one call (`--guest-timeout`), not
/// counting the plugins it calls.
pub const DEFAULT_GUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The number of ticks covering `duration` (at least one).
pub(crate) fn ticks(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis().div_ceil(EPOCH_TICK.as_millis()))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Builds the one `Engine` a process uses, with its epoch ticker thread.
///
/// Every guest call runs under an epoch deadline: code that loops forever is interrupted
/// within its deadline plus one tick.
///
/// # Errors
/// wasmtime rejects the configuration (a host bug), or the ticker thread cannot start.
pub fn engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Synchronous calls only: with concurrency support on, every call pays for task bookkeeping.
    config.concurrency_support(false);
    config.epoch_interruption(true);
    let engine = Engine::new(&config).map_err(|e| anyhow!("{e}"))?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("eddy-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

/// A guest component compiled and checked against eddy's world, ready to instantiate.
#[derive(Clone)]
pub struct Program {
    pre: IoGuestPre<HostState>,
}

impl Program {
    /// Loads a component from a file: a `.wasm` component or one precompiled by `eddy compile`.
    ///
    /// # Errors
    /// The file is missing, is not a component, imports something other than eddy's
    /// interfaces, or does not export `eddy:io/guest`.
    pub fn load(engine: &Engine, path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read component {}", path.display()))?;
        Self::from_bytes(engine, &bytes, &path.display().to_string())
    }

    /// Loads a component from bytes; `name` appears in error messages.
    ///
    /// # Errors
    /// As [`Program::load`].
    pub fn from_bytes(engine: &Engine, bytes: &[u8], name: &str) -> anyhow::Result<Self> {
        let (component, _) = compile(engine, bytes, name, &[Kind::Server])?;
        Self::from_component(engine, &component, name)
    }

    /// Links a compiled server component; `name` appears in error messages.
    fn from_component(engine: &Engine, component: &Component, name: &str) -> anyhow::Result<Self> {
        let mut linker = Linker::<HostState>::new(engine);
        IoGuest::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| anyhow!("{e}"))?;
        server_wit::Server::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| {
            state
        })
        .map_err(|e| anyhow!("{e}"))?;
        let instance_pre = linker
            .instantiate_pre(component)
            .map_err(|e| anyhow!("{name} needs something eddy does not offer: {e}"))?;
        let pre = IoGuestPre::new(instance_pre)
            .map_err(|e| anyhow!("{name} does not export eddy's world: {e}"))?;
        Ok(Self { pre })
    }

    /// Instantiates the program in a fresh `Store` whose host side is `net`.
    ///
    /// # Errors
    /// Instantiation traps (for example the guest's start function fails).
    pub fn instantiate(
        &self,
        net: Net,
        plugins: Plugins,
        limits: &Limits,
        timeout: Duration,
    ) -> anyhow::Result<Guest> {
        let mut store = Store::new(
            self.pre.engine(),
            HostState {
                net,
                limiter: Limiter::new(limits.clone()),
                plugins,
                timeout,
                call_started: Instant::now(),
                plugin_time: Duration::ZERO,
            },
        );
        store.limiter(|state| &mut state.limiter);
        // The deadline counts the guest's own time: time spent in plugins is given back.
        store.epoch_deadline_callback(|store| {
            let state = store.data();
            let own = state
                .call_started
                .elapsed()
                .saturating_sub(state.plugin_time);
            match state.timeout.checked_sub(own) {
                Some(left) if !left.is_zero() => Ok(UpdateDeadline::Continue(ticks(left))),
                _ => Ok(UpdateDeadline::Interrupt),
            }
        });
        store.data_mut().begin_call();
        store.set_epoch_deadline(ticks(timeout));
        let bindings = match self.pre.instantiate(&mut store) {
            Ok(bindings) => bindings,
            Err(error) => {
                let text = format!("{error:#}");
                let state = store.data();
                let reason = state.limiter.limits().explain(&state.limiter, &text);
                bail!(
                    "the server guest cannot be instantiated: {}",
                    reason.unwrap_or(text)
                );
            }
        };
        Ok(Guest { store, bindings })
    }
}

/// What a guest's `Store` holds: the sockets it may use and its resource limits.
pub struct HostState {
    net: Net,
    limiter: Limiter,
    plugins: Plugins,
    /// The longest one call may run, plugins not counted.
    timeout: Duration,
    /// When the current call into the guest began.
    call_started: Instant,
    /// Time spent in plugins during the current call.
    plugin_time: Duration,
}

impl HostState {
    fn begin_call(&mut self) {
        self.call_started = Instant::now();
        self.plugin_time = Duration::ZERO;
    }
}

/// One instantiated guest, ready for events.
pub struct Guest {
    store: Store<HostState>,
    bindings: IoGuest,
}

impl Guest {
    /// Calls the guest's `start` export.
    ///
    /// # Errors
    /// The guest trapped, or returned an error (its message is kept).
    pub fn start(&mut self, args: &[String], options: &[(String, String)]) -> anyhow::Result<()> {
        self.arm_deadline();
        self.bindings
            .eddy_io_guest()
            .call_start(&mut self.store, args, options)
            .map_err(|e| {
                let report =
                    trap::TrapReport::new(&e, self.store.data().timeout, "--guest-timeout", None);
                anyhow!("the guest trapped while starting: {}", report.message())
            })?
            .map_err(|message| anyhow!("the guest failed to start: {message}"))
    }

    /// Delivers a batch of events: one call into the guest.
    ///
    /// # Errors
    /// The guest trapped; its `Store` is unusable afterwards.
    pub fn handle_events(&mut self, now: u64, events: &[Event]) -> anyhow::Result<()> {
        self.store.data_mut().net.count_guest_call();
        self.arm_deadline();
        self.bindings
            .eddy_io_guest()
            .call_handle_events(&mut self.store, now, events)
            .map_err(|e| {
                let denial = self.store.data_mut().limiter.take_denial();
                let report =
                    trap::TrapReport::new(&e, self.store.data().timeout, "--guest-timeout", denial);
                anyhow!("the guest trapped: {}", report.message())
            })
    }

    fn arm_deadline(&mut self) {
        self.store.data_mut().begin_call();
        let timeout = self.store.data().timeout;
        self.store.set_epoch_deadline(ticks(timeout));
    }

    /// The sockets and timers of this guest.
    pub fn net(&mut self) -> &mut Net {
        &mut self.store.data_mut().net
    }

    /// Takes the sockets back out of a guest that is being replaced.
    pub fn into_net(self) -> Net {
        self.store.into_data().net
    }
}

impl eddy::io::types::Host for HostState {}

impl server_wit::eddy::http::types::Host for HostState {}

impl server_wit::eddy::http::plugins::Host for HostState {
    fn call(
        &mut self,
        plugin: u32,
        request: server_wit::eddy::http::types::Request,
    ) -> Result<server_wit::eddy::http::types::Response, server_wit::eddy::http::plugins::PluginError>
    {
        self.net.count_import_call();
        let started = Instant::now();
        let response = self.plugins.call(plugin, &request);
        self.plugin_time += started.elapsed();
        response
    }
}

impl eddy::io::net::Host for HostState {
    fn send(&mut self, conn: u64, bytes: Vec<u8>) -> Result<u32, SocketError> {
        self.net.count_import_call();
        self.net.send(conn, &bytes)
    }

    fn set_read_interest(&mut self, conn: u64, on: bool) {
        self.net.count_import_call();
        self.net.set_read_interest(conn, on);
    }

    fn set_nodelay(&mut self, conn: u64, on: bool) -> Result<(), SocketError> {
        self.net.set_nodelay(conn, on)
    }

    fn close(&mut self, conn: u64) {
        self.net.count_import_call();
        self.net.close(conn);
    }

    fn connect(&mut self, address: String) -> Result<u64, SocketError> {
        self.net.connect(&address)
    }
}

impl eddy::io::timers::Host for HostState {
    fn set_timer(&mut self, deadline: u64) -> u64 {
        self.net.count_import_call();
        self.net.set_timer(deadline)
    }

    fn cancel_timer(&mut self, timer: u64) {
        self.net.count_import_call();
        self.net.cancel_timer(timer);
    }
}

impl eddy::io::clock::Host for HostState {
    fn now(&mut self) -> u64 {
        self.net.now()
    }

    fn wall_time(&mut self) -> (u64, u32) {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (since_epoch.as_secs(), since_epoch.subsec_nanos())
    }
}

impl eddy::io::log::Host for HostState {
    fn log(&mut self, level: eddy::io::log::Level, message: String) {
        use eddy::io::log::Level;
        let worker = self.net.worker();
        match level {
            Level::Trace => tracing::trace!(worker, "guest: {message}"),
            Level::Debug => tracing::debug!(worker, "guest: {message}"),
            Level::Info => tracing::info!(worker, "guest: {message}"),
            Level::Warn => tracing::warn!(worker, "guest: {message}"),
            Level::Error => tracing::error!(worker, "guest: {message}"),
        }
    }

    fn access(&mut self, entry: eddy::io::log::AccessEntry) {
        Self::access(&entry);
    }
}

/// Whether logs are JSON (`--log-format json`): access entries then carry only fields.
pub static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl HostState {
    fn access(entry: &eddy::io::log::AccessEntry) {
        if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(
                target: "access",
                method = %entry.method,
                path = %entry.path,
                status = entry.status,
                bytes = entry.bytes,
                duration_us = entry.duration_us,
                remote = %entry.remote,
            );
        } else {
            let millis = entry.duration_us as f64 / 1000.0;
            tracing::info!(
                target: "access",
                "{} {} {} {}B {millis:.2}ms {}",
                entry.method, entry.path, entry.status, entry.bytes, entry.remote
            );
        }
    }
}

impl eddy::io::process::Host for HostState {
    fn write_stdout(&mut self, bytes: Vec<u8>) {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
            tracing::warn!("writing the guest's output failed: {error}");
        }
    }

    fn stop(&mut self, code: u8) {
        self.net.stop(code);
    }
}
