//! The native baselines the benchmarks compare Eddy with: a plain single-threaded mio server,
//! no WebAssembly, doing the same work as the guest.
//!
//! ```text
//! native-peer echo  127.0.0.1:9000   # echoes every byte back (what examples/echo does per line)
//! native-peer hello 127.0.0.1:9001   # HTTP/1.1 keep-alive "Hello, world!" with httparse
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Echo,
    Hello,
}

struct Conn {
    socket: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (kind, addr) = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("echo"), Some(addr)) => (Kind::Echo, addr),
        (Some("hello"), Some(addr)) => (Kind::Hello, addr),
        _ => {
            eprintln!("usage: native-peer echo|hello ADDR");
            std::process::exit(2);
        }
    };
    let addr: SocketAddr = match addr.parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("native-peer: bad address {addr}: {error}");
            std::process::exit(2);
        }
    };
    if let Err(error) = serve(kind, addr) {
        eprintln!("native-peer: {error}");
        std::process::exit(1);
    }
}

fn serve(kind: Kind, addr: SocketAddr) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("listening on {}", listener.local_addr()?);
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut socket, _)) => {
                            socket.set_nodelay(true)?;
                            next += 1;
                            poll.registry().register(
                                &mut socket,
                                Token(next),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns.insert(
                                next,
                                Conn {
                                    socket,
                                    input: Vec::new(),
                                    output: Vec::new(),
                                },
                            );
                        }
                        Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                        Err(error) => return Err(error),
                    }
                }
                continue;
            }
            let token = event.token().0;
            let Some(conn) = conns.get_mut(&token) else {
                continue;
            };
            if !drive(kind, conn, &mut buf)
                && let Some(mut conn) = conns.remove(&token)
            {
                poll.registry().deregister(&mut conn.socket)?;
            }
        }
    }
}

/// Reads, answers and writes until the socket would block; false when the connection is done.
fn drive(kind: Kind, conn: &mut Conn, buf: &mut [u8]) -> bool {
    loop {
        if !flush(conn) {
            return false;
        }
        // Like the guest, stop reading while output is still pending (backpressure).
        if !conn.output.is_empty() {
            return true;
        }
        match conn.socket.read(buf) {
            Ok(0) => return false,
            Ok(n) => match kind {
                Kind::Echo => conn.output.extend_from_slice(&buf[..n]),
                Kind::Hello => {
                    conn.input.extend_from_slice(&buf[..n]);
                    if !answer(conn) {
                        return false;
                    }
                }
            },
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return true,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn flush(conn: &mut Conn) -> bool {
    while !conn.output.is_empty() {
        match conn.socket.write(&conn.output) {
            Ok(0) => return false,
            Ok(n) => {
                conn.output.drain(..n);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return true,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Answers every complete request in the input; false on a malformed one.
fn answer(conn: &mut Conn) -> bool {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&conn.input) {
            Ok(httparse::Status::Complete(len)) => {
                conn.output.extend_from_slice(
                    b"HTTP/1.1 200 OK\r\nServer: native\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!",
                );
                conn.input.drain(..len);
            }
            Ok(httparse::Status::Partial) => return true,
            Err(_) => return false,
        }
    }
}
