//! The `handlers` reload hook of `serve --config`: on SIGHUP, re-read the file's
//! `[[handler]]` and `[plugins.NAME]` tables, compile the components whose content changed
//! (by SHA-256: a file swapped for another of the same size and modification time, or a
//! symbolic link switched, is a change), instantiate each once, and only then swap the table
//! that every worker follows. Any failure leaves the old table in place. Every file is read
//! as a regular file under a size cap, so a FIFO or a device fails the reload at once.
//!
//! Routes travel with the table (the host matches them for the server guest's
//! `plugins.dispatch`), so a reload may add, remove, reorder and re-route handlers. Only a
//! server that started with no handler at all (the seed example) cannot gain some without a
//! restart. Flags in the file are not re-read.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};

use super::config_file::{self, HandlerEntry};
use super::setup::{ContentHash, compile_plugins, read_plugin};
use crate::reload::Hook;
use crate::runtime::{HandlerTable, PluginProgram, PluginSettings};

/// Re-reads the handlers of the config file at `path` into `table`.
pub(super) struct HandlerReload {
    pub path: PathBuf,
    pub engine: wasmtime::Engine,
    pub settings: PluginSettings,
    pub table: Arc<HandlerTable>,
    /// The routes of the table in use.
    pub routes: Vec<String>,
    /// Compiled components by path, with the hash of the bytes they were compiled from.
    compiled: HashMap<PathBuf, (ContentHash, PluginProgram)>,
}

impl HandlerReload {
    /// A reloader that starts from the handlers compiled at start-up: each entry, the hash
    /// of the bytes it was compiled from, and the program.
    pub fn new(
        path: PathBuf,
        engine: wasmtime::Engine,
        settings: PluginSettings,
        table: Arc<HandlerTable>,
        started: &[(HandlerEntry, ContentHash, PluginProgram)],
    ) -> Self {
        let compiled = started
            .iter()
            .map(|(handler, hash, program)| (handler.component.clone(), (*hash, program.clone())))
            .collect();
        Self {
            path,
            engine,
            settings,
            table,
            routes: started.iter().map(|(h, _, _)| h.route.clone()).collect(),
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
            // Read once: the bytes hashed are the bytes compiled.
            let plugin = read_plugin(handler, &file.extras)?;
            let hash = plugin.hash;
            let settings = file.extras.plugins.get(&handler.name).cloned();
            let program = match self.compiled.get(&handler.component) {
                Some((old, program)) if *old == hash => program.clone(),
                _ => {
                    fresh += 1;
                    let (mut new, _) = compile_plugins(&self.engine, vec![plugin])?;
                    new.pop().context("a handler compiled to nothing")?
                }
            };
            let program = program
                .with_config(settings.unwrap_or_default())
                .with_route(&handler.route)?;
            program.trial(&self.settings)?;
            compiled.insert(handler.component.clone(), (hash, program.clone()));
            programs.push(program);
        }
        let count = programs.len();
        self.table.swap(programs);
        self.compiled = compiled;
        self.routes = routes;
        Ok(format!("{count} handlers, {fresh} compiled anew"))
    }
}
