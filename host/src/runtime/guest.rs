//! One instantiated server guest: its `start` and `handle-events` exports, each call under
//! an epoch deadline, with the event loop's imports lent for the call.

use std::time::Duration;

use anyhow::anyhow;
use wasmtime::Store;

use super::calls::CallId;
use super::engine::ticks;
use super::host_state::HostState;
use super::lend::Lent;
use super::plugins::Answer;
use super::server_wit::AsyncServer;
use super::server_wit::exports::eddy::http::plugin_results::PluginResult;
use super::trap::TrapReport;
use super::wit::{IoGuest, types};
use crate::boundary::{Crossings, Event, Exports, Imports};

/// Default limit on the time a server guest spends in one call (`--guest-timeout`), not
/// counting the plugins it calls.
pub const DEFAULT_GUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One instantiated guest, ready for events.
pub struct Guest {
    store: Store<HostState>,
    bindings: IoGuest,
    /// The `plugin-results` export, when the guest has it.
    results: Option<AsyncServer>,
    /// The events of one call, converted to the bindings' types (kept for its capacity).
    batch: Vec<types::Event>,
    /// Plugin calls that finished this turn (kept for its capacity).
    finished: Vec<(CallId, Answer)>,
}

impl Guest {
    pub(super) fn new(
        mut store: Store<HostState>,
        bindings: IoGuest,
        results: Option<AsyncServer>,
    ) -> Self {
        store.data_mut().takes_results = results.is_some();
        Self {
            store,
            bindings,
            results,
            batch: Vec::new(),
            finished: Vec::new(),
        }
    }

    /// Calls the guest's `start` export.
    ///
    /// # Errors
    /// The guest trapped, or returned an error (its message is kept).
    pub fn start(
        &mut self,
        imports: &mut (dyn Imports + 'static),
        args: &[String],
        options: &[(String, String)],
    ) -> anyhow::Result<()> {
        self.arm_deadline();
        let bindings = &self.bindings;
        Lent::scope(
            &mut self.store,
            |store| store.data_mut().lent(),
            imports,
            |store| bindings.eddy_io_guest().call_start(store, args, options),
        )
        .map_err(|e| {
            let report = TrapReport::new(&e, self.store.data().timeout, "--guest-timeout", None);
            anyhow!("the guest trapped while starting: {}", report.message())
        })?
        .map_err(|message| anyhow!("the guest failed to start: {message}"))
    }

    fn arm_deadline(&mut self) {
        self.store.data_mut().begin_call();
        let timeout = self.store.data().timeout;
        self.store.set_epoch_deadline(ticks(timeout));
    }
}

impl Exports for Guest {
    /// Delivers a batch of events: one call into the guest.
    ///
    /// # Errors
    /// The guest trapped; its `Store` is unusable afterwards.
    fn handle_events(
        &mut self,
        imports: &mut (dyn Imports + 'static),
        now: u64,
        events: Vec<Event>,
    ) -> anyhow::Result<()> {
        self.store.data_mut().crossings.guest_calls += 1;
        self.arm_deadline();
        self.batch.clear();
        self.batch
            .extend(events.into_iter().map(types::Event::from));
        let (bindings, batch) = (&self.bindings, &self.batch);
        let result = Lent::scope(
            &mut self.store,
            |store| store.data_mut().lent(),
            imports,
            |store| {
                bindings
                    .eddy_io_guest()
                    .call_handle_events(store, now, batch)
            },
        );
        // The bytes were copied into the guest; the buffers go with the events.
        self.batch.clear();
        self.store.data_mut().access_log.flush();
        result.map_err(|e| {
            let denial = self.store.data_mut().limiter.take_denial();
            let report = TrapReport::new(&e, self.store.data().timeout, "--guest-timeout", denial);
            anyhow!("the guest trapped: {}", report.message())
        })
    }

    /// Delivers the answers of the plugin calls that finished: one call into the guest.
    ///
    /// # Errors
    /// The guest trapped; its `Store` is unusable afterwards.
    fn poll_calls(
        &mut self,
        imports: &mut (dyn Imports + 'static),
        now: u64,
    ) -> anyhow::Result<()> {
        self.store.data_mut().plugins.poll_ready(&mut self.finished);
        if self.results.is_none() {
            // Only a guest with the export is ever left a call that waits.
            self.finished.clear();
        }
        if self.finished.is_empty() {
            return Ok(());
        }
        let answers: Vec<PluginResult> = self
            .finished
            .drain(..)
            .map(|(call, answer)| PluginResult { call, answer })
            .collect();
        self.store.data_mut().crossings.guest_calls += 1;
        self.arm_deadline();
        let results = &self.results;
        let result = Lent::scope(
            &mut self.store,
            |store| store.data_mut().lent(),
            imports,
            |store| {
                let Some(results) = results else {
                    return Ok(());
                };
                results
                    .eddy_http_plugin_results()
                    .call_complete(store, now, &answers)
            },
        );
        self.store.data_mut().access_log.flush();
        result.map_err(|e| {
            let denial = self.store.data_mut().limiter.take_denial();
            let report = TrapReport::new(&e, self.store.data().timeout, "--guest-timeout", denial);
            anyhow!("the guest trapped: {}", report.message())
        })
    }

    fn has_ready_calls(&self) -> bool {
        self.store.data().plugins.has_ready()
    }

    fn waiting_calls(&self) -> usize {
        self.store.data().plugins.waiting()
    }

    fn stopped(&self) -> Option<u8> {
        self.store.data().stopped
    }

    fn crossings(&self) -> Crossings {
        self.store.data().crossings
    }
}
