//! The only module that knows about wit-bindgen: it generates the `io-guest` bindings,
//! implements [`Host`] with the WIT imports and converts WIT events for the runtime.
//!
//! Guest authors never name anything here; they call [`crate::export!`].

// The generated items mirror the WIT, whose documentation they carry where wit-bindgen can.
#![allow(missing_docs)]

use std::rc::Rc;

use crate::host::{ConnId, ErrorCode, Event, Host, Instant, Level, SocketError, TimerId, TlsInfo};
use crate::runtime;

wit_bindgen::generate!({
    path: "../wit/io",
    world: "eddy:io/io-guest",
    pub_export_macro: true,
    export_macro_name: "export_io_guest",
    default_bindings_module: "eddy_guest::bindings",
    runtime_path: "eddy_guest::bindings::wit_bindgen_rt::rt",
});

#[doc(hidden)]
pub use wit_bindgen as wit_bindgen_rt;

use eddy::io::{clock, log, net, process, timers, types};

/// The host as seen through eddy's WIT imports.
struct WitHost;

impl Host for WitHost {
    fn send(&self, conn: ConnId, bytes: &[u8]) -> Result<usize, SocketError> {
        net::send(conn, bytes)
            .map(|n| n as usize)
            .map_err(socket_error)
    }

    fn set_read_interest(&self, conn: ConnId, on: bool) {
        net::set_read_interest(conn, on);
    }

    fn set_nodelay(&self, conn: ConnId, on: bool) -> Result<(), SocketError> {
        net::set_nodelay(conn, on).map_err(socket_error)
    }

    fn close(&self, conn: ConnId) {
        net::close(conn);
    }

    fn connect(&self, address: &str) -> Result<ConnId, SocketError> {
        net::connect(address).map_err(socket_error)
    }

    fn connect_tls(&self, address: &str, server_name: &str) -> Result<ConnId, SocketError> {
        net::connect_tls(address, server_name).map_err(socket_error)
    }

    fn start_tls(&self, conn: ConnId, server_name: Option<&str>) -> Result<(), SocketError> {
        net::start_tls(conn, server_name).map_err(socket_error)
    }

    fn set_timer(&self, deadline: Instant) -> TimerId {
        timers::set_timer(deadline)
    }

    fn cancel_timer(&self, timer: TimerId) {
        timers::cancel_timer(timer);
    }

    fn now(&self) -> Instant {
        clock::now()
    }

    fn wall_time(&self) -> (u64, u32) {
        clock::wall_time()
    }

    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Trace => log::Level::Trace,
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        log::log(level, message);
    }

    fn access(&self, entry: crate::host::AccessEntry) {
        log::access(&log::AccessEntry {
            method: entry.method,
            path: entry.path,
            status: entry.status,
            bytes: entry.bytes,
            complete: entry.complete,
            duration_us: entry.duration_us,
            remote: entry.remote,
        });
    }

    fn write_stdout(&self, bytes: &[u8]) {
        process::write_stdout(bytes);
    }

    fn stop(&self, code: u8) {
        process::stop(code);
    }
}

fn socket_error(error: types::SocketError) -> SocketError {
    use types::ErrorCode as Wit;
    let code = match error.code {
        Wit::ConnectionRefused => ErrorCode::ConnectionRefused,
        Wit::ConnectionReset => ErrorCode::ConnectionReset,
        Wit::ConnectionAborted => ErrorCode::ConnectionAborted,
        Wit::TimedOut => ErrorCode::TimedOut,
        Wit::NotPermitted => ErrorCode::NotPermitted,
        Wit::InvalidAddress => ErrorCode::InvalidAddress,
        Wit::Unreachable => ErrorCode::Unreachable,
        Wit::UnknownConnection => ErrorCode::UnknownConnection,
        Wit::ResourceExhausted => ErrorCode::ResourceExhausted,
        Wit::Other => ErrorCode::Other,
    };
    SocketError {
        code,
        message: error.message,
    }
}

fn tls_info(info: types::TlsInfo) -> TlsInfo {
    TlsInfo {
        version: info.version,
        cipher_suite: info.cipher_suite,
        server_name: info.server_name,
        alpn: info.alpn,
    }
}

fn event(event: types::Event) -> Event {
    match event {
        types::Event::Accepted(accepted) => Event::Accepted {
            conn: accepted.conn,
            listener: accepted.listener,
            peer: accepted.peer,
            tls: accepted.tls.map(tls_info),
        },
        types::Event::Received(received) => Event::Received {
            conn: received.conn,
            bytes: received.bytes,
        },
        types::Event::EndOfStream(conn) => Event::EndOfStream(conn),
        types::Event::Writable(conn) => Event::Writable(conn),
        types::Event::Connected(conn) => Event::Connected(conn),
        types::Event::Secured(secured) => Event::Secured {
            conn: secured.conn,
            tls: tls_info(secured.tls),
        },
        types::Event::Failed(failure) => Event::Failed {
            conn: failure.conn,
            error: socket_error(failure.error),
        },
        types::Event::Timer(timer) => Event::Timer(timer),
        types::Event::Draining => Event::Draining,
    }
}

/// The `guest.start` export: installs the host, then runs the program's `main`.
#[doc(hidden)]
pub fn start(
    args: Vec<String>,
    options: Vec<(String, String)>,
    main: fn(Vec<String>) -> Result<(), String>,
) -> Result<(), String> {
    runtime::install(Rc::new(WitHost), options)?;
    main(args)?;
    runtime::run_rounds();
    Ok(())
}

/// The `guest.handle-events` export.
#[doc(hidden)]
pub fn handle_events(now: Instant, events: Vec<types::Event>) {
    runtime::handle_events(now, events.into_iter().map(event));
}
