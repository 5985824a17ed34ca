//! SIGHUP: re-read what can change without a restart. Each thing that can be reloaded (the
//! config file's handler table, certificates) registers a [`Hook`]; the watcher runs every
//! hook on every SIGHUP, and a hook that fails (or panics) logs one line and keeps what it
//! had, so a failed reload never stops the next one. Hooks read files only as regular files
//! under a size cap (`crate::regular_file`), so none blocks on a FIFO or reads a device.
//!
//! SIGHUP is always caught once `serve` starts, so it never ends the process; with no hooks
//! it logs that there is nothing to reload.

use std::panic::AssertUnwindSafe;
use std::thread;

use anyhow::{Context as _, anyhow};

/// One reloadable thing: its name (for log lines) and what re-reads it. It returns a short
/// summary of what changed, or an error that leaves the old state in place.
pub struct Hook {
    name: &'static str,
    reload: Box<dyn FnMut() -> anyhow::Result<String> + Send>,
}

impl Hook {
    /// A hook named `name` (e.g. "handlers") that runs `reload` on each SIGHUP.
    pub fn new(
        name: &'static str,
        reload: impl FnMut() -> anyhow::Result<String> + Send + 'static,
    ) -> Self {
        Self {
            name,
            reload: Box::new(reload),
        }
    }
}

/// The hooks run on SIGHUP, in the order they were added.
#[derive(Default)]
pub struct Reloader {
    hooks: Vec<Hook>,
}

impl Reloader {
    /// Adds a hook.
    pub fn add(&mut self, hook: Hook) {
        self.hooks.push(hook);
    }

    /// Runs every hook once, as one SIGHUP does; returns how many succeeded.
    pub fn reload_all(&mut self) -> usize {
        if self.hooks.is_empty() {
            tracing::info!("SIGHUP: nothing to reload");
            return 0;
        }
        let mut succeeded = 0;
        for hook in &mut self.hooks {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (hook.reload)()))
                .unwrap_or_else(|_| Err(anyhow!("the reload panicked")));
            match outcome {
                Ok(summary) => {
                    succeeded += 1;
                    tracing::info!("SIGHUP: reloaded {}: {summary}", hook.name);
                }
                Err(error) => tracing::error!(
                    "SIGHUP: {} not reloaded, keeping the old ones: {}",
                    hook.name,
                    format!("{error:#}").replace('\n', " ")
                ),
            }
        }
        succeeded
    }

    /// Catches SIGHUP from now on and runs the hooks on a thread of their own for each.
    ///
    /// # Errors
    /// The signal handler or the thread cannot be set up.
    pub fn watch(mut self) -> anyhow::Result<()> {
        use signal_hook::consts::SIGHUP;
        let mut signals = signal_hook::iterator::Signals::new([SIGHUP])
            .context("cannot install the SIGHUP handler")?;
        thread::Builder::new()
            .name("eddy-reload".into())
            .spawn(move || {
                for _ in signals.forever() {
                    self.reload_all();
                }
            })
            .context("cannot start the reload thread")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_hook_does_not_stop_the_others() {
        let mut reloader = Reloader::default();
        assert_eq!(reloader.reload_all(), 0);
        reloader.add(Hook::new("broken", || anyhow::bail!("bad file")));
        reloader.add(Hook::new("panicking", || panic!("a bug in a hook")));
        let mut count = 0;
        reloader.add(Hook::new("counted", move || {
            count += 1;
            Ok(format!("{count}"))
        }));
        assert_eq!(reloader.reload_all(), 1);
        assert_eq!(reloader.reload_all(), 1);
    }
}
