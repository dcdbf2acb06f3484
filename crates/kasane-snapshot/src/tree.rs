//! Facts about a whole tree: [`listing`], [`fingerprint`] and [`usage`].
//!
//! Owns the canonical description of a snapshot's content. The store records
//! [`fingerprint`] when it commits a snapshot whose DiffID was verified; `kasane system check`
//! recomputes it to prove the snapshot has not changed since. Tests compare [`listing`]s.
//!
//! The listing is a sorted walk (byte order, parents first, the root first as `.`) with one
//! line per node:
//! ```text
//! d 0755 0:0 1700000000.000000000 0 .
//! f 0644 0:0 1700000000.000000000 5 etc/hostname xxh3:…
//! l 0777 0:0 1700000000.000000000 0 bin -> usr/bin
//! f 0644 0:0 1700000000.000000000 5 etc/hostname2 => etc/hostname
//! c 0000 0:0 1700000000.000000000 0 gone dev=0,0
//! d 0755 0:0 1700000000.000000000 0 opt xattr:trusted.overlay.opaque=y
//! ```
//! The fingerprint is the sha256 of `kasane-tree-v2\n` followed by every line and a newline.
//! File contents are summarised with xxh3-128, not sha256: the fingerprint guards against
//! change and corruption of a tree whose DiffID was verified, not against someone who can
//! write the store (they could rewrite the recorded fingerprint too), and xxh3 costs ~1/30
//! of sha256 on the machines we run on — the fingerprint is taken on every unpack.
//! Access and change times are not part of it (reads and metadata-preserving copies change
//! them).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use kasane_oci::{Algorithm, Digest, Digester};
use rustix::fs::{self as rfs, FileType, Mode, OFlags, Stat};

use crate::error::{SnapshotError, lossy, os};
use crate::sys;
use crate::walk::{self, Event, file_type};

/// One node of a [`listing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path relative to the root (`.` for the root), non-UTF-8 bytes escaped.
    pub path: String,
    /// `d` directory, `f` file, `l` symlink, `c`/`b` char/block device, `p` fifo, `s` socket.
    pub kind: char,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time: seconds since the epoch.
    pub mtime: i64,
    /// Modification time: nanoseconds.
    pub mtime_nsec: u32,
    /// Size of a regular file; 0 otherwise.
    pub size: u64,
    /// `xxh3:<128-bit hex>` of a regular file's content (not repeated for later hardlinks).
    pub content: Option<String>,
    /// Target of a symlink.
    pub link: Option<String>,
    /// For the second and later paths of a hardlinked inode: the first path.
    pub hardlink: Option<String>,
    /// Major and minor of a device.
    pub rdev: Option<(u32, u32)>,
    /// Extended attributes, sorted, with values escaped.
    pub xattrs: Vec<(String, String)>,
}

impl fmt::Display for TreeEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:04o} {}:{} {}.{:09} {} {}",
            self.kind,
            self.mode,
            self.uid,
            self.gid,
            self.mtime,
            self.mtime_nsec,
            self.size,
            self.path
        )?;
        if let Some(l) = &self.link {
            write!(f, " -> {l}")?;
        }
        if let Some(h) = &self.hardlink {
            write!(f, " => {h}")?;
        }
        if let Some((ma, mi)) = self.rdev {
            write!(f, " dev={ma},{mi}")?;
        }
        if let Some(c) = &self.content {
            write!(f, " {c}")?;
        }
        for (k, v) in &self.xattrs {
            write!(f, " xattr:{k}={v}")?;
        }
        Ok(())
    }
}

fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Describes every node of the tree at `root`, the root first (see the module docs).
///
/// Reads every regular file to hash it: costs a full read of the tree.
///
/// # Errors
/// [`SnapshotError::Io`] naming the node that could not be read.
pub fn listing(root: &Path) -> Result<Vec<TreeEntry>, SnapshotError> {
    let mut out = Vec::new();
    visit(root, &KnownContents::default(), |e| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

/// Content summaries of regular files taken while they were written (by
/// [`archive::apply`](crate::archive::apply)), keyed by device and inode: with them
/// [`fingerprint_with`] reads no file back, which was most of a fingerprint's cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownContents(HashMap<(u64, u64), (u128, u64)>);

impl KnownContents {
    /// Records that the file at `dev`/`ino` holds `size` bytes whose xxh3-128 is `hash`.
    pub(crate) fn record(&mut self, dev: u64, ino: u64, hash: u128, size: u64) {
        self.0.insert((dev, ino), (hash, size));
    }

    /// Files recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no file is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded summary of a file with this metadata, if its size still matches.
    fn get(&self, st: &Stat) -> Option<u128> {
        let &(hash, size) = self.0.get(&(st.st_dev, st.st_ino))?;
        (size == st.st_size as u64).then_some(hash)
    }
}

/// A digest of everything [`listing`] describes, in a fixed encoding.
///
/// # Errors
/// As [`listing`].
pub fn fingerprint(root: &Path) -> Result<Digest, SnapshotError> {
    fingerprint_with(root, &KnownContents::default())
}

/// [`fingerprint`] of a tree just written by `apply`, taking the content of the files it
/// wrote from `known` instead of reading them back. Equal to [`fingerprint`] as long as
/// nothing else wrote to the tree since.
///
/// # Errors
/// As [`listing`].
pub fn fingerprint_with(root: &Path, known: &KnownContents) -> Result<Digest, SnapshotError> {
    let mut d = Digester::new(Algorithm::Sha256);
    d.update(b"kasane-tree-v2\n");
    visit(root, known, |e| {
        d.update(e.to_string().as_bytes());
        d.update(b"\n");
        Ok(())
    })?;
    Ok(d.finish())
}

/// The content summary of a file holding `bytes`, as listings show it.
#[cfg(test)]
pub(crate) fn content_id(bytes: &[u8]) -> String {
    format_content(xxhash_rust::xxh3::xxh3_128(bytes))
}

fn format_content(hash: u128) -> String {
    format!("xxh3:{hash:032x}")
}

fn visit(
    root: &Path,
    known: &KnownContents,
    mut f: impl FnMut(TreeEntry) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let top = sys::open_dir(root).map_err(|source| SnapshotError::Io {
        op: "opening directory",
        path: root.to_path_buf(),
        source,
    })?;
    let io_err = |op: &'static str, path: &[u8]| {
        let path = root.join(lossy(path));
        move |e: rustix::io::Errno| SnapshotError::Io {
            op,
            path,
            source: os(e),
        }
    };
    let st = rfs::fstat(&top).map_err(io_err("reading metadata of", b""))?;
    let xattrs = rfs_fd_xattrs(&top).map_err(io_err("reading xattrs of", b""))?;
    f(entry(".".to_owned(), &st, xattrs))?;

    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut buf = vec![0u8; 256 * 1024];
    walk::walk(top.as_fd(), root, true, |ev| {
        let Event::Entry(node) = ev else {
            return Ok(false);
        };
        let st = node.stat;
        let xattrs = sys::xattrs_at(node.parent, node.name.to_bytes())
            .map_err(io_err("reading xattrs of", node.path))?;
        let mut e = entry(escape(node.path), st, xattrs);
        let ft = file_type(st);
        if ft != FileType::Directory && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = links.get(&key) {
                e.hardlink = Some(first.clone());
                f(e)?;
                return Ok(false);
            }
            links.insert(key, e.path.clone());
        }
        match ft {
            FileType::RegularFile if let Some(hash) = known.get(st) => {
                e.content = Some(format_content(hash));
            }
            FileType::RegularFile => {
                let fd = rfs::openat(
                    node.parent,
                    node.name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
                    Mode::empty(),
                )
                .map_err(io_err("opening", node.path))?;
                let mut file = File::from(fd);
                let mut d = xxhash_rust::xxh3::Xxh3::new();
                loop {
                    match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => d.update(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(source) => {
                            return Err(SnapshotError::Io {
                                op: "reading",
                                path: root.join(lossy(node.path)),
                                source,
                            });
                        }
                    }
                }
                e.content = Some(format_content(d.digest128()));
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(node.parent, node.name, Vec::new())
                    .map_err(io_err("reading symlink", node.path))?;
                e.link = Some(escape(target.as_bytes()));
            }
            _ => {}
        }
        f(e)?;
        Ok(true)
    })
}

fn rfs_fd_xattrs(fd: &std::os::fd::OwnedFd) -> Result<sys::Xattrs, rustix::io::Errno> {
    // The root has no parent handle inside the tree; `/proc/self/fd/<fd>/.` names it.
    sys::xattrs_at(fd.as_fd(), b".")
}

fn entry(path: String, st: &Stat, xattrs: Vec<(Vec<u8>, Vec<u8>)>) -> TreeEntry {
    let ft = file_type(st);
    let kind = match ft {
        FileType::Directory => 'd',
        FileType::RegularFile => 'f',
        FileType::Symlink => 'l',
        FileType::CharacterDevice => 'c',
        FileType::BlockDevice => 'b',
        FileType::Fifo => 'p',
        FileType::Socket => 's',
        _ => '?',
    };
    TreeEntry {
        path,
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: st.st_mtime,
        mtime_nsec: u32::try_from(st.st_mtime_nsec).unwrap_or(0),
        size: if ft == FileType::RegularFile {
            u64::try_from(st.st_size).unwrap_or(0)
        } else {
            0
        },
        content: None,
        link: None,
        hardlink: None,
        rdev: matches!(ft, FileType::CharacterDevice | FileType::BlockDevice)
            .then(|| (rfs::major(st.st_rdev), rfs::minor(st.st_rdev))),
        xattrs: xattrs
            .into_iter()
            .map(|(k, v)| (escape(&k), escape(&v)))
            .collect(),
    }
}

/// Disk usage of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes allocated (`st_blocks * 512`), each hardlinked inode once.
    pub size: u64,
    /// Inodes, the root included, each hardlinked inode once.
    pub inodes: u64,
}

/// Measures the tree at `root` (a walk of metadata only; cost grows with the number of files).
///
/// # Errors
/// [`SnapshotError::Io`] naming the node that could not be read.
pub fn usage(root: &Path) -> Result<Usage, SnapshotError> {
    let top = sys::open_dir(root).map_err(|source| SnapshotError::Io {
        op: "opening directory",
        path: root.to_path_buf(),
        source,
    })?;
    let st = rfs::fstat(&top).map_err(|e| SnapshotError::Io {
        op: "reading metadata of",
        path: root.to_path_buf(),
        source: os(e),
    })?;
    let mut u = Usage {
        size: blocks(&st),
        inodes: 1,
    };
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    walk::walk(top.as_fd(), root, false, |ev| {
        let Event::Entry(node) = ev else {
            return Ok(false);
        };
        let st = node.stat;
        if st.st_nlink > 1
            && file_type(st) != FileType::Directory
            && !seen.insert((st.st_dev, st.st_ino))
        {
            return Ok(false);
        }
        u.size += blocks(st);
        u.inodes += 1;
        Ok(true)
    })?;
    Ok(u)
}

fn blocks(st: &Stat) -> u64 {
    u64::try_from(st.st_blocks).unwrap_or(0) * 512
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn listing_describes_files_links_and_hardlinks() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir(d.join("dir")).unwrap();
        std::fs::write(d.join("dir/f"), "hello").unwrap();
        std::fs::hard_link(d.join("dir/f"), d.join("dir/g")).unwrap();
        symlink("f", d.join("dir/l")).unwrap();
        let l = listing(d).unwrap();
        let lines: Vec<String> = l
            .iter()
            .map(|e| {
                // Drop the variable parts (mode, owner, time) for the comparison.
                let s = e.to_string();
                let mut parts = s.splitn(6, ' ');
                let kind = parts.next().unwrap_or_default().to_owned();
                let rest: Vec<&str> = parts.skip(3).collect();
                format!("{kind} {}", rest.join(" "))
            })
            .collect();
        assert_eq!(
            lines,
            [
                "d 0 .".to_owned(),
                "d 0 dir".to_owned(),
                format!("f 5 dir/f {}", content_id(b"hello")),
                "f 5 dir/g => dir/f".to_owned(),
                "l 0 dir/l -> f".to_owned(),
            ]
        );
    }

    #[test]
    fn fingerprint_changes_with_content_and_mtime() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("f"), "a").unwrap();
        let a = fingerprint(d).unwrap();
        assert_eq!(a, fingerprint(d).unwrap());
        std::fs::write(d.join("f"), "b").unwrap();
        let times = std::fs::FileTimes::new().set_modified(std::time::UNIX_EPOCH);
        File::options()
            .write(true)
            .open(d.join("f"))
            .unwrap()
            .set_times(times)
            .unwrap();
        let b = fingerprint(d).unwrap();
        assert_ne!(a, b);
        File::options()
            .write(true)
            .open(d.join("f"))
            .unwrap()
            .set_times(
                std::fs::FileTimes::new()
                    .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1)),
            )
            .unwrap();
        assert_ne!(b, fingerprint(d).unwrap());
    }

    #[test]
    fn usage_counts_hardlinks_once() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("f"), vec![1u8; 10000]).unwrap();
        let one = usage(d).unwrap();
        std::fs::hard_link(d.join("f"), d.join("g")).unwrap();
        let two = usage(d).unwrap();
        assert_eq!(one.inodes, 2);
        assert_eq!(two, one);
    }
}
