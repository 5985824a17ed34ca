//! The `eddy` binary's entry: parse the command line, set up logging, run the command, and
//! turn any error into one line on stderr. Also `eddy run` and `eddy compile`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::args::{Cli, Command, LogFormat, RunArgs};
use super::config_merge::{self, Refusal};
use super::guest_options::start_options;
use super::serve::serve;
use super::tls_flags::tls_setup;
use crate::admission::Admission;
use crate::event_loop::{Mode, Shutdown};
use crate::policy::ConnectPolicy;
use crate::runtime::{self, HandlerTable, PluginSettings, Program};
use crate::worker::{self, WorkerConfig};

/// Parses the command line, runs it, and turns any error into one line on stderr.
pub fn main() -> ExitCode {
    let cli = match config_merge::parse_from(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(Refusal::Clap(error)) => error.exit(),
        Err(Refusal::File(line)) => {
            eprintln!("eddy: {line}");
            return ExitCode::from(2);
        }
    };
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

/// The log filter without `EDDY_LOG`. rustls warns once per connection about some client
/// quirks (an IP address sent as the SNI name, as wrk and some libraries do): a client could
/// fill the log with them, and failed handshakes are already counted and logged at most once
/// a second by the host.
const DEFAULT_LOG_FILTER: &str = "info,rustls=error";

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDDY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => {
            crate::access_log::JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
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
            let bytes =
                crate::regular_file::read(&component, crate::regular_file::MAX_COMPONENT_FILE)
                    .with_context(|| format!("cannot read component {}", component.display()))?;
            // A server guest or a plugin of either kind, checked before it is written.
            let compiled = runtime::precompile(&engine, &bytes, &component.display().to_string())?;
            std::fs::write(&output, compiled)
                .with_context(|| format!("cannot write {}", output.display()))?;
            Ok(0)
        }
    }
}

fn run_program(args: RunArgs) -> anyhow::Result<u8> {
    args.guest.configure_loading()?;
    let engine = runtime::engine()?;
    let program = Program::load(&engine, &args.component)?;
    let config = WorkerConfig {
        program,
        args: args.args,
        options: start_options(&args.guest, None),
        limits: args.guest.limits(),
        listeners: Vec::new(),
        tls_listeners: Vec::new(),
        tls: tls_setup(None, &args.guest.ca_file)?,
        policy: ConnectPolicy::new(&args.guest.allow_connect)?,
        mode: Mode::Run,
        index: 0,
        plugins: HandlerTable::new(Vec::new()),
        plugin_settings: PluginSettings::default(),
        guest_timeout: args.guest.guest_timeout,
        admission: Admission::default(),
        shutdown: Arc::new(Shutdown::default()),
        health_path: None,
        first_bytes_timeout: Duration::from_secs(10),
    };
    let (code, crossings) = worker::run_worker(config)?;
    tracing::debug!(
        guest_calls = crossings.guest_calls,
        import_calls = crossings.import_calls,
        "guest stopped"
    );
    Ok(code)
}
