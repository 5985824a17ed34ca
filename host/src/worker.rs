//! One worker: an event loop and a guest instance, wired together. The loop owns the
//! sockets and lends them to the guest for each call; this module says how a guest is
//! instantiated and started, so neither the loop nor the runtime needs the other.

use std::sync::Arc;
use std::time::Duration;

use crate::admission::Admission;
use crate::boundary::{Crossings, Exports as _};
use crate::event_loop::{self, LoopConfig, Mode, Net, Shutdown, TlsSetup};
use crate::policy::ConnectPolicy;
use crate::runtime::{self, Guest, HandlerTable, Limits, PluginSettings, Plugins, Program};

/// Everything one worker needs.
pub struct WorkerConfig {
    /// The guest program.
    pub program: Program,
    /// Arguments for the guest's `start`.
    pub args: Vec<String>,
    /// Options for the guest's `start`.
    pub options: Vec<(String, String)>,
    /// The guest Store's limits (memory, instances, tables).
    pub limits: Limits,
    /// This worker's listening sockets.
    pub listeners: Vec<std::net::TcpListener>,
    /// This worker's TLS listening sockets.
    pub tls_listeners: Vec<std::net::TcpListener>,
    /// Certificates and trust for TLS.
    pub tls: TlsSetup,
    /// The outbound connection policy.
    pub policy: ConnectPolicy,
    /// Serve or run.
    pub mode: Mode,
    /// The worker's index, for log lines.
    pub index: usize,
    /// Plugin handlers the guest may call, in `--handler` order (swapped on a reload).
    pub plugins: Arc<HandlerTable>,
    /// How plugin instances are run.
    pub plugin_settings: PluginSettings,
    /// Limit on the server guest's own time in one call.
    pub guest_timeout: Duration,
    /// The process-wide inbound connection limit.
    pub admission: Admission,
    /// Graceful shutdown.
    pub shutdown: Arc<Shutdown>,
    /// `--health-path`, answered by the host.
    pub health_path: Option<String>,
    /// How long a connection may stay silent before its first bytes (the header timeout);
    /// applies while the host sniffs for health checks.
    pub first_bytes_timeout: Duration,
}

/// Runs one worker until the guest stops it (run mode) or forever (serve mode).
///
/// Returns the guest's exit code and the boundary crossings counted.
///
/// # Errors
/// The guest failed to start, trapped in run mode, or waits for nothing in run mode.
pub fn run_worker(mut config: WorkerConfig) -> anyhow::Result<(u8, Crossings)> {
    // Plugin calls this worker polls make tokio timers and tasks: they belong to the io runtime.
    let _io_runtime = runtime::enter_io_runtime();
    let loop_config = LoopConfig {
        listeners: std::mem::take(&mut config.listeners),
        tls_listeners: std::mem::take(&mut config.tls_listeners),
        tls: config.tls.clone(),
        policy: config.policy.clone(),
        mode: config.mode,
        index: config.index,
        admission: config.admission.clone(),
        shutdown: config.shutdown.clone(),
        health_path: config.health_path.clone(),
        first_bytes_timeout: config.first_bytes_timeout,
    };
    event_loop::run(loop_config, |net| start_guest(&config, net))
}

/// Starts the guest once on a throw-away event loop and instantiates every plugin once, so
/// that what can never work (a bad route, a limit too small for a component) is reported
/// before anything listens. Returns the exit code when the guest stopped itself while
/// starting (a program answering `-- --help`).
///
/// # Errors
/// The guest or a plugin cannot be instantiated, or the guest's `start` fails.
pub fn trial_start(config: &WorkerConfig) -> anyhow::Result<Option<u8>> {
    let _io_runtime = runtime::enter_io_runtime();
    for plugin in config.plugins.current().1.iter() {
        plugin.trial(&config.plugin_settings)?;
    }
    let guest = event_loop::trial(
        config.policy.clone(),
        config.admission.clone(),
        config.index,
        |net| start_guest(config, net),
    )?;
    Ok(guest.stopped())
}

/// Instantiates the guest with `net` lent to it and calls its `start`.
fn start_guest(config: &WorkerConfig, net: &mut Net) -> anyhow::Result<Guest> {
    let plugins = Plugins::new(&config.plugins, &config.plugin_settings, net.loop_waker());
    let mut guest = config.program.instantiate(
        net,
        plugins,
        &config.limits,
        config.guest_timeout,
        config.index,
    )?;
    guest.start(net, &config.args, &config.options)?;
    Ok(guest)
}
