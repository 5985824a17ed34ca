//! The unchanged `http-server` guest under another host: `jco transpile` turns it into ES
//! modules and `examples/node-host/host.mjs` drives it from Node.js over `net` sockets, with a
//! JavaScript handler. A subset of `tests/http.rs` runs against it: keep-alive, pipelining, a
//! chunked request body, and one 400 then a close for a bad head; and a handler that returns a
//! promise holds only its own request (`plugins.start` answers `pending`).

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use util::components::{root, target_dir};
use util::{guest, read_response, read_to_close};

/// Transpiles the http-server component once per test binary; returns the output directory.
fn transpiled() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = target_dir().join("node-host-test");
        let output = Command::new(root().join("examples/node-host/build"))
            .arg(guest("http-server"))
            .arg(&out)
            .env("EDDY_TOOLS", target_dir().join("tools"))
            .output()
            .expect("run examples/node-host/build");
        assert!(
            output.status.success(),
            "jco transpile failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        out
    })
}

/// `node examples/node-host/host.mjs` on a free port, killed on drop.
struct NodeHost {
    child: Child,
    addr: SocketAddr,
}

impl NodeHost {
    fn start() -> Self {
        let mut child = Command::new("node")
            .arg(root().join("examples/node-host/host.mjs"))
            .arg("--component")
            .arg(transpiled())
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node (is Node.js installed?)");
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("node exited before listening")
                .expect("read node's output");
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.parse().expect("an address");
            }
        };
        // Keep draining the log so the host never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Self { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to the node host");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
    }
}

impl Drop for NodeHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `path` the JavaScript handler reports in its JSON.
fn reported(text: &str, field: &str) -> String {
    text.split(&format!(r#""{field}":""#))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_owned()
}

#[test]
fn keeps_connections_alive_across_requests() {
    let host = NodeHost::start();
    let mut stream = host.connect();
    for path in ["/one", "/two", "/three"] {
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .expect("write");
        let response = read_response(&mut stream, false);
        assert_eq!(response.status, 200, "{}", response.head);
        assert_eq!(reported(&response.text(), "path"), path);
        assert_eq!(
            response.header("Server"),
            Some("eddy"),
            "the guest framed it"
        );
    }
}

#[test]
fn answers_pipelined_requests_in_order_and_honours_close() {
    let host = NodeHost::start();
    let mut stream = host.connect();
    stream
        .write_all(
            b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\nPOST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
    let paths: Vec<String> = (0..3)
        .map(|_| {
            let response = read_response(&mut stream, false);
            assert_eq!(response.status, 200, "{}", response.head);
            reported(&response.text(), "path")
        })
        .collect();
    assert_eq!(paths, ["/one", "/two", "/three"]);
    assert!(
        read_to_close(&mut stream).is_empty(),
        "Connection: close must close after the third"
    );
}

#[test]
fn a_chunked_body_reaches_the_handler_whole() {
    let host = NodeHost::start();
    let mut stream = host.connect();
    // Sent in pieces, split inside a chunk-size line and inside a chunk.
    let pieces: [&[u8]; 4] = [
        b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;na",
        b"me=value\r\nhel",
        b"lo\r\n6\r\n world\r\n0\r\nTrailer: dropped\r\n",
        b"\r\n",
    ];
    for piece in pieces {
        stream.write_all(piece).expect("write");
        std::thread::sleep(Duration::from_millis(20));
    }
    let response = read_response(&mut stream, false);
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(reported(&response.text(), "body"), "hello world");
}

#[test]
fn a_bad_head_gets_one_400_and_a_close() {
    let host = NodeHost::start();
    for request in [
        &b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n"[..],
        b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let mut stream = host.connect();
        stream.write_all(request).expect("write");
        let response = read_response(&mut stream, false);
        assert_eq!(
            response.status,
            400,
            "{}\nfor {:?}",
            response.head,
            String::from_utf8_lossy(request)
        );
        assert_eq!(response.header("Connection"), Some("close"));
        assert!(read_to_close(&mut stream).is_empty(), "one response only");
    }
    // The host carries on.
    let mut stream = host.connect();
    stream
        .write_all(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    assert_eq!(read_response(&mut stream, false).status, 200);
}

#[test]
fn a_handler_that_awaits_holds_only_its_own_request() {
    let host = NodeHost::start();
    let mut waiting = host.connect();
    waiting
        .write_all(b"GET /wait?ms=1000 HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(100));
    // Another request is answered while the first one's promise is pending.
    let started = std::time::Instant::now();
    let mut other = host.connect();
    other
        .write_all(b"GET /now HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("write");
    let quick = read_response(&mut other, false);
    assert_eq!(reported(&quick.text(), "path"), "/now");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the bystander waited {:?}",
        started.elapsed()
    );
    let slow = read_response(&mut waiting, false);
    assert_eq!(slow.status, 200, "{}", slow.head);
    assert_eq!(reported(&slow.text(), "path"), "/wait");
}
