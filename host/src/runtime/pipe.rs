//! What a plugin call and the server guest share while bodies stream between them: the
//! request body the guest hands over piece by piece (read by the plugin as its
//! `incoming-body` stream, through [`GuestBody`]), and the response side's flow control
//! (whether the guest has taken the last piece delivered).
//!
//! The pipe is shared by the call's future, the plugin's body stream and the guest's
//! imports, all on the worker's thread; it is an `Arc<Mutex<..>>` because a body given to
//! `wasmtime-wasi-http` must be `Send`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::Error;

/// Request-body bytes the host holds for a call beyond what its plugin has read; past it
/// `write-body` takes less and the guest stops reading the client.
pub const REQUEST_WINDOW: usize = 256 * 1024;

/// The largest response-body piece delivered to the guest at once.
pub const RESPONSE_PIECE: usize = 1024 * 1024;

/// The largest body handed to the guest inside a whole answer; a larger one goes as a head
/// with its length and pieces the guest asks for once its response budget has room, so
/// answers arriving together never run a guest past its budget by more than this each.
pub const WHOLE_ANSWER: usize = 64 * 1024;

/// The state both sides see.
#[derive(Default)]
struct Shared {
    /// Request-body pieces the plugin has not read yet.
    inbound: VecDeque<Bytes>,
    /// Their total size.
    held: usize,
    /// The guest ended the body: whole (`true`) or broken off.
    finished: Option<bool>,
    /// When it did.
    finished_at: Option<Instant>,
    /// The plugin reads the body from this pipe (the guest streams it).
    streamed: bool,
    /// The guest was refused bytes and waits for a `window` event.
    refused: bool,
    /// Room opened after a refusal: the call must tell the guest.
    window_due: bool,
    /// The plugin's body stream, waiting for bytes.
    reader: Option<Waker>,
    /// A response piece was delivered and the guest has not asked for the next.
    piece_out: bool,
    /// The largest next piece the guest has room for.
    room: usize,
    /// The call has a piece ready and waits for the guest to ask: only then does `more`
    /// wake it (a stream whose plugin has nothing new needs no turn).
    piece_held: bool,
    /// The call's own waker, for news from the guest's side.
    call: Option<Waker>,
}

/// One call's pipe.
#[derive(Clone, Default)]
pub struct Pipe(Arc<Mutex<Shared>>);

impl Pipe {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pipe whose call is woken with `call` when the guest's side changes something.
    pub fn new(call: Waker) -> Self {
        let pipe = Self::default();
        {
            let mut shared = pipe.lock();
            shared.call = Some(call);
            shared.room = RESPONSE_PIECE;
        }
        pipe
    }

    /// The body the plugin reads: the pieces the guest writes.
    pub fn body(&self) -> GuestBody {
        self.lock().streamed = true;
        GuestBody(self.clone())
    }

    /// When the request body is complete, for a call whose body streams: `Err(())` while it
    /// still arrives, `Ok(None)` for a call whose body came whole.
    pub fn body_done_at(&self) -> Result<Option<Instant>, ()> {
        let shared = self.lock();
        match (shared.streamed, shared.finished_at) {
            (false, _) => Ok(None),
            (true, Some(at)) => Ok(Some(at)),
            (true, None) => Err(()),
        }
    }

    /// Takes the next request-body bytes from the guest, as many as fit in the window;
    /// returns how many.
    pub fn write(&self, bytes: &[u8]) -> usize {
        let mut shared = self.lock();
        if shared.finished.is_some() {
            return 0;
        }
        let room = REQUEST_WINDOW.saturating_sub(shared.held);
        let taken = room.min(bytes.len());
        if taken > 0 {
            shared
                .inbound
                .push_back(Bytes::copy_from_slice(&bytes[..taken]));
            shared.held += taken;
            if let Some(reader) = shared.reader.take() {
                reader.wake();
            }
        }
        if taken < bytes.len() {
            shared.refused = true;
        }
        taken
    }

    /// Ends the request body: whole, or broken off.
    pub fn finish(&self, complete: bool) {
        let mut shared = self.lock();
        if shared.finished.is_none() {
            shared.finished = Some(complete);
            shared.finished_at = Some(Instant::now());
        }
        if let Some(reader) = shared.reader.take() {
            reader.wake();
        }
        // The call's deadline for its response head starts now.
        if let Some(call) = &shared.call {
            call.wake_by_ref();
        }
    }

    /// Whether the guest must be told it may write again (once per refusal).
    pub fn take_window(&self) -> bool {
        std::mem::take(&mut self.lock().window_due)
    }

    /// How large the next response piece may be, once the guest has taken the last; when
    /// it has not, `None`, and the call is woken once the guest asks.
    pub fn may_deliver(&self) -> Option<usize> {
        let mut shared = self.lock();
        shared.piece_held = shared.piece_out;
        (!shared.piece_out).then_some(shared.room.max(1))
    }

    /// A response piece (or the head) is out: nothing more until the guest asks. With
    /// `more_held`, the call holds the next piece already, and the guest's ask wakes it.
    pub fn delivered(&self, more_held: bool) {
        let mut shared = self.lock();
        shared.piece_out = true;
        shared.piece_held = more_held;
    }

    /// The guest asks for the next response piece, of at most `room` bytes.
    pub fn more(&self, room: usize) {
        let mut shared = self.lock();
        shared.piece_out = false;
        shared.room = room.clamp(1, RESPONSE_PIECE);
        if std::mem::take(&mut shared.piece_held)
            && let Some(call) = &shared.call
        {
            call.wake_by_ref();
        }
    }
}

/// A request body that the guest writes and the plugin reads.
pub struct GuestBody(Pipe);

impl Body for GuestBody {
    type Data = Bytes;
    type Error = Error;

    /// The next piece; a body the guest broke off (cut short, too slow, malformed) fails with
    /// `connection-terminated` after the pieces that arrived.
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let mut shared = self.0.lock();
        if let Some(piece) = shared.inbound.pop_front() {
            shared.held -= piece.len();
            if shared.refused && shared.held < REQUEST_WINDOW {
                shared.refused = false;
                shared.window_due = true;
                if let Some(call) = &shared.call {
                    call.wake_by_ref();
                }
            }
            return Poll::Ready(Some(Ok(Frame::data(piece))));
        }
        match shared.finished {
            Some(true) => Poll::Ready(None),
            Some(false) => Poll::Ready(Some(Err(Error::ConnectionTerminated))),
            None => {
                shared.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let shared = self.0.lock();
        shared.inbound.is_empty() && shared.finished == Some(true)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn frame(body: &mut GuestBody, waker: &Waker) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        Pin::new(body).poll_frame(&mut Context::from_waker(waker))
    }

    #[test]
    fn the_window_refuses_bytes_then_reopens_once_the_plugin_reads() {
        let call = Arc::new(Count::default());
        let pipe = Pipe::new(Waker::from(call.clone()));
        let mut body = pipe.body();
        let reader = Waker::from(Arc::new(Count::default()));
        assert_eq!(
            pipe.write(&vec![1; REQUEST_WINDOW - 10]),
            REQUEST_WINDOW - 10
        );
        assert_eq!(pipe.write(&[2; 100]), 10, "only what fits");
        assert_eq!(pipe.write(&[3; 5]), 0);
        assert!(!pipe.take_window());
        assert!(matches!(
            frame(&mut body, &reader),
            Poll::Ready(Some(Ok(_)))
        ));
        assert_eq!(
            call.0.load(Ordering::SeqCst),
            1,
            "the call hears of the room"
        );
        assert!(pipe.take_window());
        assert!(!pipe.take_window(), "once per refusal");
        assert!(matches!(
            frame(&mut body, &reader),
            Poll::Ready(Some(Ok(_)))
        ));
        assert!(frame(&mut body, &reader).is_pending());
        pipe.finish(true);
        assert!(matches!(frame(&mut body, &reader), Poll::Ready(None)));
        assert_eq!(pipe.write(b"late"), 0);
    }

    #[test]
    fn a_broken_body_fails_the_plugins_read_after_what_arrived() {
        let pipe = Pipe::new(Waker::noop().clone());
        let mut body = pipe.body();
        let waker = Waker::noop();
        pipe.write(b"part");
        pipe.finish(false);
        assert!(matches!(frame(&mut body, waker), Poll::Ready(Some(Ok(_)))));
        assert!(matches!(
            frame(&mut body, waker),
            Poll::Ready(Some(Err(Error::ConnectionTerminated)))
        ));
    }

    #[test]
    fn one_response_piece_is_out_at_a_time() {
        let call = Arc::new(Count::default());
        let pipe = Pipe::new(Waker::from(call.clone()));
        assert_eq!(pipe.may_deliver(), Some(RESPONSE_PIECE));
        pipe.delivered(false);
        pipe.more(100);
        assert_eq!(call.0.load(Ordering::SeqCst), 0, "nothing was held back");
        assert_eq!(
            pipe.may_deliver(),
            Some(100),
            "as large as the guest has room for"
        );
        pipe.delivered(false);
        assert_eq!(pipe.may_deliver(), None);
        pipe.more(usize::MAX);
        assert_eq!(pipe.may_deliver(), Some(RESPONSE_PIECE), "capped");
        assert_eq!(
            call.0.load(Ordering::SeqCst),
            1,
            "a held piece wakes the call"
        );
        pipe.delivered(true);
        pipe.more(10);
        assert_eq!(
            call.0.load(Ordering::SeqCst),
            2,
            "so does one held when delivering"
        );
    }
}
