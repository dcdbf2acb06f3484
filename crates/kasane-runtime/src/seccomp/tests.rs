//! Unit tests of the default seccomp profile.

use super::*;

fn caps(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| (*s).to_owned()).collect()
}

fn allow_list(p: &LinuxSeccomp) -> Vec<String> {
    p.syscalls().as_ref().unwrap()[0].names().clone()
}

fn rules_for<'a>(p: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
    p.syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|r| r.names().iter().any(|n| n == name))
        .collect()
}

#[test]
fn tables_are_sorted_and_disjoint() {
    assert!(
        ALLOWED.windows(2).all(|w| w[0] < w[1]),
        "ALLOWED must be sorted, no dups"
    );
    for (cap, syscalls) in CAPABILITY_SYSCALLS {
        assert!(cap.starts_with("CAP_"));
        assert!(crate::ALL_CAPABILITIES.contains(&cap), "{cap}");
        for s in syscalls {
            // Gated syscalls are not also allowed for everyone, except ptrace & co,
            // which docker allows to all since Linux 4.8 (ptrace_may_access checks them).
            let ungated = ["process_vm_readv", "process_vm_writev", "ptrace"];
            assert!(
                !ALLOWED.contains(s) || ungated.contains(s),
                "{s} is both gated by {cap} and allowed"
            );
        }
    }
    for denied in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "reboot",
        "init_module",
        "keyctl",
        "add_key",
        "request_key",
        "kexec_load",
        "open_by_handle_at",
        "bpf",
        "clone",
        "clone3",
        "personality",
        "socket",
        "chroot",
        "syslog",
        "userfaultfd",
        "io_uring_setup",
        "settimeofday",
        "swapon",
        "acct",
        "vhangup",
        "iopl",
    ] {
        assert!(
            !ALLOWED.contains(&denied),
            "{denied} must not be allowed unconditionally"
        );
    }
}

#[test]
fn default_shape() {
    let p = default_profile(&caps(&crate::DEFAULT_CAPABILITIES));
    assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(p.default_errno_ret(), Some(1));
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        p.architectures().as_deref(),
        Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86][..])
    );
    let allow = allow_list(&p);
    assert!(allow.windows(2).all(|w| w[0] < w[1]));
    for needed in [
        "read",
        "write",
        "openat",
        "close",
        "execve",
        "mmap",
        "brk",
        "rt_sigaction",
        "exit_group",
        "wait4",
        "getdents64",
        "newfstatat",
        "statx",
        "fork",
        "vfork",
        "bind",
        "listen",
        "accept4",
        "setsockopt",
        "sendfile",
        "nanosleep",
        "clock_nanosleep",
        "setuid",
        "setgroups",
        "capset",
        "prctl",
        "chroot",
    ] {
        assert!(allow.iter().any(|n| n == needed), "{needed} missing");
    }
    #[cfg(target_arch = "x86_64")]
    assert!(allow.iter().any(|n| n == "arch_prctl"));
    for absent in [
        "mount",
        "unshare",
        "setns",
        "clone",
        "clone3",
        "ptrace_attach",
        "kcmp",
    ] {
        assert!(!allow.iter().any(|n| n == absent), "{absent} allowed");
    }

    // clone: one masked rule, namespace flags must be clear.
    let clone = rules_for(&p, "clone");
    assert_eq!(clone.len(), 1);
    let args = clone[0].args().as_ref().unwrap();
    assert_eq!(args.len(), 1);
    assert_eq!(
        (
            args[0].index(),
            args[0].value(),
            args[0].value_two(),
            args[0].op()
        ),
        (
            0,
            0x7E02_0000,
            Some(0),
            LinuxSeccompOperator::ScmpCmpMaskedEq
        )
    );
    // clone3: ENOSYS.
    let clone3 = rules_for(&p, "clone3");
    assert_eq!(clone3.len(), 1);
    assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(clone3[0].errno_ret(), Some(38));
    // personality: exactly the five values.
    let values: Vec<u64> = rules_for(&p, "personality")
        .iter()
        .map(|r| {
            let a = r.args().as_ref().unwrap();
            assert_eq!(a.len(), 1);
            assert_eq!(a[0].op(), LinuxSeccompOperator::ScmpCmpEq);
            a[0].value()
        })
        .collect();
    assert_eq!(values, [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff]);
}

#[test]
fn capabilities_open_their_groups() {
    let base = allow_list(&default_profile(&[]));
    // CAP_SYS_CHROOT is one of docker's defaults; without it, no chroot.
    assert!(!base.iter().any(|n| n == "chroot"));

    let admin = default_profile(&caps(&["CAP_SYS_ADMIN"]));
    let allow = allow_list(&admin);
    for n in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "clone",
        "clone3",
    ] {
        assert!(allow.iter().any(|a| a == n), "{n}");
    }
    // clone is unrestricted and clone3 real: no masked clone rule, no ENOSYS rule.
    assert_eq!(rules_for(&admin, "clone").len(), 1);
    assert_eq!(rules_for(&admin, "clone3").len(), 1);
    assert!(rules_for(&admin, "clone")[0].args().is_none());
    assert!(
        admin
            .syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
    );

    let ptrace = allow_list(&default_profile(&caps(&["CAP_SYS_PTRACE"])));
    assert!(ptrace.iter().any(|n| n == "kcmp"));
    assert!(!ptrace.iter().any(|n| n == "mount"));
    let time = allow_list(&default_profile(&caps(&["CAP_SYS_TIME"])));
    assert!(time.iter().any(|n| n == "settimeofday"));
    let dac = allow_list(&default_profile(&caps(&["CAP_DAC_READ_SEARCH"])));
    assert!(dac.iter().any(|n| n == "open_by_handle_at"));
    // Names are deduplicated when groups overlap.
    let both = allow_list(&default_profile(&caps(&[
        "CAP_SYS_ADMIN",
        "CAP_SYSLOG",
        "CAP_BPF",
    ])));
    assert_eq!(both.iter().filter(|n| *n == "syslog").count(), 1);
    assert_eq!(both.iter().filter(|n| *n == "bpf").count(), 1);
}

#[test]
fn serializes_as_oci_json() {
    let v = serde_json::to_value(default_profile(&[])).unwrap();
    assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(v["defaultErrnoRet"], 1);
    let clone = v["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["names"] == serde_json::json!(["clone"]))
        .unwrap();
    assert_eq!(
        clone["args"],
        serde_json::json!([{"index": 0, "value": 2_114_060_288_u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
    );
}

/// Loads the profile into one test thread (seccomp filters are per thread unless
/// synchronised) with youki's loader, and checks what a container would see.
#[test]
fn profile_loads_and_filters() {
    if !rustix::process::geteuid().is_root() {
        // Loading a filter without no_new_privs needs CAP_SYS_ADMIN.
        eprintln!("SKIP: loading a seccomp filter needs root");
        return;
    }
    let profile = default_profile(&caps(&crate::DEFAULT_CAPABILITIES));
    let outcome = std::thread::spawn(move || -> Result<(), String> {
        libcontainer::seccomp::initialize_seccomp(&profile)
            .map_err(|e| format!("loading profile: {e:?}"))?;
        // Ordinary work still works.
        let dir = std::env::temp_dir();
        let path = dir.join(format!("kasane-seccomp-{}", std::process::id()));
        std::fs::write(&path, b"x").map_err(|e| format!("write: {e}"))?;
        std::fs::read(&path).map_err(|e| format!("read: {e}"))?;
        std::fs::remove_file(&path).map_err(|e| format!("unlink: {e}"))?;
        std::fs::read_dir("/proc/self")
            .map_err(|e| format!("readdir: {e}"))?
            .count();
        let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        std::net::TcpStream::connect(l.local_addr().map_err(|e| e.to_string())?)
            .map_err(|e| format!("connect: {e}"))?;
        // Denied: unshare → EPERM, clone3 → ENOSYS, clone with CLONE_NEWNET → EPERM.
        let e = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap_err();
        if e != nix::errno::Errno::EPERM {
            return Err(format!("unshare: {e}"));
        }
        let setns = nix::sched::setns(
            std::fs::File::open("/proc/self/ns/net").map_err(|e| e.to_string())?,
            nix::sched::CloneFlags::CLONE_NEWNET,
        );
        if setns != Err(nix::errno::Errno::EPERM) {
            return Err(format!("setns: {setns:?}"));
        }
        // AF_VSOCK sockets are refused; AF_UNIX ones are not.
        let vsock = rustix::net::socket(
            rustix::net::AddressFamily::VSOCK,
            rustix::net::SocketType::STREAM,
            None,
        );
        if vsock.err() != Some(rustix::io::Errno::PERM) {
            return Err("vsock socket not refused with EPERM".into());
        }
        std::os::unix::net::UnixDatagram::unbound().map_err(|e| format!("unix: {e}"))?;
        // Spawning a child process (clone/vfork + execve) works.
        let out = std::process::Command::new("/bin/true")
            .status()
            .map_err(|e| format!("spawn: {e}"))?;
        if !out.success() {
            return Err("child failed".into());
        }
        Ok(())
    })
    .join()
    .unwrap();
    outcome.unwrap();
}

/// busybox's everyday applets under the filter, as in a busybox container (host files,
/// host namespaces; the filter is what is under test).
#[test]
fn busybox_applets_work_under_the_profile() {
    let busybox = std::path::Path::new("/usr/bin/busybox");
    if !rustix::process::geteuid().is_root() || !busybox.exists() {
        eprintln!("SKIP: needs root and /usr/bin/busybox");
        return;
    }
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "served\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!(
        "set -e
            ls / >/dev/null
            cat /proc/self/status | grep -q Seccomp:.2
            dd if=/dev/zero of=/dev/null bs=4k count=100 2>/dev/null
            ps >/dev/null
            sleep 0.1
            echo piped | cat | cat >/dev/null
            busybox httpd -f -p 127.0.0.1:{port} -h {dir} &
            pid=$!
            for i in 1 2 3 4 5 6 7 8 9 10; do
              out=$(busybox wget -q -O - http://127.0.0.1:{port}/index.html 2>/dev/null) && break
              sleep 0.2
            done
            kill $pid
            echo \"$out\"",
        dir = www.path().display()
    );
    let profile = default_profile(&caps(&crate::DEFAULT_CAPABILITIES));
    let output = std::thread::spawn(move || {
        libcontainer::seccomp::initialize_seccomp(&profile).unwrap();
        std::process::Command::new(busybox)
            .args(["sh", "-c", &script])
            .env("PATH", "/nonexistent")
            .output()
            .unwrap()
    })
    .join()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "served\n",
        "stderr: {stderr}"
    );
}
