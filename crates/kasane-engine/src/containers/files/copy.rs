//! `cp`: copying out of a container (to a host path or as a tar stream) and into it (from a
//! host path or a tar stream), with docker's destination rules.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use kasane_snapshot::archive::{self, ApplyOptions, WhiteoutMode};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::confined::{clean_components, open_in, resolve_in_root};
use super::{
    CAPABILITY_XATTR, CopyOptions, Exact, TarOut, WHITEOUT_PREFIX, append_capability, capability,
    fd_path, join, join_name, list_names, open_regular, open_subdir, os_path,
};
use crate::Engine;
use crate::error::{EngineError, Result};

impl Engine {
    /// `cp CONTAINER:SRC DEST`: copies `src` out of the container to the host path `dest`,
    /// with docker's rules (an existing directory receives the source by name, `SRC/.`
    /// copies a directory's contents). Modes and mtimes are kept; files belong to the caller.
    /// Returns the bytes of file content copied.
    ///
    /// # Errors
    /// `NoSuchContainer`; `NotFound` for a source that does not exist in the container;
    /// `InvalidArgument` for impossible combinations (a directory onto a file…); I/O errors.
    pub fn copy_from_container(
        &mut self,
        name: &str,
        src: &str,
        dest: &Path,
        opts: &CopyOptions,
    ) -> Result<u64> {
        let record = self.find_container(name)?;
        let dest = dest.to_path_buf();
        self.with_rootfs(&record, |root| {
            let source = ContainerSource::open(root, src, opts.follow_link, name)?;
            let target = host_target(&dest, source.is_dir, source.contents, &source.base)?;
            let mut w = HostWriter::default();
            let what =
                |e: io::Error| EngineError::io(format!("copying {src} to {}", dest.display()), e);
            match target {
                HostTarget::Into(dir) => {
                    let fd = source.open_dir().map_err(what)?;
                    w.children(fd.as_fd(), &dir).map_err(what)?;
                }
                HostTarget::At(path) => w
                    .node(source.parent.as_fd(), &source.name, &path)
                    .map_err(what)?,
            }
            Ok(w.copied)
        })
    }

    /// `cp CONTAINER:SRC -`: writes `src` as a tar stream (named by its base name) to `out`.
    /// Returns the bytes of file content copied.
    ///
    /// # Errors
    /// As [`Engine::copy_from_container`].
    pub fn copy_from_container_tar(
        &mut self,
        name: &str,
        src: &str,
        out: &mut dyn Write,
        opts: &CopyOptions,
    ) -> Result<u64> {
        let record = self.find_container(name)?;
        self.with_rootfs(&record, |root| {
            let source = ContainerSource::open(root, src, opts.follow_link, name)?;
            let what = |e: io::Error| EngineError::io(format!("archiving {src}"), e);
            let mut t = TarOut::new(&mut *out);
            if source.contents {
                let fd = source.open_dir().map_err(what)?;
                for n in list_names(fd.as_fd()).map_err(what)? {
                    t.tree(fd.as_fd(), &n, &n).map_err(what)?;
                }
            } else {
                t.tree(source.parent.as_fd(), &source.name, &source.base)
                    .map_err(what)?;
            }
            let copied = t.content;
            t.finish().map_err(what)?;
            Ok(copied)
        })
    }

    /// `cp SRC CONTAINER:DEST`: copies the host path `src` into the container at `dest`, with
    /// docker's rules. Modes, mtimes and owners are kept (`-a`: owned by the container's
    /// user). Returns the bytes of file content copied.
    ///
    /// # Errors
    /// `NoSuchContainer`; `NotFound` when the destination's directory does not exist in the
    /// container; `InvalidArgument` for impossible combinations; `Unpack` when the copy
    /// cannot be written; I/O errors reading `src`.
    pub fn copy_to_container(
        &mut self,
        name: &str,
        src: &Path,
        dest: &str,
        opts: &CopyOptions,
    ) -> Result<u64> {
        let record = self.find_container(name)?;
        let copts = self.container_options(&record)?;
        let raw = src.as_os_str().as_bytes();
        let contents = raw.ends_with(b"/.") || raw == b".";
        let meta = if opts.follow_link {
            std::fs::metadata(src)
        } else {
            std::fs::symlink_metadata(src)
        }
        .map_err(|e| EngineError::io(format!("lstat {}", src.display()), e))?;
        if (raw.ends_with(b"/") || contents) && !meta.is_dir() {
            return Err(EngineError::InvalidArgument(format!(
                "{}: not a directory",
                src.display()
            )));
        }
        let base = host_base_name(src)?;
        let src = src.to_path_buf();
        self.with_rootfs(&record, |root| {
            let plan = container_target(root, dest, meta.is_dir(), contents, &base, name)?;
            let owner = if opts.archive {
                container_owner(root, copts.user.as_deref())?
            } else {
                None
            };
            let follow = opts.follow_link;
            let build = |b: &mut tar::Builder<io::BufWriter<io::PipeWriter>>| -> io::Result<u64> {
                let mut acc = HostTarAcc::default();
                match &plan {
                    ContainerTarget::Into(dir) => {
                        for (child, n) in host_children(&src)? {
                            host_tar(b, &child, &join_name(dir, &n), false, owner, &mut acc)?;
                        }
                    }
                    ContainerTarget::At(name) => {
                        host_tar(b, &src, name, follow, owner, &mut acc)?;
                    }
                }
                Ok(acc.copied)
            };
            apply_tar(root, build).map(|s| s.content_size)
        })
    }

    /// `cp - CONTAINER:DEST`: extracts the tar stream `input` into the existing directory
    /// `dest` of the container (confined to that directory). Returns the bytes of file
    /// content written.
    ///
    /// # Errors
    /// `NoSuchContainer`; `NotFound` when `dest` is not a directory of the container;
    /// `Unpack` for a bad or hostile tar.
    pub fn copy_tar_to_container(
        &mut self,
        name: &str,
        input: &mut dyn Read,
        dest: &str,
    ) -> Result<u64> {
        let record = self.find_container(name)?;
        self.with_rootfs(&record, |root| {
            let missing = || {
                EngineError::NotFound(format!(
                    "Could not find the file {dest} in container {name}"
                ))
            };
            let (comps, exists) = resolve_in_root(root, &clean_components(dest.as_bytes()), true)
                .map_err(|_| missing())?;
            if !exists {
                return Err(missing());
            }
            let dir =
                open_in(root, &join(&comps), OFlags::RDONLY | OFlags::DIRECTORY).map_err(|_| {
                    EngineError::InvalidArgument(format!(
                        "extraction point is not a directory: {dest}"
                    ))
                })?;
            let opts = ApplyOptions {
                whiteouts: WhiteoutMode::Delete,
                preserve_owners: rustix::process::geteuid().is_root(),
                ..ApplyOptions::default()
            };
            let stats = archive::apply(&fd_path(dir.as_fd()), input, &opts).map_err(|e| {
                EngineError::Unpack {
                    subject: format!("cp into {name}"),
                    layer: "-".to_owned(),
                    source: Box::new(e),
                }
            })?;
            Ok(stats.content_size)
        })
    }
}

/// The source of a copy out of a container.
pub(super) struct ContainerSource {
    /// Handle on its directory.
    pub(super) parent: OwnedFd,
    /// Its name there (`.` for the root).
    pub(super) name: Vec<u8>,
    /// The name it gets at the destination.
    pub(super) base: Vec<u8>,
    pub(super) is_dir: bool,
    /// `SRC/.`: the contents of a directory.
    pub(super) contents: bool,
}

impl ContainerSource {
    pub(super) fn open(
        root: BorrowedFd<'_>,
        src: &str,
        follow: bool,
        container: &str,
    ) -> Result<ContainerSource> {
        let raw = src.as_bytes();
        let contents = raw.ends_with(b"/.") || raw == b".";
        let trailing = raw.ends_with(b"/") || contents;
        let missing = || {
            EngineError::NotFound(format!(
                "Could not find the file {src} in container {container}"
            ))
        };
        let comps = clean_components(raw);
        let (real, exists) = resolve_in_root(root, &comps, follow || trailing).map_err(|e| {
            if matches!(e, Errno::NOENT | Errno::NOTDIR) {
                missing()
            } else {
                EngineError::io(
                    format!("resolving {src} in container {container}"),
                    e.into(),
                )
            }
        })?;
        if !exists {
            return Err(missing());
        }
        let (parent_comps, name) = match real.split_last() {
            Some((last, parent)) => (parent.to_vec(), last.clone()),
            None => (Vec::new(), b".".to_vec()),
        };
        let parent = open_in(root, &join(&parent_comps), OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|_| missing())?;
        let st = rfs::statat(&parent, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|_| missing())?;
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if trailing && !is_dir {
            return Err(EngineError::InvalidArgument(format!(
                "{src}: not a directory"
            )));
        }
        // The name the source was asked by (`-L` copies a link's target under the link's
        // name, as docker does).
        let base = comps.last().cloned().unwrap_or_else(|| b".".to_vec());
        Ok(ContainerSource {
            parent,
            name,
            base,
            is_dir,
            contents,
        })
    }

    fn open_dir(&self) -> io::Result<OwnedFd> {
        open_subdir(self.parent.as_fd(), &self.name)
    }
}

/// Where a copy lands on the host.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HostTarget {
    /// The source node is written at this path.
    At(PathBuf),
    /// The source directory's children are written into this existing directory.
    Into(PathBuf),
}

/// docker's `CopyInfoDestinationPath` on the host side.
pub(super) fn host_target(
    dest: &Path,
    src_dir: bool,
    contents: bool,
    base: &[u8],
) -> Result<HostTarget> {
    let raw = dest.as_os_str().as_bytes();
    match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => {
            if src_dir && contents {
                Ok(HostTarget::Into(dest.to_path_buf()))
            } else {
                Ok(HostTarget::At(dest.join(OsStr::from_bytes(base))))
            }
        }
        Ok(_) => {
            if src_dir {
                Err(EngineError::InvalidArgument(format!(
                    "cannot copy a directory to a file: {}",
                    dest.display()
                )))
            } else if raw.ends_with(b"/") {
                Err(EngineError::InvalidArgument(format!(
                    "{}: not a directory",
                    dest.display()
                )))
            } else {
                Ok(HostTarget::At(dest.to_path_buf()))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if raw.ends_with(b"/") && !src_dir {
                return Err(EngineError::InvalidArgument(format!(
                    "destination directory {} must exist",
                    dest.display()
                )));
            }
            let parent = match dest.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if !std::fs::metadata(parent).is_ok_and(|m| m.is_dir()) {
                return Err(EngineError::io(
                    format!("copying to {}", dest.display()),
                    io::Error::new(io::ErrorKind::NotFound, "no such directory"),
                ));
            }
            Ok(HostTarget::At(dest.to_path_buf()))
        }
        Err(e) => Err(EngineError::io(format!("stat {}", dest.display()), e)),
    }
}

/// Writes container nodes to the host as docker's client does (`NoLchown`): modes, mtimes,
/// symlinks, hard links, special files and file capabilities kept, owned by the caller.
#[derive(Default)]
pub(super) struct HostWriter {
    copied: u64,
    /// Where the first name of each multiply linked file went, by (device, inode).
    links: HashMap<(u64, u64), PathBuf>,
}

impl HostWriter {
    /// Writes node `name` of `dir` (not followed) at `dest`.
    pub(super) fn node(&mut self, dir: BorrowedFd<'_>, name: &[u8], dest: &Path) -> io::Result<()> {
        let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let existing = std::fs::symlink_metadata(dest).ok();
        if ft == FileType::Directory {
            let fd = open_subdir(dir, name)?;
            match &existing {
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    return Err(io::Error::other(format!(
                        "cannot overwrite non-directory {} with directory",
                        dest.display()
                    )));
                }
                None => std::fs::create_dir(dest)?,
            }
            self.children(fd.as_fd(), dest)?;
            set_mode(dest, st.st_mode)?;
            return set_mtime(dest, &st);
        }
        if let Some(m) = &existing
            && m.is_dir()
        {
            return Err(io::Error::other(format!(
                "cannot overwrite directory {} with non-directory",
                dest.display()
            )));
        }
        let replace = |dest: &Path| match &existing {
            Some(_) => std::fs::remove_file(dest),
            None => Ok(()),
        };
        match ft {
            FileType::RegularFile => {
                let inode = (st.st_dev, st.st_ino);
                if let Some(first) = self.links.get(&inode).filter(|_| st.st_nlink > 1) {
                    replace(dest)?;
                    return std::fs::hard_link(first, dest);
                }
                let (mut src, st) = open_regular(dir, name)?;
                replace(dest)?;
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(dest)?;
                self.copied += io::copy(&mut src, &mut out)?;
                // After the content: a write drops file capabilities.
                if let Some(cap) = capability(src.as_fd()) {
                    match rfs::fsetxattr(&out, CAPABILITY_XATTR, &cap, rfs::XattrFlags::empty()) {
                        // Without CAP_SETFCAP, or on a file system without xattrs, the copy
                        // goes without, as docker's client does.
                        Ok(()) | Err(Errno::PERM | Errno::NOTSUP) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                drop(out);
                set_mode(dest, st.st_mode)?;
                set_mtime(dest, &st)?;
                if st.st_nlink > 1 {
                    self.links.insert(inode, dest.to_path_buf());
                }
                Ok(())
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, name, Vec::new())?;
                replace(dest)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(target.as_bytes()), dest)?;
                set_mtime(dest, &st)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                replace(dest)?;
                rfs::mknodat(
                    rfs::CWD,
                    dest,
                    ft,
                    Mode::from_raw_mode(st.st_mode & 0o7777),
                    st.st_rdev,
                )?;
                set_mode(dest, st.st_mode)?;
                set_mtime(dest, &st)
            }
            // Sockets are skipped, as docker's tar does.
            _ => Ok(()),
        }
    }

    /// Writes every child of the directory `dir` into the host directory `dest`.
    fn children(&mut self, dir: BorrowedFd<'_>, dest: &Path) -> io::Result<()> {
        for n in list_names(dir)? {
            self.node(dir, &n, &dest.join(OsStr::from_bytes(&n)))?;
        }
        Ok(())
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    Ok(rfs::chmodat(
        rfs::CWD,
        path,
        Mode::from_raw_mode(mode & 0o7777),
        AtFlags::empty(),
    )?)
}

fn set_mtime(path: &Path, st: &Stat) -> io::Result<()> {
    let ts = rfs::Timespec {
        tv_sec: st.st_mtime,
        tv_nsec: st.st_mtime_nsec as _,
    };
    Ok(rfs::utimensat(
        rfs::CWD,
        path,
        &rfs::Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// Where a copy lands in the container: tar names relative to its root.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ContainerTarget {
    /// The source is written under this name.
    At(Vec<u8>),
    /// The source directory's children are written into this existing directory.
    Into(Vec<u8>),
}

/// docker's `CopyInfoDestinationPath` inside the container: resolves `dest` (symlinks
/// followed within the root) and decides the name of the copy.
pub(super) fn container_target(
    root: BorrowedFd<'_>,
    dest: &str,
    src_dir: bool,
    contents: bool,
    base: &[u8],
    container: &str,
) -> Result<ContainerTarget> {
    let raw = dest.as_bytes();
    let want_dir = raw.ends_with(b"/") || raw.ends_with(b"/.");
    let comps = clean_components(raw);
    let missing = |what: &[u8]| {
        EngineError::NotFound(format!(
            "Could not find the file {} in container {container}",
            String::from_utf8_lossy(what)
        ))
    };
    let (real, exists) = resolve_in_root(root, &comps, true).map_err(|e| match e {
        Errno::NOENT | Errno::NOTDIR => missing(raw),
        e => EngineError::io(
            format!("resolving {dest} in container {container}"),
            e.into(),
        ),
    })?;
    let target = if exists {
        let fd = open_in(root, &join(&real), OFlags::PATH).map_err(|_| missing(raw))?;
        let st = rfs::fstat(&fd).map_err(|e| EngineError::io(format!("stat {dest}"), e.into()))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            if src_dir && contents {
                return Ok(ContainerTarget::Into(join(&real)));
            }
            join_name(&join(&real), base)
        } else if src_dir {
            return Err(EngineError::InvalidArgument(format!(
                "cannot copy a directory to a file: {dest}"
            )));
        } else if want_dir {
            return Err(EngineError::InvalidArgument(format!(
                "{dest}: not a directory"
            )));
        } else {
            join(&real)
        }
    } else {
        if want_dir && !src_dir {
            return Err(EngineError::InvalidArgument(format!(
                "destination directory {dest} must exist"
            )));
        }
        join(&real)
    };
    let name = target.rsplit(|c| *c == b'/').next().unwrap_or(&target);
    if name.starts_with(WHITEOUT_PREFIX) {
        return Err(EngineError::InvalidArgument(format!(
            "cannot copy to {}: names starting with .wh. are reserved for layer whiteouts",
            String::from_utf8_lossy(&target)
        )));
    }
    // docker's `NoOverwriteDirNonDir`: a directory is never replaced by a file or the
    // reverse.
    if let Ok(fd) = open_in(root, &target, OFlags::PATH | OFlags::NOFOLLOW)
        && let Ok(st) = rfs::fstat(&fd)
    {
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        let shown = String::from_utf8_lossy(&target);
        if is_dir && !src_dir {
            return Err(EngineError::InvalidArgument(format!(
                "cannot overwrite directory \"/{shown}\" with non-directory"
            )));
        }
        if !is_dir && src_dir {
            return Err(EngineError::InvalidArgument(format!(
                "cannot overwrite non-directory \"/{shown}\" with directory"
            )));
        }
    }
    Ok(ContainerTarget::At(target))
}

/// The name a host source gets at its destination.
fn host_base_name(src: &Path) -> Result<Vec<u8>> {
    if let Some(n) = src.file_name() {
        return Ok(n.as_bytes().to_vec());
    }
    let abs = std::fs::canonicalize(src)
        .map_err(|e| EngineError::io(format!("resolving {}", src.display()), e))?;
    Ok(abs
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_else(|| b".".to_vec()))
}

/// The entries of host directory `dir`, sorted by name.
fn host_children(dir: &Path) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| (e.path(), e.file_name().as_bytes().to_vec())))
        .collect::<io::Result<_>>()?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// What [`host_tar`] has written so far: bytes of file content, and the first name of each
/// multiply linked file (its other names become hard links, as in docker's archives).
#[derive(Default)]
pub(super) struct HostTarAcc {
    pub(super) copied: u64,
    links: HashMap<(u64, u64), Vec<u8>>,
}

/// Appends the host node `src` (and below) as `name`, as docker's client archives it: mode,
/// owner (or `owner`), mtime in seconds, hard links as links, file capabilities.
pub(super) fn host_tar<W: Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    name: &[u8],
    follow: bool,
    owner: Option<(u32, u32)>,
    acc: &mut HostTarAcc,
) -> io::Result<()> {
    let meta = if follow {
        std::fs::metadata(src)?
    } else {
        std::fs::symlink_metadata(src)?
    };
    let base = name.rsplit(|c| *c == b'/').next().unwrap_or(name);
    if base.starts_with(WHITEOUT_PREFIX) {
        return Err(io::Error::other(format!(
            "{}: names starting with .wh. are reserved for layer whiteouts",
            src.display()
        )));
    }
    let (uid, gid) = owner.unwrap_or((meta.uid(), meta.gid()));
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    h.set_size(0);
    let ft = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        let mut n = name.to_vec();
        n.push(b'/');
        b.append_data(&mut h, os_path(&n), io::empty())?;
        for (child, n) in host_children(src)? {
            host_tar(b, &child, &join_name(name, &n), false, owner, acc)?;
        }
    } else if ft.is_file() {
        let inode = (meta.dev(), meta.ino());
        if let Some(first) = acc.links.get(&inode).filter(|_| meta.nlink() > 1) {
            h.set_entry_type(tar::EntryType::Link);
            b.append_link(&mut h, os_path(name), os_path(first))?;
            return Ok(());
        }
        let file = File::open(src)?;
        append_capability(b, file.as_fd())?;
        let size = file.metadata()?.len();
        h.set_size(size);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(
            &mut h,
            os_path(name),
            Exact {
                inner: file,
                left: size,
            },
        )?;
        acc.copied += size;
        if meta.nlink() > 1 {
            acc.links.insert(inode, name.to_vec());
        }
    } else if ft.is_symlink() {
        let target = std::fs::read_link(src)?;
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, os_path(name), &target)?;
    } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
        h.set_entry_type(if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else {
            tar::EntryType::Fifo
        });
        if !ft.is_fifo() {
            h.set_device_major(rfs::major(meta.rdev()))?;
            h.set_device_minor(rfs::minor(meta.rdev()))?;
        }
        b.append_data(&mut h, os_path(name), io::empty())?;
    }
    // Sockets are skipped, as docker does.
    Ok(())
}

/// Streams the tar `build` writes into [`archive::apply`] rooted at the container's root.
pub(super) fn apply_tar(
    root: BorrowedFd<'_>,
    build: impl FnOnce(&mut tar::Builder<io::BufWriter<io::PipeWriter>>) -> io::Result<u64> + Send,
) -> Result<archive::ApplyStats> {
    let (reader, writer) = io::pipe().map_err(|e| EngineError::io("creating a pipe", e))?;
    let opts = ApplyOptions {
        // Names starting with `.wh.` are refused before they get here.
        whiteouts: WhiteoutMode::Delete,
        preserve_owners: rustix::process::geteuid().is_root(),
        ..ApplyOptions::default()
    };
    let root_path = fd_path(root);
    let (applied, written) = std::thread::scope(|s| {
        let h = s.spawn(move || -> io::Result<u64> {
            let mut b = tar::Builder::new(io::BufWriter::with_capacity(1 << 16, writer));
            let copied = build(&mut b)?;
            b.into_inner()?.flush()?;
            Ok(copied)
        });
        let applied = archive::apply(&root_path, reader, &opts);
        let written = h
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the archive writer panicked")));
        (applied, written)
    });
    written.map_err(|e| EngineError::io("reading the files to copy", e))?;
    applied.map_err(|e| EngineError::Unpack {
        subject: "cp".to_owned(),
        layer: "-".to_owned(),
        source: Box::new(e),
    })
}

/// The uid/gid of the container's `--user` (for `cp -a`), resolved in its own
/// `/etc/passwd` and `/etc/group`; `None` without a user.
fn container_owner(root: BorrowedFd<'_>, user: Option<&str>) -> Result<Option<(u32, u32)>> {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let u = kasane_runtime::resolve_user(&fd_path(root), user)?;
    Ok(Some((u.uid, u.gid)))
}
