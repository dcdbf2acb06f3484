//! `pause`/`unpause`: the runtime freezes and thaws the container's cgroup; a `paused` file
//! in the container's directory records it, since the monitor owns `state.json`. The marker
//! counts only while the container runs, and every cleanup of a run removes it.

use kasane_runtime::Runtime;

use super::ContainerPaths;
use crate::Engine;
use crate::error::{EngineError, Result};

impl ContainerPaths {
    /// Present while the container is paused.
    pub fn paused_marker(&self) -> std::path::PathBuf {
        self.dir.join("paused")
    }
}

impl Engine {
    /// `pause`: freezes every process of a running container.
    ///
    /// # Errors
    /// `NoSuchContainer`; `ContainerState` (docker's words) when it is not running or
    /// already paused; runtime failures.
    pub fn pause_container(&mut self, name: &str) -> Result<()> {
        let record = self.find_container(name)?;
        let state = self.container_state(&record)?;
        if !state.is_running() {
            return Err(EngineError::ContainerState(format!(
                "container {} is not running",
                record.id
            )));
        }
        if state.paused {
            return Err(EngineError::ContainerState(format!(
                "container {} is already paused",
                record.id
            )));
        }
        let opts = self.container_options(&record)?;
        let paths = self.container_paths(&record.id);
        let runtime = self.runtime_for(&opts, &paths)?;
        runtime.pause(&record.id).map_err(|e| {
            EngineError::ContainerState(format!("cannot pause container {}: {e}", record.id))
        })?;
        std::fs::write(paths.paused_marker(), b"").map_err(|e| {
            let _ = runtime.resume(&record.id);
            EngineError::io(format!("writing {}", paths.paused_marker().display()), e)
        })
    }

    /// `unpause`: thaws a paused container.
    ///
    /// # Errors
    /// `NoSuchContainer`; `ContainerState` when it is not paused; runtime failures.
    pub fn unpause_container(&mut self, name: &str) -> Result<()> {
        let record = self.find_container(name)?;
        let state = self.container_state(&record)?;
        if !state.paused {
            return Err(EngineError::ContainerState(format!(
                "Container {} is not paused",
                record.id
            )));
        }
        let opts = self.container_options(&record)?;
        let paths = self.container_paths(&record.id);
        let runtime = self.runtime_for(&opts, &paths)?;
        runtime.resume(&record.id).map_err(|e| {
            EngineError::ContainerState(format!("Cannot unpause container {}: {e}", record.id))
        })?;
        remove_marker(&paths);
        Ok(())
    }

    /// Thaws a paused container so that a signal just sent takes effect (`stop`, `kill`,
    /// `rm -f`), as docker does.
    pub(crate) fn thaw_if_paused(&self, id: &str, paths: &ContainerPaths, runtime: &dyn Runtime) {
        if paths.paused_marker().exists() {
            if let Err(e) = runtime.resume(id) {
                tracing::debug!("thawing {id}: {e}");
            }
            remove_marker(paths);
        }
    }
}

/// Forgets that the container is paused.
pub(crate) fn remove_marker(paths: &ContainerPaths) {
    let _ = std::fs::remove_file(paths.paused_marker());
}
