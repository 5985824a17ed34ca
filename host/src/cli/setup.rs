//! From flags to what the runtime needs: the server guest's limits, the compile cache, the
//! server program, and the plugins (read, checked, compiled) with their settings.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use sha2::{Digest as _, Sha256};

use super::args::{GuestOptions, PluginOptions};
use super::config_file::{Extras, HandlerEntry};
use super::parse::split_handler;
use crate::runtime::{self, PluginProgram, PluginSettings, Program};
use crate::upstream::Upstreams;
use crate::{guests, regular_file};

/// The SHA-256 of a component's bytes: a reload compiles a component again only when it
/// changed, whatever its size and modification time say.
pub(super) type ContentHash = [u8; 32];

/// A plugin file read and checked by name, not compiled yet.
pub(super) struct PluginFile {
    pattern: String,
    name: String,
    bytes: Vec<u8>,
    config: Vec<(String, String)>,
    /// What `bytes` hash to.
    pub(super) hash: ContentHash,
}

impl PluginOptions {
    /// The handlers: `--handler` flags, or else the config file's `[[handler]]` tables.
    pub(super) fn handlers(&self, file: &Extras) -> Vec<HandlerEntry> {
        if self.handlers.is_empty() {
            return file.handlers.clone();
        }
        self.handlers
            .iter()
            .map(|spec| {
                let (route, component) = split_handler(spec);
                let name = component
                    .file_stem()
                    .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
                HandlerEntry {
                    route,
                    component,
                    name,
                    line: 0,
                }
            })
            .collect()
    }
}

/// Reads every plugin and checks its import and export names, which takes milliseconds,
/// so a wrong file is refused before anything is compiled. Each gets its `[plugins.NAME]`
/// settings.
pub(super) fn read_plugins(
    handlers: &[HandlerEntry],
    file: &Extras,
) -> anyhow::Result<Vec<PluginFile>> {
    handlers
        .iter()
        .map(|handler| read_plugin(handler, file))
        .collect()
}

/// Reads one plugin (a regular file under [`regular_file::MAX_COMPONENT_FILE`]) and checks
/// its names.
pub(super) fn read_plugin(handler: &HandlerEntry, file: &Extras) -> anyhow::Result<PluginFile> {
    let path = &handler.component;
    let bytes = regular_file::read(path, regular_file::MAX_COMPONENT_FILE)
        .with_context(|| format!("cannot read plugin {}", path.display()))?;
    let name = path.display().to_string();
    runtime::check_plugin(&bytes, &name)?;
    Ok(PluginFile {
        pattern: handler.route.clone(),
        name,
        hash: Sha256::digest(&bytes).into(),
        bytes,
        config: file.plugins.get(&handler.name).cloned().unwrap_or_default(),
    })
}

/// Compiles the plugins; returns them with their route patterns, in `--handler` order.
pub(super) fn compile_plugins(
    engine: &wasmtime::Engine,
    files: Vec<PluginFile>,
) -> anyhow::Result<(Vec<PluginProgram>, Vec<String>)> {
    let mut programs = Vec::new();
    let mut routes = Vec::new();
    for file in files {
        programs.push(
            PluginProgram::from_bytes(engine, &file.bytes, &file.name)?
                .with_config(file.config)
                .with_route(&file.pattern)?,
        );
        routes.push(file.pattern);
    }
    Ok((programs, routes))
}

impl GuestOptions {
    /// The server guest's Store limits.
    pub(super) fn limits(&self) -> runtime::Limits {
        runtime::Limits {
            memory: usize::try_from(self.max_memory).unwrap_or(usize::MAX),
            memory_flag: "--max-memory",
            instances: self.max_instances,
            tables: self.max_tables,
            memories: self.max_memories,
            table_elements: self.max_table_elements,
        }
    }

    /// Sets how components are loaded: whether precompiled files are allowed, and the
    /// compile cache (or none, `--no-cache`). A cache directory others can write is refused:
    /// a `--cache-dir` stops start-up, the default one turns caching off with a warning.
    ///
    /// # Errors
    /// `--cache-dir` names a directory eddy cannot make or others can write.
    pub(super) fn configure_loading(&self) -> anyhow::Result<()> {
        runtime::set_allow_precompiled(self.allow_precompiled);
        if self.no_cache {
            return runtime::set_cache_dir(None).map_err(|e| anyhow!(e));
        }
        match &self.cache_dir {
            Some(dir) => runtime::set_cache_dir(Some(dir.clone())).map_err(|e| anyhow!(e)),
            None => {
                if let Err(error) = runtime::set_cache_dir(runtime::default_cache_dir()) {
                    tracing::warn!("{error}; compiling without a cache");
                }
                Ok(())
            }
        }
    }
}

impl PluginOptions {
    /// How plugin instances are run; the counts are shared with the guest's `limits`, and a
    /// `wasi:http` response body may be as large as a connection's write buffer.
    ///
    /// The `--allow-http-outbound` names are resolved here, once; outbound HTTPS trusts
    /// `client_tls` (the system's roots and `--ca-file`).
    pub(super) fn settings(
        &self,
        limits: &runtime::Limits,
        max_write_buffer_size: u64,
        client_tls: Option<Arc<rustls::ClientConfig>>,
    ) -> anyhow::Result<PluginSettings> {
        let memory = usize::try_from(self.plugin_max_memory).unwrap_or(usize::MAX);
        let mut outbound =
            runtime::HttpOutbound::new(&self.allow_http_outbound).map_err(|e| anyhow!(e))?;
        outbound.resolve().map_err(|e| anyhow!(e))?;
        runtime::set_io_threads(usize::from(self.io_threads));
        Ok(PluginSettings {
            isolation: self.isolation,
            limits: limits.with_memory(memory, "--plugin-max-memory"),
            timeout: self.handler_timeout,
            frozen_clocks: self.frozen_clocks,
            outbound: Arc::new(outbound),
            upstreams: Arc::new(client_tls.map(Upstreams::new).unwrap_or_default()),
            max_response_body: usize::try_from(max_write_buffer_size).unwrap_or(usize::MAX),
            max_calls: usize::try_from(self.max_plugin_calls).unwrap_or(usize::MAX),
            queue_timeout: self.plugin_queue_timeout,
            max_stream_duration: self.max_stream_duration,
            max_resources: usize::try_from(self.plugin_max_resources).unwrap_or(usize::MAX),
        })
    }
}

/// The server program: the component at `component`, or the embedded default.
pub(super) fn load(
    engine: &wasmtime::Engine,
    component: Option<&PathBuf>,
) -> anyhow::Result<Program> {
    match component {
        Some(path) => Program::load(engine, path),
        None => Program::from_bytes(
            engine,
            guests::DEFAULT_SERVER,
            "the embedded default server",
        ),
    }
}
