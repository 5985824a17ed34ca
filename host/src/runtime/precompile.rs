//! `eddy compile`: a server guest or a plugin of either kind, compiled for this engine and
//! checked by linking it, then serialized.

use anyhow::anyhow;
use wasmtime::Engine;

use super::compile::compile;
use super::inspect::Kind;
use super::plugin_program::PluginProgram;
use super::program::Program;

/// Precompiles a component for this engine (`eddy compile`): a server guest or a plugin of
/// either kind, checked (names first, then the linker) before its machine code is written.
///
/// # Errors
/// The bytes are not a component eddy runs.
pub fn precompile(engine: &Engine, bytes: &[u8], name: &str) -> anyhow::Result<Vec<u8>> {
    let kinds = [Kind::Server, Kind::EddyPlugin, Kind::WasiHttpPlugin];
    let (component, kind) = compile(engine, bytes, name, &kinds)?;
    match kind {
        Kind::Server => drop(Program::from_component(engine, &component, name)?),
        Kind::EddyPlugin | Kind::WasiHttpPlugin => {
            drop(PluginProgram::from_component(
                engine, &component, kind, name,
            )?);
        }
    }
    component.serialize().map_err(|e| anyhow!("{e}"))
}
