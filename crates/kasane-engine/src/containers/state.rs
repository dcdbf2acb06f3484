//! A container's run state (`state.json`, written atomically by its monitor) and the
//! monitor's liveness lock.

use std::fs::File;
use std::path::Path;

use kasane_runtime::ports::PortMapping;
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// docker's `State.Status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Never started.
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Waiting to be restarted by its policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process ended.
    Exited,
    /// Could not be cleaned up.
    Dead,
}

impl Status {
    /// The lowercase name (`running`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    /// The status.
    pub status: Status,
    /// Host pid of the container's init while running, else 0.
    pub pid: i32,
    /// The monitor's pid while it lives.
    pub monitor_pid: i32,
    /// RFC 3339 time of the last start.
    pub started_at: Option<String>,
    /// RFC 3339 time of the last exit.
    pub finished_at: Option<String>,
    /// Exit code of the last run.
    pub exit_code: i32,
    /// The memory cgroup killed the process.
    pub oom_killed: bool,
    /// Why the last start failed, if it did.
    pub error: String,
    /// Restarts done by the policy since the last `start`.
    pub restart_count: u32,
    /// Published ports as bound (ephemeral ports resolved).
    pub ports: Vec<PortMapping>,
    /// `stop`/`kill` asked for this exit: the restart policy does not apply.
    pub stop_requested: bool,
    /// Which runtime ran it last (`kasane`, `crun`, `runc`).
    pub runtime: String,
    /// Frozen by `pause` (never stored: read from the `paused` marker while running).
    #[serde(skip)]
    pub paused: bool,
}

impl RunState {
    /// Reads `path`; a missing file is a never-started container.
    ///
    /// # Errors
    /// I/O errors; a file that is not a run state.
    pub fn load(path: &Path) -> Result<RunState> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                EngineError::InvalidArgument(format!("{}: not a run state: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RunState::default()),
            Err(e) => Err(EngineError::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Writes `path` atomically (temp file, fsync, rename).
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: &Path) -> Result<()> {
        kasane_store::atomic::write_atomic(path, &self.to_json()?)?;
        Ok(())
    }

    /// Writes `path` atomically but without syncing: for states a crash may lose (the
    /// monitor lock tells whether a container runs; a `--rm` container is about to go).
    ///
    /// # Errors
    /// I/O errors.
    pub fn save_unsynced(&self, path: &Path) -> Result<()> {
        super::write_replace(path, &self.to_json()?)
    }

    fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|e| EngineError::InvalidArgument(format!("run state does not serialise: {e}")))
    }

    /// The status word docker shows: `paused` for a paused running container.
    pub fn docker_status(&self) -> &'static str {
        if self.paused {
            "paused"
        } else {
            self.status.as_str()
        }
    }

    /// Whether the process is (or is about to be) running.
    pub fn is_running(&self) -> bool {
        matches!(self.status, Status::Running | Status::Restarting)
    }
}

/// Opens (creating) the monitor lock file.
pub(crate) fn open_lock(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| EngineError::io(format!("opening {}", path.display()), e))
}

/// Whether a monitor holds the lock at `path` now.
pub fn monitor_alive(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    match f.try_lock_shared() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// How long a monitor whose container has exited may take to finish (unmount, runtime
/// cleanup, `--rm`) before callers stop waiting for it.
pub const MONITOR_EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits until no monitor holds the lock at `paths`' lock file, for at most `timeout`;
/// whether it is gone.
pub fn wait_monitor_gone(paths: &super::ContainerPaths, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while monitor_alive(&paths.lock()) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_missing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert_eq!(RunState::load(&p).unwrap().status, Status::Created);
        let s = RunState {
            status: Status::Exited,
            exit_code: 3,
            ..Default::default()
        };
        s.save(&p).unwrap();
        assert_eq!(RunState::load(&p).unwrap(), s);
        std::fs::write(&p, b"garbage").unwrap();
        assert!(RunState::load(&p).is_err());
    }

    #[test]
    fn lock_shows_liveness() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("monitor.lock");
        assert!(!monitor_alive(&p));
        let f = open_lock(&p).unwrap();
        assert!(!monitor_alive(&p));
        f.lock().unwrap();
        assert!(monitor_alive(&p));
        drop(f);
        assert!(!monitor_alive(&p));
    }
}
