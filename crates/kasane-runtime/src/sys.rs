//! The runtime crate's only `unsafe` code: interface-flag ioctls that no safe wrapper offers.
//!
//! Owns: reading and setting a network interface's flags (`SIOCGIFFLAGS`/`SIOCSIFFLAGS`) in
//! the calling thread's network namespace. Everything else in the crate is
//! `unsafe_code = "deny"`; callers reach this through [`crate::netns::loopback_up`].

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

#[cfg(test)]
mod tests {
    use super::*;

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
