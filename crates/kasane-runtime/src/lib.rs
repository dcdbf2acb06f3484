//! kasane's container runtime front end.
//!
//! Owns: [`spec_for`], which turns an image config and `run` options into the OCI runtime
//! spec (`config.json`) docker would write, golden-tested against docker's defaults;
//! [`RunOptions`] (what the `run`/`create` flags decide); user resolution against the
//! container's `/etc/passwd` and `/etc/group` ([`resolve_user`]); [`HostLimits`].
//!
//! Later: the `Runtime` trait (embedded youki, crun, runc), the monitor process, ports.

pub mod error;
pub mod options;
pub mod spec;
pub mod user;

pub use error::SpecError;
pub use options::{MountSpec, NetworkMode, RunOptions, Ulimit};
pub use spec::{
    ALL_CAPABILITIES, CPU_PERIOD, DEFAULT_CAPABILITIES, DEFAULT_PATH, HostLimits, INIT_PATH,
    MASKED_PATHS, READONLY_PATHS, SHM_SIZE, spec_for,
};
pub use user::{ResolvedUser, resolve_user};
