//! A plugin built with the `wasm32-wasip2` toolchain, so it imports WASI the way components
//! from other languages do. Each path tries one kind of authority and answers what it got:
//!
//! - `/file?path=P`: read a file; `/dir`: list `/`;
//! - `/env`: read the environment; `/socket?addr=A`: open a TCP connection;
//! - `/config?key=K`: read setting K of its `[plugins.wasi-probe]` table (`wasi:config`);
//! - `/clock`: read the wall clock; `/print`: write a line to stdout and stderr.

use std::io::Read;

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
        _ => "unknown probe".to_owned(),
    };
    Response::text(200, body)
}

eddy_plugin::export_handler!(probe);
