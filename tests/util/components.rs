//! Builds Python and JavaScript plugin components from source with the real toolchains
//! (componentize-py, componentize-js), once per target directory.
//!
//! Every test binary that needs one calls [`python`] or [`javascript`]; the first caller builds
//! it with the repository's own build scripts (`examples/python/build`,
//! `examples/javascript/build`, which install the toolchains on demand), under a file lock, into
//! `target/lang-components/`. Later callers, in this run or the next, reuse it while its key (the
//! sources, the world, the build scripts and `wit/`) is unchanged. The 12–18 MiB components are
//! compiled by `eddy` once too: every server started through [`cache_dir`] shares one
//! `--cache-dir` in the target directory.

use std::fs::{self, File};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory (`CARGO_BIN_EXE_eddy` is `<target>/<profile>/eddy`).
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_eddy"))
        .ancestors()
        .nth(2)
        .expect("the eddy binary lives in <target>/<profile>/")
        .to_path_buf()
}

/// The compiled-component cache every language test passes as `--cache-dir`.
pub fn cache_dir() -> String {
    let dir = target_dir().join("lang-cache");
    fs::create_dir_all(&dir).expect("create the component cache");
    dir.to_str().expect("utf-8 target path").to_owned()
}

/// Builds the Python app in directory `app` (relative to the repository root) for `world`.
#[track_caller]
pub fn python(app: &str, world: &str) -> PathBuf {
    build("python", app, world)
}

/// Builds the JavaScript module `source` (relative to the repository root) for `world`.
#[track_caller]
pub fn javascript(source: &str, world: &str) -> PathBuf {
    build("javascript", source, world)
}

#[track_caller]
fn build(language: &str, source: &str, world: &str) -> PathBuf {
    let root = root();
    let out_dir = target_dir().join("lang-components");
    fs::create_dir_all(&out_dir).expect("create target/lang-components");
    let stem = Path::new(source)
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a source name");
    let name = format!(
        "{language}-{}-{stem}",
        world.replace([':', '/', '@'], "-").replace('.', "_")
    );
    let out = out_dir.join(format!("{name}.wasm"));
    let key_path = out_dir.join(format!("{name}.key"));
    let key = key(&root, language, source, world);

    let lock = File::create(out_dir.join(format!("{name}.lock"))).expect("create lock file");
    lock.lock().expect("lock the component build");
    if out.exists() && fs::read_to_string(&key_path).ok().as_deref() == Some(key.as_str()) {
        return out;
    }
    let script = root.join("examples").join(language).join("build");
    let output = Command::new(&script)
        .arg("-w")
        .arg(world)
        .arg("-o")
        .arg(&out)
        .arg(root.join(source))
        .env(
            "EDDY_TOOLS",
            std::env::var_os("EDDY_TOOLS").unwrap_or_else(|| target_dir().join("tools").into()),
        )
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        output.status.success() && out.exists(),
        "building {source} for {world} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    fs::write(&key_path, &key).expect("write the build key");
    out
}

/// A digest of everything the component depends on.
fn key(root: &Path, language: &str, source: &str, world: &str) -> String {
    let mut hasher = DefaultHasher::new();
    (language, world).hash(&mut hasher);
    let mut files = Vec::new();
    collect(&root.join(source), &mut files);
    collect(&root.join("wit"), &mut files);
    files.push(root.join("examples").join(language).join("build"));
    files.push(root.join("examples/toolchains"));
    files.sort();
    for file in files {
        file.hash(&mut hasher);
        fs::read(&file).unwrap_or_default().hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

fn collect(path: &Path, into: &mut Vec<PathBuf>) {
    match fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries.map_while(Result::ok) {
                let path = entry.path();
                // deps/ links back to io/ and http/: read those once, as themselves.
                if !fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                    collect(&path, into);
                }
            }
        }
        Err(_) => into.push(path.to_path_buf()),
    }
}
