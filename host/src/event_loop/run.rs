//! The loop of one worker: wait for readiness, read, accept, fire timers, and deliver
//! everything to the guest in one call per wakeup; replace a guest that traps.
//!
//! The guest is anything that implements [`Exports`]; the loop lends it the worker's
//! [`Net`] for each call and never sees how the guest runs.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use mio::{Events, Poll, Token, Waker};

use super::loop_waker::LoopWake;
use super::net::Net;
use super::readiness::Readiness;
use super::shutdown::Shutdown;
use super::tls_setup::TlsSetup;
use crate::admission::Admission;
use crate::boundary::{Crossings, Exports};
use crate::policy::ConnectPolicy;

/// Guest calls per wakeup at most, so a busy connection cannot starve timers and accepts.
pub const MAX_ROUNDS_PER_WAKEUP: usize = 64;

/// The longest pause between re-instantiations of a server guest that keeps trapping.
pub const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);

/// How often a worker logs its boundary crossings (at debug level, for the benchmarks).
pub const CROSSINGS_REPORT: Duration = Duration::from_millis(500);

/// The token of each worker's waker (listener tokens count down from below it).
const WAKER_TOKEN: Token = Token(usize::MAX);

/// How a worker ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `eddy serve`: runs until the process stops; a trapping guest is replaced.
    Serve,
    /// `eddy run`: ends when the guest calls `stop` (or can never be called again).
    Run,
}

/// The sockets and rules of one worker's loop.
pub struct LoopConfig {
    /// This worker's listening sockets, plain ones first.
    pub listeners: Vec<std::net::TcpListener>,
    /// This worker's TLS listening sockets (numbered after the plain ones).
    pub tls_listeners: Vec<std::net::TcpListener>,
    /// Certificates for the TLS listeners, trust for the guest's TLS connects.
    pub tls: TlsSetup,
    /// The outbound connection policy.
    pub policy: ConnectPolicy,
    /// Serve or run.
    pub mode: Mode,
    /// The worker's index, for log lines.
    pub index: usize,
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

/// Runs one worker until the guest stops it (run mode) or forever (serve mode); `start`
/// instantiates and starts a guest with the worker's `Net` lent to it.
///
/// Returns the guest's exit code and the boundary crossings counted.
///
/// # Errors
/// The guest failed to start, trapped in run mode, or waits for nothing in run mode.
pub fn run<G: Exports>(
    mut config: LoopConfig,
    mut start: impl FnMut(&mut Net) -> anyhow::Result<G>,
) -> anyhow::Result<(u8, Crossings)> {
    let mut poll = Poll::new()?;
    let mut net = Net::new(
        poll.registry().try_clone()?,
        config.policy.clone(),
        config.admission.clone(),
        config.index,
    );
    net.set_health_path(config.health_path.as_deref(), config.first_bytes_timeout);
    // The worker owns its listening sockets: closing them (on drain) must close the port.
    net.set_tls(config.tls.clone());
    for listener in std::mem::take(&mut config.listeners) {
        net.add_listener(listener, false)?;
    }
    for listener in std::mem::take(&mut config.tls_listeners) {
        net.add_listener(listener, true)?;
    }
    let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
    config.shutdown.register(waker.clone());
    net.loop_waker = std::task::Waker::from(Arc::new(LoopWake(waker)));
    let mut guest = launch(&mut net, &mut start)?;
    // Crossings of guests replaced after a trap.
    let mut earlier = Crossings::default();
    let mut draining = false;
    let mut events = Events::with_capacity(1024);
    let mut restarts = 0u32;
    let mut report = Instant::now();
    loop {
        if let Err(trap) = deliver(&mut guest, &mut net) {
            if config.mode == Mode::Run {
                return Err(trap);
            }
            restarts += 1;
            earlier += guest.crossings();
            drop(guest);
            guest = restart(&config, &mut net, &mut start, &trap, restarts)?;
            continue;
        }
        restarts = restarts.saturating_sub(1);
        let mut crossings = earlier;
        crossings += guest.crossings();
        if tracing::enabled!(tracing::Level::DEBUG) && report.elapsed() >= CROSSINGS_REPORT {
            report = Instant::now();
            tracing::debug!(
                worker = config.index,
                guest_calls = crossings.guest_calls,
                import_calls = crossings.import_calls,
                "crossings"
            );
        }
        if draining && net.connection_count() == 0 && !net.has_pending() {
            tracing::info!(worker = config.index, "drained");
            return Ok((0, crossings));
        }
        if let Some(code) = guest.stopped() {
            return Ok((code, crossings));
        }
        if config.mode == Mode::Run && !net.has_sources() && guest.waiting_calls() == 0 {
            bail!(
                "the guest is waiting for nothing (no connection, timer or listener) and never called stop"
            );
        }
        wait(&mut poll, &mut events, &mut net, guest.has_ready_calls())?;
        if !draining && config.shutdown.is_draining() {
            draining = true;
            net.start_draining();
        }
        for event in &events {
            if event.token() == WAKER_TOKEN {
                continue;
            }
            let ready = Readiness {
                readable: event.is_readable(),
                writable: event.is_writable(),
                error: event.is_error(),
                hang_up: event.is_read_closed() || event.is_write_closed(),
            };
            net.on_ready(event.token(), ready);
        }
        net.accept_ready(Instant::now());
        net.fire_timers();
        net.sweep_closing(Instant::now());
        net.sweep_sniffing(Instant::now());
        net.sweep_handshakes(Instant::now());
        net.read_ready();
    }
}

/// Starts a guest once on a throw-away `Net` with no listeners, so that what can never
/// work is reported before anything listens.
///
/// # Errors
/// The guest cannot be instantiated, or its `start` fails.
pub fn trial<G>(
    policy: ConnectPolicy,
    admission: Admission,
    index: usize,
    mut start: impl FnMut(&mut Net) -> anyhow::Result<G>,
) -> anyhow::Result<G> {
    let poll = Poll::new()?;
    let mut net = Net::new(poll.registry().try_clone()?, policy, admission, index);
    launch(&mut net, &mut start)
}

/// Starts a guest and writes what it sent while starting.
fn launch<G>(
    net: &mut Net,
    start: &mut impl FnMut(&mut Net) -> anyhow::Result<G>,
) -> anyhow::Result<G> {
    let guest = start(net)?;
    net.flush();
    Ok(guest)
}

/// Replaces a trapped guest: its connections are lost, the listeners and the worker stay.
fn restart<G>(
    config: &LoopConfig,
    net: &mut Net,
    start: &mut impl FnMut(&mut Net) -> anyhow::Result<G>,
    trap: &anyhow::Error,
    restarts: u32,
) -> anyhow::Result<G> {
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
    launch(net, start)
}

/// Hands the answers of plugin calls that finished to the guest (each woken call is polled
/// once per turn), then pending events, round after round, until nothing is pending.
fn deliver(guest: &mut impl Exports, net: &mut Net) -> anyhow::Result<()> {
    if guest.has_ready_calls() {
        let now = net.now();
        guest.poll_calls(net, now)?;
        net.flush();
        net.read_ready();
    }
    for _ in 0..MAX_ROUNDS_PER_WAKEUP {
        if !net.has_pending() {
            return Ok(());
        }
        let events = net.take_pending();
        let now = net.now();
        guest.handle_events(net, now, events)?;
        net.flush();
        // The guest may have turned reading on for sockets that already have bytes.
        net.read_ready();
    }
    Ok(())
}

/// Waits for readiness, a timer, or a wake; not at all when something is ready now
/// (`calls_ready`: a plugin call was woken).
fn wait(poll: &mut Poll, events: &mut Events, net: &mut Net, calls_ready: bool) -> io::Result<()> {
    let now = Instant::now();
    let timeout = if calls_ready || net.has_reads() || net.has_pending() || net.has_accepts(now) {
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
