//! The guest's timers, kept in the guest: a heap of deadlines with lazy disarming, of which
//! the host holds only the earliest.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;

use crate::host::{Instant, TimerId};
use crate::id_map::IdMap;

/// A timer's state between arming and firing.
#[derive(Default)]
pub(crate) struct TimerSlot {
    pub(crate) fired: bool,
    pub(crate) waker: Option<Waker>,
}

/// The guest's timers, kept in the guest: the host holds at most one of them, the earliest.
///
/// Every request arms and disarms a few timers (the idle timeout, the write timeout); asking
/// the host for each would cost two boundary crossings per timer. Here arming a timer later
/// than the one the host holds, and disarming any, stay in the guest.
#[derive(Default)]
pub(crate) struct Timers {
    /// Live timers by guest id.
    pub(crate) slots: IdMap<TimerSlot>,
    /// Deadlines of live and disarmed timers; a disarmed one is dropped when it surfaces, or
    /// when disarmed entries outnumber live ones (see [`Timers::compact`]).
    pub(crate) deadlines: BinaryHeap<Reverse<(Instant, TimerId)>>,
    pub(crate) next_id: TimerId,
    /// The host timer armed for the earliest deadline: `(host id, deadline)`.
    pub(crate) host: Option<(TimerId, Instant)>,
}

impl Timers {
    /// Drops disarmed entries once they are most of the heap, so a server that arms and
    /// disarms a timer per request keeps a heap the size of its live timers.
    pub(crate) fn compact(&mut self) {
        if self.deadlines.len() > 64 && self.deadlines.len() > 2 * self.slots.len() {
            let slots = &self.slots;
            self.deadlines
                .retain(|Reverse((_, id))| slots.get(id).is_some_and(|slot| !slot.fired));
        }
    }

    /// The earliest deadline of a live timer not yet fired, dropping disarmed entries above it.
    pub(crate) fn earliest(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, id))) = self.deadlines.peek() {
            if self.slots.get(&id).is_some_and(|slot| !slot.fired) {
                return Some(deadline);
            }
            self.deadlines.pop();
        }
        None
    }
}
