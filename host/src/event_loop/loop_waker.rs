//! The worker's one `mio::Waker` (mio allows one per `Poll`) as a `std::task::Waker`: what
//! wakes the loop when a plugin call that waited can go on, from whichever thread its waker
//! is called (tokio's timers and sockets live on the io runtime's thread). The shutdown
//! signal wakes the loop through the same `mio::Waker`.

use std::sync::Arc;
use std::task::Wake;

/// Wakes a worker's loop.
pub struct LoopWake(pub Arc<mio::Waker>);

impl Wake for LoopWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Fails only when the loop's poller is gone: then nobody is left to wake.
        let _ = self.0.wake();
    }
}
