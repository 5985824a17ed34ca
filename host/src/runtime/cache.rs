//! The precompiled-component cache: the first start compiles a component and stores the
//! machine code; later starts load it instead of compiling again.
//!
//! A cache file is named by a SHA-256 over wasmtime's compatibility hash (version, target,
//! settings) and the component's bytes, and carries the SHA-256 of its own payload. A file
//! whose checksum does not match, or that wasmtime refuses, is ignored and rebuilt: nothing
//! is deserialized unless it is exactly what this process wrote for these bytes.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

/// The cache directory of this process (`--cache-dir`), `None` when caching is off.
static CACHE_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Sets the cache directory once, at start-up.
pub fn set_cache_dir(dir: Option<PathBuf>) {
    let _ = CACHE_DIR.set(dir);
}

/// The default cache directory: `$XDG_CACHE_HOME/eddy` or `~/.cache/eddy`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|base| base.join("eddy"))
}

/// Feeds `Hash` output into a SHA-256.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn cache_path(dir: &Path, engine: &Engine, bytes: &[u8]) -> PathBuf {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.update(Sha256::digest(bytes));
    dir.join(format!("{}.cwasm", hex(&hasher.0.finalize())))
}

/// Loads a cached compilation of `bytes`; why not, when it cannot.
fn load(engine: &Engine, path: &Path) -> Result<Component, String> {
    let file = std::fs::read(path).map_err(|e| e.to_string())?;
    let (checksum, payload) = file.split_at_checked(32).ok_or("too short")?;
    if Sha256::digest(payload).as_slice() != checksum {
        return Err("checksum mismatch (corrupt or not written by eddy)".into());
    }
    if Engine::detect_precompiled(payload) != Some(Precompiled::Component) {
        return Err("not a precompiled component".into());
    }
    // SAFETY: the payload is byte for byte what `store` wrote after compiling with this
    // engine's settings (checked by the SHA-256 above), and wasmtime checks the compatibility
    // of its header again.
    unsafe { Component::deserialize(engine, payload) }.map_err(|e| e.to_string())
}

/// Stores a compilation atomically (a temporary file, then a rename).
/// The compiled component is serialized, not compiled a second time.
fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let payload = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{}.tmp", std::process::id()));
    let mut file = Sha256::digest(&payload).to_vec();
    file.extend_from_slice(&payload);
    std::fs::write(&temporary, file)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// Compiles a component, through the cache when one is configured.
pub fn compile_cached(engine: &Engine, bytes: &[u8], name: &str) -> anyhow::Result<Component> {
    let Some(Some(dir)) = CACHE_DIR.get() else {
        return compile_logged(engine, bytes, name).map(|(component, _)| component);
    };
    let path = cache_path(dir, engine, bytes);
    if path.exists() {
        match load(engine, &path) {
            Ok(component) => {
                tracing::debug!("loaded {name} from the cache {}", path.display());
                return Ok(component);
            }
            Err(reason) => tracing::warn!(
                "ignoring the cache file {}: {reason}; rebuilding it",
                path.display()
            ),
        }
    }
    let (component, took) = compile_logged(engine, bytes, name)?;
    match store(&component, &path) {
        Ok(()) => tracing::info!(
            "compiled {name} in {took:.1?}; cached at {}",
            path.display()
        ),
        Err(error) => tracing::warn!(
            "compiled {name} in {took:.1?}; cannot write the cache file {}: {error}",
            path.display()
        ),
    }
    Ok(component)
}

/// Compiles with a log line before (name and size; this can take a minute for a large
/// component) and returns how long it took.
fn compile_logged(
    engine: &Engine,
    bytes: &[u8],
    name: &str,
) -> anyhow::Result<(Component, std::time::Duration)> {
    let size = bytes.len() as f64 / (1024.0 * 1024.0);
    tracing::info!("compiling {name} ({size:.1} MiB)");
    let started = std::time::Instant::now();
    let component = Component::new(engine, bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let took = started.elapsed();
    if CACHE_DIR.get().is_none_or(Option::is_none) {
        tracing::info!("compiled {name} in {took:.1?} (caching is off)");
    }
    Ok((component, took))
}
