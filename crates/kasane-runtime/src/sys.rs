//! The runtime crate's only `unsafe` code: interface-flag ioctls that no safe wrapper offers,
//! `fork` of a single-threaded process, closing what the fork inherited, and loading a
//! compiled seccomp program.
//!
//! Owns: reading and setting a network interface's flags (`SIOCGIFFLAGS`/`SIOCSIFFLAGS`) in
//! the calling thread's network namespace (callers reach this through
//! [`crate::netns::loopback_up`]); forking for the embedded runtime's `create`
//! ([`fork_single_threaded`]); the embedded runtime's cached seccomp filter
//! ([`load_seccomp_program`]). Everything else in the crate is `unsafe_code = "deny"`.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// An `AF_INET` datagram socket: the handle interface ioctls are issued on (it is never bound).
fn control_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// `name` as a NUL-terminated `ifr_name`, refusing names that do not fit or contain NUL.
fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}"),
        ));
    }
    // SAFETY: `ifreq` is a plain C struct (a byte array and a union of integers, sockaddrs
    // and one pointer); all-zero bytes are a valid value for every field.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        // `c_char` is i8 or u8 depending on the target; this is a bit-for-bit copy.
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

/// Reads the flags (`IFF_*`) of interface `name` in this thread's network namespace.
pub(crate) fn interface_flags(name: &str) -> io::Result<libc::c_short> {
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    // SAFETY: `sock` is an open socket for the duration of the call; `req` is a valid,
    // NUL-terminated `ifreq` that lives on this stack frame, and SIOCGIFFLAGS only writes
    // `ifr_flags` inside it.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a successful SIOCGIFFLAGS initialised the `ifru_flags` member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_flags })
}

/// Sets `IFF_UP` on interface `name` in this thread's network namespace (no-op when up).
pub(crate) fn set_interface_up(name: &str) -> io::Result<()> {
    let flags = interface_flags(name)?;
    // IFF_UP is 0x1; it fits in the kernel's short flags field.
    let up = libc::IFF_UP as libc::c_short;
    if flags & up != 0 {
        return Ok(());
    }
    let sock = control_socket()?;
    let mut req = ifreq_for(name)?;
    req.ifr_ifru.ifru_flags = flags | up;
    // SAFETY: as in `interface_flags`; SIOCSIFFLAGS only reads `req`, which outlives the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &raw const req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether this process runs exactly one thread (`Threads:` in `/proc/self/status`).
pub(crate) fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .is_some_and(|n| n.trim() == "1")
    })
}

/// Forks this process, which must have one thread (else an error: the caller should start a
/// fresh process instead), and runs `child` in the child, which then exits with the code
/// `child` returns (125 if it panics) without running destructors or exit handlers.
/// Returns the child's pid.
///
/// Why fork without exec: the embedded runtime's `create` must run in a single-threaded
/// process; forking one saves loading the kasane binary again (several milliseconds).
pub(crate) fn fork_single_threaded(child: impl FnOnce() -> i32) -> io::Result<nix::unistd::Pid> {
    if !single_threaded() {
        return Err(io::Error::other(
            "cannot fork: this process runs several threads",
        ));
    }
    // SAFETY: with one thread there is no lock another thread could hold across the fork,
    // so the child may allocate and run ordinary Rust code; it ends with `_exit`, never
    // returning into the caller's stack frames or running the parent's exit handlers.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Parent { child } => Ok(child),
        nix::unistd::ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child));
            // SAFETY: `_exit` ends the process at once; nothing runs after it.
            unsafe { libc::_exit(code.unwrap_or(125)) }
        }
    }
}

/// In a forked child: closes every descriptor above stderr that the parent left open.
///
/// Why: the embedded runtime's container processes are forked from this child and keep its
/// descriptors until they execute the command; the parent's monitor lock among them would
/// make a dead monitor look alive. Sound only in a child that will use none of the parent's
/// descriptors again (it ends with `_exit`, dropping nothing).
pub(crate) fn close_inherited_fds() -> io::Result<()> {
    // SAFETY: close_range only closes descriptors; the caller guarantees no live object of
    // this process refers to those above 2 (see above).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Installs `program` (classic BPF as libseccomp exports it: 8-byte little-endian
/// `sock_filter`s) as a seccomp filter of the calling thread, without setting no_new_privs:
/// the caller needs `CAP_SYS_ADMIN`.
pub(crate) fn load_seccomp_program(program: &[u8]) -> io::Result<()> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "malformed seccomp program");
    if program.is_empty() || !program.len().is_multiple_of(8) {
        return Err(invalid());
    }
    let filters: Vec<libc::sock_filter> = program
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let len = u16::try_from(filters.len()).map_err(|_| invalid())?;
    let prog = libc::sock_fprog {
        len,
        filter: filters.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `len` initialised `sock_filter`s in `filters`, which outlives
    // the call; the kernel copies the program and validates it before installing it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &raw const prog,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// In a forked child: makes `streams` its stdin, stdout and stderr (`None`: `/dev/null`),
/// with a signal mask as fresh as a new process's.
pub(crate) fn take_as_stdio(streams: [Option<crate::StdioSource>; 3]) -> std::io::Result<()> {
    let [stdin, stdout, stderr] = streams.map(|s| match s {
        None => std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map(|f| Some(OwnedFd::from(f))),
        Some(crate::StdioSource::Inherit) => Ok(None),
        Some(crate::StdioSource::Fd(fd)) => Ok(Some(fd)),
    });
    if let Some(fd) = stdin? {
        rustix::stdio::dup2_stdin(&fd)?;
    }
    if let Some(fd) = stdout? {
        rustix::stdio::dup2_stdout(&fd)?;
    }
    if let Some(fd) = stderr? {
        rustix::stdio::dup2_stderr(&fd)?;
    }
    nix::sys::signal::SigSet::empty()
        .thread_set_mask()
        .map_err(std::io::Error::from)
}

/// Waits for child `pid` to end (retrying on signals) and returns how it ended.
pub(crate) fn wait_child(pid: nix::unistd::Pid) -> std::io::Result<std::process::ExitStatus> {
    let pid = rustix::process::Pid::from_raw(pid.as_raw())
        .ok_or_else(|| std::io::Error::other(format!("invalid pid {pid}")))?;
    loop {
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                return Ok(std::os::unix::process::ExitStatusExt::from_raw(
                    status.as_raw(),
                ));
            }
            Ok(None) | Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forks_only_when_single_threaded() {
        // The test harness runs tests on worker threads: never single-threaded here.
        assert!(!single_threaded());
        assert!(fork_single_threaded(|| 0).is_err());
    }

    #[test]
    fn malformed_seccomp_programs_are_refused_before_the_kernel() {
        assert!(load_seccomp_program(&[]).is_err());
        assert!(load_seccomp_program(&[0; 7]).is_err());
    }

    #[test]
    fn rejects_bad_names() {
        assert!(ifreq_for("").is_err());
        assert!(ifreq_for("a-very-long-interface-name").is_err());
        assert!(ifreq_for("l\0o").is_err());
        let req = ifreq_for("lo").unwrap();
        assert_eq!(
            req.ifr_name[..3],
            [b'l' as libc::c_char, b'o' as libc::c_char, 0]
        );
    }

    #[test]
    fn reads_loopback_flags() {
        // Every network namespace has `lo`; reading its flags needs no privilege.
        let flags = interface_flags("lo").unwrap();
        assert_ne!(flags & libc::IFF_LOOPBACK as libc::c_short, 0);
        let err = interface_flags("ksnoexist0").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
    }
}
