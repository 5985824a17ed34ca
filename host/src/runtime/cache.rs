//! The precompiled-component cache: the first start compiles a component and stores the
//! machine code; later starts load it instead of compiling again.
//!
//! A cache file is named by a SHA-256 over wasmtime's compatibility hash (version, target,
//! settings) and the component's bytes. Inside, it carries the SHA-256 of the component it
//! was compiled from, then the machine code, all under a SHA-256 checksum. A file whose
//! checksum does not match, that was compiled from other bytes (a file copied over another's
//! name), or that wasmtime refuses, is ignored and rebuilt: nothing is deserialized unless it
//! is what eddy wrote for exactly these bytes.
//!
//! The checksum detects accidents, not attacks: whoever can write the cache directory can run
//! code in eddy's process (the machine code is trusted like the binary). So the directory is
//! checked like ssh checks `~/.ssh` (see [`super::cache_dir`]): eddy's user's own, writable by
//! nobody else, with files created exclusively and never through a link.

use std::hash::{Hash, Hasher};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

use super::cache_dir;

/// The cache directory of this process (`--cache-dir`), `None` when caching is off.
static CACHE_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Sets the cache directory once, at start-up, after creating it (private to eddy's user)
/// if it is missing and checking that nobody else can write it.
///
/// # Errors
/// The directory cannot be made, or others can write it or a directory above it; caching
/// stays off then.
pub fn set_cache_dir(dir: Option<PathBuf>) -> Result<(), String> {
    let checked = match dir {
        Some(dir) => match cache_dir::prepare(&dir) {
            Ok(()) => Some(dir),
            Err(error) => {
                let _ = CACHE_DIR.set(None);
                return Err(error);
            }
        },
        None => None,
    };
    let _ = CACHE_DIR.set(checked);
    Ok(())
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

fn cache_path(dir: &Path, engine: &Engine, source: &[u8]) -> PathBuf {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.update(source);
    dir.join(format!("{}.cwasm", hex(&hasher.0.finalize())))
}

/// Loads a cached compilation of the component whose SHA-256 is `source`; why not, when it
/// cannot.
fn load(engine: &Engine, path: &Path, source: &[u8]) -> Result<Component, String> {
    let mut file = Vec::new();
    cache_dir::open_trusted(path)?
        .read_to_end(&mut file)
        .map_err(|e| e.to_string())?;
    let (checksum, rest) = file.split_at_checked(32).ok_or("too short")?;
    if Sha256::digest(rest).as_slice() != checksum {
        return Err("checksum mismatch (corrupt or not written by eddy)".into());
    }
    let (compiled_from, payload) = rest.split_at_checked(32).ok_or("too short")?;
    if compiled_from != source {
        return Err("it was compiled from another component".into());
    }
    if Engine::detect_precompiled(payload) != Some(Precompiled::Component) {
        return Err("not a precompiled component".into());
    }
    // SAFETY: the payload is byte for byte what `store` wrote after compiling with this
    // engine's settings (checked by the SHA-256 above), and wasmtime checks the compatibility
    // of its header again.
    unsafe { Component::deserialize(engine, payload) }.map_err(|e| e.to_string())
}

/// Stores a compilation atomically: a temporary file made exclusively (a name planted in
/// advance is skipped, never followed), then a rename over the entry. The compiled component
/// is serialized, not compiled a second time.
fn store(component: &Component, source: &[u8], path: &Path) -> anyhow::Result<()> {
    let payload = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut rest = source.to_vec();
    rest.extend_from_slice(&payload);
    let mut bytes = Sha256::digest(&rest).to_vec();
    bytes.extend_from_slice(&rest);
    let (temporary, mut file) = cache_dir::create_temporary(dir)?;
    let written = file
        .write_all(&bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    Ok(written?)
}

/// Compiles a component, through the cache when one is configured.
pub fn compile_cached(engine: &Engine, bytes: &[u8], name: &str) -> anyhow::Result<Component> {
    let Some(Some(dir)) = CACHE_DIR.get() else {
        return compile_logged(engine, bytes, name).map(|(component, _)| component);
    };
    let source = Sha256::digest(bytes);
    let path = cache_path(dir, engine, &source);
    if std::fs::symlink_metadata(&path).is_ok() {
        match load(engine, &path, &source) {
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
    match store(&component, &source, &path) {
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
