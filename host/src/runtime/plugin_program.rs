//! One plugin component, compiled and linked once, and its instances: each in its own
//! `Store` with its own limits, WASI that grants nothing but clocks, random and logged
//! output, `wasi:http` whose outbound requests are denied unless allowed, and
//! `wasi:config/store` with the plugin's own settings.
//!
//! Two kinds of plugin are run: `eddy:http/handler` (whole request in, whole response out)
//! and the standard `wasi:http/incoming-handler` 0.2.x. Both get the same linker, so an
//! eddy plugin may use `wasi:http` to send requests (componentize-js's default `fetch`).
//!
//! Plugin Stores are asynchronous: WASI and `wasi:http` are linked with their async host
//! code, and every call runs on a fiber that suspends where the plugin waits (a pollable, a
//! blocking stream call) and at each epoch tick, so the worker's loop serves other
//! connections meanwhile.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use regex::Regex;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};

use super::inspect::Kind;
use super::limits::{Limiter, Limits};
use super::outbound::{Hooks, HttpOutbound};
use super::plugin_state::{Deadline, PluginState};
use crate::upstream::Upstreams;

/// The plugin-side bindings (`eddy:http/plugin`: the `handler` export), sharing the types.
#[allow(missing_docs)]
mod plugin_wit {
    wasmtime::component::bindgen!({
        path: "../wit/http",
        world: "eddy:http/plugin",
        exports: { default: async },
        with: { "eddy:http/types": super::super::server_wit::eddy::http::types },
    });
}

use plugin_wit::{Plugin as EddyBindings, PluginPre as EddyPre};

impl plugin_wit::eddy::http::connection::Host for PluginState {
    fn server_name(&mut self) -> Option<String> {
        self.server_name.clone()
    }
}

/// The interface a plugin exports, with its version.
pub const HANDLER_INTERFACE: &str = "eddy:http/handler@0.1.0";

/// Default limit on one plugin call (`--handler-timeout`), wall-clock time from the request
/// to its response, waits included; past it the call is dropped and answered 500.
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(10);

/// Default cap on the calls of one plugin in flight in one worker, each on its own instance
/// (`--max-plugin-calls`).
pub const DEFAULT_MAX_PLUGIN_CALLS: usize = 100;

/// Default longest wait for a turn past the cap (`--plugin-queue-timeout`); then 503.
pub const DEFAULT_PLUGIN_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// Default cap on one plugin instance's linear memory (`--plugin-max-memory`).
pub const DEFAULT_PLUGIN_MAX_MEMORY: usize = 64 * 1024 * 1024;

/// How plugin instances are reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// One instance per plugin per worker, reused until it traps (fast).
    Worker,
    /// A fresh instance for every request (nothing survives between requests).
    Request,
}

/// Default cap on a `wasi:http` response body, when not given (`--max-write-buffer-size`).
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;

/// How every plugin instance of a process is run.
#[derive(Clone, Debug)]
pub struct PluginSettings {
    /// Reuse instances or not.
    pub isolation: Isolation,
    /// Each instance's Store limits (`--plugin-max-memory` and the counts).
    pub limits: Limits,
    /// Longest one call may run (`--handler-timeout`).
    pub timeout: Duration,
    /// Give WASI clocks that read zero instead of the real ones (`--frozen-clocks`).
    pub frozen_clocks: bool,
    /// Where `wasi:http` requests may go (`--allow-http-outbound`).
    pub outbound: Arc<HttpOutbound>,
    /// The client that sends them: trust, connections kept for reuse.
    pub upstreams: Arc<Upstreams>,
    /// Largest `wasi:http` response body collected (`--max-write-buffer-size`).
    pub max_response_body: usize,
    /// Calls of one plugin in flight at once per worker (`--max-plugin-calls`).
    pub max_calls: usize,
    /// Longest wait for a turn past `max_calls` (`--plugin-queue-timeout`).
    pub queue_timeout: Duration,
    /// Longest a streamed response body may run after its head (`--max-stream-duration`).
    pub max_stream_duration: Option<Duration>,
    /// Host resources one instance may hold at once (`--plugin-max-resources`).
    pub max_resources: usize,
}

impl Default for PluginSettings {
    fn default() -> Self {
        Self {
            isolation: Isolation::Worker,
            limits: Limits::new(DEFAULT_PLUGIN_MAX_MEMORY, "--plugin-max-memory"),
            timeout: DEFAULT_HANDLER_TIMEOUT,
            frozen_clocks: false,
            outbound: Arc::default(),
            upstreams: Arc::default(),
            max_response_body: DEFAULT_MAX_RESPONSE_BODY,
            max_calls: DEFAULT_MAX_PLUGIN_CALLS,
            queue_timeout: DEFAULT_PLUGIN_QUEUE_TIMEOUT,
            max_stream_duration: None,
            max_resources: DEFAULT_PLUGIN_MAX_RESOURCES,
        }
    }
}

#[derive(Clone)]
enum Pre {
    Eddy(EddyPre<PluginState>),
    WasiHttp(ProxyPre<PluginState>),
}

/// A plugin compiled once and checked, ready to instantiate in any worker.
#[derive(Clone)]
pub struct PluginProgram {
    name: Arc<str>,
    pre: Pre,
    config: Arc<WasiConfigVariables>,
    /// The paths it answers (the whole path must match); none until `with_route`.
    route: Option<Regex>,
}

impl PluginProgram {
    /// Compiles and links a plugin component; `name` appears in errors and logs.
    ///
    /// # Errors
    /// Not a component, exports neither `eddy:http/handler` nor `wasi:http/incoming-handler`,
    /// or imports something other than WASI 0.2 and `wasi:http`. The names are checked
    /// before compiling.
    pub fn from_bytes(engine: &Engine, bytes: &[u8], name: &str) -> anyhow::Result<Self> {
        let kinds = [Kind::EddyPlugin, Kind::WasiHttpPlugin];
        let (component, kind) = super::compile::compile(engine, bytes, name, &kinds)?;
        Self::from_component(engine, &component, kind, name)
    }

    /// Links a compiled plugin of `kind`.
    pub(super) fn from_component(
        engine: &Engine,
        component: &Component,
        kind: Kind,
        name: &str,
    ) -> anyhow::Result<Self> {
        let mut linker = Linker::<PluginState>::new(engine);
        // Plugins built by other toolchains import WASI; they get it with everything denied.
        // The async host code makes a plugin that waits suspend its call, not its worker.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow!("{e}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("{e}"))?;
        plugin_wit::eddy::http::connection::add_to_linker::<PluginState, HasSelf<PluginState>>(
            &mut linker,
            |state| state,
        )?;
        wasmtime_wasi_config::add_to_linker(&mut linker, config_view)
            .map_err(|e| anyhow!("{e}"))?;
        let instance_pre = linker
            .instantiate_pre(component)
            .map_err(|e| anyhow!("{name} imports something plugins are not given: {e}"))?;
        let pre = match kind {
            Kind::WasiHttpPlugin => Pre::WasiHttp(
                ProxyPre::new(instance_pre)
                    .map_err(|e| anyhow!("{name} is not a wasi:http handler: {e}"))?,
            ),
            _ => Pre::Eddy(
                EddyPre::new(instance_pre).map_err(|e| anyhow!("{name} is not a plugin: {e}"))?,
            ),
        };
        Ok(Self {
            name: name.into(),
            pre,
            config: Arc::default(),
            route: None,
        })
    }

    /// Gives the plugin its settings (a config file's `[plugins.NAME]` table), which it
    /// reads through `wasi:config/store`.
    #[must_use]
    pub fn with_config(mut self, pairs: Vec<(String, String)>) -> Self {
        self.config = Arc::new(pairs.into_iter().collect());
        self
    }

    /// Routes the requests whose whole path matches the regex `pattern` to this plugin.
    ///
    /// # Errors
    /// `pattern` is not a regex; the message names it.
    pub fn with_route(mut self, pattern: &str) -> anyhow::Result<Self> {
        let regex = route_regex(pattern).map_err(|e| anyhow!("route {pattern:?}: {e}"))?;
        self.route = Some(regex);
        Ok(self)
    }

    /// Whether this plugin's route matches `path`.
    pub fn answers(&self, path: &str) -> bool {
        self.route
            .as_ref()
            .is_some_and(|route| route.is_match(path))
    }

    /// Whether the plugin reads its request body as a stream (`wasi:http`); an
    /// `eddy:http/handler` takes whole bodies.
    pub fn streams_body(&self) -> bool {
        matches!(self.pre, Pre::WasiHttp(_))
    }

    /// The plugin's name (its path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates an instance in a fresh Store, on a fiber: a plugin whose start-up code waits
    /// suspends like a call does.
    ///
    /// # Errors
    /// Instantiation fails; when a limit is the cause, the message names it and its flag.
    pub(super) async fn instantiate(
        &self,
        settings: &PluginSettings,
        deadline: Instant,
    ) -> anyhow::Result<Live> {
        let state = PluginState {
            limiter: Limiter::new(settings.limits.clone()),
            wasi: super::wasi::deny_all(&self.name, settings.frozen_clocks),
            http: http_ctx(),
            hooks: Hooks::new(
                self.name.clone(),
                settings.outbound.clone(),
                settings.upstreams.clone(),
                settings.max_response_body,
            ),
            table: resource_table(settings.max_resources),
            server_name: None,
            config: self.config.clone(),
            deadline: Deadline::new(deadline),
            yielded: Arc::default(),
        };
        let engine = match &self.pre {
            Pre::Eddy(pre) => pre.engine(),
            Pre::WasiHttp(pre) => pre.engine(),
        };
        let mut store = Store::new(engine, state);
        // Requests the plugin's start-up code sends are bounded by the call's deadline too.
        store.data_mut().hooks.set_deadline(deadline);
        store.limiter(|state| &mut state.limiter);
        // Every tick, a plugin that computes gives its worker back for a turn of the loop;
        // past its deadline it is interrupted.
        store.epoch_deadline_callback(|store| {
            if Instant::now() < store.data().deadline.get() {
                store.data().yielded.store(true, Ordering::Relaxed);
                Ok(UpdateDeadline::Yield(1))
            } else {
                Ok(UpdateDeadline::Interrupt)
            }
        });
        store.set_epoch_deadline(1);
        let bindings = match &self.pre {
            Pre::Eddy(pre) => pre.instantiate_async(&mut store).await.map(Bindings::Eddy),
            Pre::WasiHttp(pre) => pre
                .instantiate_async(&mut store)
                .await
                .map(Bindings::WasiHttp),
        };
        match bindings {
            Ok(bindings) => Ok(Live { store, bindings }),
            Err(error) => {
                let text = format!("{error:#}").replace('\n', " ");
                let limiter = &store.data().limiter;
                Err(anyhow!(
                    "{}",
                    settings.limits.explain(limiter, &text).unwrap_or(text)
                ))
            }
        }
    }

    /// Instantiates the plugin once and drops it: a plugin that cannot be instantiated with
    /// these settings is found at start-up, not at its first request.
    ///
    /// # Errors
    /// One sentence naming the plugin and, when a limit is the cause, the limit and its flag.
    pub fn trial(&self, settings: &PluginSettings) -> anyhow::Result<()> {
        let deadline = Instant::now() + settings.timeout;
        let instance = super::calls::block_on(async {
            let until = tokio::time::Instant::from_std(deadline);
            tokio::time::timeout_at(until, self.instantiate(settings, deadline)).await
        });
        match instance {
            Ok(instance) => instance.map(drop),
            Err(_) => Err(anyhow!(
                "its start-up code did not finish within {:?} (--handler-timeout)",
                settings.timeout
            )),
        }
        .map_err(|error| anyhow!("plugin {} cannot be instantiated: {error}", self.name))
    }
}

/// The largest header map (`wasi:http` `fields`) a plugin may build, name and value bytes
/// together: the server's own default head limit.
pub const MAX_FIELDS_SIZE: usize = 64 * 1024;

/// Default cap on the host resources (header maps, bodies, streams, pollables, requests) one
/// plugin instance holds at once (`--plugin-max-resources`).
pub const DEFAULT_PLUGIN_MAX_RESOURCES: usize = 1024;

/// `wasi:http` for a plugin: header maps of at most [`MAX_FIELDS_SIZE`].
fn http_ctx() -> WasiHttpCtx {
    let mut http = WasiHttpCtx::new();
    http.set_field_size_limit(MAX_FIELDS_SIZE);
    http
}

/// The table of a plugin's host resources, refusing more than `max` at once: the host memory
/// a plugin can hold is bounded by the count times what each may hold (a call that makes
/// one past the cap traps, and its instance goes).
fn resource_table(max: usize) -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(max);
    table
}

/// The `wasi:config/store` view of a plugin's Store: its own settings.
fn config_view(state: &mut PluginState) -> WasiConfig<'_> {
    WasiConfig::from(&*state.config)
}

/// The exports of one instance.
pub(super) enum Bindings {
    Eddy(EddyBindings),
    WasiHttp(Proxy),
}

/// One instance and its Store.
pub(super) struct Live {
    pub(super) store: Store<PluginState>,
    pub(super) bindings: Bindings,
}

impl Live {
    /// Readies the instance for a call that must end by `deadline`, for a request that
    /// arrived with the TLS server name `server_name`.
    pub(super) fn prepare(&mut self, deadline: Instant, server_name: Option<String>) {
        let state = self.store.data_mut();
        state.deadline.set(deadline);
        state.server_name = server_name;
        state.hooks.set_deadline(deadline);
        self.store.set_epoch_deadline(1);
    }
}

/// Compiles a route: `pattern` must match a request's whole path.
///
/// # Errors
/// `pattern` is not a regex: the reason in one line (`unclosed group`).
pub fn route_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|error| match error {
        // The syntax error's last line names the problem; the lines above draw the pattern.
        regex::Error::Syntax(text) => {
            let last = text.lines().last().unwrap_or("not a regex").trim();
            format!("not a regex: {}", last.trim_start_matches("error: "))
        }
        other => other.to_string(),
    })
}
