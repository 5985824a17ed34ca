//! The mio event loop of one worker: wait for readiness, read, accept, fire timers, and deliver
//! everything to the guest in one call per wakeup.
//!
//! This is the only module that touches mio.

mod listen;
mod net;
mod timers;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use mio::{Events, Poll, Token, Waker};

pub use listen::{bind, resolve};
pub use net::{ACCEPT_BACKOFF, ACCEPT_BATCH, Crossings, Net, READ_CHUNK};

use crate::admission::Admission;
use crate::policy::ConnectPolicy;
use crate::runtime::{Guest, Limits, PluginProgram, PluginSettings, Plugins, Program};

/// Guest calls per wakeup at most, so a busy connection cannot starve timers and accepts.
pub const MAX_ROUNDS_PER_WAKEUP: usize = 64;

/// The longest pause between re-instantiations of a server guest that keeps trapping.
pub const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);

/// How often a worker logs its boundary crossings (at debug level, for the benchmarks).
pub const CROSSINGS_REPORT: Duration = Duration::from_millis(500);

/// The token of each worker's waker (listener tokens count down from below it).
const WAKER_TOKEN: Token = Token(usize::MAX);

/// Graceful shutdown, shared by the signal handler and every worker.
#[derive(Default)]
pub struct Shutdown {
    draining: AtomicBool,
    wakers: Mutex<Vec<Arc<Waker>>>,
}

impl Shutdown {
    /// Starts draining: every worker stops accepting, tells its guest and ends once its
    /// connections are closed.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        let wakers = self.wakers.lock().map(|w| w.clone()).unwrap_or_default();
        for waker in wakers {
            // A worker that already ended cannot be woken; nothing to do for it.
            let _ = waker.wake();
        }
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    fn register(&self, waker: Arc<Waker>) {
        if let Ok(mut wakers) = self.wakers.lock() {
            wakers.push(waker);
        }
    }
}

/// How a worker ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `eddy serve`: runs until the process stops; a trapping guest is replaced.
    Serve,
    /// `eddy run`: ends when the guest calls `stop` (or can never be called again).
    Run,
}

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
    /// The outbound connection policy.
    pub policy: ConnectPolicy,
    /// Serve or run.
    pub mode: Mode,
    /// The worker's index, for log lines.
    pub index: usize,
    /// Plugin handlers the guest may call, in `--handler` order.
    pub plugins: Vec<PluginProgram>,
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
}

/// Runs one worker until the guest stops it (run mode) or forever (serve mode).
///
/// Returns the guest's exit code and the boundary crossings counted.
///
/// # Errors
/// The guest failed to start, trapped in run mode, or waits for nothing in run mode.
pub fn run_worker(mut config: WorkerConfig) -> anyhow::Result<(u8, Crossings)> {
    let mut poll = Poll::new()?;
    let mut net = Net::new(
        poll.registry().try_clone()?,
        config.policy.clone(),
        config.admission.clone(),
        config.index,
    );
    net.set_health_path(config.health_path.as_deref());
    // The worker owns its listening sockets: closing them (on drain) must close the port.
    for listener in std::mem::take(&mut config.listeners) {
        net.add_listener(listener)?;
    }
    config
        .shutdown
        .register(Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?));
    let mut guest = start_guest(&config, net)?;
    let mut draining = false;
    let mut events = Events::with_capacity(1024);
    let mut restarts = 0u32;
    let mut report = Instant::now();
    loop {
        if let Err(trap) = deliver(&mut guest) {
            if config.mode == Mode::Run {
                return Err(trap);
            }
            restarts += 1;
            guest = restart(&config, guest, &trap, restarts)?;
            continue;
        }
        restarts = restarts.saturating_sub(1);
        if tracing::enabled!(tracing::Level::DEBUG) && report.elapsed() >= CROSSINGS_REPORT {
            report = Instant::now();
            let crossings = guest.net().crossings();
            tracing::debug!(
                worker = config.index,
                guest_calls = crossings.guest_calls,
                import_calls = crossings.import_calls,
                "crossings"
            );
        }
        if draining && guest.net().connection_count() == 0 && !guest.net().has_pending() {
            tracing::info!(worker = config.index, "drained");
            return Ok((0, guest.net().crossings()));
        }
        if let Some(code) = guest.net().stopped() {
            return Ok((code, guest.net().crossings()));
        }
        if config.mode == Mode::Run && !guest.net().has_sources() {
            bail!(
                "the guest is waiting for nothing (no connection, timer or listener) and never called stop"
            );
        }
        wait(&mut poll, &mut events, guest.net())?;
        let net = guest.net();
        if !draining && config.shutdown.is_draining() {
            draining = true;
            net.start_draining();
        }
        for event in &events {
            if event.token() == WAKER_TOKEN {
                continue;
            }
            let hang_up = event.is_read_closed() || event.is_write_closed();
            net.on_ready(
                event.token(),
                event.is_readable(),
                event.is_writable(),
                event.is_error(),
                hang_up,
            );
        }
        net.accept_ready(Instant::now());
        net.fire_timers();
        net.sweep_closing(Instant::now());
        net.read_ready();
    }
}

/// Starts the guest once on a throw-away event loop and instantiates every plugin once, so
/// that what can never work (a bad route, a limit too small for a component) is reported
/// before anything listens.
///
/// # Errors
/// The guest or a plugin cannot be instantiated, or the guest's `start` fails.
pub fn trial_start(config: &WorkerConfig) -> anyhow::Result<()> {
    for plugin in &config.plugins {
        plugin.trial(&config.plugin_settings)?;
    }
    let poll = Poll::new()?;
    let net = Net::new(
        poll.registry().try_clone()?,
        config.policy.clone(),
        config.admission.clone(),
        config.index,
    );
    start_guest(config, net).map(drop)
}

fn start_guest(config: &WorkerConfig, net: Net) -> anyhow::Result<Guest> {
    let plugins = Plugins::new(&config.plugins, &config.plugin_settings);
    let mut guest =
        config
            .program
            .instantiate(net, plugins, &config.limits, config.guest_timeout)?;
    guest.start(&config.args, &config.options)?;
    guest.net().flush();
    Ok(guest)
}

/// Replaces a trapped guest: its connections are lost, the listeners and the worker stay.
fn restart(
    config: &WorkerConfig,
    guest: Guest,
    trap: &anyhow::Error,
    restarts: u32,
) -> anyhow::Result<Guest> {
    let mut net = guest.into_net();
    let lost = net.connection_count();
    net.reset_guest_state();
    let backoff = Duration::from_millis(50u64 << restarts.min(8)).min(MAX_RESTART_BACKOFF);
    let backoff = if restarts <= 1 {
        Duration::ZERO
    } else {
        backoff
    };
    tracing::error!(
        worker = config.index,
        "{trap}; closed {lost} connections, restarting the guest in {backoff:?}"
    );
    std::thread::sleep(backoff);
    start_guest(config, net)
}

/// Hands pending events to the guest, round after round, until nothing is pending.
fn deliver(guest: &mut Guest) -> anyhow::Result<()> {
    for _ in 0..MAX_ROUNDS_PER_WAKEUP {
        if !guest.net().has_pending() {
            return Ok(());
        }
        let events = guest.net().take_pending();
        let now = guest.net().now();
        guest.handle_events(now, &events)?;
        guest.net().flush();
        // The guest may have turned reading on for sockets that already have bytes.
        guest.net().read_ready();
    }
    Ok(())
}

fn wait(poll: &mut Poll, events: &mut Events, net: &mut Net) -> io::Result<()> {
    let now = Instant::now();
    let timeout = if net.has_reads() || net.has_pending() || net.has_accepts(now) {
        Some(Duration::ZERO)
    } else {
        net.next_wakeup()
            .map(|at| at.saturating_duration_since(now))
    };
    // With debug logging on, wake up now and then to report the crossings.
    let timeout = if tracing::enabled!(tracing::Level::DEBUG) {
        Some(timeout.map_or(CROSSINGS_REPORT, |t| t.min(CROSSINGS_REPORT)))
    } else {
        timeout
    };
    match poll.poll(events, timeout) {
        Err(error) if error.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        other => other,
    }
}
