//! The process's tokio runtime: where WASI's timers fire, plugins' outbound HTTP requests run
//! and their upstream connections are kept.
//!
//! Plugin calls never run on it. Each worker polls its own calls on its own thread, inside
//! this runtime's context ([`enter`]), so that the timers and tasks WASI's host code makes
//! belong to it; the runtime's thread only fires them and wakes the worker's loop. A
//! current-thread runtime would not do: nothing would drive its timers while a worker sleeps
//! in `epoll_wait`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, EnterGuard, Runtime};

/// Threads of the runtime unless `--io-threads` says otherwise: timers and upstream sockets
/// need little CPU.
pub const DEFAULT_IO_THREADS: usize = 1;

static THREADS: AtomicUsize = AtomicUsize::new(DEFAULT_IO_THREADS);
static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Sets the runtime's thread count; only a call before the runtime is first used counts.
pub fn set_io_threads(threads: usize) {
    THREADS.store(threads.max(1), Ordering::Relaxed);
}

/// The runtime, started on first use.
///
/// # Panics
/// The operating system refuses a thread or an epoll instance at start-up.
fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(THREADS.load(Ordering::Relaxed))
            .thread_name("eddy-io")
            .enable_time()
            .enable_io()
            .build()
            .expect("the io runtime starts (threads and epoll are available at start-up)")
    })
}

/// Enters the runtime's context on this thread until the guard drops: a worker holds it for
/// its whole life, so plugin calls it polls may make tokio timers and tasks.
pub fn enter() -> EnterGuard<'static> {
    runtime().enter()
}
