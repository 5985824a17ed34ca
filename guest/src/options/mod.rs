//! Tornado's `tornado.options` for guest programs: typed options with defaults and help lines,
//! read from the program's arguments and from (name, value) pairs.
//!
//! This is the guest's own settings, declared by the program; it is not the host's start-up
//! option contract (`max-buffer-size` and the like, see [`crate::option`]).
//!
//! ```
//! use std::time::Duration;
//! use eddy_guest::options::{CommandLine, OptionParser, Size};
//!
//! let mut options = OptionParser::new();
//! let port = options.define("port", 8888u16, "the port to listen on");
//! let max_line = options.define("max-line", Size::kib(64), "the longest line accepted");
//! let idle = options.define("idle-timeout", Duration::from_secs(30), "close idle connections");
//!
//! // A config file's `[guest]` table arrives as pairs; arguments win over it.
//! options.parse_pairs([("port", "7000"), ("idle_timeout", "2m")])?;
//! let args = ["--port=9000", "--max-line", "1KiB"];
//! let CommandLine::Run(rest) = options.parse_command_line(args)? else {
//!     unreachable!("no --help here");
//! };
//! assert!(rest.is_empty());
//! assert_eq!(options[port], 9000);
//! assert_eq!(options[max_line].bytes(), 1024);
//! assert_eq!(options[idle], Duration::from_secs(120));
//! assert_eq!(options.get::<u16>("port"), Some(9000));
//! # Ok::<(), eddy_guest::options::Error>(())
//! ```
//!
//! In a guest's `main`, [`CommandLine::or_show_help`] prints the help and stops the program
//! with exit code 0, as Tornado's `--help` does; an [`Error`] converts into the one line that
//! `main` returns to stop start-up.

mod duration;
mod error;
mod parser;
mod size;
mod value;

pub use error::Error;
pub use parser::{CommandLine, Key, OptionParser};
pub use size::Size;
pub use value::OptionType;
