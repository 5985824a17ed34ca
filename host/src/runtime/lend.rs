//! The event loop's [`Imports`], lent to a guest's `Store` for the length of one call.
//!
//! A `Store`'s data must be `'static`, so it cannot hold the loop's `&mut` borrow; it holds a
//! pointer instead, set by [`Lent::scope`] before the call and cleared after it. The
//! pointer is only followed from inside that scope, where the borrow it came from is live.

use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::boundary::Imports;

/// A slot for the imports of the call in progress; empty between calls.
#[derive(Default)]
pub(super) struct Lent {
    imports: Option<NonNull<dyn Imports>>,
}

impl Lent {
    /// Runs `call` with `imports` lent to this slot; the slot is empty again afterwards.
    ///
    /// `owner` gives `call` the value holding this slot (the `Store`), and `slot` finds the
    /// slot in it again.
    pub(super) fn scope<S, R>(
        owner: &mut S,
        slot: fn(&mut S) -> &mut Self,
        imports: &mut (dyn Imports + 'static),
        call: impl FnOnce(&mut S) -> R,
    ) -> R {
        slot(owner).imports = Some(NonNull::from(imports));
        // The slot is cleared even when `call` panics, so no pointer outlives its borrow.
        let result = panic::catch_unwind(AssertUnwindSafe(|| call(&mut *owner)));
        slot(owner).imports = None;
        result.unwrap_or_else(|payload| panic::resume_unwind(payload))
    }

    /// The imports of the call in progress.
    ///
    /// # Panics
    /// Outside a call (a host bug: guests only run inside [`Lent::scope`]).
    pub(super) fn get(&mut self) -> &mut dyn Imports {
        let mut imports = self
            .imports
            .expect("the event loop lends its imports for every call into a guest");
        // SAFETY: the pointer was made in `scope` from a `&mut` borrow that outlives the
        // call, and is cleared before `scope` returns; `&mut self` keeps this the only
        // reference made from it at a time.
        unsafe { imports.as_mut() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::{ConnId, SocketError, TimerId};

    /// Imports that only count the timers armed.
    #[derive(Default)]
    struct Counting {
        timers: u64,
    }

    impl Imports for Counting {
        fn send(&mut self, conn: ConnId, _: &[u8]) -> Result<u32, SocketError> {
            Err(SocketError::unknown(conn))
        }
        fn set_read_interest(&mut self, _: ConnId, _: bool) {}
        fn set_nodelay(&mut self, conn: ConnId, _: bool) -> Result<(), SocketError> {
            Err(SocketError::unknown(conn))
        }
        fn close(&mut self, _: ConnId) {}
        fn connect(&mut self, _: &str) -> Result<ConnId, SocketError> {
            Err(SocketError::unknown(0))
        }
        fn connect_tls(&mut self, _: &str, _: &str) -> Result<ConnId, SocketError> {
            Err(SocketError::unknown(0))
        }
        fn start_tls(&mut self, conn: ConnId, _: Option<&str>) -> Result<(), SocketError> {
            Err(SocketError::unknown(conn))
        }
        fn set_timer(&mut self, _: u64) -> TimerId {
            self.timers += 1;
            self.timers
        }
        fn cancel_timer(&mut self, _: TimerId) {}
        fn now(&self) -> u64 {
            42
        }
    }

    #[test]
    fn imports_are_reachable_inside_the_scope_only() {
        let mut slot = Lent::default();
        let mut imports = Counting::default();
        let armed = Lent::scope(
            &mut slot,
            |s| s,
            &mut imports,
            |slot| {
                slot.get().set_timer(1);
                (slot.get().set_timer(2), slot.get().now())
            },
        );
        assert_eq!(armed, (2, 42));
        assert_eq!(imports.timers, 2);
        assert!(slot.imports.is_none());
    }

    #[test]
    fn a_panic_inside_the_scope_still_empties_the_slot() {
        let mut slot = Lent::default();
        let mut imports = Counting::default();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            Lent::scope(&mut slot, |s| s, &mut imports, |_| panic!("trap"));
        }));
        assert!(outcome.is_err());
        assert!(slot.imports.is_none());
    }
}
