//! One function per entry type, and the owner/mode/xattr/mtime updates they share.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use super::{Applier, DirTime, Meta, split};
use crate::archive::WhiteoutMode;
use crate::consts::{OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX};
use crate::error::{SnapshotError, lossy, os};
use crate::sys;
use crate::walk::file_type;

impl Applier<'_> {
    pub(super) fn root_dir(&mut self, m: &Meta<'_>) -> Result<(), SnapshotError> {
        self.fd_meta(self.root, m)?;
        let st = rfs::fstat(self.root).map_err(m.err("reading metadata"))?;
        self.dirs.push(DirTime {
            path: Vec::new(),
            dev: st.st_dev,
            ino: st.st_ino,
            mtime: m.mtime,
        });
        Ok(())
    }

    pub(super) fn make_dir(
        &mut self,
        dir: BorrowedFd<'_>,
        m: &Meta<'_>,
    ) -> Result<(), SnapshotError> {
        let mut opaque = false;
        match rfs::mkdirat(dir, m.name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = rfs::statat(dir, m.name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(m.err("reading existing node"))?;
                let ft = file_type(&st);
                if ft != FileType::Directory {
                    // A directory over this layer's own whiteout: the directory replaces the
                    // lower one instead of merging with it (OCI: whiteouts apply to lower
                    // layers only), which overlayfs spells "opaque".
                    opaque = self.opts.whiteouts == WhiteoutMode::Overlay
                        && ft == FileType::CharacterDevice
                        && st.st_rdev == 0;
                    self.clear(dir, m.name, m)?;
                    rfs::mkdirat(dir, m.name, Mode::from_raw_mode(0o700))
                        .map_err(m.err("creating directory"))?;
                }
            }
            Err(e) => return Err(m.err("creating directory")(e)),
        }
        let fd = rfs::openat(
            dir,
            m.name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(m.err("opening directory"))?;
        self.fd_meta(fd.as_fd(), m)?;
        if opaque {
            sys::set_xattr_fd(fd.as_fd(), OVERLAY_OPAQUE_XATTR.as_bytes(), b"y")
                .map_err(m.err("marking directory opaque"))?;
        }
        let st = rfs::fstat(&fd).map_err(m.err("reading metadata"))?;
        self.dirs.push(DirTime {
            path: m.path.to_vec(),
            dev: st.st_dev,
            ino: st.st_ino,
            mtime: m.mtime,
        });
        self.mark_created(dir, m.name, m)?;
        Ok(())
    }

    pub(super) fn make_file(
        &mut self,
        dir: BorrowedFd<'_>,
        m: &Meta<'_>,
        data: &mut impl Read,
        size: u64,
    ) -> Result<(), SnapshotError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o600);
        let fd = match rfs::openat(dir, m.name, flags, mode) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                self.clear(dir, m.name, m)?;
                rfs::openat(dir, m.name, flags, mode).map_err(m.err("creating file"))?
            }
            Err(e) => return Err(m.err("creating file")(e)),
        };
        let mut file = File::from(fd);
        let mut written: u64 = 0;
        let mut content = xxhash_rust::xxh3::Xxh3::new();
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(SnapshotError::Tar {
                        entry: m.entry(),
                        source,
                    });
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(|source| SnapshotError::Apply {
                    entry: m.entry(),
                    op: "writing file",
                    source,
                })?;
            content.update(&self.buf[..n]);
            written += n as u64;
        }
        if written != size {
            return Err(SnapshotError::Truncated { entry: m.entry() });
        }
        self.content_size += size;
        let st = rfs::fstat(&file).map_err(m.err("reading metadata"))?;
        self.contents
            .record(st.st_dev, st.st_ino, content.digest128(), written);
        self.fd_meta(file.as_fd(), m)?;
        rfs::futimens(&file, &m.times()).map_err(m.err("setting mtime"))?;
        self.mark_created(dir, m.name, m)?;
        Ok(())
    }

    pub(super) fn make_symlink(
        &mut self,
        dir: BorrowedFd<'_>,
        m: &Meta<'_>,
        target: &[u8],
    ) -> Result<(), SnapshotError> {
        if target.is_empty() {
            return Err(m.invalid("symlink with an empty target"));
        }
        if target.contains(&0) {
            return Err(m.invalid("NUL byte in symlink target"));
        }
        match rfs::symlinkat(target, dir, m.name) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear(dir, m.name, m)?;
                rfs::symlinkat(target, dir, m.name).map_err(m.err("creating symlink"))?;
            }
            Err(e) => return Err(m.err("creating symlink")(e)),
        }
        self.path_meta(dir, m, false)?;
        self.mark_created(dir, m.name, m)?;
        Ok(())
    }

    pub(super) fn make_hardlink(
        &mut self,
        dir: BorrowedFd<'_>,
        m: &Meta<'_>,
        target: &[u8],
    ) -> Result<(), SnapshotError> {
        if target.is_empty() {
            return Err(m.invalid("hardlink to the root directory"));
        }
        if target == m.path {
            return Err(m.invalid("hardlink to itself"));
        }
        let (tparent, tname) = split(target);
        let missing = || {
            m.invalid(format!(
                "hardlink target {:?} does not exist below the layer root",
                lossy(target)
            ))
        };
        let tfd = if tparent.is_empty() {
            None
        } else {
            match sys::open_in_root(self.root, tparent, OFlags::PATH | OFlags::DIRECTORY) {
                Ok(fd) => Some(fd),
                Err(Errno::NOENT) => return Err(missing()),
                Err(e) => return Err(m.resolve_err("hardlink target")(e)),
            }
        };
        let tdir = tfd.as_ref().map_or(self.root, |fd| fd.as_fd());
        // No AT_SYMLINK_FOLLOW: a hardlink to a symlink links the symlink itself.
        match rfs::linkat(tdir, tname, dir, m.name, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear(dir, m.name, m)?;
                rfs::linkat(tdir, tname, dir, m.name, AtFlags::empty())
                    .map_err(m.resolve_err("hardlink target"))?;
            }
            Err(Errno::NOENT) => return Err(missing()),
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                return Err(m.resolve_err("hardlink target")(e));
            }
            Err(e) => return Err(m.err("creating hardlink")(e)),
        }
        self.mark_created(dir, m.name, m)?;
        Ok(())
    }

    pub(super) fn make_node(
        &mut self,
        dir: BorrowedFd<'_>,
        m: &Meta<'_>,
        ft: FileType,
        major: u32,
        minor: u32,
    ) -> Result<(), SnapshotError> {
        let dev = rfs::makedev(major, minor);
        let mode = Mode::from_raw_mode(0o600);
        match rfs::mknodat(dir, m.name, ft, mode, dev) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear(dir, m.name, m)?;
                rfs::mknodat(dir, m.name, ft, mode, dev).map_err(m.err("creating device node"))?;
            }
            Err(e) => return Err(m.err("creating device node")(e)),
        }
        self.path_meta(dir, m, true)?;
        self.mark_created(dir, m.name, m)?;
        Ok(())
    }

    /// Owner, mode and xattrs through an open handle (files, directories).
    pub(super) fn fd_meta(&self, fd: BorrowedFd<'_>, m: &Meta<'_>) -> Result<(), SnapshotError> {
        if self.opts.preserve_owners {
            rfs::fchown(fd, Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid)))
                .map_err(m.err("setting owner"))?;
        }
        // After chown, which clears setuid/setgid.
        rfs::fchmod(fd, Mode::from_raw_mode(m.mode)).map_err(m.err("setting mode"))?;
        for (key, value) in m.xattrs {
            if skip_xattr(key, m) {
                continue;
            }
            xattr_result(sys::set_xattr_fd(fd, key, value), key, m)?;
        }
        Ok(())
    }

    /// Owner, mode, xattrs and mtime by name (symlinks, devices, fifos).
    pub(super) fn path_meta(
        &self,
        dir: BorrowedFd<'_>,
        m: &Meta<'_>,
        chmod: bool,
    ) -> Result<(), SnapshotError> {
        if self.opts.preserve_owners {
            rfs::chownat(
                dir,
                m.name,
                Some(Uid::from_raw(m.uid)),
                Some(Gid::from_raw(m.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(m.err("setting owner"))?;
        }
        if chmod {
            // Follows a symlink, but `name` is the device or fifo this entry just created.
            rfs::chmodat(dir, m.name, Mode::from_raw_mode(m.mode), AtFlags::empty())
                .map_err(m.err("setting mode"))?;
        }
        for (key, value) in m.xattrs {
            if skip_xattr(key, m) {
                continue;
            }
            xattr_result(sys::set_xattr_at(dir, m.name, key, value), key, m)?;
        }
        rfs::utimensat(dir, m.name, &m.times(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(m.err("setting mtime"))
    }
}

/// Layer xattrs that are never applied: overlayfs' own (`trusted.overlay.*`) would let a layer
/// steer overlayfs (redirects, metacopy); opacity comes from `.wh..wh..opq` only.
fn skip_xattr(key: &[u8], m: &Meta<'_>) -> bool {
    if key.starts_with(OVERLAY_XATTR_PREFIX.as_bytes()) {
        tracing::debug!(entry = %m.entry(), xattr = %lossy(key), "skipping overlayfs xattr from layer");
        return true;
    }
    false
}

/// An xattr the filesystem refuses is an error, except `trusted.*` (needs CAP_SYS_ADMIN) and
/// `security.selinux` (needs a policy that knows the label), which are skipped.
fn xattr_result(r: Result<(), Errno>, key: &[u8], m: &Meta<'_>) -> Result<(), SnapshotError> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if key.starts_with(b"trusted.") || key == b"security.selinux" => {
            tracing::debug!(entry = %m.entry(), xattr = %lossy(key), error = %e, "skipping xattr the host refuses");
            Ok(())
        }
        Err(e) => Err(SnapshotError::Xattr {
            entry: m.entry(),
            name: lossy(key),
            source: os(e),
        }),
    }
}
