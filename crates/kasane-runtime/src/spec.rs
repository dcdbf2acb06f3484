//! [`spec_for`]: the OCI runtime spec docker would write for an image and `run` options.
//!
//! The defaults are docker's facts (moby `oci/defaults.go`, `oci/caps`, `daemon/oci_linux.go`,
//! `container.CreateDaemonEnvironment`), kept here as kasane's own tables:
//! - capabilities: docker's 14 in bounding, effective and permitted (inheritable is empty
//!   since docker 20.10.14); `--privileged` gives every capability;
//! - mounts in docker's order, then the user's mounts sorted parents-first; a user mount
//!   replaces a default at the same destination, and a user `/dev` drops every default
//!   under `/dev`; `--read-only` adds `ro` to every default mount but `/proc` and `/dev…`;
//! - masked and read-only paths, the device cgroup rules, and, for a private network
//!   namespace, docker's two network sysctls (unprivileged ping and low ports).
//!
//! - seccomp: [`crate::seccomp::default_profile`] for the effective capabilities, unless
//!   `--privileged` or `--security-opt seccomp=unconfined`.
//!
//! Not yet: AppArmor and SELinux labels, host devices for `--privileged` (only the cgroup
//! rule allows them all), blkio, and swap (docker sets `memory.swap` to twice `--memory`;
//! so does this).

use std::collections::BTreeMap;
use std::path::Path;

use kasane_oci::ImageConfig;
use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use crate::SpecError;
use crate::options::{MountSpec, NetworkMode, RunOptions, SeccompMode};
use crate::user::resolve_user;

/// Docker's default `PATH` for Linux containers.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where `--init` expects the init binary inside the container (docker's path); the caller
/// bind-mounts the host's init there.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// CFS period docker uses with `--cpus`, in microseconds.
pub const CPU_PERIOD: u64 = 100_000;

/// Size of the private `/dev/shm` (docker's default `--shm-size`, 64 MiB).
pub const SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Docker's default capabilities (`oci/caps/defaults.go`), in docker's order.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every Linux capability, numbered 0 to 40 (`linux/capability.h`); `--privileged` and
/// `--cap-add ALL` grant these.
pub const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Paths docker hides from the container (`linux.maskedPaths`).
pub const MASKED_PATHS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// Paths docker mounts read-only in the container (`linux.readonlyPaths`).
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Resource names `--ulimit` accepts (without `RLIMIT_`).
pub const RLIMIT_NAMES: [&str; 16] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

/// The host's hard resource limits, by `RLIMIT_*` name; `u64::MAX` is unlimited.
///
/// kasane runs without `CAP_SYS_RESOURCE` in the runtime's view (rootless, or a root that
/// dropped it), so a spec must never ask to raise a limit above these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostLimits {
    /// Hard limit per resource (`"RLIMIT_NOFILE" → 1048576`); absent resources are not clamped.
    pub hard: BTreeMap<String, u64>,
    /// The capability bounding set kasane runs with (bit N = capability N); "all
    /// capabilities" (`--privileged`, `--cap-add ALL`) means these, as in docker. `None`:
    /// every capability kasane knows.
    pub bounding: Option<u64>,
}

impl HostLimits {
    /// Reads this process's hard limits with `getrlimit`.
    pub fn current() -> Self {
        use rustix::process::{Resource, getrlimit};
        let resources = [
            ("core", Resource::Core),
            ("cpu", Resource::Cpu),
            ("data", Resource::Data),
            ("fsize", Resource::Fsize),
            ("locks", Resource::Locks),
            ("memlock", Resource::Memlock),
            ("msgqueue", Resource::Msgqueue),
            ("nice", Resource::Nice),
            ("nofile", Resource::Nofile),
            ("nproc", Resource::Nproc),
            ("rss", Resource::Rss),
            ("rtprio", Resource::Rtprio),
            ("rttime", Resource::Rttime),
            ("sigpending", Resource::Sigpending),
            ("stack", Resource::Stack),
            ("as", Resource::As),
        ];
        let hard = resources
            .into_iter()
            .map(|(name, r)| (rlimit_type(name), getrlimit(r).maximum.unwrap_or(u64::MAX)))
            .collect();
        let bounding = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            });
        Self { hard, bounding }
    }

    /// A host whose hard limits are exactly `limits` (`("nofile", 4096)`); for tests and callers
    /// that already know them.
    pub fn from_pairs<'a>(limits: impl IntoIterator<Item = (&'a str, u64)>) -> Self {
        let hard = limits
            .into_iter()
            .map(|(n, v)| (rlimit_type(n), v))
            .collect();
        Self {
            hard,
            bounding: None,
        }
    }
}

/// `nofile` → `RLIMIT_NOFILE`.
fn rlimit_type(name: &str) -> String {
    format!("RLIMIT_{}", name.to_ascii_uppercase())
}

/// Builds the OCI runtime spec for running `config` with `opts`.
///
/// Pure apart from reading `/etc/passwd` and `/etc/group` under `rootfs` (the container's
/// root filesystem, used only to resolve the user). `root.path` is `rootfs`, relative to the
/// bundle, as docker writes it; the caller lays out the bundle.
pub fn spec_for(
    config: &ImageConfig,
    opts: &RunOptions,
    rootfs: &Path,
    host: &HostLimits,
) -> Result<Spec, SpecError> {
    let empty = kasane_oci::ContainerConfig::default();
    let image = config.config.as_ref().unwrap_or(&empty);
    let args = process_args(image.entrypoint.as_deref(), image.cmd.as_deref(), opts)?;
    let user_spec = opts.user.as_deref().or(image.user.as_deref()).unwrap_or("");
    let user = resolve_user(rootfs, user_spec)?;
    let mut env = process_env(image.env.as_deref().unwrap_or_default(), opts)?;
    if !env
        .iter()
        .any(|e| e.split_once('=').is_some_and(|(k, _)| k == "HOME"))
    {
        env.push(format!(
            "HOME={}",
            user.home
                .as_deref()
                .filter(|h| !h.is_empty())
                .unwrap_or("/")
        ));
    }
    let cwd = opts
        .workdir
        .as_deref()
        .or(image.working_dir.as_deref())
        .filter(|w| !w.is_empty())
        .unwrap_or("/");

    let caps = capabilities(opts, host)?;
    let mut additional_gids = vec![user.gid];
    additional_gids.extend(&user.additional_gids);

    let mut process = json!({
        "terminal": opts.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": additional_gids},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
    });
    // `noNewPrivileges: false` is left out rather than written: it is the default, and youki
    // reads an explicit `false` as "set", loading seccomp only after dropping CAP_SYS_ADMIN,
    // which the kernel refuses without no_new_privs.
    let rlimits = rlimits(opts, host)?;
    if !rlimits.is_empty() {
        process["rlimits"] = Value::Array(rlimits);
    }

    let mut namespaces = vec![json!({"type": "mount"})];
    if opts.network != NetworkMode::Host {
        namespaces.push(json!({"type": "network"}));
    }
    namespaces.extend(["uts", "pid", "ipc", "cgroup"].map(|t| json!({"type": t})));

    let mut linux = json!({
        "resources": resources(opts)?,
        "namespaces": namespaces,
    });
    if let Some(path) = &opts.cgroups_path {
        linux["cgroupsPath"] = json!(path);
    }
    if opts.network != NetworkMode::Host {
        linux["sysctl"] = json!({
            "net.ipv4.ip_unprivileged_port_start": "0",
            "net.ipv4.ping_group_range": "0 2147483647",
        });
    }
    if !opts.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if !opts.privileged && opts.seccomp == SeccompMode::Default {
        linux["seccomp"] = serde_json::to_value(crate::seccomp::default_profile(&caps))?;
    }

    let spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": opts.read_only},
        "hostname": opts.hostname,
        "mounts": mounts(opts)?,
        "linux": linux,
    });
    Ok(serde_json::from_value(spec)?)
}

/// Entrypoint + cmd with docker's override rules: the command a container runs (`--init`
/// puts the init first).
pub fn process_args(
    image_entrypoint: Option<&[String]>,
    image_cmd: Option<&[String]>,
    opts: &RunOptions,
) -> Result<Vec<String>, SpecError> {
    let (entrypoint, default_cmd): (Vec<String>, &[String]) = match &opts.entrypoint {
        // `--entrypoint` replaces the image's and clears its Cmd; `--entrypoint ""` is empty.
        Some(ep) => (
            ep.iter()
                .filter(|_| !(ep.len() == 1 && ep[0].is_empty()))
                .cloned()
                .collect(),
            &[],
        ),
        None => (
            image_entrypoint.unwrap_or_default().to_vec(),
            image_cmd.unwrap_or_default(),
        ),
    };
    let cmd = if opts.cmd.is_empty() {
        default_cmd
    } else {
        &opts.cmd
    };
    let mut args = entrypoint;
    args.extend_from_slice(cmd);
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    if opts.init {
        args.splice(0..0, [INIT_PATH.to_owned(), "--".to_owned()]);
    }
    Ok(args)
}

/// Docker's environment: `PATH`, `HOSTNAME`, `TERM` (tty), then the container's env
/// (options first, then image entries whose keys the options do not set) replacing by key.
fn process_env(image_env: &[String], opts: &RunOptions) -> Result<Vec<String>, SpecError> {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_owned();
    if let Some(bad) = opts
        .env
        .iter()
        .find(|e| !e.contains('=') || e.starts_with('='))
    {
        return Err(SpecError::InvalidEnv(bad.clone()));
    }
    let mut container_env = opts.env.clone();
    for e in image_env {
        if !opts.env.iter().any(|o| key(o) == key(e)) {
            container_env.push(e.clone());
        }
    }
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", opts.hostname),
    ];
    if opts.tty {
        env.push("TERM=xterm".to_owned());
    }
    for e in container_env {
        match env.iter_mut().find(|x| key(x) == key(&e)) {
            Some(slot) => *slot = e,
            None => env.push(e),
        }
    }
    Ok(env)
}

/// `CAP_NET_ADMIN`, `net_admin` → `CAP_NET_ADMIN`; `ALL` stays `ALL`.
fn normalize_cap(name: &str) -> Result<String, SpecError> {
    let upper = name.to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::UnknownCapability(name.to_owned()))
    }
}

/// The capability set after `--privileged`, `--cap-add` and `--cap-drop` (docker's rules:
/// `--cap-add ALL` is all minus the drops; `--cap-drop ALL` is just the adds).
fn capabilities(opts: &RunOptions, host: &HostLimits) -> Result<Vec<String>, SpecError> {
    // "All" is what the host lets kasane hold: a capability outside the bounding set cannot
    // be granted, and asking for it fails the container.
    let all_caps = ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| host.bounding.is_none_or(|b| b & (1u64 << bit) != 0))
        .map(|(_, c)| *c)
        .collect::<Vec<_>>();
    if opts.privileged {
        return Ok(all_caps.iter().map(|c| (*c).to_owned()).collect());
    }
    let add = opts
        .cap_add
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<Vec<_>, _>>()?;
    let drop = opts
        .cap_drop
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<Vec<_>, _>>()?;
    let all = |list: &[String]| list.iter().any(|c| c == "ALL");
    let mut caps: Vec<String> = if all(&add) {
        all_caps
            .iter()
            .filter(|c| !drop.iter().any(|d| d == *c))
            .map(|c| (*c).to_owned())
            .collect()
    } else if all(&drop) {
        add
    } else {
        let mut caps: Vec<String> = DEFAULT_CAPABILITIES
            .iter()
            .filter(|c| !drop.iter().any(|d| d == *c))
            .map(|c| (*c).to_owned())
            .collect();
        caps.extend(add);
        caps
    };
    let mut seen = std::collections::BTreeSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

/// `--ulimit`s as `process.rlimits`, clamped to the host's hard limits.
fn rlimits(opts: &RunOptions, host: &HostLimits) -> Result<Vec<Value>, SpecError> {
    let mut out = Vec::new();
    for u in &opts.rlimits {
        let name = u.name.to_ascii_lowercase();
        if !RLIMIT_NAMES.contains(&name.as_str()) {
            return Err(SpecError::InvalidUlimit {
                name: u.name.clone(),
                reason: "unknown resource".into(),
            });
        }
        if u.soft > u.hard {
            return Err(SpecError::InvalidUlimit {
                name: u.name.clone(),
                reason: format!("soft limit {} is above hard limit {}", u.soft, u.hard),
            });
        }
        let typ = rlimit_type(&name);
        let max = host.hard.get(&typ).copied().unwrap_or(u64::MAX);
        out.push(json!({"type": typ, "hard": u.hard.min(max), "soft": u.soft.min(max)}));
    }
    Ok(out)
}

/// `linux.resources`: device rules, memory, CPU and pids.
fn resources(opts: &RunOptions) -> Result<Value, SpecError> {
    let devices = if opts.privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        // Deny all, then null, zero, full, random, urandom, tty, console, ptmx; deny fuse.
        let rule = |allow: bool, major: i64, minor: i64| json!({"allow": allow, "type": "c", "major": major, "minor": minor, "access": "rwm"});
        json!([
            {"allow": false, "access": "rwm"},
            rule(true, 1, 5),
            rule(true, 1, 3),
            rule(true, 1, 9),
            rule(true, 1, 8),
            rule(true, 5, 0),
            rule(true, 5, 1),
            rule(false, 10, 229),
        ])
    };
    let mut res = json!({"devices": devices});
    if let Some(mem) = opts.memory {
        let limit = i64::try_from(mem).unwrap_or(i64::MAX);
        res["memory"] = json!({"limit": limit, "swap": limit.saturating_mul(2)});
    }
    if let Some(cpus) = opts.cpus {
        if !(cpus.is_finite() && cpus > 0.0) {
            return Err(SpecError::InvalidCpus(cpus));
        }
        // Docker: NanoCPUs = cpus * 1e9; quota = NanoCPUs * period / 1e9.
        #[allow(clippy::cast_possible_truncation)]
        let quota = (cpus * CPU_PERIOD as f64).round() as i64;
        res["cpu"] = json!({"quota": quota, "period": CPU_PERIOD});
    }
    if let Some(pids) = opts.pids_limit.filter(|p| *p != 0) {
        res["pids"] = json!({"limit": if pids < 0 { -1 } else { pids }});
    }
    Ok(res)
}

/// Docker's default mounts, filtered and adjusted, followed by the user's mounts.
fn mounts(opts: &RunOptions) -> Result<Vec<Value>, SpecError> {
    let m = |dest: &str, typ: &str, src: &str, options: &[&str]| {
        (
            dest.to_owned(),
            json!({"destination": dest, "type": typ, "source": src, "options": options}),
        )
    };
    let shm_size = format!("size={SHM_SIZE}");
    let defaults = [
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        m(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        m(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        m(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        m(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        m(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        m(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ),
    ];
    for u in &opts.mounts {
        if !u.destination().starts_with('/') {
            return Err(SpecError::InvalidMountDestination(
                u.destination().to_owned(),
            ));
        }
    }
    let user_dests: Vec<&str> = opts.mounts.iter().map(MountSpec::destination).collect();
    let user_dev = user_dests.contains(&"/dev");
    let mut out = Vec::new();
    for (dest, mut mount) in defaults {
        if user_dests.contains(&dest.as_str()) || (user_dev && dest.starts_with("/dev/")) {
            continue;
        }
        let keep_rw =
            ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"].contains(&dest.as_str());
        if let Some(options) = mount["options"].as_array_mut() {
            let has_ro = options.iter().any(|o| o == "ro");
            if opts.read_only && !keep_rw && !has_ro {
                options.push(json!("ro"));
            }
            // Privileged containers get a writable /sys and cgroup tree.
            if opts.privileged && (dest == "/sys" || dest == "/sys/fs/cgroup") {
                options.retain(|o| o != "ro");
            }
        }
        out.push(mount);
    }
    let mut user: Vec<&MountSpec> = opts.mounts.iter().collect();
    user.sort_by_key(|u| u.destination().trim_end_matches('/').split('/').count());
    for u in user {
        out.push(match u {
            MountSpec::Bind { source, destination, read_only } => {
                let mut o = vec!["rbind"];
                if *read_only {
                    o.push("ro");
                }
                o.push("rprivate");
                json!({"destination": destination, "type": "bind", "source": source, "options": o})
            }
            MountSpec::Volume { source, destination, read_only } => {
                let mut o = vec!["rbind"];
                if *read_only {
                    o.push("ro");
                }
                json!({"destination": destination, "type": "bind", "source": source, "options": o})
            }
            MountSpec::Tmpfs { destination, options } => {
                let mut o: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"].map(str::to_owned).to_vec();
                o.extend(options.iter().cloned());
                json!({"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": o})
            }
        });
    }
    Ok(out)
}
