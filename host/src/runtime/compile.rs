//! Compiling components: the kind and the imports are checked by name first (milliseconds),
//! then the component is compiled (through the cache) or, only with `--allow-precompiled`, a
//! precompiled one loaded.
//!
//! A precompiled file (`eddy compile` output) is machine code: it runs outside the sandbox, as
//! trusted as the eddy binary. It is recognised by its bytes, whatever its name, so without the
//! flag every such file is refused, and with it every load is logged.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::anyhow;
use wasmtime::Engine;
use wasmtime::component::Component;

use super::cache;
use super::inspect::{self, Kind};

/// Whether precompiled files may be loaded (`--allow-precompiled`), set once at start-up.
static ALLOW_PRECOMPILED: AtomicBool = AtomicBool::new(false);

/// Allows (or refuses) loading precompiled components from now on (`--allow-precompiled`).
pub fn set_allow_precompiled(allow: bool) {
    ALLOW_PRECOMPILED.store(allow, Ordering::Relaxed);
}

/// Refuses precompiled bytes unless `--allow-precompiled` was given; logs every load it
/// allows.
fn admit_precompiled(name: &str) -> anyhow::Result<()> {
    if !ALLOW_PRECOMPILED.load(Ordering::Relaxed) {
        anyhow::bail!(
            "{name} is precompiled machine code, which runs outside the sandbox: eddy loads it only with --allow-precompiled (or give it the .wasm component)"
        );
    }
    tracing::warn!(
        "loading precompiled machine code from {name} (--allow-precompiled): it runs outside the sandbox"
    );
    Ok(())
}

/// Compiles a component that must be one of `kinds`: a `.wasm` file's import and export names
/// are checked *before* compiling, so a wrong file is refused at once.
pub(super) fn compile(
    engine: &Engine,
    bytes: &[u8],
    name: &str,
    kinds: &[Kind],
) -> anyhow::Result<(Component, Kind)> {
    if Engine::detect_precompiled(bytes).is_some() {
        admit_precompiled(name)?;
        // SAFETY: the operator vouched for precompiled files with --allow-precompiled: they
        // are trusted like the binary itself; wasmtime checks they match this engine's settings.
        let component = unsafe { Component::deserialize(engine, bytes) }
            .map_err(|e| anyhow!("{name} is a precompiled component this eddy cannot load: {e}"))?;
        let ty = component.component_type();
        let shape = inspect::Shape {
            imports: ty.imports(engine).map(|(n, _)| n.to_owned()).collect(),
            exports: ty.exports(engine).map(|(n, _)| n.to_owned()).collect(),
        };
        let kind = inspect::check(&shape, kinds).map_err(|e| anyhow!("{name} {e}"))?;
        return Ok((component, kind));
    }
    let shape = inspect::shape(bytes).map_err(|e| anyhow!("{name} {e}"))?;
    let kind = inspect::check(&shape, kinds).map_err(|e| anyhow!("{name} {e}"))?;
    let component = cache::compile_cached(engine, bytes, name)
        .map_err(|e| anyhow!("{name} is not a valid WebAssembly component: {e}"))?;
    Ok((component, kind))
}

/// Checks by name, without compiling, that `bytes` are a plugin of either kind importing only
/// what plugins are given.
///
/// # Errors
/// One sentence, starting with `name`, saying what the bytes are instead.
pub fn check_plugin(bytes: &[u8], name: &str) -> anyhow::Result<()> {
    if Engine::detect_precompiled(bytes).is_some() {
        if !ALLOW_PRECOMPILED.load(Ordering::Relaxed) {
            return admit_precompiled(name);
        }
        // Checked on the compiled component's types when it is loaded.
        return Ok(());
    }
    let shape = inspect::shape(bytes).map_err(|e| anyhow!("{name} {e}"))?;
    inspect::check(&shape, &[Kind::EddyPlugin, Kind::WasiHttpPlugin])
        .map(drop)
        .map_err(|e| anyhow!("{name} {e}"))
}

/// The names of everything a component imports, read without compiling it.
///
/// # Errors
/// The bytes are not a component.
pub fn component_imports(bytes: &[u8]) -> anyhow::Result<Vec<String>> {
    Ok(inspect::shape(bytes).map_err(|e| anyhow!("{e}"))?.imports)
}
