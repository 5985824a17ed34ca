//! Builds the guest components the host embeds and the tests run.
//!
//! Runs a nested `cargo build --target wasm32-unknown-unknown` for the guest crates (in its own
//! target directory, so it never waits on the outer build's lock), then turns each core module
//! into a component with `wit-component`. Installs the wasm target with rustup when it is
//! missing, so a fresh machine needs nothing but the stable toolchain.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use wit_component::ComponentEncoder;

/// The guest crates to build: (package, component file name).
const GUESTS: &[(&str, &str)] = &[
    ("echo", "echo"),
    ("http-client", "http-client"),
    ("hello", "hello"),
    ("inspect", "inspect"),
    ("router", "router"),
    ("streaming-proxy", "streaming-proxy"),
    ("probe", "probe"),
    ("faulty", "faulty"),
    ("streamer", "streamer"),
    ("starttls", "starttls"),
];

/// Plugins built with the WASI toolchain (`wasm32-wasip2` links them into components that
/// import WASI, as other languages' toolchains do): (package, component file name).
const WASI_GUESTS: &[(&str, &str)] = &[("wasi-probe", "wasi-probe")];

/// Guests whose manifests declare a plain library, made a `cdylib` only here, for the wasm
/// target: they export through a bindings generator's `export!` that names the exports as WIT
/// does (`eddy:http/plugin-results@0.1.0#complete`) on every target, which no native linker
/// takes in a shared library's symbol list, and `cargo build --workspace` builds every member
/// natively. (Guests that export only through `eddy_guest::export!` or
/// `eddy_plugin::export_handler!` stay `cdylib`s: those export on WebAssembly only.)
const LIB_GUESTS: &[(&str, &str)] = &[("http-server", "http-server")];

/// The same for `wasm32-wasip2`: the `wasip2` crate's `export!`
/// (`wasi:http/incoming-handler@0.2.4#handle`).
const WASI_LIB_GUESTS: &[(&str, &str)] = &[("wasi-http", "wasi-http")];

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const WASI_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    for watched in [
        "wit",
        "guest",
        "http",
        "options",
        "plugin",
        "server",
        "examples",
        "tests/guests",
        "Cargo.lock",
        // The guest profile lives in the workspace manifest.
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR has the usual depth")
        .to_path_buf();
    let guest_target = target_dir.join("wasm");
    let components = target_dir.join("guests");
    std::fs::create_dir_all(&components).expect("create target/guests");

    ensure_wasm_target(WASM_TARGET);
    ensure_wasm_target(WASI_TARGET);
    build_guests(&root, &guest_target, WASM_TARGET, GUESTS);
    for (package, _) in LIB_GUESTS {
        build_cdylib(&root, &guest_target, WASM_TARGET, package);
    }
    build_guests(&root, &guest_target, WASI_TARGET, WASI_GUESTS);
    for (package, _) in WASI_LIB_GUESTS {
        build_cdylib(&root, &guest_target, WASI_TARGET, package);
    }
    for (package, name) in WASI_GUESTS.iter().chain(WASI_LIB_GUESTS) {
        let path = guest_target
            .join(WASI_TARGET)
            .join("guest")
            .join(format!("{}.wasm", package.replace('-', "_")));
        let component =
            std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        write_if_changed(&components.join(format!("{name}.wasm")), &component);
    }
    for (package, name) in GUESTS.iter().chain(LIB_GUESTS) {
        let module = guest_target
            .join(WASM_TARGET)
            .join("guest")
            .join(format!("{}.wasm", package.replace('-', "_")));
        let component = componentize(&module);
        let path = components.join(format!("{name}.wasm"));
        write_if_changed(&path, &component);
    }
    println!("cargo:rustc-env=EDDY_GUESTS_DIR={}", components.display());
}

/// Makes sure the wasm target's standard library is installed, installing it if needed.
fn ensure_wasm_target(target: &str) {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("run rustc --print sysroot");
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .exists()
    {
        return;
    }
    println!("cargo:warning=installing the {target} target with rustup");
    let installed = Command::new("rustup")
        .args(["target", "add", target])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        installed,
        "the {target} target is missing and rustup could not install it; run: rustup target add {target}"
    );
}

fn build_guests(root: &Path, guest_target: &Path, target: &str, guests: &[(&str, &str)]) {
    let mut command = guest_cargo("build", root, guest_target, target);
    for (package, _) in guests {
        command.args(["-p", package]);
    }
    run(command);
}

/// Builds `package`'s library as a `cdylib` for `target` (see [`LIB_GUESTS`]).
fn build_cdylib(root: &Path, guest_target: &Path, target: &str, package: &str) {
    let mut command = guest_cargo("rustc", root, guest_target, target);
    command.args(["-p", package, "--lib", "--crate-type", "cdylib"]);
    run(command);
}

/// `cargo SUBCOMMAND` for guests: the guest profile, `target`, its own target directory.
fn guest_cargo(subcommand: &str, root: &Path, guest_target: &Path, target: &str) -> Command {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg(subcommand)
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["--profile", "guest", "--target", target, "--locked"])
        .env("CARGO_TARGET_DIR", guest_target);
    // The outer build's wrappers and flags (clippy, coverage, host RUSTFLAGS) are not for guests.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
    ] {
        command.env_remove(var);
    }
    command
}

fn run(mut command: Command) {
    let status = command
        .status()
        .expect("run cargo to build the guest components");
    assert!(
        status.success(),
        "building the guest components failed (see the errors above)"
    );
}

fn componentize(module: &Path) -> Vec<u8> {
    let bytes = std::fs::read(module).unwrap_or_else(|e| panic!("read {}: {e}", module.display()));
    ComponentEncoder::default()
        .validate(true)
        .module(&bytes)
        .and_then(|mut encoder| encoder.encode())
        .unwrap_or_else(|e| panic!("turn {} into a component: {e:?}", module.display()))
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}
