//! The Rust SDK for Eddy plugin handlers: components that export `eddy:http/handler` and are
//! loaded with `eddy serve --handler [REGEX=]COMPONENT`.
//!
//! A plugin is any [`Handler`] — a closure or an [`Application`] router — exported with
//! [`export_handler!`]. It imports nothing: no sockets, files or clocks, only the request it
//! is given. It runs in its own Store, so a panic costs one 500 response, not the server.
//!
//! ```text
//! use eddy_plugin::{Request, Response};
//!
//! eddy_plugin::export_handler!(|_request: &Request| Response::text(200, "Hello, world!"));
//! ```

extern crate self as eddy_plugin;

pub mod bindings;
pub mod config;

pub use eddy_http as http;
pub use eddy_http::{
    Application, Context, Handler, HeaderMap, Json, Request, RequestHandler, Response, UploadedFile,
};

/// Exports a plugin component whose requests are answered by the handler `$make` builds.
///
/// `$make` runs once per instance, on the first request. Invoke the macro once, at the top
/// level of the component crate.
///
/// The exports exist on WebAssembly only: their names (`eddy:http/handler@0.1.0#handle`) are
/// no symbols a native linker takes, so a plugin crate built natively (`cargo build
/// --workspace` in a workspace that holds it) is a library that exports nothing.
#[macro_export]
macro_rules! export_handler {
    ($make:expr) => {
        #[doc(hidden)]
        struct __EddyPluginExports;

        impl $crate::bindings::exports::eddy::http::handler::Guest for __EddyPluginExports {
            fn handle(
                request: $crate::bindings::eddy::http::types::Request,
            ) -> $crate::bindings::eddy::http::types::Response {
                ::std::thread_local! {
                    static HANDLER: ::std::boxed::Box<dyn $crate::Handler> = ::std::boxed::Box::new($make);
                }
                HANDLER.with(|handler| $crate::bindings::respond(&**handler, request))
            }
        }

        #[cfg(target_family = "wasm")]
        $crate::bindings::export_plugin!(__EddyPluginExports with_types_in $crate::bindings);

        // Natively, keeps the handler in use without exporting it.
        #[cfg(not(target_family = "wasm"))]
        #[allow(dead_code)]
        fn __eddy_plugin_native() {
            let _ = <__EddyPluginExports as $crate::bindings::exports::eddy::http::handler::Guest>::handle;
        }
    };
}
