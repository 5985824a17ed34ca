//! Tornado's IOStream: buffered, non-blocking reads and writes over a connection the host owns.

mod error;
mod events;
mod futures;
mod inner;
mod pending_read;
mod read_buffer;
mod state;
mod stream;
mod tls;
mod write_buffer;

pub use error::{CloseReason, StreamError};
pub use futures::{Connect, Read, ReadInto, Write};
pub use inner::WRITE_CHUNK;
pub use read_buffer::{ReadTarget, UnsatisfiableRead};
pub(crate) use stream::StreamWatch;
pub use stream::{DEFAULT_MAX_BUFFER_SIZE, DEFAULT_MAX_WRITE_BUFFER_SIZE, IOStream};
