//! The http-client example run by `eddy run` against a local server started by the test.

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use util::{eddy, guest};

/// Serves one HTTP/1.0 response with `body` to each of `count` connections.
fn http_server(body: Vec<u8>, count: usize) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming().take(count) {
            let mut conn = conn.expect("accept");
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = conn.read(&mut buf).expect("read request");
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes()).expect("head");
            conn.write_all(&body).expect("body");
        }
    });
    addr
}

#[test]
fn http_client_fetches_a_body_byte_exact() {
    let body: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let addr = http_server(body.clone(), 1).to_string();
    let component = guest("http-client");
    let url = format!("http://{addr}/file.bin");
    let (code, stdout, stderr) = eddy(
        &[
            "run",
            "--allow-connect",
            &addr,
            component.to_str().expect("utf-8"),
            &url,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout == body,
        "body differs: got {} bytes, expected {}",
        stdout.len(),
        body.len()
    );
}

#[test]
fn http_client_without_allow_connect_fails_clearly() {
    let addr = http_server(b"secret".to_vec(), 1).to_string();
    let component = guest("http-client");
    let url = format!("http://{addr}/");
    let (code, stdout, stderr) = eddy(
        &["run", component.to_str().expect("utf-8"), &url],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "nothing may be fetched");
    assert!(
        stderr.contains(&format!("start eddy with --allow-connect {addr}")),
        "{stderr}"
    );
}

#[test]
fn connection_refused_is_reported_not_hung() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let component = guest("http-client");
    let (code, _, stderr) = eddy(
        &[
            "run",
            "--allow-connect",
            &addr,
            component.to_str().expect("utf-8"),
            &format!("http://{addr}/"),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1));
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
}
