//! Confined access to a container's files: cleaning and resolving container paths with
//! the container's root as `/` (symlinks included), and reaching that root, whether the
//! container runs or not. See the parent module's "Confinement" and "Which root".

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use kasane_store::metadata::ContainerRecord;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::join;
use crate::containers::monitor::unmount_all;
use crate::containers::state::{Status, open_lock};
use crate::error::{EngineError, Result};
use crate::{Engine, snap_id};

impl Engine {
    /// Runs `f` with a handle on the container's root: its init's root while it runs,
    /// else its rootfs mounted for the time of `f` under the monitor lock.
    pub(super) fn with_rootfs<T>(
        &mut self,
        record: &ContainerRecord,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_root(record, false, f)
    }

    /// As [`Engine::with_rootfs`], but always the container's own filesystem (its image's
    /// layers and its upper dir), without the mounts and volumes of a running container:
    /// what `export` writes.
    pub(super) fn with_layers_root<T>(
        &mut self,
        record: &ContainerRecord,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_root(record, true, f)
    }

    fn with_root<T>(
        &mut self,
        record: &ContainerRecord,
        layers_only: bool,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<T>,
    ) -> Result<T> {
        let paths = self.container_paths(&record.id);
        let rootfs = paths.rootfs();
        let mut access = None;
        for _ in 0..250 {
            let state = self.container_state(record)?;
            if state.status == Status::Running
                && state.pid > 0
                && let Some(fd) = running_root(state.pid, &rootfs)
            {
                // The host side of the same overlay mount has no container mounts on it.
                let fd = if layers_only {
                    match rfs::open(
                        &rootfs,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    ) {
                        Ok(host) => host,
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    }
                } else {
                    fd
                };
                access = Some(Ok(fd));
                break;
            }
            let lock = open_lock(&paths.lock())?;
            if lock.try_lock().is_ok() {
                access = Some(Err(lock));
                break;
            }
            // A monitor is starting or restarting the container.
            drop(lock);
            std::thread::sleep(Duration::from_millis(20));
        }
        match access {
            Some(Ok(fd)) => f(fd.as_fd()),
            Some(Err(lock)) => {
                let image = self.image_record(&record.image)?;
                let parents = self.layer_snapshots(&image)?;
                let mounts = self
                    .snapshots
                    .mounts(&snap_id(&record.snapshot_id)?, &parents)?;
                super::super::mkdir(&rootfs)?;
                // A mount left by a crash would be stacked under ours.
                unmount_all(&rootfs);
                kasane_snapshot::mount_all(&mounts, &rootfs)?;
                let result = rfs::open(
                    &rootfs,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| EngineError::io(format!("opening {}", rootfs.display()), e.into()))
                .and_then(|fd| f(fd.as_fd()));
                unmount_all(&rootfs);
                drop(lock);
                result
            }
            None => Err(EngineError::ContainerState(format!(
                "container {} is restarting; try again",
                record.id
            ))),
        }
    }
}

/// Symlinks followed while resolving one path (Linux's limit).
const MAX_LINKS: usize = 40;

/// The components of a container path cleaned as if rooted (docker's `cleanScopedPath`):
/// empty and `.` components dropped, `..` resolved lexically, never above `/`.
pub(super) fn clean_components(path: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in path.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c.to_vec()),
        }
    }
    out
}

/// Opens `path` below `root` with every component, symlinks included, confined to `root`
/// (`openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`).
pub(super) fn open_in(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
) -> std::result::Result<OwnedFd, Errno> {
    kasane_snapshot::open_in_root(root, path, flags)
}

/// Resolves the cleaned components `comps` inside the root held by `root`, as the kernel
/// would with that root as `/`: an absolute symlink restarts at the root, a relative one
/// continues from its directory, `..` stops at the root. Returns the components of the real
/// path (directories only, then the last component) and whether the last one exists; with
/// `follow_last` false a final symlink is kept as is.
///
/// Every lookup is a `statat`/`readlinkat` on a directory handle opened in the root, so
/// nothing outside it is ever looked at; the result is only a name, and whoever opens it
/// resolves it confined again.
pub(super) fn resolve_in_root(
    root: BorrowedFd<'_>,
    comps: &[Vec<u8>],
    follow_last: bool,
) -> std::result::Result<(Vec<Vec<u8>>, bool), Errno> {
    let mut todo: VecDeque<Vec<u8>> = comps.iter().cloned().collect();
    let mut cur: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(comp) = todo.pop_front() {
        match comp.as_slice() {
            b"" | b"." => continue,
            b".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let dir = open_in(root, &join(&cur), OFlags::PATH | OFlags::DIRECTORY)?;
        let st = match rfs::statat(&dir, comp.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) if todo.iter().all(|c| c.is_empty() || c == b".") => {
                cur.push(comp);
                return Ok((cur, false));
            }
            Err(e) => return Err(e),
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        let last = todo.is_empty();
        if ft == FileType::Symlink && (follow_last || !last) {
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::LOOP);
            }
            let target = rfs::readlinkat(&dir, comp.as_slice(), Vec::new())?;
            let target = target.as_bytes();
            if target.starts_with(b"/") {
                cur.clear();
            }
            for c in target.split(|b| *b == b'/').rev() {
                if !c.is_empty() {
                    todo.push_front(c.to_vec());
                }
            }
            continue;
        }
        if !last && ft != FileType::Directory {
            return Err(Errno::NOTDIR);
        }
        cur.push(comp);
    }
    Ok((cur, true))
}

/// `/proc/<pid>/root` of a running container, if it is the container's root mount (a pid
/// recycled since would show some other root).
fn running_root(pid: i32, rootfs: &Path) -> Option<OwnedFd> {
    let fd = rfs::open(
        format!("/proc/{pid}/root"),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let a = rfs::fstat(&fd).ok()?;
    let b = rfs::stat(rootfs).ok()?;
    (a.st_dev == b.st_dev && a.st_ino == b.st_ino).then_some(fd)
}
