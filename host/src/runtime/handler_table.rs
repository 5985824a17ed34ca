//! The plugin handlers of a process, shared by every worker and swapped whole on a reload.
//!
//! A reload compiles the new plugins first and then swaps the table in one step, with a new
//! generation; each worker sees it at its next plugin call and starts over with fresh slots
//! (its old instances are dropped). Plugin calls are synchronous within a worker, so no call
//! is in progress when a worker switches: a request sees the old table or the new one, never
//! half of each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::plugin_program::PluginProgram;

/// The plugins, in route order, and how many times they were swapped.
#[derive(Default)]
pub struct HandlerTable {
    /// The generation and its plugins, read and written together.
    current: RwLock<(u64, Arc<[PluginProgram]>)>,
    /// A copy of the generation for the check on every call, written after the lock's.
    generation: AtomicU64,
}

impl HandlerTable {
    /// A table of `programs`, generation 0.
    pub fn new(programs: Vec<PluginProgram>) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new((0, programs.into())),
            generation: AtomicU64::new(0),
        })
    }

    /// The generation: bumped by each [`swap`](Self::swap). One atomic load, cheap enough
    /// to check on every plugin call.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current plugins and their generation.
    pub fn current(&self) -> (u64, Arc<[PluginProgram]>) {
        match self.current.read() {
            Ok(current) => current.clone(),
            // A writer cannot panic while holding the lock (it only assigns); keep serving.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces every plugin at once.
    pub fn swap(&self, programs: Vec<PluginProgram>) {
        let mut current = match self.current.write() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        let generation = current.0 + 1;
        *current = (generation, programs.into());
        self.generation.store(generation, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_bumps_the_generation_with_the_plugins() {
        let table = HandlerTable::new(Vec::new());
        assert_eq!(table.generation(), 0);
        table.swap(Vec::new());
        table.swap(Vec::new());
        let (generation, programs) = table.current();
        assert_eq!((generation, programs.len()), (2, 0));
        assert_eq!(table.generation(), 2);
    }
}
