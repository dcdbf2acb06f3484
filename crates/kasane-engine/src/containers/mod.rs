//! Containers: create, start (through a monitor process), stop, kill, remove, exec, list.
//!
//! A container is a metadata row (id, name, image, writable snapshot, [`ContainerOptions`]
//! as JSON) plus a directory `<root>/containers/<id>/`:
//! ```text
//! config.json      the OCI bundle's spec (written at each start)
//! rootfs/          the overlay mount: the image's layers (lower, shared) + its own upper dir
//! state.json       run state, written atomically by the monitor ([`RunState`])
//! monitor.lock     held exclusively by the live monitor: free lock = no monitor
//! paused           present while `pause`d (see [`pause`])
//! <id>-json.log    stdout/stderr in docker's json-file format
//! hostname hosts resolv.conf   bind-mounted over the container's /etc files
//! ```
//! The runtime's own state lives under the run root (`<root>/run/<runtime>/<id>`).
//!
//! Who does what: the `kasane` command that starts a container spawns (or, in the
//! foreground, becomes) the container's monitor ([`monitor`]); the monitor owns the
//! runtime calls, stdio, the exit code, `--rm`, restarts and published ports. Every other
//! command reads `state.json` and checks the monitor's lock; a state that says "running"
//! with no monitor alive is reconciled ([`Engine::container_state`]) into "exited".

mod attach;
mod create;
mod exec;
mod files;
mod inspect;
mod lifecycle;
pub mod monitor;
mod names;
mod pause;
pub(crate) use names::new_id;
mod rootfs;
mod state;
pub mod stats;

pub use attach::AttachTarget;
pub use create::{ContainerOptions, RestartPolicy, VolumeSpec};
pub use exec::ExecOptions;
pub use files::{CommitOptions, CopyOptions, ProcessList};
pub use inspect::{ContainerDetails, ContainerSummary};
pub use monitor::{MonitorIo, StartMode};
pub use state::{RunState, Status, monitor_alive};

use std::path::{Path, PathBuf};

use kasane_store::metadata::ContainerRecord;

use crate::Engine;
use crate::error::{EngineError, Result};

/// The files of one container.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    /// `<root>/containers/<id>`: also the OCI bundle.
    pub dir: PathBuf,
}

impl ContainerPaths {
    /// The bundle's spec.
    pub fn spec(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// The overlay mount point.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// The run state.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// The monitor's liveness lock.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("monitor.lock")
    }
    /// The json-file log.
    pub fn log(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}-json.log"))
    }
    /// The runtime's error log.
    pub fn runtime_log(&self) -> PathBuf {
        self.dir.join("runtime.log")
    }
    /// The init's host pid, written by the runtime.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("init.pid")
    }
    /// The monitor's own stderr (diagnostics only).
    pub fn monitor_log(&self) -> PathBuf {
        self.dir.join("monitor.log")
    }
}

impl Engine {
    /// Where containers' directories live.
    pub(crate) fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// The run root: runtime state (`<root>/run`), kept short because unix socket paths
    /// below it are limited to 107 bytes.
    pub fn run_root(&self) -> PathBuf {
        self.root.join("run")
    }

    /// The files of container `id`.
    pub fn container_paths(&self, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: self.containers_dir().join(id),
        }
    }

    /// Finds a container by full id, name (with or without `/`) or unique id prefix, as
    /// docker does.
    ///
    /// # Errors
    /// `NoSuchContainer`; `AmbiguousId` when a prefix matches several.
    pub fn find_container(&mut self, name: &str) -> Result<ContainerRecord> {
        let wanted = name.strip_prefix('/').unwrap_or(name);
        if wanted.is_empty() {
            return Err(EngineError::NoSuchContainer(name.to_owned()));
        }
        let found = self.metadata.read(|tx| {
            if let Some(c) = tx.container(wanted)? {
                return Ok(Ok(c));
            }
            if let Some(c) = tx.container_by_name(wanted)? {
                return Ok(Ok(c));
            }
            let ids = if wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
                tx.containers_by_prefix(wanted)?
            } else {
                Vec::new()
            };
            match ids.as_slice() {
                [one] => Ok(tx.container(one)?.ok_or(0)),
                [] => Ok(Err(0)),
                _ => Ok(Err(ids.len())),
            }
        })?;
        match found {
            Ok(c) => Ok(c),
            Err(0) => Err(EngineError::NoSuchContainer(name.to_owned())),
            Err(_) => Err(EngineError::AmbiguousId(name.to_owned())),
        }
    }

    /// Every container record, newest first.
    pub fn container_records(&mut self) -> Result<Vec<ContainerRecord>> {
        Ok(self.metadata.read(|tx| tx.containers())?)
    }

    /// The options a container was created with.
    pub fn container_options(&self, record: &ContainerRecord) -> Result<ContainerOptions> {
        serde_json::from_str(&record.config).map_err(|e| {
            EngineError::InvalidArgument(format!(
                "container {}: unreadable configuration in the metadata: {e}",
                record.name
            ))
        })
    }
}

/// Creates `dir` and its parents, naming it in the error.
pub(crate) fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))
}

/// The current time as docker prints it in inspect (RFC 3339, nanoseconds, UTC).
pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

/// Replaces `path` atomically (temp file + rename) without syncing: for files written again
/// at every start (the bundle) or that a crash may lose, where a crash can only leave the old
/// or the new.
pub(crate) fn write_replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            EngineError::io(format!("writing {}", path.display()), e)
        })
}
