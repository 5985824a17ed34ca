//! A `wasi:http` response as the server guest gets it: headers without the framing ones, a
//! whole body, or a body taken a piece at a time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::pipe::RESPONSE_PIECE;
use super::server_wit::eddy::http::types::Response;

/// Response headers dropped from a `wasi:http` response: the server guest frames the body
/// and manages the connection itself.
pub const FRAMING_HEADERS: &[&str] = &["content-length", "transfer-encoding", "connection"];

/// Takes up to `room` bytes (at most [`RESPONSE_PIECE`]) from the front of `ahead`.
pub fn take_piece(ahead: &mut VecDeque<Bytes>, ahead_len: &mut usize, room: usize) -> Vec<u8> {
    let size = (*ahead_len).min(room).min(RESPONSE_PIECE);
    let mut piece = Vec::with_capacity(size);
    while piece.len() < size
        && let Some(front) = ahead.front_mut()
    {
        let wanted = size - piece.len();
        if front.len() <= wanted {
            piece.extend_from_slice(front);
            ahead.pop_front();
        } else {
            piece.extend_from_slice(&front.split_to(wanted));
        }
    }
    *ahead_len -= piece.len();
    piece
}

/// An instant no stream reaches.
pub fn far_future() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600))
        .unwrap_or(now + Duration::from_secs(24 * 3600))
}

/// The response's headers as the guest sends them: without the framing ones.
pub fn wire_headers(parts: &http::response::Parts) -> Vec<(String, Vec<u8>)> {
    parts
        .headers
        .iter()
        .filter(|(name, _)| !FRAMING_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect()
}

/// The eddy response from the collected head and body.
pub fn response(parts: &http::response::Parts, body: Vec<u8>) -> Response {
    Response {
        status: parts.status.as_u16(),
        headers: wire_headers(parts),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_taken_across_and_within_frames() {
        let mut ahead: VecDeque<Bytes> = VecDeque::from([
            Bytes::from_static(b"abc"),
            Bytes::from(vec![7u8; RESPONSE_PIECE]),
        ]);
        let mut len = 3 + RESPONSE_PIECE;
        let first = take_piece(&mut ahead, &mut len, usize::MAX);
        assert_eq!(first.len(), RESPONSE_PIECE);
        assert_eq!(&first[..3], b"abc");
        assert_eq!(len, 3);
        assert_eq!(
            take_piece(&mut ahead, &mut len, 2),
            vec![7u8; 2],
            "as much as there is room for"
        );
        assert_eq!(take_piece(&mut ahead, &mut len, 2), vec![7u8; 1]);
        assert_eq!((len, ahead.len()), (0, 0));
    }
}
