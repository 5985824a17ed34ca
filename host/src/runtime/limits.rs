//! The resource limits of one `Store` (the server guest's, or one plugin instance's), and the
//! limiter that enforces them and remembers which limit said no.
//!
//! Memory and table elements are capped as a *total* over every memory and table of the
//! Store, so a component made of many core instances (componentize-py links 14) gets the
//! same budget as one made of a single module. Counts of instances, tables and memories are
//! capped too, with defaults that fit what toolchains emit; each cap names its flag, so a
//! component refused at start-up is refused with the flag that would admit it.

use wasmtime::ResourceLimiter;

/// Default cap on one guest's linear memory (`--max-memory`).
pub const DEFAULT_MAX_MEMORY: usize = 256 * 1024 * 1024;

/// Default cap on core instances per Store (`--max-instances`): componentize-py output
/// instantiates 14, componentize-js 4, TinyGo and Rust 1–3.
pub const DEFAULT_MAX_INSTANCES: usize = 64;

/// Default cap on tables per Store (`--max-tables`).
pub const DEFAULT_MAX_TABLES: usize = 64;

/// Default cap on linear memories per Store (`--max-memories`).
pub const DEFAULT_MAX_MEMORIES: usize = 16;

/// Default cap on table elements per Store, all tables together (`--max-table-elements`):
/// about 8 MiB of host memory at a pointer per element; libpython's function table is
/// about 20,000.
pub const DEFAULT_MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The limits of a Store, with the flag that sets the memory cap (which differs between the
/// server guest and plugins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Total linear memory, in bytes.
    pub memory: usize,
    /// The flag that sets `memory` (`--max-memory` or `--plugin-max-memory`).
    pub memory_flag: &'static str,
    /// Core instances.
    pub instances: usize,
    /// Tables.
    pub tables: usize,
    /// Linear memories.
    pub memories: usize,
    /// Total table elements.
    pub table_elements: usize,
}

impl Limits {
    /// The default limits with a memory cap set by `memory_flag`.
    pub fn new(memory: usize, memory_flag: &'static str) -> Self {
        Self {
            memory,
            memory_flag,
            instances: DEFAULT_MAX_INSTANCES,
            tables: DEFAULT_MAX_TABLES,
            memories: DEFAULT_MAX_MEMORIES,
            table_elements: DEFAULT_MAX_TABLE_ELEMENTS,
        }
    }

    /// The same counts with another memory cap and flag.
    pub fn with_memory(&self, memory: usize, memory_flag: &'static str) -> Self {
        Self {
            memory,
            memory_flag,
            ..self.clone()
        }
    }

    /// Turns a wasmtime instantiation error into a sentence naming the limit and its flag,
    /// when a limit caused it.
    pub fn explain(&self, limiter: &Limiter, error: &str) -> Option<String> {
        if let Some(denial) = &limiter.denial {
            return Some(denial.clone());
        }
        let (what, cap, flag) = if error.contains("instance count too high") {
            ("core instances", self.instances, "--max-instances")
        } else if error.contains("table count too high") {
            ("tables", self.tables, "--max-tables")
        } else if error.contains("memory count too high") {
            ("linear memories", self.memories, "--max-memories")
        } else {
            return None;
        };
        Some(format!(
            "it needs more than {cap} {what} (raise {flag}, now {cap})"
        ))
    }
}

/// Enforces [`Limits`] on one Store; the Store's data owns it.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    memory_used: usize,
    table_elements_used: usize,
    /// Growth allowed by the last `memory_growing`, undone if the growth then fails.
    memory_pending: usize,
    table_pending: usize,
    /// The last growth refused, as a sentence naming the flag.
    denial: Option<String>,
}

impl Limiter {
    /// A limiter with nothing used yet.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            memory_used: 0,
            table_elements_used: 0,
            memory_pending: 0,
            table_pending: 0,
            denial: None,
        }
    }

    /// The limits enforced.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes the last refusal (a sentence naming the flag), if any since the last take.
    pub fn take_denial(&mut self) -> Option<String> {
        self.denial.take()
    }

    /// Bytes of linear memory in use, all memories together.
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }
}

/// Formats a byte count the way the flags take it.
pub fn format_bytes(bytes: usize) -> String {
    const MIB: usize = 1 << 20;
    const KIB: usize = 1 << 10;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{}MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{}KiB", bytes / KIB)
    } else {
        format!("{bytes}B")
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.memory_used.saturating_add(growth);
        if total > self.limits.memory {
            self.denial = Some(format!(
                "its linear memory would grow to {} but {} is {}",
                format_bytes(total),
                self.limits.memory_flag,
                format_bytes(self.limits.memory)
            ));
            return Ok(false);
        }
        // Growth past the memory's own maximum fails anyway; it is not counted.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(true);
        }
        self.memory_used = total;
        self.memory_pending = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_used = self.memory_used.saturating_sub(self.memory_pending);
        self.memory_pending = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.table_elements_used.saturating_add(growth);
        if total > self.limits.table_elements {
            self.denial = Some(format!(
                "its tables would hold {total} elements but --max-table-elements is {}",
                self.limits.table_elements
            ));
            return Ok(false);
        }
        if maximum.is_some_and(|max| desired > max) {
            return Ok(true);
        }
        self.table_elements_used = total;
        self.table_pending = growth;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_elements_used = self.table_elements_used.saturating_sub(self.table_pending);
        self.table_pending = 0;
        Ok(())
    }

    fn instances(&self) -> usize {
        self.limits.instances
    }

    fn tables(&self) -> usize {
        self.limits.tables
    }

    fn memories(&self) -> usize {
        self.limits.memories
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 64 * 1024;

    #[test]
    fn memory_is_capped_across_memories() {
        let mut limiter = Limiter::new(Limits::new(4 * PAGE, "--plugin-max-memory"));
        assert!(
            limiter
                .memory_growing(0, 2 * PAGE, None)
                .expect("first memory")
        );
        assert!(
            limiter
                .memory_growing(0, 2 * PAGE, None)
                .expect("second memory")
        );
        assert!(
            !limiter
                .memory_growing(2 * PAGE, 3 * PAGE, None)
                .expect("past the cap")
        );
        let denial = limiter.take_denial().expect("a denial is recorded");
        assert!(denial.contains("--plugin-max-memory is 256KiB"), "{denial}");
        assert_eq!(limiter.memory_used(), 4 * PAGE);
    }

    #[test]
    fn failed_growth_is_given_back() {
        let mut limiter = Limiter::new(Limits::new(4 * PAGE, "--max-memory"));
        assert!(limiter.memory_growing(0, PAGE, None).expect("grow"));
        limiter
            .memory_grow_failed(wasmtime::Error::msg("no"))
            .expect("ok");
        assert_eq!(limiter.memory_used(), 0);
        // Past the memory's own maximum: allowed by us, refused by wasmtime, not counted.
        assert!(
            limiter
                .memory_growing(0, 2 * PAGE, Some(PAGE))
                .expect("grow")
        );
        assert_eq!(limiter.memory_used(), 0);
    }

    #[test]
    fn counts_name_their_flags() {
        let limits = Limits::new(PAGE, "--max-memory");
        let limiter = Limiter::new(limits.clone());
        let text = limits
            .explain(
                &limiter,
                "resource limit exceeded: instance count too high at 65",
            )
            .expect("explained");
        assert!(text.contains("--max-instances"), "{text}");
        assert!(limits.explain(&limiter, "some other error").is_none());
    }

    #[test]
    fn table_elements_are_capped() {
        let mut limits = Limits::new(PAGE, "--max-memory");
        limits.table_elements = 10;
        let mut limiter = Limiter::new(limits);
        assert!(limiter.table_growing(0, 8, None).expect("grow"));
        assert!(!limiter.table_growing(0, 8, None).expect("past the cap"));
        assert!(
            limiter
                .take_denial()
                .expect("denied")
                .contains("--max-table-elements")
        );
    }
}
