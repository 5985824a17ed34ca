//! `eddy-bench http`: the side-by-side table. One worker each, hello world,
//! keep-alive, `wrk -t1 -c64`, rounds interleaved over the servers; then resident memory per
//! idle connection, the multi-worker ratio, the echo stream ratio, and the targets.

use std::path::PathBuf;

use crate::echo;
use crate::idle::{self, Idle};
use crate::median;
use crate::server::Server;
use crate::servers;
use crate::streamed::{self, Streamed};
use crate::targets;
use crate::workers::{self, Workers};
use crate::wrk::{self, Load, Measurement, show_micros};

/// What `eddy-bench http` was asked to do.
pub struct Options {
    /// Interleaved rounds; every number is the median over them.
    pub rounds: usize,
    /// wrk's `-d` per server and round.
    pub duration: String,
    /// Idle keep-alive connections for the memory measurement.
    pub idle_connections: usize,
    /// The nginx binary.
    pub nginx: PathBuf,
    /// The Python interpreter that has Tornado.
    pub python: String,
    /// The Tornado hello app (`bench/tornado_hello.py`).
    pub tornado_app: PathBuf,
    /// Also the `wasi:http` hello, in both isolation modes.
    pub wasi_http: bool,
}

/// A row of the throughput table: its label and how to start its server.
struct Row {
    label: String,
    start: Box<dyn Fn() -> Server>,
}

/// The rows in the order; [`targets`] finds them by these indices.
pub const NATIVE: usize = 0;
/// nginx's row.
pub const NGINX: usize = 1;
/// `eddy serve`, the embedded default.
pub const EMBEDDED: usize = 2;
/// `eddy serve --handler hello.wasm` with default flags.
pub const HANDLER: usize = 3;
/// The same with `--no-access-log`.
pub const HANDLER_NO_LOG: usize = 4;
/// The same with `--isolation request`.
pub const HANDLER_PER_REQUEST: usize = 5;

fn rows(options: &Options) -> Vec<Row> {
    let hello = servers::guest("hello");
    let row = |label: &str, start: Box<dyn Fn() -> Server>| Row {
        label: label.to_owned(),
        start,
    };
    let eddy_row = |label: &str, args: Vec<String>| {
        row(
            label,
            Box::new(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                servers::eddy(1, &args, None)
            }),
        )
    };
    let handler = |extra: &[&str]| {
        let mut args = vec!["--handler".to_owned(), hello.clone()];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };
    let (nginx, most) = (options.nginx.clone(), options.idle_connections);
    let (python, app) = (options.python.clone(), options.tornado_app.clone());
    let mut rows = vec![
        row(
            "native mio + httparse hello (no Date, minimal checks)",
            Box::new(servers::native),
        ),
        row(
            "nginx, 1 worker, `return 200`, no access log",
            Box::new(move || servers::nginx(&nginx, most)),
        ),
        eddy_row("`eddy serve` (embedded default, in-guest handler)", vec![]),
        eddy_row(
            "`eddy serve --handler hello.wasm` (defaults: access log on)",
            handler(&[]),
        ),
        eddy_row("same, `--no-access-log`", handler(&["--no-access-log"])),
        eddy_row(
            "same, `--isolation request`",
            handler(&["--isolation", "request"]),
        ),
        row(
            &format!(
                "Tornado {}, one process",
                servers::tornado_version(&options.python)
            ),
            Box::new(move || servers::tornado(&python, &app)),
        ),
    ];
    if options.wasi_http {
        let wasi = servers::guest("wasi-http");
        let args = |extra: &[&str]| {
            let mut args = vec!["--handler".to_owned(), wasi.clone()];
            args.extend(extra.iter().map(|a| (*a).to_owned()));
            args
        };
        rows.push(eddy_row(
            "`eddy serve --handler wasi-http.wasm` (wasi:http)",
            args(&[]),
        ));
        rows.push(eddy_row(
            "same, `--isolation request`",
            args(&["--isolation", "request"]),
        ));
    }
    rows
}

/// Everything one `http` run measured, medians over the rounds.
pub struct Results {
    /// Per row of the throughput table: label, requests/s, p99 in µs.
    pub rows: Vec<(String, f64, f64)>,
    /// Idle-connection memory: label and measurement.
    pub idle: Vec<(String, Idle)>,
    /// The multi-worker measurement, unless the machine has a single core.
    pub workers: Option<Workers>,
    /// Echo stream MiB/s: eddy, native.
    pub echo: (f64, f64),
    /// 1 − (access log on / off) requests/s, the median over rounds of each round's pair (the
    /// two rows run back to back, so pairing cancels load that drifts between rounds).
    pub access_log_cost: f64,
    /// 1 MiB responses streamed by a plugin, against nginx.
    pub streamed: Streamed,
}

impl Results {
    /// A row's requests/s over the native server's.
    pub fn rate_ratio(&self, row: usize) -> f64 {
        self.rows[row].1 / self.rows[NATIVE].1
    }

    /// A row's p99 over nginx's.
    pub fn p99_ratio(&self, row: usize) -> f64 {
        self.rows[row].2 / self.rows[NGINX].2
    }
}

/// Runs the whole `http` benchmark and prints its tables, the targets last.
pub fn run(options: &Options) {
    let rows = rows(options);
    let load = Load {
        threads: 1,
        connections: 64,
        duration: options.duration.clone(),
        cpus: None,
        https: false,
        close: false,
        target: "/".to_owned(),
    };
    let mut measured: Vec<Vec<Measurement>> = vec![Vec::new(); rows.len()];
    let (mut eddy_echo, mut native_echo) = (Vec::new(), Vec::new());
    for round in 0..options.rounds {
        for (row, results) in rows.iter().zip(&mut measured) {
            eprintln!("round {}/{}: {}", round + 1, options.rounds, row.label);
            results.push(wrk::run((row.start)().addr, &load));
        }
        eprintln!("round {}/{}: echo stream", round + 1, options.rounds);
        let (eddy_rate, native_rate) = echo::stream_pair();
        eddy_echo.push(eddy_rate);
        native_echo.push(native_rate);
    }
    let results = Results {
        rows: rows
            .iter()
            .zip(&measured)
            .map(|(row, runs)| {
                let rate = median(runs.iter().map(|m| m.rate).collect());
                let p99 = median(runs.iter().map(|m| m.p99_us).collect());
                (row.label.clone(), rate, p99)
            })
            .collect(),
        idle: idle_memory(&rows, options.idle_connections),
        workers: workers::measure(options.rounds, &options.duration),
        echo: (median(eddy_echo), median(native_echo)),
        access_log_cost: median(
            measured[HANDLER]
                .iter()
                .zip(&measured[HANDLER_NO_LOG])
                .map(|(on, off)| 1.0 - on.rate / off.rate)
                .collect(),
        ),
        streamed: streamed::measure(options.rounds, &options.duration, &options.nginx),
    };
    print_idle(&results, options.idle_connections);
    print_workers(results.workers.as_ref());
    print_echo(results.echo);
    print_rates(&results, &load, options.rounds);
    streamed::print(&results.streamed, &options.duration);
    targets::print(&results);
}

/// Idle-connection memory for nginx, both eddy defaults and the native server.
fn idle_memory(rows: &[Row], connections: usize) -> Vec<(String, Idle)> {
    [NGINX, EMBEDDED, HANDLER, NATIVE]
        .into_iter()
        .map(|index| {
            let row = &rows[index];
            eprintln!("idle: {connections} connections to {}", row.label);
            let server = (row.start)();
            (row.label.clone(), idle::measure(&server, connections))
        })
        .collect()
}

fn print_rates(results: &Results, load: &Load, rounds: usize) {
    println!(
        "| `wrk {}`, one worker, medians of {rounds} interleaved rounds | req/s | / native | p99 | p99 / nginx p99 |",
        load.flags()
    );
    println!("|---|---|---|---|---|");
    for (index, (label, rate, p99)) in results.rows.iter().enumerate() {
        println!(
            "| {label} | {rate:.0} | {:.2} | {} | {:.2} |",
            results.rate_ratio(index),
            show_micros(*p99),
            results.p99_ratio(index)
        );
    }
    println!();
}

fn print_idle(results: &Results, connections: usize) {
    println!(
        "| idle keep-alive connections (one request each), {connections} | RSS, none open | RSS, {connections} open | per connection |"
    );
    println!("|---|---|---|---|");
    for (label, idle) in &results.idle {
        println!(
            "| {label} | {:.1} MiB | {:.1} MiB | {:.0} B |",
            idle.base_kib as f64 / 1024.0,
            idle.loaded_kib as f64 / 1024.0,
            idle.bytes_per_connection()
        );
    }
    println!();
}

fn print_workers(workers: Option<&Workers>) {
    let Some(workers) = workers else {
        println!("Multi-worker ratio: not measured (one usable core).\n");
        return;
    };
    println!("| `eddy serve` (embedded default) | req/s |");
    println!("|---|---|");
    println!("| `--workers 1` | {:.0} |", workers.one);
    println!("| `--workers 2` | {:.0} |", workers.two);
    println!("| `--workers 2` / `--workers 1` | {:.2} |", workers.ratio());
    println!();
    println!("{}\n", workers.method());
}

fn print_echo((eddy, native): (f64, f64)) {
    println!(
        "Echo stream (256 MiB of 1 KiB lines, one connection): `eddy serve examples/echo` \
         {eddy:.0} MiB/s, native mio echo {native:.0} MiB/s, {:.2}×.\n",
        eddy / native
    );
}
