//! `eddy serve --config FILE`: a file-configured server answers as the flag-configured one,
//! flags and the environment win over the file, mistakes refuse to start with the file's
//! line, and the `[guest]` and `[plugins.NAME]` tables reach the guest and the plugins.

mod util;

use std::path::PathBuf;
use std::time::Duration;

use util::Guest::{Embedded, Handlers};
use util::{
    Eddy, eddy, guest, guest_arg, is_closed_by_peer, read_exact, read_response, roundtrip,
    write_all,
};

/// A directory of its own for one test's config file and component links.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-config-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes `text` to `DIR/eddy.toml` and links the named components into `DIR`, so the file
/// can name them by relative paths (`inspect.wasm`).
fn config_file(test: &str, text: &str, components: &[&str]) -> String {
    let dir = scratch(test);
    for name in components {
        std::os::unix::fs::symlink(guest(name), dir.join(format!("{name}.wasm")))
            .expect("link component");
    }
    let path = dir.join("eddy.toml");
    std::fs::write(&path, text).expect("write config");
    path.to_str().expect("utf-8 path").to_owned()
}

const SMALL_HEAD_AND_INSPECT: &str = r#"# Everything the flags of `same_as_flags` say.
listen = "127.0.0.1:0"
workers = 1
max-header-size = "1KiB"

[[handler]]
route = "/api/.*"
component = "inspect.wasm"
"#;

fn big_header_request() -> Vec<u8> {
    format!(
        "GET /api/x HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(2048)
    )
    .into_bytes()
}

const GET_API: &[u8] = b"GET /api/x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n";
const GET_OTHER: &[u8] = b"GET /other HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn a_file_configured_server_answers_as_the_flag_configured_one() {
    let path = config_file("same", SMALL_HEAD_AND_INSPECT, &["inspect"]);
    let from_file = Eddy::serve(&["--config", &path]);
    let from_flags = Eddy::serve_guest(
        Handlers(&["/api/.*=inspect"]),
        &["--workers", "1", "--max-header-size", "1KiB"],
    );
    for request in [GET_API.to_vec(), GET_OTHER.to_vec(), big_header_request()] {
        let (a, b) = (
            roundtrip(from_file.addr, &request),
            roundtrip(from_flags.addr, &request),
        );
        assert_eq!((a.status, &a.body), (b.status, &b.body), "{}", a.head);
    }
    assert_eq!(roundtrip(from_file.addr, GET_API).status, 200);
    assert_eq!(roundtrip(from_file.addr, GET_OTHER).status, 404);
    assert_eq!(roundtrip(from_file.addr, &big_header_request()).status, 431);
}

#[test]
fn the_environment_and_flags_win_over_the_file() {
    let path = config_file("precedence", SMALL_HEAD_AND_INSPECT, &["inspect"]);
    let limit = Duration::from_secs(60);
    let env = Eddy::serve_with_env(
        &["--config", &path],
        &[("EDDY_MAX_HEADER_SIZE", "64KiB")],
        limit,
    );
    assert_eq!(roundtrip(env.addr, &big_header_request()).status, 200);
    let flag = Eddy::serve(&["--config", &path, "--max-header-size", "64KiB"]);
    assert_eq!(roundtrip(flag.addr, &big_header_request()).status, 200);
    // A flag's handlers replace the file's list.
    let hello = format!("/other={}", guest_arg("hello"));
    let replaced = Eddy::serve(&["--config", &path, "--handler", &hello]);
    assert_eq!(roundtrip(replaced.addr, GET_API).status, 404);
    assert_eq!(roundtrip(replaced.addr, GET_OTHER).text(), "Hello, world!");
}

/// Runs `eddy serve --config FILE` with `text` and returns its exit code and stderr.
fn refused(test: &str, text: &str) -> (Option<i32>, String) {
    let path = config_file(test, text, &[]);
    let (code, _, stderr) = eddy(&["serve", "--config", &path], Duration::from_secs(30));
    (code, stderr)
}

#[track_caller]
fn assert_one_line(stderr: &str, needles: &[&str]) {
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing from {stderr}");
    }
}

#[test]
fn an_unknown_key_refuses_to_start_with_its_line() {
    let (code, stderr) = refused("unknown", "workers = 1\n\nlisten-on = \"127.0.0.1:0\"\n");
    assert_ne!(code, Some(0));
    assert_one_line(&stderr, &["eddy.toml:3:", "\"listen-on\"", "unknown key"]);
}

#[test]
fn a_wrong_type_or_value_refuses_to_start_with_its_line() {
    let (code, stderr) = refused("type", "listen = \"127.0.0.1:0\"\ngzip = \"yes\"\n");
    assert_ne!(code, Some(0));
    assert_one_line(&stderr, &["eddy.toml:2:", "\"gzip\"", "true or false"]);
    let (code, stderr) = refused("value", "# sizes\n\nmax-body-size = \"ten\"\n");
    assert_ne!(code, Some(0));
    assert_one_line(
        &stderr,
        &[
            "eddy.toml:3:",
            "\"max-body-size\"",
            "\"ten\" is not a byte count",
        ],
    );
    let (code, stderr) = refused("syntax", "workers = 1\nlisten = [\n");
    assert_ne!(code, Some(0));
    assert_one_line(&stderr, &["eddy.toml:"]);
    let (code, stderr) = refused("address", "workers = 1\nlisten = [\"127.0.0.1:99999\"]\n");
    assert_ne!(code, Some(0));
    assert_one_line(
        &stderr,
        &["eddy.toml:2:", "\"listen\"", "the port must be a number"],
    );
    let (code, stderr) = refused(
        "route",
        "[[handler]]\ncomponent = \"hello.wasm\"\nroute = \"/api/(\"\n",
    );
    assert_ne!(code, Some(0));
    assert_one_line(
        &stderr,
        &[
            "eddy.toml:3:",
            "\"handler.route\"",
            "not a regex: unclosed group",
        ],
    );
}

#[test]
fn the_guest_table_reaches_the_guest_and_its_arguments_win() {
    let text = "listen = \"127.0.0.1:0\"\ncomponent = \"echo.wasm\"\n\n[guest]\nmax-line = \"8\"\n";
    let path = config_file("guest", text, &["echo"]);
    let short = Eddy::serve(&["--config", &path]);
    let mut conn = short.connect();
    write_all(&mut conn, b"a line longer than eight bytes\n");
    assert!(is_closed_by_peer(&mut conn), "[guest] max-line applies");

    let long = Eddy::serve(&["--config", &path, "--", "--max-line=1KiB"]);
    let mut conn = long.connect();
    write_all(&mut conn, b"a line longer than eight bytes\n");
    assert_eq!(
        read_exact(&mut conn, 31),
        b"a line longer than eight bytes\n"
    );

    let bad = "listen = \"127.0.0.1:0\"\ncomponent = \"echo.wasm\"\n[guest]\nmax-lines = 1\n";
    let path = config_file("guest-bad", bad, &["echo"]);
    let (code, _, stderr) = eddy(&["serve", "--config", &path], Duration::from_secs(60));
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("max-lines in the config file's [guest] table"),
        "{stderr}"
    );
}

#[test]
fn the_default_server_shows_help_and_refuses_unknown_options() {
    let (code, stdout, stderr) = eddy(
        &["serve", "--listen", "127.0.0.1:0", "--", "--help"],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&stdout);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("no options of its own"), "{stdout}");
    assert!(stdout.contains("--help"), "{stdout}");
    let (code, _, stderr) = eddy(
        &["serve", "--listen", "127.0.0.1:0", "--", "--bogus"],
        Duration::from_secs(60),
    );
    assert_ne!(code, Some(0));
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("unknown option --bogus"), "{stderr}");
}

#[test]
fn a_plugins_table_reaches_its_plugin_through_wasi_config() {
    let text = r#"listen = "127.0.0.1:0"

[[handler]]
component = "wasi-probe.wasm"

[plugins.wasi-probe]
greeting = "hello"
retries = 3
"#;
    let path = config_file("plugin", text, &["wasi-probe"]);
    let server = Eddy::serve(&["--config", &path]);
    let get = |key: &str| {
        let request = format!("GET /config?key={key} HTTP/1.1\r\nHost: a\r\n\r\n");
        roundtrip(server.addr, request.as_bytes()).text()
    };
    assert_eq!(get("greeting"), "Some(\"hello\")");
    assert_eq!(get("retries"), "Some(\"3\")");
    assert_eq!(get("missing"), "None");
}

#[test]
fn sighup_never_ends_the_server() {
    let mut server = Eddy::serve_guest(Embedded, &[]);
    server.signal("HUP");
    server.wait_stderr("SIGHUP: nothing to reload");
    assert!(server.is_running());
    assert_eq!(roundtrip(server.addr, GET_OTHER).status, 200);
}

/// A config with one handler for every path, `component`, named `probe`, with a setting.
fn reloadable(component: &str, route: &str, greeting: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nworkers = 2\n\n[[handler]]\nroute = \"{route}\"\ncomponent = \"{component}.wasm\"\nname = \"probe\"\n\n[plugins.probe]\ngreeting = \"{greeting}\"\n"
    )
}

#[test]
fn sighup_swaps_the_handler_table_and_a_broken_file_keeps_the_old_one() {
    let path = config_file(
        "reload",
        &reloadable("wasi-probe", ".*", "one"),
        &["wasi-probe", "hello"],
    );
    let server = Eddy::serve(&["--config", &path]);
    const GET_GREETING: &[u8] = b"GET /config?key=greeting HTTP/1.1\r\nHost: a\r\n\r\n";
    // Fresh connections land on either worker: every one must see the same table.
    let answers = || -> Vec<String> {
        (0..8)
            .map(|_| roundtrip(server.addr, GET_GREETING).text())
            .collect()
    };
    let all_answer = |expected: &str| {
        let got = answers();
        assert!(got.iter().all(|a| a == expected), "{got:?}");
    };
    // Rewrites the file, sends SIGHUP and waits for `logged`; returns the log.
    let reload = |text: &str, logged: &str| {
        std::fs::write(&path, text).expect("rewrite");
        server.signal("HUP");
        server.wait_stderr(logged)
    };
    all_answer("Some(\"one\")");
    let mut kept = server.connect();
    write_all(&mut kept, GET_GREETING);
    assert_eq!(read_response(&mut kept, false).text(), "Some(\"one\")");

    // New settings, same component: nothing to compile, the plugins see the new value.
    reload(
        &reloadable("wasi-probe", ".*", "two"),
        "reloaded handlers: 1 handlers, 0 compiled anew",
    );
    all_answer("Some(\"two\")");
    write_all(&mut kept, GET_GREETING);
    assert_eq!(read_response(&mut kept, false).text(), "Some(\"two\")");

    // Another component: compiled before the swap.
    reload(
        &reloadable("hello", ".*", "two"),
        "reloaded handlers: 1 handlers, 1 compiled anew",
    );
    all_answer("Hello, world!");

    // A broken file, a missing component: one line each, the old table stays.
    let log = reload(
        "[[handler]\ncomponent = \"x.wasm\"\n",
        "handlers not reloaded, keeping the old ones: ",
    );
    assert!(log.contains("eddy.toml:1"), "{log}");
    reload(&reloadable("missing", ".*", "two"), "cannot read plugin");
    all_answer("Hello, world!");

    // Other routes: the host matches them, so they apply at once (here: only /config).
    std::fs::write(&path, reloadable("wasi-probe", "/config", "three")).expect("rewrite");
    server.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.stderr().matches("reloaded handlers").count() < 3 {
        assert!(std::time::Instant::now() < deadline, "{}", server.stderr());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    all_answer("Some(\"three\")");
    assert_eq!(roundtrip(server.addr, GET_OTHER).status, 404);
}
