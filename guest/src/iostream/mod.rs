//! Tornado's IOStream: buffered, non-blocking reads and writes over a connection the host owns.

mod error;
mod read_buffer;
mod stream;
mod write_buffer;

pub use error::{CloseReason, StreamError};
pub use read_buffer::{ReadTarget, UnsatisfiableRead};
pub(crate) use stream::StreamInner;
pub use stream::{
    Connect, DEFAULT_MAX_BUFFER_SIZE, DEFAULT_MAX_WRITE_BUFFER_SIZE, IOStream, Read, ReadInto,
    WRITE_CHUNK, Write,
};
