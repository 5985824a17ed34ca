//! Tornado's IOStream: buffered, non-blocking reads and writes over a connection the host owns.

mod error;
mod read_buffer;
mod stream;
mod write_buffer;

pub use error::{CloseReason, StreamError};
pub use read_buffer::{ReadTarget, UnsatisfiableRead};
pub use stream::{Connect, IOStream, Read, ReadInto, Write, DEFAULT_MAX_BUFFER_SIZE, DEFAULT_MAX_WRITE_BUFFER_SIZE, WRITE_CHUNK};
pub(crate) use stream::StreamInner;
