//! `wit/` as toolchains read it: one directory, every documented world name (docs/wit.md).
//!
//! componentize-py (the real tool, installed on demand by `examples/toolchains`) generates
//! bindings from `-d wit` for each world; wasmtime's `bindgen!` reads the same directory and the
//! bindings it makes call a real plugin. (`plugin/` builds every Rust plugin with wit-bindgen's
//! `generate!` from `wit/`, and the language tests build components with componentize-py and
//! componentize-js from it.)

mod util;

use std::path::Path;
use std::process::Command;

use util::components::{root, target_dir};

/// The host side of `eddy:http/plugin`, generated from the whole `wit/` directory.
mod plugin_from_root {
    wasmtime::component::bindgen!({ path: "wit", world: "eddy:http/plugin" });
}

/// Runs `componentize-py -d wit -w WORLD bindings OUT` and returns OUT.
#[track_caller]
fn python_bindings(world: &str) -> std::path::PathBuf {
    let tools = target_dir().join("tools");
    let installer = Command::new(root().join("examples/toolchains"))
        .arg("componentize-py")
        .env("EDDY_TOOLS", &tools)
        .output()
        .expect("run examples/toolchains");
    assert!(
        installer.status.success(),
        "installing componentize-py failed: {}",
        String::from_utf8_lossy(&installer.stderr)
    );
    let tool = String::from_utf8(installer.stdout).expect("a path");
    let out = target_dir()
        .join("wit-bindings")
        .join(world.replace([':', '/', '@'], "-"));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(tool.trim())
        .current_dir(root())
        .args(["-d", "wit", "-w", world, "bindings"])
        .arg(&out)
        .output()
        .expect("run componentize-py");
    assert!(
        output.status.success(),
        "componentize-py -d wit -w {world} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

#[track_caller]
fn assert_exports(out: &Path, module: &str) {
    let path = out.join("wit_world/exports").join(module);
    assert!(path.exists(), "no {}", path.display());
}

#[test]
fn componentize_py_reads_every_documented_world_from_wit() {
    for world in ["eddy:http/plugin", "eddy:http/plugin@0.1.0", "plugin"] {
        let out = python_bindings(world);
        assert_exports(&out, "handler.py");
        let types = std::fs::read_to_string(out.join("wit_world/imports/types.py"))
            .expect("the eddy:http types");
        assert!(types.contains("class Request"), "{world}: {types}");
    }
    // The plugin world plus wasi:config/store, for toolchains that take one world.
    let with_config = python_bindings("plugin-with-config");
    assert_exports(&with_config, "handler.py");
    for import in ["store.py", "connection.py"] {
        let path = with_config.join("wit_world/imports").join(import);
        assert!(path.exists(), "no {}", path.display());
    }
    for world in ["eddy:io/io-guest", "io-guest"] {
        assert_exports(&python_bindings(world), "guest.py");
    }
    let proxy = python_bindings("wasi:http/proxy");
    assert_exports(&proxy, "incoming_handler.py");
}

/// The store of a plugin called over plaintext.
struct NoTls;

impl plugin_from_root::eddy::http::connection::Host for NoTls {
    fn server_name(&mut self) -> Option<String> {
        None
    }
}

#[test]
fn wasmtime_bindings_from_wit_call_the_hello_plugin() {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let engine = wasmtime::Engine::new(&config).expect("engine");
    let component = wasmtime::component::Component::from_file(&engine, util::guest("hello"))
        .expect("the hello plugin");
    // The plugin world's one import: the TLS server name, none over plaintext.
    let mut linker = wasmtime::component::Linker::new(&engine);
    plugin_from_root::eddy::http::connection::add_to_linker::<
        NoTls,
        wasmtime::component::HasSelf<NoTls>,
    >(&mut linker, |state| state)
    .expect("link eddy:http/connection");
    let mut store = wasmtime::Store::new(&engine, NoTls);
    let plugin = plugin_from_root::Plugin::instantiate(&mut store, &component, &linker)
        .expect("instantiate");
    let request = plugin_from_root::eddy::http::types::Request {
        method: "GET".into(),
        uri: "/".into(),
        path: "/".into(),
        query: String::new(),
        version: "HTTP/1.1".into(),
        headers: vec![("Host".into(), b"h".to_vec())],
        body: Vec::new(),
        remote_ip: "127.0.0.1".into(),
        protocol: "http".into(),
        host: "h".into(),
        start_time: 0,
    };
    let response = plugin
        .eddy_http_handler()
        .call_handle(&mut store, &request)
        .expect("call handle");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"Hello, world!");
}
