//! `eddy serve`: compile the guest and plugins, check them with a trial start, bind the
//! listeners, and run one worker thread per core until a signal drains them.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, anyhow};

use super::args::ServeArgs;
use super::guest_options::{
    ServeOptions, body_budget, guest_pairs, response_budget, start_options,
};
use super::reload_handlers::HandlerReload;
use super::setup::{compile_plugins, load, read_plugins};
use super::tls_flags::{certificates_hook, tls_setup};
use crate::admission::Admission;
use crate::event_loop::{self, Mode, Shutdown};
use crate::policy::ConnectPolicy;
use crate::reload::Reloader;
use crate::runtime::{self, HandlerTable};
use crate::worker::{self, WorkerConfig};

/// Where `serve` listens when no listener is given.
const DEFAULT_LISTEN: &str = "127.0.0.1:8888";

/// Serves until every worker ends (after a drain).
pub(super) fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    args.guest.configure_loading()?;
    if let Some(limit) = crate::fd_limit::raise() {
        tracing::debug!("open-file limit: {limit}");
    }
    let engine = runtime::engine()?;
    let handlers = args.plugins.handlers(&args.file);
    let plugin_files = read_plugins(&handlers, &args.file)?;
    let hashes: Vec<_> = plugin_files.iter().map(|file| file.hash).collect();
    let program = load(&engine, args.component.as_ref())?;
    let policy = ConnectPolicy::new(&args.guest.allow_connect)?;
    let (plugins, routes) = compile_plugins(&engine, plugin_files)?;
    let budget = body_budget(&args.http, args.guest.max_memory)?;
    let mut guest_options = ServeOptions {
        http: &args.http,
        body_budget: budget,
        response_budget: response_budget(&args.http, args.guest.max_memory)?,
        routes: &routes,
        default_host: None,
    };
    let limits = args.guest.limits();
    let server_tls = args.tls.server()?;
    let tls = tls_setup(server_tls.clone(), &args.guest.ca_file)?;
    let plugin_settings = args.plugins.settings(
        &limits,
        args.guest.max_write_buffer_size,
        tls.client.clone(),
    )?;
    let workers = args.workers.map_or_else(
        || thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        usize::from,
    );
    let table = HandlerTable::new(plugins.clone());
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
        plugins: table.clone(),
        plugin_settings: plugin_settings.clone(),
        guest_timeout: args.guest.guest_timeout,
        admission: admission.clone(),
        shutdown: shutdown.clone(),
        health_path: args.health_path.clone(),
        first_bytes_timeout: args.http.header_timeout,
        listeners: Vec::new(),
        tls_listeners: Vec::new(),
        tls: tls.clone(),
        policy: policy.clone(),
        mode: Mode::Serve,
        index,
    };
    // What can never work is refused before anything listens: bad routes, limits too small.
    let mut trial_options = start_options(&args.guest, Some(&guest_options));
    trial_options.extend(guest_pairs(&args.file.guest));
    if let Some(code) = worker::trial_start(&worker_config(0, trial_options))? {
        // The program stopped itself while starting (`-- --help`): nothing to serve.
        return Ok(code);
    }
    if budget < args.http.max_body_size {
        tracing::warn!(
            "--body-budget {budget} is below --max-body-size {}: larger bodies always get 503",
            args.http.max_body_size
        );
    }
    watch_signals(shutdown.clone(), args.drain_timeout)?;
    // SIGHUP must never end the process, whether or not anything can be reloaded.
    let mut reloader = Reloader::default();
    if let Some(server) = &server_tls {
        reloader.add(certificates_hook(server.certificates.clone()));
    }
    // Only the file's own handlers are reloaded; `--handler` flags replace them for good.
    if let Some(path) = &args.file.path
        && args.plugins.handlers.is_empty()
    {
        let started: Vec<_> = handlers
            .into_iter()
            .zip(hashes)
            .zip(plugins)
            .map(|((handler, hash), program)| (handler, hash, program))
            .collect();
        let reload = HandlerReload::new(
            path.clone(),
            engine.clone(),
            plugin_settings.clone(),
            table.clone(),
            &started,
        );
        reloader.add(reload.hook());
    }
    reloader.watch()?;
    let plain: &[String] = if args.listen.is_empty() && args.tls.listen_tls.is_empty() {
        &[DEFAULT_LISTEN.to_owned()]
    } else {
        &args.listen
    };
    // listeners[address][worker], plain then TLS
    let mut per_address = Vec::new();
    for (address, secure) in plain
        .iter()
        .map(|a| (a, false))
        .chain(args.tls.listen_tls.iter().map(|a| (a, true)))
    {
        let sockets = event_loop::bind(event_loop::resolve(address)?, workers)?;
        let local = sockets[0].local_addr()?;
        if secure {
            tracing::info!("listening on {local} with TLS");
        } else {
            tracing::info!("listening on {local}");
        }
        if per_address.is_empty() {
            // HTTP/1.0 requests without Host get the first listen address.
            guest_options.default_host = Some(local);
        }
        per_address.push((sockets, secure));
    }
    let mut options = start_options(&args.guest, Some(&guest_options));
    options.extend(guest_pairs(&args.file.guest));
    let handles: Vec<_> = (0..workers)
        .map(|index| {
            let mut config = worker_config(index, options.clone());
            for (sockets, secure) in &mut per_address {
                let socket = sockets.remove(0);
                if *secure {
                    config.tls_listeners.push(socket);
                } else {
                    config.listeners.push(socket);
                }
            }
            thread::Builder::new()
                .name(format!("eddy-worker-{index}"))
                .spawn(move || worker::run_worker(config))
        })
        .collect::<Result<_, _>>()?;
    for handle in handles {
        handle
            .join()
            .map_err(|_| anyhow!("a worker thread panicked"))??;
    }
    Ok(0)
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
