//! `--max-connections`: one counter shared by every worker, so the limit is exact for the
//! whole process whichever worker the kernel hands a connection to.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Admits inbound connections up to a process-wide limit.
#[derive(Clone, Debug, Default)]
pub struct Admission {
    open: Arc<AtomicUsize>,
    max: Option<usize>,
}

impl Admission {
    /// Admits at most `max` connections at once (`None`: no limit).
    pub fn new(max: Option<usize>) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Takes a place for a new connection; false when the limit is reached.
    pub fn try_enter(&self) -> bool {
        let Some(max) = self.max else {
            self.open.fetch_add(1, Ordering::Relaxed);
            return true;
        };
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .is_ok()
    }

    /// Gives a place back when a connection closes.
    pub fn leave(&self) {
        let _ = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                open.checked_sub(1)
            });
    }

    /// Connections admitted and still open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_again_after_a_leave() {
        let admission = Admission::new(Some(2));
        assert!(admission.try_enter() && admission.try_enter());
        assert!(!admission.try_enter());
        admission.leave();
        assert!(admission.try_enter());
        assert_eq!(admission.open(), 2);
    }
}
