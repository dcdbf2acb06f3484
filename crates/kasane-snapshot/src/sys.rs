//! The syscall seam: rooted opens, xattrs by directory handle, mounts and `syncfs`.
//!
//! Owns: every mount and unmount kasane-snapshot does, and the few operations that must go
//! through `/proc/self/fd` because Linux has no `*xattrat` calls before 6.13. Everything here
//! is built on `rustix`, so there is no `unsafe` in this crate.
//!
//! Guarantees:
//! - [`open_in_root`] resolves with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: absolute symlinks
//!   and `..` are clamped to the root handle, so no path it returns is outside the root.
//! - xattrs of a node are read and written as `/proc/self/fd/<parent>/<name>` with the `l*`
//!   calls: the parent is a handle we resolved ourselves, `name` is one component, and the last
//!   component is never followed.
//! - [`mount_all`] uses the new mount API (`fsopen`/`fsconfig`/`fsmount`/`move_mount`) and
//!   passes overlay lower directories one by one (`lowerdir+`, Linux 6.8+), so the one-page
//!   limit of `mount(2)` data does not bound the number of layers. On older kernels it falls
//!   back to a single `lowerdir=` string, which the kernel caps at one page (4096 bytes, about
//!   40–60 layers with kasane's paths); longer option strings fail with a clear error.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};

use crate::error::{SnapshotError, os};
use crate::snapshotter::{Mount, VOLATILE};

/// Opens a directory for use as a `*at` handle (and for `fchown`/`fsetxattr` on itself).
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(os)
}

/// Opens `path` below `root` with every component, symlinks included, confined to `root`
/// (`openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, retried on `EAGAIN`): how
/// kasane opens anything inside an untrusted tree (a layer, a container's root).
///
/// `path` may be empty, which opens `root` itself again.
///
/// # Errors
/// The `openat2` error.
pub fn open_in_root(root: BorrowedFd<'_>, path: &[u8], flags: OFlags) -> Result<OwnedFd, Errno> {
    let path: &[u8] = if path.is_empty() { b"." } else { path };
    loop {
        match rfs::openat2(
            root,
            path,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            // openat2(2): EAGAIN when a concurrent rename could have let ".." escape; retry.
            Err(Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

/// Opens `path` below `top` without following any symlink and without leaving `top`:
/// for re-opening directories of a tree kasane walks.
pub(crate) fn open_beneath(
    top: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
) -> Result<OwnedFd, Errno> {
    let path: &[u8] = if path.is_empty() { b"." } else { path };
    loop {
        match rfs::openat2(
            top,
            path,
            flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

/// `/proc/self/fd/<dir>/<name>`: names `name` inside the directory handle `dir` for the path-only
/// xattr calls. `name` must be a single component (no `/`, not `..`).
fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    p
}

/// Sets xattr `key` on the node `name` in `dir`, without following it if it is a symlink.
pub(crate) fn set_xattr_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    key: &[u8],
    value: &[u8],
) -> Result<(), Errno> {
    debug_assert!(!name.contains(&b'/') && name != b".." && name != b".");
    rfs::lsetxattr(proc_path(dir, name), key, value, rfs::XattrFlags::empty())
}

/// Sets xattr `key` on an open file or directory.
pub(crate) fn set_xattr_fd(fd: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> Result<(), Errno> {
    rfs::fsetxattr(fd, key, value, rfs::XattrFlags::empty())
}

/// Extended attributes as (name, value) pairs.
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// All xattrs of the node `name` in `dir` (not followed), sorted by name.
pub(crate) fn xattrs_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Xattrs, Errno> {
    let path = proc_path(dir, name);
    let mut names = Vec::new();
    loop {
        let size = rfs::llistxattr_query(&path)?;
        if size == 0 {
            return Ok(Vec::new());
        }
        names.resize(size, 0);
        match rfs::llistxattr(&path, &mut names[..]) {
            Ok(n) => {
                names.truncate(n);
                break;
            }
            // The list grew between the two calls.
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
    let mut out = Vec::new();
    for key in names.split(|b| *b == 0).filter(|k| !k.is_empty()) {
        let mut value = Vec::new();
        loop {
            let size = match rfs::lgetxattr_query(&path, key) {
                Ok(n) => n,
                // Removed between list and get.
                Err(Errno::NODATA) => break,
                Err(e) => return Err(e),
            };
            value.resize(size, 0);
            match rfs::lgetxattr(&path, key, &mut value[..]) {
                Ok(n) => {
                    value.truncate(n);
                    out.push((key.to_vec(), std::mem::take(&mut value)));
                    break;
                }
                Err(Errno::RANGE) => continue,
                Err(Errno::NODATA) => break,
                Err(e) => return Err(e),
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Flushes the filesystem holding `root` to stable storage (`syncfs(2)`).
///
/// A snapshot is applied without any per-file fsync; [`crate::Snapshotter::commit`] calls this
/// once, which is far cheaper than an fsync per file and gives the same guarantee for the tree.
///
/// # Errors
/// [`SnapshotError::Io`] when `root` cannot be opened or the sync fails (for example EIO).
pub fn sync_tree(root: &Path) -> Result<(), SnapshotError> {
    let io_err = |source| SnapshotError::Io {
        op: "syncing filesystem of",
        path: root.to_path_buf(),
        source,
    };
    let fd = open_dir(root).map_err(io_err)?;
    rfs::syncfs(&fd).map_err(|e| io_err(os(e)))
}

/// Mounts `mounts` at `target` in order (a mount with `target: Some(t)` goes to `target/t`).
///
/// Supported kinds: `overlay` (options as in `mount -t overlay`, `ro` allowed) and
/// `bind`/`rbind` (option `ro` makes a read-only bind). On failure the mounts already made by
/// this call are detached again.
///
/// # Errors
/// [`SnapshotError::Mount`] naming the target, with the kernel's overlayfs message if it gave one.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), SnapshotError> {
    let mut done: Vec<std::path::PathBuf> = Vec::new();
    for m in mounts {
        let at = match &m.target {
            None => target.to_path_buf(),
            Some(t) => target.join(t.trim_start_matches('/')),
        };
        let r = match m.kind.as_str() {
            "overlay" => mount_overlay(m, &at),
            "bind" | "rbind" => mount_bind(m, &at),
            other => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("unsupported mount type {other:?}"),
            )),
        };
        if let Err(source) = r {
            for d in done.iter().rev() {
                // Best effort: the original error is what the caller needs to see.
                let _ = rustix::mount::unmount(d.as_path(), UnmountFlags::DETACH);
            }
            return Err(SnapshotError::Mount {
                op: "mounting",
                kind: m.kind.clone(),
                target: at,
                source,
            });
        }
        done.push(at);
    }
    Ok(())
}

/// Unmounts `target` (not lazily: a busy mount is an error).
///
/// # Errors
/// [`SnapshotError::Mount`] with EBUSY when something still uses the mount, EINVAL when
/// `target` is not a mount point.
pub fn unmount(target: &Path) -> Result<(), SnapshotError> {
    rustix::mount::unmount(target, UnmountFlags::empty()).map_err(|e| SnapshotError::Mount {
        op: "unmounting",
        kind: "mount".to_owned(),
        target: target.to_path_buf(),
        source: os(e),
    })
}

fn mount_bind(m: &Mount, at: &Path) -> io::Result<()> {
    let source = Path::new(&m.source);
    if m.kind == "rbind" || m.options.iter().any(|o| o == "rbind") {
        rustix::mount::mount_bind_recursive(source, at).map_err(os)?;
    } else {
        rustix::mount::mount_bind(source, at).map_err(os)?;
    }
    if m.options.iter().any(|o| o == "ro") {
        // A bind mount ignores MS_RDONLY on creation; it takes a remount (mount(2), "bind").
        if let Err(e) = rustix::mount::mount_remount(at, MountFlags::BIND | MountFlags::RDONLY, "")
        {
            let _ = rustix::mount::unmount(at, UnmountFlags::DETACH);
            return Err(os(e));
        }
    }
    Ok(())
}

fn mount_overlay(m: &Mount, at: &Path) -> io::Result<()> {
    let fs = match rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => fd,
        Err(Errno::NOSYS) => return mount_overlay_legacy(m, at),
        Err(e) => return Err(os(e)),
    };
    let mut attrs = MountAttrFlags::empty();
    for opt in &m.options {
        let r = match opt.split_once('=') {
            None if opt == "ro" => {
                attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY;
                Ok(())
            }
            None if opt == VOLATILE => {
                clear_volatile_mark(m)?;
                // Only speed depends on it: a kernel without it (before 5.10) mounts without.
                match rustix::mount::fsconfig_set_flag(&fs, VOLATILE) {
                    Err(Errno::INVAL) => Ok(()),
                    r => r,
                }
            }
            None => rustix::mount::fsconfig_set_flag(&fs, opt.as_str()),
            Some(("lowerdir", dirs)) => set_lowerdirs(&fs, dirs),
            Some((key, value)) => rustix::mount::fsconfig_set_string(&fs, key, value),
        };
        r.map_err(|e| fs_context_error(&fs, e))?;
    }
    rustix::mount::fsconfig_create(&fs).map_err(|e| fs_context_error(&fs, e))?;
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(|e| fs_context_error(&fs, e))?;
    rustix::mount::move_mount(
        mnt.as_fd(),
        "",
        rfs::CWD,
        at,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(os)
}

/// Removes the mark an earlier volatile mount of `m`'s directories left
/// (`<workdir>/work/incompat/volatile`), without which the kernel refuses to mount them
/// again: a container whose monitor was killed can then start once more.
fn clear_volatile_mark(m: &Mount) -> io::Result<()> {
    let Some(workdir) = m.options.iter().find_map(|o| o.strip_prefix("workdir=")) else {
        return Ok(());
    };
    let incompat = Path::new(workdir).join("work").join("incompat");
    match std::fs::remove_dir_all(&incompat) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Passes `a:b:c` as `lowerdir+` one directory at a time; `lowerdir+` is Linux 6.8+, so on
/// EINVAL for the first one fall back to the whole string.
fn set_lowerdirs(fs: &OwnedFd, dirs: &str) -> Result<(), Errno> {
    for (i, dir) in dirs.split(':').enumerate() {
        match rustix::mount::fsconfig_set_string(fs, "lowerdir+", dir) {
            Err(Errno::INVAL) if i == 0 => {
                return rustix::mount::fsconfig_set_string(fs, "lowerdir", dirs);
            }
            r => r?,
        }
    }
    Ok(())
}

/// The errno, plus the messages the kernel queued on the fs context ("e overlay: ...").
fn fs_context_error(fs: &OwnedFd, e: Errno) -> io::Error {
    let mut msgs = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = rustix::io::read(fs, &mut buf) {
        if n == 0 || msgs.len() >= 8 {
            break;
        }
        msgs.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_owned());
    }
    if msgs.is_empty() {
        os(e)
    } else {
        io::Error::new(os(e).kind(), format!("{}: {}", os(e), msgs.join("; ")))
    }
}

fn mount_overlay_legacy(m: &Mount, at: &Path) -> io::Result<()> {
    let mut flags = MountFlags::empty();
    let data: Vec<&str> = m
        .options
        .iter()
        .filter(|o| {
            if o.as_str() == "ro" {
                flags |= MountFlags::RDONLY;
                false
            } else {
                // Kernels without the new mount API (before 5.2) have no volatile mounts.
                o.as_str() != VOLATILE
            }
        })
        .map(String::as_str)
        .collect();
    let data = data.join(",");
    // mount(2) copies at most one page of data; 4096 is the smallest Linux page size, so this
    // check is conservative on 64 KiB-page kernels.
    let page = 4096;
    if data.len() >= page {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "overlay options are {} bytes, more than this kernel accepts ({} bytes); \
                 Linux 6.8+ lifts the limit",
                data.len(),
                page - 1
            ),
        ));
    }
    let data =
        std::ffi::CString::new(data).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    rustix::mount::mount(m.source.as_str(), at, "overlay", flags, data.as_c_str()).map_err(os)
}

/// Whether `name` (from a directory listing) is `.` or `..`.
pub(crate) fn is_dot(name: &CStr) -> bool {
    matches!(name.to_bytes(), b"." | b"..")
}
