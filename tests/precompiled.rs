//! Precompiled files (`eddy compile` output) are machine code that runs outside the sandbox:
//! eddy loads them only with `--allow-precompiled`, whatever their name and wherever they are
//! named (the command line, a config file, a reload), and logs every such load.

mod util;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use util::{Eddy, eddy, guest_arg, roundtrip};

const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";

/// A directory of its own for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-precompiled-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Precompiles the built component `name` to `output`.
#[track_caller]
fn precompile(name: &str, output: &Path) {
    let (code, _, stderr) = eddy(
        &["compile", &guest_arg(name), "-o", text(output)],
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(0), "{stderr}");
}

/// Runs `eddy ARGS...`, which must refuse to start: one line naming `file` and the flag.
#[track_caller]
fn assert_refused(args: &[&str], file: &Path) {
    let (code, _, stderr) = eddy(args, Duration::from_secs(30));
    assert_eq!(code, Some(1), "{args:?} started: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("eddy: "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(text(file)) && lines[0].contains("--allow-precompiled"),
        "{stderr}"
    );
}

#[test]
fn a_precompiled_file_is_refused_without_the_flag_whatever_its_name() {
    let dir = scratch("cli");
    // Named like a component: the bytes decide, not the name.
    let plugin = dir.join("innocent.wasm");
    precompile("hello", &plugin);
    let server = dir.join("server.wasm");
    precompile("http-server", &server);
    let program = dir.join("client.wasm");
    precompile("http-client", &program);
    let handler = format!("--handler={}", text(&plugin));
    assert_refused(&["serve", "--listen", "127.0.0.1:0", &handler], &plugin);
    assert_refused(
        &["serve", "--listen", "127.0.0.1:0", text(&server)],
        &server,
    );
    assert_refused(&["run", text(&program), "http://127.0.0.1:1/"], &program);

    // With the flag it loads, and says so.
    let eddy = Eddy::serve(&["--listen", "127.0.0.1:0", "--allow-precompiled", &handler]);
    assert_eq!(roundtrip(eddy.addr, GET).text(), "Hello, world!");
    let log = eddy.stderr();
    assert!(
        log.contains(&format!(
            "loading precompiled machine code from {}",
            text(&plugin)
        )),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A config file serving `component` (relative to the file) for every path.
fn config(dir: &Path, extra: &str, component: &str) -> PathBuf {
    let path = dir.join("eddy.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\nworkers = 1\n{extra}\n[[handler]]\nroute = \".*\"\ncomponent = \"{component}\"\n"
    );
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn a_precompiled_file_in_a_config_file_needs_the_flag_there_too() {
    let dir = scratch("config");
    let plugin = dir.join("innocent.wasm");
    precompile("hello", &plugin);
    let file = config(&dir, "", "innocent.wasm");
    assert_refused(&["serve", "--config", text(&file)], &plugin);
    let file = config(&dir, "allow-precompiled = true", "innocent.wasm");
    let eddy = Eddy::serve(&["--config", text(&file)]);
    assert_eq!(roundtrip(eddy.addr, GET).text(), "Hello, world!");
    assert!(eddy.stderr().contains("loading precompiled machine code"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_precompiled_file_swapped_in_before_a_reload_is_refused() {
    let dir = scratch("reload");
    let compiled = dir.join("compiled.bin");
    precompile("inspect", &compiled);
    let plugin = dir.join("plugin.wasm");
    std::fs::copy(util::guest("hello"), &plugin).expect("copy hello");
    let file = config(&dir, "", "plugin.wasm");
    let eddy = Eddy::serve(&["--config", text(&file)]);
    assert_eq!(roundtrip(eddy.addr, GET).text(), "Hello, world!");
    std::fs::copy(&compiled, &plugin).expect("swap in machine code");
    eddy.signal("HUP");
    let log = eddy.wait_stderr("handlers not reloaded");
    let line = log
        .lines()
        .find(|line| line.contains("handlers not reloaded"))
        .expect("the line");
    assert!(line.contains("--allow-precompiled"), "{line}");
    assert!(!log.contains("loading precompiled machine code"), "{log}");
    // The old code still answers, and the next reload is not stuck behind the refusal.
    assert_eq!(roundtrip(eddy.addr, GET).text(), "Hello, world!");
    std::fs::copy(util::guest("hello"), &plugin).expect("restore");
    eddy.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !eddy.stderr().contains("reloaded handlers") {
        assert!(Instant::now() < deadline, "{}", eddy.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
