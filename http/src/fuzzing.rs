//! Entry points for fuzzing every public parser: each takes arbitrary bytes, must never
//! panic, and checks that splitting the input at any point does not change the result.
//!
//! `fuzz/` (cargo-fuzz, nightly) calls these from libFuzzer; the unit tests below call them
//! on generated inputs so that the stable CI runs a smoke of each.

use super::chunked::ChunkedDecoder;
use super::conn::{Limits, ServerConn, Step};
use super::head::parse_request_head;
use super::multipart::parse_multipart_form_data;

/// The requests (uri, body, keep-alive) a connection made of a byte stream, and the status of
/// the rejection that ended it, if any.
type Outcome = (Vec<(String, Vec<u8>, bool)>, Option<u16>);

/// Feeds `pieces` one after another (then the end of stream) and records the outcome.
fn drive(pieces: &[&[u8]]) -> Outcome {
    let limits = Limits {
        max_header_size: 4096,
        max_body_size: 1 << 16,
        decompress: true,
        body_budget: super::BodyBudget::new(1 << 17),
    };
    let mut conn = ServerConn::new(limits);
    let mut requests = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        conn.feed(piece);
        if index + 1 == pieces.len() {
            conn.feed_eof();
        }
        loop {
            match conn.step() {
                Step::NeedData(_) => break,
                Step::Continue => {}
                Step::Request(message) => {
                    requests.push((message.head.uri, message.body, message.keep_alive))
                }
                Step::Reject(rejection) => return (requests, Some(rejection.status)),
                Step::Finished => return (requests, None),
            }
        }
    }
    (requests, None)
}

/// The whole server connection: the first byte picks a split point for the rest.
pub fn connection(data: &[u8]) {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let at = usize::from(split) * input.len() / 256;
    let whole = drive(&[input]);
    let (a, b) = input.split_at(at.min(input.len()));
    assert_eq!(drive(&[a, b]), whole, "split at {at} changed the result");
}

/// The request-head parser: a complete head parses the same with any prefix fed first.
pub fn head(data: &[u8]) {
    let whole = parse_request_head(data, 4096);
    if let Ok(Some((head, used))) = &whole {
        for cut in [used / 2, used.saturating_sub(1)] {
            let prefix = data.get(..cut).unwrap_or_default();
            assert!(
                matches!(parse_request_head(prefix, 4096), Ok(None) | Err(_)),
                "a prefix parsed as complete"
            );
        }
        assert!(!head.method.is_empty());
    }
}

fn dechunk(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool), u16> {
    let mut decoder = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for piece in pieces {
        pending.extend_from_slice(piece);
        loop {
            let decoded = decoder.decode(&pending).map_err(|e| e.status())?;
            if let Some(range) = decoded.data {
                body.extend_from_slice(pending.get(range).unwrap_or_default());
            }
            pending.drain(..decoded.consumed.min(pending.len()));
            if decoded.done {
                return Ok((body, true));
            }
            if decoded.consumed == 0 {
                break;
            }
        }
    }
    Ok((body, false))
}

/// The chunked decoder: the first byte picks a split point; both feedings must agree.
pub fn chunked(data: &[u8]) {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let at = (usize::from(split) * input.len() / 256).min(input.len());
    let whole = dechunk(&[input]);
    let (a, b) = input.split_at(at);
    let split = dechunk(&[a, b]);
    // An error may surface earlier or later, but a success must be identical.
    if let (Ok(whole), Ok(split)) = (&whole, &split)
        && whole.1
        && split.1
    {
        assert_eq!(whole.0, split.0, "split at {at} changed the body");
    }
}

/// The multipart parser on a fixed boundary.
pub fn multipart(data: &[u8]) {
    if let Ok((arguments, files)) = parse_multipart_form_data(b"XyZ", data) {
        let total: usize = arguments
            .iter()
            .map(|(_, v)| v.len())
            .chain(files.iter().map(|(_, f)| f.body.len()))
            .sum();
        assert!(total <= data.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs built from protocol-shaped fragments, so the smoke reaches deep states.
    fn inputs(count: usize) -> Vec<Vec<u8>> {
        const FRAGMENTS: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n",
            b"POST /p HTTP/1.0\r\n",
            b"Host: a\r\n",
            b"Content-Length: 3\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Connection: close\r\n",
            b"Expect: 100-continue\r\n",
            b"\r\n",
            b"3\r\nabc\r\n",
            b"0\r\n\r\n",
            b"5;x=y\r\n",
            b"--XyZ\r\n",
            b"Content-Disposition: form-data; name=\"a\"\r\n",
            b"--XyZ--\r\n",
            b"\0",
            b"\xff",
            b" ",
            b"abc",
            b"\n",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        (0..count)
            .map(|_| {
                let mut input = vec![(next() % 256) as u8];
                for _ in 0..next() % 12 {
                    input.extend_from_slice(FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]);
                }
                input
            })
            .collect()
    }

    #[test]
    fn smoke_every_fuzz_entry_point() {
        for input in inputs(3000) {
            connection(&input);
            head(&input[1..]);
            chunked(&input);
            multipart(&input);
        }
    }
}
