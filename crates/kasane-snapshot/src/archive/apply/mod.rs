//! [`apply`]: an untrusted layer tar stream into a directory, confined to it.
//!
//! The model, confinement rules and limits are described on the parent module. This file holds
//! the entry loop, the header budget, and the rooted resolution of parents
//! (`openat2(RESOLVE_IN_ROOT)` with a one-slot cache of the last parent handle); `nodes` has one
//! function per entry type, `whiteout` the OCI whiteouts.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use kasane_oci::DiffId;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;
use tar::EntryType;

use super::hashing::HashingReader;
use super::headers;
use super::{ApplyOptions, ApplyStats, WhiteoutMode};
use crate::consts::WHITEOUT_PREFIX;
use crate::error::{SnapshotError, lossy, os};
use crate::sys;
use crate::walk::{self, file_type};

mod nodes;
mod whiteout;

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
/// The stream is read to its end and hashed on a helper thread: [`ApplyStats::diff_id`] covers
/// every byte, padding and trailing blocks included.
///
/// # Errors
/// - [`SnapshotError::Tar`], [`SnapshotError::Truncated`], [`SnapshotError::LimitExceeded`],
///   [`SnapshotError::InvalidEntry`], [`SnapshotError::UnsupportedEntry`] for bad input;
///   a symlink loop, a missing hardlink target or a file used as a directory is
///   [`SnapshotError::InvalidEntry`] too;
/// - [`SnapshotError::Apply`] / [`SnapshotError::Xattr`] when a filesystem operation for an
///   entry fails;
/// - [`SnapshotError::DiffIdMismatch`] when `opts.expected_diff_id` does not match.
///
/// On error the tree is left partially written; the caller removes it.
pub fn apply(
    root: &Path,
    layer: impl Read,
    opts: &ApplyOptions,
) -> Result<ApplyStats, SnapshotError> {
    let root_fd = sys::open_dir(root).map_err(|source| SnapshotError::Io {
        op: "opening layer root",
        path: root.to_path_buf(),
        source,
    })?;
    let budget = Rc::new(Budget::default());
    let reader = Budgeted {
        inner: HashingReader::new(layer),
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
        contents: crate::KnownContents::default(),
    };
    let mut bufs = Bufs::default();
    let mut count: u64 = 0;
    {
        let mut entries = archive.entries().map_err(|source| SnapshotError::Tar {
            entry: "<start>".into(),
            source,
        })?;
        loop {
            budget.arm(header_budget);
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
                            what: "the size of the tar extension headers after this entry",
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
            let captured = budget.captured.take();
            let r = ap.entry(&mut entry, &mut bufs, &captured, budget.start.get());
            // Keep the allocation for the next entry.
            *budget.captured.borrow_mut() = captured;
            r?;
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
    let contents = std::mem::take(&mut ap.contents);
    drop(ap);

    let mut reader = archive.into_inner();
    io::copy(&mut reader, &mut io::sink()).map_err(|source| SnapshotError::Tar {
        entry: bufs.last_name(),
        source,
    })?;
    let (digest, tar_size) = reader.inner.finish().map_err(|source| SnapshotError::Tar {
        entry: bufs.last_name(),
        source,
    })?;
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
        contents,
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
    /// Bytes read through the wrapper so far (the stream offset).
    offset: Cell<u64>,
    /// Stream offset where the current header phase began.
    start: Cell<u64>,
    /// Every byte read in the current header phase, re-parsed by `headers::parse`.
    captured: RefCell<Vec<u8>>,
}

impl Budget {
    /// Starts a header phase: the parser may read `limit` bytes before the next entry.
    fn arm(&self, limit: u64) {
        self.remaining.set(Some(limit));
        self.start.set(self.offset.get());
        self.captured.borrow_mut().clear();
    }
}

struct Budgeted<R> {
    inner: HashingReader<R>,
    budget: Rc<Budget>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.budget.remaining.get() else {
            let n = self.inner.read(buf)?;
            self.budget.offset.set(self.budget.offset.get() + n as u64);
            return Ok(n);
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
        self.budget.offset.set(self.budget.offset.get() + n as u64);
        self.budget
            .captured
            .borrow_mut()
            .extend_from_slice(&buf[..n]);
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

    /// Errors of resolving a path in the root: the layer's own shape (loops, files used as
    /// directories, missing targets) gets a clear reason; anything else keeps its errno.
    fn resolve_err(&self, what: &'static str) -> impl Fn(Errno) -> SnapshotError + '_ {
        move |e| match e {
            Errno::LOOP => self.invalid(format!(
                "resolving {what}: symlink loop (or more than 40 symlinks) in the path"
            )),
            Errno::NOTDIR => self.invalid(format!(
                "resolving {what}: a path component is not a directory"
            )),
            Errno::NOENT => self.invalid(format!("resolving {what}: it does not exist")),
            e => SnapshotError::Apply {
                entry: self.entry(),
                op: "resolving a path",
                source: os(e),
            },
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
    /// Nodes this layer created or replaced ([`WhiteoutMode::Delete`] only), as (device and
    /// inode of the parent directory, name): an opaque marker keeps them and removes the rest.
    /// Keyed by the real parent, not the entry's path, because symlinks inside the root can
    /// give one directory many paths.
    created: HashSet<(u64, u64, Vec<u8>)>,
    buf: Vec<u8>,
    content_size: u64,
    /// What each file written holds, so the fingerprint need not read it back.
    contents: crate::KnownContents,
}

impl Applier<'_> {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        b: &mut Bufs,
        captured: &[u8],
        start: u64,
    ) -> Result<(), SnapshotError> {
        let limits = &self.opts.limits;
        let raw = headers::parse(captured, start).map_err(|r| SnapshotError::InvalidEntry {
            entry: lossy(&entry.path_bytes()),
            reason: format!("re-reading headers: {r}"),
        })?;
        let h = raw.header;
        // The name: PAX `path`, else a GNU long name, else the header's (as Go reads it).
        b.raw.clear();
        let pax = match raw.pax {
            Some(data) => headers::pax(data).map_err(|reason| SnapshotError::InvalidEntry {
                entry: lossy(raw.long_name.unwrap_or(&headers::header_name(h))),
                reason,
            })?,
            None => headers::Pax::default(),
        };
        match (pax.path, raw.long_name) {
            (Some(p), _) | (None, Some(p)) => b.raw.extend_from_slice(p),
            (None, None) => b.raw.extend_from_slice(&headers::header_name(h)),
        }
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
        let kind = EntryType::new(h[156]);
        let size = entry.size();
        // The tar crate framed the stream with its own reading of the size; both readings must
        // agree or the layer means different things to different parsers.
        if kind != EntryType::GNUSparse {
            let want = match pax.size {
                Some(s) => Some(s),
                None => headers::numeric(&h[124..136]),
            };
            if want != Some(size) {
                let want = want.map_or_else(|| "unreadable".to_owned(), |w| w.to_string());
                return Err(name_err(format!(
                    "its size reads as {want} by the book but as {size} to the tar parser"
                )));
            }
        }
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

        let field = |range: std::ops::Range<usize>, what: &str| {
            headers::numeric(&h[range]).ok_or_else(|| name_err(format!("bad {what} field")))
        };
        let mode = u32::try_from(field(100..108, "mode")? & 0o7777).unwrap_or(0);
        let uid = match pax.uid {
            Some(v) => v,
            None => field(108..116, "uid")?,
        };
        let gid = match pax.gid {
            Some(v) => v,
            None => field(116..124, "gid")?,
        };
        let uid = u32::try_from(uid).map_err(|_| name_err(format!("uid {uid} out of range")))?;
        let gid = u32::try_from(gid).map_err(|_| name_err(format!("gid {gid} out of range")))?;
        let mtime = match pax.mtime {
            Some((s, ns)) => Timespec {
                tv_sec: s,
                tv_nsec: ns.into(),
            },
            None => Timespec {
                tv_sec: i64::try_from(field(136..148, "mtime")?).unwrap_or(i64::MAX),
                tv_nsec: 0,
            },
        };
        let (major, minor) = match kind {
            EntryType::Char | EntryType::Block => {
                let dev = |r, what| {
                    field(r, what).and_then(|v| {
                        u32::try_from(v).map_err(|_| name_err(format!("{what} out of range")))
                    })
                };
                (
                    dev(329..337, "device major")?,
                    dev(337..345, "device minor")?,
                )
            }
            _ => (0, 0),
        };
        b.link.clear();
        match (pax.linkpath, raw.long_link) {
            (Some(l), _) | (None, Some(l)) => b.link.extend_from_slice(l),
            (None, None) => b.link.extend_from_slice(headers::header_link(h)),
        }
        b.xattrs.clear();
        b.xattrs
            .extend(pax.xattrs.iter().map(|(k, v)| (k.to_vec(), v.to_vec())));
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
                EntryType::Char => {
                    self.make_node(dir, &m, FileType::CharacterDevice, major, minor)?
                }
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
            Err(e) => return Err(m.resolve_err("parent directory")(e)),
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
                    Err(e) => return Err(m.resolve_err("parent directory")(e)),
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
            self.mark_created(dir, comp, m)?;
            cur = Some(fd);
        }
        cur.ok_or_else(|| m.invalid("empty parent path"))
    }

    fn mark_created(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        m: &Meta<'_>,
    ) -> Result<(), SnapshotError> {
        if self.opts.whiteouts == WhiteoutMode::Delete {
            let st = rfs::fstat(dir).map_err(m.err("reading parent directory"))?;
            self.created.insert((st.st_dev, st.st_ino, name.to_vec()));
        }
        Ok(())
    }

    fn is_created(&self, dir: BorrowedFd<'_>, name: &[u8]) -> Result<bool, Errno> {
        let st = rfs::fstat(dir)?;
        Ok(self
            .created
            .contains(&(st.st_dev, st.st_ino, name.to_vec())))
    }

    /// Removes whatever is at `name` in `dir` so a new node can take its place.
    fn clear(&self, dir: BorrowedFd<'_>, name: &[u8], m: &Meta<'_>) -> Result<(), SnapshotError> {
        walk::remove_tree(dir, name, &self.root_path.join(lossy(m.parent)))
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
mod tests;
