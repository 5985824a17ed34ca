//! Real clients against eddy: curl reusing one connection, Python's `http.client`, and
//! Python's `h11` as a strict parser of every response.

mod util;

use std::process::Command;

use util::Eddy;
use util::Guest::{Embedded, Handlers};

fn python(script: &str, server: &Eddy) -> String {
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .arg(&path)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .output()
        .expect("python3 must be installed (.ci/run installs it)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed (needs `python3 -m pip install h11`):\n{stderr}\nserver log:\n{}",
        server.stderr()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn curl_reuses_one_connection_for_several_requests() {
    let server = Eddy::serve_guest(Embedded, &[]);
    let urls: Vec<String> = ["/a", "/b/c", "/d?e=f"]
        .iter()
        .map(|p| format!("http://{}{p}", server.addr))
        .collect();
    let output = Command::new("curl")
        .args(["-sv", "--max-time", "10"])
        .args(&urls)
        .output()
        .expect("curl must be installed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "You requested /a\nYou requested /b/c\nYou requested /d?e=f\n"
    );
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        log.matches("Connected to").count(),
        1,
        "curl opened more than one connection:\n{log}"
    );
    assert!(log.contains("Re-using existing connection"), "{log}");
}

#[test]
fn python_http_client_keeps_its_connection() {
    let server = Eddy::serve_guest(Handlers(&["inspect"]), &[]);
    assert_eq!(
        python("http_client.py", &server),
        "200 x=1\n200 payload\n200 100000\nsame socket True\n"
    );
}

#[test]
fn h11_parses_every_response_strictly() {
    let server = Eddy::serve_guest(Handlers(&["router"]), &[]);
    let out = python("h11_strict.py", &server);
    assert_eq!(
        out,
        "GET /users/ada 200 12\nHEAD /users/ada 200 0\nPOST /greet 200 27\nGET /api/items/42 200 29\n\
DELETE /api/items/42 204 0\nGET /old 301 0\nGET /missing 404 69\nPUT /greet 405 87\nstrict ok\n"
    );
}
