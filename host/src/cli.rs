//! The `eddy` command line: `serve`, `run` and `compile`.
//!
//! Every failure ends in one line on stderr naming the problem, and a non-zero exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::{Args, Parser, Subcommand};
use eddy_options::{ByteSize, Setting, StreamOptions};

use crate::admission::Admission;
use crate::event_loop::{self, Mode, Shutdown, WorkerConfig};
use crate::guests;
use crate::policy::ConnectPolicy;
use crate::runtime::{self, Isolation, PluginProgram, PluginSettings, Program};

/// Tornado's networking core as a sandboxed WebAssembly component with a native host.
#[derive(Parser, Debug)]
#[command(name = "eddy", version, about)]
pub struct Cli {
    /// Log lines as text for people or JSON objects for collectors (stderr either way).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "EDDY_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve connections on the listen addresses with a guest component.
    Serve(Box<ServeArgs>),
    /// Run a one-shot guest program (a client, a script) until it calls stop.
    Run(RunArgs),
    /// Precompile a component for this machine (load it later instead of the .wasm).
    Compile {
        /// The component to compile.
        component: PathBuf,
        /// Where to write the precompiled component.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Options shared by `serve` and `run`.
#[derive(Args, Debug)]
struct GuestOptions {
    /// Allow guests to connect to HOST:PORT (repeatable); everything else is denied.
    #[arg(
        long = "allow-connect",
        value_name = "HOST:PORT",
        env = "EDDY_ALLOW_CONNECT",
        value_delimiter = ','
    )]
    allow_connect: Vec<String>,
    /// Cap on unread bytes buffered per connection; past it the connection closes.
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_BUFFER_SIZE", default_value = "1MiB", value_parser = parse_bytes)]
    max_buffer_size: u64,
    /// Cap on unsent bytes queued per connection; a write past it fails.
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_WRITE_BUFFER_SIZE", default_value = "16MiB", value_parser = parse_bytes)]
    max_write_buffer_size: u64,
    /// Longest the guest may run in one call (plugins not counted); past it the guest is
    /// interrupted and, for a server, re-instantiated.
    #[arg(long, value_name = "DURATION", env = "EDDY_GUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    guest_timeout: Duration,
    /// Where compiled components are cached [default: $XDG_CACHE_HOME/eddy or ~/.cache/eddy].
    #[arg(long, value_name = "DIR", env = "EDDY_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile components at every start instead of caching the machine code.
    #[arg(long, env = "EDDY_NO_CACHE")]
    no_cache: bool,
    /// Cap on the server guest's linear memory (all its memories together).
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_MEMORY", default_value = "256MiB", value_parser = parse_bytes)]
    max_memory: u64,
    /// Most core instances in one Store (the guest's, or one plugin instance's).
    #[arg(long, value_name = "N", env = "EDDY_MAX_INSTANCES", default_value_t = runtime::DEFAULT_MAX_INSTANCES)]
    max_instances: usize,
    /// Most tables in one Store.
    #[arg(long, value_name = "N", env = "EDDY_MAX_TABLES", default_value_t = runtime::DEFAULT_MAX_TABLES)]
    max_tables: usize,
    /// Most linear memories in one Store.
    #[arg(long, value_name = "N", env = "EDDY_MAX_MEMORIES", default_value_t = runtime::DEFAULT_MAX_MEMORIES)]
    max_memories: usize,
    /// Most table elements in one Store, all tables together.
    #[arg(long, value_name = "N", env = "EDDY_MAX_TABLE_ELEMENTS", default_value_t = runtime::DEFAULT_MAX_TABLE_ELEMENTS)]
    max_table_elements: usize,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The server component (.wasm, or precompiled); the embedded default when omitted.
    component: Option<PathBuf>,
    /// Address to listen on (repeatable; IPv4 or IPv6).
    #[arg(
        long,
        value_name = "ADDR",
        env = "EDDY_LISTEN",
        value_delimiter = ',',
        default_value = "127.0.0.1:8888"
    )]
    listen: Vec<String>,
    /// Worker threads, each with its own event loop, guest instance and listening sockets
    /// [default: the number of cores].
    #[arg(long, value_name = "N", env = "EDDY_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    /// Most inbound connections open at once, all workers together; past it new connections
    /// are accepted and closed at once, and existing ones are not disturbed [default: no limit].
    #[arg(long, value_name = "N", env = "EDDY_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish before the
    /// remaining connections are closed (a second signal exits at once).
    #[arg(long, value_name = "DURATION", env = "EDDY_DRAIN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Answer `GET PATH` with `200 ok` in the host itself, without entering any guest (a
    /// liveness check for load balancers that works even when plugins misbehave).
    #[arg(long, value_name = "PATH", env = "EDDY_HEALTH_PATH", value_parser = parse_health_path)]
    health_path: Option<String>,
    #[command(flatten)]
    guest: GuestOptions,
    #[command(flatten)]
    http: HttpFlags,
    #[command(flatten)]
    plugins: PluginOptions,
    /// Arguments passed to the guest's start function.
    #[arg(last = true, value_name = "GUEST_ARGS")]
    args: Vec<String>,
}

/// Options of the HTTP server guest (passed to any guest; others ignore them).
#[derive(Args, Debug)]
#[command(next_help_heading = "HTTP")]
struct HttpFlags {
    /// Cap on a request head (request line and headers); past it the request gets 431.
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_HEADER_SIZE", default_value = "64KiB", value_parser = parse_bytes)]
    max_header_size: u64,
    /// Cap on a request body (after decompression); past it the request gets 413.
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_BODY_SIZE", default_value = "10MiB", value_parser = parse_bytes)]
    max_body_size: u64,
    /// Request-body bytes one worker may buffer at once, all connections together; a body
    /// that does not fit is refused with 503 before it is read [default: a quarter of
    /// --max-memory; at most half of it].
    #[arg(long, value_name = "BYTES", env = "EDDY_BODY_BUDGET", value_parser = parse_bytes)]
    body_budget: Option<u64>,
    /// Close every connection after one response.
    #[arg(long, env = "EDDY_NO_KEEP_ALIVE")]
    no_keep_alive: bool,
    /// How long a kept-alive connection may wait for its next request.
    #[arg(long, value_name = "DURATION", env = "EDDY_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// How long a request head may take from its first byte (cuts slowloris clients).
    #[arg(long, value_name = "DURATION", env = "EDDY_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// How long a whole request body may take after its head (a deadline, not a per-read timer).
    #[arg(long, value_name = "DURATION", env = "EDDY_BODY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    body_timeout: Duration,
    /// How long a response may make no progress (the client takes no bytes); past it the
    /// connection is cut. A slow but steady reader is never cut.
    #[arg(long, value_name = "DURATION", env = "EDDY_WRITE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    write_timeout: Duration,
    /// Trust X-Real-Ip / X-Forwarded-For and X-Scheme / X-Forwarded-Proto (behind a proxy).
    #[arg(long, env = "EDDY_XHEADERS")]
    xheaders: bool,
    /// A proxy address skipped when walking X-Forwarded-For from the right (repeatable).
    #[arg(
        long,
        value_name = "IP",
        env = "EDDY_TRUSTED_DOWNSTREAM",
        value_delimiter = ','
    )]
    trusted_downstream: Vec<String>,
    /// The protocol requests report (e.g. https behind a TLS-terminating proxy).
    #[arg(long, value_name = "PROTOCOL", env = "EDDY_PROTOCOL", value_parser = ["http", "https"])]
    protocol: Option<String>,
    /// Decompress gzip request bodies (the decompressed size counts against --max-body-size).
    #[arg(long, env = "EDDY_DECOMPRESS_REQUEST")]
    decompress_request: bool,
    /// Gzip compressible responses for clients that accept it.
    #[arg(long, env = "EDDY_GZIP")]
    gzip: bool,
    /// Do not write an access-log line per request.
    #[arg(long, env = "EDDY_NO_ACCESS_LOG")]
    no_access_log: bool,
}

/// Plugin handlers.
#[derive(Args, Debug)]
#[command(next_help_heading = "Plugins")]
struct PluginOptions {
    /// A plugin component answering requests whose path matches REGEX (whole path; default
    /// every path). Repeatable; the first match wins, 404 when none matches.
    #[arg(
        long = "handler",
        value_name = "[REGEX=]COMPONENT",
        env = "EDDY_HANDLER",
        value_delimiter = ','
    )]
    handlers: Vec<String>,
    /// Reuse one plugin instance per worker, or give every request a fresh one.
    #[arg(long, value_enum, env = "EDDY_ISOLATION", default_value = "worker")]
    isolation: Isolation,
    /// Longest one plugin call may run; past it the plugin is interrupted and the request
    /// gets a 500.
    #[arg(long, value_name = "DURATION", env = "EDDY_HANDLER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    handler_timeout: Duration,
    /// Cap on each plugin instance's linear memory (all its memories together).
    #[arg(long, value_name = "BYTES", env = "EDDY_PLUGIN_MAX_MEMORY", default_value = "64MiB", value_parser = parse_bytes)]
    plugin_max_memory: u64,
    /// Give plugins WASI clocks that always read zero, instead of the real wall and
    /// monotonic clocks (for deterministic plugins).
    #[arg(long, env = "EDDY_FROZEN_CLOCKS")]
    frozen_clocks: bool,
    /// Let plugins send `wasi:http` requests to HOST (any port) or HOST:PORT (repeatable);
    /// names match as written, nothing is resolved to decide. Everything else is denied
    /// with `HTTP-request-denied` and logged.
    #[arg(
        long = "allow-http-outbound",
        value_name = "HOST[:PORT]",
        env = "EDDY_ALLOW_HTTP_OUTBOUND",
        value_delimiter = ','
    )]
    allow_http_outbound: Vec<String>,
}

impl HttpFlags {
    /// The HTTP options for the guest, except `body-budget` and `default-host`, which are
    /// known only later.
    fn options(&self) -> Vec<(String, String)> {
        let mut settings = vec![
            Setting::MaxHeaderSize(ByteSize(self.max_header_size)),
            Setting::MaxBodySize(ByteSize(self.max_body_size)),
            Setting::NoKeepAlive(self.no_keep_alive),
            Setting::IdleTimeout(self.idle_timeout),
            Setting::HeaderTimeout(self.header_timeout),
            Setting::BodyTimeout(self.body_timeout),
            Setting::WriteTimeout(self.write_timeout),
            Setting::Xheaders(self.xheaders),
            Setting::DecompressRequest(self.decompress_request),
            Setting::Gzip(self.gzip),
            // Not even the crossing when the log filter drops access lines anyway.
            Setting::AccessLog(
                !self.no_access_log && tracing::enabled!(target: "access", tracing::Level::INFO),
            ),
        ];
        settings.extend(
            self.trusted_downstream
                .iter()
                .cloned()
                .map(Setting::TrustedDownstream),
        );
        settings.extend(self.protocol.iter().cloned().map(Setting::Protocol));
        settings.iter().map(Setting::encode).collect()
    }
}

/// Options for a guest's `start`, as `(name, value)` pairs.
type StartOptions = Vec<(String, String)>;

/// Splits `[REGEX=]COMPONENT`; without `=`, the plugin answers every path.
fn split_handler(spec: &str) -> (String, PathBuf) {
    match spec.split_once('=') {
        Some((pattern, path)) => (pattern.to_owned(), PathBuf::from(path)),
        None => (".*".to_owned(), PathBuf::from(spec)),
    }
}

/// A plugin file read and checked by name, not compiled yet.
struct PluginFile {
    pattern: String,
    name: String,
    bytes: Vec<u8>,
}

impl PluginOptions {
    /// Reads every plugin and checks its import and export names, which takes milliseconds,
    /// so a wrong file is refused before anything is compiled.
    fn read(&self) -> anyhow::Result<Vec<PluginFile>> {
        self.handlers
            .iter()
            .map(|spec| {
                let (pattern, path) = split_handler(spec);
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read plugin {}", path.display()))?;
                let name = path.display().to_string();
                runtime::check_plugin(&bytes, &name)?;
                Ok(PluginFile {
                    pattern,
                    name,
                    bytes,
                })
            })
            .collect()
    }
}

/// Compiles the plugins; returns them with the `route` options for the server guest.
fn compile_plugins(
    engine: &wasmtime::Engine,
    files: Vec<PluginFile>,
) -> anyhow::Result<(Vec<PluginProgram>, StartOptions)> {
    let mut programs = Vec::new();
    let mut routes = Vec::new();
    for file in files {
        programs.push(PluginProgram::from_bytes(engine, &file.bytes, &file.name)?);
        routes.push(Setting::Route(file.pattern).encode());
    }
    Ok((programs, routes))
}

/// Checks a `--health-path`: an absolute path of visible ASCII.
fn parse_health_path(text: &str) -> Result<String, String> {
    if text.starts_with('/') && text.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not a path (use e.g. /healthz)"))
    }
}

/// Parses a duration: a number with `ms`, `s`, `m` or `h` (plain numbers are seconds).
///
/// # Errors
/// Anything else, with a message that shows the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("{text:?} is not a duration (use e.g. 500ms, 10s, 2m)");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    guest: GuestOptions,
    /// The program component (.wasm, or precompiled).
    component: PathBuf,
    /// Arguments passed to the program.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
}

/// Parses a byte count: digits with an optional K/KiB, M/MiB or G/GiB suffix (powers of 1024).
///
/// # Errors
/// Anything else, with a message that shows the accepted forms.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let unit: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} is not a byte count (use e.g. 65536, 64KiB, 1MiB)"
            ));
        }
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count (use e.g. 65536, 64KiB, 1MiB)"))?;
    value
        .checked_mul(unit)
        .ok_or_else(|| format!("{text:?} is too large"))
}

impl GuestOptions {
    fn options(&self) -> Vec<(String, String)> {
        let stream = StreamOptions {
            max_buffer_size: ByteSize(self.max_buffer_size),
            max_write_buffer_size: ByteSize(self.max_write_buffer_size),
        };
        stream.settings().iter().map(Setting::encode).collect()
    }

    /// The server guest's Store limits.
    fn limits(&self) -> runtime::Limits {
        runtime::Limits {
            memory: usize::try_from(self.max_memory).unwrap_or(usize::MAX),
            memory_flag: "--max-memory",
            instances: self.max_instances,
            tables: self.max_tables,
            memories: self.max_memories,
            table_elements: self.max_table_elements,
        }
    }
}

impl PluginOptions {
    /// How plugin instances are run; the counts are shared with the guest's `limits`, and a
    /// `wasi:http` response body may be as large as a connection's write buffer.
    fn settings(
        &self,
        limits: &runtime::Limits,
        max_write_buffer_size: u64,
    ) -> anyhow::Result<PluginSettings> {
        let memory = usize::try_from(self.plugin_max_memory).unwrap_or(usize::MAX);
        Ok(PluginSettings {
            isolation: self.isolation,
            limits: limits.with_memory(memory, "--plugin-max-memory"),
            timeout: self.handler_timeout,
            frozen_clocks: self.frozen_clocks,
            outbound: Arc::new(
                runtime::HttpOutbound::new(&self.allow_http_outbound).map_err(|e| anyhow!(e))?,
            ),
            max_response_body: usize::try_from(max_write_buffer_size).unwrap_or(usize::MAX),
        })
    }
}

/// Parses the command line, runs it, and turns any error into one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("eddy: {}", one_line(&error));
            ExitCode::from(1)
        }
    }
}

fn one_line(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDDY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => {
            runtime::JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
            builder.json().flatten_event(true).try_init()
        }
    };
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Run(args) => run_program(args),
        Command::Compile { component, output } => {
            let engine = runtime::engine()?;
            let bytes = std::fs::read(&component)
                .with_context(|| format!("cannot read component {}", component.display()))?;
            // A server guest or a plugin of either kind, checked before it is written.
            let compiled = runtime::precompile(&engine, &bytes, &component.display().to_string())?;
            std::fs::write(&output, compiled)
                .with_context(|| format!("cannot write {}", output.display()))?;
            Ok(0)
        }
    }
}

fn load(engine: &wasmtime::Engine, component: Option<&PathBuf>) -> anyhow::Result<Program> {
    match component {
        Some(path) => Program::load(engine, path),
        None => Program::from_bytes(
            engine,
            guests::DEFAULT_SERVER,
            "the embedded default server",
        ),
    }
}

impl GuestOptions {
    fn configure_cache(&self) {
        let dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(runtime::default_cache_dir)
        };
        runtime::set_cache_dir(dir);
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    args.guest.configure_cache();
    if let Some(limit) = crate::fd_limit::raise() {
        tracing::debug!("open-file limit: {limit}");
    }
    let engine = runtime::engine()?;
    let plugin_files = args.plugins.read()?;
    let program = load(&engine, args.component.as_ref())?;
    let policy = ConnectPolicy::new(&args.guest.allow_connect)?;
    let (plugins, routes) = compile_plugins(&engine, plugin_files)?;
    let mut options = args.guest.options();
    options.extend(args.http.options());
    let budget = body_budget(&args.http, args.guest.max_memory)?;
    options.push(Setting::BodyBudget(ByteSize(budget)).encode());
    options.extend(routes);
    let limits = args.guest.limits();
    let plugin_settings = args
        .plugins
        .settings(&limits, args.guest.max_write_buffer_size)?;
    let workers = args.workers.map_or_else(
        || thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        usize::from,
    );
    let shutdown = Arc::new(Shutdown::default());
    let admission = Admission::new(
        args.max_connections
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    );
    let worker_config = |index: usize, options: Vec<(String, String)>| WorkerConfig {
        program: program.clone(),
        args: args.args.clone(),
        options,
        limits: limits.clone(),
        plugins: plugins.clone(),
        plugin_settings: plugin_settings.clone(),
        guest_timeout: args.guest.guest_timeout,
        admission: admission.clone(),
        shutdown: shutdown.clone(),
        health_path: args.health_path.clone(),
        first_bytes_timeout: args.http.header_timeout,
        listeners: Vec::new(),
        policy: policy.clone(),
        mode: Mode::Serve,
        index,
    };
    // What can never work is refused before anything listens: bad routes, limits too small.
    event_loop::trial_start(&worker_config(0, options.clone()))?;
    if budget < args.http.max_body_size {
        tracing::warn!(
            "--body-budget {budget} is below --max-body-size {}: larger bodies always get 503",
            args.http.max_body_size
        );
    }
    watch_signals(shutdown.clone(), args.drain_timeout)?;
    // listeners[address][worker]
    let mut per_address = Vec::new();
    for address in &args.listen {
        let sockets = event_loop::bind(event_loop::resolve(address)?, workers)?;
        let local = sockets[0].local_addr()?;
        tracing::info!("listening on {local}");
        if per_address.is_empty() {
            // HTTP/1.0 requests without Host get the first listen address.
            options.push(Setting::DefaultHost(local.to_string()).encode());
        }
        per_address.push(sockets);
    }
    let handles: Vec<_> = (0..workers)
        .map(|index| {
            let mut config = worker_config(index, options.clone());
            config.listeners = per_address
                .iter_mut()
                .map(|sockets| sockets.remove(0))
                .collect();
            thread::Builder::new()
                .name(format!("eddy-worker-{index}"))
                .spawn(move || event_loop::run_worker(config))
        })
        .collect::<Result<_, _>>()?;
    for handle in handles {
        handle
            .join()
            .map_err(|_| anyhow!("a worker thread panicked"))??;
    }
    Ok(0)
}

/// The body budget of a worker: `--body-budget`, or a quarter of `--max-memory`.
///
/// # Errors
/// The budget is more than half of `--max-memory` (bodies would crowd out the guest's own
/// memory, and a flood of them could still trap it).
fn body_budget(http: &HttpFlags, max_memory: u64) -> anyhow::Result<u64> {
    let budget = http.body_budget.unwrap_or(max_memory / 4);
    if budget > max_memory / 2 {
        anyhow::bail!(
            "--body-budget {budget} is more than half of --max-memory {max_memory}: raise --max-memory or lower the budget"
        );
    }
    Ok(budget)
}

/// SIGTERM/SIGINT start a graceful drain; a second signal, or the drain timeout, ends the
/// process at once.
fn watch_signals(shutdown: Arc<Shutdown>, drain_timeout: Duration) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .context("cannot install signal handlers")?;
    thread::Builder::new()
        .name("eddy-signals".into())
        .spawn(move || {
            let mut signals = signals.forever();
            let Some(first) = signals.next() else { return };
            tracing::info!(
                signal = first,
                "draining: no new connections; in-flight requests have {drain_timeout:?}"
            );
            shutdown.drain();
            thread::spawn(move || {
                thread::sleep(drain_timeout);
                tracing::warn!("drain timeout passed; closing the remaining connections");
                std::process::exit(0);
            });
            if let Some(second) = signals.next() {
                tracing::warn!(signal = second, "second signal: exiting now");
                std::process::exit(128 + second);
            }
        })?;
    Ok(())
}

fn run_program(args: RunArgs) -> anyhow::Result<u8> {
    args.guest.configure_cache();
    let engine = runtime::engine()?;
    let program = Program::load(&engine, &args.component)?;
    let config = WorkerConfig {
        program,
        args: args.args,
        options: args.guest.options(),
        limits: args.guest.limits(),
        listeners: Vec::new(),
        policy: ConnectPolicy::new(&args.guest.allow_connect)?,
        mode: Mode::Run,
        index: 0,
        plugins: Vec::new(),
        plugin_settings: PluginSettings::default(),
        guest_timeout: args.guest.guest_timeout,
        admission: Admission::default(),
        shutdown: Arc::new(Shutdown::default()),
        health_path: None,
        first_bytes_timeout: Duration::from_secs(10),
    };
    let (code, crossings) = event_loop::run_worker(config)?;
    tracing::debug!(
        guest_calls = crossings.guest_calls,
        import_calls = crossings.import_calls,
        "guest stopped"
    );
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_accept_binary_suffixes() {
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_bytes("1m"), Ok(1 << 20));
        assert_eq!(parse_bytes("2 GiB"), Ok(2 << 30));
        assert!(
            parse_bytes("lots")
                .expect_err("words")
                .contains("is not a byte count")
        );
        assert!(parse_bytes("-1").is_err());
    }

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(
            parse_duration("soon")
                .expect_err("words")
                .contains("is not a duration")
        );
    }

    #[test]
    fn handlers_split_on_the_first_equals_sign() {
        assert_eq!(
            split_handler("/api/.*=a.wasm"),
            ("/api/.*".to_owned(), PathBuf::from("a.wasm"))
        );
        assert_eq!(
            split_handler("a.wasm"),
            (".*".to_owned(), PathBuf::from("a.wasm"))
        );
    }
}
