//! The guest's `eddy:io/log` import: log lines under the worker's name through `tracing`,
//! and access entries into the worker's buffered access log (text or JSON lines).

use super::host_state::HostState;
use super::wit::log;
use crate::access_log::{AccessRecord, escape_controls};

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        use log::Level;
        let worker = self.worker;
        // A guest's text may carry a request's bytes: keep it one line on a terminal.
        let message = escape_controls(&message);
        match level {
            Level::Trace => tracing::trace!(worker, "guest: {message}"),
            Level::Debug => tracing::debug!(worker, "guest: {message}"),
            Level::Info => tracing::info!(worker, "guest: {message}"),
            Level::Warn => tracing::warn!(worker, "guest: {message}"),
            Level::Error => tracing::error!(worker, "guest: {message}"),
        }
    }

    fn access(&mut self, entry: log::AccessEntry) {
        self.access_log.record(&AccessRecord {
            method: &entry.method,
            path: &entry.path,
            status: entry.status,
            bytes: entry.bytes,
            complete: entry.complete,
            duration_us: entry.duration_us,
            remote: &entry.remote,
        });
    }
}
