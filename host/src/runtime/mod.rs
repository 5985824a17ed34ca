//! The wasmtime side of the host: one shared `Engine`, components compiled once and
//! instantiated per worker through `InstancePre`, and the WIT imports implemented on top of
//! the [`Imports`](crate::boundary::Imports) the event loop lends for each call.
//!
//! This is the only module that touches wasmtime; it knows nothing of sockets. Only
//! [`wit`] converts between the generated bindings and the [`boundary`](crate::boundary).

mod backoff;
mod cache;
mod cache_dir;
mod call;
mod call_error;
mod call_io;
mod calls;
mod compile;
mod engine;
mod exchange;
mod guest;
mod handler_table;
mod host_state;
mod inspect;
mod io_runtime;
mod lend;
mod limits;
mod log;
mod outbound;
mod pipe;
mod plugin_log;
mod plugin_program;
mod plugin_state;
mod plugins;
mod pool;
mod precompile;
mod program;
mod server_wit;
mod trap;
mod wasi;
mod wasi_http;
mod wasi_response;
mod wit;

pub use backoff::MAX_PLUGIN_BACKOFF;
pub use cache::{default_cache_dir, set_cache_dir};
pub use call::Answer;
pub use calls::CallId;
pub use compile::{check_plugin, component_imports, set_allow_precompiled};
pub use engine::{EPOCH_TICK, engine};
pub use guest::{DEFAULT_GUEST_TIMEOUT, Guest};
pub use handler_table::HandlerTable;
pub use host_state::HostState;
pub use io_runtime::{DEFAULT_IO_THREADS, enter as enter_io_runtime, set_io_threads};
pub use limits::{
    DEFAULT_MAX_INSTANCES, DEFAULT_MAX_MEMORIES, DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS,
    DEFAULT_MAX_TABLES, Limits,
};
pub use outbound::{DEFAULT_CONNECT_TIMEOUT, HttpOutbound};
pub use pipe::{REQUEST_WINDOW, RESPONSE_PIECE};
pub use plugin_program::{
    DEFAULT_HANDLER_TIMEOUT, DEFAULT_MAX_PLUGIN_CALLS, DEFAULT_MAX_RESPONSE_BODY,
    DEFAULT_PLUGIN_MAX_MEMORY, DEFAULT_PLUGIN_MAX_RESOURCES, DEFAULT_PLUGIN_QUEUE_TIMEOUT,
    HANDLER_INTERFACE, Isolation, MAX_FIELDS_SIZE, PluginProgram, PluginSettings, route_regex,
};
pub use plugins::{Plugins, Started};
pub use pool::POOL_IDLE_TIMEOUT;
pub use precompile::precompile;
pub use program::{GUEST_INTERFACE, Program};
