//! Sans-IO HTTP/1.1 for Eddy: the server connection state machine, the request object,
//! response encoding and a tornado.web-style [`Application`] router.
//!
//! This crate performs no I/O and knows nothing of WebAssembly: the server guest feeds a
//! [`ServerConn`] bytes and writes what [`encode`] returns; plugins build [`Request`]s from
//! the WIT record and answer with [`Response`]s. Everything here is unit-tested natively.
//! Parsers never panic, whatever the input: the lints below hold that for non-test code.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod body_stream;
pub mod budget;
pub mod chunked;
pub mod conn;
pub mod cookies;
pub mod framing;
pub mod fuzzing;
pub mod gzip;
pub mod handler;
pub mod head;
pub mod headers;
pub mod json;
pub mod multipart;
pub mod query;
pub mod request;
pub mod response;
pub mod response_head;
pub mod router;
pub mod xheaders;

pub use body_stream::BodyStep;
pub use budget::BodyBudget;
pub use conn::{Limits, Message, Phase, Rejection, ServerConn, Step};
pub use handler::Handler;
pub use head::{RequestHead, Version};
pub use headers::HeaderMap;
pub use json::Json;
pub use multipart::UploadedFile;
pub use request::{Request, RequestParts};
pub use response::{
    EncodeOptions, FINAL_STATUS, Response, StreamFraming, encode, encode_parts,
    encode_sized_stream_head, encode_stream_head, is_final_status,
};
pub use router::{Application, Context, RequestHandler};

#[cfg(test)]
mod test_input;
