//! The one wasmtime `Engine` of a process, its epoch ticker, and the deadlines counted in
//! epoch ticks.

use std::time::Duration;

use anyhow::anyhow;
use wasmtime::{Config, Engine};

/// How often the engine's epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The number of ticks covering `duration` (at least one).
pub(crate) fn ticks(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis().div_ceil(EPOCH_TICK.as_millis()))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Builds the one `Engine` a process uses, with its epoch ticker thread.
///
/// Every guest call runs under an epoch deadline: code that loops forever is interrupted
/// within its deadline plus one tick.
///
/// # Errors
/// wasmtime rejects the configuration (a host bug), or the ticker thread cannot start.
pub fn engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Synchronous calls only: with concurrency support on, every call pays for task bookkeeping.
    config.concurrency_support(false);
    config.epoch_interruption(true);
    // `EDDY_PERF_MAP=1` names guest functions in `perf report` (a /tmp/perf-PID.map file).
    if std::env::var_os("EDDY_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config).map_err(|e| anyhow!("{e}"))?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("eddy-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks() {
        assert_eq!(ticks(Duration::ZERO), 1);
        assert_eq!(ticks(Duration::from_millis(10)), 1);
        assert_eq!(ticks(Duration::from_millis(11)), 2);
        assert_eq!(ticks(Duration::from_secs(10)), 1000);
    }
}
