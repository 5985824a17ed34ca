//! The bindings wasmtime generates from `wit/io`, and the conversions between them and the
//! plain [`boundary`](crate::boundary) types: the only place where the two meet.

use crate::boundary;

/// The generated bindings; their documentation is the WIT's.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/io",
        world: "eddy:io/io-guest",
    });
}

pub(super) use bindings::eddy::io::{clock, log, net, process, timers, types};
pub(super) use bindings::{IoGuest, IoGuestPre};

impl From<boundary::ErrorCode> for types::ErrorCode {
    fn from(code: boundary::ErrorCode) -> Self {
        use boundary::ErrorCode as Code;
        match code {
            Code::ConnectionRefused => Self::ConnectionRefused,
            Code::ConnectionReset => Self::ConnectionReset,
            Code::ConnectionAborted => Self::ConnectionAborted,
            Code::TimedOut => Self::TimedOut,
            Code::NotPermitted => Self::NotPermitted,
            Code::InvalidAddress => Self::InvalidAddress,
            Code::Unreachable => Self::Unreachable,
            Code::UnknownConnection => Self::UnknownConnection,
            Code::ResourceExhausted => Self::ResourceExhausted,
            Code::Other => Self::Other,
        }
    }
}

impl From<boundary::SocketError> for types::SocketError {
    fn from(error: boundary::SocketError) -> Self {
        Self {
            code: error.code.into(),
            message: error.message,
        }
    }
}

impl From<boundary::TlsInfo> for types::TlsInfo {
    fn from(info: boundary::TlsInfo) -> Self {
        Self {
            version: info.version,
            cipher_suite: info.cipher_suite,
            server_name: info.server_name,
            alpn: info.alpn,
        }
    }
}

impl From<boundary::Event> for types::Event {
    /// Moves the event's strings and bytes; nothing is copied.
    fn from(event: boundary::Event) -> Self {
        use boundary::Event as E;
        match event {
            E::Accepted(a) => Self::Accepted(types::Accepted {
                conn: a.conn,
                listener: a.listener,
                peer: a.peer,
                local: a.local,
                tls: a.tls.map(Into::into),
            }),
            E::Received(r) => Self::Received(types::Received {
                conn: r.conn,
                bytes: r.bytes,
            }),
            E::EndOfStream(conn) => Self::EndOfStream(conn),
            E::Writable(conn) => Self::Writable(conn),
            E::Connected(conn) => Self::Connected(conn),
            E::Secured(s) => Self::Secured(types::Secured {
                conn: s.conn,
                tls: s.tls.into(),
            }),
            E::Failed(f) => Self::Failed(types::Failure {
                conn: f.conn,
                error: f.error.into(),
            }),
            E::Timer(timer) => Self::Timer(timer),
            E::Draining => Self::Draining,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_their_bytes_and_errors_their_codes() {
        let received = types::Event::from(boundary::Event::Received(boundary::Received {
            conn: 3,
            bytes: b"GET /".to_vec(),
        }));
        assert!(matches!(
            received,
            types::Event::Received(types::Received { conn: 3, ref bytes }) if bytes == b"GET /"
        ));
        let failed = types::Event::from(boundary::Event::Failed(boundary::Failure {
            conn: 4,
            error: boundary::SocketError::unknown(4),
        }));
        assert!(matches!(
            failed,
            types::Event::Failed(types::Failure {
                conn: 4,
                error: types::SocketError {
                    code: types::ErrorCode::UnknownConnection,
                    ..
                }
            })
        ));
    }
}
