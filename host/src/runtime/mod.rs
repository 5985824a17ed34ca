//! The wasmtime side of the host: one shared `Engine`, components compiled once and
//! instantiated per worker through `InstancePre`, and the WIT imports implemented on top of
//! the [`Imports`](crate::boundary::Imports) the event loop lends for each call.
//!
//! This is the only module that touches wasmtime; it knows nothing of sockets. Only
//! [`wit`] converts between the generated bindings and the [`boundary`](crate::boundary).

mod cache;
mod cache_dir;
mod compile;
mod engine;
mod guest;
mod handler_table;
mod host_state;
mod inspect;
mod lend;
mod limits;
mod log;
mod outbound;
mod plugin_log;
mod plugin_program;
mod plugin_state;
mod plugins;
mod precompile;
mod program;
mod server_wit;
mod trap;
mod wasi;
mod wasi_http;
mod wit;

pub use cache::{default_cache_dir, set_cache_dir};
pub use compile::{check_plugin, component_imports, set_allow_precompiled};
pub use engine::{EPOCH_TICK, engine};
pub use guest::{DEFAULT_GUEST_TIMEOUT, Guest};
pub use handler_table::HandlerTable;
pub use host_state::HostState;
pub use limits::{
    DEFAULT_MAX_INSTANCES, DEFAULT_MAX_MEMORIES, DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS,
    DEFAULT_MAX_TABLES, Limits,
};
pub use outbound::HttpOutbound;
pub use plugin_program::{
    DEFAULT_HANDLER_TIMEOUT, DEFAULT_MAX_RESPONSE_BODY, DEFAULT_PLUGIN_MAX_MEMORY,
    HANDLER_INTERFACE, Isolation, PluginProgram, PluginSettings, route_regex,
};
pub use plugins::Plugins;
pub use precompile::precompile;
pub use program::{GUEST_INTERFACE, Program};
