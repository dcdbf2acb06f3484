//! kasane's default seccomp profile: the syscall filter every non-privileged container runs
//! under, modelled on docker's default.
//!
//! Owns: [`default_profile`], the `linux.seccomp` section of the runtime spec.
//!
//! Model: deny by default with `EPERM`, then allow
//! - [`ALLOWED`]: the ordinary syscalls every program needs (files, memory, signals, sockets,
//!   timers, SysV IPC, process and thread management), plus the architecture's own
//!   (`arch_prctl`, `modify_ldt` on x86-64);
//! - syscalls with argument checks: `clone` only without namespace flags, `personality` only
//!   for the personas docker allows, `socket` for every family but `AF_VSOCK`;
//! - `clone3` answers `ENOSYS`, so libc falls back to `clone` (whose flags can be checked;
//!   `clone3`'s live in memory the filter cannot read);
//! - per capability, the syscalls that capability exists to guard ([`CAPABILITY_SYSCALLS`]),
//!   when the container holds it: `CAP_SYS_ADMIN` brings `mount`, `unshare`, `setns`, any
//!   `clone` and a real `clone3`, `CAP_SYS_PTRACE` `kcmp` and `pidfd_getfd`, and so on.
//!
//! `ptrace` and `process_vm_readv`/`writev` are allowed to all, as docker does since Linux 4.8
//! (the kernel's own ptrace access checks apply).
//!
//! Left out, as docker leaves them out: `keyctl`, `add_key` and `request_key` (the keyring is
//! not namespaced), `userfaultfd`, `io_uring_*`, `kexec_*`, `vm86`, obsolete syscalls. Names the
//! kernel or libseccomp does not know are skipped by the runtime, so listing newer syscalls is
//! harmless on older hosts.
//!
//! Spec: OCI runtime spec, `config-linux.md` "Seccomp".

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

/// `EPERM`: what a denied syscall returns.
pub const DENY_ERRNO: u32 = 1;

/// `ENOSYS`: what `clone3` returns without `CAP_SYS_ADMIN`, so libc falls back to `clone`.
pub const CLONE3_ERRNO: u32 = 38;

/// The `clone` flags that create namespaces (`CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
/// CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET`); `clone` with any of them
/// needs `CAP_SYS_ADMIN`.
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// The `personality` values allowed without `CAP_SYS_ADMIN`: `PER_LINUX`, `PER_LINUX32`,
/// `UNAME26`, `PER_LINUX32|UNAME26`, and the query value `0xffffffff`.
pub const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// `AF_VSOCK`, the one socket family containers may not open (it reaches the hypervisor).
const AF_VSOCK: u64 = 40;

/// Syscalls allowed unconditionally on every architecture, sorted.
pub const ALLOWED: &[&str] = &[
    "_llseek",
    "_newselect",
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lsm_get_self_attr",
    "lsm_list_modules",
    "lsm_set_self_attr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "process_vm_readv",
    "process_vm_writev",
    "pselect6",
    "pselect6_time64",
    "ptrace",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Syscalls only x86-64 (and its 32-bit ABIs) has that ordinary programs use.
const ALLOWED_X86: [&str; 2] = ["arch_prctl", "modify_ldt"];

/// Syscalls only ARM and AArch64 have that ordinary programs use.
const ALLOWED_ARM: [&str; 6] = [
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "breakpoint",
    "cacheflush",
    "set_tls",
    "sync_file_range2",
];

/// Syscalls allowed when the container holds a capability (names as in the spec).
pub const CAPABILITY_SYSCALLS: [(&str, &[&str]); 13] = [
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "perf_event_open",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "swapoff",
            "swapon",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "finit_module", "init_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &[
            "clock_adjtime",
            "clock_adjtime64",
            "clock_settime",
            "clock_settime64",
            "settimeofday",
            "stime",
        ],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "move_pages",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Syscalls allowed with `CAP_DAC_READ_SEARCH`: `open_by_handle_at` (the classic container
/// escape when allowed without it) and its sister `name_to_handle_at`.
const DAC_READ_SEARCH_SYSCALLS: [&str; 2] = ["name_to_handle_at", "open_by_handle_at"];

/// The architectures the filter allows on this build's target: the native one and the 32-bit
/// ABI (a syscall of an architecture not listed gets the "bad arch" action: the process is
/// killed, so nothing slips past). x32 is left out, unlike docker: distribution kernels no
/// longer build it, and every listed architecture makes the runtime compile the whole filter
/// again (measured here: crun's create takes 66 ms with three, 51 ms with two).
fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else if cfg!(target_arch = "x86") {
        vec![Arch::ScmpArchX86]
    } else if cfg!(target_arch = "arm") {
        vec![Arch::ScmpArchArm]
    } else {
        vec![Arch::ScmpArchNative]
    }
}

fn rule(names: Vec<String>, action: LinuxSeccompAction) -> LinuxSyscall {
    let mut r = LinuxSyscall::default();
    r.set_names(names);
    r.set_action(action);
    r
}

/// One argument condition. The builder cannot fail (every field has a default); were it ever
/// to, the rule using it is left out, so the syscall stays denied (fail closed).
fn arg(
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: LinuxSeccompOperator,
) -> Option<LinuxSeccompArg> {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    match value_two {
        Some(v) => b.value_two(v),
        None => b,
    }
    .build()
    .ok()
}

/// The default seccomp profile for a container whose effective capabilities are `caps`
/// (`"CAP_SYS_ADMIN"`, …; other spellings are ignored).
///
/// Rules, in order: one `SCMP_ACT_ALLOW` rule with every unconditionally allowed name (the
/// base list, the architecture's, and those of the capabilities held), sorted; then the
/// argument-checked rules (`clone`, `personality`, `socket`); then `clone3` → `ENOSYS` unless
/// `CAP_SYS_ADMIN` allowed it outright.
pub fn default_profile(caps: &[String]) -> LinuxSeccomp {
    let has = |cap: &str| caps.iter().any(|c| c == cap);
    let mut names: std::collections::BTreeSet<&str> = ALLOWED.iter().copied().collect();
    if cfg!(any(target_arch = "x86_64", target_arch = "x86")) {
        names.extend(ALLOWED_X86);
    }
    if cfg!(any(target_arch = "aarch64", target_arch = "arm")) {
        names.extend(ALLOWED_ARM);
    }
    for (cap, syscalls) in CAPABILITY_SYSCALLS {
        if has(cap) {
            names.extend(syscalls.iter().copied());
        }
    }
    if has("CAP_DAC_READ_SEARCH") {
        names.extend(DAC_READ_SEARCH_SYSCALLS);
    }

    let clone_unrestricted = names.contains("clone");
    let clone3_allowed = names.contains("clone3");
    let mut rules = vec![rule(
        names.into_iter().map(str::to_owned).collect(),
        LinuxSeccompAction::ScmpActAllow,
    )];
    let mut conditional = |name: &str, arg: Option<LinuxSeccompArg>| {
        if let Some(arg) = arg {
            let mut r = rule(vec![name.to_owned()], LinuxSeccompAction::ScmpActAllow);
            r.set_args(Some(vec![arg]));
            rules.push(r);
        }
    };
    if !clone_unrestricted {
        // Allowed when (flags & namespace flags) == 0: the mask is `value`, the expected
        // result `valueTwo`, as runc and youki read SCMP_CMP_MASKED_EQ.
        conditional(
            "clone",
            arg(
                0,
                CLONE_NAMESPACE_FLAGS,
                Some(0),
                LinuxSeccompOperator::ScmpCmpMaskedEq,
            ),
        );
    }
    // One rule per value: conditions within a rule are AND-ed.
    for p in PERSONALITIES {
        conditional(
            "personality",
            arg(0, p, None, LinuxSeccompOperator::ScmpCmpEq),
        );
    }
    conditional(
        "socket",
        arg(0, AF_VSOCK, None, LinuxSeccompOperator::ScmpCmpNe),
    );
    if !clone3_allowed {
        let mut r = rule(vec!["clone3".to_owned()], LinuxSeccompAction::ScmpActErrno);
        r.set_errno_ret(Some(CLONE3_ERRNO));
        rules.push(r);
    }

    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActErrno);
    profile.set_default_errno_ret(Some(DENY_ERRNO));
    profile.set_architectures(Some(architectures()));
    profile.set_syscalls(Some(rules));
    profile
}

#[cfg(test)]
mod tests {
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
}
