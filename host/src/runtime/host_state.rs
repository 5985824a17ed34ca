//! What a server guest's `Store` holds, and the `eddy:io` and `eddy:http/plugins` imports
//! implemented on it: socket and timer calls go to the event loop's lent [`Imports`],
//! plugin calls to the worker's plugins. The crossings and the stop code are kept here.

use std::time::{Duration, Instant};

use super::call::Answer;
use super::lend::Lent;
use super::limits::{Limiter, Limits};
use super::plugins::{Plugins, Started};
use super::server_wit;
use super::server_wit::eddy::http::plugins::Started as WitStarted;
use super::wit::{clock, net, process, timers, types};
use crate::access_log::{AccessLog, Format};
use crate::boundary::{Crossings, Imports};

/// What a guest's `Store` holds: the lent imports, its resource limits and its plugins.
pub struct HostState {
    imports: Lent,
    pub(super) limiter: Limiter,
    pub(super) plugins: Plugins,
    /// Whether the guest exports `plugin-results`, so a plugin call may finish later.
    pub(super) takes_results: bool,
    /// The longest one call may run, plugins not counted.
    pub(super) timeout: Duration,
    /// When the current call into the guest began.
    pub(super) call_started: Instant,
    /// Time spent in plugins during the current call.
    pub(super) plugin_time: Duration,
    /// The worker's index, for log lines.
    pub(super) worker: usize,
    /// The exit code the guest asked for with `stop`.
    pub(super) stopped: Option<u8>,
    pub(super) crossings: Crossings,
    /// The worker's access lines, written once per call into the guest.
    pub(super) access_log: AccessLog,
}

impl HostState {
    /// A fresh state for one guest instance.
    pub(super) fn new(limits: &Limits, plugins: Plugins, timeout: Duration, worker: usize) -> Self {
        Self {
            imports: Lent::default(),
            limiter: Limiter::new(limits.clone()),
            plugins,
            takes_results: false,
            timeout,
            call_started: Instant::now(),
            plugin_time: Duration::ZERO,
            worker,
            stopped: None,
            crossings: Crossings::default(),
            access_log: AccessLog::new(Format::configured()),
        }
    }

    /// Where [`Lent::scope`] finds the imports slot.
    pub(super) fn lent(&mut self) -> &mut Lent {
        &mut self.imports
    }

    pub(super) fn begin_call(&mut self) {
        self.call_started = Instant::now();
        self.plugin_time = Duration::ZERO;
        self.plugins.new_turn();
    }

    /// The lent imports, counting the crossing.
    fn counted(&mut self) -> &mut dyn Imports {
        self.crossings.import_calls += 1;
        self.imports.get()
    }
}

impl types::Host for HostState {}

impl server_wit::eddy::http::types::Host for HostState {}

impl server_wit::eddy::http::plugins::Host for HostState {
    fn call(
        &mut self,
        plugin: u32,
        request: server_wit::eddy::http::types::Request,
    ) -> Result<server_wit::eddy::http::types::Response, server_wit::eddy::http::plugins::PluginError>
    {
        self.call_secure(plugin, request, None)
    }

    fn dispatch(
        &mut self,
        request: server_wit::eddy::http::types::Request,
        server_name: Option<String>,
    ) -> Option<Answer> {
        self.crossings.import_calls += 1;
        let started = Instant::now();
        let answer = self.plugins.dispatch_waiting(request, server_name);
        self.plugin_time += started.elapsed();
        answer
    }

    fn call_secure(
        &mut self,
        plugin: u32,
        request: server_wit::eddy::http::types::Request,
        server_name: Option<String>,
    ) -> Answer {
        self.crossings.import_calls += 1;
        let started = Instant::now();
        let answer = self.plugins.call_waiting(plugin, request, server_name);
        self.plugin_time += started.elapsed();
        answer
    }

    fn start(
        &mut self,
        request: server_wit::eddy::http::types::Request,
        server_name: Option<String>,
    ) -> WitStarted {
        self.start_call(request, server_name, false)
    }

    fn streams_body(&mut self, path: String) -> bool {
        self.crossings.import_calls += 1;
        self.takes_results && self.plugins.streams_body(&path)
    }

    fn start_streaming(
        &mut self,
        request: server_wit::eddy::http::types::Request,
        server_name: Option<String>,
    ) -> WitStarted {
        self.start_call(request, server_name, true)
    }

    fn write_body(&mut self, call: u64, bytes: Vec<u8>) -> u32 {
        self.crossings.import_calls += 1;
        self.plugins.write_body(call, &bytes)
    }

    fn finish_body(&mut self, call: u64, complete: bool) {
        self.crossings.import_calls += 1;
        self.plugins.finish_body(call, complete);
    }

    fn more_body(&mut self, call: u64, room: u32) {
        self.crossings.import_calls += 1;
        self.plugins.more_body(call, room);
    }

    fn cancel(&mut self, call: u64) {
        self.crossings.import_calls += 1;
        self.plugins.cancel(call);
    }
}

impl HostState {
    /// `plugins.start` and `start-streaming`: polls the call once, counting that time as the
    /// plugin's, not the guest's.
    fn start_call(
        &mut self,
        request: server_wit::eddy::http::types::Request,
        server_name: Option<String>,
        streamed_body: bool,
    ) -> WitStarted {
        self.crossings.import_calls += 1;
        let started = Instant::now();
        // A guest with no `plugin-results` export could never hear of a call that waits.
        let outcome = if self.takes_results {
            match self.plugins.start(request, server_name, streamed_body) {
                Started::Ready(answer) => WitStarted::Ready(answer),
                Started::Pending(call) => WitStarted::Pending(call),
            }
        } else {
            WitStarted::Ready(self.plugins.dispatch_waiting(request, server_name))
        };
        let elapsed = started.elapsed();
        self.plugin_time += elapsed;
        self.plugins.spent(elapsed);
        outcome
    }
}

impl net::Host for HostState {
    fn send(&mut self, conn: u64, bytes: Vec<u8>) -> Result<u32, types::SocketError> {
        self.counted().send(conn, &bytes).map_err(Into::into)
    }

    fn set_read_interest(&mut self, conn: u64, on: bool) {
        self.counted().set_read_interest(conn, on);
    }

    fn set_nodelay(&mut self, conn: u64, on: bool) -> Result<(), types::SocketError> {
        self.imports.get().set_nodelay(conn, on).map_err(Into::into)
    }

    fn close(&mut self, conn: u64) {
        self.counted().close(conn);
    }

    fn connect(&mut self, address: String) -> Result<u64, types::SocketError> {
        self.imports.get().connect(&address).map_err(Into::into)
    }

    fn connect_tls(
        &mut self,
        address: String,
        server_name: String,
    ) -> Result<u64, types::SocketError> {
        self.imports
            .get()
            .connect_tls(&address, &server_name)
            .map_err(Into::into)
    }

    fn start_tls(
        &mut self,
        conn: u64,
        server_name: Option<String>,
    ) -> Result<(), types::SocketError> {
        self.imports
            .get()
            .start_tls(conn, server_name.as_deref())
            .map_err(Into::into)
    }

    fn get_tls_info(&mut self, conn: u64) -> Option<types::TlsInfo> {
        self.imports.get().tls_info(conn).map(Into::into)
    }
}

impl timers::Host for HostState {
    fn set_timer(&mut self, deadline: u64) -> u64 {
        self.counted().set_timer(deadline)
    }

    fn cancel_timer(&mut self, timer: u64) {
        self.counted().cancel_timer(timer);
    }
}

impl clock::Host for HostState {
    fn now(&mut self) -> u64 {
        self.imports.get().now()
    }

    fn wall_time(&mut self) -> (u64, u32) {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (since_epoch.as_secs(), since_epoch.subsec_nanos())
    }
}

impl process::Host for HostState {
    fn write_stdout(&mut self, bytes: Vec<u8>) {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
            tracing::warn!("writing the guest's output failed: {error}");
        }
    }

    fn stop(&mut self, code: u8) {
        self.stopped = Some(code);
    }
}
