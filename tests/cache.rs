//! The precompiled-component cache: written on the first start, loaded on the next, and a
//! corrupt file is ignored and rebuilt, never loaded.

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
