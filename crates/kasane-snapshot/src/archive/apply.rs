//! [`apply`]: an untrusted layer tar stream into a directory, confined to it.
//!
//! The model, confinement rules and limits are described on the parent module. This file holds
//! the entry loop, the rooted resolution of parents (`openat2(RESOLVE_IN_ROOT)` with a
//! one-slot cache of the last parent handle) and one function per entry type.

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use kasane_oci::{Algorithm, DiffId, DigestingReader};
use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;
use tar::EntryType;

use super::pax::parse_time;
use super::{ApplyOptions, ApplyStats, WhiteoutMode};
use crate::consts::{
    OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, PAX_XATTR_PREFIX, WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE, WHITEOUT_PREFIX,
};
use crate::error::{SnapshotError, lossy, os};
use crate::walk::{self, Event, file_type};
use crate::sys;

/// Size of the buffer file data is copied through.
const COPY_BUF: usize = 512 * 1024;

/// Applies the uncompressed layer tar `layer` to the existing directory `root`.
///
/// Entries are written below `root` only (see the module docs for how hostile names, symlinks,
/// hardlinks and whiteouts are confined). Owners, permission bits (setuid/setgid/sticky
/// included), mtimes (directories last, symlinks included) and `SCHILY.xattr.*` xattrs are
/// restored. An xattr the filesystem refuses is an error, except `trusted.*` and
/// `security.selinux`, which are skipped with a debug log (they need privileges or a policy the
/// host may not have); `trusted.overlay.*` from a layer is always skipped. Nothing is fsynced.
///
/// The stream is read to its end and hashed: [`ApplyStats::diff_id`] covers every byte,
/// padding and trailing blocks included.
///
/// # Errors
/// - [`SnapshotError::Tar`], [`SnapshotError::Truncated`], [`SnapshotError::LimitExceeded`],
///   [`SnapshotError::InvalidEntry`], [`SnapshotError::UnsupportedEntry`] for bad input;
/// - [`SnapshotError::Apply`] / [`SnapshotError::Xattr`] when a filesystem operation for an
///   entry fails (a symlink loop in a parent is ELOOP, a missing hardlink target ENOENT);
/// - [`SnapshotError::DiffIdMismatch`] when `opts.expected_diff_id` does not match.
///
/// On error the tree is left partially written; the caller removes it.
pub fn apply(root: &Path, layer: impl Read, opts: &ApplyOptions) -> Result<ApplyStats, SnapshotError> {
    let root_fd = sys::open_dir(root).map_err(|source| SnapshotError::Io {
        op: "opening layer root",
        path: root.to_path_buf(),
        source,
    })?;
    let budget = Rc::new(Budget::default());
    let reader = Budgeted {
        inner: DigestingReader::new(layer, Algorithm::Sha256),
        budget: Rc::clone(&budget),
    };
    let limits = &opts.limits;
    // Extension headers, GNU long name and long link, sparse maps and the header blocks that
    // carry them: everything the parser may read before it hands out the next entry.
    let header_budget = limits
        .max_pax_size
        .saturating_add(2 * (limits.max_path as u64 + 1024))
        .saturating_add(64 * 512);

    let mut archive = tar::Archive::new(reader);
    let mut ap = Applier {
        root: root_fd.as_fd(),
        root_path: root,
        opts,
        cache_key: Vec::new(),
        cache_fd: None,
        dirs: Vec::new(),
        created: HashSet::new(),
        buf: vec![0; COPY_BUF],
        content_size: 0,
    };
    let mut bufs = Bufs::default();
    let mut count: u64 = 0;
    {
        let mut entries = archive.entries().map_err(|source| SnapshotError::Tar {
            entry: "<start>".into(),
            source,
        })?;
        loop {
            budget.remaining.set(Some(header_budget));
            let next = entries.next();
            budget.remaining.set(None);
            let mut entry = match next {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(source)) => {
                    let entry = bufs.last_name();
                    if budget.exceeded.get() {
                        return Err(SnapshotError::LimitExceeded {
                            entry,
                            what: "tar extension headers after this entry",
                            limit: limits.max_pax_size,
                        });
                    }
                    if budget.eof.get() || source.kind() == io::ErrorKind::UnexpectedEof {
                        return Err(SnapshotError::Truncated { entry });
                    }
                    return Err(SnapshotError::Tar { entry, source });
                }
            };
            count += 1;
            if count > limits.max_entries {
                return Err(SnapshotError::LimitExceeded {
                    entry: lossy(&entry.path_bytes()),
                    what: "number of tar entries",
                    limit: limits.max_entries,
                });
            }
            ap.entry(&mut entry, &mut bufs)?;
        }
    }
    if budget.eof.get() && count > 0 {
        // The stream ended at a header boundary without the end-of-archive block: a tar cut
        // short exactly between two entries.
        return Err(SnapshotError::Truncated {
            entry: bufs.last_name(),
        });
    }
    ap.finish()?;
    let content_size = ap.content_size;
    drop(ap);

    let mut reader = archive.into_inner();
    io::copy(&mut reader, &mut io::sink()).map_err(|source| SnapshotError::Tar {
        entry: bufs.last_name(),
        source,
    })?;
    let (digest, tar_size) = reader.inner.finish();
    let diff_id = DiffId(digest);
    if let Some(expected) = &opts.expected_diff_id
        && *expected != diff_id
    {
        return Err(SnapshotError::DiffIdMismatch {
            expected: expected.clone(),
            actual: diff_id,
        });
    }
    Ok(ApplyStats {
        diff_id,
        tar_size,
        content_size,
        entries: count,
    })
}

/// Bounds what the tar parser may read while looking for the next entry.
#[derive(Default)]
struct Budget {
    /// Bytes left while the parser reads headers; `None` while entry data is read.
    remaining: Cell<Option<u64>>,
    /// The parser ran out of budget.
    exceeded: Cell<bool>,
    /// The parser hit the end of the stream while reading headers.
    eof: Cell<bool>,
}

struct Budgeted<R> {
    inner: DigestingReader<R>,
    budget: Rc<Budget>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.budget.remaining.get() else {
            return self.inner.read(buf);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        if left == 0 {
            self.budget.exceeded.set(true);
            return Err(io::Error::other("tar headers exceed the size limit"));
        }
        let cap = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..cap])?;
        if n == 0 {
            self.budget.eof.set(true);
        }
        self.budget.remaining.set(Some(left - n as u64));
        Ok(n)
    }
}

/// Per-entry scratch buffers, reused across entries.
#[derive(Default)]
struct Bufs {
    /// The entry name as in the tar (for messages).
    raw: Vec<u8>,
    /// The cleaned, root-relative name.
    path: Vec<u8>,
    /// The link target as in the tar.
    link: Vec<u8>,
    /// The cleaned hardlink target.
    link_path: Vec<u8>,
    /// `SCHILY.xattr.*` records.
    xattrs: sys::Xattrs,
}

impl Bufs {
    fn last_name(&self) -> String {
        if self.raw.is_empty() && self.path.is_empty() {
            "<start>".to_owned()
        } else {
            lossy(&self.raw)
        }
    }
}

/// One entry's metadata, borrowed from [`Bufs`].
struct Meta<'a> {
    raw: &'a [u8],
    path: &'a [u8],
    parent: &'a [u8],
    name: &'a [u8],
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    xattrs: &'a sys::Xattrs,
}

impl Meta<'_> {
    fn entry(&self) -> String {
        lossy(self.raw)
    }

    fn err(&self, op: &'static str) -> impl Fn(Errno) -> SnapshotError + '_ {
        move |e| SnapshotError::Apply {
            entry: self.entry(),
            op,
            source: os(e),
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> SnapshotError {
        SnapshotError::InvalidEntry {
            entry: self.entry(),
            reason: reason.into(),
        }
    }

    fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }
}

/// A directory whose mtime is set once every entry is written.
struct DirTime {
    path: Vec<u8>,
    dev: u64,
    ino: u64,
    mtime: Timespec,
}

struct Applier<'r> {
    root: BorrowedFd<'r>,
    root_path: &'r Path,
    opts: &'r ApplyOptions,
    /// Path and `O_PATH` handle of the last entry's parent directory. An entry only ever
    /// changes its own name below its parent, so the handle stays right for the next entry
    /// with the same parent; any other parent drops it.
    cache_key: Vec<u8>,
    cache_fd: Option<OwnedFd>,
    dirs: Vec<DirTime>,
    /// Paths this layer created or replaced ([`WhiteoutMode::Delete`] only): an opaque marker
    /// keeps them and removes the rest.
    created: HashSet<Vec<u8>>,
    buf: Vec<u8>,
    content_size: u64,
}

impl Applier<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, b: &mut Bufs) -> Result<(), SnapshotError> {
        let limits = &self.opts.limits;
        b.raw.clear();
        b.raw.extend_from_slice(&entry.path_bytes());
        let name_err = |reason: String| SnapshotError::InvalidEntry {
            entry: lossy(&b.raw),
            reason,
        };
        if b.raw.len() > limits.max_path {
            return Err(SnapshotError::LimitExceeded {
                entry: lossy(&b.raw[..b.raw.len().min(64)]),
                what: "entry name length",
                limit: limits.max_path as u64,
            });
        }
        let kind = entry.header().entry_type();
        let size = entry.size();
        if kind == EntryType::XGlobalHeader {
            // Global PAX headers carry defaults kasane does not use (docker never writes them).
            if size > limits.max_pax_size {
                return Err(SnapshotError::LimitExceeded {
                    entry: lossy(&b.raw),
                    what: "global pax header",
                    limit: limits.max_pax_size,
                });
            }
            return drain(entry, size, &b.raw);
        }

        let header = entry.header();
        let mode = header.mode().map_err(|e| name_err(format!("bad mode field: {e}")))? & 0o7777;
        let uid = header.uid().map_err(|e| name_err(format!("bad uid field: {e}")))?;
        let gid = header.gid().map_err(|e| name_err(format!("bad gid field: {e}")))?;
        let uid = u32::try_from(uid).map_err(|_| name_err(format!("uid {uid} out of range")))?;
        let gid = u32::try_from(gid).map_err(|_| name_err(format!("gid {gid} out of range")))?;
        let secs = header.mtime().map_err(|e| name_err(format!("bad mtime field: {e}")))?;
        let mut mtime = Timespec {
            tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        let (major, minor) = match kind {
            EntryType::Char | EntryType::Block => (
                header
                    .device_major()
                    .map_err(|e| name_err(format!("bad device major: {e}")))?
                    .unwrap_or(0),
                header
                    .device_minor()
                    .map_err(|e| name_err(format!("bad device minor: {e}")))?
                    .unwrap_or(0),
            ),
            _ => (0, 0),
        };
        b.link.clear();
        if let Some(link) = entry.link_name_bytes() {
            b.link.extend_from_slice(&link);
        }
        b.xattrs.clear();
        if let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| name_err(format!("reading pax header: {e}")))?
        {
            for ext in exts {
                let ext = ext.map_err(|e| name_err(format!("malformed pax record: {e}")))?;
                let key = ext.key_bytes();
                if key == b"mtime" {
                    let (s, ns) = parse_time(ext.value_bytes()).ok_or_else(|| {
                        name_err(format!("bad pax mtime {:?}", lossy(ext.value_bytes())))
                    })?;
                    mtime = Timespec {
                        tv_sec: s,
                        tv_nsec: ns.into(),
                    };
                } else if let Some(xattr) = key.strip_prefix(PAX_XATTR_PREFIX.as_bytes()) {
                    b.xattrs.push((xattr.to_vec(), ext.value_bytes().to_vec()));
                }
            }
        }
        if b.link.len() > limits.max_path {
            return Err(SnapshotError::LimitExceeded {
                entry: lossy(&b.raw),
                what: "link target length",
                limit: limits.max_path as u64,
            });
        }
        clean(&b.raw, &mut b.path).map_err(|r| name_err(r.to_owned()))?;
        let (parent, name) = split(&b.path);
        let m = Meta {
            raw: &b.raw,
            path: &b.path,
            parent,
            name,
            mode,
            uid,
            gid,
            mtime,
            xattrs: &b.xattrs,
        };

        if name.is_empty() {
            // "./" or "/": the layer's own root directory.
            if kind != EntryType::Directory {
                return Err(m.invalid("a non-directory entry names the root directory"));
            }
            self.root_dir(&m)?;
            return drain(entry, size, m.raw);
        }

        let pfd = self.take_parent(&m)?;
        let dir = pfd.as_ref().map_or(self.root, |fd| fd.as_fd());
        let mut consumed = false;
        if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            self.whiteout(dir, &m, target)?;
        } else {
            match kind {
                EntryType::Directory => self.make_dir(dir, &m)?,
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                    self.make_file(dir, &m, entry, size)?;
                    consumed = true;
                }
                EntryType::Symlink => self.make_symlink(dir, &m, &b.link)?,
                EntryType::Link => {
                    clean(&b.link, &mut b.link_path).map_err(|r| m.invalid(r))?;
                    self.make_hardlink(dir, &m, &b.link_path)?;
                }
                EntryType::Char => self.make_node(dir, &m, FileType::CharacterDevice, major, minor)?,
                EntryType::Block => self.make_node(dir, &m, FileType::BlockDevice, major, minor)?,
                EntryType::Fifo => self.make_node(dir, &m, FileType::Fifo, 0, 0)?,
                other => {
                    return Err(SnapshotError::UnsupportedEntry {
                        entry: m.entry(),
                        typeflag: char::from(other.as_byte()),
                    });
                }
            }
        }
        self.put_parent(parent, pfd);
        if consumed {
            Ok(())
        } else {
            drain(entry, size, &b.raw)
        }
    }

    /// The parent's handle: from the cache, or resolved in the root (creating missing
    /// directories). `None` is the root itself.
    fn take_parent(&mut self, m: &Meta<'_>) -> Result<Option<OwnedFd>, SnapshotError> {
        let cached = self.cache_fd.take();
        if m.parent.is_empty() {
            return Ok(None);
        }
        if cached.is_some() && self.cache_key == m.parent {
            return Ok(cached);
        }
        drop(cached);
        self.resolve_dir(m.parent, m).map(Some)
    }

    fn put_parent(&mut self, parent: &[u8], fd: Option<OwnedFd>) {
        if let Some(fd) = fd {
            self.cache_key.clear();
            self.cache_key.extend_from_slice(parent);
            self.cache_fd = Some(fd);
        }
    }

    /// Opens directory `path` (cleaned, non-empty) inside the root as an `O_PATH` handle,
    /// creating missing components with mode 0755.
    fn resolve_dir(&mut self, path: &[u8], m: &Meta<'_>) -> Result<OwnedFd, SnapshotError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        match sys::open_in_root(self.root, path, flags) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(m.err("resolving parent directory")(e)),
        }
        let mut cur: Option<OwnedFd> = None;
        let mut creating = false;
        let mut pos = 0;
        while pos < path.len() {
            let end = path[pos..]
                .iter()
                .position(|c| *c == b'/')
                .map_or(path.len(), |i| pos + i);
            let comp = &path[pos..end];
            let prefix = &path[..end];
            pos = end + 1;
            if !creating {
                match sys::open_in_root(self.root, prefix, flags) {
                    Ok(fd) => {
                        cur = Some(fd);
                        continue;
                    }
                    Err(Errno::NOENT) => creating = true,
                    Err(e) => return Err(m.err("resolving parent directory")(e)),
                }
            }
            let dir = cur.as_ref().map_or(self.root, |fd| fd.as_fd());
            match rfs::mkdirat(dir, comp, Mode::from_raw_mode(0o755)) {
                Ok(()) => {}
                Err(Errno::EXIST) => {
                    return Err(m.invalid(format!(
                        "parent {:?} is a symlink to a missing directory",
                        lossy(prefix)
                    )));
                }
                Err(e) => return Err(m.err("creating parent directory")(e)),
            }
            // Not subject to the caller's umask: docker creates missing parents as 0755.
            rfs::chmodat(dir, comp, Mode::from_raw_mode(0o755), AtFlags::empty())
                .map_err(m.err("creating parent directory"))?;
            let fd = rfs::openat(
                dir,
                comp,
                flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(m.err("opening parent directory"))?;
            self.mark_created(prefix);
            cur = Some(fd);
        }
        cur.ok_or_else(|| m.invalid("empty parent path"))
    }

    fn mark_created(&mut self, path: &[u8]) {
        if self.opts.whiteouts == WhiteoutMode::Delete {
            self.created.insert(path.to_vec());
        }
    }

    /// Removes whatever is at `name` in `dir` so a new node can take its place.
    fn clear(&self, dir: BorrowedFd<'_>, name: &[u8], m: &Meta<'_>) -> Result<(), SnapshotError> {
        walk::remove_tree(dir, name, &self.root_path.join(lossy(m.parent)))
    }

    fn root_dir(&mut self, m: &Meta<'_>) -> Result<(), SnapshotError> {
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

    fn make_dir(&mut self, dir: BorrowedFd<'_>, m: &Meta<'_>) -> Result<(), SnapshotError> {
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
        self.mark_created(m.path);
        Ok(())
    }

    fn make_file(
        &mut self,
        dir: BorrowedFd<'_>,
        m: &Meta<'_>,
        data: &mut impl Read,
        size: u64,
    ) -> Result<(), SnapshotError> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
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
            written += n as u64;
        }
        if written != size {
            return Err(SnapshotError::Truncated { entry: m.entry() });
        }
        self.content_size += size;
        self.fd_meta(file.as_fd(), m)?;
        rfs::futimens(&file, &m.times()).map_err(m.err("setting mtime"))?;
        self.mark_created(m.path);
        Ok(())
    }

    fn make_symlink(&mut self, dir: BorrowedFd<'_>, m: &Meta<'_>, target: &[u8]) -> Result<(), SnapshotError> {
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
        self.mark_created(m.path);
        Ok(())
    }

    fn make_hardlink(&mut self, dir: BorrowedFd<'_>, m: &Meta<'_>, target: &[u8]) -> Result<(), SnapshotError> {
        if target.is_empty() {
            return Err(m.invalid("hardlink to the root directory"));
        }
        if target == m.path {
            return Err(m.invalid("hardlink to itself"));
        }
        let (tparent, tname) = split(target);
        let tfd = if tparent.is_empty() {
            None
        } else {
            Some(
                sys::open_in_root(self.root, tparent, OFlags::PATH | OFlags::DIRECTORY)
                    .map_err(m.err("resolving hardlink target"))?,
            )
        };
        let tdir = tfd.as_ref().map_or(self.root, |fd| fd.as_fd());
        // No AT_SYMLINK_FOLLOW: a hardlink to a symlink links the symlink itself.
        match rfs::linkat(tdir, tname, dir, m.name, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear(dir, m.name, m)?;
                rfs::linkat(tdir, tname, dir, m.name, AtFlags::empty())
                    .map_err(m.err("creating hardlink"))?;
            }
            Err(e) => return Err(m.err("creating hardlink")(e)),
        }
        self.mark_created(m.path);
        Ok(())
    }

    fn make_node(
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
        self.mark_created(m.path);
        Ok(())
    }

    /// `.wh.<target>` in `dir` (the marker's parent).
    fn whiteout(&mut self, dir: BorrowedFd<'_>, m: &Meta<'_>, target: &[u8]) -> Result<(), SnapshotError> {
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
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => match existing {
                None => {
                    rfs::mknodat(dir, target, FileType::CharacterDevice, Mode::empty(), rfs::makedev(0, 0))
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
                Some(st)
                    if self.created.contains(&target_path)
                        && file_type(&st) == FileType::Directory =>
                {
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
                Some(_) if self.created.contains(&target_path) => {}
                Some(_) => self.clear(dir, target, m)?,
            },
        }
        Ok(())
    }

    /// `dir/.wh..wh..opq`: `dir` is the marker's parent.
    fn opaque(&mut self, dir: BorrowedFd<'_>, m: &Meta<'_>) -> Result<(), SnapshotError> {
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
    fn delete_lower(&mut self, dir: BorrowedFd<'_>, dir_path: &[u8], m: &Meta<'_>) -> Result<(), SnapshotError> {
        let fd = rfs::openat(
            dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(m.err("opening opaque directory"))?;
        let base = self.root_path.join(lossy(dir_path));
        let mut full = Vec::new();
        let created = &self.created;
        walk::walk(fd.as_fd(), &base, false, |ev| {
            let Event::Entry(node) = ev else {
                return Ok(false);
            };
            full.clear();
            full.extend_from_slice(dir_path);
            if !full.is_empty() {
                full.push(b'/');
            }
            full.extend_from_slice(node.path);
            if created.contains(&full) {
                // Ours: keep it, but a directory of ours may still hold lower children.
                return Ok(true);
            }
            walk::remove_tree(node.parent, node.name.to_bytes(), &base)?;
            Ok(false)
        })
    }

    /// Owner, mode and xattrs through an open handle (files, directories).
    fn fd_meta(&self, fd: BorrowedFd<'_>, m: &Meta<'_>) -> Result<(), SnapshotError> {
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
    fn path_meta(&self, dir: BorrowedFd<'_>, m: &Meta<'_>, chmod: bool) -> Result<(), SnapshotError> {
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

    /// Sets directory mtimes, now that no entry will touch their contents any more. A directory
    /// removed or replaced by a later entry is skipped.
    fn finish(&mut self) -> Result<(), SnapshotError> {
        let dirs = std::mem::take(&mut self.dirs);
        let mut parent_key: Option<Vec<u8>> = None;
        let mut parent_fd: Option<OwnedFd> = None;
        for d in &dirs {
            let ts = Timestamps {
                last_access: d.mtime,
                last_modification: d.mtime,
            };
            let err = |e: Errno| SnapshotError::Apply {
                entry: lossy(&d.path),
                op: "setting directory mtime",
                source: os(e),
            };
            if d.path.is_empty() {
                rfs::futimens(self.root, &ts).map_err(err)?;
                continue;
            }
            let (parent, name) = split(&d.path);
            if parent_key.as_deref() != Some(parent) {
                parent_fd = if parent.is_empty() {
                    None
                } else {
                    match sys::open_in_root(self.root, parent, OFlags::PATH | OFlags::DIRECTORY) {
                        Ok(fd) => Some(fd),
                        // The parent was removed or replaced by a later entry (whiteout, file
                        // over directory): so was this directory.
                        Err(_) => {
                            parent_key = None;
                            continue;
                        }
                    }
                };
                parent_key = Some(parent.to_vec());
            }
            let dir = parent_fd.as_ref().map_or(self.root, |fd| fd.as_fd());
            match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st)
                    if st.st_dev == d.dev
                        && st.st_ino == d.ino
                        && file_type(&st) == FileType::Directory => {}
                // Gone or replaced since.
                _ => continue,
            }
            rfs::utimensat(dir, name, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
        }
        Ok(())
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

/// Reads an entry's data that nothing consumed, failing if the stream ends early.
fn drain(entry: &mut impl Read, size: u64, raw: &[u8]) -> Result<(), SnapshotError> {
    let n = io::copy(entry, &mut io::sink()).map_err(|source| SnapshotError::Tar {
        entry: lossy(raw),
        source,
    })?;
    // The entry reader stops at `size`; fewer bytes means the stream ended inside the entry.
    if n != size {
        return Err(SnapshotError::Truncated { entry: lossy(raw) });
    }
    Ok(())
}

/// Cleans a tar name as if rooted: drops empty and `.` components, resolves `..` lexically
/// (never above the root). The result has no leading or trailing `/`; empty is the root.
fn clean(raw: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    out.clear();
    for comp in raw.split(|c| *c == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => match out.iter().rposition(|c| *c == b'/') {
                Some(i) => out.truncate(i),
                None => out.clear(),
            },
            c => {
                if c.contains(&0) {
                    return Err("NUL byte in name");
                }
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(())
}

/// Splits a cleaned path into parent and last component.
fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|c| *c == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_confines_names_to_the_root() {
        for (raw, want) in [
            ("a/b", "a/b"),
            ("./a//b/", "a/b"),
            ("/etc/passwd", "etc/passwd"),
            ("../../x", "x"),
            ("a/../../b", "b"),
            ("a/b/../c", "a/c"),
            ("./", ""),
            ("..", ""),
            ("/", ""),
        ] {
            let mut out = Vec::new();
            clean(raw.as_bytes(), &mut out).unwrap();
            assert_eq!(lossy(&out), want, "{raw}");
        }
        assert!(clean(b"a/\0b", &mut Vec::new()).is_err());
    }

    #[test]
    fn split_parent_and_name() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
    }
}
