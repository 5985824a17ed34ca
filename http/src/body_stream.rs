//! A request body handed to its handler piece by piece instead of buffered whole (Tornado's
//! `@stream_request_body`): the state of one streamed body and the steps it yields.
//!
//! Plain data, no I/O: [`crate::ServerConn::read_body`] feeds it the connection's buffered
//! input and the caller reads more when it asks for data. A streamed body takes no share of
//! the body budget: only the piece in hand is in memory.

use super::chunked::ChunkedDecoder;
use super::conn::Rejection;

/// What reading a streamed body gives next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyStep {
    /// The next piece of the body.
    Data(Vec<u8>),
    /// Read more bytes from the connection (within the body deadline), feed them, ask again.
    NeedData,
    /// Write `HTTP/1.1 100 Continue` first (the client waits for it), then ask again.
    Continue,
    /// The body is complete (or there is none).
    End,
    /// The body is malformed, too large or cut short; the connection cannot go on.
    Failed(Rejection),
}

/// How the rest of the body is framed.
#[derive(Debug)]
enum Remaining {
    /// `Content-Length` bytes still to come.
    Length(u64),
    /// A chunked body, its decoder in the middle of it.
    Chunked(ChunkedDecoder),
    /// Complete.
    Done,
}

/// One body being streamed.
#[derive(Debug)]
pub(crate) struct StreamedBody {
    remaining: Remaining,
    received: usize,
    max: usize,
    continue_pending: bool,
}

fn failed(status: u16, reason: &str) -> BodyStep {
    BodyStep::Failed(Rejection {
        status,
        reason: reason.into(),
    })
}

impl StreamedBody {
    /// A `Content-Length` body of `length` bytes (already checked against the limit).
    pub(crate) fn length(length: u64, max: usize, expects_continue: bool) -> Self {
        Self {
            remaining: Remaining::Length(length),
            received: 0,
            max,
            continue_pending: expects_continue,
        }
    }

    /// A chunked body of at most `max` bytes.
    pub(crate) fn chunked(max: usize, expects_continue: bool) -> Self {
        Self {
            remaining: Remaining::Chunked(ChunkedDecoder::new()),
            received: 0,
            max,
            continue_pending: expects_continue,
        }
    }

    /// Whether the client still waits for `100 Continue` (the body was never asked for).
    pub(crate) fn awaits_continue(&self) -> bool {
        self.continue_pending
    }

    /// Takes the next piece from the start of `input`; returns the bytes used and the step.
    pub(crate) fn next(&mut self, input: &[u8], eof: bool) -> (usize, BodyStep) {
        if self.continue_pending {
            self.continue_pending = false;
            if input.is_empty() && !eof {
                return (0, BodyStep::Continue);
            }
        }
        match &mut self.remaining {
            Remaining::Done => (0, BodyStep::End),
            Remaining::Length(left) => {
                let take = input
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                if take > 0 {
                    *left -= take as u64;
                    if *left == 0 {
                        self.remaining = Remaining::Done;
                    }
                    self.received += take;
                    return (
                        take,
                        BodyStep::Data(input.get(..take).unwrap_or_default().to_vec()),
                    );
                }
                if eof {
                    return (0, failed(400, "the body was cut short"));
                }
                (0, BodyStep::NeedData)
            }
            Remaining::Chunked(decoder) => {
                let (used, step, done) =
                    next_chunk(decoder, input, eof, &mut self.received, self.max);
                if done {
                    self.remaining = Remaining::Done;
                }
                (used, step)
            }
        }
    }
}

/// Decodes up to the next piece of a chunked body: the bytes used, the step, and whether the
/// body (trailers included) is complete.
fn next_chunk(
    decoder: &mut ChunkedDecoder,
    input: &[u8],
    eof: bool,
    received: &mut usize,
    max: usize,
) -> (usize, BodyStep, bool) {
    let mut used = 0;
    loop {
        let rest = input.get(used..).unwrap_or_default();
        let decoded = match decoder.decode(rest) {
            Ok(decoded) => decoded,
            Err(error) => return (used, failed(error.status(), error.reason()), false),
        };
        let data = decoded
            .data
            .and_then(|range| rest.get(range))
            .unwrap_or_default();
        used += decoded.consumed;
        if !data.is_empty() {
            *received = received.saturating_add(data.len());
            if *received > max {
                let step = failed(413, "chunked body exceeds the body limit");
                return (used, step, false);
            }
            return (used, BodyStep::Data(data.to_vec()), decoded.done);
        }
        if decoded.done {
            return (used, BodyStep::End, true);
        }
        if decoded.consumed == 0 {
            let step = if eof {
                failed(400, "the body was cut short")
            } else {
                BodyStep::NeedData
            };
            return (used, step, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `split` bytes and collects the body and the final step.
    fn drain(mut body: StreamedBody, input: &[u8], split: usize) -> (Vec<u8>, BodyStep) {
        let mut out = Vec::new();
        let mut buffered: Vec<u8> = Vec::new();
        let mut pieces = input.chunks(split.max(1));
        loop {
            let (used, step) = body.next(&buffered, false);
            buffered.drain(..used);
            match step {
                BodyStep::Data(data) => out.extend_from_slice(&data),
                BodyStep::NeedData => match pieces.next() {
                    Some(piece) => buffered.extend_from_slice(piece),
                    None => {
                        let (_, last) = body.next(&buffered, true);
                        return (out, last);
                    }
                },
                BodyStep::Continue => {}
                other => return (out, other),
            }
        }
    }

    #[test]
    fn length_bodies_come_out_whole_at_every_split() {
        let input = b"hello, streamed world";
        for split in 1..=input.len() {
            let (body, end) = drain(StreamedBody::length(21, 100, false), input, split);
            assert_eq!(
                (body.as_slice(), end),
                (&input[..], BodyStep::End),
                "{split}"
            );
        }
        let (body, end) = drain(StreamedBody::length(30, 100, false), input, 4);
        assert_eq!(body, input);
        assert_eq!(end, failed(400, "the body was cut short"));
    }

    #[test]
    fn chunked_bodies_come_out_whole_at_every_split() {
        let input = b"5\r\nhello\r\n3;x=1\r\n, s\r\n0\r\nT: v\r\n\r\n";
        for split in 1..=input.len() {
            let (body, end) = drain(StreamedBody::chunked(100, false), input, split);
            assert_eq!(
                (body.as_slice(), end),
                (&b"hello, s"[..], BodyStep::End),
                "{split}"
            );
        }
        let (_, end) = drain(StreamedBody::chunked(6, false), input, 64);
        assert_eq!(end, failed(413, "chunked body exceeds the body limit"));
        let (_, end) = drain(StreamedBody::chunked(100, false), b"zz\r\n", 64);
        assert!(matches!(
            end,
            BodyStep::Failed(Rejection { status: 400, .. })
        ));
    }

    #[test]
    fn continue_comes_first_only_when_nothing_was_sent() {
        let mut body = StreamedBody::length(2, 10, true);
        assert_eq!(body.next(b"", false), (0, BodyStep::Continue));
        assert_eq!(body.next(b"", false), (0, BodyStep::NeedData));
        let mut eager = StreamedBody::length(2, 10, true);
        assert_eq!(
            eager.next(b"ab", false),
            (2, BodyStep::Data(b"ab".to_vec()))
        );
        assert_eq!(eager.next(b"", false), (0, BodyStep::End));
    }
}
