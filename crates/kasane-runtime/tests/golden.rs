//! Golden tests: whole `config.json` values for `docker run` invocations, as docker writes
//! them (facts from moby's `oci/defaults.go` and `daemon/oci_linux.go`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use kasane_oci::ImageConfig;
use kasane_runtime::{
    HostLimits, MountSpec, NetworkMode, RunOptions, SeccompMode, Ulimit, spec_for,
};
use serde_json::{Value, json};

fn image() -> ImageConfig {
    serde_json::from_value(json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
            "Entrypoint": ["/entry.sh"],
            "Cmd": ["serve", "--port", "80"],
            "WorkingDir": "/app"
        },
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
    .unwrap()
}

fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33:www:/var/www:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc/group"),
        "root:x:0:\nwheel:x:10:root\nweb:x:33:\nlog:x:4:web\n",
    )
    .unwrap();
    dir
}

fn opts() -> RunOptions {
    RunOptions {
        hostname: "c0ffee123456".into(),
        ..RunOptions::default()
    }
}

fn host() -> HostLimits {
    HostLimits::from_pairs([("nofile", 4096), ("nproc", 1000)])
}

/// The spec as JSON, with capability sets sorted (oci-spec keeps them in hash sets) and the
/// seccomp profile summarized by [`seccomp_summary`].
fn spec_json(o: &RunOptions) -> Value {
    let r = rootfs();
    let mut v = serde_json::to_value(spec_for(&image(), o, r.path(), &host()).unwrap()).unwrap();
    if let Some(caps) = v["process"]["capabilities"].as_object_mut() {
        for set in caps.values_mut() {
            if let Some(a) = set.as_array_mut() {
                a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
            }
        }
    }
    if let Some(profile) = v["linux"].get_mut("seccomp") {
        *profile = seccomp_summary(profile);
    }
    v
}

/// Syscalls whose treatment the goldens pin down: ordinary ones, and ones a capability opens.
const PROBES: [&str; 12] = [
    "chroot",
    "clone",
    "clone3",
    "kcmp",
    "mount",
    "openat",
    "ptrace",
    "read",
    "setns",
    "settimeofday",
    "unshare",
    "write",
];

/// A seccomp profile reduced to what the goldens check: the default action, architectures,
/// which [`PROBES`] are allowed outright, what `clone3` returns when not allowed, and whether
/// `clone` has its namespace-flag check. The full list is unit-tested in `seccomp.rs`.
fn seccomp_summary(p: &Value) -> Value {
    let rules = p["syscalls"].as_array().unwrap();
    let unconditional: Vec<&str> = rules
        .iter()
        .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
        .flat_map(|r| {
            r["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
        })
        .collect();
    let allowed: Vec<&str> = PROBES
        .iter()
        .copied()
        .filter(|n| unconditional.contains(n))
        .collect();
    let clone3_errno = rules
        .iter()
        .find(|r| r["names"] == json!(["clone3"]) && r["action"] == "SCMP_ACT_ERRNO")
        .map(|r| r["errnoRet"].clone());
    let clone_masked = rules
        .iter()
        .find(|r| r["names"] == json!(["clone"]) && r.get("args").is_some())
        .map(|r| r["args"].clone());
    json!({
        "defaultAction": p["defaultAction"],
        "defaultErrnoRet": p["defaultErrnoRet"],
        "architectures": p["architectures"],
        "allowed": allowed,
        "clone3Errno": clone3_errno,
        "cloneArgs": clone_masked,
    })
}

fn architectures() -> Value {
    if cfg!(target_arch = "x86_64") {
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    } else if cfg!(target_arch = "aarch64") {
        json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    } else {
        json!(["SCMP_ARCH_NATIVE"])
    }
}

/// The summary of kasane's default profile for a container holding `allowed`'s capabilities:
/// EPERM by default, `clone3` → ENOSYS and `clone` without namespace flags unless `admin`.
fn seccomp(allowed: &[&str], admin: bool) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": architectures(),
        "allowed": allowed,
        "clone3Errno": if admin { Value::Null } else { json!(38) },
        "cloneArgs": if admin {
            Value::Null
        } else {
            json!([{"index": 0, "value": 0x7E02_0000_u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
        },
    })
}

/// Docker's default capabilities allow chroot (CAP_SYS_CHROOT) and ptrace (allowed to all
/// since Linux 4.8), not mount, setns, unshare, kcmp or settimeofday.
fn default_seccomp() -> Value {
    seccomp(&["chroot", "openat", "ptrace", "read", "write"], false)
}

fn sorted(caps: &[&str]) -> Value {
    let mut c = caps.to_vec();
    c.sort_unstable();
    json!(c)
}

const DEFAULT_CAPS: [&str; 14] = [
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

fn caps_json(caps: &[&str]) -> Value {
    let c = sorted(caps);
    json!({"bounding": c, "effective": c, "permitted": c})
}

fn default_mounts(read_only: bool, privileged: bool) -> Value {
    let sys = if privileged {
        json!(["nosuid", "noexec", "nodev"])
    } else {
        json!(["nosuid", "noexec", "nodev", "ro"])
    };
    let cg = if privileged {
        json!(["nosuid", "noexec", "nodev"])
    } else {
        json!(["ro", "nosuid", "noexec", "nodev"])
    };
    let _ = read_only; // /sys and the cgroup tree are already read-only; the rest stay rw.
    json!([
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": cg},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}
    ])
}

fn default_devices() -> Value {
    let r = |allow: bool, major: i64, minor: i64| json!({"allow": allow, "type": "c", "major": major, "minor": minor, "access": "rwm"});
    json!([{"allow": false, "access": "rwm"}, r(true, 1, 5), r(true, 1, 3), r(true, 1, 9), r(true, 1, 8), r(true, 5, 0), r(true, 5, 1), r(false, 10, 229)])
}

fn masked() -> Value {
    json!([
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware"
    ])
}

fn readonly() -> Value {
    json!([
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger"
    ])
}

fn namespaces(net: bool) -> Value {
    let mut n = vec![json!({"type": "mount"})];
    if net {
        n.push(json!({"type": "network"}));
    }
    for t in ["uts", "pid", "ipc", "cgroup"] {
        n.push(json!({"type": t}));
    }
    Value::Array(n)
}

fn sysctls() -> Value {
    json!({"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"})
}

/// `docker run IMAGE`.
fn default_expected() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0, "additionalGids": [0, 10]},
            "args": ["/entry.sh", "serve", "--port", "80"],
            "env": ["PATH=/usr/local/bin:/usr/bin:/bin", "HOSTNAME=c0ffee123456", "LANG=C.UTF-8", "HOME=/root"],
            "cwd": "/app",
            "capabilities": caps_json(&DEFAULT_CAPS)
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "c0ffee123456",
        "mounts": default_mounts(false, false),
        "linux": {
            "sysctl": sysctls(),
            "resources": {"devices": default_devices()},
            "namespaces": namespaces(true),
            "maskedPaths": masked(),
            "readonlyPaths": readonly(),
            "seccomp": default_seccomp()
        }
    })
}

fn assert_json(actual: &Value, expected: &Value) {
    assert_eq!(
        actual,
        expected,
        "actual:\n{}\nexpected:\n{}",
        serde_json::to_string_pretty(actual).unwrap(),
        serde_json::to_string_pretty(expected).unwrap()
    );
}

#[test]
fn default_run() {
    assert_json(&spec_json(&opts()), &default_expected());
}

#[test]
fn user_uid_gid() {
    let mut e = default_expected();
    e["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1000]});
    *e["process"]["env"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap() = json!("HOME=/");
    assert_json(
        &spec_json(&RunOptions {
            user: Some("1000:1000".into()),
            ..opts()
        }),
        &e,
    );
}

#[test]
fn user_name_from_passwd() {
    let mut e = default_expected();
    e["process"]["user"] = json!({"uid": 33, "gid": 33, "additionalGids": [33, 4]});
    *e["process"]["env"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap() = json!("HOME=/var/www");
    assert_json(
        &spec_json(&RunOptions {
            user: Some("web".into()),
            ..opts()
        }),
        &e,
    );
}

#[test]
fn read_only_rootfs() {
    let mut e = default_expected();
    e["root"]["readonly"] = json!(true);
    e["mounts"] = default_mounts(true, false);
    assert_json(
        &spec_json(&RunOptions {
            read_only: true,
            ..opts()
        }),
        &e,
    );
}

#[test]
fn privileged() {
    let mut e = default_expected();
    e["process"]["capabilities"] = caps_json(&kasane_runtime::ALL_CAPABILITIES);
    e["mounts"] = default_mounts(false, true);
    e["linux"] = json!({
        "sysctl": sysctls(),
        "resources": {"devices": [{"allow": true, "access": "rwm"}]},
        "namespaces": namespaces(true)
    });
    assert_json(
        &spec_json(&RunOptions {
            privileged: true,
            ..opts()
        }),
        &e,
    );
}

#[test]
fn cap_add_and_drop_all() {
    let mut e = default_expected();
    e["process"]["capabilities"] = caps_json(&["CAP_NET_ADMIN"]);
    // Without CAP_SYS_CHROOT the profile does not allow chroot.
    e["linux"]["seccomp"] = seccomp(&["openat", "ptrace", "read", "write"], false);
    let o = RunOptions {
        cap_add: vec!["NET_ADMIN".into()],
        cap_drop: vec!["ALL".into()],
        ..opts()
    };
    assert_json(&spec_json(&o), &e);

    let mut caps: Vec<&str> = DEFAULT_CAPS
        .iter()
        .copied()
        .filter(|c| *c != "CAP_NET_RAW")
        .collect();
    caps.push("CAP_SYS_PTRACE");
    e["process"]["capabilities"] = caps_json(&caps);
    // CAP_SYS_PTRACE opens kcmp and friends.
    e["linux"]["seccomp"] = seccomp(
        &["chroot", "kcmp", "openat", "ptrace", "read", "write"],
        false,
    );
    let o = RunOptions {
        cap_add: vec!["cap_sys_ptrace".into()],
        cap_drop: vec!["NET_RAW".into()],
        ..opts()
    };
    assert_json(&spec_json(&o), &e);

    let bad = RunOptions {
        cap_add: vec!["FLY".into()],
        ..opts()
    };
    let err = spec_for(&image(), &bad, rootfs().path(), &host()).unwrap_err();
    assert_eq!(err.to_string(), "unknown capability: \"FLY\"");
}

#[test]
fn host_network() {
    let mut e = default_expected();
    e["linux"]["namespaces"] = namespaces(false);
    e["linux"].as_object_mut().unwrap().remove("sysctl");
    assert_json(
        &spec_json(&RunOptions {
            network: NetworkMode::Host,
            ..opts()
        }),
        &e,
    );
    // `--network none` keeps its own (unconnected) namespace.
    assert_json(
        &spec_json(&RunOptions {
            network: NetworkMode::None,
            ..opts()
        }),
        &default_expected(),
    );
}

#[test]
fn memory_cpus_pids() {
    let mut e = default_expected();
    e["linux"]["resources"] = json!({
        "devices": default_devices(),
        "memory": {"limit": 67108864, "swap": 134217728},
        "cpu": {"quota": 50000, "period": 100000},
        "pids": {"limit": 100}
    });
    let o = RunOptions {
        memory: Some(64 << 20),
        cpus: Some(0.5),
        pids_limit: Some(100),
        ..opts()
    };
    assert_json(&spec_json(&o), &e);
}

#[test]
fn rlimits_clamped_to_host_hard_limits() {
    let mut e = default_expected();
    e["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
        {"type": "RLIMIT_NPROC", "hard": 1000, "soft": 1000},
        {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}
    ]);
    let o = RunOptions {
        rlimits: vec![
            Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 1_048_576,
            },
            Ulimit {
                name: "nproc".into(),
                soft: 5000,
                hard: 5000,
            },
            Ulimit {
                name: "core".into(),
                soft: 0,
                hard: 0,
            },
        ],
        ..opts()
    };
    assert_json(&spec_json(&o), &e);
}

#[test]
fn entrypoint_and_cmd_overrides() {
    let args = |o: RunOptions| spec_json(&o)["process"]["args"].clone();
    // Args replace Cmd, keep the entrypoint.
    assert_eq!(
        args(RunOptions {
            cmd: vec!["help".into()],
            ..opts()
        }),
        json!(["/entry.sh", "help"])
    );
    // --entrypoint replaces the entrypoint and clears the image's Cmd.
    assert_eq!(
        args(RunOptions {
            entrypoint: Some(vec!["/bin/sh".into()]),
            ..opts()
        }),
        json!(["/bin/sh"])
    );
    // --entrypoint "" with args runs just the args.
    let o = RunOptions {
        entrypoint: Some(vec![String::new()]),
        cmd: vec!["ls".into(), "-l".into()],
        ..opts()
    };
    assert_eq!(args(o), json!(["ls", "-l"]));
    // --entrypoint "" alone: nothing to run.
    let o = RunOptions {
        entrypoint: Some(vec![String::new()]),
        ..opts()
    };
    let err = spec_for(&image(), &o, rootfs().path(), &host()).unwrap_err();
    assert_eq!(err.to_string(), "no command specified");
    // --init puts docker-init in front.
    assert_eq!(
        args(RunOptions {
            init: true,
            ..opts()
        }),
        json!([
            "/sbin/docker-init",
            "--",
            "/entry.sh",
            "serve",
            "--port",
            "80"
        ])
    );
}

#[test]
fn env_override_and_path_default() {
    let env = |o: RunOptions, img: ImageConfig| {
        let r = rootfs();
        serde_json::to_value(spec_for(&img, &o, r.path(), &host()).unwrap()).unwrap()["process"]["env"].clone()
    };
    // -e overrides the image's LANG in place; new keys follow; HOME from the options wins.
    let o = RunOptions {
        env: vec![
            "LANG=de_DE.UTF-8".into(),
            "DEBUG=1".into(),
            "HOME=/h".into(),
        ],
        ..opts()
    };
    assert_eq!(
        env(o, image()),
        json!([
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "HOSTNAME=c0ffee123456",
            "LANG=de_DE.UTF-8",
            "DEBUG=1",
            "HOME=/h"
        ])
    );
    // An image without Env gets docker's default PATH.
    let mut bare = image();
    if let Some(c) = bare.config.as_mut() {
        c.env = None;
    }
    assert_eq!(
        env(opts(), bare),
        json!([
            format!("PATH={}", kasane_runtime::DEFAULT_PATH),
            "HOSTNAME=c0ffee123456",
            "HOME=/root"
        ])
    );
    let bad = RunOptions {
        env: vec!["JUSTKEY".into()],
        ..opts()
    };
    assert!(spec_for(&image(), &bad, rootfs().path(), &host()).is_err());
}

#[test]
fn tty_sets_term() {
    let mut e = default_expected();
    e["process"]["terminal"] = json!(true);
    e["process"]["env"] = json!([
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "HOSTNAME=c0ffee123456",
        "TERM=xterm",
        "LANG=C.UTF-8",
        "HOME=/root"
    ]);
    assert_json(
        &spec_json(&RunOptions {
            tty: true,
            ..opts()
        }),
        &e,
    );
}

#[test]
fn user_mounts_and_cgroups_path() {
    let mut e = default_expected();
    let mut mounts = default_mounts(false, false).as_array().unwrap().clone();
    mounts.retain(|m| m["destination"] != "/dev/shm");
    mounts.extend([
        json!({"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro", "rprivate"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "nosuid", "nodev", "rprivate", "size=1g"]}),
        json!({"destination": "/var/lib/db", "type": "bind", "source": "/vol/db", "options": ["rbind"]}),
    ]);
    e["mounts"] = Value::Array(mounts);
    e["linux"]["cgroupsPath"] = json!("/kasane/c0ffee");
    let o = RunOptions {
        mounts: vec![
            MountSpec::Volume {
                source: "/vol/db".into(),
                destination: "/var/lib/db".into(),
                read_only: false,
            },
            MountSpec::Bind {
                source: "/srv/data".into(),
                destination: "/data".into(),
                read_only: true,
            },
            MountSpec::Tmpfs {
                destination: "/dev/shm".into(),
                options: vec!["size=1g".into()],
            },
        ],
        cgroups_path: Some("/kasane/c0ffee".into()),
        ..opts()
    };
    assert_json(&spec_json(&o), &e);
}

#[test]
fn host_limits_are_read() {
    let h = HostLimits::current();
    assert_eq!(h.hard.len(), 16);
    assert!(h.hard["RLIMIT_NOFILE"] > 0);
}

#[test]
fn seccomp_cap_sys_admin_opens_mount_and_namespaces() {
    let mut e = default_expected();
    let mut caps = DEFAULT_CAPS.to_vec();
    caps.push("CAP_SYS_ADMIN");
    e["process"]["capabilities"] = caps_json(&caps);
    e["linux"]["seccomp"] = seccomp(
        &[
            "chroot", "clone", "clone3", "mount", "openat", "ptrace", "read", "setns", "unshare",
            "write",
        ],
        true,
    );
    let o = RunOptions {
        cap_add: vec!["SYS_ADMIN".into()],
        ..opts()
    };
    assert_json(&spec_json(&o), &e);
}

#[test]
fn seccomp_unconfined_has_no_profile() {
    let mut e = default_expected();
    e["linux"].as_object_mut().unwrap().remove("seccomp");
    let o = RunOptions {
        seccomp: SeccompMode::Unconfined,
        ..opts()
    };
    assert_json(&spec_json(&o), &e);
}

#[test]
fn seccomp_profile_is_complete_in_the_spec() {
    // Not summarized: the real JSON as the runtime reads it.
    let r = rootfs();
    let v = serde_json::to_value(spec_for(&image(), &opts(), r.path(), &host()).unwrap()).unwrap();
    let rules = v["linux"]["seccomp"]["syscalls"].as_array().unwrap();
    let allow = rules[0]["names"].as_array().unwrap();
    assert!(allow.len() > 300, "only {} syscalls allowed", allow.len());
    let personality: Vec<&Value> = rules
        .iter()
        .filter(|r| r["names"] == json!(["personality"]))
        .map(|r| &r["args"][0]["value"])
        .collect();
    assert_eq!(
        personality,
        [0, 8, 0x20000, 0x20008, 0xffff_ffff_u64]
            .map(|n| json!(n))
            .iter()
            .collect::<Vec<_>>()
    );
}
