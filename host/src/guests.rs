//! The guest components built with the host (see `build.rs`): the embedded default and the
//! paths of the example components, for tests and documentation.

use std::path::PathBuf;

/// The directory holding the built guest components (`<target>/guests`).
pub const GUESTS_DIR: &str = env!("EDDY_GUESTS_DIR");

/// The component `eddy serve` runs when given none.
pub const DEFAULT_SERVER: &[u8] =
    include_bytes!(concat!(env!("EDDY_GUESTS_DIR"), "/http-server.wasm"));

/// The path of a built guest component by name (`echo`, `http-client`, ...).
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(GUESTS_DIR).join(format!("{name}.wasm"))
}
