//! The mio event loop of one worker: its sockets ([`Net`]), readiness turned into events,
//! and the loop that delivers them to the guest in one call per wakeup.
//!
//! This is the only module that touches mio. It knows the guest only through
//! [`Exports`](crate::boundary::Exports), and serves the guest's
//! [`Imports`](crate::boundary::Imports).

mod accept;
mod conn;
mod handshake;
mod health;
mod imports;
mod listen;
mod loop_waker;
mod net;
mod readiness;
mod run;
mod shutdown;
mod slab;
mod socket_error;
mod socket_io;
mod timers;
mod tls_setup;

pub use accept::{ACCEPT_BACKOFF, ACCEPT_BATCH};
pub use conn::{CORK, DISCARD_BYTES, DISCARD_TIME, LINGER, READ_CHUNK};
pub use listen::{bind, resolve};
pub use net::Net;
pub use readiness::Readiness;
pub use run::{
    CROSSINGS_REPORT, LoopConfig, MAX_RESTART_BACKOFF, MAX_ROUNDS_PER_WAKEUP, Mode, run, trial,
};
pub use shutdown::Shutdown;
pub use socket_io::MAX_UNSENT;
pub use tls_setup::{DEFAULT_HANDSHAKE_TIMEOUT, TlsSetup};
