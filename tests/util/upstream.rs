//! Upstream servers for plugins to fetch, on loopback: a slow HTTP/1.1 server that answers
//! every request after a delay (many at once, a thread per connection, keep-alive honoured),
//! and a silent one that accepts connections and never says a word (a stalled TLS handshake).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A slow upstream; it runs until the test process ends.
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

impl Upstream {
    /// Answers every request `200 ok` after `delay`.
    pub fn start(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
        let addr = listener.local_addr().expect("upstream address");
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (counted, opened) = (requests.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                opened.fetch_add(1, Ordering::SeqCst);
                let counted = counted.clone();
                std::thread::spawn(move || serve(stream, delay, &counted));
            }
        });
        Self {
            addr,
            requests,
            connections,
        }
    }

    /// Requests answered or being answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Answers the requests of one connection, each after `delay`, until it closes.
fn serve(mut stream: TcpStream, delay: Duration, requests: &AtomicUsize) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            requests.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(delay);
            let answer =
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
            if stream.write_all(answer).is_err() {
                return;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// A server that accepts connections and never writes or closes them: a TLS client waits
/// for the ServerHello forever. Keeps every connection open until the test process ends.
pub fn silent() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the silent server");
    let addr = listener.local_addr().expect("silent address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            held.push(stream);
        }
    });
    addr
}
