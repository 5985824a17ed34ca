//! Connections to upstreams that finished their last exchange, kept for the next request to
//! the same upstream: at most [`MAX_IDLE_PER_UPSTREAM`] each and [`MAX_IDLE`] in all, for at
//! most [`IDLE_TIMEOUT`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use wasmtime_wasi_http::WasiBody;

/// Idle connections kept per upstream.
pub const MAX_IDLE_PER_UPSTREAM: usize = 128;

/// Idle connections kept in all, over every upstream.
pub const MAX_IDLE: usize = 512;

/// An idle connection older than this is closed rather than reused (servers close theirs
/// after 5 s to 75 s; a request on a connection the server just closed would fail).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Which upstream a connection goes to: TLS or not, the host as written, the port.
pub type Key = (bool, String, u16);

struct Entry {
    sender: SendRequest<WasiBody>,
    since: Instant,
}

/// The idle connections of a process.
#[derive(Default)]
pub struct Idle {
    by_upstream: Mutex<HashMap<Key, Vec<Entry>>>,
}

impl Idle {
    /// The most recently idle live connection to `key`, if one is kept.
    pub fn take(&self, key: &Key) -> Option<SendRequest<WasiBody>> {
        let mut map = self.lock();
        let now = Instant::now();
        Self::expire(&mut map, now);
        let entries = map.get_mut(key)?;
        let mut found = None;
        while let Some(entry) = entries.pop() {
            if now.duration_since(entry.since) < IDLE_TIMEOUT
                && !entry.sender.is_closed()
                && entry.sender.is_ready()
            {
                found = Some(entry.sender);
                break;
            }
        }
        if entries.is_empty() {
            map.remove(key);
        }
        found
    }

    /// Keeps `sender` for the next request to `key`, unless the caps are reached.
    pub fn put(&self, key: Key, sender: SendRequest<WasiBody>) {
        let mut map = self.lock();
        let now = Instant::now();
        Self::expire(&mut map, now);
        let total: usize = map.values().map(Vec::len).sum();
        let entries = map.entry(key).or_default();
        if total < MAX_IDLE && entries.len() < MAX_IDLE_PER_UPSTREAM {
            entries.push(Entry { sender, since: now });
        }
    }

    /// Closes the connections idle for [`IDLE_TIMEOUT`] or more.
    fn expire(map: &mut HashMap<Key, Vec<Entry>>, now: Instant) {
        map.retain(|_, entries| {
            entries.retain(|entry| now.duration_since(entry.since) < IDLE_TIMEOUT);
            !entries.is_empty()
        });
    }

    /// How many connections are kept (for tests).
    pub fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<Entry>>> {
        self.by_upstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
