//! The `eddy` command line: `serve`, `run` and `compile`.
//!
//! Every failure ends in one line on stderr naming the problem, and a non-zero exit code.

mod args;
mod config_file;
mod config_merge;
mod entry;
mod guest_options;
mod parse;
mod reload_handlers;
mod serve;
mod setup;
mod tls_flags;

pub use args::Cli;
pub use entry::main;
pub use parse::{parse_bytes, parse_duration};
