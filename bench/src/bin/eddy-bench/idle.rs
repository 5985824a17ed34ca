//! Resident memory per idle keep-alive connection: open N connections, send one request on
//! each and read its answer, leave them open, and compare the server's resident set with the
//! one it had with no connection open (after one warm-up request on a connection since closed).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::server::{Server, fail};

/// How long the server gets to settle before its resident set is read.
const SETTLE: Duration = Duration::from_millis(500);

/// What one idle-connections measurement found.
pub struct Idle {
    /// Resident set with no connection open, KiB.
    pub base_kib: u64,
    /// Resident set with the connections open, KiB.
    pub loaded_kib: u64,
    /// Connections held open.
    pub connections: usize,
}

impl Idle {
    /// Bytes of resident set per open connection.
    pub fn bytes_per_connection(&self) -> f64 {
        (self.loaded_kib as f64 - self.base_kib as f64) * 1024.0 / self.connections as f64
    }
}

/// Measures `server` with `connections` idle keep-alive connections.
pub fn measure(server: &Server, connections: usize) -> Idle {
    drop(request(server.addr, 0));
    std::thread::sleep(SETTLE);
    let base_kib = server.rss_kib();
    let open: Vec<TcpStream> = (0..connections).map(|n| request(server.addr, n)).collect();
    std::thread::sleep(SETTLE);
    let loaded_kib = server.rss_kib();
    // Every connection must still be open, or the server shed some and the number lies.
    let alive = open.iter().filter(|conn| is_open(conn)).count();
    if alive != connections {
        fail(&format!(
            "{} of {connections} idle connections to {} were closed",
            connections - alive,
            server.addr
        ));
    }
    Idle {
        base_kib,
        loaded_kib,
        connections,
    }
}

/// Opens a connection, makes one keep-alive request and reads the whole answer.
fn request(addr: SocketAddr, index: usize) -> TcpStream {
    let why = |e: std::io::Error| -> ! {
        fail(&format!(
            "idle connection {index} to {addr}: {e} (raise `ulimit -n`; bench/run does)"
        ))
    };
    let mut conn = TcpStream::connect(addr).unwrap_or_else(|e| why(e));
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .unwrap_or_else(|e| why(e));
    let mut answer = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).unwrap_or_else(|e| why(e));
        if n == 0 {
            fail(&format!(
                "idle connection {index}: {addr} closed before answering"
            ));
        }
        answer.extend_from_slice(&buf[..n]);
        if let Some(length) = answer_length(&answer)
            && answer.len() >= length
        {
            return conn;
        }
    }
}

/// The full length of an answer once its head is complete (head plus Content-Length).
fn answer_length(answer: &[u8]) -> Option<usize> {
    let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&answer[..head_end]).ok()?;
    let body = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    Some(head_end + body)
}

/// Whether the server has left the connection open (a read would block, not return 0).
fn is_open(conn: &TcpStream) -> bool {
    conn.set_nonblocking(true).ok();
    let mut byte = [0u8; 1];
    matches!(conn.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::answer_length;

    #[test]
    fn answer_length_waits_for_the_head_and_counts_the_body() {
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!";
        for split in 0..answer.len() - 13 {
            let partial = &answer[..split];
            assert!(answer_length(partial).is_none_or(|n| n > partial.len()));
        }
        assert_eq!(answer_length(answer), Some(answer.len()));
        assert_eq!(answer_length(b"HTTP/1.1 204 No Content\r\n\r\n"), Some(27));
    }
}
