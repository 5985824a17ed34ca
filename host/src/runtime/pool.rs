//! The instances of one plugin in one worker: an instance per call in flight, up to a cap;
//! the idle ones kept for the next calls (`--isolation worker`), most recently used first;
//! requests past the cap queued in order until an instance is free or their queue deadline
//! passes (then 503).
//!
//! Everything here runs on the worker's thread: the pool is shared by the calls in flight
//! through an `Rc`, and no borrow of its state is held across an `await`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::backoff::Health;
use super::plugin_program::{Isolation, Live, PluginProgram, PluginSettings};
use super::server_wit::eddy::http::plugins::PluginError;

/// An idle instance unused this long is dropped, the most recently used one excepted: linear
/// memory never shrinks, so a burst of concurrent calls must not keep its instances forever.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The instances of one plugin in one worker.
pub(super) struct Pool {
    program: PluginProgram,
    settings: Rc<PluginSettings>,
    state: RefCell<PoolState>,
    /// Instances made so far (for the failure log).
    instantiations: Cell<u64>,
}

/// What changes as calls come and go.
struct PoolState {
    /// Instances between calls, the most recently used last.
    idle: Vec<Idle>,
    /// Calls holding a turn (an instance, or the right to make one).
    busy: usize,
    /// Requests waiting for a turn, in arrival order: a ticket and the waker of its call.
    waiters: VecDeque<(u64, Waker)>,
    next_ticket: u64,
    /// A reload replaced this plugin: its instances are dropped as their calls end.
    retired: bool,
    /// Failures and the back-off they caused.
    health: Health,
}

struct Idle {
    live: Live,
    since: Instant,
}

impl Pool {
    /// An empty pool for `program`.
    pub(super) fn new(program: PluginProgram, settings: Rc<PluginSettings>) -> Self {
        Self {
            program,
            settings,
            state: RefCell::new(PoolState {
                idle: Vec::new(),
                busy: 0,
                waiters: VecDeque::new(),
                next_ticket: 0,
                retired: false,
                health: Health::default(),
            }),
            instantiations: Cell::new(0),
        }
    }

    /// Makes an instance for a call that must end by `deadline`.
    ///
    /// # Errors
    /// Instantiation fails; the message names a limit and its flag when one is the cause.
    pub(super) async fn instantiate(&self, deadline: Instant) -> anyhow::Result<Live> {
        self.instantiations.set(self.instantiations.get() + 1);
        self.program.instantiate(&self.settings, deadline).await
    }

    /// How many instances were made so far.
    pub(super) fn instantiations(&self) -> u64 {
        self.instantiations.get()
    }

    /// The plugin.
    pub(super) fn program(&self) -> &PluginProgram {
        &self.program
    }

    /// How every instance is run.
    pub(super) fn settings(&self) -> &PluginSettings {
        &self.settings
    }

    /// Waits for a turn: at once while fewer than the cap of calls are in flight and nobody
    /// is queued ahead, else in line until `until`. Unavailable while the plugin backs off,
    /// or when the queue deadline passes.
    pub(super) fn acquire(self: &Rc<Self>, until: Instant) -> Acquire {
        Acquire {
            pool: self.clone(),
            ticket: None,
            until,
            sleep: None,
        }
    }

    /// Marks the pool replaced by a reload: idle instances go now, busy ones when their
    /// calls end, and the calls still queued are served by it.
    pub(super) fn retire(&self) {
        let mut state = self.state.borrow_mut();
        state.retired = true;
        state.idle.clear();
    }

    /// Drops idle instances unused for [`POOL_IDLE_TIMEOUT`], keeping the most recent one.
    pub(super) fn shrink(&self, now: Instant) {
        let mut state = self.state.borrow_mut();
        let keep_last = state.idle.len().saturating_sub(1);
        let mut index = 0;
        state.idle.retain(|idle| {
            index += 1;
            index > keep_last || now.duration_since(idle.since) < POOL_IDLE_TIMEOUT
        });
    }

    /// How many instances are idle (for tests and logs).
    pub(super) fn idle_count(&self) -> usize {
        self.state.borrow().idle.len()
    }

    /// Runs `f` on the pool's failure record.
    pub(super) fn with_health<R>(&self, f: impl FnOnce(&mut Health, &str) -> R) -> R {
        let mut state = self.state.borrow_mut();
        f(&mut state.health, self.program.name())
    }

    /// Wakes the first request in line if a turn is free for it.
    fn wake_next(state: &PoolState, cap: usize) {
        if state.busy < cap
            && let Some((_, waker)) = state.waiters.front()
        {
            waker.wake_by_ref();
        }
    }
}

/// A turn in a pool: the instance to call, if an idle one was there. Dropping it ends the
/// turn: an instance put back with [`Lease::put_back`] joins the idle ones (`--isolation
/// worker`, pool not retired), and the next request in line is woken.
pub(super) struct Lease {
    pool: Rc<Pool>,
    live: Option<Live>,
}

impl Lease {
    /// The idle instance this turn came with, if any.
    pub(super) fn take(&mut self) -> Option<Live> {
        self.live.take()
    }

    /// Keeps `live` for the next call when the turn ends.
    pub(super) fn put_back(&mut self, live: Live) {
        self.live = Some(live);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let cap = self.pool.settings.max_calls;
        let reuse = self.pool.settings.isolation == Isolation::Worker;
        let mut state = self.pool.state.borrow_mut();
        state.busy -= 1;
        if let Some(live) = self.live.take()
            && reuse
            && !state.retired
        {
            state.idle.push(Idle {
                live,
                since: Instant::now(),
            });
        }
        Pool::wake_next(&state, cap);
    }
}

/// The future of [`Pool::acquire`].
pub(super) struct Acquire {
    pool: Rc<Pool>,
    /// The place in line, once queued.
    ticket: Option<u64>,
    until: Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Acquire {
    /// Takes a turn if one is free and this request is first in line.
    fn try_take(&mut self) -> Option<Lease> {
        let cap = self.pool.settings.max_calls;
        let mut state = self.pool.state.borrow_mut();
        let first = match self.ticket {
            None => state.waiters.is_empty(),
            Some(ticket) => state.waiters.front().is_some_and(|(t, _)| *t == ticket),
        };
        if state.busy >= cap || !first {
            return None;
        }
        if self.ticket.take().is_some() {
            state.waiters.pop_front();
        }
        state.busy += 1;
        let live = state.idle.pop().map(|idle| idle.live);
        Pool::wake_next(&state, cap);
        drop(state);
        Some(Lease {
            pool: self.pool.clone(),
            live,
        })
    }

    /// Leaves the line (a deadline passed, or the call was dropped).
    fn leave(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let cap = self.pool.settings.max_calls;
            let mut state = self.pool.state.borrow_mut();
            state.waiters.retain(|(t, _)| *t != ticket);
            Pool::wake_next(&state, cap);
        }
    }
}

impl Future for Acquire {
    type Output = Result<Lease, PluginError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(message) = self.pool.with_health(|health, name| health.refusal(name)) {
            self.leave();
            return Poll::Ready(Err(PluginError::Unavailable(message)));
        }
        if let Some(lease) = self.try_take() {
            return Poll::Ready(Ok(lease));
        }
        {
            let mut state = self.pool.state.borrow_mut();
            match self.ticket {
                Some(ticket) => {
                    if let Some(entry) = state.waiters.iter_mut().find(|(t, _)| *t == ticket) {
                        entry.1.clone_from(cx.waker());
                    }
                }
                None => {
                    state.next_ticket += 1;
                    let ticket = state.next_ticket;
                    state.waiters.push_back((ticket, cx.waker().clone()));
                    drop(state);
                    self.ticket = Some(ticket);
                }
            }
        }
        let until = self.until;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until.into())));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.leave();
        let settings = &self.pool.settings;
        Poll::Ready(Err(PluginError::Unavailable(format!(
            "all {} instances of {} were busy for {:?} (--max-plugin-calls, --plugin-queue-timeout)",
            settings.max_calls,
            self.pool.program.name(),
            settings.queue_timeout.min(settings.timeout),
        ))))
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        self.leave();
    }
}
