//! A server guest component compiled, checked against eddy's world and linked once
//! (`InstancePre`), then instantiated per worker.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use super::compile::compile;
use super::engine::ticks;
use super::guest::Guest;
use super::host_state::HostState;
use super::inspect::Kind;
use super::lend::Lent;
use super::limits::Limits;
use super::plugins::Plugins;
use super::server_wit;
use super::server_wit::{AsyncServer, AsyncServerIndices};
use super::wit::{IoGuest, IoGuestPre};
use crate::boundary::Imports;

/// The interface every eddy guest exports, with its version.
pub const GUEST_INTERFACE: &str = "eddy:io/guest@0.1.0";

/// A guest component compiled and checked against eddy's world, ready to instantiate.
#[derive(Clone)]
pub struct Program {
    pre: IoGuestPre<HostState>,
    /// Where the `plugin-results` export is, when the guest has it (`async-server`).
    results: Option<AsyncServerIndices>,
}

impl Program {
    /// Loads a component from a file: a `.wasm` component or one precompiled by `eddy compile`.
    ///
    /// # Errors
    /// The file is missing, is not a component, imports something other than eddy's
    /// interfaces, or does not export `eddy:io/guest`.
    pub fn load(engine: &Engine, path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read component {}", path.display()))?;
        Self::from_bytes(engine, &bytes, &path.display().to_string())
    }

    /// Loads a component from bytes; `name` appears in error messages.
    ///
    /// # Errors
    /// As [`Program::load`].
    pub fn from_bytes(engine: &Engine, bytes: &[u8], name: &str) -> anyhow::Result<Self> {
        let (component, _) = compile(engine, bytes, name, &[Kind::Server])?;
        Self::from_component(engine, &component, name)
    }

    /// Links a compiled server component; `name` appears in error messages.
    pub(super) fn from_component(
        engine: &Engine,
        component: &Component,
        name: &str,
    ) -> anyhow::Result<Self> {
        let mut linker = Linker::<HostState>::new(engine);
        IoGuest::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| anyhow!("{e}"))?;
        server_wit::AsyncServer::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|e| anyhow!("{e}"))?;
        let instance_pre = linker
            .instantiate_pre(component)
            .map_err(|e| anyhow!("{name} needs something eddy does not offer: {e}"))?;
        // A guest without the export waits for its plugins (`plugins.dispatch`, `call`); one
        // that has it with other types would never hear of a call that waits.
        let has_results = component
            .component_type()
            .exports(engine)
            .any(|(export, _)| export.starts_with("eddy:http/plugin-results@"));
        let results = match AsyncServerIndices::new(&instance_pre) {
            Ok(indices) => Some(indices),
            Err(error) if has_results => bail!(
                "{name} exports eddy:http/plugin-results, but not as this host speaks it: {error}"
            ),
            Err(_) => None,
        };
        let pre = IoGuestPre::new(instance_pre)
            .map_err(|e| anyhow!("{name} does not export eddy's world: {e}"))?;
        Ok(Self { pre, results })
    }

    /// Instantiates the program in a fresh `Store` for worker `worker`; `imports` are lent
    /// to it while instantiation runs.
    ///
    /// # Errors
    /// Instantiation traps (for example the guest's start function fails).
    pub fn instantiate(
        &self,
        imports: &mut (dyn Imports + 'static),
        plugins: Plugins,
        limits: &Limits,
        timeout: Duration,
        worker: usize,
    ) -> anyhow::Result<Guest> {
        let state = HostState::new(limits, plugins, timeout, worker);
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        // The deadline counts the guest's own time: time spent in plugins is given back.
        store.epoch_deadline_callback(|store| {
            let state = store.data();
            let own = state
                .call_started
                .elapsed()
                .saturating_sub(state.plugin_time);
            match state.timeout.checked_sub(own) {
                Some(left) if !left.is_zero() => Ok(UpdateDeadline::Continue(ticks(left))),
                _ => Ok(UpdateDeadline::Interrupt),
            }
        });
        store.data_mut().begin_call();
        store.set_epoch_deadline(ticks(timeout));
        let instantiated = Lent::scope(
            &mut store,
            |store| store.data_mut().lent(),
            imports,
            |store| -> wasmtime::Result<(IoGuest, Option<AsyncServer>)> {
                let instance = self.pre.instance_pre().instantiate(&mut *store)?;
                let bindings = IoGuest::new(&mut *store, &instance)?;
                let results = match &self.results {
                    Some(indices) => Some(indices.load(&mut *store, &instance)?),
                    None => None,
                };
                wasmtime::Result::<_>::Ok((bindings, results))
            },
        );
        let (bindings, results) = match instantiated {
            Ok(found) => found,
            Err(error) => {
                let text = format!("{error:#}");
                let state = store.data();
                let reason = state.limiter.limits().explain(&state.limiter, &text);
                bail!(
                    "the server guest cannot be instantiated: {}",
                    reason.unwrap_or(text)
                );
            }
        };
        Ok(Guest::new(store, bindings, results))
    }
}
