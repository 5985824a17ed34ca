//! The guest runtime: routes host events to streams and timers, runs ready tasks and, at the
//! end of each round, services every stream that changed (flush writes, update read interest).
//!
//! One `handle-events` call runs rounds until nothing is ready, so writes made by tasks that
//! woke in this call leave in the same call, coalesced into one `send` per connection.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::rc::Rc;
use std::task::Waker;

use crate::executor;
use crate::host::{ConnId, Event, Host, Instant, Level, SocketError, TimerId};
use crate::id_map::IdMap;
use crate::timer_heap::{TimerSlot, Timers};
use eddy_options::{Options, StreamOptions};

/// What runs when a listener accepts a connection: `(connection, peer address)`.
type AcceptHandler = Rc<dyn Fn(ConnId, String)>;

/// A stream as the runtime sees it: where a connection's host events go, and what it does at
/// the end of a round. IOStream's shared state implements it; the runtime names no stream
/// type, so the stream module may use the runtime without a cycle.
pub(crate) trait StreamEvents {
    /// Bytes arrived from the host.
    fn on_received(&mut self, bytes: Vec<u8>);
    /// The peer closed its side.
    fn on_end_of_stream(&mut self);
    /// The connection failed; the host already forgot it.
    fn on_failed(&mut self, error: SocketError);
    /// The socket can take bytes again after a short send.
    fn on_writable(&mut self);
    /// An outbound connection completed (or a TLS upgrade).
    fn on_connected(&mut self);
    /// Hands queued writes to the host (end of a round).
    fn flush(&mut self);
    /// Tells the host whether the stream wants to read, if that changed (end of the rounds).
    fn sync_read_interest(&mut self);
}

/// A registered stream.
type StreamRef = Rc<RefCell<dyn StreamEvents>>;

#[derive(Default)]
struct State {
    host: Option<Rc<dyn Host>>,
    streams: IdMap<StreamRef>,
    to_service: Vec<ConnId>,
    timers: Timers,
    now: Instant,
    options: Rc<Options>,
    raw_options: Vec<(String, String)>,
    on_accept: Option<AcceptHandler>,
    /// The host asked to drain.
    draining: bool,
    /// Tasks waiting for the drain to start, by waiter id (removed when the waiter drops).
    drain_waiters: IdMap<Waker>,
    next_drain_waiter: u64,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// The host this guest runs under.
///
/// # Panics
/// If called before [`install`]: a guest bug (no host call can happen before `start`).
pub fn host() -> Rc<dyn Host> {
    STATE
        .with(|state| state.borrow().host.clone())
        .expect("invariant: the host is installed before any guest code runs")
}

/// Installs the host and the start-up options, parsed once for the runtime, the HTTP server
/// and the program.
///
/// # Errors
/// A known option whose value does not parse, named in the message.
pub fn install(host: Rc<dyn Host>, raw_options: Vec<(String, String)>) -> Result<(), String> {
    let options = Options::parse(&raw_options).map_err(|error| error.to_string())?;
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        state.now = host.now();
        state.host = Some(host);
        state.options = Rc::new(options);
        state.raw_options = raw_options;
    });
    Ok(())
}

/// The start-up options, typed (the defaults for keys the host did not pass).
pub fn options() -> Rc<Options> {
    STATE.with(|state| state.borrow().options.clone())
}

/// The options new streams start with.
pub(crate) fn stream_options() -> StreamOptions {
    STATE.with(|state| state.borrow().options.stream)
}

/// Every start-up option, as the host passed them.
pub fn raw_options() -> Vec<(String, String)> {
    STATE.with(|state| state.borrow().raw_options.clone())
}

/// The value of a start-up option by name, as the host passed it.
pub fn option(name: &str) -> Option<String> {
    STATE.with(|state| {
        state
            .borrow()
            .raw_options
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    })
}

/// The clock reading at the start of the current `handle-events` call.
pub fn now() -> Instant {
    STATE.with(|state| state.borrow().now)
}

/// Sets what runs for every accepted connection.
pub(crate) fn set_accept_handler(handler: impl Fn(ConnId, String) + 'static) {
    STATE.with(|state| state.borrow_mut().on_accept = Some(Rc::new(handler)));
}

pub(crate) fn register(conn: ConnId, stream: StreamRef) {
    STATE.with(|state| state.borrow_mut().streams.insert(conn, stream));
}

pub(crate) fn forget(conn: ConnId) {
    STATE.with(|state| state.borrow_mut().streams.remove(&conn));
}

pub(crate) fn queue_service(conn: ConnId) {
    STATE.with(|state| state.borrow_mut().to_service.push(conn));
}

pub(crate) fn log_warn(message: &str) {
    host().log(Level::Warn, message);
}

/// Arms a guest timer for `deadline`; the host hears of it only when it is the earliest.
pub(crate) fn arm_timer(deadline: Instant) -> TimerId {
    let (id, rearm) = STATE.with(|state| {
        let mut state = state.borrow_mut();
        let timers = &mut state.timers;
        timers.next_id += 1;
        let id = timers.next_id;
        timers.slots.insert(id, TimerSlot::default());
        timers.deadlines.push(Reverse((deadline, id)));
        timers.compact();
        let earlier = timers.host.is_none_or(|(_, armed)| deadline < armed);
        (id, earlier.then(|| timers.host.take()))
    });
    if let Some(previous) = rearm {
        arm_host_timer(previous, deadline);
    }
    id
}

/// Replaces the host timer `previous` (if any) with one for `deadline`.
fn arm_host_timer(previous: Option<(TimerId, Instant)>, deadline: Instant) {
    let host = host();
    if let Some((previous, _)) = previous {
        host.cancel_timer(previous);
    }
    let armed = host.set_timer(deadline);
    STATE.with(|state| state.borrow_mut().timers.host = Some((armed, deadline)));
}

/// Whether the timer fired; otherwise remembers `waker` for when it does.
pub(crate) fn poll_timer(id: TimerId, waker: &Waker) -> bool {
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        match state.timers.slots.get_mut(&id) {
            Some(slot) if slot.fired => {
                state.timers.slots.remove(&id);
                true
            }
            Some(slot) => {
                slot.waker = Some(waker.clone());
                false
            }
            None => true,
        }
    })
}

/// Forgets a guest timer. The host timer stays armed even when it was this one's: when it
/// fires, the guest re-arms it for the earliest timer still live (at most one wasted
/// wakeup). Once no timer is left at the end of a call, [`run_rounds`] cancels it.
pub(crate) fn disarm_timer(id: TimerId) {
    STATE.with(|state| state.borrow_mut().timers.slots.remove(&id));
}

/// Cancels the host timer when the guest has no timer left, so that the host knows the
/// guest waits for no timer (`eddy run` reports a guest waiting for nothing at once).
fn cancel_idle_host_timer() {
    let idle = STATE.with(|state| {
        let timers = &mut state.borrow_mut().timers;
        if timers.slots.is_empty() {
            timers.deadlines.clear();
            timers.host.take()
        } else {
            None
        }
    });
    if let Some((host_timer, _)) = idle {
        host().cancel_timer(host_timer);
    }
}

fn stream(conn: ConnId) -> Option<StreamRef> {
    STATE.with(|state| state.borrow().streams.get(&conn).cloned())
}

/// Runs `deliver` in a call from the host other than `handle-events` (another export of the
/// component, such as the HTTP server's plugin answers), then runs rounds until nothing is
/// ready, as `handle-events` does: what the woken tasks write leaves in this call.
pub fn resume(now: Instant, deliver: impl FnOnce()) {
    STATE.with(|state| state.borrow_mut().now = now);
    deliver();
    run_rounds();
}

/// Delivers a batch of host events, then runs rounds until nothing is ready.
pub fn handle_events(now: Instant, events: impl IntoIterator<Item = Event>) {
    STATE.with(|state| state.borrow_mut().now = now);
    for event in events {
        dispatch(event);
    }
    run_rounds();
}

fn dispatch(event: Event) {
    match event {
        Event::Accepted { conn, peer, .. } => accept(conn, peer),
        Event::Received { conn, bytes } => with_stream(conn, |inner| inner.on_received(bytes)),
        Event::EndOfStream(conn) => with_stream(conn, |inner| inner.on_end_of_stream()),
        Event::Writable(conn) => with_stream(conn, |inner| inner.on_writable()),
        Event::Connected(conn) => with_stream(conn, |inner| inner.on_connected()),
        Event::Failed { conn, error } => with_stream(conn, |inner| inner.on_failed(error)),
        Event::Timer(id) => fire_timer(id),
        Event::Draining => start_draining(),
    }
}

fn start_draining() {
    let waiters = STATE.with(|state| {
        let mut state = state.borrow_mut();
        state.draining = true;
        std::mem::take(&mut state.drain_waiters)
    });
    for waker in waiters.into_values() {
        waker.wake();
    }
}

/// Whether the host is draining (shutting down gracefully).
pub fn draining() -> bool {
    STATE.with(|state| state.borrow().draining)
}

/// Resolves when the host starts draining (at once if it already has).
pub fn drain_started() -> DrainStarted {
    DrainStarted { id: None }
}

/// The future of [`drain_started`]; dropping it forgets its waker.
pub struct DrainStarted {
    id: Option<u64>,
}

impl std::future::Future for DrainStarted {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let id = self.id;
        let (ready, id) = STATE.with(|state| {
            let mut state = state.borrow_mut();
            if state.draining {
                return (true, id);
            }
            let id = id.unwrap_or_else(|| {
                state.next_drain_waiter += 1;
                state.next_drain_waiter
            });
            state.drain_waiters.insert(id, cx.waker().clone());
            (false, Some(id))
        });
        self.id = id;
        if ready {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

impl Drop for DrainStarted {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            // The state may already be gone when the guest itself is being torn down.
            let _ = STATE.try_with(|state| {
                if let Ok(mut state) = state.try_borrow_mut() {
                    state.drain_waiters.remove(&id);
                }
            });
        }
    }
}

fn with_stream(conn: ConnId, f: impl FnOnce(&mut dyn StreamEvents)) {
    if let Some(stream) = stream(conn) {
        f(&mut *stream.borrow_mut());
    }
}

fn accept(conn: ConnId, peer: String) {
    let handler = STATE.with(|state| state.borrow().on_accept.clone());
    match handler {
        Some(handler) => handler(conn, peer),
        None => {
            host().log(
                Level::Warn,
                "accepted a connection but the guest serves nothing; closing it",
            );
            host().close(conn);
        }
    }
}

/// The host timer `host_id` is due: fires every guest timer due by now (or by the deadline
/// the host timer was armed for), then arms the host for the earliest one left.
fn fire_timer(host_id: TimerId) {
    let (wakers, next) = STATE.with(|state| {
        let mut state = state.borrow_mut();
        let now = state.now;
        let timers = &mut state.timers;
        let mut due = now;
        if let Some((armed, deadline)) = timers.host
            && armed == host_id
        {
            timers.host = None;
            due = due.max(deadline);
        }
        let mut wakers = Vec::new();
        while let Some(&Reverse((deadline, id))) = timers.deadlines.peek() {
            if deadline > due {
                break;
            }
            timers.deadlines.pop();
            if let Some(slot) = timers.slots.get_mut(&id) {
                slot.fired = true;
                wakers.extend(slot.waker.take());
            }
        }
        let next = match (timers.earliest(), timers.host) {
            (Some(next), None) => Some(next),
            _ => None,
        };
        (wakers, next)
    });
    if let Some(next) = next {
        arm_host_timer(None, next);
    }
    for waker in wakers {
        waker.wake();
    }
}

/// Polls ready tasks and flushes changed streams until both are quiet, then brings the host's
/// read interest up to date for every stream touched.
///
/// Interest is synced only once everything is quiet: a task that finished one read and is
/// about to start the next must not turn reading off and on again (two wasted crossings).
pub fn run_rounds() {
    let mut touched = Vec::new();
    loop {
        executor::run_ready();
        let queued = STATE.with(|state| std::mem::take(&mut state.borrow_mut().to_service));
        if queued.is_empty() {
            if executor::has_ready() {
                continue;
            }
            break;
        }
        for conn in queued {
            if let Some(stream) = stream(conn) {
                stream.borrow_mut().flush();
            }
            touched.push(conn);
        }
    }
    touched.sort_unstable();
    touched.dedup();
    for conn in touched {
        if let Some(stream) = stream(conn) {
            stream.borrow_mut().sync_read_interest();
        }
    }
    cancel_idle_host_timer();
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;
    use crate::testing::FakeHost;
    use crate::timer::sleep;

    const MS: u64 = 1_000_000;

    fn host_timers(host: &FakeHost) -> Vec<(TimerId, Instant)> {
        host.0.borrow().timers.clone()
    }

    fn heap_len() -> usize {
        STATE.with(|state| state.borrow().timers.deadlines.len())
    }

    #[test]
    fn only_an_earlier_timer_reaches_the_host() {
        let host = FakeHost::install();
        let ten = sleep(Duration::from_millis(10));
        let later: Vec<_> = (2..6)
            .map(|n| sleep(Duration::from_millis(n * 10)))
            .collect();
        assert_eq!(
            host_timers(&host),
            [(1, 10 * MS)],
            "later timers stay in the guest"
        );
        let five = sleep(Duration::from_millis(5));
        assert_eq!(host_timers(&host), [(1, 10 * MS), (2, 5 * MS)]);
        drop((ten, later));
        assert_eq!(
            host_timers(&host).len(),
            2,
            "disarming a timer among others never crosses"
        );
        assert_eq!(host.0.borrow().cancelled, [1]);
        drop(five);
        assert_eq!(host.0.borrow().cancelled, [1], "not before the call ends");
        handle_events(0, []);
        assert_eq!(
            host.0.borrow().cancelled,
            [1, 2],
            "no timer left: the host's is cancelled"
        );
    }

    #[test]
    fn a_due_host_timer_fires_every_due_guest_timer_and_arms_the_next() {
        let host = FakeHost::install();
        let fired = Rc::new(Cell::new(0));
        for n in [10, 10, 30] {
            let fired = fired.clone();
            executor::spawn(async move {
                sleep(Duration::from_millis(n)).await;
                fired.set(fired.get() + 1);
            });
        }
        handle_events(0, []);
        assert_eq!(host_timers(&host), [(1, 10 * MS)]);
        handle_events(10 * MS, [Event::Timer(1)]);
        assert_eq!(fired.get(), 2, "both timers due at 10 ms");
        assert_eq!(host_timers(&host).last(), Some(&(2, 30 * MS)));
        // A host timer that fires a little early still fires what it was armed for.
        handle_events(29 * MS, [Event::Timer(2)]);
        assert_eq!(fired.get(), 3);
        assert_eq!(heap_len(), 0);
    }

    #[test]
    fn a_timer_armed_and_disarmed_per_request_does_not_pile_up() {
        let _host = FakeHost::install();
        let idle = sleep(Duration::from_secs(60));
        for _ in 0..10_000 {
            drop(sleep(Duration::from_secs(30)));
        }
        assert!(heap_len() <= 130, "{} entries kept", heap_len());
        drop(idle);
    }
}
