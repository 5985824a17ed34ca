//! The `handlers` reload hook of `serve --config`: on SIGHUP, re-read the file's
//! `[[handler]]` and `[plugins.NAME]` tables, compile the components that changed (by path,
//! modification time and size), instantiate each once, and only then swap the table that
//! every worker follows. Any failure leaves the old table in place.
//!
//! Routes are matched by the server guest, which got them at start, so a reload may change
//! components and settings but not the routes: a file with other routes is refused with a
//! line saying to restart. Flags in the file are not re-read either.

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
    /// The routes the server guest matches, fixed at start.
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
        if routes != self.routes {
            bail!(
                "the routes changed from {:?} to {routes:?}; the server guest matches routes, so restart eddy to apply them",
                self.routes
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
            let program = program.with_config(settings.unwrap_or_default());
            program.trial(&self.settings)?;
            compiled.insert(handler.component.clone(), (stamp, program.clone()));
            programs.push(program);
        }
        let count = programs.len();
        self.table.swap(programs);
        self.compiled = compiled;
        Ok(format!("{count} handlers, {fresh} compiled anew"))
    }
}

fn stamp(path: &Path) -> anyhow::Result<Stamp> {
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("cannot read plugin {}", path.display()))?;
    Ok((metadata.modified().ok(), metadata.len()))
}
