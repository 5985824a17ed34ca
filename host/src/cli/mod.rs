//! The `eddy` command line: `serve`, `run` and `compile`.
//!
//! Every failure ends in one line on stderr naming the problem, and a non-zero exit code.

mod args;
mod entry;
mod guest_options;
mod parse;
mod serve;
mod setup;
mod tls_flags;

pub use args::Cli;
pub use entry::main;
pub use parse::{parse_bytes, parse_duration};
