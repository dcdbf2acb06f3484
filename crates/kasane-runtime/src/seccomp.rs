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
mod tests;
