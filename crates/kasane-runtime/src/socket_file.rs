//! A unix socket listening at a path of its own and removed from disk when dropped: the
//! console socket a runtime hands a terminal over, and a monitor's attach socket.

use std::io;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A listening unix socket that owns its path.
#[derive(Debug)]
pub struct SocketFile {
    listener: UnixListener,
    path: PathBuf,
}

impl SocketFile {
    /// Listens at `path`, replacing a stale socket there (one a killed process left).
    ///
    /// # Errors
    /// Binding fails (path too long: unix sockets take at most 107 bytes).
    pub fn bind(path: &Path) -> io::Result<SocketFile> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        Ok(SocketFile {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listening socket.
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_socket_is_replaced_and_the_path_goes_with_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        drop(UnixListener::bind(&path).unwrap()); // a stale socket file stays behind
        assert!(path.exists());
        let sock = SocketFile::bind(&path).unwrap();
        std::os::unix::net::UnixStream::connect(sock.path()).unwrap();
        assert!(sock.listener().accept().is_ok());
        drop(sock);
        assert!(!path.exists());
    }
}
