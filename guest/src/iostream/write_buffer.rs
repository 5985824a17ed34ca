//! The write side of an IOStream: queued bytes and the running totals that say which writes
//! have been handed to the host.
//!
//! Plain data, no I/O: `stream.rs` takes chunks from it and reports how many bytes the host
//! accepted.

use std::collections::VecDeque;

/// Bytes written by the guest and not yet handed to the host.
#[derive(Debug, Default)]
pub struct WriteBuffer {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already handed over.
    offset: usize,
    /// Bytes still queued.
    len: usize,
    /// Total bytes ever queued: a write's index is this total right after it.
    queued_total: u64,
    /// Total bytes ever handed to the host.
    done_total: u64,
}

impl WriteBuffer {
    /// Queues bytes (taking ownership, no copy) and returns the index the write completes at.
    pub fn push(&mut self, data: Vec<u8>) -> u64 {
        if !data.is_empty() {
            self.len += data.len();
            self.queued_total += data.len() as u64;
            self.chunks.push_back(data);
        }
        self.queued_total
    }

    /// How many bytes are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total bytes handed to the host so far.
    pub fn done_total(&self) -> u64 {
        self.done_total
    }

    /// The next bytes to hand over, at most `max`; small chunks are merged so that one send
    /// carries them all.
    pub fn next_chunk(&mut self, max: usize) -> &[u8] {
        while self.chunks.len() > 1 && self.chunks[0].len() - self.offset < max {
            let next = self.chunks.remove(1).expect("len > 1");
            let front = &mut self.chunks[0];
            if self.offset > 0 {
                front.drain(..self.offset);
                self.offset = 0;
            }
            let room = max.saturating_sub(front.len());
            if next.len() <= room {
                front.extend_from_slice(&next);
            } else {
                front.extend_from_slice(&next[..room]);
                self.chunks.insert(1, next[room..].to_vec());
                break;
            }
        }
        match self.chunks.front() {
            Some(front) => {
                let end = front.len().min(self.offset + max);
                &front[self.offset..end]
            }
            None => &[],
        }
    }

    /// Records that the host accepted the first `n` bytes of the last chunk.
    pub fn advance(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        self.done_total += n as u64;
        while n > 0 {
            let front_left = self.chunks[0].len() - self.offset;
            if n < front_left {
                self.offset += n;
                return;
            }
            n -= front_left;
            self.chunks.pop_front();
            self.offset = 0;
        }
    }

    /// Drops everything queued (the stream closed).
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.offset = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_writes_are_merged_into_one_chunk() {
        let mut buffer = WriteBuffer::default();
        assert_eq!(buffer.push(b"HTTP/1.1 200 OK\r\n".to_vec()), 17);
        assert_eq!(buffer.push(b"\r\n".to_vec()), 19);
        assert_eq!(buffer.push(b"body".to_vec()), 23);
        assert_eq!(buffer.next_chunk(1024), b"HTTP/1.1 200 OK\r\n\r\nbody");
        buffer.advance(23);
        assert!(buffer.is_empty());
        assert_eq!(buffer.done_total(), 23);
    }

    #[test]
    fn chunks_are_capped_and_short_sends_resume() {
        let mut buffer = WriteBuffer::default();
        buffer.push(b"abcdef".to_vec());
        buffer.push(b"ghij".to_vec());
        assert_eq!(buffer.next_chunk(4), b"abcd");
        buffer.advance(3);
        assert_eq!(buffer.next_chunk(4), b"defg");
        buffer.advance(4);
        assert_eq!(buffer.next_chunk(4), b"hij");
        buffer.advance(3);
        assert_eq!(buffer.next_chunk(4), b"");
        assert_eq!(buffer.done_total(), 10);
    }

    #[test]
    fn empty_write_completes_at_current_index() {
        let mut buffer = WriteBuffer::default();
        buffer.push(b"ab".to_vec());
        assert_eq!(buffer.push(Vec::new()), 2);
        assert_eq!(buffer.len(), 2);
    }
}
