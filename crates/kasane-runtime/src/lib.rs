//! kasane's container runtime front end.
//!
//! Owns: [`spec_for`], which turns an image config and `run` options into the OCI runtime
//! spec (`config.json`) docker would write, golden-tested against docker's defaults;
//! [`RunOptions`] (what the `run`/`create` flags decide); user resolution against the
//! container's `/etc/passwd` and `/etc/group` ([`resolve_user`]); [`HostLimits`].
//!
//! The [`Runtime`] trait with [`OciCli`], which drives `crun`, `runc` or kasane's embedded
//! youki ([`embedded`], reached as `kasane runtime …`) through runc's command line.

pub mod attach;
pub mod cgroup_warmup;
pub mod cgroups;
pub mod console;
pub mod embedded;
pub mod error;
pub mod logs;
pub mod netns;
pub mod options;
pub mod ports;
pub mod runtime;
pub mod seccomp;
mod seccomp_bpf;
pub mod signals;
pub mod socket_file;
pub mod spec;
mod sys;
pub mod user;

pub use error::SpecError;
pub use logs::{
    LogError, LogReadOptions, LogWriter, SharedLogWriter, Stream, copy_stream, parse_since,
    read_logs,
};
pub use options::{MountSpec, NetworkMode, RunOptions, SeccompMode, Ulimit};
pub use ports::{
    PortError, PortMapping, PortProxy, Protocol, ProxyHandle, parse_expose, parse_publish,
};
pub use runtime::{
    CreateRequest, ExecRequest, OciCli, ProcessIo, Runtime, RuntimeChoice, RuntimeError,
    RuntimeState, RuntimeStatus, StdioSource,
};
pub use spec::{
    ALL_CAPABILITIES, CPU_PERIOD, DEFAULT_CAPABILITIES, DEFAULT_PATH, HostLimits, INIT_PATH,
    MASKED_PATHS, READONLY_PATHS, SHM_SIZE, spec_for,
};
pub use user::{ResolvedUser, resolve_user};
