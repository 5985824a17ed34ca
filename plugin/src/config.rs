//! The plugin's settings: a config file's `[plugins.NAME]` table, read through the standard
//! `wasi:config/store` interface (so plugins in any language read them the same way).
//!
//! A plugin that never calls these functions does not import the interface.

// The generated items mirror the WIT.
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../wit/deps/wasi-config.wit",
    world: "wasi:config/imports",
    runtime_path: "eddy_plugin::bindings::wit_bindgen_rt::rt",
});

use wasi::config::store;

/// The value of setting `key`, or `None` when the plugin's table has no such key (or the
/// host gives no settings).
pub fn get(key: &str) -> Option<String> {
    store::get(key).ok().flatten()
}

/// Every setting, as (key, value) pairs in no particular order.
pub fn all() -> Vec<(String, String)> {
    store::get_all().unwrap_or_default()
}
