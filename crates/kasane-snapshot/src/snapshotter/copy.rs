//! Full tree copies for the native snapshotter.
//!
//! Copies the tree at `src` into the empty directory `dst`: every node type, owners, modes
//! (setuid/setgid/sticky), xattrs, device numbers, hardlinks (by device and inode) and mtimes
//! (directories after their contents). File data goes through `std::io::copy` between files,
//! which uses `copy_file_range` (a reflink where the file system supports it). Reads go through
//! the symlink-safe walker; writes are relative to handles below `dst`, never following
//! symlinks.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Stat, Timespec, Timestamps, Uid,
};
use rustix::io::Errno;

use crate::error::{SnapshotError, lossy, os};
use crate::sys;
use crate::walk::{self, Event, Node, file_type};

/// Copies the tree at `src` into the existing empty directory `dst` (including `src`'s own
/// owner, mode, xattrs and mtime).
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<(), SnapshotError> {
    let open = |p: &Path| {
        sys::open_dir(p).map_err(|source| SnapshotError::Io {
            op: "opening directory",
            path: p.to_path_buf(),
            source,
        })
    };
    let sfd = open(src)?;
    let dfd = open(dst)?;
    let mut c = Copier {
        dst,
        dst_fd: dfd.as_fd(),
        cache_key: Vec::new(),
        cache_fd: None,
        links: HashMap::new(),
    };
    let root_err = |op: &'static str| {
        move |e: Errno| SnapshotError::Io {
            op,
            path: dst.to_path_buf(),
            source: os(e),
        }
    };
    let st = rfs::fstat(&sfd).map_err(root_err("reading metadata of"))?;
    rfs::fchown(
        &dfd,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
    .map_err(root_err("setting owner of"))?;
    rfs::fchmod(&dfd, Mode::from_raw_mode(st.st_mode & 0o7777))
        .map_err(root_err("setting mode of"))?;
    let xattrs = sys::xattrs_at(sfd.as_fd(), b".").map_err(root_err("reading xattrs of"))?;
    for (k, v) in &xattrs {
        xattr_result(sys::set_xattr_fd(dfd.as_fd(), k, v), k, dst)?;
    }

    walk::walk(sfd.as_fd(), src, false, |ev| match ev {
        Event::Entry(node) => c.entry(&node),
        Event::Leave(node) => c.leave(&node).map(|()| false),
    })?;
    rfs::futimens(&dfd, &times(&st)).map_err(root_err("setting mtime of"))
}

struct Copier<'a> {
    dst: &'a Path,
    dst_fd: BorrowedFd<'a>,
    cache_key: Vec<u8>,
    cache_fd: Option<OwnedFd>,
    /// (device, inode) in the source → path of the first copy.
    links: HashMap<(u64, u64), Vec<u8>>,
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|c| *c == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

impl Copier<'_> {
    fn err<'p>(&self, op: &'static str, path: &'p [u8]) -> impl Fn(Errno) -> SnapshotError + 'p {
        let full = self.dst.join(lossy(path));
        move |e| SnapshotError::Io {
            op,
            path: full.clone(),
            source: os(e),
        }
    }

    /// The destination directory that corresponds to the parent of `path`.
    fn parent(&mut self, path: &[u8]) -> Result<BorrowedFd<'_>, SnapshotError> {
        let (parent, _) = split(path);
        if parent.is_empty() {
            return Ok(self.dst_fd);
        }
        if self.cache_fd.is_none() || self.cache_key != parent {
            let fd = sys::open_beneath(self.dst_fd, parent, OFlags::PATH | OFlags::DIRECTORY)
                .map_err(self.err("opening directory", parent))?;
            self.cache_key.clear();
            self.cache_key.extend_from_slice(parent);
            self.cache_fd = Some(fd);
        }
        match &self.cache_fd {
            Some(fd) => Ok(fd.as_fd()),
            None => unreachable!("the cache was just filled"),
        }
    }

    fn entry(&mut self, node: &Node<'_>) -> Result<bool, SnapshotError> {
        let st = node.stat;
        let ft = file_type(st);
        let name = node.name;
        let path = node.path;
        let dst = self.dst;
        if ft != FileType::Directory && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                let (tparent, tname) = split(&first);
                let tfd = if tparent.is_empty() {
                    None
                } else {
                    Some(
                        sys::open_beneath(self.dst_fd, tparent, OFlags::PATH | OFlags::DIRECTORY)
                            .map_err(self.err("opening directory", tparent))?,
                    )
                };
                let err = self.err("creating hardlink", path);
                let tdir = tfd.as_ref().map_or(self.dst_fd, |fd| fd.as_fd());
                let dir = self.parent(path)?;
                rfs::linkat(tdir, tname, dir, name, AtFlags::empty()).map_err(err)?;
                return Ok(false);
            }
            self.links.insert(key, path.to_vec());
        }
        let err = |op| self.err(op, path);
        let (e_create, e_owner, e_mode, e_time) = (
            err("creating"),
            err("setting owner of"),
            err("setting mode of"),
            err("setting mtime of"),
        );
        let e_read = self.err("reading", path);
        let e_xattr = self.err("reading xattrs of", path);
        let xattrs = sys::xattrs_at(node.parent, name.to_bytes()).map_err(e_xattr)?;
        let owner = (
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        );
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        let full = dst.join(lossy(path));
        let dir = self.parent(path)?;
        match ft {
            FileType::Directory => {
                rfs::mkdirat(dir, name, Mode::from_raw_mode(0o700)).map_err(&e_create)?;
                let fd = rfs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(&e_create)?;
                rfs::fchown(&fd, owner.0, owner.1).map_err(e_owner)?;
                rfs::fchmod(&fd, mode).map_err(e_mode)?;
                for (k, v) in &xattrs {
                    xattr_result(sys::set_xattr_fd(fd.as_fd(), k, v), k, &full)?;
                }
                // mtime in `leave`, after the children are written.
                return Ok(true);
            }
            FileType::RegularFile => {
                let src = rfs::openat(
                    node.parent,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
                    Mode::empty(),
                )
                .map_err(&e_read)?;
                let out = rfs::openat(
                    dir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(&e_create)?;
                let (mut src, mut out) = (File::from(src), File::from(out));
                std::io::copy(&mut src, &mut out).map_err(|source| SnapshotError::Io {
                    op: "copying",
                    path: full.clone(),
                    source,
                })?;
                rfs::fchown(&out, owner.0, owner.1).map_err(e_owner)?;
                rfs::fchmod(&out, mode).map_err(e_mode)?;
                for (k, v) in &xattrs {
                    xattr_result(sys::set_xattr_fd(out.as_fd(), k, v), k, &full)?;
                }
                rfs::futimens(&out, &times(st)).map_err(e_time)?;
                return Ok(false);
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(node.parent, name, Vec::new()).map_err(&e_read)?;
                rfs::symlinkat(target.as_c_str(), dir, name).map_err(&e_create)?;
            }
            FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Fifo
            | FileType::Socket => {
                rfs::mknodat(dir, name, ft, Mode::from_raw_mode(0o600), st.st_rdev)
                    .map_err(&e_create)?;
                // Follows a symlink, but `name` is the node just created.
                rfs::chmodat(dir, name, mode, AtFlags::empty()).map_err(&e_mode)?;
            }
            _ => return Ok(false),
        }
        rfs::chownat(dir, name, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW).map_err(e_owner)?;
        for (k, v) in &xattrs {
            xattr_result(sys::set_xattr_at(dir, name.to_bytes(), k, v), k, &full)?;
        }
        rfs::utimensat(dir, name, &times(st), AtFlags::SYMLINK_NOFOLLOW).map_err(e_time)?;
        Ok(false)
    }

    fn leave(&mut self, node: &Node<'_>) -> Result<(), SnapshotError> {
        let e_time = self.err("setting mtime of", node.path);
        let dir = self.parent(node.path)?;
        rfs::utimensat(dir, node.name, &times(node.stat), AtFlags::SYMLINK_NOFOLLOW).map_err(e_time)
    }
}

/// As in apply: `trusted.*` and `security.selinux` the destination refuses are skipped.
fn xattr_result(r: Result<(), Errno>, key: &[u8], path: &Path) -> Result<(), SnapshotError> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if key.starts_with(b"trusted.") || key == b"security.selinux" => {
            tracing::debug!(path = %path.display(), xattr = %lossy(key), error = %e, "skipping xattr the destination refuses");
            Ok(())
        }
        Err(e) => Err(SnapshotError::Io {
            op: "setting xattr on",
            path: path.to_path_buf(),
            source: std::io::Error::new(os(e).kind(), format!("{}: {}", lossy(key), os(e))),
        }),
    }
}
