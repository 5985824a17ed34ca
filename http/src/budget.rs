//! The body budget: how many bytes of request bodies one worker may hold at once, shared by
//! all of its connections.
//!
//! A guest's linear memory never shrinks and a trap loses every connection of the worker, so
//! bodies are admitted against a fixed budget instead of until memory runs out. A
//! `Content-Length` body reserves its whole length before a byte of it is read; a chunked body
//! reserves as it grows. A request whose body does not fit is refused with 503 (see
//! [`crate::ServerConn`]); the reservation is given back once the request was answered.

use std::cell::Cell;
use std::rc::Rc;

/// Bytes of request bodies one worker may buffer at once, shared by its connections.
#[derive(Debug)]
pub struct BodyBudget {
    limit: usize,
    used: Cell<usize>,
}

impl BodyBudget {
    /// A budget of `limit` bytes, to share between connections.
    pub fn new(limit: usize) -> Rc<Self> {
        Rc::new(Self {
            limit,
            used: Cell::new(0),
        })
    }

    /// A budget that never refuses (for tests and tools that parse one connection).
    pub fn unlimited() -> Rc<Self> {
        Self::new(usize::MAX)
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// Reserves `bytes` if they fit; false (and nothing reserved) when they do not.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        match self.used.get().checked_add(bytes) {
            Some(total) if total <= self.limit => {
                self.used.set(total);
                true
            }
            _ => false,
        }
    }

    /// Gives back `bytes` reserved earlier.
    pub fn release(&self, bytes: usize) {
        self.used.set(self.used.get().saturating_sub(bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_limit_and_come_back() {
        let budget = BodyBudget::new(100);
        assert!(budget.try_reserve(60));
        assert!(!budget.try_reserve(41), "over the limit");
        assert_eq!(budget.used(), 60, "a refused reservation takes nothing");
        assert!(budget.try_reserve(40));
        budget.release(60);
        assert_eq!(budget.used(), 40);
        assert!(!BodyBudget::new(10).try_reserve(usize::MAX));
        assert!(BodyBudget::unlimited().try_reserve(usize::MAX / 2));
    }
}
