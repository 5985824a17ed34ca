//! The only module of this guest that knows about wit-bindgen: the host's `plugins` import,
//! the `plugin-results` export, and the conversions between the WIT records and
//! `eddy-http`'s request and response.

// The generated items mirror the WIT, whose documentation they carry where wit-bindgen can.
#![allow(missing_docs)]

use eddy_guest::http::{HeaderMap, Request, Response};

use crate::pending::{self, Answer, Event};

wit_bindgen::generate!({
    path: "../wit/http",
    world: "eddy:http/async-server",
});

use eddy::http::{plugins, types};
use exports::eddy::http::plugin_results::{CallEvent, CallUpdate, Guest as PluginResults};

pub use eddy::http::plugins::PluginError;

/// What the host did with a request.
pub enum Started {
    /// The plugin answered at once (`None`: no route matches).
    Ready(Option<Answer>),
    /// The call waits; what becomes of it comes through `plugin-results` under this id.
    Pending(u64),
}

/// Hands `request` to the host's router, moving its strings, headers and body into the
/// record; with `streamed_body`, its body follows through [`write_body`].
pub fn start(request: Request, streamed_body: bool) -> Started {
    let record = types::Request {
        version: request.version.as_str().to_owned(),
        headers: request.headers.into(),
        method: request.method,
        uri: request.uri,
        path: request.path,
        query: request.query,
        body: request.body,
        remote_ip: request.remote_ip,
        protocol: request.protocol,
        host: request.host,
        start_time: request.start_time,
    };
    // Over TLS the plugin may ask for the server name (SNI) during the call.
    let server_name = request.server_name.as_deref();
    let started = if streamed_body {
        plugins::start_streaming(&record, server_name)
    } else {
        plugins::start(&record, server_name)
    };
    match started {
        plugins::Started::Ready(answer) => Started::Ready(answer.map(answer_of)),
        plugins::Started::Pending(call) => Started::Pending(call),
    }
}

/// Whether the plugin for `path` reads its request body as a stream.
pub fn streams_body(path: &str) -> bool {
    plugins::streams_body(path)
}

/// Hands the host the next bytes of call `call`'s request body; how many it took.
pub fn write_body(call: u64, bytes: &[u8]) -> usize {
    plugins::write_body(call, bytes) as usize
}

/// Ends call `call`'s request body, whole or broken off.
pub fn finish_body(call: u64, complete: bool) {
    plugins::finish_body(call, complete);
}

/// Asks for the next response piece of call `call`, of at most `room` bytes.
pub fn more_body(call: u64, room: usize) {
    plugins::more_body(call, u32::try_from(room).unwrap_or(u32::MAX));
}

/// Drops call `call` with the host.
pub fn cancel(call: u64) {
    plugins::cancel(call);
}

fn answer_of(answer: Result<types::Response, PluginError>) -> Answer {
    answer.map(|response| Response {
        status: response.status,
        headers: HeaderMap::from(response.headers),
        body: response.body,
    })
}

fn event_of(event: CallEvent) -> Event {
    match event {
        CallEvent::Answer(answer) => Event::Answer(answer_of(answer)),
        CallEvent::Head(head) => Event::Head {
            status: head.status,
            headers: HeaderMap::from(head.headers),
            length: head.length,
        },
        CallEvent::Body(bytes) => Event::Body(bytes),
        CallEvent::End(broke) => Event::End(broke),
        CallEvent::Window => Event::Window,
    }
}

/// The `plugin-results` export: what happened to waiting calls, handed to their requests.
struct Results;

impl PluginResults for Results {
    fn deliver(now: u64, updates: Vec<CallUpdate>) {
        eddy_guest::resume(now, || {
            for update in updates {
                pending::deliver(update.call, event_of(update.event));
            }
        });
    }
}

export!(Results);
