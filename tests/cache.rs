//! The precompiled-component cache: written on the first start, loaded on the next, and a
//! corrupt file is ignored and rebuilt, never loaded. A directory others can write is
//! refused, and a link planted in it is never followed.

mod util;

use std::path::{Path, PathBuf};

use util::Guest::{Embedded, Handlers};
use util::{Eddy, roundtrip};

fn cache_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-cache-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn cached_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

fn serve(dir: &Path) -> Eddy {
    let dir = dir.to_str().expect("utf-8 path");
    let server = Eddy::serve_guest(Embedded, &["--cache-dir", dir]);
    assert_eq!(
        roundtrip(server.addr, b"GET /c HTTP/1.1\r\nHost: a\r\n\r\n").text(),
        "You requested /c\n"
    );
    server
}

#[test]
fn the_first_start_fills_the_cache_and_the_next_loads_it() {
    let dir = cache_dir("fill");
    drop(serve(&dir));
    let files = cached_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let written = std::fs::metadata(&files[0])
        .and_then(|m| m.modified())
        .expect("mtime");
    drop(serve(&dir));
    let again = std::fs::metadata(&files[0])
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(
        written, again,
        "a valid cache file is loaded, not rewritten"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_cache_file_is_ignored_and_rebuilt() {
    let dir = cache_dir("corrupt");
    drop(serve(&dir));
    let file = cached_files(&dir).pop().expect("a cache file");
    let mut bytes = std::fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).expect("corrupt it");
    let server = serve(&dir);
    assert!(
        server.stderr().contains("ignoring the cache file"),
        "{}",
        server.stderr()
    );
    drop(server);
    let rebuilt = std::fs::read(&file).expect("read");
    assert_ne!(rebuilt, bytes, "the corrupt file was rebuilt");
    // A file from elsewhere (not written by eddy) is refused the same way.
    std::fs::write(
        &file,
        b"\x7fELF not a cache file at all, but long enough to have a checksum",
    )
    .expect("write");
    let server = serve(&dir);
    assert!(
        server.stderr().contains("ignoring the cache file"),
        "{}",
        server.stderr()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cache_file_copied_over_another_components_is_rejected_and_rebuilt() {
    let serve_plugin = |dir: &Path, plugin: &str| {
        let dir = dir.to_str().expect("utf-8 path");
        Eddy::serve_guest(Handlers(&[plugin]), &["--cache-dir", dir])
    };
    let hello_dir = cache_dir("swap-hello");
    let inspect_dir = cache_dir("swap-inspect");
    drop(serve_plugin(&hello_dir, "hello"));
    drop(serve_plugin(&inspect_dir, "inspect"));
    let name = |path: &PathBuf| path.file_name().expect("name").to_owned();
    let hello_files: Vec<_> = cached_files(&hello_dir).iter().map(name).collect();
    let inspect_files: Vec<_> = cached_files(&inspect_dir).iter().map(name).collect();
    // Both directories hold the server guest's entry; the other one is the plugin's.
    let hello_entry = hello_files
        .iter()
        .find(|f| !inspect_files.contains(f))
        .expect("hello's entry");
    let inspect_entry = inspect_files
        .iter()
        .find(|f| !hello_files.contains(f))
        .expect("inspect's entry");
    std::fs::copy(inspect_dir.join(inspect_entry), hello_dir.join(hello_entry))
        .expect("copy inspect's machine code over hello's entry");

    let server = serve_plugin(&hello_dir, "hello");
    let response = roundtrip(server.addr, b"GET /who HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(response.text(), "Hello, world!", "hello's own code answers");
    let log = server.stderr();
    assert!(
        log.contains("compiled from another component"),
        "the swap is reported:\n{log}"
    );
    drop(server);
    // The entry was rebuilt from hello's bytes: the next start loads it without complaint.
    let server = serve_plugin(&hello_dir, "hello");
    assert!(!server.stderr().contains("ignoring the cache file"));
    let _ = std::fs::remove_dir_all(&hello_dir);
    let _ = std::fs::remove_dir_all(&inspect_dir);
}

#[test]
fn a_cache_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = cache_dir("shared");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let path = dir.to_str().expect("utf-8 path");
    let (code, _, stderr) = util::eddy(
        &["serve", "--listen", "127.0.0.1:0", "--cache-dir", path],
        std::time::Duration::from_secs(30),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("eddy: the cache directory") && stderr.contains("writable by others"),
        "{stderr}"
    );
    // A private directory below one that others can write (and that is not sticky, as /tmp
    // is) is refused too: they could rename it away and put their own in its place.
    let inner = dir.join("inner");
    std::fs::create_dir(&inner).expect("inner");
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let (code, _, stderr) = util::eddy(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cache-dir",
            inner.to_str().expect("utf-8 path"),
        ],
        std::time::Duration::from_secs(30),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("above the cache directory"), "{stderr}");
    // Made private, it is used.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    drop(serve(&dir));
    assert_eq!(cached_files(&dir).len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_planted_temporary_file_link_is_not_followed() {
    let dir = cache_dir("planted");
    std::fs::create_dir_all(&dir).expect("dir");
    let victim = dir.with_extension("victim");
    std::fs::write(&victim, b"not eddy's to overwrite").expect("victim");
    // The temporary file's first name is `.PID.tmp`: plant a link under that name for every
    // process id the server may get.
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .expect("ns_last_pid")
        .trim()
        .parse()
        .expect("a pid");
    let window = last + 1..=last + 5000;
    for pid in window.clone() {
        std::os::unix::fs::symlink(&victim, dir.join(format!(".{pid}.tmp"))).expect("plant");
    }
    let server = serve(&dir);
    assert!(
        window.contains(&server.pid()),
        "the server's pid {} fell outside the planted window {window:?}",
        server.pid()
    );
    drop(server);
    assert_eq!(
        std::fs::read(&victim).expect("victim"),
        b"not eddy's to overwrite",
        "the link was followed"
    );
    let files = cached_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        !std::fs::symlink_metadata(&files[0])
            .expect("entry")
            .is_symlink(),
        "the entry is a file of its own"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&victim);
}
