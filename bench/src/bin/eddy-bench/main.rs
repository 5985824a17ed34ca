//! Side-by-side benchmarks of Eddy against native peers, printed as Markdown for
//! `docs/performance.md`. Run through `bench/run`, which installs the peers and builds
//! everything in release first.
//!
//! ```text
//! eddy-bench echo [--rounds 3]
//! eddy-bench http [--rounds 3] [--duration 5s] [--connections 10000] [--wasi-http]
//!                 [--nginx PATH] [--python PATH] [--tornado-app PATH]
//! eddy-bench tls [--rounds 3] [--duration 5s] [--nginx PATH]
//! eddy-bench upstream [--rounds 3] [--fetches 200] [--duration 5s] [--python PATH]
//!                     [--tornado-app PATH]
//! ```
//!
//! `upstream` measures handlers that wait on another HTTP service, Eddy against Tornado's
//! `AsyncHTTPClient` (see `upstream.rs`).
//!
//! `tls` measures TLS hello against nginx with TLS, keep-alive and a handshake per request
//! (see `tls.rs`).
//!
//! `echo` measures `eddy serve examples/echo` against `native-peer echo` (see `echo.rs`).
//! `http` reproduces the table of the issue "The hot path, redesigned": eddy in its
//! configurations against the native mio + httparse server, nginx and Tornado, then the
//! resident memory per idle connection, the multi-worker ratio, the echo stream ratio and the
//! issue's targets (see `http.rs`).

mod echo;
mod http;
mod idle;
mod server;
mod servers;
mod streamed;
mod targets;
mod tls;
mod upstream;
mod workers;
mod wrk;

use std::path::PathBuf;

use server::fail;

const USAGE: &str = "usage: eddy-bench echo [--rounds N]
       eddy-bench http [--rounds N] [--duration 5s] [--connections N] [--wasi-http]
                       [--nginx PATH] [--python PATH] [--tornado-app PATH]
       eddy-bench tls [--rounds N] [--duration 5s] [--nginx PATH]
       eddy-bench upstream [--rounds N] [--fetches N] [--duration 5s] [--python PATH]
                           [--tornado-app PATH]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .map(|i| args.get(i + 1).cloned().unwrap_or_else(|| usage()))
    };
    let number = |name: &str, default: usize| -> usize {
        value(name).map_or(default, |n| n.parse().unwrap_or_else(|_| usage()))
    };
    // `--runs` is the older name of `--rounds`.
    let rounds = number("--rounds", number("--runs", 3)).max(1);
    match args.first().map(String::as_str) {
        Some("echo") => echo::run(rounds),
        Some("http") => http::run(&http::Options {
            rounds,
            duration: value("--duration").unwrap_or_else(|| "5s".to_owned()),
            idle_connections: number("--connections", 10_000).max(1),
            nginx: PathBuf::from(value("--nginx").unwrap_or_else(|| "nginx".to_owned())),
            python: value("--python").unwrap_or_else(|| "python3".to_owned()),
            tornado_app: PathBuf::from(
                value("--tornado-app").unwrap_or_else(|| "bench/tornado_hello.py".to_owned()),
            ),
            wasi_http: args.iter().any(|a| a == "--wasi-http"),
        }),
        Some("tls") => tls::run(&tls::Options {
            rounds,
            duration: value("--duration").unwrap_or_else(|| "5s".to_owned()),
            nginx: PathBuf::from(value("--nginx").unwrap_or_else(|| "nginx".to_owned())),
        }),
        Some("upstream") => upstream::run(&upstream::Options {
            rounds,
            fetches: number("--fetches", 200).max(1),
            duration: value("--duration").unwrap_or_else(|| "5s".to_owned()),
            python: value("--python").unwrap_or_else(|| "python3".to_owned()),
            tornado_app: PathBuf::from(
                value("--tornado-app").unwrap_or_else(|| "bench/tornado_upstream.py".to_owned()),
            ),
        }),
        Some("--help" | "-h") => println!("{USAGE}"),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}

/// The median of some measurements (the upper one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        fail("no measurements");
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
