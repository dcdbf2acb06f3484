//! stop, kill, wait, remove, prune, and the reconciliation of containers whose monitor died.

use std::time::{Duration, Instant};

use kasane_runtime::Runtime;
use kasane_store::metadata::ContainerRecord;

use super::monitor::{stop_marker, unmount_all};
use super::state::{
    MONITOR_EXIT_GRACE, RunState, Status, monitor_alive, open_lock, wait_monitor_gone,
};
use super::{ContainerPaths, now_rfc3339};
use crate::error::{EngineError, Result};
use crate::{Engine, snap_id};

/// Default `stop` timeout, seconds (docker's).
pub const DEFAULT_STOP_TIMEOUT: u32 = 10;

/// Parses a signal name or number as docker's `--signal`/`STOPSIGNAL` (`TERM`, `SIGTERM`,
/// `15`).
///
/// # Errors
/// An unknown name or a number out of range.
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || EngineError::InvalidArgument(format!("invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| bad())
}

impl Engine {
    /// The container's run state, reconciled: a state that says running with no live
    /// monitor is cleaned up (process killed, runtime state deleted, rootfs unmounted) and
    /// becomes "exited".
    ///
    /// # Errors
    /// I/O errors reading the state.
    pub fn container_state(&mut self, record: &ContainerRecord) -> Result<RunState> {
        let paths = self.container_paths(&record.id);
        let mut state = RunState::load(&paths.state())?;
        let stale =
            matches!(state.status, Status::Running | Status::Restarting) || state.monitor_pid != 0;
        if stale && !monitor_alive(&paths.lock()) {
            state = self.reconcile(record, &paths)?;
        }
        state.paused = state.status == Status::Running && paths.paused_marker().exists();
        Ok(state)
    }

    /// Cleans up after a monitor that died, under the monitor lock.
    fn reconcile(&mut self, record: &ContainerRecord, paths: &ContainerPaths) -> Result<RunState> {
        let lock = open_lock(&paths.lock())?;
        if lock.try_lock().is_err() {
            // A monitor started meanwhile: its state is the truth.
            return RunState::load(&paths.state());
        }
        let mut state = RunState::load(&paths.state())?;
        if !(matches!(state.status, Status::Running | Status::Restarting) || state.monitor_pid != 0)
        {
            return Ok(state);
        }
        let opts = self.container_options(record)?;
        let runtime = self.runtime_for(&opts, paths)?;
        let mut killed = false;
        if !runtime.has_state(&record.id) {
            // Nothing left in the runtime.
        } else if let Ok(Some(rs)) = runtime.state(&record.id)
            && rs.status != kasane_runtime::RuntimeStatus::Stopped
        {
            let _ = runtime.kill(&record.id, 9, true);
            killed = true;
            wait_gone(rs.pid, Duration::from_secs(5));
        }
        self.cleanup_run(&record.id, paths, &runtime);
        if matches!(state.status, Status::Running | Status::Restarting) {
            state.status = Status::Exited;
            state.exit_code = if killed { 137 } else { 255 };
            state.finished_at = Some(now_rfc3339());
        }
        state.pid = 0;
        state.monitor_pid = 0;
        state.save(&paths.state())?;
        Ok(state)
    }

    /// `stop`: the stop signal, then SIGKILL after `timeout` seconds (`None`: the
    /// container's `--stop-timeout`, else 10); waits until the container has exited.
    ///
    /// # Errors
    /// `NoSuchContainer`; runtime failures.
    pub fn stop_container(&mut self, name: &str, timeout: Option<u32>) -> Result<()> {
        let record = self.find_container(name)?;
        let opts = self.container_options(&record)?;
        let paths = self.container_paths(&record.id);
        let state = self.container_state(&record)?;
        if !state.is_running() {
            return Ok(());
        }
        let signal = match &opts.stop_signal {
            Some(s) => parse_signal(s)?,
            None => self.image_stop_signal(&record)?,
        };
        let timeout = timeout
            .or(opts.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        mark_stop(&paths);
        let runtime = self.runtime_for(&opts, &paths)?;
        if state.status == Status::Running
            && let Err(e) = runtime.kill(&record.id, signal, false)
        {
            tracing::debug!("stop signal to {}: {e}", record.name);
        }
        self.thaw_if_paused(&record.id, &paths, &runtime);
        if self.wait_stopped(&paths, Duration::from_secs(u64::from(timeout))) {
            return Ok(());
        }
        let _ = runtime.kill(&record.id, 9, true);
        self.thaw_if_paused(&record.id, &paths, &runtime);
        if self.wait_stopped(&paths, Duration::from_secs(30)) {
            return Ok(());
        }
        Err(EngineError::ContainerState(format!(
            "container {} did not stop after SIGKILL",
            record.name
        )))
    }

    /// `kill -s SIGNAL`.
    ///
    /// # Errors
    /// `NoSuchContainer`; not running (`Conflict`, docker's wording); runtime failures.
    pub fn kill_container(&mut self, name: &str, signal: &str) -> Result<()> {
        let sig = parse_signal(signal)?;
        let record = self.find_container(name)?;
        let state = self.container_state(&record)?;
        if state.status != Status::Running {
            return Err(EngineError::ContainerState(format!(
                "Cannot kill container: {name}: container {} is not running",
                record.id
            )));
        }
        let opts = self.container_options(&record)?;
        let paths = self.container_paths(&record.id);
        if matches!(sig, 9 | 15) {
            mark_stop(&paths);
        }
        let runtime = self.runtime_for(&opts, &paths)?;
        runtime.kill(&record.id, sig, false)?;
        if sig == 9 {
            // A frozen process dies only once thawed (docker thaws for SIGKILL too).
            self.thaw_if_paused(&record.id, &paths, &runtime);
        }
        Ok(())
    }

    /// `rename OLD NEW`: a new name for a container, running or not.
    ///
    /// # Errors
    /// `NoSuchContainer`; an invalid, empty or unchanged name (docker's messages); a name in
    /// use (the store's `Conflict`).
    pub fn rename_container(&mut self, name: &str, new_name: &str) -> Result<()> {
        if name.is_empty() || new_name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        let new_name = super::names::validate_name(new_name)?;
        let record = self.find_container(name)?;
        if record.name == new_name {
            return Err(EngineError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        self.metadata
            .write(|tx| tx.rename_container(&record.id, &new_name))?;
        Ok(())
    }

    /// `wait`: blocks until the container is not running and returns its exit code.
    ///
    /// # Errors
    /// `NoSuchContainer`.
    pub fn wait_container(&mut self, name: &str) -> Result<i32> {
        let record = self.find_container(name)?;
        let paths = self.container_paths(&record.id);
        loop {
            let state = self.container_state(&record)?;
            if !state.is_running() && !monitor_alive(&paths.lock()) {
                return Ok(state.exit_code);
            }
            if let Ok(f) = std::fs::File::open(paths.lock()) {
                // Blocks until the monitor ends.
                let _ = f.lock_shared();
            }
        }
    }

    /// `rm [-f]`: removes a container that is not running (with `force`, kills it first),
    /// its writable layer, log and directory. Returns the record removed.
    ///
    /// # Errors
    /// `NoSuchContainer`; running without `force` (`Conflict`, docker's wording).
    pub fn remove_container(
        &mut self,
        name: &str,
        force: bool,
        volumes: bool,
    ) -> Result<ContainerRecord> {
        let record = self.find_container(name)?;
        let paths = self.container_paths(&record.id);
        let state = self.container_state(&record)?;
        if state.is_running() {
            if !force {
                return Err(EngineError::ContainerState(format!(
                    "You cannot remove a running container {}. Stop the container before \
                     attempting removal or force remove",
                    record.id
                )));
            }
            let opts = self.container_options(&record)?;
            mark_stop(&paths);
            let runtime = self.runtime_for(&opts, &paths)?;
            let _ = runtime.kill(&record.id, 9, true);
            self.thaw_if_paused(&record.id, &paths, &runtime);
            if !self.wait_stopped(&paths, Duration::from_secs(30)) {
                return Err(EngineError::ContainerState(format!(
                    "container {} did not stop after SIGKILL",
                    record.name
                )));
            }
        }
        let lock = open_lock(&paths.lock())?;
        if lock.try_lock().is_err() {
            // The monitor is finishing (`--rm` removes it itself); wait for it.
            let _ = lock.lock_shared();
            if self.metadata.read(|tx| tx.container(&record.id))?.is_none() {
                return Ok(record);
            }
        }
        self.remove_container_files(&record, &paths)?;
        drop(lock);
        if volumes {
            self.remove_anonymous_volumes(&record)?;
        }
        Ok(record)
    }

    /// Removes the anonymous volumes (`-v /path`, image `VOLUME`s) of a removed container
    /// that no other container names (`rm -v`, `--rm`); named volumes stay, as in docker.
    pub(crate) fn remove_anonymous_volumes(&mut self, record: &ContainerRecord) -> Result<()> {
        let Ok(opts) = self.container_options(record) else {
            return Ok(());
        };
        if !opts.volumes.iter().any(|v| v.kind == "volume") {
            return Ok(());
        }
        let _lock = self.lock_volumes()?;
        let users = self.volume_users()?;
        for v in opts.volumes.iter().filter(|v| v.kind == "volume") {
            let used = users
                .get(&v.source)
                .is_some_and(|ids| ids.iter().any(|id| *id != record.id));
            // Containers of older kasane versions did not record `anonymous`; their
            // generated volumes have no `volume.json` and 64 hex digits for a name.
            let ours = v.anonymous || self.is_legacy_generated_volume(&v.source);
            if ours && !used {
                self.delete_volume_dir(&v.source)?;
            }
        }
        Ok(())
    }

    /// Removes everything of a stopped container; the caller holds (or is) its monitor lock.
    pub(crate) fn remove_container_files(
        &mut self,
        record: &ContainerRecord,
        paths: &ContainerPaths,
    ) -> Result<()> {
        if let Ok(opts) = self.container_options(record)
            && let Ok(runtime) = self.runtime_for(&opts, paths)
        {
            self.cleanup_run(&record.id, paths, &runtime);
        }
        unmount_all(&paths.rootfs());
        // A monitor killed with SIGKILL left its attach socket behind.
        let _ = std::fs::remove_file(kasane_runtime::attach::socket_path(
            &self.run_root(),
            &record.id,
        ));
        // Files first, the row last: once `ps` no longer lists the container nothing of it
        // is left, and a crash in between leaves a row that `rm` finishes.
        remove_dir_and_layer(&*self.snapshots, paths, &snap_id(&record.snapshot_id)?)?;
        self.metadata.write(|tx| tx.delete_container(&record.id))?;
        Ok(())
    }

    /// `container prune`: removes every container that is not running; returns the ids and
    /// the bytes their writable layers held.
    ///
    /// # Errors
    /// Metadata errors; a container that cannot be removed.
    pub fn prune_containers(&mut self) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for record in self.container_records()? {
            let state = self.container_state(&record)?;
            if state.is_running() {
                continue;
            }
            let paths = self.container_paths(&record.id);
            let lock = open_lock(&paths.lock())?;
            if lock.try_lock().is_err() {
                continue;
            }
            if let Ok(u) =
                snap_id(&record.snapshot_id).and_then(|s| Ok(self.snapshots.usage(&s)?))
            {
                reclaimed += u.size;
            }
            self.remove_container_files(&record, &paths)?;
            removed.push(record.id);
        }
        Ok((removed, reclaimed))
    }

    /// Waits up to `timeout` for the container's monitor to record an exit.
    fn wait_stopped(&mut self, paths: &ContainerPaths, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let state = RunState::load(&paths.state()).unwrap_or_default();
            let alive = monitor_alive(&paths.lock());
            // A restart policy may be about to restart it; the stop marker prevents that,
            // and the monitor then ends: wait for that too, so a `start` right after finds
            // no monitor (`restart`).
            if !alive || state.status == Status::Exited {
                return !alive || wait_monitor_gone(paths, MONITOR_EXIT_GRACE);
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The image's `StopSignal`, else SIGTERM.
    fn image_stop_signal(&mut self, record: &ContainerRecord) -> Result<i32> {
        let image = self.image_record(&record.image)?;
        let (config, _) = self.config_of(&image)?;
        match config
            .config
            .as_ref()
            .and_then(|c| c.stop_signal.as_deref())
        {
            Some(s) if !s.is_empty() => parse_signal(s),
            _ => Ok(15),
        }
    }
}

/// Tells the monitor that this exit is wanted (no restart).
fn mark_stop(paths: &ContainerPaths) {
    let _ = std::fs::write(stop_marker(paths), b"");
}

/// Waits until `/proc/<pid>` is gone (or the time is up).
fn wait_gone(pid: i32, timeout: Duration) {
    if pid <= 0 {
        return;
    }
    let deadline = Instant::now() + timeout;
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes an unmounted container's directory and writable layer (not its row); either may
/// be gone already.
pub(crate) fn remove_dir_and_layer(
    snapshots: &dyn kasane_snapshot::Snapshotter,
    paths: &ContainerPaths,
    layer: &kasane_snapshot::SnapshotId,
) -> Result<()> {
    if let Err(e) = std::fs::remove_dir_all(&paths.dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(EngineError::io(
            format!("removing {}", paths.dir.display()),
            e,
        ));
    }
    Ok(snapshots.remove(layer)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_docker() {
        assert_eq!(parse_signal("TERM").unwrap(), 15);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("usr1").unwrap(), 10);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("NOPE").is_err());
    }
}
