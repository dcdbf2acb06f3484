//! Errors from building a runtime spec.

use std::path::PathBuf;

/// Why [`crate::spec_for`] could not build a spec; each message names the field and value.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// `-u`/`USER` names a user that is not in the rootfs's `/etc/passwd` (docker's wording).
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    /// `-u user:group` names a group that is not in the rootfs's `/etc/group`.
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
    /// A numeric uid or gid outside `0..=2147483647`.
    #[error("invalid user {0:?}: uid or gid out of range")]
    IdOutOfRange(String),
    /// Reading `/etc/passwd` or `/etc/group` under the rootfs failed (other than "absent").
    #[error("reading {path} in the container rootfs: {source}")]
    ReadRootfs {
        /// The file, relative to the rootfs.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `--cap-add`/`--cap-drop` names no known capability.
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    /// Neither the options nor the image give a command (docker: "no command specified").
    #[error("no command specified")]
    NoCommand,
    /// `-e` entry that is not `KEY=value` (bare `KEY` must be resolved by the caller).
    #[error("invalid environment entry {0:?}: expected KEY=value")]
    InvalidEnv(String),
    /// `--ulimit` names an unknown resource or has soft above hard.
    #[error("invalid ulimit {name}: {reason}")]
    InvalidUlimit {
        /// The resource name as given (`nofile`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `--cpus` is not a positive finite number.
    #[error("invalid cpus {0}: must be a positive number")]
    InvalidCpus(f64),
    /// A mount destination that is not an absolute path.
    #[error("invalid mount destination {0:?}: must be an absolute path")]
    InvalidMountDestination(String),
    /// The assembled spec did not fit `oci-spec`'s types (a bug in kasane).
    #[error("building the runtime spec: {0}")]
    Build(#[from] serde_json::Error),
}
