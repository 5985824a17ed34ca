//! Trusting the compile cache's directory and files the way ssh trusts `~/.ssh`: the cache
//! holds machine code eddy runs, so whoever can write it can run code in eddy's process.
//!
//! The directory must be owned by the user eddy runs as and writable by nobody else, and so
//! must every directory above it (root may own those, and a world-writable one with the
//! sticky bit, like `/tmp`, is fine: others cannot rename or replace entries there). Files
//! are created exclusively, never through a symbolic link, readable by their owner only, and a
//! cache file is loaded only if it is a regular file of eddy's user that nobody else can write.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode bits that let the group or others write.
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// The sticky bit: in such a directory only an entry's owner may rename or remove it.
const STICKY: u32 = 0o1000;

/// The number in the next temporary file's name.
static NEXT_TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// The user eddy runs as.
fn user() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates `dir` (readable by its owner only) when missing, then checks that it can be
/// trusted with machine code.
///
/// # Errors
/// One sentence naming the directory (or the one above it) that others can write or that
/// another user owns, and what to do.
pub fn prepare(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create the cache directory {}: {e}", dir.display()))?;
    let real = dir
        .canonicalize()
        .map_err(|e| format!("cannot open the cache directory {}: {e}", dir.display()))?;
    let metadata = std::fs::metadata(&real)
        .map_err(|e| format!("cannot open the cache directory {}: {e}", dir.display()))?;
    if !metadata.is_dir() {
        return Err(format!(
            "the cache directory {} is not a directory",
            dir.display()
        ));
    }
    if metadata.uid() != user() {
        return Err(format!(
            "the cache directory {} belongs to another user (uid {}): whoever owns it can run code in eddy",
            real.display(),
            metadata.uid()
        ));
    }
    if metadata.mode() & WRITABLE_BY_OTHERS != 0 {
        return Err(format!(
            "the cache directory {} is writable by others (mode {:o}): whoever can write it can run code in eddy; run chmod go-w on it",
            real.display(),
            metadata.mode() & 0o7777
        ));
    }
    for parent in real.ancestors().skip(1) {
        check_parent(parent)?;
    }
    Ok(())
}

/// A directory above the cache: eddy's user's or root's, and not writable by others unless
/// it is sticky.
fn check_parent(parent: &Path) -> Result<(), String> {
    let metadata = std::fs::metadata(parent)
        .map_err(|e| format!("cannot check {} above the cache: {e}", parent.display()))?;
    let owner = metadata.uid();
    if owner != user() && owner != 0 {
        return Err(format!(
            "{} above the cache directory belongs to another user (uid {owner}), who could replace the cache",
            parent.display()
        ));
    }
    let mode = metadata.mode();
    if mode & WRITABLE_BY_OTHERS != 0 && mode & STICKY == 0 {
        return Err(format!(
            "{} above the cache directory is writable by others (mode {:o}), who could replace the cache",
            parent.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

/// Opens a cache file for reading, if it is one eddy can trust: a regular file (not a link)
/// of eddy's user that nobody else can write.
///
/// # Errors
/// The file cannot be opened, or why it is not trusted.
pub fn open_trusted(path: &Path) -> Result<File, String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    if metadata.uid() != user() || metadata.mode() & WRITABLE_BY_OTHERS != 0 {
        return Err(format!(
            "not a private file of eddy's user (uid {}, mode {:o})",
            metadata.uid(),
            metadata.mode() & 0o7777
        ));
    }
    Ok(file)
}

/// Creates a new temporary file in `dir`, readable by its owner only: exclusively
/// (`O_EXCL`) and never through a symbolic link (`O_NOFOLLOW`), so a name planted in
/// advance is skipped, not followed.
///
/// # Errors
/// The file cannot be created under any of the names tried.
pub fn create_temporary(dir: &Path) -> io::Result<(PathBuf, File)> {
    let mut last = io::Error::other("no name tried");
    for _ in 0..16 {
        let path = dir.join(temporary_name(
            NEXT_TEMPORARY.fetch_add(1, Ordering::Relaxed),
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last = error,
            Err(error) => return Err(error),
        }
    }
    Err(last)
}

/// The name of temporary file number `n` of this process.
fn temporary_name(n: u64) -> String {
    let pid = std::process::id();
    if n == 0 {
        format!(".{pid}.tmp")
    } else {
        format!(".{pid}.{n}.tmp")
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("eddy-cache-dir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_directory_is_private_and_one_others_can_write_is_refused() {
        let dir = scratch("modes");
        let cache = dir.join("a/b");
        prepare(&cache).expect("a fresh directory");
        let mode = std::fs::metadata(&cache).expect("made").mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let error = prepare(&cache).expect_err("world-writable");
        assert!(error.contains("writable by others"), "{error}");
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::set_permissions(dir.join("a"), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let error = prepare(&cache).expect_err("a parent others can write");
        assert!(error.contains("above the cache directory"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn temporary_files_skip_planted_links() {
        let dir = scratch("links");
        prepare(&dir).expect("dir");
        let target = dir.join("target");
        std::fs::write(&target, b"keep me").expect("target");
        // The next names this process would try are taken by links.
        let next = NEXT_TEMPORARY.load(Ordering::Relaxed);
        for n in next..next + 4 {
            std::os::unix::fs::symlink(&target, dir.join(temporary_name(n))).expect("plant");
        }
        let (path, file) = create_temporary(&dir).expect("a free name");
        drop(file);
        assert!(!std::fs::symlink_metadata(&path).expect("made").is_symlink());
        assert_eq!(std::fs::read(&target).expect("target"), b"keep me");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
