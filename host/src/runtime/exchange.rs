//! One `wasi:http` call's response side, from `response-outparam.set` to the last byte: a
//! state machine polled together with `handle`. A body complete by the time the plugin waits
//! for something with it unfinished (a yield at an epoch tick is not a wait), and at most
//! `--max-write-buffer-size`, is read whole (and handed to the guest whole, or in pieces with
//! its length when it is large: see `call`); any other streams to
//! the server guest as a head and pieces, one piece out at a time. A guest that takes whole
//! answers only (no `plugin-results` export) gets every body whole, up to the same size.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Body as _;
use tokio::sync::oneshot;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::call_error::CallError;
use super::call_io::CallIo;
use super::pipe::RESPONSE_PIECE;
use super::plugin_state::Deadline;
use super::server_wit::eddy::http::types::Response;
use super::server_wit::exports::eddy::http::plugin_results::{CallEvent, ResponseHead};
use super::wasi_response::{far_future, response, take_piece, wire_headers};

/// What `response-outparam.set` delivers.
pub type Delivered = Result<hyper::Response<HyperOutgoingBody>, ErrorCode>;

/// How a call ended well.
pub enum Outcome {
    /// A whole response, for the guest to send.
    Whole(Response),
    /// The response streamed; its head, pieces and end went out through the call's outbox.
    Streamed,
}

/// The bounds of one exchange.
pub struct Limits {
    /// The largest body delivered whole (`--max-write-buffer-size`); a larger one streams.
    pub max_whole: usize,
    /// When the response head must be there (`--handler-timeout` from the call's start; for a
    /// request body that streams, from the end of the body instead).
    pub head_by: Instant,
    /// How long a streamed body may run after its head (`--max-stream-duration`).
    pub stream_for: Option<Duration>,
    /// How long `handle` may go on after its body ended (`--handler-timeout`).
    pub after_end: Duration,
}

/// Where the response is.
enum Side {
    /// Waiting for `response-outparam.set`.
    Waiting(oneshot::Receiver<Delivered>),
    /// Reading a body that may turn out complete.
    Collecting {
        parts: http::response::Parts,
        body: HyperOutgoingBody,
        bytes: Vec<u8>,
    },
    /// Read whole; waiting for `handle` to return.
    Whole(Response),
    /// The head is out, pieces follow.
    Streaming {
        /// `None` once it ended.
        body: Option<HyperOutgoingBody>,
        ahead: VecDeque<Bytes>,
        ahead_len: usize,
        /// Why it broke off, if it did.
        broke: Option<String>,
    },
    /// The stream's end went out; waiting for `handle` to return.
    Ended,
}

/// One call's response side.
pub struct Exchange<'a> {
    side: Side,
    returned: bool,
    /// Where a streamed response goes; `None`: whole answers only.
    io: Option<&'a CallIo>,
    limits: Limits,
    deadline: Deadline,
    timer: Option<(Instant, Pin<Box<tokio::time::Sleep>>)>,
    /// When the stream's end went out.
    ended_at: Option<Instant>,
    /// Set when the plugin yielded at an epoch tick (see `PluginState::yielded`).
    yielded: Arc<AtomicBool>,
    /// Whether `handle` is pending only because it yielded this turn.
    just_yielded: bool,
    /// When the response head is due; `None` while a streamed request body still arrives
    /// (`--body-timeout`, the guest's, bounds that).
    head_by: Option<Instant>,
}

impl<'a> Exchange<'a> {
    /// An exchange whose response arrives on `receiver`; `deadline` is the one the plugin's
    /// Store interrupts at.
    pub fn new(
        receiver: oneshot::Receiver<Delivered>,
        io: Option<&'a CallIo>,
        limits: Limits,
        deadline: Deadline,
        yielded: Arc<AtomicBool>,
    ) -> Self {
        Self {
            side: Side::Waiting(receiver),
            returned: false,
            io,
            limits,
            deadline,
            timer: None,
            ended_at: None,
            yielded,
            just_yielded: false,
            head_by: None,
        }
        .with_head_deadline()
    }

    /// Arms the head's deadline: now, or once a streamed request body is complete.
    fn with_head_deadline(mut self) -> Self {
        self.arm_head_deadline();
        if self.head_by.is_none() {
            // The plugin may read a long upload: only the guest's body timeout bounds it.
            self.deadline.set(far_future());
        }
        self
    }

    fn arm_head_deadline(&mut self) {
        if self.head_by.is_some() {
            return;
        }
        let body_done = match self.io {
            Some(io) if io.has_pipe() => io.pipe().body_done_at(),
            _ => Ok(None),
        };
        self.head_by = match body_done {
            Ok(None) => Some(self.limits.head_by),
            Ok(Some(at)) => {
                let by = at + self.limits.after_end;
                self.deadline.set(by);
                Some(by)
            }
            Err(()) => None,
        };
    }

    /// Polls `handle` and the response together, until both are done.
    pub fn poll(
        &mut self,
        cx: &mut Context<'_>,
        handle: Pin<&mut impl Future<Output = wasmtime::Result<()>>>,
    ) -> Poll<Result<Outcome, CallError>> {
        if !self.returned {
            match handle.poll(cx) {
                Poll::Ready(Ok(())) => self.returned = true,
                Poll::Ready(Err(trap)) => return Poll::Ready(Err(CallError::Trap(trap))),
                Poll::Pending => {}
            }
        }
        self.just_yielded = self.yielded.swap(false, Ordering::Relaxed) && !self.returned;
        if let Some(io) = self.io
            && io.has_pipe()
            && io.pipe().take_window()
        {
            io.emit(CallEvent::Window);
        }
        self.arm_head_deadline();
        if let Poll::Ready(done) = self.advance(cx) {
            return Poll::Ready(done);
        }
        self.poll_timer(cx)
    }

    /// Moves the response on as far as it goes now.
    fn advance(&mut self, cx: &mut Context<'_>) -> Poll<Result<Outcome, CallError>> {
        if let Side::Waiting(receiver) = &mut self.side {
            match Pin::new(receiver).poll(cx) {
                Poll::Ready(Ok(Ok(response))) => {
                    let (parts, body) = response.into_parts();
                    self.side = Side::Collecting {
                        parts,
                        body,
                        bytes: Vec::new(),
                    };
                }
                Poll::Ready(Ok(Err(code))) => {
                    return Poll::Ready(Err(CallError::Failed(format!(
                        "handle set an error instead of a response: {code:?}"
                    ))));
                }
                // Nothing runs in the guest once `handle` returned: it never will.
                Poll::Ready(Err(_)) => return Poll::Ready(Err(unset())),
                Poll::Pending if self.returned => return Poll::Ready(Err(unset())),
                Poll::Pending => return Poll::Pending,
            }
        }
        if matches!(self.side, Side::Collecting { .. })
            && let Poll::Ready(Err(error)) = self.collect(cx)
        {
            return Poll::Ready(Err(error));
        }
        if matches!(self.side, Side::Streaming { .. }) {
            self.stream(cx);
        }
        match &mut self.side {
            Side::Whole(_) if self.returned => {
                let Side::Whole(response) = std::mem::replace(&mut self.side, Side::Ended) else {
                    unreachable!("matched above")
                };
                Poll::Ready(Ok(Outcome::Whole(response)))
            }
            Side::Streaming {
                body: None,
                ahead_len: 0,
                broke,
                ..
            } => match broke.take() {
                Some(reason) => Poll::Ready(Err(CallError::Failed(reason))),
                None => {
                    if let Some(io) = self.io {
                        io.emit(CallEvent::End(None));
                    }
                    self.side = Side::Ended;
                    self.ended_at = Some(Instant::now());
                    self.finished()
                }
            },
            Side::Ended => self.finished(),
            _ => Poll::Pending,
        }
    }

    /// Done once `handle` returned too.
    fn finished(&self) -> Poll<Result<Outcome, CallError>> {
        if self.returned {
            Poll::Ready(Ok(Outcome::Streamed))
        } else {
            Poll::Pending
        }
    }

    /// Reads the body while it keeps coming; whole if it ends, else the head goes out.
    fn collect(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        let Side::Collecting { body, bytes, .. } = &mut self.side else {
            return Poll::Pending;
        };
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        bytes.extend_from_slice(&data);
                        if bytes.len() > self.limits.max_whole {
                            if self.io.is_none() {
                                return Poll::Ready(Err(CallError::Failed(format!(
                                    "the response body is larger than {} bytes \
                                     (--max-write-buffer-size)",
                                    self.limits.max_whole
                                ))));
                            }
                            self.start_streaming();
                            return Poll::Ready(Ok(()));
                        }
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Err(CallError::Failed(format!(
                        "the response body failed: {error}"
                    ))));
                }
                Poll::Ready(None) => {
                    let Side::Collecting { parts, bytes, .. } =
                        std::mem::replace(&mut self.side, Side::Ended)
                    else {
                        unreachable!("matched above")
                    };
                    self.side = Side::Whole(response(&parts, bytes));
                    return Poll::Ready(Ok(()));
                }
                // Whole answers only, or a plugin that only gave the loop a turn: the rest
                // comes without waiting for anything outside.
                Poll::Pending if self.io.is_none() || self.just_yielded => return Poll::Pending,
                Poll::Pending => {
                    self.start_streaming();
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }

    /// Sends the head and turns to streaming the body; the deadline moves from the head to
    /// the stream's.
    fn start_streaming(&mut self) {
        let Some(io) = self.io else {
            return;
        };
        let Side::Collecting { parts, body, bytes } =
            std::mem::replace(&mut self.side, Side::Ended)
        else {
            return;
        };
        let length = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse().ok());
        io.emit(CallEvent::Head(ResponseHead {
            status: parts.status.as_u16(),
            headers: wire_headers(&parts),
            length,
        }));
        // The first piece goes once the guest has written the head and asks for it.
        io.pipe().delivered(!bytes.is_empty());
        let stream_until = self.stream_until();
        self.deadline.set(stream_until.unwrap_or_else(far_future));
        let ahead_len = bytes.len();
        let ahead = if bytes.is_empty() {
            VecDeque::new()
        } else {
            VecDeque::from([Bytes::from(bytes)])
        };
        self.side = Side::Streaming {
            body: Some(body),
            ahead,
            ahead_len,
            broke: None,
        };
    }

    /// When a streamed body must end, if ever.
    fn stream_until(&self) -> Option<Instant> {
        self.limits
            .stream_for
            .and_then(|duration| Instant::now().checked_add(duration))
    }

    /// Reads ahead up to a piece, hands the guest the next piece when it took the last, and
    /// reads ahead again: the plugin's channel is always either polled (its waker set) or
    /// holding a piece the guest's next ask wakes this call for.
    fn stream(&mut self, cx: &mut Context<'_>) {
        let Side::Streaming {
            body,
            ahead,
            ahead_len,
            broke,
        } = &mut self.side
        else {
            return;
        };
        let Some(io) = self.io else {
            return;
        };
        read_ahead(cx, body, ahead, ahead_len, broke);
        if *ahead_len > 0
            && let Some(room) = io.pipe().may_deliver()
        {
            let piece = take_piece(ahead, ahead_len, room);
            read_ahead(cx, body, ahead, ahead_len, broke);
            io.pipe().delivered(*ahead_len > 0);
            io.emit(CallEvent::Body(piece));
        }
    }

    /// Fails the call when the head is late, or a stream runs past its time.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<Result<Outcome, CallError>> {
        let until = match &self.side {
            Side::Waiting(_) | Side::Collecting { .. } | Side::Whole(_) => self.head_by,
            Side::Streaming { .. } => self.deadline_of_stream(),
            Side::Ended => self
                .ended_at
                .and_then(|at| at.checked_add(self.limits.after_end)),
        };
        let Some(until) = until else {
            return Poll::Pending;
        };
        let timer = match &mut self.timer {
            Some((at, timer)) if *at == until => timer,
            slot => {
                &mut slot
                    .insert((until, Box::pin(tokio::time::sleep_until(until.into()))))
                    .1
            }
        };
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(Err(match self.side {
            Side::Ended => CallError::Failed(format!(
                "handle did not return within {:?} of ending its body",
                self.limits.after_end
            )),
            Side::Streaming { .. } => CallError::Failed(format!(
                "the response body ran past --max-stream-duration {:?}",
                self.limits.stream_for.unwrap_or_default()
            )),
            _ => CallError::TimedOut,
        }))
    }

    /// The stream's deadline, as set when its head went out.
    fn deadline_of_stream(&self) -> Option<Instant> {
        self.limits.stream_for.map(|_| self.deadline.get())
    }
}

/// Reads the plugin's body until a piece is ahead, it has nothing more now, or it ended.
fn read_ahead(
    cx: &mut Context<'_>,
    body: &mut Option<HyperOutgoingBody>,
    ahead: &mut VecDeque<Bytes>,
    ahead_len: &mut usize,
    broke: &mut Option<String>,
) {
    while *ahead_len < RESPONSE_PIECE
        && let Some(reading) = body
    {
        match Pin::new(reading).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    *ahead_len += data.len();
                    ahead.push_back(data);
                }
            }
            Poll::Ready(Some(Err(error))) => {
                *broke = Some(format!("the response body failed: {error}"));
                *body = None;
            }
            Poll::Ready(None) => *body = None,
            Poll::Pending => break,
        }
    }
}

fn unset() -> CallError {
    CallError::Failed("handle returned without setting a response".into())
}
