//! A plugin built with the `wasm32-wasip2` toolchain, so it imports WASI the way components
//! from other languages do. Each path tries one kind of authority and answers what it got:
//!
//! - `/file?path=P`: read a file; `/dir`: list `/`;
//! - `/env`: read the environment; `/socket?addr=A`: open a TCP connection;
//! - `/config?key=K`: read setting K of its `[plugins.wasi-probe]` table (`wasi:config`);
//! - `/clock`: read the wall clock; `/print`: write a line to stdout and stderr;
//! - `/flood?mb=N`: write N MiB of 100-byte lines to stdout; `/cr`: write a line with a
//!   carriage return in it; `/long?kb=N`: write one line of N KiB.

use std::io::{Read, Write};

use eddy_plugin::{Request, Response};

fn outcome<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>) -> String {
    match result {
        Ok(value) => format!("granted: {value:?}"),
        Err(error) => format!("denied: {error}"),
    }
}

fn probe(request: &Request) -> Response {
    let arg = |name: &str| request.argument(name).unwrap_or_default();
    let body = match request.path.as_str() {
        "/file" => outcome(std::fs::read_to_string(arg("path"))),
        "/dir" => outcome(std::fs::read_dir("/").map(|entries| entries.count())),
        "/env" => format!("vars: {}", std::env::vars().count()),
        "/socket" => outcome(std::net::TcpStream::connect(arg("addr")).map(|mut stream| {
            let mut buf = [0u8; 16];
            stream.read(&mut buf).unwrap_or(0)
        })),
        "/config" => format!("{:?}", eddy_plugin::config::get(&arg("key"))),
        "/clock" => outcome(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs()),
        ),
        "/print" => {
            println!("hello from a plugin");
            eprintln!("and its stderr");
            "printed".to_owned()
        }
        "/flood" => {
            let mib: usize = arg("mb").parse().unwrap_or(1);
            let mut block = Vec::with_capacity(64 * 1024);
            for line in 0..(64 * 1024 / 100) {
                block.extend_from_slice(
                    format!("flood line {line:06} {}\n", "x".repeat(81)).as_bytes(),
                );
            }
            let mut stdout = std::io::stdout().lock();
            let mut written = 0;
            while written < mib << 20 {
                let _ = stdout.write_all(&block);
                written += block.len();
            }
            let _ = stdout.flush();
            format!("flooded {written}")
        }
        "/cr" => {
            println!("before\rafter \u{1b}[2K\u{7}end");
            "printed".to_owned()
        }
        "/long" => {
            let kib: usize = arg("kb").parse().unwrap_or(100);
            println!("long {}", "y".repeat(kib * 1024));
            "printed".to_owned()
        }
        _ => "unknown probe".to_owned(),
    };
    Response::text(200, body)
}

eddy_plugin::export_handler!(probe);
