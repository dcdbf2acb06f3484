//! Network namespaces from the monitor's side: sockets created inside a container's namespace,
//! its loopback brought up, and the monitor made a child subreaper.
//!
//! Owns: [`run_in`], which runs a closure on a short-lived helper thread that has entered a
//! network namespace with `setns(fd, CLONE_NEWNET)`. Only that thread moves; the monitor's
//! other threads stay in the host namespace. A socket keeps the namespace it was created in
//! for its whole life, so [`connect_tcp_in`] and [`udp_socket_in`] return sockets that reach
//! the container's `127.0.0.1` while the caller stays in the host namespace.
//!
//! Lifecycle: the monitor opens `/proc/<container pid>/ns/net` once the container is created,
//! calls [`loopback_up`] (runtimes usually do this already; it is idempotent), and hands the
//! file to [`crate::ports::PortProxy::serve`], which calls [`connect_tcp_in`] per connection.
//!
//! Privilege: `setns` needs `CAP_SYS_ADMIN` over the namespace. When the namespace is the one
//! the calling thread is already in (compared by device and inode), no `setns` happens, so a
//! caller without privilege can still use these functions for its own namespace.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;

use nix::sched::{CloneFlags, setns};

/// Whether `netns` is the network namespace the calling thread is in now.
fn is_current(netns: &File) -> io::Result<bool> {
    let target = netns.metadata()?;
    let current = std::fs::metadata("/proc/thread-self/ns/net")?;
    Ok(target.dev() == current.dev() && target.ino() == current.ino())
}

/// Runs `f` inside the network namespace `netns` (an open `/proc/<pid>/ns/net` or bind-mounted
/// namespace file) and returns its result.
///
/// `f` runs on a helper thread that enters the namespace and ends afterwards, so the calling
/// thread never changes namespace; sockets `f` creates stay in `netns`. When `netns` is the
/// caller's own namespace, `f` runs directly on the calling thread.
///
/// # Errors
///
/// Entering the namespace fails (`EPERM` without `CAP_SYS_ADMIN`, `EINVAL` when the file is
/// not a network namespace), the helper thread cannot be spawned or panics, or `f` fails.
pub fn run_in<T: Send>(netns: &File, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    if is_current(netns)? {
        return f();
    }
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("kasane-netns".into())
            .spawn_scoped(scope, || {
                setns(netns, CloneFlags::CLONE_NEWNET).map_err(|errno| {
                    io::Error::new(
                        io::Error::from(errno).kind(),
                        format!("entering network namespace: {errno}"),
                    )
                })?;
                f()
            })?;
        helper
            .join()
            .map_err(|_| io::Error::other("network namespace helper thread panicked"))?
    })
}

/// Connects a TCP stream to `addr` from inside `netns` (the proxy uses `127.0.0.1:<port>`).
///
/// # Errors
///
/// As [`run_in`], or the connection fails (`ECONNREFUSED` when nothing listens there).
pub fn connect_tcp_in(netns: &File, addr: SocketAddr) -> io::Result<TcpStream> {
    run_in(netns, || TcpStream::connect(addr))
}

/// A UDP socket created inside `netns`, bound to an ephemeral port there and connected to
/// `connect_to`, so `send`/`recv` exchange datagrams with that address only.
///
/// # Errors
///
/// As [`run_in`], or binding or connecting the socket fails.
pub fn udp_socket_in(netns: &File, connect_to: SocketAddr) -> io::Result<UdpSocket> {
    run_in(netns, || {
        let local: SocketAddr = match (connect_to, connect_to.ip().is_loopback()) {
            (SocketAddr::V4(_), true) => (Ipv4Addr::LOCALHOST, 0).into(),
            (SocketAddr::V4(_), false) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            (SocketAddr::V6(_), true) => (Ipv6Addr::LOCALHOST, 0).into(),
            (SocketAddr::V6(_), false) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = UdpSocket::bind(local)?;
        sock.connect(connect_to)?;
        Ok(sock)
    })
}

/// Sets the loopback interface `lo` up in `netns`; a no-op when it is already up.
///
/// A fresh network namespace has `lo` down, so nothing, not even the proxy's connections to
/// `127.0.0.1`, reaches the container until it is up.
///
/// # Errors
///
/// As [`run_in`], or the interface ioctls fail (`EPERM` without `CAP_NET_ADMIN`).
pub fn loopback_up(netns: &File) -> io::Result<()> {
    run_in(netns, || crate::sys::set_interface_up("lo"))
}

/// Makes the calling process a child subreaper, so orphaned descendants (the container's
/// processes once the runtime's intermediate processes exit) are re-parented to it and it can
/// reap them and collect the container's exit status.
///
/// # Errors
///
/// `prctl(PR_SET_CHILD_SUBREAPER)` fails (it does not on Linux 3.4 and later).
pub fn set_child_subreaper() -> io::Result<()> {
    let me = rustix::process::getpid();
    Ok(rustix::process::set_child_subreaper(Some(me))?)
}

/// A fresh network namespace (for tests), made by a helper thread that unshares and then ends;
/// needs root.
#[cfg(test)]
pub(crate) fn fresh_netns() -> io::Result<File> {
    std::thread::spawn(|| {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        File::open("/proc/thread-self/ns/net")
    })
    .join()
    .map_err(|_| io::Error::other("unshare thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    fn lo_is_up(netns: &File) -> bool {
        let flags = run_in(netns, || crate::sys::interface_flags("lo")).unwrap();
        flags & libc::IFF_UP as libc::c_short != 0
    }

    #[test]
    fn own_namespace_runs_inline() {
        let own = File::open("/proc/self/ns/net").unwrap();
        let here = std::thread::current().id();
        let ran_on = run_in(&own, || Ok(std::thread::current().id())).unwrap();
        assert_eq!(ran_on, here);
    }

    #[test]
    fn not_a_namespace_is_an_error() {
        if !is_root() {
            eprintln!("SKIP: setns needs root");
            return;
        }
        // A mount namespace file is a namespace, but not a network one: EINVAL.
        let wrong = File::open("/proc/self/ns/mnt").unwrap();
        let err = run_in(&wrong, || Ok(())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("entering network namespace"));
    }

    #[test]
    fn connects_in_own_namespace() {
        let own = File::open("/proc/self/ns/net").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = connect_tcp_in(&own, addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");

        let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sock = udp_socket_in(&own, echo.local_addr().unwrap()).unwrap();
        sock.send(b"dgram").unwrap();
        let (n, from) = echo.recv_from(&mut buf[..]).unwrap();
        assert_eq!(n, 4); // truncated to the buffer
        assert_eq!(from, sock.local_addr().unwrap());
    }

    #[test]
    fn loopback_up_in_fresh_namespace() {
        if !is_root() {
            eprintln!("SKIP: creating a network namespace needs root");
            return;
        }
        let ns = fresh_netns().unwrap();
        assert!(!lo_is_up(&ns), "lo starts down in a new namespace");
        // Before lo is up nothing reaches 127.0.0.1 there, not even a listener of its own.
        let listener = run_in(&ns, || TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(connect_tcp_in(&ns, addr).is_err());
        loopback_up(&ns).unwrap();
        assert!(lo_is_up(&ns));
        loopback_up(&ns).unwrap(); // idempotent
        assert!(lo_is_up(&ns));

        // Now the listener inside is reachable through connect_tcp_in.
        let mut client = connect_tcp_in(&ns, addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(b"hi").unwrap();
        let mut buf = [0; 2];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        assert!(!is_current(&ns).unwrap());
    }

    #[test]
    fn subreaper_is_set() {
        set_child_subreaper().unwrap();
        assert!(rustix::process::child_subreaper().unwrap().is_some());
    }
}
