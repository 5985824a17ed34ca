//! Maps keyed by the ids the host and the guest hand out (connections, timers, waiters).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes the ids the runtime keys its maps by (connections, timers, drain waiters) with one
/// multiply, as FxHash does. The default SipHash guards against keys chosen by an attacker;
/// these are counters the host and the guest hand out.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0.rotate_left(5) ^ id).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// A map keyed by id.
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;
