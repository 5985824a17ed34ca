//! Binding listeners: IPv4 and IPv6, and one `SO_REUSEPORT` socket per worker when there are
//! several, so the kernel spreads connections across the workers' event loops.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel queues per listener before refusing more.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Resolves a `--listen` value (`ip:port`, `[ipv6]:port` or `host:port`).
///
/// # Errors
/// The value does not resolve to an address.
pub fn resolve(address: &str) -> anyhow::Result<SocketAddr> {
    address
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("--listen {address}: not an address to listen on ({e})"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("--listen {address}: resolves to no address"))
}

fn socket_for(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds `workers` listening sockets to `addr`, one per worker.
///
/// A plain bind comes first, so a port another process holds is an error even though the
/// workers' sockets use `SO_REUSEPORT`.
///
/// # Errors
/// The address is in use or cannot be bound; the message names it.
pub fn bind(addr: SocketAddr, workers: usize) -> anyhow::Result<Vec<TcpListener>> {
    let describe =
        |e: io::Error| anyhow::anyhow!("cannot listen on {addr}: {}", describe_bind_error(&e));
    if workers <= 1 {
        return Ok(vec![socket_for(addr, false).map_err(describe)?]);
    }
    let probe = socket_for(addr, false).map_err(describe)?;
    let bound = probe.local_addr().map_err(describe)?;
    drop(probe);
    (0..workers)
        .map(|_| socket_for(bound, true).map_err(describe))
        .collect()
}

fn describe_bind_error(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::AddrInUse => "address already in use".into(),
        io::ErrorKind::AddrNotAvailable => "address not available on this machine".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_in_use_is_named_in_the_error() {
        let first = bind("127.0.0.1:0".parse().expect("addr"), 1).expect("bind");
        let taken = first[0].local_addr().expect("addr");
        let error = bind(taken, 2).expect_err("in use");
        assert_eq!(
            error.to_string(),
            format!("cannot listen on {taken}: address already in use")
        );
    }

    #[test]
    fn several_workers_share_one_port() {
        let listeners = bind("127.0.0.1:0".parse().expect("addr"), 3).expect("bind");
        let port = listeners[0].local_addr().expect("addr").port();
        assert!(
            listeners
                .iter()
                .all(|l| l.local_addr().expect("addr").port() == port)
        );
    }
}
