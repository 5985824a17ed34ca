//! The plugins of one worker: one slot per `--handler`, its live instance (reused with
//! `--isolation worker`), and its crash-loop back-off. Called by the server guest through the
//! `eddy:http/plugins` import.
//!
//! A trap in a plugin poisons only that plugin's Store: the call returns `trapped` (the
//! server guest answers 500), the instance is dropped and the next request gets a fresh one.
//! A plugin that keeps trapping is re-instantiated with growing delay and reported
//! `unavailable` (503) meanwhile. Each trap is one log record (reason, then backtrace);
//! past one a second per plugin, records are held back and counted in the next one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::handler_table::HandlerTable;
use super::plugin_program::{Bindings, Isolation, Live, PluginProgram, PluginSettings};
use super::trap::TrapReport;
use super::wasi_http::{self, CallError};

use super::server_wit::eddy::http::plugins::PluginError;
use super::server_wit::eddy::http::types::{Request, Response};

/// Fresh slots for `programs`: no instance yet, no failures.
fn slots(programs: &[PluginProgram]) -> Vec<Slot> {
    programs
        .iter()
        .map(|program| Slot {
            program: program.clone(),
            live: None,
            failures: 0,
            retry_at: None,
            last_report: None,
            unreported: 0,
        })
        .collect()
}

/// The longest a crash-looping plugin waits before its next instance.
pub const MAX_PLUGIN_BACKOFF: Duration = Duration::from_secs(5);

/// Trap records per plugin slot are at least this far apart; the ones in between are counted.
const TRAP_REPORT_INTERVAL: Duration = Duration::from_secs(1);

struct Slot {
    program: PluginProgram,
    live: Option<Live>,
    /// Traps in a row; reset by a successful call.
    failures: u32,
    /// While set and in the future, calls are answered `unavailable`.
    retry_at: Option<Instant>,
    /// When a trap was last logged, and how many were not logged since.
    last_report: Option<Instant>,
    unreported: u32,
}

/// The plugins of one worker.
pub struct Plugins {
    slots: Vec<Slot>,
    settings: PluginSettings,
    instantiations: u64,
    table: Arc<HandlerTable>,
    /// The table's generation the slots were made from.
    generation: u64,
}

impl Plugins {
    /// The worker's plugins, not yet instantiated (each is on its first request).
    pub fn new(table: &Arc<HandlerTable>, settings: &PluginSettings) -> Self {
        let (generation, programs) = table.current();
        Self {
            slots: slots(&programs),
            settings: settings.clone(),
            instantiations: 0,
            table: table.clone(),
            generation,
        }
    }

    /// Starts over with the table's new plugins when it was swapped since the last call.
    fn follow_table(&mut self) {
        if self.table.generation() != self.generation {
            let (generation, programs) = self.table.current();
            self.slots = slots(&programs);
            self.generation = generation;
        }
    }

    /// How many plugin instances were created so far.
    pub fn instantiations(&self) -> u64 {
        self.instantiations
    }

    fn instantiate(&mut self, index: usize) -> anyhow::Result<Live> {
        self.instantiations += 1;
        self.slots[index].program.instantiate(&self.settings)
    }

    /// Calls the plugin of the first route that matches the request's path, in the current
    /// table; `None` when none matches.
    pub fn dispatch(
        &mut self,
        request: &Request,
        server_name: Option<String>,
    ) -> Option<Result<Response, PluginError>> {
        self.follow_table();
        let index = self
            .slots
            .iter()
            .position(|slot| slot.program.answers(&request.path))?;
        Some(self.call(
            u32::try_from(index).unwrap_or(u32::MAX),
            request,
            server_name,
        ))
    }

    /// Calls plugin `index` with `request`.
    pub fn call(
        &mut self,
        index: u32,
        request: &Request,
        server_name: Option<String>,
    ) -> Result<Response, PluginError> {
        self.follow_table();
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        let Some(slot) = self.slots.get_mut(index) else {
            return Err(PluginError::UnknownPlugin);
        };
        if let Some(at) = slot.retry_at
            && Instant::now() < at
        {
            let message = format!(
                "{} is restarting after {} failures",
                slot.program.name(),
                slot.failures
            );
            return Err(PluginError::Unavailable(message));
        }
        let mut live = match slot.live.take() {
            Some(live) => live,
            None => match self.instantiate(index) {
                Ok(live) => live,
                Err(error) => {
                    let message = format!(
                        "instantiating {} failed: {error}",
                        self.slots[index].program.name()
                    );
                    self.failed(index, &message);
                    return Err(PluginError::Unavailable(message));
                }
            },
        };
        let started = Instant::now();
        live.store
            .set_epoch_deadline(super::engine::ticks(self.settings.timeout));
        live.store.data_mut().server_name = server_name;
        let result = match &live.bindings {
            Bindings::Eddy(bindings) => bindings
                .eddy_http_handler()
                .call_handle(&mut live.store, request)
                .map_err(CallError::Trap),
            Bindings::WasiHttp(proxy) => wasi_http::call(
                &mut live.store,
                proxy,
                request,
                self.settings.max_response_body,
                started,
                self.settings.timeout,
            ),
        };
        live.store.data_mut().server_name = None;
        let (verb, failure) = match result {
            Ok(response) => {
                let slot = &mut self.slots[index];
                slot.failures = 0;
                slot.retry_at = None;
                if self.settings.isolation == Isolation::Worker {
                    slot.live = Some(live);
                }
                return Ok(response);
            }
            Err(CallError::Trap(trap)) => {
                let denial = live.store.data_mut().limiter.take_denial();
                let timeout = self.settings.timeout;
                let report = TrapReport::new(&trap, timeout, "--handler-timeout", denial);
                ("trapped", report)
            }
            // Returned without a usable response: no backtrace, but the same cost as a trap.
            Err(CallError::Failed(reason)) => (
                "failed",
                TrapReport {
                    reason,
                    backtrace: String::new(),
                },
            ),
        };
        let name = &self.slots[index].program.name();
        let message = format!(
            "{name} {verb} on {} {}: {}",
            request.method,
            request.path,
            failure.message()
        );
        self.failed(index, &message);
        Err(PluginError::Trapped(failure.reason))
    }

    /// Records a failure: the instance is gone; after the first in a row, back off.
    fn failed(&mut self, index: usize, message: &str) {
        let slot = &mut self.slots[index];
        slot.failures += 1;
        let backoff = if slot.failures <= 1 {
            Duration::ZERO
        } else {
            (Duration::from_millis(50) * 2u32.saturating_pow((slot.failures - 2).min(16)))
                .min(MAX_PLUGIN_BACKOFF)
        };
        slot.retry_at = (!backoff.is_zero()).then(|| Instant::now() + backoff);
        let now = Instant::now();
        if slot
            .last_report
            .is_some_and(|at| now.duration_since(at) < TRAP_REPORT_INTERVAL)
        {
            slot.unreported += 1;
            return;
        }
        let held_back = std::mem::take(&mut slot.unreported);
        slot.last_report = Some(now);
        let instances = self.instantiations;
        tracing::error!(
            failures = slot.failures,
            instances,
            held_back,
            "{message}\nnext instance in {backoff:?}"
        );
    }
}
