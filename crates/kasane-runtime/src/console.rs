//! Terminals (`-t`): the console socket through which a runtime hands over the pty master it
//! made for the container, the user's terminal in raw mode, and the copying between them.
//!
//! Protocol (runc's `--console-socket`): the runtime connects to a unix socket the caller
//! listens on and sends one message whose `SCM_RIGHTS` carries the master's descriptor.

use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::socket_file::SocketFile;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
use rustix::termios::{OptionalActions, Termios, tcgetattr, tcgetwinsize, tcsetattr, tcsetwinsize};

/// A listening console socket; removed from disk when dropped.
#[derive(Debug)]
pub struct ConsoleSocket {
    socket: SocketFile,
}

impl ConsoleSocket {
    /// Listens at `path` (replacing a stale socket there).
    ///
    /// # Errors
    /// Binding fails (path too long: unix sockets take at most 107 bytes).
    pub fn bind(path: &Path) -> io::Result<ConsoleSocket> {
        Ok(ConsoleSocket {
            socket: SocketFile::bind(path)?,
        })
    }

    /// The socket's path, for `--console-socket`.
    pub fn path(&self) -> &Path {
        self.socket.path()
    }

    /// Waits for the runtime's connection and returns the pty master it sends.
    ///
    /// # Errors
    /// The connection carries no descriptor; I/O errors.
    pub fn receive_master(&self) -> io::Result<File> {
        let (stream, _) = self.socket.listener().accept()?;
        let mut name = [0u8; 256];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [io::IoSliceMut::new(&mut name)];
        recvmsg(&stream, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)?;
        let mut master: Option<OwnedFd> = None;
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = msg {
                for fd in fds {
                    master.get_or_insert(fd);
                }
            }
        }
        master
            .map(File::from)
            .ok_or_else(|| io::Error::other("the runtime sent no terminal on the console socket"))
    }
}

/// Copies the size of terminal `from` to terminal `to` (the container sees the user's size).
pub fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(size) = tcgetwinsize(from) {
        let _ = tcsetwinsize(to, size);
    }
}

/// The user's terminal in raw mode until dropped (keys go to the container unprocessed).
pub struct RawTerminal {
    fd: OwnedFd,
    saved: Termios,
}

impl RawTerminal {
    /// Puts the terminal on `fd` in raw mode; `None` when `fd` is not a terminal.
    pub fn enable(fd: BorrowedFd<'_>) -> Option<RawTerminal> {
        let saved = tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(fd, OptionalActions::Now, &raw).ok()?;
        Some(RawTerminal {
            fd: fd.try_clone_to_owned().ok()?,
            saved,
        })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd.as_fd(), OptionalActions::Now, &self.saved);
    }
}

/// Copies `from` to `to` until EOF or an error (EIO, a hung-up pty, is EOF).
pub fn pump(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_descriptor_sent_over_the_socket_is_received() {
        use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
        let dir = tempfile::tempdir().unwrap();
        let sock = ConsoleSocket::bind(&dir.path().join("c.sock")).unwrap();
        let file_path = dir.path().join("f");
        std::fs::write(&file_path, b"master").unwrap();
        let path = sock.path().to_path_buf();
        let sender = std::thread::spawn(move || {
            let s = UnixStream::connect(&path).unwrap();
            let f = File::open(&file_path).unwrap();
            let fds = [f.as_fd()];
            let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
            sendmsg(
                &s,
                &[io::IoSlice::new(b"pty")],
                &mut control,
                SendFlags::empty(),
            )
            .unwrap();
        });
        let mut got = sock.receive_master().unwrap();
        sender.join().unwrap();
        let mut s = String::new();
        got.read_to_string(&mut s).unwrap();
        assert_eq!(s, "master");
        let p = sock.path().to_path_buf();
        drop(sock);
        assert!(!p.exists());
    }

    #[test]
    fn a_connection_without_a_descriptor_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let sock = ConsoleSocket::bind(&dir.path().join("c.sock")).unwrap();
        let path = sock.path().to_path_buf();
        let t = std::thread::spawn(move || {
            let mut s = UnixStream::connect(&path).unwrap();
            s.write_all(b"x").unwrap();
        });
        assert!(sock.receive_master().is_err());
        t.join().unwrap();
    }

    #[test]
    fn pump_copies_to_eof() {
        let mut out = Vec::new();
        pump(&b"hello"[..], &mut out);
        assert_eq!(out, b"hello");
    }

    #[test]
    fn raw_mode_needs_a_terminal() {
        let f = tempfile::tempfile().unwrap();
        assert!(RawTerminal::enable(f.as_fd()).is_none());
    }
}
