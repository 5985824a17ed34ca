//! Command-line errors are one clear line; the built guests import only eddy's interfaces.

mod util;

use std::time::Duration;

use util::Guest::Component;
use util::{Eddy, eddy, guest};

fn error_line(args: &[&str]) -> String {
    let (code, _, stderr) = eddy(args, Duration::from_secs(60));
    assert_eq!(code, Some(1), "{stderr}");
    // Log records (a compile's start and end) may come first; the error is one line.
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains(" INFO ")).collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{stderr}");
    lines[0].to_string()
}

#[test]
fn missing_component_file_is_named() {
    assert_eq!(
        error_line(&["serve", "no/such.wasm"]),
        "eddy: cannot read component no/such.wasm: No such file or directory (os error 2)"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_rejected() {
    let dir = std::env::temp_dir().join(format!("eddy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "hello").expect("write");
    let line = error_line(&["serve", text.to_str().expect("utf-8")]);
    assert!(
        line.ends_with("is not a WebAssembly component (no \\0asm header)"),
        "{line}"
    );
    let core = dir.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    let line = error_line(&["run", core.to_str().expect("utf-8")]);
    assert!(
        line.ends_with("is a core WebAssembly module, not a component"),
        "{line}"
    );
    let empty = dir.join("empty.wasm");
    std::fs::write(&empty, b"\0asm\x0d\0\x01\0").expect("write");
    let line = error_line(&["serve", empty.to_str().expect("utf-8")]);
    assert!(
        line.ends_with("exports nothing, but must export `eddy:io/guest@0.1.0`"),
        "{line}"
    );
}

#[test]
fn port_in_use_is_one_line() {
    let first = Eddy::serve_guest(Component("echo"), &[]);
    let addr = first.addr.to_string();
    let line = error_line(&[
        "serve",
        guest("echo").to_str().expect("utf-8"),
        "--listen",
        &addr,
    ]);
    assert_eq!(
        line,
        format!("eddy: cannot listen on {addr}: address already in use")
    );
}

#[test]
fn bad_byte_count_flag_is_rejected_by_name() {
    let (code, _, stderr) = eddy(
        &["serve", "--max-buffer-size", "lots"],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--max-buffer-size") && stderr.contains("is not a byte count"),
        "{stderr}"
    );
}

#[test]
fn guest_components_import_only_eddy_interfaces() {
    for name in ["echo", "http-client", "probe"] {
        let bytes = std::fs::read(guest(name)).expect("built component");
        let imports = eddy_host::runtime::component_imports(&bytes).expect("valid component");
        assert!(!imports.is_empty(), "{name} imports nothing?");
        for import in &imports {
            let interface = import
                .strip_prefix("eddy:io/")
                .and_then(|rest| rest.strip_suffix("@0.1.0"));
            assert!(
                matches!(
                    interface,
                    Some("types" | "net" | "timers" | "clock" | "log" | "process")
                ),
                "{name} imports {import}, which is not one of eddy's interfaces (all: {imports:?})"
            );
        }
    }
}

#[test]
fn serve_with_guest_arguments_passes_them_to_start() {
    let (code, _, stderr) = eddy(
        &[
            "serve",
            guest("echo").to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
            "--",
            "many",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("the guest failed to start: unexpected argument \"many\" (see --help)"),
        "{stderr}"
    );
}
