//! Helpers for the integration tests: start the real `eddy` binary, find its port, read its
//! output, measure its memory.

#![allow(dead_code)]

pub mod components;
pub mod tls_proxy;
pub mod upstream;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The path of a guest component the build produced.
pub fn guest(name: &str) -> PathBuf {
    eddy_host::guests::path(name)
}

/// The path of a guest component the build produced, as a command-line argument.
#[track_caller]
pub fn guest_arg(name: &str) -> String {
    guest(name).to_str().expect("utf-8 path").to_owned()
}

/// Whether this test binary runs its servers over TLS: `tests/http_tls.rs` runs the cases
/// of `tests/http.rs` against a `--listen-tls` listener, through [`tls_proxy`].
pub const OVER_TLS: bool = is_tls_crate(env!("CARGO_CRATE_NAME").as_bytes());

const fn is_tls_crate(name: &[u8]) -> bool {
    matches!(name, b"http_tls")
}

/// The scheme requests report: `https` over TLS.
pub const SCHEME: &str = if OVER_TLS { "https" } else { "http" };

/// What `eddy serve` runs, by the names of the components this workspace builds.
#[derive(Clone, Copy, Debug)]
pub enum Guest<'a> {
    /// The server guest embedded in the binary, with no handler: Tornado's seed example.
    Embedded,
    /// A guest component of its own, e.g. `Component("echo")`.
    Component(&'a str),
    /// The embedded server guest calling plugin handlers, in route order, each `NAME` or
    /// `REGEX=NAME` as `--handler` takes them, with a component name in place of the path.
    Handlers(&'a [&'a str]),
}

impl Guest<'_> {
    /// The command-line arguments that select this guest.
    #[track_caller]
    fn args(self) -> Vec<String> {
        match self {
            Guest::Embedded => Vec::new(),
            Guest::Component(name) => vec![guest_arg(name)],
            Guest::Handlers(handlers) => handlers
                .iter()
                .flat_map(|handler| {
                    let handler = match handler.rsplit_once('=') {
                        Some((route, name)) => format!("{route}={}", guest_arg(name)),
                        None => guest_arg(handler),
                    };
                    ["--handler".to_owned(), handler]
                })
                .collect(),
        }
    }
}

/// A running `eddy` process, killed on drop.
pub struct Eddy {
    child: Child,
    /// Where tests connect: the first listen address (the real port when started with port
    /// 0), or the plaintext side of the TLS proxy in front of it ([`OVER_TLS`]).
    pub addr: SocketAddr,
    /// The first address the server itself listens on.
    pub listen_addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut text = into.lock().expect("lock");
            text.push_str(&line);
            text.push('\n');
        }
    });
}

impl Eddy {
    /// Starts `eddy serve` on a free loopback port running `guest`, with `flags` after the
    /// guest's arguments, and waits until it listens.
    #[track_caller]
    pub fn serve_guest(guest: Guest<'_>, flags: &[&str]) -> Self {
        let mut args = if OVER_TLS {
            let cert = tls_proxy::test_cert();
            vec![
                "--listen-tls".to_owned(),
                "127.0.0.1:0".to_owned(),
                "--tls-cert".to_owned(),
                cert.cert.display().to_string(),
                "--tls-key".to_owned(),
                cert.key.display().to_string(),
            ]
        } else {
            vec!["--listen".to_owned(), "127.0.0.1:0".to_owned()]
        };
        args.extend(guest.args());
        args.extend(flags.iter().map(|flag| (*flag).to_owned()));
        let mut server = Self::serve(&args.iter().map(String::as_str).collect::<Vec<_>>());
        if OVER_TLS {
            server.addr = tls_proxy::start(server.listen_addr);
        }
        server
    }

    /// Starts `eddy serve ARGS...` and waits until it listens.
    #[track_caller]
    pub fn serve(args: &[&str]) -> Self {
        Self::serve_within(args, Duration::from_secs(60))
    }

    /// Starts `eddy serve ARGS...` and waits up to `limit` until it listens (a cold compile of
    /// a large component takes a while).
    #[track_caller]
    pub fn serve_within(args: &[&str], limit: Duration) -> Self {
        Self::serve_with_env(args, &[], limit)
    }

    /// Starts `eddy serve ARGS...` with the environment variables `env` added, and waits up
    /// to `limit` until it listens.
    #[track_caller]
    pub fn serve_with_env(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start eddy");
        let (stdout, stderr) = (
            Arc::new(Mutex::new(String::new())),
            Arc::new(Mutex::new(String::new())),
        );
        collect(child.stdout.take().expect("piped"), stdout.clone());
        collect(child.stderr.take().expect("piped"), stderr.clone());
        let deadline = Instant::now() + limit;
        loop {
            let found = listening_addr(&stderr.lock().expect("lock"));
            if let Some(addr) = found {
                return Self {
                    child,
                    addr,
                    listen_addr: addr,
                    stdout,
                    stderr,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "eddy exited with {status}: {}",
                    stderr.lock().expect("lock")
                );
            }
            assert!(
                Instant::now() < deadline,
                "eddy did not start listening: {}",
                stderr.lock().expect("lock")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Connects to the server.
    #[track_caller]
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to eddy");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        stream
    }

    /// Everything the server printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("lock").clone()
    }

    /// Everything the server logged on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// Waits until stdout contains `needle`.
    #[track_caller]
    pub fn wait_stdout(&self, needle: &str) -> String {
        wait_for("stdout", needle, || self.stdout())
    }

    /// Waits until stderr contains `needle`.
    #[track_caller]
    pub fn wait_stderr(&self, needle: &str) -> String {
        wait_for("stderr", needle, || self.stderr())
    }

    /// The server's resident set size in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        let line = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .expect("VmRSS line");
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .expect("value")
            .parse()
            .expect("number");
        kib * 1024
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("proc stat");
        // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        let ticks = fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0);
        Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}

impl Drop for Eddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `read` for up to 10 s until its text contains `needle`.
#[track_caller]
fn wait_for(what: &str, needle: &str, read: impl Fn() -> String) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = read();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never contained {needle:?}; it has:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn listening_addr(log: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|line| line.contains("listening on "))?;
    line.rsplit("listening on ")
        .next()?
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()?
        .parse()
        .ok()
}

/// Runs `eddy ARGS...` to completion with a time limit; returns (exit code, stdout, stderr).
#[track_caller]
pub fn eddy(args: &[&str], limit: Duration) -> (Option<i32>, Vec<u8>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start eddy");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("eddy {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status.code(),
        out.join().expect("stdout"),
        err.join().expect("stderr"),
    )
}

/// Reads exactly `n` bytes.
#[track_caller]
pub fn read_exact(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("read");
    buf
}

/// Writes all of `bytes`.
#[track_caller]
pub fn write_all(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("write");
}

/// Whether the peer closed the connection (EOF or reset) within the read timeout.
pub fn is_closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) => return error.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// One HTTP response read off a socket.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The status line and header lines, as received.
    pub head: String,
    /// The body (Content-Length framed).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response: the head up to CRLF CRLF, then `Content-Length` bytes of body (none
/// for `HEAD` requests when `head_request`).
#[track_caller]
pub fn read_response(stream: &mut TcpStream, head_request: bool) -> HttpResponse {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read response head");
        assert!(
            n == 1,
            "connection closed inside a response head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("ASCII head");
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .expect("status code");
    let mut response = HttpResponse {
        status,
        head,
        body: Vec::new(),
    };
    let length: usize = response
        .header("Content-Length")
        .map_or(0, |v| v.parse().expect("length"));
    if !head_request {
        response.body = read_exact(stream, length);
    }
    response
}

/// Sends `request` on a new connection and reads one response.
#[track_caller]
pub fn roundtrip(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(request).expect("write request");
    read_response(&mut stream, false)
}

/// Reads until the peer closes; fails if it does not within the socket's read timeout.
#[track_caller]
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(error) => panic!(
                "the server did not close: {error}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

impl Eddy {
    /// Sends signal `name` (e.g. `TERM`) to the server.
    #[track_caller]
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `limit` for the server to exit; returns its exit code (None: still running).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status.code());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}
