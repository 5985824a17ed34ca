//! Why a plugin call produced no response.

/// Why a call produced no response.
pub enum CallError {
    /// The guest trapped: its Store is poisoned.
    Trap(wasmtime::Error),
    /// The guest returned without a usable response, or its body broke off (a 500, or a cut
    /// response; the instance is dropped).
    Failed(String),
    /// No response head by the deadline (`--handler-timeout`).
    TimedOut,
}
