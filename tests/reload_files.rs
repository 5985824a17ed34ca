//! SIGHUP reloads read only regular files under a size cap: a key pointed at `/dev/zero` or
//! a FIFO fails at once with one line, and the next reload works. A component swapped for
//! another of the same size and modification time is a change (decided by content hash).

mod util;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use util::tls_proxy::test_cert;
use util::{Eddy, roundtrip};

const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";

/// A directory of its own for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-reload-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Makes a FIFO at `path`.
fn fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Points the link at `path` to `target`.
fn relink(path: &Path, target: &Path) {
    let _ = std::fs::remove_file(path);
    std::os::unix::fs::symlink(target, path).expect("link");
}

/// Sends SIGHUP and waits until the log holds `count` lines containing `needle`; fails as
/// soon as the server grows by 64 MiB meanwhile (a reload reading a device without end).
#[track_caller]
fn reload_and_wait(eddy: &Eddy, needle: &str, count: usize) -> String {
    let rss = eddy.rss();
    eddy.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            eddy.rss() < rss + (64 << 20),
            "the reload grew the server from {} to {} MiB",
            rss >> 20,
            eddy.rss() >> 20
        );
        let log = eddy.stderr();
        if log.lines().filter(|line| line.contains(needle)).count() >= count {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no {count} lines with {needle:?} after SIGHUP:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_key_pointed_at_dev_zero_or_a_fifo_fails_its_reload_and_the_next_one_works() {
    let dir = scratch("tls");
    let cert = test_cert();
    let key = dir.join("key.pem");
    relink(&key, &cert.key);
    let eddy = Eddy::serve(&[
        "--listen-tls",
        "127.0.0.1:0",
        "--tls-cert",
        text(&cert.cert),
        "--tls-key",
        text(&key),
    ]);
    relink(&key, Path::new("/dev/zero"));
    let log = reload_and_wait(&eddy, "TLS certificates not reloaded", 1);
    assert!(
        log.contains("not a regular file (a character device)"),
        "{log}"
    );
    let fifo_key = dir.join("key.fifo");
    fifo(&fifo_key);
    relink(&key, &fifo_key);
    let log = reload_and_wait(&eddy, "TLS certificates not reloaded", 2);
    assert!(log.contains("not a regular file (a FIFO)"), "{log}");
    relink(&key, &cert.key);
    reload_and_wait(&eddy, "reloaded TLS certificates", 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A config file serving `plugin.wasm` (next to it) for every path.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("eddy.toml");
    let text = "listen = \"127.0.0.1:0\"\nworkers = 1\n\n[[handler]]\nroute = \".*\"\ncomponent = \"plugin.wasm\"\n";
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn a_fifo_in_place_of_the_config_file_or_a_component_fails_its_reload_only() {
    let dir = scratch("fifo");
    let file = config(&dir);
    let plugin = dir.join("plugin.wasm");
    std::fs::copy(util::guest("hello"), &plugin).expect("copy");
    let eddy = Eddy::serve(&["--config", text(&file)]);
    let saved = std::fs::read(&file).expect("config");
    fifo(&file);
    let log = reload_and_wait(&eddy, "handlers not reloaded", 1);
    assert!(log.contains("not a regular file (a FIFO)"), "{log}");
    std::fs::remove_file(&file).expect("remove the FIFO");
    std::fs::write(&file, &saved).expect("config");
    fifo(&plugin);
    let log = reload_and_wait(&eddy, "handlers not reloaded", 2);
    assert!(log.contains("cannot read plugin"), "{log}");
    assert_eq!(roundtrip(eddy.addr, GET).text(), "Hello, world!");
    std::fs::remove_file(&plugin).expect("remove the FIFO");
    std::fs::copy(util::guest("inspect"), &plugin).expect("copy");
    reload_and_wait(&eddy, "reloaded handlers", 1);
    assert!(roundtrip(eddy.addr, GET).text().contains("\"path\""));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `component` grown to exactly `size` bytes with a custom section at its end.
fn padded(component: &[u8], size: usize) -> Vec<u8> {
    let leb = |mut n: usize| {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    };
    let name = b"padding";
    for length_bytes in 1..=5 {
        let section = size - component.len() - 1 - length_bytes;
        if leb(section).len() != length_bytes {
            continue;
        }
        let payload = section - 1 - name.len();
        let mut out = component.to_vec();
        out.push(0);
        out.extend(leb(section));
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.resize(size, b'.');
        assert_eq!(
            out.len(),
            component.len() + 1 + length_bytes + 1 + name.len() + payload
        );
        return out;
    }
    panic!("no padding reaches {size} bytes");
}

/// `hello` and `inspect`, padded to the same size.
fn same_size_pair() -> (Vec<u8>, Vec<u8>) {
    let hello = std::fs::read(util::guest("hello")).expect("hello");
    let inspect = std::fs::read(util::guest("inspect")).expect("inspect");
    let size = hello.len().max(inspect.len()) + 1024;
    (padded(&hello, size), padded(&inspect, size))
}

#[test]
fn a_component_swapped_for_one_of_the_same_size_and_time_is_compiled_anew() {
    let dir = scratch("swap");
    let file = config(&dir);
    let (hello, inspect) = same_size_pair();
    let plugin = dir.join("plugin.wasm");
    std::fs::write(&plugin, &hello).expect("write");
    let eddy = Eddy::serve(&["--config", text(&file)]);
    assert_eq!(roundtrip(eddy.addr, GET).text(), "Hello, world!");
    // As `cp -p` does: other bytes, same size, same modification time.
    let modified = std::fs::metadata(&plugin)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(&plugin, &inspect).expect("swap");
    set_modified(&plugin, modified);
    let log = reload_and_wait(&eddy, "reloaded handlers", 1);
    assert!(log.contains("1 handlers, 1 compiled anew"), "{log}");
    assert!(roundtrip(eddy.addr, GET).text().contains("\"path\""));

    // A link switched between two files of the same size and time.
    let (a, b) = (dir.join("a.wasm"), dir.join("b.wasm"));
    std::fs::write(&a, &inspect).expect("a");
    std::fs::write(&b, &hello).expect("b");
    set_modified(&a, modified);
    set_modified(&b, modified);
    relink(&plugin, &a);
    let log = reload_and_wait(&eddy, "reloaded handlers", 2);
    assert!(
        log.contains("1 handlers, 0 compiled anew"),
        "same bytes: {log}"
    );
    relink(&plugin, &b);
    let log = reload_and_wait(&eddy, "reloaded handlers", 3);
    assert_eq!(
        log.matches("1 handlers, 1 compiled anew").count(),
        2,
        "{log}"
    );
    assert_eq!(roundtrip(eddy.addr, GET).text(), "Hello, world!");
    let _ = std::fs::remove_dir_all(&dir);
}

fn set_modified(path: &Path, time: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(time))
        .expect("set the modification time");
}
