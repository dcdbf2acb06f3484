//! A directory-handle walker that never follows symlinks and bounds its open descriptors.
//!
//! Owns: how kasane visits a tree it did not write itself (diff of a container's upper dir,
//! fingerprint, usage, native copies, recursive removal). Every step is `openat`/`statat`
//! relative to the parent's handle with `O_NOFOLLOW`, so replacing a directory with a symlink
//! during the walk cannot redirect it outside the tree. At most [`MAX_HELD`] directory handles
//! are held; deeper directories are re-opened by relative path with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS` and checked against the device and inode seen before.
//!
//! Order: parents before children (pre-order [`Event::Entry`]), then [`Event::Leave`] for a
//! directory after all its children (post-order). With `sorted`, siblings come in byte order of
//! their names, which makes diffs and fingerprints deterministic.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::{SnapshotError, lossy, os};
use crate::sys;

/// Directory handles held at most at once; deeper levels re-open.
pub(crate) const MAX_HELD: usize = 64;

/// One node seen by the walker.
pub(crate) struct Node<'a> {
    /// Handle of the directory that contains the node.
    pub parent: BorrowedFd<'a>,
    /// The node's name in `parent`.
    pub name: &'a CStr,
    /// Path relative to the walk's top, without a leading `/`.
    pub path: &'a [u8],
    /// `lstat` of the node.
    pub stat: &'a Stat,
}

/// What the walker reports.
pub(crate) enum Event<'a> {
    /// A node, before its children. Returning `true` for a directory descends into it.
    Entry(Node<'a>),
    /// A directory after all its children (only for directories that were descended into).
    Leave(Node<'a>),
}

struct Frame {
    fd: Option<OwnedFd>,
    /// Length of this directory's path in the shared path buffer.
    path_len: usize,
    names: Vec<CString>,
    next: usize,
    stat: Stat,
    name: CString,
}

/// The file type of a `Stat`.
pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Walks everything below the directory handle `top` (not `top` itself). `base` is only used in
/// error messages.
///
/// # Errors
/// [`SnapshotError::Io`] for failures of the walk itself, or whatever `f` returns.
pub(crate) fn walk(
    top: BorrowedFd<'_>,
    base: &Path,
    sorted: bool,
    mut f: impl FnMut(Event<'_>) -> Result<bool, SnapshotError>,
) -> Result<(), SnapshotError> {
    let err = |op: &'static str, path: &[u8], e: Errno| SnapshotError::Io {
        op,
        path: base.join(lossy(path)),
        source: os(e),
    };
    let mut dirbuf: Vec<MaybeUninit<u8>> = vec![MaybeUninit::uninit(); 32 * 1024];
    let top_fd = sys::open_beneath(top, b"", OFlags::RDONLY | OFlags::DIRECTORY)
        .map_err(|e| err("opening directory", b"", e))?;
    let top_stat = rfs::fstat(&top_fd).map_err(|e| err("reading metadata of", b"", e))?;
    let names =
        read_names(&top_fd, sorted, &mut dirbuf).map_err(|e| err("reading directory", b"", e))?;
    let mut path: Vec<u8> = Vec::new();
    let mut stack = vec![Frame {
        fd: Some(top_fd),
        path_len: 0,
        names,
        next: 0,
        stat: top_stat,
        name: CString::default(),
    }];

    loop {
        let depth = stack.len();
        let Some(frame) = stack.last_mut() else { break };
        if frame.next == frame.names.len() {
            let Some(done) = stack.pop() else { break };
            drop(done.fd);
            let Some(parent) = stack.last_mut() else {
                break;
            };
            ensure_fd(parent, top, &path, &err)?;
            let Some(pfd) = parent.fd.as_ref() else {
                unreachable!("ensure_fd leaves a handle")
            };
            f(Event::Leave(Node {
                parent: pfd.as_fd(),
                name: &done.name,
                path: &path[..done.path_len],
                stat: &done.stat,
            }))?;
            path.truncate(parent.path_len);
            continue;
        }
        let idx = frame.next;
        frame.next += 1;
        ensure_fd(frame, top, &path, &err)?;
        let Some(fd) = frame.fd.as_ref() else {
            unreachable!("ensure_fd leaves a handle")
        };
        let name = &frame.names[idx];
        path.truncate(frame.path_len);
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name.to_bytes());
        let stat = match rfs::statat(fd, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed since the directory was read (a running container, or `f` itself).
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(err("reading metadata of", &path, e)),
        };
        let descend = f(Event::Entry(Node {
            parent: fd.as_fd(),
            name,
            path: &path,
            stat: &stat,
        }))?;
        if !(descend && file_type(&stat) == FileType::Directory) {
            continue;
        }
        let child = rfs::openat(
            fd,
            name.as_c_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err("opening directory", &path, e))?;
        check_same(&child, &stat).map_err(|e| err("opening directory", &path, e))?;
        let names = read_names(&child, sorted, &mut dirbuf)
            .map_err(|e| err("reading directory", &path, e))?;
        let name = name.clone();
        if depth >= MAX_HELD {
            frame.fd = None;
        }
        stack.push(Frame {
            fd: Some(child),
            path_len: path.len(),
            names,
            next: 0,
            stat,
            name,
        });
    }
    Ok(())
}

/// Re-opens a frame's directory if its handle was dropped to bound descriptor use.
fn ensure_fd(
    frame: &mut Frame,
    top: BorrowedFd<'_>,
    path: &[u8],
    err: &impl Fn(&'static str, &[u8], Errno) -> SnapshotError,
) -> Result<(), SnapshotError> {
    if frame.fd.is_none() {
        let p = &path[..frame.path_len];
        let fd = sys::open_beneath(top, p, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| err("re-opening directory", p, e))?;
        check_same(&fd, &frame.stat).map_err(|e| err("re-opening directory", p, e))?;
        frame.fd = Some(fd);
    }
    Ok(())
}

/// The handle must be the directory that was stat'ed: anything else means the tree changed
/// under the walk.
fn check_same(fd: &OwnedFd, st: &Stat) -> Result<(), Errno> {
    let now = rfs::fstat(fd)?;
    if now.st_dev != st.st_dev || now.st_ino != st.st_ino {
        return Err(Errno::STALE);
    }
    Ok(())
}

/// The names in a directory, without `.` and `..`.
fn read_names(
    fd: &OwnedFd,
    sorted: bool,
    buf: &mut [MaybeUninit<u8>],
) -> Result<Vec<CString>, Errno> {
    let mut names = Vec::new();
    let mut dir = rfs::RawDir::new(fd, buf);
    while let Some(entry) = dir.next() {
        let entry = entry?;
        let name = entry.file_name();
        if !sys::is_dot(name) {
            names.push(name.to_owned());
        }
    }
    if sorted {
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    }
    Ok(names)
}

/// Removes `name` in `parent`, recursively if it is a directory, never following symlinks.
/// A missing `name` is success.
pub(crate) fn remove_tree(
    parent: BorrowedFd<'_>,
    name: &[u8],
    base: &Path,
) -> Result<(), SnapshotError> {
    let err = |op, e: Errno| SnapshotError::Io {
        op,
        path: base.join(lossy(name)),
        source: os(e),
    };
    // Callers pass one name from a cleaned path or a directory listing; anything else would
    // reach outside `parent`.
    if matches!(name, b"" | b"." | b"..") || name.contains(&b'/') {
        return Err(err("removing", Errno::INVAL));
    }
    let st = match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(err("reading metadata of", e)),
    };
    if file_type(&st) != FileType::Directory {
        return match rfs::unlinkat(parent, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(err("removing", e)),
        };
    }
    let dir = rfs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("opening directory", e))?;
    check_same(&dir, &st).map_err(|e| err("opening directory", e))?;
    let sub = base.join(lossy(name));
    walk(dir.as_fd(), &sub, false, |ev| {
        let (node, is_leave) = match ev {
            Event::Entry(n) => (n, false),
            Event::Leave(n) => (n, true),
        };
        let is_dir = file_type(node.stat) == FileType::Directory;
        if is_dir && !is_leave {
            return Ok(true);
        }
        let flags = if is_dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        match rfs::unlinkat(node.parent, node.name, flags) {
            Ok(()) | Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(SnapshotError::Io {
                op: "removing",
                path: sub.join(lossy(node.path)),
                source: os(e),
            }),
        }
    })?;
    drop(dir);
    match rfs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(err("removing directory", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn paths(dir: &Path, sorted: bool) -> Vec<String> {
        let fd = sys::open_dir(dir).unwrap();
        let mut out = Vec::new();
        walk(fd.as_fd(), dir, sorted, |ev| {
            match ev {
                Event::Entry(n) => out.push(format!("+{}", lossy(n.path))),
                Event::Leave(n) => out.push(format!("-{}", lossy(n.path))),
            }
            Ok(true)
        })
        .unwrap();
        out
    }

    #[test]
    fn walks_pre_and_post_order_sorted_without_following_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("b/c")).unwrap();
        std::fs::write(d.join("b/c/f"), "x").unwrap();
        std::fs::write(d.join("a"), "x").unwrap();
        symlink("/", d.join("b/link")).unwrap();
        assert_eq!(
            paths(d, true),
            ["+a", "+b", "+b/c", "+b/c/f", "-b/c", "+b/link", "-b"]
        );
    }

    #[test]
    fn deep_trees_reopen_directories() {
        let t = tempfile::tempdir().unwrap();
        let mut p = t.path().to_path_buf();
        for _ in 0..(MAX_HELD * 2 + 3) {
            p.push("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("leaf"), "x").unwrap();
        let seen = paths(t.path(), true);
        assert_eq!(seen.len(), (MAX_HELD * 2 + 3) * 2 + 1);
        assert!(seen.iter().any(|s| s.ends_with("/leaf")));
    }

    #[test]
    fn remove_tree_does_not_follow_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        let victim = t.path().join("victim");
        std::fs::create_dir_all(victim.join("sub")).unwrap();
        symlink(&outside, victim.join("sub/link")).unwrap();
        symlink(&outside, victim.join("link")).unwrap();
        let fd = sys::open_dir(t.path()).unwrap();
        remove_tree(fd.as_fd(), b"victim", t.path()).unwrap();
        assert!(!victim.exists());
        assert!(outside.join("keep").exists());
        remove_tree(fd.as_fd(), b"victim", t.path()).unwrap();
    }
}
