//! A container's files and processes: `diff`, `cp`, `commit`, `export` and `top`.
//!
//! # Confinement
//! Everything inside a container is hostile: its symlinks may point anywhere, absolute or
//! with `..`, and a running container may swap directories for symlinks while kasane works.
//! So no container path is ever joined to a host path and handed to `std::fs`. Paths are
//! cleaned lexically first (docker's `cleanScopedPath`), then resolved component by component
//! from a handle on the container's root: symlinks are read with `readlinkat` and followed
//! with the root as `/` ([`resolve_in_root`](confined::resolve_in_root)), and every open is an
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the root handle or an `openat`
//! with `O_NOFOLLOW` from a directory handle. Regular files are opened `O_PATH` first and
//! re-opened only once `fstat` says they are regular files, so a device node is never opened.
//! Files copied *into* a container go through [`kasane_snapshot::archive::apply`], the
//! hardened extractor used for hostile layers, rooted at the container's root.
//!
//! # Which root
//! A running container is reached through `/proc/<init>/root` (its own mount namespace, so
//! volumes and the `/etc/hosts` files are what the container sees), checked to be the
//! container's overlay mount so a recycled pid cannot point kasane at the host's root. A
//! stopped container's rootfs is mounted for the operation under its monitor lock, so it
//! cannot start meanwhile.
//!
//! # `diff`
//! Overlay: the container's upper dir *is* its change set. Every node in it is `A` (added) or
//! `C` (changed: the path exists in the image's layers, looked up top-first the way overlayfs
//! merges them), a `0/0` character device is `D`, and for an opaque directory every path of
//! the layers below that it hides is `D`. Parent directories of a change show as `C` because
//! overlayfs copies them up. Native: the container's tree is compared with the image's top
//! layer (docker's `ChangesDirs`). Output is in walk order: parents first, siblings by name.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};

mod commit;
mod confined;
mod copy;
mod diff;
mod export;
mod top;

#[cfg(test)]
mod tests;

/// Prefix of OCI whiteout names; such names cannot be copied into a container.
const WHITEOUT_PREFIX: &[u8] = b".wh.";

/// `cp` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-L`: follow a symlink named as the source (inside the container: within its root).
    pub follow_link: bool,
    /// `-a`: files copied into the container belong to the container's `--user` (when it
    /// has one) instead of keeping the source's owners.
    pub archive: bool,
}

/// `commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `REPOSITORY[:TAG]` to tag the new image with.
    pub reference: Option<String>,
    /// `-m`: the commit message (history comment).
    pub message: Option<String>,
    /// `-a`: the author.
    pub author: Option<String>,
    /// `-c`: Dockerfile instructions applied to the config, as `import --change`.
    pub changes: Vec<String>,
    /// `-p` (docker's default): freeze a running container while its layer is read, so
    /// the layer is one moment of its files.
    pub pause: bool,
}

/// `top`: the `ps` columns and the rows of the container's processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessList {
    /// Column titles as `ps` printed them.
    pub titles: Vec<String>,
    /// One row per process, as many cells as titles (the last one holds the spaces).
    pub processes: Vec<Vec<String>>,
}

/// `a/b/c` (empty for the root).
fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    comps.join(&b'/')
}

/// `dir/name`, or `name` when `dir` is empty.
fn join_name(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut out = dir.to_vec();
    out.push(b'/');
    out.extend_from_slice(name);
    out
}

/// `/proc/self/fd/N`: a path naming exactly the directory `fd` holds, for APIs that take a
/// path (opening it follows the handle, not a name).
fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The names in directory `dir` (opened readable), sorted bytewise.
fn list_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for e in rfs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    out.sort();
    Ok(out)
}

/// Opens the directory `name` of `dir` for reading, never following a symlink.
fn open_subdir(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens the regular file `name` of `dir` for reading: `O_PATH` first, re-opened only once
/// `fstat` shows a regular file, so no device or FIFO is ever opened.
fn open_regular(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<(File, Stat)> {
    let p = rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rfs::fstat(&p)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::other(format!(
            "{} changed while being copied",
            String::from_utf8_lossy(name)
        )));
    }
    let f = rfs::open(
        fd_path(p.as_fd()),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    Ok((File::from(f), st))
}

/// The one extended attribute docker's archives carry (moby's `pkg/archive` reads only this):
/// a binary's file capabilities, kept by `cp`, `export` and `commit` as docker keeps them.
const CAPABILITY_XATTR: &str = "security.capability";

/// The file capabilities of open file `fd`, if it has any.
fn capability(fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    // vfs_cap_data is 20 or 24 bytes.
    let mut buf = [0u8; 64];
    let n = rfs::fgetxattr(fd, CAPABILITY_XATTR, &mut buf[..]).ok()?;
    Some(buf[..n].to_vec())
}

/// Precedes the next entry of `b` with the file capabilities of `fd` (a PAX
/// `SCHILY.xattr.security.capability` record), if it has any.
fn append_capability<W: Write>(b: &mut tar::Builder<W>, fd: BorrowedFd<'_>) -> io::Result<()> {
    if let Some(cap) = capability(fd) {
        let key = format!("SCHILY.xattr.{CAPABILITY_XATTR}");
        b.append_pax_extensions([(key.as_str(), cap.as_slice())])?;
    }
    Ok(())
}

fn os_path(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Writes nodes of a confined tree as tar entries (docker's layout: ustar-compatible GNU
/// headers, no user names, mtimes in seconds).
struct TarOut<W: Write> {
    b: tar::Builder<W>,
    content: u64,
    /// The first name written of each multiply-linked file, so later names become links.
    links: std::collections::HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> TarOut<W> {
    fn new(out: W) -> Self {
        TarOut {
            b: tar::Builder::new(out),
            content: 0,
            links: std::collections::HashMap::new(),
        }
    }

    /// Appends node `name` of `dir` (not followed) as `tar_name`; returns a readable handle
    /// when it is a directory.
    fn node(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        tar_name: &[u8],
    ) -> io::Result<Option<OwnedFd>> {
        let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        match ft {
            FileType::Directory => {
                let fd = open_subdir(dir, name)?;
                h.set_entry_type(tar::EntryType::Directory);
                let mut n = tar_name.to_vec();
                n.push(b'/');
                self.b.append_data(&mut h, os_path(&n), io::empty())?;
                return Ok(Some(fd));
            }
            FileType::RegularFile
                if st.st_nlink > 1 && self.links.contains_key(&(st.st_dev, st.st_ino)) =>
            {
                let first = self.links[&(st.st_dev, st.st_ino)].clone();
                h.set_entry_type(tar::EntryType::Link);
                self.b
                    .append_link(&mut h, os_path(tar_name), os_path(&first))?;
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    self.links.insert((st.st_dev, st.st_ino), tar_name.to_vec());
                }
                let (file, st) = open_regular(dir, name)?;
                append_capability(&mut self.b, file.as_fd())?;
                let size = u64::try_from(st.st_size).unwrap_or(0);
                h.set_size(size);
                h.set_entry_type(tar::EntryType::Regular);
                self.b.append_data(
                    &mut h,
                    os_path(tar_name),
                    Exact {
                        inner: file,
                        left: size,
                    },
                )?;
                self.content += size;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, name, Vec::new())?;
                h.set_entry_type(tar::EntryType::Symlink);
                self.b
                    .append_link(&mut h, os_path(tar_name), os_path(target.as_bytes()))?;
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                h.set_entry_type(match ft {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                if ft != FileType::Fifo {
                    h.set_device_major(rfs::major(st.st_rdev))?;
                    h.set_device_minor(rfs::minor(st.st_rdev))?;
                }
                self.b.append_data(&mut h, os_path(tar_name), io::empty())?;
            }
            // Sockets are skipped, as docker does.
            _ => {}
        }
        Ok(None)
    }

    /// Appends node `name` of `dir` and, for a directory, everything below it.
    fn tree(&mut self, dir: BorrowedFd<'_>, name: &[u8], tar_name: &[u8]) -> io::Result<()> {
        if let Some(fd) = self.node(dir, name, tar_name)? {
            for n in list_names(fd.as_fd())? {
                self.tree(fd.as_fd(), &n, &join_name(tar_name, &n))?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.b.finish()?;
        self.b.get_mut().flush()
    }
}

/// Reads exactly `left` bytes of `inner`: a file that shrank is an error, one that grew is
/// cut (the tar header already holds the size).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let cap = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..cap])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a file shrank while being copied",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
