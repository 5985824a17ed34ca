//! One connection's TLS session: ciphertext in from the socket, plaintext out to the guest,
//! and the guest's plaintext encrypted and flushed to the socket under back-pressure.

use std::io::{self, Read as _, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ProtocolVersion, ServerConfig};

use crate::boundary::TlsInfo;

/// Ciphertext read from the socket per round. Smaller than the plaintext buffer it is
/// decrypted into by more than one record, so a record left whole from the previous round
/// still fits: rustls never has to hold decrypted bytes between rounds.
pub const CIPHERTEXT_CHUNK: usize = 44 * 1024;

/// Plaintext rustls holds for sending (encrypted, unwritten) before it takes no more.
const SEND_BUFFER: usize = 64 * 1024;

/// What feeding ciphertext gave.
#[derive(Debug, PartialEq, Eq)]
struct TlsRead {
    /// Plaintext bytes at the front of the output buffer.
    len: usize,
    /// The peer sent `close_notify`: its side is done.
    closed: bool,
}

/// What one round of reading a TLS socket gave.
#[derive(Debug)]
pub enum TlsChunk {
    /// `len` plaintext bytes at the front of the output buffer; `more` when the socket may
    /// hold more (a full read); `closed` when the peer also said `close_notify`.
    Plaintext {
        /// Plaintext bytes.
        len: usize,
        /// The socket may hold more.
        more: bool,
        /// The peer's side is done.
        closed: bool,
    },
    /// The end of the stream: the socket's, or a `close_notify` with nothing before it.
    End,
    /// Nothing to read now (possibly part of a record, kept for the next round).
    Drained,
    /// The socket failed or the peer broke the protocol.
    Failed(io::Error),
}

/// One connection's TLS state.
pub struct Session {
    conn: Connection,
    /// No ciphertext was fed yet.
    fresh: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("handshaking", &self.conn.is_handshaking())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The server side of a new connection.
    ///
    /// # Errors
    /// The configuration is unusable (no protocol versions).
    pub fn server(config: &Arc<ServerConfig>) -> io::Result<Self> {
        let mut conn = rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        conn.set_buffer_limit(Some(SEND_BUFFER));
        Ok(Self {
            conn: conn.into(),
            fresh: true,
        })
    }

    /// The client side of a connection to `server_name` (verified against the config's roots).
    ///
    /// # Errors
    /// `server_name` is neither a DNS name nor an IP address.
    pub fn client(config: &Arc<ClientConfig>, server_name: &str) -> Result<Self, String> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| format!("{server_name:?} is not a server name TLS can verify"))?;
        let mut conn = ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
        conn.set_buffer_limit(Some(SEND_BUFFER));
        Ok(Self {
            conn: conn.into(),
            fresh: true,
        })
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether no ciphertext came from the peer yet (its first bytes are still to come).
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Whether encrypted bytes wait to be written to the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Feeds `ciphertext` to the session and decrypts into `out` what it completes.
    ///
    /// # Errors
    /// The peer broke the protocol or a certificate failed verification; the alert for the
    /// peer is queued (flush it before closing) and the error names the reason.
    fn feed(&mut self, mut ciphertext: &[u8], out: &mut [u8]) -> io::Result<TlsRead> {
        let mut read = TlsRead {
            len: 0,
            closed: false,
        };
        self.fresh = false;
        while !ciphertext.is_empty() {
            self.conn.read_tls(&mut ciphertext)?;
            self.conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            loop {
                match self.conn.reader().read(&mut out[read.len..]) {
                    Ok(0) if read.len < out.len() => {
                        read.closed = true;
                        break;
                    }
                    Ok(0) => break,
                    Ok(n) => read.len += n,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(read)
    }

    /// Reads ciphertext from `socket` into `cipher` and decrypts it into `out`, until some
    /// plaintext comes, the end, or the socket is drained.
    pub fn read_socket(
        &mut self,
        socket: &mut impl io::Read,
        cipher: &mut [u8],
        out: &mut [u8],
    ) -> TlsChunk {
        loop {
            let len = match socket.read(cipher) {
                Ok(0) => return TlsChunk::End,
                Ok(len) => len,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return TlsChunk::Drained;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return TlsChunk::Failed(error),
            };
            let read = match self.feed(&cipher[..len], out) {
                Ok(read) => read,
                Err(error) => return TlsChunk::Failed(error),
            };
            let more = len == cipher.len();
            match read {
                TlsRead {
                    len: 0,
                    closed: true,
                } => return TlsChunk::End,
                TlsRead { len: 0, .. } if !more => return TlsChunk::Drained,
                TlsRead { len: 0, .. } => {}
                TlsRead { len, closed } => return TlsChunk::Plaintext { len, more, closed },
            }
        }
    }

    /// Writes `bytes` through the session to `socket`; returns how many were taken. The
    /// encrypted bytes held from before are written first, and new plaintext is taken only
    /// while they all leave, so a socket that pushes back stops the writer.
    ///
    /// # Errors
    /// The socket failed.
    pub fn write_socket(&mut self, socket: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
        let mut written = 0;
        while self.flush(socket)? && written < bytes.len() {
            let taken = self.write_plaintext(&bytes[written..]);
            if taken == 0 {
                break;
            }
            written += taken;
        }
        Ok(written)
    }

    /// Encrypts what of `bytes` fits in the send buffer; returns how many were taken.
    pub fn write_plaintext(&mut self, bytes: &[u8]) -> usize {
        self.conn.writer().write(bytes).unwrap_or(0)
    }

    /// Writes encrypted bytes to `socket` until none are left (`true`) or it would block.
    ///
    /// # Errors
    /// The socket failed.
    pub fn flush(&mut self, socket: &mut impl Write) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(socket) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }

    /// Queues `close_notify`, so the peer can tell the end from a truncation.
    pub fn send_close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// What the handshake agreed on (meaningful once it is done).
    pub fn info(&self) -> TlsInfo {
        let version = match self.conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        let cipher_suite = self
            .conn
            .negotiated_cipher_suite()
            .map_or_else(String::new, |s| {
                s.suite()
                    .as_str()
                    .map_or_else(|| format!("{:?}", s.suite()), str::to_owned)
            });
        let server_name = match &self.conn {
            Connection::Server(server) => server.server_name().map(str::to_owned),
            Connection::Client(_) => None,
        };
        let alpn = self
            .conn
            .alpn_protocol()
            .map(|alpn| String::from_utf8_lossy(alpn).into_owned());
        TlsInfo {
            version,
            cipher_suite,
            server_name,
            alpn,
        }
    }
}
