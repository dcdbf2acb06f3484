//! Work inside a container's mounted rootfs on the host side, confined to it: paths come
//! from the image or the user and may meet symlinks that a hostile image planted, so every
//! lookup is resolved as if the rootfs were `/` (`openat2` with `RESOLVE_IN_ROOT`).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Command;

use rustix::fs::{Mode, OFlags};

use crate::error::{EngineError, Result};

/// Opens directory `path` of the tree at `root`, resolving symlinks inside it.
fn open_dir_in_root(root: &Path, path: &Path) -> std::io::Result<OwnedFd> {
    let rootfd = rustix::fs::open(
        root,
        OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::PATH,
        Mode::empty(),
    )?;
    let rel = path.strip_prefix("/").unwrap_or(path);
    Ok(kasane_snapshot::open_in_root(
        std::os::fd::AsFd::as_fd(&rootfd),
        std::os::unix::ffi::OsStrExt::as_bytes(rel.as_os_str()),
        OFlags::DIRECTORY | OFlags::RDONLY,
    )?)
}

/// Creates directory `path` (and missing parents, mode 0755) inside the tree at `root`,
/// following symlinks only within it.
///
/// # Errors
/// A component that exists and is not a directory; I/O errors.
pub(crate) fn mkdir_in_root(root: &Path, path: &Path) -> std::io::Result<()> {
    let mut done = std::path::PathBuf::from("/");
    for comp in path.components() {
        let std::path::Component::Normal(name) = comp else {
            continue;
        };
        let parent = open_dir_in_root(root, &done)?;
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        done.push(name);
    }
    open_dir_in_root(root, &done).map(drop)
}

/// Fills an empty named volume at `data` with what the image has at `dest` (docker copies
/// image content into a new volume the first time it is mounted). A missing `dest` or a
/// volume that already holds files leaves it as it is.
///
/// # Errors
/// The copy failing.
pub(crate) fn populate_volume(root: &Path, dest: &Path, data: &Path) -> Result<()> {
    let fresh = match std::fs::read_dir(data) {
        Ok(mut d) => d.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(EngineError::io(format!("reading {}", data.display()), e)),
    };
    if !fresh {
        return Ok(());
    }
    super::mkdir(data)?;
    let Ok(src) = open_dir_in_root(root, dest) else {
        return Ok(());
    };
    // The resolved directory through its descriptor: nothing in the image can redirect it.
    let src_path = format!(
        "/proc/{}/fd/{}/.",
        std::process::id(),
        std::os::fd::AsRawFd::as_raw_fd(&src)
    );
    let status = Command::new("cp")
        .arg("-a")
        .arg(&src_path)
        .arg(data)
        .status()
        .map_err(|e| EngineError::io("running cp to fill a volume", e))?;
    drop(src);
    if !status.success() {
        return Err(EngineError::InvalidArgument(format!(
            "copying {} of the image into volume {}: cp exited with {status}",
            dest.display(),
            data.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkdir_stays_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // An absolute symlink that would leave the root if followed on the host.
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        mkdir_in_root(&root, Path::new("/a/b/c")).unwrap();
        assert!(root.join("a/b/c").is_dir());
        let _ = mkdir_in_root(&root, Path::new("/evil/x"));
        assert!(!outside.join("x").exists(), "escaped through a symlink");
        std::fs::write(root.join("file"), b"").unwrap();
        assert!(mkdir_in_root(&root, Path::new("/file/x")).is_err());
    }
}
