//! The IOStream handle: Tornado's `IOStream` API over one connection the host owns.
//!
//! Reads and writes are futures (see `futures.rs`); the runtime feeds received bytes into the
//! shared state (`inner.rs`) and, at the end of every round, flushes queued writes and tells
//! the host whether the stream wants to read (flow control: no pending read, no reading).

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use regex::bytes::Regex;

use super::error::{CloseReason, StreamError};
use super::futures::{Connect, Read, ReadInto, Write};
use super::inner::StreamInner;
use super::read_buffer::ReadTarget;
use crate::host::{ConnId, SocketError, TlsInfo};
use crate::runtime;

/// Default cap on buffered, unread bytes per stream (`--max-buffer-size`): past it the stream
/// closes with [`CloseReason::BufferFull`]. Tornado's 100 MiB is far too much for a sandbox
/// whose memory never shrinks.
pub const DEFAULT_MAX_BUFFER_SIZE: usize = eddy_options::DEFAULT_MAX_BUFFER_SIZE.to_usize();

/// Default cap on queued, unsent bytes per stream (`--max-write-buffer-size`): a write that
/// would pass it fails with [`StreamError::BufferFull`] and the stream stays open.
pub const DEFAULT_MAX_WRITE_BUFFER_SIZE: usize =
    eddy_options::DEFAULT_MAX_WRITE_BUFFER_SIZE.to_usize();

/// A buffered, non-blocking stream over one connection (Tornado's `IOStream`).
///
/// Dropping the handle closes the stream.
pub struct IOStream {
    pub(super) inner: Rc<RefCell<StreamInner>>,
}

impl Default for IOStream {
    fn default() -> Self {
        Self::new()
    }
}

impl IOStream {
    /// Makes an unconnected stream for an outbound connection; call [`IOStream::connect`].
    pub fn new() -> Self {
        Self {
            inner: Rc::new(RefCell::new(StreamInner::unconnected())),
        }
    }

    /// Wraps a connection the host accepted.
    pub(crate) fn accepted(conn: ConnId) -> Self {
        let stream = Self {
            inner: Rc::new(RefCell::new(StreamInner::accepted(conn))),
        };
        runtime::register(conn, stream.inner.clone());
        stream
    }

    /// Connects to `address` (`host:port`); resolves once the connection is established.
    ///
    /// Writes issued before it resolves are queued and sent right after. The host only allows
    /// addresses its policy permits (`--allow-connect`).
    pub fn connect(&self, address: &str) -> Connect<'_> {
        self.start_connect(|| runtime::host().connect(address))
    }

    /// Connects to `address` with TLS, verifying that the server is `server_name` (Tornado's
    /// `SSLIOStream.connect`); resolves once the handshake is done. A certificate that fails
    /// verification fails the connect with the reason.
    pub fn connect_tls(&self, address: &str, server_name: &str) -> Connect<'_> {
        self.start_connect(|| runtime::host().connect_tls(address, server_name))
    }

    /// Upgrades this open stream to TLS (Tornado's `IOStream.start_tls`, for STARTTLS):
    /// as the client verifying `server_name`, or as the server with the host's certificate
    /// when it is `None`. Call it with no read pending and every write done; resolves once
    /// the handshake is done.
    pub fn start_tls(&self, server_name: Option<&str>) -> Connect<'_> {
        let early = self.inner.borrow_mut().start_tls(server_name).err();
        Connect::new(&self.inner, early)
    }

    /// What the TLS handshake agreed on, once the stream speaks TLS (accepted on a
    /// `--listen-tls` listener, or after `connect_tls` or `start_tls`).
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.inner.borrow_mut().tls_info()
    }

    fn start_connect(&self, connect: impl FnOnce() -> Result<ConnId, SocketError>) -> Connect<'_> {
        let mut inner = self.inner.borrow_mut();
        if !inner.is_unconnected() {
            return Connect::new(&self.inner, Some(StreamError::AlreadyConnected));
        }
        match connect() {
            Ok(conn) => {
                inner.on_connecting(conn);
                runtime::register(conn, self.inner.clone());
                Connect::new(&self.inner, None)
            }
            Err(error) => {
                inner.close(Some(CloseReason::Socket(error)));
                Connect::new(&self.inner, Some(inner.closed_error()))
            }
        }
    }

    /// Reads up to and including `delimiter` (Tornado's `read_until`).
    ///
    /// With `max_bytes`, a delimiter not found within that many bytes closes the stream and
    /// fails the read with [`CloseReason::UnsatisfiableRead`].
    pub fn read_until(&self, delimiter: &[u8], max_bytes: Option<usize>) -> Read<'_> {
        self.read(ReadTarget::Until {
            delimiter: delimiter.to_vec(),
            max_bytes,
        })
    }

    /// Reads up to and including the first match of `regex` (Tornado's `read_until_regex`).
    pub fn read_until_regex(&self, regex: &Regex, max_bytes: Option<usize>) -> Read<'_> {
        self.read(ReadTarget::UntilRegex {
            regex: regex.clone(),
            max_bytes,
        })
    }

    /// Reads `n` bytes; with `partial`, resolves as soon as 1..=n bytes are available.
    pub fn read_bytes(&self, n: usize, partial: bool) -> Read<'_> {
        self.read(ReadTarget::Bytes { n, partial })
    }

    /// Reads everything until the stream closes, including what is buffered at close.
    pub fn read_until_close(&self) -> Read<'_> {
        self.read(ReadTarget::UntilClose)
    }

    /// Reads into `buf`: fills it, or with `partial` copies what is available (at least 1 byte).
    /// Resolves to the number of bytes copied; saves an allocation per read.
    pub fn read_into<'a>(&'a self, buf: &'a mut [u8], partial: bool) -> ReadInto<'a> {
        ReadInto::start(&self.inner, buf, partial)
    }

    fn read(&self, target: ReadTarget) -> Read<'_> {
        Read::start(&self.inner, target, false)
    }

    /// Queues `data` for writing; resolves once every byte up to it has been handed to the host.
    ///
    /// Fails at once with [`StreamError::BufferFull`] (stream left open) if the queue would
    /// pass the write buffer cap, and with [`StreamError::Closed`] on a closed stream.
    pub fn write(&self, data: impl Into<Vec<u8>>) -> Write<'_> {
        Write::start(&self.inner, data.into())
    }

    /// Closes the stream (Tornado's `close`); pending reads and writes fail with
    /// [`StreamError::Closed`] and then the close callback runs.
    pub fn close(&self) {
        self.inner.borrow_mut().close(None);
    }

    /// Sets a function to run once the stream closes, for whatever reason.
    ///
    /// While a close callback is set the stream keeps reading (up to the buffer cap) so that it
    /// notices the peer going away even when no read is pending.
    pub fn set_close_callback(&self, callback: impl FnOnce() + 'static) {
        self.inner
            .borrow_mut()
            .set_close_callback(Box::new(callback));
    }

    /// Whether the stream is closed.
    pub fn closed(&self) -> bool {
        self.inner.borrow().is_closed()
    }

    /// Whether a read is outstanding.
    pub fn reading(&self) -> bool {
        self.inner.borrow().is_reading()
    }

    /// Total bytes of this stream handed to the host so far: a write makes progress when
    /// this grows.
    pub fn bytes_written(&self) -> u64 {
        self.inner.borrow().bytes_written()
    }

    /// Whether written bytes are still waiting to be handed to the host.
    pub fn writing(&self) -> bool {
        self.inner.borrow().is_writing()
    }

    /// Why the stream closed, if it closed because of an error.
    pub fn error(&self) -> Option<CloseReason> {
        self.inner.borrow().close_reason()
    }

    /// The host's id of the underlying connection, while there is one (connecting or open).
    pub fn conn_id(&self) -> Option<ConnId> {
        self.inner.borrow().conn()
    }

    /// Sets `TCP_NODELAY` (Tornado's `set_nodelay`).
    ///
    /// # Errors
    /// [`StreamError::Closed`] if there is no open connection, or the socket's error.
    pub fn set_nodelay(&self, on: bool) -> Result<(), StreamError> {
        let inner = self.inner.borrow();
        match inner.conn() {
            Some(conn) => runtime::host()
                .set_nodelay(conn, on)
                .map_err(|error| StreamError::Closed(Some(CloseReason::Socket(error)))),
            None => Err(inner.closed_error()),
        }
    }

    /// Changes the read buffer cap of this stream.
    pub fn set_max_buffer_size(&self, bytes: usize) {
        self.inner.borrow_mut().max_buffer_size = bytes;
    }

    /// Changes the write buffer cap of this stream.
    pub fn set_max_write_buffer_size(&self, bytes: usize) {
        self.inner.borrow_mut().max_write_buffer_size = bytes;
    }

    /// How many received bytes are buffered and unread.
    pub fn buffered(&self) -> usize {
        self.inner.borrow().buffered()
    }
}

/// A handle on a stream that does not keep it open: what the HTTP server's response budget
/// needs to watch a connection's progress and to cut it.
pub(crate) struct StreamWatch(Weak<RefCell<StreamInner>>);

impl IOStream {
    /// A handle that watches this stream without keeping it open.
    pub(crate) fn watch(&self) -> StreamWatch {
        StreamWatch(Rc::downgrade(&self.inner))
    }
}

impl StreamWatch {
    /// Total bytes of the stream handed to the host so far; `None` once the stream is gone.
    pub(crate) fn bytes_written(&self) -> Option<u64> {
        self.0.upgrade().map(|inner| inner.borrow().bytes_written())
    }

    /// Closes the stream, if it still exists: its pending reads and writes fail.
    pub(crate) fn close(&self) {
        if let Some(inner) = self.0.upgrade() {
            inner.borrow_mut().close(None);
        }
    }
}

impl Drop for IOStream {
    fn drop(&mut self) {
        self.inner.borrow_mut().close(None);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::host::{ErrorCode, Event, SocketError};
    use crate::testing::{FakeHost, deliver, received};
    use crate::{TcpServer, executor, listen};
    use std::future::Future;
    use std::pin::Pin;

    type Log = Rc<RefCell<Vec<String>>>;

    /// Accepts connection `conn` and runs `body` as its handler.
    fn serve<F, Fut>(conn: ConnId, body: F)
    where
        F: Fn(IOStream) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        struct Server<F>(F);
        impl<F, Fut> TcpServer for Server<F>
        where
            F: Fn(IOStream) -> Fut + 'static,
            Fut: Future<Output = ()> + 'static,
        {
            fn handle_stream(
                &self,
                stream: IOStream,
                _address: String,
            ) -> impl Future<Output = ()> {
                (self.0)(stream)
            }
        }
        listen(Server(body));
        deliver([Event::Accepted {
            conn,
            listener: 0,
            peer: "127.0.0.1:9".into(),
        }]);
    }

    fn echo_lines(
        max: Option<usize>,
        log: Log,
    ) -> impl Fn(IOStream) -> Pin<Box<dyn Future<Output = ()>>> {
        move |stream| {
            let log = log.clone();
            Box::pin(async move {
                loop {
                    match stream.read_until(b"\n", max).await {
                        Ok(line) => {
                            if stream.write(line).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            log.borrow_mut().push(error.to_string());
                            return;
                        }
                    }
                }
            })
        }
    }

    #[test]
    fn echo_one_line_costs_one_send_and_no_interest_churn() {
        let host = FakeHost::install();
        serve(1, echo_lines(None, Log::default()));
        assert!(host.interest(1), "a pending read turns read interest on");
        let interest_changes = host.0.borrow().interest.len();
        deliver([received(1, b"hello\nwor")]);
        assert_eq!(host.sent_on(1), b"hello\n");
        deliver([received(1, b"ld\n")]);
        assert_eq!(host.sent_on(1), b"hello\nworld\n");
        assert_eq!(host.0.borrow().send_calls, 2);
        assert_eq!(
            host.0.borrow().interest.len(),
            interest_changes,
            "interest stays on between lines"
        );
    }

    #[test]
    fn read_until_past_max_bytes_closes_with_unsatisfiable_read() {
        let host = FakeHost::install();
        let log = Log::default();
        serve(7, echo_lines(Some(8), log.clone()));
        deliver([received(7, b"0123456789")]);
        assert!(host.was_closed(7));
        assert_eq!(
            log.borrow().as_slice(),
            ["stream is closed: unsatisfiable read: delimiter not found within 8 bytes"]
        );
    }

    #[test]
    fn delimiter_split_across_every_pair_of_reads_is_found() {
        let message = b"first line\r\n";
        for split in 1..message.len() {
            let host = FakeHost::install();
            let got: Rc<RefCell<Vec<u8>>> = Rc::default();
            let sink = got.clone();
            serve(3, move |stream| {
                let sink = sink.clone();
                async move {
                    *sink.borrow_mut() = stream.read_until(b"\r\n", Some(64)).await.expect("line")
                }
            });
            deliver([received(3, &message[..split])]);
            assert!(
                got.borrow().is_empty(),
                "split {split}: nothing before the delimiter completes"
            );
            deliver([received(3, &message[split..])]);
            assert_eq!(got.borrow().as_slice(), message, "split {split}");
            assert!(host.was_closed(3), "the handler dropped the stream");
        }
    }

    #[test]
    fn end_of_stream_gives_read_until_close_the_rest_and_runs_close_callback_after() {
        let host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(5, move |stream| {
            let seen = seen.clone();
            async move {
                let order = seen.clone();
                stream.set_close_callback(move || order.borrow_mut().push("callback".into()));
                let rest = stream.read_until_close().await.expect("rest");
                seen.borrow_mut()
                    .push(String::from_utf8(rest).expect("utf8"));
                assert!(stream.closed());
            }
        });
        deliver([
            received(5, b"tail "),
            received(5, b"bytes"),
            Event::EndOfStream(5),
        ]);
        assert_eq!(log.borrow().as_slice(), ["tail bytes", "callback"]);
        assert!(host.was_closed(5));
    }

    #[test]
    fn reset_fails_pending_read_with_socket_error_and_runs_close_callback() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(6, move |stream| {
            let seen = seen.clone();
            async move {
                let order = seen.clone();
                stream.set_close_callback(move || order.borrow_mut().push("callback".into()));
                let error = stream.read_bytes(10, false).await.expect_err("reset");
                seen.borrow_mut().push(error.to_string());
            }
        });
        let reset = SocketError {
            code: ErrorCode::ConnectionReset,
            message: "connection reset by peer".into(),
        };
        deliver([
            received(6, b"abc"),
            Event::Failed {
                conn: 6,
                error: reset,
            },
        ]);
        assert_eq!(
            log.borrow().as_slice(),
            [
                "stream is closed: socket error: connection reset by peer",
                "callback"
            ]
        );
    }

    #[test]
    fn buffered_read_completes_even_after_close() {
        let _host = FakeHost::install();
        type Results = Vec<Result<Vec<u8>, StreamError>>;
        let got: Rc<RefCell<Results>> = Rc::default();
        let sink = got.clone();
        serve(8, move |stream| {
            let sink = sink.clone();
            async move {
                crate::sleep(std::time::Duration::from_secs(1)).await;
                let first = stream.read_bytes(3, false).await;
                sink.borrow_mut().push(first);
                let second = stream.read_bytes(3, false).await;
                sink.borrow_mut().push(second);
            }
        });
        deliver([received(8, b"abcd"), Event::EndOfStream(8), Event::Timer(1)]);
        let got = got.borrow();
        assert_eq!(got[0], Ok(b"abc".to_vec()));
        assert_eq!(got[1], Err(StreamError::Closed(None)));
    }

    #[test]
    fn short_sends_wait_for_writable_and_write_resolves_when_handed_over() {
        let host = FakeHost::install();
        host.0.borrow_mut().send_budget = Some(4);
        let done = Rc::new(RefCell::new(false));
        let flag = done.clone();
        serve(9, move |stream| {
            let flag = flag.clone();
            async move {
                stream.write(b"0123456789".to_vec()).await.expect("written");
                *flag.borrow_mut() = true;
            }
        });
        assert_eq!(host.sent_on(9), b"0123");
        assert!(!*done.borrow());
        host.0.borrow_mut().send_budget = None;
        deliver([Event::Writable(9)]);
        assert_eq!(host.sent_on(9), b"0123456789");
        assert!(*done.borrow());
    }

    #[test]
    fn write_past_max_write_buffer_size_fails_without_closing() {
        let host = FakeHost::install();
        host.0.borrow_mut().send_budget = Some(0);
        let log = Log::default();
        let seen = log.clone();
        serve(10, move |stream| {
            let seen = seen.clone();
            async move {
                stream.set_max_write_buffer_size(8);
                let first = stream.write(b"12345".to_vec());
                let second = stream.write(b"6789".to_vec()).await;
                seen.borrow_mut()
                    .push(format!("{second:?} closed={}", stream.closed()));
                drop(first);
            }
        });
        assert_eq!(log.borrow().as_slice(), ["Err(BufferFull) closed=false"]);
    }

    #[test]
    fn read_buffer_past_max_closes_with_buffer_full() {
        let host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(11, move |stream| {
            let seen = seen.clone();
            async move {
                stream.set_max_buffer_size(4);
                let error = stream.read_bytes(100, false).await.expect_err("too big");
                seen.borrow_mut().push(format!("{:?}", error.reason()));
            }
        });
        deliver([received(11, b"0123456789")]);
        assert_eq!(log.borrow().as_slice(), ["Some(BufferFull)"]);
        assert!(host.was_closed(11));
    }

    #[test]
    fn no_pending_read_turns_read_interest_off() {
        let host = FakeHost::install();
        serve(12, move |stream| async move {
            let _ = stream.read_bytes(2, false).await;
            crate::sleep(std::time::Duration::from_secs(5)).await;
            drop(stream);
        });
        assert!(host.interest(12));
        deliver([received(12, b"ab")]);
        assert!(
            !host.interest(12),
            "nobody reads, so the host must stop reading"
        );
    }

    #[test]
    fn second_read_fails_with_already_reading() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(13, move |stream| {
            let seen = seen.clone();
            async move {
                let first = stream.read_bytes(1, false);
                let second = stream.read_bytes(1, false).await;
                seen.borrow_mut().push(format!("{second:?}"));
                drop(second);
                let first = first.await;
                seen.borrow_mut().push(format!("{first:?}"));
            }
        });
        deliver([received(13, b"x")]);
        assert_eq!(
            log.borrow().as_slice(),
            ["Err(AlreadyReading)", "Ok([120])"]
        );
    }

    #[test]
    fn writes_before_connect_completes_are_sent_after_it() {
        let host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        executor::spawn(async move {
            let stream = IOStream::new();
            let connecting = stream.connect("127.0.0.1:80");
            let write = stream.write(b"GET / HTTP/1.0\r\n\r\n".to_vec());
            connecting.await.expect("connected");
            write.await.expect("sent");
            let reply = stream.read_until_close().await.expect("reply");
            seen.borrow_mut()
                .push(String::from_utf8(reply).expect("utf8"));
        });
        deliver([]);
        assert_eq!(
            host.sent_on(1001),
            b"",
            "nothing is sent before the connection exists"
        );
        deliver([Event::Connected(1001)]);
        assert_eq!(host.sent_on(1001), b"GET / HTTP/1.0\r\n\r\n");
        deliver([
            received(1001, b"HTTP/1.0 200 OK\r\n\r\nhi"),
            Event::EndOfStream(1001),
        ]);
        assert_eq!(log.borrow().as_slice(), ["HTTP/1.0 200 OK\r\n\r\nhi"]);
    }

    #[test]
    fn denied_connect_fails_with_the_host_reason() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        executor::spawn(async move {
            let stream = IOStream::new();
            let error = stream.connect("denied:80").await.expect_err("denied");
            seen.borrow_mut().push(error.to_string());
        });
        deliver([]);
        assert_eq!(
            log.borrow().as_slice(),
            ["stream is closed: socket error: denied:80 not allowed"]
        );
    }

    #[test]
    fn failed_connect_fails_the_connect_without_closing_on_the_host() {
        let host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        executor::spawn(async move {
            let stream = IOStream::new();
            let connecting = stream.connect("127.0.0.1:81");
            seen.borrow_mut().push(format!("{:?}", stream.conn_id()));
            let error = connecting.await.expect_err("refused");
            seen.borrow_mut().push(error.to_string());
            seen.borrow_mut().push(format!("{:?}", stream.conn_id()));
            let again = stream.connect("127.0.0.1:81").await;
            seen.borrow_mut().push(format!("{again:?}"));
        });
        deliver([]);
        let refused = SocketError {
            code: ErrorCode::ConnectionRefused,
            message: "connection refused".into(),
        };
        deliver([Event::Failed {
            conn: 1001,
            error: refused,
        }]);
        assert_eq!(
            log.borrow().as_slice(),
            [
                "Some(1001)",
                "stream is closed: socket error: connection refused",
                "None",
                "Err(AlreadyConnected)"
            ]
        );
        assert!(!host.was_closed(1001), "the host already forgot it");
    }

    #[test]
    fn read_into_copies_into_the_callers_buffer() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(14, move |stream| {
            let seen = seen.clone();
            async move {
                let mut buf = [0u8; 4];
                let n = stream.read_into(&mut buf, false).await.expect("four bytes");
                seen.borrow_mut().push(format!("{n} {:?}", &buf));
                let n = stream.read_into(&mut buf, true).await.expect("partial");
                seen.borrow_mut().push(format!("{n} {:?}", &buf[..n]));
            }
        });
        deliver([received(14, b"abcdef")]);
        assert_eq!(
            log.borrow().as_slice(),
            ["4 [97, 98, 99, 100]", "2 [101, 102]"]
        );
    }

    #[test]
    fn cancelled_read_puts_its_bytes_back() {
        let _host = FakeHost::install();
        let log = Log::default();
        let seen = log.clone();
        serve(15, move |stream| {
            let seen = seen.clone();
            async move {
                let early = crate::timeout(
                    std::time::Duration::from_secs(1),
                    stream.read_bytes(10, false),
                )
                .await;
                seen.borrow_mut().push(format!("{early:?}"));
                let all = stream.read_bytes(10, false).await.expect("all ten");
                seen.borrow_mut()
                    .push(String::from_utf8(all).expect("utf8"));
            }
        });
        deliver([received(15, b"01234"), Event::Timer(1)]);
        deliver([received(15, b"56789")]);
        assert_eq!(log.borrow().as_slice(), ["Err(TimedOut)", "0123456789"]);
    }
}
