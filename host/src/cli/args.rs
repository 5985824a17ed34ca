//! The command line's shape: subcommands and flags, with their defaults, environment
//! variables and help text (clap derives the parser from these types).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::parse::{parse_bytes, parse_duration, parse_health_path, parse_listen_address};
use super::tls_flags::TlsFlags;
use crate::runtime::{self, Isolation};

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
    pub(super) log_format: LogFormat,
    #[command(subcommand)]
    pub(super) command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
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
pub(super) struct GuestOptions {
    /// Allow guests to connect to HOST:PORT (repeatable); everything else is denied.
    #[arg(
        long = "allow-connect",
        value_name = "HOST:PORT",
        env = "EDDY_ALLOW_CONNECT",
        value_delimiter = ','
    )]
    pub(super) allow_connect: Vec<String>,
    /// Cap on unread bytes buffered per connection; past it the connection closes.
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_BUFFER_SIZE", default_value = "1MiB", value_parser = parse_bytes)]
    pub(super) max_buffer_size: u64,
    /// Cap on unsent bytes queued per connection; a write past it fails.
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_WRITE_BUFFER_SIZE", default_value = "16MiB", value_parser = parse_bytes)]
    pub(super) max_write_buffer_size: u64,
    /// Longest the guest may run in one call (plugins not counted); past it the guest is
    /// interrupted and, for a server, re-instantiated.
    #[arg(long, value_name = "DURATION", env = "EDDY_GUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub(super) guest_timeout: Duration,
    /// Where compiled components are cached [default: $XDG_CACHE_HOME/eddy or ~/.cache/eddy].
    #[arg(long, value_name = "DIR", env = "EDDY_CACHE_DIR")]
    pub(super) cache_dir: Option<PathBuf>,
    /// Compile components at every start instead of caching the machine code.
    #[arg(long, env = "EDDY_NO_CACHE")]
    pub(super) no_cache: bool,
    /// Load precompiled components (`eddy compile` output) given as the guest or a handler:
    /// machine code that runs outside the sandbox, trusted like eddy itself. Each load is
    /// logged; without this flag such files are refused, whatever their name.
    #[arg(long, env = "EDDY_ALLOW_PRECOMPILED")]
    pub(super) allow_precompiled: bool,
    /// Also trust the CA certificates in FILE (PEM; repeatable) when guests connect with TLS,
    /// besides the system's trust store.
    #[arg(long, value_name = "FILE", env = "EDDY_CA_FILE", value_delimiter = ',')]
    pub(super) ca_file: Vec<PathBuf>,
    /// Cap on the server guest's linear memory (all its memories together).
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_MEMORY", default_value = "256MiB", value_parser = parse_bytes)]
    pub(super) max_memory: u64,
    /// Most core instances in one Store (the guest's, or one plugin instance's).
    #[arg(long, value_name = "N", env = "EDDY_MAX_INSTANCES", default_value_t = runtime::DEFAULT_MAX_INSTANCES)]
    pub(super) max_instances: usize,
    /// Most tables in one Store.
    #[arg(long, value_name = "N", env = "EDDY_MAX_TABLES", default_value_t = runtime::DEFAULT_MAX_TABLES)]
    pub(super) max_tables: usize,
    /// Most linear memories in one Store.
    #[arg(long, value_name = "N", env = "EDDY_MAX_MEMORIES", default_value_t = runtime::DEFAULT_MAX_MEMORIES)]
    pub(super) max_memories: usize,
    /// Most table elements in one Store, all tables together.
    #[arg(long, value_name = "N", env = "EDDY_MAX_TABLE_ELEMENTS", default_value_t = runtime::DEFAULT_MAX_TABLE_ELEMENTS)]
    pub(super) max_table_elements: usize,
}

#[derive(Args, Debug)]
pub(super) struct ServeArgs {
    /// The server component (.wasm, or precompiled); the embedded default when omitted.
    pub(super) component: Option<PathBuf>,
    /// Address to listen on (repeatable; IPv4 or IPv6) [default: 127.0.0.1:8888 unless
    /// --listen-tls is given].
    #[arg(long, value_name = "ADDR", env = "EDDY_LISTEN", value_delimiter = ',', value_parser = parse_listen_address)]
    pub(super) listen: Vec<String>,
    /// Worker threads, each with its own event loop, guest instance and listening sockets
    /// [default: the number of cores].
    #[arg(long, value_name = "N", env = "EDDY_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(super) workers: Option<u16>,
    /// Most inbound connections open at once, all workers together; past it new connections
    /// are accepted and closed at once, and existing ones are not disturbed [default: no limit].
    #[arg(long, value_name = "N", env = "EDDY_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) max_connections: Option<u64>,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish before the
    /// remaining connections are closed (a second signal exits at once).
    #[arg(long, value_name = "DURATION", env = "EDDY_DRAIN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub(super) drain_timeout: Duration,
    /// Answer `GET PATH` with `200 ok` in the host itself, without entering any guest (a
    /// liveness check for load balancers that works even when plugins misbehave).
    #[arg(long, value_name = "PATH", env = "EDDY_HEALTH_PATH", value_parser = parse_health_path)]
    pub(super) health_path: Option<String>,
    /// A TOML file with any of these flags (long names as keys), `[[handler]]` tables and
    /// the `[guest]` and `[plugins.NAME]` settings; flags and environment variables win over
    /// it. SIGHUP re-reads its handlers.
    #[arg(long, value_name = "FILE", env = "EDDY_CONFIG")]
    pub(super) config: Option<PathBuf>,
    /// What the config file holds beyond flags (filled in by `config_merge`).
    #[arg(skip)]
    pub(super) file: super::config_file::Extras,
    #[command(flatten)]
    pub(super) guest: GuestOptions,
    #[command(flatten)]
    pub(super) http: HttpFlags,
    #[command(flatten)]
    pub(super) plugins: PluginOptions,
    #[command(flatten)]
    pub(super) tls: TlsFlags,
    /// Arguments passed to the guest's start function.
    #[arg(last = true, value_name = "GUEST_ARGS")]
    pub(super) args: Vec<String>,
}

/// Options of the HTTP server guest (passed to any guest; others ignore them).
#[derive(Args, Debug)]
#[command(next_help_heading = "HTTP")]
pub(super) struct HttpFlags {
    /// Cap on a request head (request line and headers); past it the request gets 431.
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_HEADER_SIZE", default_value = "64KiB", value_parser = parse_bytes)]
    pub(super) max_header_size: u64,
    /// Cap on a request body (after decompression); past it the request gets 413.
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_BODY_SIZE", default_value = "10MiB", value_parser = parse_bytes)]
    pub(super) max_body_size: u64,
    /// Request-body bytes one worker may buffer at once, all connections together; a body
    /// that does not fit is refused with 503 before it is read [default: a quarter of
    /// --max-memory; at most half of it].
    #[arg(long, value_name = "BYTES", env = "EDDY_BODY_BUDGET", value_parser = parse_bytes)]
    pub(super) body_budget: Option<u64>,
    /// Response bytes one worker may hold at once for clients that have not taken them yet,
    /// all connections together; past it new responses wait, and clients that take nothing
    /// are cut, largest first [default: an eighth of --max-memory; at most a quarter of it].
    #[arg(long, value_name = "BYTES", env = "EDDY_RESPONSE_BUDGET", value_parser = parse_bytes)]
    pub(super) response_budget: Option<u64>,
    /// Close every connection after one response.
    #[arg(long, env = "EDDY_NO_KEEP_ALIVE")]
    pub(super) no_keep_alive: bool,
    /// How long a kept-alive connection may wait for its next request.
    #[arg(long, value_name = "DURATION", env = "EDDY_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub(super) idle_timeout: Duration,
    /// How long a request head may take from its first byte (cuts slowloris clients).
    #[arg(long, value_name = "DURATION", env = "EDDY_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub(super) header_timeout: Duration,
    /// How long a whole request body may take after its head (a deadline, not a per-read timer).
    #[arg(long, value_name = "DURATION", env = "EDDY_BODY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub(super) body_timeout: Duration,
    /// How long a response may make no progress (the client takes no bytes); past it the
    /// connection is cut. A slow but steady reader is never cut.
    #[arg(long, value_name = "DURATION", env = "EDDY_WRITE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub(super) write_timeout: Duration,
    /// Trust X-Real-Ip / X-Forwarded-For and X-Scheme / X-Forwarded-Proto (behind a proxy).
    #[arg(long, env = "EDDY_XHEADERS")]
    pub(super) xheaders: bool,
    /// A proxy address skipped when walking X-Forwarded-For from the right (repeatable).
    #[arg(
        long,
        value_name = "IP",
        env = "EDDY_TRUSTED_DOWNSTREAM",
        value_delimiter = ','
    )]
    pub(super) trusted_downstream: Vec<String>,
    /// The protocol requests report (e.g. https behind a TLS-terminating proxy).
    #[arg(long, value_name = "PROTOCOL", env = "EDDY_PROTOCOL", value_parser = ["http", "https"])]
    pub(super) protocol: Option<String>,
    /// Decompress gzip request bodies (the decompressed size counts against --max-body-size).
    #[arg(long, env = "EDDY_DECOMPRESS_REQUEST")]
    pub(super) decompress_request: bool,
    /// Gzip compressible responses for clients that accept it.
    #[arg(long, env = "EDDY_GZIP")]
    pub(super) gzip: bool,
    /// Do not write an access-log line per request.
    #[arg(long, env = "EDDY_NO_ACCESS_LOG")]
    pub(super) no_access_log: bool,
}

/// Plugin handlers.
#[derive(Args, Debug)]
#[command(next_help_heading = "Plugins")]
pub(super) struct PluginOptions {
    /// A plugin component answering requests whose path matches REGEX (whole path; default
    /// every path). Repeatable; the first match wins, 404 when none matches.
    #[arg(
        long = "handler",
        value_name = "[REGEX=]COMPONENT",
        env = "EDDY_HANDLER",
        value_delimiter = ','
    )]
    pub(super) handlers: Vec<String>,
    /// Reuse one plugin instance per worker, or give every request a fresh one.
    #[arg(long, value_enum, env = "EDDY_ISOLATION", default_value = "worker")]
    pub(super) isolation: Isolation,
    /// Longest a request may wait for its plugin's response (wall-clock time, waits
    /// included); past it the call is dropped and the request gets a 500.
    #[arg(long, value_name = "DURATION", env = "EDDY_HANDLER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub(super) handler_timeout: Duration,
    /// Calls of one plugin in flight at once per worker, each on its own instance; past it
    /// requests wait in line.
    #[arg(long, value_name = "N", env = "EDDY_MAX_PLUGIN_CALLS", default_value = "100", value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) max_plugin_calls: u32,
    /// Longest a request waits in line for a plugin at its --max-plugin-calls; then 503.
    #[arg(long, value_name = "DURATION", env = "EDDY_PLUGIN_QUEUE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub(super) plugin_queue_timeout: Duration,
    /// Longest a plugin's streamed response body may run after its head (Server-Sent Events,
    /// long polls); none by default: the write timeout cuts a client that stops reading.
    #[arg(long, value_name = "DURATION", env = "EDDY_MAX_STREAM_DURATION", value_parser = parse_duration)]
    pub(super) max_stream_duration: Option<Duration>,
    /// Host resources (header maps, bodies, streams, pollables, requests) one plugin instance
    /// may hold at once; one past it traps the call (500) and the instance goes.
    #[arg(long, value_name = "N", env = "EDDY_PLUGIN_MAX_RESOURCES", default_value = "1024", value_parser = clap::value_parser!(u32).range(16..))]
    pub(super) plugin_max_resources: u32,
    /// Threads that fire plugins' timers and run their outbound HTTP (not their code, which
    /// runs on the workers).
    #[arg(long, value_name = "N", env = "EDDY_IO_THREADS", default_value = "1", value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) io_threads: u16,
    /// Cap on each plugin instance's linear memory (all its memories together).
    #[arg(long, value_name = "BYTES", env = "EDDY_PLUGIN_MAX_MEMORY", default_value = "64MiB", value_parser = parse_bytes)]
    pub(super) plugin_max_memory: u64,
    /// Give plugins WASI clocks that always read zero, instead of the real wall and
    /// monotonic clocks (for deterministic plugins).
    #[arg(long, env = "EDDY_FROZEN_CLOCKS")]
    pub(super) frozen_clocks: bool,
    /// Let plugins send `wasi:http` requests to HOST (any port) or HOST:PORT (repeatable);
    /// names match as written, nothing is resolved to decide. Everything else is denied
    /// with `HTTP-request-denied` and logged.
    #[arg(
        long = "allow-http-outbound",
        value_name = "HOST[:PORT]",
        env = "EDDY_ALLOW_HTTP_OUTBOUND",
        value_delimiter = ','
    )]
    pub(super) allow_http_outbound: Vec<String>,
}

#[derive(Args, Debug)]
pub(super) struct RunArgs {
    #[command(flatten)]
    pub(super) guest: GuestOptions,
    /// The program component (.wasm, or precompiled).
    pub(super) component: PathBuf,
    /// Arguments passed to the program.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub(super) args: Vec<String>,
}
