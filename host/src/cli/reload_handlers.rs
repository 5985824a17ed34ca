//! The `handlers` reload hook of `serve --config`: on SIGHUP, re-read the file's
//! `[[handler]]` and `[plugins.NAME]` tables, compile the components that changed (by path,
//! modification time and size), instantiate each once, and only then swap the table that
//! every worker follows. Any failure leaves the old table in place.
//!
//! Routes travel with the table (the host matches them for the server guest's
//! `plugins.dispatch`), so a reload may add, remove, reorder and re-route handlers. Only a
//! server that started with no handler at all (the seed example) cannot gain some without a
//! restart. Flags in the file are not re-read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context as _, anyhow, bail};

use super::config_file::{self, HandlerEntry};
use super::setup::{compile_plugins, read_plugins};
use crate::reload::Hook;
use crate::runtime::{HandlerTable, PluginProgram, PluginSettings};

/// What identifies a component file's version without reading it.
type Stamp = (Option<SystemTime>, u64);

/// Re-reads the handlers of the config file at `path` into `table`.
pub(super) struct HandlerReload {
    pub path: PathBuf,
    pub engine: wasmtime::Engine,
    pub settings: PluginSettings,
    pub table: Arc<HandlerTable>,
    /// The routes of the table in use.
    pub routes: Vec<String>,
    /// Compiled components by path, with the stamp they were compiled from.
    compiled: HashMap<PathBuf, (Stamp, PluginProgram)>,
}

impl HandlerReload {
    /// A reloader that starts from the `handlers` compiled at start-up into `programs`.
    pub fn new(
        path: PathBuf,
        engine: wasmtime::Engine,
        settings: PluginSettings,
        table: Arc<HandlerTable>,
        started: &[(HandlerEntry, PluginProgram)],
    ) -> Self {
        let compiled = started
            .iter()
            .filter_map(|(handler, program)| {
                let stamp = stamp(&handler.component).ok()?;
                Some((handler.component.clone(), (stamp, program.clone())))
            })
            .collect();
        Self {
            path,
            engine,
            settings,
            table,
            routes: started.iter().map(|(h, _)| h.route.clone()).collect(),
            compiled,
        }
    }

    /// The hook the SIGHUP watcher runs.
    pub fn hook(mut self) -> Hook {
        Hook::new("handlers", move || self.reload())
    }

    fn reload(&mut self) -> anyhow::Result<String> {
        let file = config_file::load(&self.path).map_err(|line| anyhow!(line))?;
        let handlers = file.handlers.map(|(_, h)| h).unwrap_or_default();
        let routes: Vec<String> = handlers.iter().map(|h| h.route.clone()).collect();
        if self.routes.is_empty() && !routes.is_empty() {
            bail!(
                "eddy started without handlers (serving the seed example); restart it to serve handlers"
            );
        }
        let mut programs = Vec::new();
        let mut compiled = HashMap::new();
        let mut fresh = 0;
        for handler in &handlers {
            let stamp = stamp(&handler.component)?;
            let settings = file.extras.plugins.get(&handler.name).cloned();
            let program = match self.compiled.get(&handler.component) {
                Some((old, program)) if *old == stamp => program.clone(),
                _ => {
                    fresh += 1;
                    let files = read_plugins(std::slice::from_ref(handler), &file.extras)?;
                    let (mut new, _) = compile_plugins(&self.engine, files)?;
                    new.pop().context("a handler compiled to nothing")?
                }
            };
            let program = program
                .with_config(settings.unwrap_or_default())
                .with_route(&handler.route)?;
            program.trial(&self.settings)?;
            compiled.insert(handler.component.clone(), (stamp, program.clone()));
            programs.push(program);
        }
        let count = programs.len();
        self.table.swap(programs);
        self.compiled = compiled;
        self.routes = routes;
        Ok(format!("{count} handlers, {fresh} compiled anew"))
    }
}

fn stamp(path: &Path) -> anyhow::Result<Stamp> {
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("cannot read plugin {}", path.display()))?;
    Ok((metadata.modified().ok(), metadata.len()))
}
