//! The native host runner of Eddy: it owns every socket, the mio event loops and the wasmtime
//! sandbox, and drives guest components that hold all buffering and protocol logic.
//!
//! The host never interprets protocol bytes; guests never touch a socket, clock or file.

pub mod access_log;
pub mod admission;
pub mod cli;
pub mod event_loop;
pub mod fd_limit;
pub mod guests;
pub mod policy;
pub mod runtime;
