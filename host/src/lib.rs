//! The native host runner of Eddy: it owns every socket, the mio event loops and the wasmtime
//! sandbox, and drives guest components that hold all buffering and protocol logic.
//!
//! The host never interprets protocol bytes; guests never touch a socket, clock or file.
//! [`event_loop`] and [`runtime`] meet only in [`boundary`]'s vocabulary, and [`worker`]
//! wires one of each together.

pub mod access_log;
pub mod admission;
pub mod boundary;
pub mod cli;
pub mod event_loop;
pub mod fd_limit;
pub mod guests;
pub mod policy;
pub mod regular_file;
pub mod reload;
pub mod runtime;
pub mod tls;
pub mod upstream;
pub mod worker;
