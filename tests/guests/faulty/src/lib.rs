//! A misbehaving plugin for the integration tests. By the last path segment:
//!
//! - `/panic`: panics (a trap: the server must answer 500 and carry on);
//! - `/alloc`: allocates until the memory cap stops it;
//! - `/spin`: loops forever (the epoch deadline must stop it);
//! - `/split`: returns a header value with CR LF in it (the server must refuse to send it);
//! - `/big?mb=N`: answers N MiB (default 16) of `0123456789` repeated, for clients that may
//!   never read it;
//! - `/status?code=N`: answers with status N whatever it is (1xx and 600+ included);
//! - anything else: `ok N`, where N counts the requests this instance answered.

use std::cell::Cell;

use eddy_plugin::{Request, Response};

thread_local! {
    static ANSWERED: Cell<u64> = const { Cell::new(0) };
}

fn faulty(request: &Request) -> Response {
    match request.path.rsplit('/').next().unwrap_or("") {
        "panic" => panic!("asked to panic"),
        "spin" => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "big" => {
            let mib: usize = request
                .argument("mb")
                .and_then(|n| n.parse().ok())
                .unwrap_or(16);
            let body: Vec<u8> = b"0123456789"
                .iter()
                .copied()
                .cycle()
                .take(mib << 20)
                .collect();
            Response::new(200)
                .header("Content-Type", "application/octet-stream")
                .body(body)
        }
        "status" => {
            let code = request
                .argument("code")
                .and_then(|n| n.parse().ok())
                .unwrap_or(200);
            Response::text(code, format!("status {code}"))
        }
        "split" => {
            Response::text(200, "never sent").header("X-Injected", "a\r\nSet-Cookie: stolen=1")
        }
        _ => {
            let answered = ANSWERED.with(|n| {
                n.set(n.get() + 1);
                n.get()
            });
            Response::text(200, format!("ok {answered}"))
        }
    }
}

eddy_plugin::export_handler!(faulty);
