//! The server side of one HTTP/1.1 connection as a sans-IO state machine (Tornado's
//! `HTTP1Connection` reading side): bytes in, complete requests or rejections out.
//!
//! The caller loops on [`ServerConn::step`]: on [`Step::NeedData`] it reads and calls
//! [`ServerConn::feed`] (or [`ServerConn::feed_eof`]); on [`Step::Request`] it answers and
//! steps again (pipelined requests come out in order); on [`Step::Reject`] it answers with
//! the status and closes. The state machine never buffers more than the head limit plus one
//! read beyond what the current request needs.

use std::rc::Rc;

use super::body_stream::{BodyStep, StreamedBody};
use super::budget::BodyBudget;
use super::chunked::ChunkedDecoder;
use super::framing::{Framing, body_framing};
use super::gzip::{GzipError, gzip_decompress};
use super::head::{RequestHead, parse_request_head};

/// The limits one connection enforces.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Bytes a request head may take; past it the request gets 431.
    pub max_header_size: usize,
    /// Bytes a body may have (after decompression); past it the request gets 413.
    pub max_body_size: usize,
    /// Whether gzip request bodies are decompressed (`--decompress-request`).
    pub decompress: bool,
    /// The worker's budget for buffered bodies, shared by its connections; a body that does
    /// not fit gets 503.
    pub body_budget: Rc<BodyBudget>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_size: 64 * 1024,
            max_body_size: 10 * 1024 * 1024,
            decompress: false,
            body_budget: BodyBudget::unlimited(),
        }
    }
}

/// What the connection waits for when it needs bytes, so the caller picks the timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Between requests, nothing of the next one received (idle timeout).
    Idle,
    /// Part of a request head received (header timeout).
    Head,
    /// Inside a body (body timeout).
    Body,
}

/// A complete request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The head.
    pub head: RequestHead,
    /// The whole body, de-chunked (and decompressed).
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept open afterwards.
    pub keep_alive: bool,
    /// The body was left to the caller to read with [`ServerConn::read_body`] (`body` is
    /// empty); see [`ServerConn::step_with`].
    pub body_streamed: bool,
}

/// A request refused before a handler saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The status to answer with (400, 413, 431, 501, 503, 505).
    pub status: u16,
    /// Why, for the log.
    pub reason: String,
}

/// What the caller does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read more bytes, with the timeout for this phase.
    NeedData(Phase),
    /// Write `HTTP/1.1 100 Continue` (the client sent `Expect: 100-continue` and the request
    /// passed the checks), then step again.
    Continue,
    /// A complete request: answer it, then step again.
    Request(Box<Message>),
    /// Answer with this status and `Connection: close`, then close.
    Reject(Rejection),
    /// The client is done (end of stream between requests): close.
    Finished,
}

/// Where the connection is; each variant says how it is entered.
#[derive(Debug)]
enum State {
    /// Waiting for a head: at the start and after every complete request.
    Head,
    /// Reading a `Content-Length` body; entered from `Head` when the length is non-zero.
    Length {
        head: RequestHead,
        remaining: u64,
        body: Vec<u8>,
    },
    /// Reading a chunked body; entered from `Head` for `Transfer-Encoding: chunked`.
    Chunked {
        head: RequestHead,
        decoder: ChunkedDecoder,
        body: Vec<u8>,
    },
    /// A request was returned with its body left to the caller, who reads it with
    /// `read_body`; entered from `Head` when the caller chose to stream this request's body.
    /// Back to `Head` once the body is read (or discarded by the next step).
    Streaming(StreamedBody),
    /// A request was rejected or the stream ended; nothing more is parsed.
    Done,
}

/// One server connection's parser.
#[derive(Debug)]
pub struct ServerConn {
    limits: Limits,
    buf: Vec<u8>,
    /// Bytes of `buf` before `pos` are consumed.
    pos: usize,
    eof: bool,
    state: State,
    /// Bytes of the body budget this connection holds: for the body being read, or for the
    /// request last returned until the next [`ServerConn::step`].
    held: usize,
    /// Bytes of the body budget held for unparsed input past [`FREE_INPUT`] (a large head
    /// still arriving, pipelined requests waiting).
    held_input: usize,
    /// Input arrived that the budget could not cover: the next step refuses with 503.
    over_budget: bool,
}

/// Unparsed bytes one connection may buffer without drawing on the body budget: ordinary
/// heads fit; a large head arriving slowly on thousands of connections at once draws on the
/// budget and is refused with 503 when it is spent, instead of running the worker out of
/// memory.
pub const FREE_INPUT: usize = 8 * 1024;

/// Why a body was refused for want of budget, for the log and the 503.
const BUDGET_SPENT: &str = "the worker's body budget is spent";

fn reject(status: u16, reason: impl Into<String>) -> Step {
    Step::Reject(Rejection {
        status,
        reason: reason.into(),
    })
}

impl ServerConn {
    /// A connection waiting for its first request.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            state: State::Head,
            held: 0,
            held_input: 0,
            over_budget: false,
        }
    }

    /// Bytes of the worker's body budget this connection holds.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Grows this connection's share of the body budget to `bytes` in all; false if the
    /// budget cannot give that much.
    fn hold(&mut self, bytes: usize) -> bool {
        if bytes <= self.held {
            return true;
        }
        if !self.limits.body_budget.try_reserve(bytes - self.held) {
            return false;
        }
        self.held = bytes;
        true
    }

    /// Gives back what this connection holds for a body.
    fn release(&mut self) {
        self.limits.body_budget.release(self.held);
        self.held = 0;
    }

    /// Sets the budget held for unparsed input to `bytes`; false if it cannot grow that far.
    fn hold_input(&mut self, bytes: usize) -> bool {
        let budget = &self.limits.body_budget;
        if bytes > self.held_input && !budget.try_reserve(bytes - self.held_input) {
            return false;
        }
        budget.release(self.held_input.saturating_sub(bytes));
        self.held_input = bytes;
        true
    }

    /// Drops consumed input (and the buffer itself once it is empty, so an idle connection
    /// keeps no memory: the next read's buffer is taken as it comes, see
    /// [`ServerConn::feed_owned`]), and lowers the input hold to what is still unparsed.
    fn settle_input(&mut self) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.pos = 0;
            self.buf = Vec::new();
        }
        let unparsed = match self.state {
            State::Head => self.buffered().saturating_sub(FREE_INPUT),
            // Bytes of a body go straight into the body, whose length is held already.
            _ => 0,
        };
        if unparsed < self.held_input {
            self.hold_input(unparsed);
        }
    }

    /// Adds bytes read from the socket.
    ///
    /// Between requests, unparsed input past [`FREE_INPUT`] must fit the body budget; when it
    /// does not, the bytes are dropped and the next [`ServerConn::step`] refuses with 503.
    pub fn feed(&mut self, data: &[u8]) {
        if self.admit(data.len()) {
            self.buf.extend_from_slice(data);
        }
    }

    /// Adds bytes read from the socket, taking the buffer they came in: when nothing is
    /// pending (the usual case, a request arriving whole), the bytes are parsed where they
    /// are instead of being copied. Otherwise as [`ServerConn::feed`].
    pub fn feed_owned(&mut self, data: Vec<u8>) {
        if !self.admit(data.len()) {
            return;
        }
        if self.buf.is_empty() {
            self.buf = data;
        } else {
            self.buf.extend_from_slice(&data);
        }
    }

    /// Drops consumed input before more arrives and checks the input hold for `len` more
    /// bytes; false when they must be dropped (the budget is spent).
    fn admit(&mut self, len: usize) -> bool {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if matches!(self.state, State::Head) {
            let unparsed = self.buf.len().saturating_add(len);
            if !self.hold_input(unparsed.saturating_sub(FREE_INPUT)) {
                self.over_budget = true;
                return false;
            }
        }
        true
    }

    /// Records that the peer closed its side: no more bytes will come.
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Advances as far as the buffered bytes allow.
    ///
    /// The body of a returned [`Step::Request`] counts against the body budget until this is
    /// called again (the caller answers first), or the connection is dropped.
    pub fn step(&mut self) -> Step {
        self.step_with(|_| false)
    }

    /// Like [`ServerConn::step`], but a request with a body for which `streams_body` says yes
    /// comes out at once, with an empty body that the caller reads with
    /// [`ServerConn::read_body`] (Tornado's `@stream_request_body`). Whatever the caller
    /// leaves unread is discarded by the next step.
    pub fn step_with(&mut self, streams_body: impl Fn(&RequestHead) -> bool) -> Step {
        if self.over_budget {
            self.state = State::Done;
            self.release();
            return reject(503, BUDGET_SPENT);
        }
        let step = self.advance(&streams_body);
        self.settle_input();
        step
    }

    /// The next piece of a streamed body ([`Message::body_streamed`]); [`BodyStep::End`]
    /// when there is none.
    pub fn read_body(&mut self) -> BodyStep {
        let State::Streaming(body) = &mut self.state else {
            return BodyStep::End;
        };
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let (used, step) = body.next(rest, self.eof);
        self.pos += used;
        match step {
            BodyStep::End => self.state = State::Head,
            BodyStep::Failed(_) => self.state = State::Done,
            _ => {}
        }
        step
    }

    fn advance(&mut self, streams_body: &dyn Fn(&RequestHead) -> bool) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Head => {
                self.release();
                self.step_head(streams_body)
            }
            State::Streaming(body) => {
                if body.awaits_continue() {
                    // The client waits for 100 Continue that nobody asked for: closing is
                    // the only way not to read the body (RFC 9110 §10.1.1).
                    return Step::Finished;
                }
                self.state = State::Streaming(body);
                self.discard_body(streams_body)
            }
            State::Length {
                head,
                remaining,
                body,
            } => self.step_length(head, remaining, body),
            State::Chunked {
                head,
                decoder,
                body,
            } => self.step_chunked(head, decoder, body),
            State::Done => {
                self.release();
                Step::Finished
            }
        }
    }

    /// Reads past what the caller left of a streamed body, then goes on with the next request.
    fn discard_body(&mut self, streams_body: &dyn Fn(&RequestHead) -> bool) -> Step {
        loop {
            match self.read_body() {
                BodyStep::Data(_) | BodyStep::Continue => {}
                BodyStep::End => return self.advance(streams_body),
                BodyStep::NeedData => return Step::NeedData(Phase::Body),
                // The response is already out: all that is left is to close.
                BodyStep::Failed(_) => return Step::Finished,
            }
        }
    }

    fn rest(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn step_head(&mut self, streams_body: &dyn Fn(&RequestHead) -> bool) -> Step {
        let parsed = parse_request_head(self.rest(), self.limits.max_header_size);
        let (head, used) = match parsed {
            Err(error) => return reject(error.status(), error.reason()),
            Ok(Some(found)) => found,
            Ok(None) => {
                let started = self.rest().iter().any(|&b| b != b'\r' && b != b'\n');
                if self.eof {
                    // A head cut short by the peer cannot be answered meaningfully.
                    return Step::Finished;
                }
                self.state = State::Head;
                return Step::NeedData(if started { Phase::Head } else { Phase::Idle });
            }
        };
        self.pos += used;
        if head.method == "CONNECT" {
            // A tunnel would end HTTP on this connection (RFC 9110 §9.3.6); this server is not
            // a proxy, so it refuses and parses nothing after the head.
            return reject(501, "CONNECT is not supported");
        }
        let framing = match body_framing(&head) {
            Ok(framing) => framing,
            Err(error) => return reject(error.status(), error.reason()),
        };
        if let Framing::Length(length) = framing
            && length > self.limits.max_body_size as u64
        {
            return reject(
                413,
                format!("Content-Length {length} exceeds the body limit"),
            );
        }
        let has_body = matches!(framing, Framing::Chunked)
            || matches!(framing, Framing::Length(length) if length > 0);
        if has_body && streams_body(&head) {
            let continues = head.expects_continue();
            let max = self.limits.max_body_size;
            let body = match framing {
                Framing::Length(length) => StreamedBody::length(length, max, continues),
                _ => StreamedBody::chunked(max, continues),
            };
            self.state = State::Streaming(body);
            let keep_alive = head.wants_keep_alive();
            return Step::Request(Box::new(Message {
                head,
                body: Vec::new(),
                keep_alive,
                body_streamed: true,
            }));
        }
        match framing {
            Framing::None | Framing::Length(0) => self.finish(head, Vec::new()),
            Framing::Length(length) => {
                // Within max_body_size, so it fits in memory's address space.
                let size = usize::try_from(length).unwrap_or(usize::MAX);
                if !self.hold(size) {
                    return reject(503, BUDGET_SPENT);
                }
                let continues = head.expects_continue() && self.buffered() == 0;
                self.state = State::Length {
                    head,
                    remaining: length,
                    body: Vec::with_capacity(size),
                };
                if continues {
                    Step::Continue
                } else {
                    self.step()
                }
            }
            Framing::Chunked => {
                let continues = head.expects_continue() && self.buffered() == 0;
                self.state = State::Chunked {
                    head,
                    decoder: ChunkedDecoder::new(),
                    body: Vec::new(),
                };
                if continues {
                    Step::Continue
                } else {
                    self.step()
                }
            }
        }
    }

    fn step_length(&mut self, head: RequestHead, remaining: u64, mut body: Vec<u8>) -> Step {
        let rest = self.rest();
        let take = rest
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        body.extend_from_slice(rest.get(..take).unwrap_or_default());
        self.pos += take;
        let remaining = remaining - take as u64;
        if remaining == 0 {
            return self.finish(head, body);
        }
        if self.eof {
            return Step::Finished;
        }
        self.state = State::Length {
            head,
            remaining,
            body,
        };
        Step::NeedData(Phase::Body)
    }

    fn step_chunked(
        &mut self,
        head: RequestHead,
        mut decoder: ChunkedDecoder,
        mut body: Vec<u8>,
    ) -> Step {
        loop {
            let decoded = match decoder.decode(self.rest()) {
                Ok(decoded) => decoded,
                Err(error) => return reject(error.status(), error.reason()),
            };
            if let Some(range) = decoded.data {
                let needed = body.len().saturating_add(range.len());
                if needed > self.limits.max_body_size {
                    return reject(413, "chunked body exceeds the body limit");
                }
                if needed > body.capacity() {
                    // Grow by doubling (bounded by the body limit), reserved before allocating.
                    let grown = needed
                        .max(body.capacity().saturating_mul(2))
                        .min(self.limits.max_body_size);
                    if !self.hold(grown) {
                        return reject(503, BUDGET_SPENT);
                    }
                    body.reserve_exact(grown - body.len());
                }
                body.extend_from_slice(self.rest().get(range).unwrap_or_default());
            }
            self.pos += decoded.consumed;
            if decoded.done {
                return self.finish(head, body);
            }
            if decoded.consumed == 0 {
                break;
            }
        }
        if self.eof {
            return Step::Finished;
        }
        self.state = State::Chunked {
            head,
            decoder,
            body,
        };
        Step::NeedData(Phase::Body)
    }

    /// A request is complete: decompress if asked, and get ready for the next one.
    fn finish(&mut self, mut head: RequestHead, mut body: Vec<u8>) -> Step {
        if self.limits.decompress && is_gzip(&head) {
            // The decompressed body may take up to the body limit on top of the compressed one.
            let compressed = body.capacity();
            if !self.hold(compressed.saturating_add(self.limits.max_body_size)) {
                return reject(503, BUDGET_SPENT);
            }
            body = match gzip_decompress(&body, self.limits.max_body_size) {
                Ok(plain) => plain,
                Err(GzipError::TooLarge) => {
                    return reject(413, "decompressed body exceeds the body limit");
                }
                Err(error) => return reject(400, format!("bad gzip body: {}", error.reason())),
            };
            // Tornado's _GzipMessageDelegate: the handler sees the decoded body.
            head.headers.remove("Content-Encoding");
            head.headers.add("X-Consumed-Content-Encoding", "gzip");
            head.headers.set("Content-Length", body.len().to_string());
        }
        let keep_alive = head.wants_keep_alive();
        self.state = State::Head;
        Step::Request(Box::new(Message {
            head,
            body,
            keep_alive,
            body_streamed: false,
        }))
    }
}

impl Drop for ServerConn {
    fn drop(&mut self) {
        self.release();
        self.limits.body_budget.release(self.held_input);
    }
}

fn is_gzip(head: &RequestHead) -> bool {
    head.headers
        .get("Content-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"gzip"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ServerConn {
        ServerConn::new(Limits {
            max_header_size: 1024,
            max_body_size: 64,
            decompress: true,
            body_budget: BodyBudget::unlimited(),
        })
    }

    /// Feeds `input` in the given pieces and collects every step until more data is needed.
    fn run(conn: &mut ServerConn, pieces: &[&[u8]], eof: bool) -> Vec<Step> {
        let mut steps = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            conn.feed(piece);
            if eof && i + 1 == pieces.len() {
                conn.feed_eof();
            }
            loop {
                let step = conn.step();
                let stop = matches!(step, Step::NeedData(_) | Step::Reject(_) | Step::Finished);
                steps.push(step);
                if stop {
                    break;
                }
            }
        }
        steps
    }

    #[test]
    fn owned_input_is_parsed_in_place_and_released_when_idle() {
        let mut conn = conn();
        let input = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
        let at = input.as_ptr();
        conn.feed_owned(input);
        assert_eq!(
            conn.buf.as_ptr(),
            at,
            "the read's buffer is taken, not copied"
        );
        let mut uris = Vec::new();
        loop {
            match conn.step() {
                Step::Request(message) => uris.push(message.head.uri.clone()),
                Step::NeedData(Phase::Idle) => break,
                Step::Continue => {}
                other => panic!("unexpected step {other:?}"),
            }
        }
        assert_eq!(uris, ["/a", "/b"]);
        assert_eq!(
            conn.buf.capacity(),
            0,
            "an idle connection holds no input buffer"
        );
        // Pending bytes are appended to, as with `feed`.
        conn.feed_owned(b"GET /c HT".to_vec());
        conn.feed_owned(b"TP/1.1\r\nHost: h\r\n\r\n".to_vec());
        assert!(matches!(conn.step(), Step::Request(m) if m.head.uri == "/c"));
    }

    fn bodies(steps: &[Step]) -> Vec<(String, Vec<u8>)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Request(m) => Some((m.head.uri.clone(), m.body.clone())),
                _ => None,
            })
            .collect()
    }

    fn status(steps: &[Step]) -> Option<u16> {
        steps.iter().find_map(|s| match s {
            Step::Reject(r) => Some(r.status),
            _ => None,
        })
    }

    const PIPELINE: &[u8] = b"\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n\
GET /c HTTP/1.1\r\nHost: x\r\n\r\n";

    fn budgeted(budget: &Rc<BodyBudget>) -> ServerConn {
        ServerConn::new(Limits {
            max_header_size: 1024,
            max_body_size: 64,
            decompress: false,
            body_budget: budget.clone(),
        })
    }

    #[test]
    fn bodies_share_the_budget_and_give_it_back_after_the_answer() {
        let budget = BodyBudget::new(100);
        let mut first = budgeted(&budget);
        first.feed(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n");
        assert_eq!(first.step(), Step::NeedData(Phase::Body));
        assert_eq!(
            budget.used(),
            60,
            "the whole length is reserved before reading"
        );

        let mut second = budgeted(&budget);
        second.feed(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 41\r\n\r\n");
        assert_eq!(status(&[second.step()]), Some(503));
        drop(second);
        assert_eq!(budget.used(), 60, "a refused body holds nothing");

        first.feed(&[b'a'; 60]);
        assert!(matches!(first.step(), Step::Request(_)));
        assert_eq!(budget.used(), 60, "held while the request is answered");
        let mut third = budgeted(&budget);
        third.feed(b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 41\r\n\r\n");
        assert_eq!(
            third.step(),
            Step::Reject(Rejection {
                status: 503,
                reason: BUDGET_SPENT.into(),
            })
        );
        assert_eq!(first.step(), Step::NeedData(Phase::Idle));
        assert_eq!(budget.used(), 0, "given back at the next step");
        drop(first);

        // A chunked body reserves as it grows and is refused when growth does not fit.
        let mut chunked = budgeted(&budget);
        assert!(budget.try_reserve(90));
        chunked.feed(
            b"POST /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n",
        );
        assert_eq!(chunked.step(), Step::NeedData(Phase::Body));
        assert_eq!(budget.used(), 98);
        chunked.feed(b"8\r\n12345678\r\n");
        assert_eq!(status(&[chunked.step()]), Some(503));
        drop(chunked);
        assert_eq!(
            budget.used(),
            90,
            "a dropped connection gives its share back"
        );
    }

    #[test]
    fn large_unparsed_input_draws_on_the_budget() {
        let budget = BodyBudget::new(15 * 1024);
        let mut slow = ServerConn::new(Limits {
            max_header_size: 64 * 1024,
            body_budget: budget.clone(),
            ..Limits::default()
        });
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
        head.resize(FREE_INPUT + 10 * 1024, b'p');
        slow.feed(&head);
        assert_eq!(slow.step(), Step::NeedData(Phase::Head));
        assert_eq!(budget.used(), 10 * 1024, "what is past the free part");
        let mut other = ServerConn::new(Limits {
            max_header_size: 64 * 1024,
            body_budget: budget.clone(),
            ..Limits::default()
        });
        other.feed(&head);
        assert_eq!(status(&[other.step()]), Some(503), "the budget is spent");
        drop(other);
        slow.feed(b"\r\n\r\n");
        assert!(matches!(slow.step(), Step::Request(_)));
        assert_eq!(budget.used(), 0, "a parsed head holds nothing");
        // Small heads never touch the budget, even when it is spent.
        assert!(budget.try_reserve(15 * 1024));
        let mut small = conn();
        small.limits.body_budget = budget.clone();
        small.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(small.step(), Step::Request(_)));
    }

    #[test]
    fn a_streamed_body_is_read_in_pieces_and_the_next_request_follows() {
        let mut c = conn();
        c.feed(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\nabc");
        let Step::Request(message) = c.step_with(|head| head.uri == "/up") else {
            panic!("the head comes out before the body");
        };
        assert!(message.body_streamed && message.body.is_empty());
        assert_eq!(c.read_body(), BodyStep::Data(b"abc".to_vec()));
        assert_eq!(c.read_body(), BodyStep::NeedData);
        assert_eq!(c.held(), 0, "a streamed body takes no budget");
        c.feed(&[b'd'; 57]);
        c.feed(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(c.read_body(), BodyStep::Data(vec![b'd'; 57]));
        assert_eq!(c.read_body(), BodyStep::End);
        assert!(matches!(c.step(), Step::Request(m) if m.head.uri == "/next"));
    }

    #[test]
    fn an_unread_streamed_body_is_discarded() {
        let mut c = conn();
        let input: &[u8] = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n";
        c.feed(input);
        assert!(matches!(c.step_with(|_| true), Step::Request(m) if m.body_streamed));
        assert!(matches!(c.step(), Step::Request(m) if m.head.uri == "/next"));
        // A body over the limit is refused before the handler sees it, streamed or not.
        let mut big = conn();
        big.feed(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n");
        assert_eq!(status(&[big.step_with(|_| true)]), Some(413));
        // A client waiting for 100 Continue that nobody asked for is closed, not read.
        let mut waiting = conn();
        waiting.feed(
            b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        );
        assert!(matches!(waiting.step_with(|_| true), Step::Request(_)));
        assert_eq!(waiting.step(), Step::Finished);
    }

    #[test]
    fn connect_is_refused_without_parsing_what_follows() {
        let mut c = conn();
        let steps = run(
            &mut c,
            &[b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n"],
            false,
        );
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert_eq!(status(&steps), Some(501));
        assert_eq!(c.step(), Step::Finished);
    }

    #[test]
    fn pipelined_requests_come_out_in_order() {
        let steps = run(&mut conn(), &[PIPELINE], false);
        assert_eq!(
            bodies(&steps),
            [
                ("/a".into(), b"hello".to_vec()),
                ("/b".into(), b"abcde".to_vec()),
                ("/c".into(), vec![])
            ]
        );
        assert_eq!(steps.last(), Some(&Step::NeedData(Phase::Idle)));
    }

    #[test]
    fn every_split_point_parses_identically() {
        let whole = bodies(&run(&mut conn(), &[PIPELINE], false));
        for split in 0..=PIPELINE.len() {
            let (a, b) = PIPELINE.split_at(split);
            assert_eq!(
                bodies(&run(&mut conn(), &[a, b], false)),
                whole,
                "split at {split}"
            );
        }
    }

    #[test]
    fn byte_at_a_time_parses_identically() {
        let mut c = conn();
        let pieces: Vec<&[u8]> = PIPELINE.chunks(1).collect();
        assert_eq!(bodies(&run(&mut c, &pieces, false)).len(), 3);
    }

    #[test]
    fn reports_the_phase_for_timeouts() {
        let mut c = conn();
        assert_eq!(
            run(&mut c, &[b"\r\n"], false),
            [Step::NeedData(Phase::Idle)]
        );
        assert_eq!(
            run(&mut c, &[b"GET / HT"], false),
            [Step::NeedData(Phase::Head)]
        );
        let steps = run(
            &mut c,
            &[b"TP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na"],
            false,
        );
        assert_eq!(steps, [Step::NeedData(Phase::Body)]);
    }

    #[test]
    fn smuggling_shapes_are_rejected() {
        let cases: &[(&[u8], u16)] = &[
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n", 413),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400),
        ];
        for (input, expected) in cases {
            let steps = run(&mut conn(), &[input], false);
            assert_eq!(
                status(&steps),
                Some(*expected),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn an_over_long_request_line_is_431() {
        let mut line = b"GET /".to_vec();
        line.extend(std::iter::repeat_n(b'a', 100_000));
        assert_eq!(status(&run(&mut conn(), &[&line], false)), Some(431));
    }

    #[test]
    fn chunked_bodies_past_the_limit_are_413() {
        let input = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n";
        let mut c = conn();
        let mut pieces = vec![&input[..]];
        let data = [b'a'; 0x40];
        pieces.push(&data);
        pieces.push(b"\r\n1\r\nb\r\n");
        assert_eq!(status(&run(&mut c, &pieces, false)), Some(413));
    }

    #[test]
    fn continue_only_when_the_request_is_accepted_and_no_body_is_buffered() {
        let head =
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
        let mut c = conn();
        assert_eq!(run(&mut c, &[head], false)[0], Step::Continue);
        let big =
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n";
        assert_eq!(status(&run(&mut conn(), &[big], false)), Some(413));
        let with_body =
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
        assert!(!run(&mut conn(), &[with_body], false).contains(&Step::Continue));
    }

    #[test]
    fn keep_alive_follows_version_and_connection_tokens() {
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ];
        for (input, keep) in cases {
            let steps = run(&mut conn(), &[input], false);
            let Some(Step::Request(m)) = steps.first() else {
                panic!("{steps:?}")
            };
            assert_eq!(m.keep_alive, *keep, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn eof_between_requests_finishes_and_mid_request_too() {
        assert_eq!(run(&mut conn(), &[b""], true), [Step::Finished]);
        assert_eq!(run(&mut conn(), &[b"GET / HT"], true), [Step::Finished]);
    }

    #[test]
    fn gzip_bodies_are_decompressed_within_the_limit() {
        let packed = crate::gzip::gzip_compress(b"small", 6);
        let mut input = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            packed.len()
        )
        .into_bytes();
        input.extend(&packed);
        let steps = run(&mut conn(), &[&input], false);
        assert_eq!(bodies(&steps), [("/".into(), b"small".to_vec())]);
        let bomb = crate::gzip::gzip_compress(&[0u8; 1000], 6);
        let mut input = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            bomb.len()
        )
        .into_bytes();
        input.extend(&bomb);
        assert_eq!(status(&run(&mut conn(), &[&input], false)), Some(413));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut bytes = Vec::new();
            for _ in 0..(seed % 200) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(
                    b"GET /HTP1.\r\n:Hostchunked0123456789abcdefContent-Length \t\0"
                        [(seed % 56) as usize],
                );
            }
            let _ = run(&mut conn(), &[&bytes], true);
        }
    }
}
