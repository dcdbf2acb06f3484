//! OCI whiteouts and opaque markers, written as overlayfs whiteouts or as deletions.

use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use super::{Applier, Meta};
use crate::archive::WhiteoutMode;
use crate::consts::{OVERLAY_OPAQUE_XATTR, WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE};
use crate::error::{SnapshotError, lossy, os};
use crate::sys;
use crate::walk::{self, Event, file_type};

impl Applier<'_> {
    /// `.wh.<target>` in `dir` (the marker's parent).
    pub(super) fn whiteout(
        &mut self,
        dir: BorrowedFd<'_>,
        m: &Meta<'_>,
        target: &[u8],
    ) -> Result<(), SnapshotError> {
        if m.name == WHITEOUT_OPAQUE.as_bytes() {
            return self.opaque(dir, m);
        }
        if m.name.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
            // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): meaningless outside aufs.
            tracing::debug!(entry = %m.entry(), "skipping aufs whiteout meta entry");
            return Ok(());
        }
        if matches!(target, b"" | b"." | b"..") {
            return Err(m.invalid("whiteout without a valid name"));
        }
        let mut target_path = m.parent.to_vec();
        if !target_path.is_empty() {
            target_path.push(b'/');
        }
        target_path.extend_from_slice(target);
        let existing = match rfs::statat(dir, target, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(m.err("reading whiteout target")(e)),
        };
        let ours = self.opts.whiteouts == WhiteoutMode::Delete
            && existing.is_some()
            && self
                .is_created(dir, target)
                .map_err(m.err("reading parent directory"))?;
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => match existing {
                None => {
                    rfs::mknodat(
                        dir,
                        target,
                        FileType::CharacterDevice,
                        Mode::empty(),
                        rfs::makedev(0, 0),
                    )
                    .map_err(m.err("creating whiteout"))?;
                    if self.opts.preserve_owners {
                        rfs::chownat(
                            dir,
                            target,
                            Some(Uid::from_raw(m.uid)),
                            Some(Gid::from_raw(m.gid)),
                            AtFlags::SYMLINK_NOFOLLOW,
                        )
                        .map_err(m.err("setting owner"))?;
                    }
                    rfs::chmodat(dir, target, Mode::empty(), AtFlags::empty())
                        .map_err(m.err("setting mode"))?;
                    rfs::utimensat(dir, target, &m.times(), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(m.err("setting mtime"))?;
                }
                // This layer's own directory: the whiteout hides the lower one.
                Some(st) if file_type(&st) == FileType::Directory => {
                    let fd = rfs::openat(
                        dir,
                        target,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(m.err("opening whiteout target"))?;
                    sys::set_xattr_fd(fd.as_fd(), OVERLAY_OPAQUE_XATTR.as_bytes(), b"y")
                        .map_err(m.err("marking directory opaque"))?;
                }
                // This layer's own file already hides the lower one.
                Some(_) => {}
            },
            WhiteoutMode::Delete => match existing {
                None => {}
                // This layer's own directory: the whiteout removes what lower layers put in it.
                Some(st) if ours && file_type(&st) == FileType::Directory => {
                    let fd = rfs::openat(
                        dir,
                        target,
                        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(m.err("opening whiteout target"))?;
                    self.delete_lower(fd.as_fd(), &target_path, m)?;
                }
                // This layer's own file: nothing of the lower layers is left to delete.
                Some(_) if ours => {}
                Some(_) => self.clear(dir, target, m)?,
            },
        }
        Ok(())
    }

    /// `dir/.wh..wh..opq`: `dir` is the marker's parent.
    pub(super) fn opaque(
        &mut self,
        dir: BorrowedFd<'_>,
        m: &Meta<'_>,
    ) -> Result<(), SnapshotError> {
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let fd = rfs::openat(
                    dir,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(m.err("opening opaque directory"))?;
                sys::set_xattr_fd(fd.as_fd(), OVERLAY_OPAQUE_XATTR.as_bytes(), b"y")
                    .map_err(m.err("marking directory opaque"))
            }
            WhiteoutMode::Delete => self.delete_lower(dir, m.parent, m),
        }
    }

    /// Removes everything below `dir` (at `dir_path`) that this layer did not create.
    pub(super) fn delete_lower(
        &self,
        dir: BorrowedFd<'_>,
        dir_path: &[u8],
        m: &Meta<'_>,
    ) -> Result<(), SnapshotError> {
        let fd = rfs::openat(
            dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(m.err("opening opaque directory"))?;
        let base = self.root_path.join(lossy(dir_path));
        let this = self;
        walk::walk(fd.as_fd(), &base, false, |ev| {
            let Event::Entry(node) = ev else {
                return Ok(false);
            };
            let ours = this
                .is_created(node.parent, node.name.to_bytes())
                .map_err(|e| SnapshotError::Io {
                    op: "reading metadata of",
                    path: base.join(lossy(node.path)),
                    source: os(e),
                })?;
            if ours {
                // Ours: keep it, but a directory of ours may still hold lower children.
                return Ok(true);
            }
            walk::remove_tree(node.parent, node.name.to_bytes(), &base)?;
            Ok(false)
        })
    }
}
