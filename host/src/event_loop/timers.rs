//! The timers guests arm: a min-heap of deadlines with lazy cancellation.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

/// Armed timers, in deadline order.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    armed: HashSet<u64>,
    next_id: u64,
}

impl Timers {
    /// Arms a timer for `deadline` and returns its id (never reused).
    pub fn arm(&mut self, deadline: u64) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.heap.push(Reverse((deadline, id)));
        self.armed.insert(id);
        id
    }

    /// Disarms a timer; unknown or fired ids are ignored.
    pub fn cancel(&mut self, id: u64) {
        self.armed.remove(&id);
    }

    /// The earliest deadline of an armed timer.
    pub fn next_deadline(&mut self) -> Option<u64> {
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            if self.armed.contains(&id) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns every armed timer due at `now`.
    pub fn expired(&mut self, now: u64) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if self.armed.remove(&id) {
                due.push(id);
            }
        }
        due
    }

    /// Whether any timer is armed.
    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }

    /// Disarms everything (the guest was replaced).
    pub fn clear(&mut self) {
        self.heap.clear();
        self.armed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_deadline_order_and_cancelled_ones_never() {
        let mut timers = Timers::default();
        let late = timers.arm(30);
        let early = timers.arm(10);
        let cancelled = timers.arm(20);
        timers.cancel(cancelled);
        assert_eq!(timers.next_deadline(), Some(10));
        assert_eq!(timers.expired(25), vec![early]);
        assert_eq!(timers.next_deadline(), Some(30));
        assert_eq!(timers.expired(30), vec![late]);
        assert!(timers.is_empty());
        assert_eq!(timers.next_deadline(), None);
    }
}
