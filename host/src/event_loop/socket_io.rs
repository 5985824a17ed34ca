//! Plain socket calls a connection needs beyond `read` and `write`: the bytes waiting unread,
//! the kernel's unsent-bytes cap, and writing until the socket would block.

use std::io::{self, Write as _};

use mio::net::TcpStream;

/// Unsent bytes the kernel may queue per connection (`TCP_NOTSENT_LOWAT`): past it a write
/// would block, and `writable` comes when the queue drains below it. Without it the kernel
/// takes megabytes at once (autotuned send buffers) and then stays silent while a slow
/// client reads them, so the guest could not tell a slow reader from one that reads nothing;
/// with it, what the guest hands over follows what the client takes. Bytes in flight (sent,
/// not yet acknowledged) are not limited by it, so throughput on long paths is unchanged.
pub const MAX_UNSENT: usize = 128 * 1024;

/// Bytes waiting in the socket's receive queue (`FIONREAD`); 0 when unknown.
pub fn unread_bytes(socket: &TcpStream) -> usize {
    use std::os::fd::AsRawFd as _;
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid for it.
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), libc::FIONREAD, &mut count) };
    if result == 0 {
        usize::try_from(count).unwrap_or(0)
    } else {
        0
    }
}

/// Caps the unsent bytes the kernel queues for `socket` at [`MAX_UNSENT`] (Linux only; a
/// failure leaves the kernel's default, which is only less precise).
pub fn limit_unsent(socket: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let value = libc::c_int::try_from(MAX_UNSENT).unwrap_or(libc::c_int::MAX);
        // SAFETY: a valid socket descriptor and a c_int option value of the size passed.
        let _ = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// Writes until the socket would block; returns the bytes written.
pub fn write_some(socket: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match socket.write(&bytes[written..]) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(written)
}
