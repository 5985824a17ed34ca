//! A handler's status must be a final one (200–599): anything else is sent as a 500 with a
//! log line, so a 1xx can never leave a client waiting or shift a pipelined connection's
//! answers by one.

mod util;

use std::time::Duration;

use util::Guest::Handlers;
use util::{Eddy, read_response, write_all};

#[test]
fn a_plugin_status_outside_200_to_599_becomes_a_500_with_a_log_line() {
    let eddy = Eddy::serve_guest(Handlers(&["faulty"]), &["--workers", "1"]);
    for code in [100, 101, 199, 600, 999, 1000] {
        let mut stream = eddy.connect();
        // Pipelined: the answer to the second request must not be taken for the first's.
        let requests = format!(
            "GET /status?code={code} HTTP/1.1\r\nHost: a\r\n\r\nGET /status?code=204 HTTP/1.1\r\nHost: a\r\n\r\n"
        );
        write_all(&mut stream, requests.as_bytes());
        let first = read_response(&mut stream, false);
        assert_eq!(first.status, 500, "status {code} was sent as {first:?}");
        let second = read_response(&mut stream, false);
        assert_eq!(second.status, 204, "after {code}: {second:?}");
        eddy.wait_stderr(&format!("with status {code}, outside 200–599"));
    }
    for code in [200, 404, 599] {
        let mut stream = eddy.connect();
        write_all(
            &mut stream,
            format!("GET /status?code={code} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
        let response = read_response(&mut stream, false);
        assert_eq!(response.status, code);
        assert_eq!(response.text(), format!("status {code}"));
    }
}

#[test]
fn python_http_client_gets_a_500_for_a_100_final_status() {
    let eddy = Eddy::serve_guest(Handlers(&["faulty"]), &["--workers", "1"]);
    let script = format!(
        "import http.client\n\
         c = http.client.HTTPConnection('127.0.0.1', {port}, timeout=5)\n\
         c.request('GET', '/status?code=100')\n\
         r = c.getresponse()\n\
         print(r.status, r.read().decode()[:20])\n",
        port = eddy.addr.port()
    );
    let output = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.starts_with("500 "),
        "python3 got {stdout:?}, {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The connection stays usable: the next request on a new client is answered at once.
    let started = std::time::Instant::now();
    let mut stream = eddy.connect();
    write_all(&mut stream, b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(read_response(&mut stream, false).status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
}
