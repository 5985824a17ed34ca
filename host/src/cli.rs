//! The `eddy` command line: `serve`, `run` and `compile`.
//!
//! Every failure ends in one line on stderr naming the problem, and a non-zero exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;

use anyhow::{Context as _, anyhow};
use clap::{Args, Parser, Subcommand};

use crate::event_loop::{self, Mode, WorkerConfig};
use crate::guests;
use crate::policy::ConnectPolicy;
use crate::runtime::{self, Program};

/// Tornado's networking core as a sandboxed WebAssembly component with a native host.
#[derive(Parser, Debug)]
#[command(name = "eddy", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve connections on the listen addresses with a guest component.
    Serve(ServeArgs),
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
    /// Cap on each guest instance's linear memory.
    #[arg(long, value_name = "BYTES", env = "EDDY_MAX_MEMORY", default_value = "256MiB", value_parser = parse_bytes)]
    max_memory: u64,
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
    /// Worker threads, each with its own event loop, guest instance and listening sockets.
    #[arg(long, value_name = "N", env = "EDDY_WORKERS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: u16,
    #[command(flatten)]
    guest: GuestOptions,
    /// Arguments passed to the guest's start function.
    #[arg(last = true, value_name = "GUEST_ARGS")]
    args: Vec<String>,
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
        vec![
            ("max-buffer-size".into(), self.max_buffer_size.to_string()),
            (
                "max-write-buffer-size".into(),
                self.max_write_buffer_size.to_string(),
            ),
        ]
    }

    fn max_memory(&self) -> usize {
        usize::try_from(self.max_memory).unwrap_or(usize::MAX)
    }
}

/// Parses the command line, runs it, and turns any error into one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDDY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Run(args) => run_program(args),
        Command::Compile { component, output } => {
            let engine = runtime::engine()?;
            let bytes = std::fs::read(&component)
                .with_context(|| format!("cannot read component {}", component.display()))?;
            // Compiling through `Program` first checks that it is an eddy guest.
            Program::from_bytes(&engine, &bytes, &component.display().to_string())?;
            let compiled = runtime::precompile(&engine, &bytes)?;
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

fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let engine = runtime::engine()?;
    let program = load(&engine, args.component.as_ref())?;
    let policy = ConnectPolicy::new(&args.guest.allow_connect)?;
    let workers = usize::from(args.workers);
    // listeners[address][worker]
    let mut per_address = Vec::new();
    for address in &args.listen {
        let sockets = event_loop::bind(event_loop::resolve(address)?, workers)?;
        tracing::info!("listening on {}", sockets[0].local_addr()?);
        per_address.push(sockets);
    }
    let handles: Vec<_> = (0..workers)
        .map(|index| {
            let config = WorkerConfig {
                program: program.clone(),
                args: args.args.clone(),
                options: args.guest.options(),
                max_memory: args.guest.max_memory(),
                listeners: per_address
                    .iter_mut()
                    .map(|sockets| sockets.remove(0))
                    .collect(),
                policy: policy.clone(),
                mode: Mode::Serve,
                index,
            };
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

fn run_program(args: RunArgs) -> anyhow::Result<u8> {
    let engine = runtime::engine()?;
    let program = Program::load(&engine, &args.component)?;
    let config = WorkerConfig {
        program,
        args: args.args,
        options: args.guest.options(),
        max_memory: args.guest.max_memory(),
        listeners: Vec::new(),
        policy: ConnectPolicy::new(&args.guest.allow_connect)?,
        mode: Mode::Run,
        index: 0,
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
}
