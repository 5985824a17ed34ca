//! A misbehaving plugin for the integration tests. By the last path segment:
//!
//! - `/panic`: panics (a trap: the server must answer 500 and carry on);
//! - `/alloc`: allocates until the memory cap stops it;
//! - `/spin`: loops forever (the epoch deadline must stop it);
//! - `/split`: returns a header value with CR LF in it (the server must refuse to send it);
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
