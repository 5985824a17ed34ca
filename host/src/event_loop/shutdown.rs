//! Graceful shutdown: one flag shared by the signal handler and every worker, and the
//! workers' wakers, so a drain starts at once in every event loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mio::Waker;

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

    /// Wakes this worker's loop when draining starts.
    pub(super) fn register(&self, waker: Arc<Waker>) {
        if let Ok(mut wakers) = self.wakers.lock() {
            wakers.push(waker);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mio::{Events, Poll, Token};

    use super::*;

    #[test]
    fn draining_wakes_every_registered_loop() {
        let shutdown = Shutdown::default();
        let mut poll = Poll::new().expect("poll");
        let waker = Waker::new(poll.registry(), Token(7)).expect("waker");
        shutdown.register(Arc::new(waker));
        assert!(!shutdown.is_draining());
        shutdown.drain();
        assert!(shutdown.is_draining());
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .expect("poll");
        assert!(events.iter().any(|event| event.token() == Token(7)));
    }
}
