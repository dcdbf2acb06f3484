//! [`RunOptions`]: what the `run`/`create` flags decide about a container's spec.

use std::path::PathBuf;

/// The container's network namespace (`--network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// A private network namespace with loopback only (kasane's default for `run`).
    #[default]
    Private,
    /// The host's network stack: no network namespace.
    Host,
    /// A private namespace that is never connected (`--network none`).
    None,
}

/// The container's seccomp filter (`--security-opt seccomp=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeccompMode {
    /// kasane's default profile ([`crate::seccomp::default_profile`]), docker's default.
    #[default]
    Default,
    /// No filter (`--security-opt seccomp=unconfined`).
    Unconfined,
}

/// A mount requested by `-v`, `--mount` or `--tmpfs`, already resolved to host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// A host directory or file bound in (`-v /host:/ctr[:ro]`).
    Bind {
        /// Absolute host path.
        source: PathBuf,
        /// Absolute path in the container.
        destination: String,
        /// Mounted read-only (`:ro`).
        read_only: bool,
    },
    /// A named volume, already resolved to its host directory (`-v name:/ctr`).
    Volume {
        /// The volume's host directory.
        source: PathBuf,
        /// Absolute path in the container.
        destination: String,
        /// Mounted read-only (`:ro`).
        read_only: bool,
    },
    /// A tmpfs (`--tmpfs /run:size=64m`).
    Tmpfs {
        /// Absolute path in the container.
        destination: String,
        /// Extra tmpfs options (`size=64m`, `mode=1777`), appended after the defaults.
        options: Vec<String>,
    },
}

impl MountSpec {
    /// The mount's path inside the container.
    pub fn destination(&self) -> &str {
        match self {
            Self::Bind { destination, .. }
            | Self::Volume { destination, .. }
            | Self::Tmpfs { destination, .. } => destination,
        }
    }
}

/// One `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// Resource name without the `RLIMIT_` prefix, lower case as docker takes it (`nofile`).
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// What `run`/`create` flags decide; `Default` is a plain `docker run IMAGE`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    /// Arguments after the image name; when non-empty they replace the image's `Cmd`.
    pub cmd: Vec<String>,
    /// `--entrypoint`: `None` keeps the image's; `Some` replaces it and clears the image's
    /// `Cmd` (docker); `Some(vec![])` or `Some(vec!["".into()])` (`--entrypoint ""`) clears it.
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=value`, in order; overrides the image's `Env` by key.
    pub env: Vec<String>,
    /// `-w`: working directory, overriding the image's `WorkingDir`.
    pub workdir: Option<String>,
    /// `-u user[:group]`, overriding the image's `User`.
    pub user: Option<String>,
    /// Host name inside the container (docker: the short container id).
    pub hostname: String,
    /// `-t`: allocate a terminal.
    pub tty: bool,
    /// `--read-only`: mount the rootfs read-only.
    pub read_only: bool,
    /// `--privileged`: all capabilities, all devices, no masked or read-only paths.
    pub privileged: bool,
    /// `--cap-add`: names with or without `CAP_`, or `ALL`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`: names with or without `CAP_`, or `ALL`.
    pub cap_drop: Vec<String>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--memory` in bytes.
    pub memory: Option<u64>,
    /// `--cpus`: CPU share as a fraction of CPUs (`0.5`).
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `-v`, `--mount`, `--tmpfs`, resolved.
    pub mounts: Vec<MountSpec>,
    /// `--init`: run an init as PID 1 (the caller bind-mounts it; see [`crate::INIT_PATH`]).
    pub init: bool,
    /// `linux.cgroupsPath` (`/kasane/<id>`, or `slice:prefix:name` for systemd).
    pub cgroups_path: Option<String>,
    /// `--ulimit`.
    pub rlimits: Vec<Ulimit>,
    /// `--security-opt seccomp=…`; ignored with `privileged`, which never gets a filter.
    pub seccomp: SeccompMode,
}
