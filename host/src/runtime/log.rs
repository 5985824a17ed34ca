//! The guest's `eddy:io/log` import: log lines under the worker's name, and access entries
//! as text or JSON fields.

use std::sync::atomic::{AtomicBool, Ordering};

use super::host_state::HostState;
use super::wit::log;

/// Whether logs are JSON (`--log-format json`): access entries then carry only fields.
pub static JSON_LOGS: AtomicBool = AtomicBool::new(false);

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        use log::Level;
        let worker = self.worker;
        match level {
            Level::Trace => tracing::trace!(worker, "guest: {message}"),
            Level::Debug => tracing::debug!(worker, "guest: {message}"),
            Level::Info => tracing::info!(worker, "guest: {message}"),
            Level::Warn => tracing::warn!(worker, "guest: {message}"),
            Level::Error => tracing::error!(worker, "guest: {message}"),
        }
    }

    fn access(&mut self, entry: log::AccessEntry) {
        access(&entry);
    }
}

fn access(entry: &log::AccessEntry) {
    if JSON_LOGS.load(Ordering::Relaxed) {
        tracing::info!(
            target: "access",
            method = %entry.method,
            path = %entry.path,
            status = entry.status,
            bytes = entry.bytes,
            complete = entry.complete,
            duration_us = entry.duration_us,
            remote = %entry.remote,
        );
    } else {
        let millis = entry.duration_us as f64 / 1000.0;
        let incomplete = if entry.complete { "" } else { " incomplete" };
        tracing::info!(
            target: "access",
            "{} {} {} {}B {millis:.2}ms {}{incomplete}",
            entry.method, entry.path, entry.status, entry.bytes, entry.remote
        );
    }
}
