//! The Eddy guest library: Tornado's IOStream and TCPServer as futures, for programs that run
//! as WebAssembly components under the `eddy` host.
//!
//! The guest owns no socket, clock or file: the host performs all I/O and delivers readiness
//! events in batches; this crate buffers bytes and drives the futures. Everything except
//! `bindings` is plain Rust and is unit-tested natively.
//!
//! A program declares its settings with [`options`] (Tornado's `tornado.options`: typed
//! options, `--help`, one-line errors) and runs timed work with [`PeriodicCallback`].
//!
//! ```text
//! struct Echo;
//! impl eddy_guest::TcpServer for Echo {
//!     async fn handle_stream(&self, stream: eddy_guest::IOStream, _address: String) {
//!         while let Ok(line) = stream.read_until(b"\n", Some(64 * 1024)).await {
//!             if stream.write(line).await.is_err() { break }
//!         }
//!     }
//! }
//! fn main(_args: Vec<String>) -> Result<(), String> { eddy_guest::listen(Echo); Ok(()) }
//! eddy_guest::export!(main);
//! ```

extern crate self as eddy_guest;

pub mod bindings;
mod executor;
pub mod host;
pub mod http_server;
mod id_map;
pub mod iostream;
pub mod options;
mod periodic;
pub mod pool_alloc;
mod runtime;
mod tcp_server;
#[cfg(test)]
mod testing;
mod timer;
mod timer_heap;
pub mod wall_clock;

pub use eddy_http as http;
pub use eddy_options::{ByteSize, HttpOptions, OptionError, Options, Setting, StreamOptions};
pub use executor::spawn;
pub use host::{ConnId, ErrorCode, Level, SocketError, TlsInfo};
pub use http_server::{
    HttpServer, ResponseWriter, StreamingHandler, Whole, serve_http, serve_http_streaming,
};
pub use iostream::{CloseReason, IOStream, StreamError, UnsatisfiableRead};
pub use periodic::PeriodicCallback;
pub use regex::bytes::Regex;
pub use runtime::{
    DrainStarted, drain_started, draining, now, option, options, raw_options as start_options,
    resume,
};
pub use tcp_server::{TcpServer, listen};
pub use timer::{Sleep, TimedOut, sleep, sleep_until, timeout};

/// Stops the event loop once the current host call returns (Tornado's `IOLoop.stop`);
/// `eddy run` exits with `code`.
pub fn stop(code: u8) {
    runtime::host().stop(code);
}

/// Writes bytes to the host process's standard output.
pub fn print(bytes: &[u8]) {
    runtime::host().write_stdout(bytes);
}

/// Writes a line to the host's log.
pub fn log(level: Level, message: &str) {
    runtime::host().log(level, message);
}

/// Writes one access-log entry through the host.
pub fn access_log(entry: host::AccessEntry) {
    runtime::host().access(entry);
}

/// Seconds and nanoseconds since the Unix epoch, as the host reports them.
pub fn wall_time() -> (u64, u32) {
    runtime::host().wall_time()
}

/// Exports a guest program: `main` runs once at start-up with the program's arguments and
/// typically calls [`listen`] or [`spawn`].
///
/// Invoke it once, at the top level of the component crate. The exports exist on WebAssembly
/// only: their names (`eddy:io/guest@0.1.0#start`) are no symbols a native linker takes, so a
/// guest crate built natively (`cargo build --workspace`) is a library that exports nothing.
#[macro_export]
macro_rules! export {
    ($main:path) => {
        #[doc(hidden)]
        struct __EddyGuestExports;

        impl $crate::bindings::exports::eddy::io::guest::Guest for __EddyGuestExports {
            fn start(
                args: ::std::vec::Vec<::std::string::String>,
                options: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::std::result::Result<(), ::std::string::String> {
                $crate::bindings::start(args, options, $main)
            }

            fn handle_events(now: u64, events: ::std::vec::Vec<$crate::bindings::eddy::io::types::Event>) {
                $crate::bindings::handle_events(now, events)
            }
        }

        #[cfg(target_family = "wasm")]
        $crate::bindings::export_io_guest!(__EddyGuestExports with_types_in $crate::bindings);

        // Natively, keeps the program in use without exporting it.
        #[cfg(not(target_family = "wasm"))]
        #[allow(dead_code)]
        fn __eddy_guest_native() {
            let _ = <__EddyGuestExports as $crate::bindings::exports::eddy::io::guest::Guest>::start;
            let _ = <__EddyGuestExports as $crate::bindings::exports::eddy::io::guest::Guest>::handle_events;
        }
    };
}
