//! The response budget: bytes of responses one worker holds for clients that have not taken
//! them yet, shared by all of its connections (`--response-budget`).
//!
//! A response lives in the guest's memory from the moment a handler (or a plugin, whose answer
//! is copied in) produced it until the host took its last byte, and a client that reads
//! nothing keeps it there. A guest's memory never shrinks and running out of it traps the
//! worker, so responses are charged against one budget: a response is charged when it is
//! produced and released piece by piece as the host takes it. While the budget is spent, no
//! new response is produced: handlers wait for room ([`ResponseBudget::wait_for_room`]), and
//! the wait cuts the connections whose clients stopped reading, the one holding most first.
//! This module performs no I/O; it closes streams through [`StreamWatch`].

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::host::Instant;
use crate::iostream::{IOStream, StreamWatch};
use crate::timer::timeout;
use crate::{Level, log};

/// While responses wait for room, a connection whose client took no bytes for this long is
/// cut, the one holding most first. A reading client always makes progress within it.
pub const STALL_GRACE: Duration = Duration::from_millis(500);

/// Once responses have waited this long for room, the connection holding most is cut even
/// if its client still takes bytes: a client trickling a byte a second must not hold the
/// budget for good.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// How often waiting responses look for connections to cut.
const PRESSURE_CHECK: Duration = Duration::from_millis(100);

/// Response bytes one worker may hold at once, shared by its connections.
pub struct ResponseBudget {
    limit: usize,
    used: Cell<usize>,
    /// One slot per open connection ([`Holder::slot`]); `free` lists the empty ones.
    holders: RefCell<Vec<Weak<Holder>>>,
    free: RefCell<Vec<usize>>,
    /// Tasks waiting for room, woken when the budget has some again.
    waiters: RefCell<Vec<Waker>>,
    /// Counts the times room came back, so a waiter knows it was woken for it.
    rooms: Cell<u64>,
    /// When responses started waiting (the budget was found spent), until room came back.
    pressure_since: Cell<Option<Instant>>,
    /// When waiting responses last looked for connections to cut.
    checked_at: Cell<Option<Instant>>,
    /// When a cut was last logged (one line a second at most) and how many since.
    logged_at: Cell<Option<Instant>>,
    unlogged: Cell<u64>,
}

/// One connection's share of the budget: what it holds and when its client last took bytes.
pub struct Holder {
    budget: Rc<ResponseBudget>,
    slot: usize,
    stream: StreamWatch,
    held: Cell<usize>,
    /// The stream's total of bytes handed to the host when last looked at.
    seen: Cell<u64>,
    /// When that total last grew (or the connection started holding bytes).
    progressed_at: Cell<Instant>,
}

/// Bytes charged to a holder by one write, released as the host takes them; what is left
/// is released when it is dropped (the write failed or was cancelled).
pub struct Charge<'a> {
    holder: &'a Holder,
    left: usize,
}

impl ResponseBudget {
    /// A budget of `limit` bytes, to share between connections.
    pub fn new(limit: usize) -> Rc<Self> {
        Rc::new(Self {
            limit,
            used: Cell::new(0),
            holders: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            waiters: RefCell::new(Vec::new()),
            rooms: Cell::new(0),
            pressure_since: Cell::new(None),
            checked_at: Cell::new(None),
            logged_at: Cell::new(None),
            unlogged: Cell::new(0),
        })
    }

    /// Whether new responses must wait.
    pub fn is_spent(&self) -> bool {
        self.used.get() >= self.limit
    }

    /// Registers the connection on `stream`; its responses are charged to the holder.
    pub fn join(self: &Rc<Self>, stream: &IOStream) -> Rc<Holder> {
        let mut holders = self.holders.borrow_mut();
        let slot = self.free.borrow_mut().pop().unwrap_or(holders.len());
        let holder = Rc::new(Holder {
            budget: self.clone(),
            slot,
            stream: stream.watch(),
            held: Cell::new(0),
            seen: Cell::new(0),
            progressed_at: Cell::new(crate::now()),
        });
        if slot == holders.len() {
            holders.push(Rc::downgrade(&holder));
        } else {
            holders[slot] = Rc::downgrade(&holder);
        }
        holder
    }

    /// Resolves once the budget has room for a new response. Meanwhile, every
    /// [`PRESSURE_CHECK`], connections are cut until there is room: those whose clients took
    /// nothing for [`STALL_GRACE`], largest first, and after [`PATIENCE`] the largest at all.
    pub async fn wait_for_room(&self) {
        if !self.is_spent() {
            return;
        }
        if self.pressure_since.get().is_none() {
            self.pressure_since.set(Some(crate::now()));
        }
        while self.is_spent() {
            self.relieve();
            if !self.is_spent() {
                break;
            }
            let room = RoomCameBack {
                budget: self,
                rooms: self.rooms.get(),
            };
            let _ = timeout(PRESSURE_CHECK, room).await;
        }
    }

    /// Cuts connections until there is room, if a check is due.
    fn relieve(&self) {
        let now = crate::now();
        let due = self
            .checked_at
            .get()
            .is_none_or(|at| now.saturating_sub(at) >= nanos(PRESSURE_CHECK) / 2);
        if !due {
            return;
        }
        self.checked_at.set(Some(now));
        let live: Vec<Rc<Holder>> = self
            .holders
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|holder| holder.held.get() > 0)
            .collect();
        for holder in &live {
            holder.look(now);
        }
        let impatient = self
            .pressure_since
            .get()
            .is_some_and(|since| now.saturating_sub(since) >= nanos(PATIENCE));
        while self.is_spent() {
            let victim = live
                .iter()
                .filter(|holder| holder.held.get() > 0)
                .filter(|holder| impatient || holder.is_stalled(now))
                .max_by_key(|holder| holder.held.get());
            let Some(victim) = victim else { break };
            self.log_cut(victim.held.get(), victim.is_stalled(now), now);
            victim.cut();
        }
    }

    /// Gives back `bytes`; wakes the waiting responses when that makes room.
    fn release(&self, bytes: usize) {
        self.used.set(self.used.get().saturating_sub(bytes));
        if !self.is_spent() {
            self.pressure_since.set(None);
            let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
            if !waiters.is_empty() {
                self.rooms.set(self.rooms.get().wrapping_add(1));
                waiters.into_iter().for_each(Waker::wake);
            }
        }
    }

    /// One warning a second at most, counting the cuts it stands for.
    fn log_cut(&self, held: usize, stalled: bool, now: Instant) {
        let due = self
            .logged_at
            .get()
            .is_none_or(|at| now.saturating_sub(at) >= 1_000_000_000);
        if !due {
            self.unlogged.set(self.unlogged.get() + 1);
            return;
        }
        self.logged_at.set(Some(now));
        let others = self.unlogged.replace(0);
        let why = if stalled {
            format!("its client took no bytes for {STALL_GRACE:?}")
        } else {
            format!("responses waited {PATIENCE:?} for room")
        };
        log(
            Level::Warn,
            &format!(
                "--response-budget of {} bytes is spent: cutting a connection holding {held} response bytes ({why}); {others} more cut since the last warning",
                self.limit
            ),
        );
    }
}

impl Holder {
    /// Charges `bytes` about to be written; the [`Charge`] gives them back.
    pub fn charge(&self, bytes: usize) -> Charge<'_> {
        if self.held.get() == 0 {
            // A new response: its client's time to take bytes starts now.
            self.seen.set(self.stream.bytes_written().unwrap_or(0));
            self.progressed_at.set(crate::now());
        }
        self.held.set(self.held.get() + bytes);
        let budget = &self.budget;
        budget.used.set(budget.used.get().saturating_add(bytes));
        Charge {
            holder: self,
            left: bytes,
        }
    }

    /// Waits until the worker's budget has room (see [`ResponseBudget::wait_for_room`]).
    pub async fn wait_for_room(&self) {
        self.budget.wait_for_room().await;
    }

    /// Notes whether the client took bytes since the last look.
    fn look(&self, now: Instant) {
        if let Some(written) = self.stream.bytes_written()
            && written != self.seen.get()
        {
            self.seen.set(written);
            self.progressed_at.set(now);
        }
    }

    fn is_stalled(&self, now: Instant) -> bool {
        now.saturating_sub(self.progressed_at.get()) >= nanos(STALL_GRACE)
    }

    /// Closes the connection and gives back what it holds at once: its queued bytes are
    /// dropped with the stream, its writer's when it sees the close.
    fn cut(&self) {
        self.give_back(self.held.get());
        self.stream.close();
    }

    fn give_back(&self, bytes: usize) {
        let bytes = bytes.min(self.held.get());
        self.held.set(self.held.get() - bytes);
        self.budget.release(bytes);
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.give_back(self.held.get());
        self.budget.holders.borrow_mut()[self.slot] = Weak::new();
        self.budget.free.borrow_mut().push(self.slot);
    }
}

impl Charge<'_> {
    /// Gives back `bytes` the host has taken.
    pub fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.left);
        self.left -= bytes;
        self.holder.give_back(bytes);
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        self.holder.give_back(self.left);
    }
}

/// Resolves once room came back after it was made (or at once if it already did).
struct RoomCameBack<'a> {
    budget: &'a ResponseBudget,
    rooms: u64,
}

impl Future for RoomCameBack<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.budget.rooms.get() != self.rooms || !self.budget.is_spent() {
            return Poll::Ready(());
        }
        let mut waiters = self.budget.waiters.borrow_mut();
        if !waiters.iter().any(|waker| waker.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
