//! Operating-system errors as the guest sees them: a [`SocketError`] code and message.

use std::io;

use crate::boundary::{ErrorCode, SocketError};

/// The guest's view of an I/O error.
pub fn socket_error(error: &io::Error) -> SocketError {
    let code = match error.kind() {
        io::ErrorKind::ConnectionRefused => ErrorCode::ConnectionRefused,
        io::ErrorKind::ConnectionReset => ErrorCode::ConnectionReset,
        io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe => {
            ErrorCode::ConnectionAborted
        }
        io::ErrorKind::TimedOut => ErrorCode::TimedOut,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ErrorCode::Unreachable
        }
        _ if is_fd_exhaustion(error) => ErrorCode::ResourceExhausted,
        _ => ErrorCode::Other,
    };
    SocketError {
        code,
        message: error.to_string(),
    }
}

/// `EMFILE` (process) or `ENFILE` (system): out of file descriptors.
pub fn is_fd_exhaustion(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_the_codes_guests_act_on() {
        let refused = socket_error(&io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.code, ErrorCode::ConnectionRefused);
        let pipe = socket_error(&io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(pipe.code, ErrorCode::ConnectionAborted);
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(is_fd_exhaustion(&emfile));
        assert_eq!(socket_error(&emfile).code, ErrorCode::ResourceExhausted);
        assert_eq!(
            socket_error(&io::Error::other("odd")).code,
            ErrorCode::Other
        );
    }
}
