//! [`diff`]: a directory tree (a rootfs or an overlay upper dir) into a layer tar.
//!
//! Output is deterministic for a given tree: siblings in byte order of their on-disk names,
//! parents before children, no root entry, ustar headers (as docker writes them: no
//! user/group names, mtimes truncated to seconds) with a PAX `x` header in front of an entry
//! when it needs one (a name or link target that does not fit ustar, ids beyond 2097151,
//! xattrs). Hardlinks are found by (device, inode); the first path in walk order carries the
//! data and later ones link to it. Sockets are skipped, as docker does.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

use kasane_oci::{Algorithm, DiffId, Digester};
use rustix::fs::{self as rfs, FileType, Mode, OFlags};
use tar::{EntryType, Header};

use super::pax::push_record;
use super::{DiffMode, DiffStats};
use crate::consts::{
    OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, PAX_XATTR_PREFIX, WHITEOUT_OPAQUE, WHITEOUT_PREFIX,
};
use crate::error::{SnapshotError, lossy, os};
use crate::sys;
use crate::walk::{self, Event, Node, file_type};

/// Writes the layer tar of the tree at `dir` to `out`, hashing it on the way.
///
/// With [`DiffMode::OverlayUpper`], `0/0` character devices become `.wh.<name>` entries,
/// directories with `trusted.overlay.opaque=y` get a `.wh..wh..opq` entry right after their own
/// header, and other `trusted.overlay.*` xattrs are dropped. With [`DiffMode::Plain`] every node
/// is content.
///
/// The tree must not change during the diff (a stopped container's upper dir, a committed
/// snapshot); a file that shrinks meanwhile is an error. `out` is not flushed or synced beyond
/// `Write::flush`.
///
/// # Errors
/// [`SnapshotError::Io`] for unreadable nodes, [`SnapshotError::Write`] when `out` fails.
pub fn diff(dir: &Path, mode: DiffMode, out: impl Write) -> Result<DiffStats, SnapshotError> {
    let top = sys::open_dir(dir).map_err(|source| SnapshotError::Io {
        op: "opening directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut w = TarWriter {
        out,
        digester: Digester::new(Algorithm::Sha256),
        count: 0,
        buf: vec![0; 256 * 1024],
        pax: Vec::new(),
    };
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut content_size: u64 = 0;
    let mut name = Vec::new();
    walk::walk(top.as_fd(), dir, true, |ev| {
        let Event::Entry(node) = ev else {
            return Ok(false);
        };
        let st = node.stat;
        let ft = file_type(st);
        let io_err = |op: &'static str| {
            move |e: rustix::io::Errno| SnapshotError::Io {
                op,
                path: dir.join(lossy(node.path)),
                source: os(e),
            }
        };
        let mut h = Header::new_ustar();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);

        if mode == DiffMode::OverlayUpper && ft == FileType::CharacterDevice && st.st_rdev == 0 {
            whiteout_name(node.path, &mut name);
            h.set_entry_type(EntryType::Regular);
            h.set_mode(0);
            w.entry(&name, None, h, &[], &[])?;
            return Ok(false);
        }
        if ft == FileType::Socket {
            return Ok(false);
        }

        let mut xattrs = sys::xattrs_at(node.parent, node.name.to_bytes())
            .map_err(io_err("reading xattrs of"))?;
        let mut opaque = false;
        if mode == DiffMode::OverlayUpper {
            xattrs.retain(|(k, v)| {
                if k.as_slice() == OVERLAY_OPAQUE_XATTR.as_bytes() {
                    opaque = v.as_slice() == b"y";
                }
                !k.starts_with(OVERLAY_XATTR_PREFIX.as_bytes())
            });
        }

        if ft == FileType::Directory {
            name.clear();
            name.extend_from_slice(node.path);
            name.push(b'/');
            h.set_entry_type(EntryType::Directory);
            w.entry(&name, None, h, &xattrs, &[])?;
            if opaque {
                name.extend_from_slice(WHITEOUT_OPAQUE.as_bytes());
                let mut o = Header::new_ustar();
                o.set_entry_type(EntryType::Regular);
                o.set_mode(st.st_mode & 0o777);
                o.set_uid(u64::from(st.st_uid));
                o.set_gid(u64::from(st.st_gid));
                o.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
                o.set_size(0);
                w.entry(&name, None, o, &[], &[])?;
            }
            return Ok(true);
        }

        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = links.get(&key) {
                h.set_entry_type(EntryType::Link);
                w.entry(node.path, Some(first), h, &[], &[])?;
                return Ok(false);
            }
            links.insert(key, node.path.to_vec());
        }

        match ft {
            FileType::RegularFile => {
                let size = u64::try_from(st.st_size).unwrap_or(0);
                let fd = rfs::openat(
                    node.parent,
                    node.name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
                    Mode::empty(),
                )
                .map_err(io_err("opening"))?;
                let now = rfs::fstat(&fd).map_err(io_err("reading metadata of"))?;
                if now.st_ino != st.st_ino || now.st_dev != st.st_dev {
                    return Err(io_err("opening")(rustix::io::Errno::STALE));
                }
                h.set_entry_type(EntryType::Regular);
                h.set_size(size);
                let mut size_rec = Vec::new();
                if size >= 0o77777777777 {
                    size_rec = size.to_string().into_bytes();
                }
                w.entry(node.path, None, h, &xattrs, &size_rec)?;
                w.data(File::from(fd), size, &node, dir)?;
                content_size += size;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(node.parent, node.name, Vec::new())
                    .map_err(io_err("reading symlink"))?;
                h.set_entry_type(EntryType::Symlink);
                w.entry(node.path, Some(target.as_bytes()), h, &xattrs, &[])?;
            }
            FileType::CharacterDevice | FileType::BlockDevice => {
                h.set_entry_type(if ft == FileType::CharacterDevice {
                    EntryType::Char
                } else {
                    EntryType::Block
                });
                let write_err = |source| SnapshotError::Write {
                    path: lossy(node.path),
                    source,
                };
                h.set_device_major(rfs::major(st.st_rdev))
                    .map_err(write_err)?;
                h.set_device_minor(rfs::minor(st.st_rdev))
                    .map_err(write_err)?;
                w.entry(node.path, None, h, &xattrs, &[])?;
            }
            FileType::Fifo => {
                h.set_entry_type(EntryType::Fifo);
                w.entry(node.path, None, h, &xattrs, &[])?;
            }
            _ => {}
        }
        Ok(false)
    })?;
    w.raw(&[0; 1024], b"<end of archive>")?;
    w.out.flush().map_err(|source| SnapshotError::Write {
        path: "<end of archive>".into(),
        source,
    })?;
    Ok(DiffStats {
        diff_id: DiffId(w.digester.finish()),
        size: w.count,
        content_size,
    })
}

/// `dir/name` → `dir/.wh.name`.
fn whiteout_name(path: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let (parent, name) = match path.iter().rposition(|c| *c == b'/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => (&b""[..], path),
    };
    out.extend_from_slice(parent);
    out.extend_from_slice(WHITEOUT_PREFIX.as_bytes());
    out.extend_from_slice(name);
}

struct TarWriter<W> {
    out: W,
    digester: Digester,
    count: u64,
    buf: Vec<u8>,
    pax: Vec<u8>,
}

impl<W: Write> TarWriter<W> {
    fn raw(&mut self, bytes: &[u8], path: &[u8]) -> Result<(), SnapshotError> {
        self.out
            .write_all(bytes)
            .map_err(|source| SnapshotError::Write {
                path: lossy(path),
                source,
            })?;
        self.digester.update(bytes);
        self.count += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self, len: u64, path: &[u8]) -> Result<(), SnapshotError> {
        let rem = (len % 512) as usize;
        if rem != 0 {
            self.raw(&[0; 512][..512 - rem], path)?;
        }
        Ok(())
    }

    /// Writes a header (with a PAX header in front when needed). `size_rec` is a decimal PAX
    /// `size` for files too large for the octal field.
    fn entry(
        &mut self,
        path: &[u8],
        link: Option<&[u8]>,
        mut h: Header,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        size_rec: &[u8],
    ) -> Result<(), SnapshotError> {
        self.pax.clear();
        if !set_ustar_name(&mut h, path) {
            push_record(&mut self.pax, b"path", path);
        }
        if let Some(link) = link {
            let field = &mut h.as_mut_bytes()[157..257];
            let n = link.len().min(100);
            field[..n].copy_from_slice(&link[..n]);
            if link.len() > 100 {
                push_record(&mut self.pax, b"linkpath", link);
            }
        }
        for (key, field) in [("uid", 108..116), ("gid", 116..124)] {
            // set_uid/set_gid switched to base-256 for ids that do not fit 7 octal digits;
            // readers that only know ustar and pax want a pax record instead.
            if h.as_bytes()[field.start] & 0x80 != 0 {
                let id = if key == "uid" { h.uid() } else { h.gid() };
                let id = id.map_err(|source| SnapshotError::Write {
                    path: lossy(path),
                    source,
                })?;
                push_record(&mut self.pax, key.as_bytes(), id.to_string().as_bytes());
            }
        }
        if !size_rec.is_empty() {
            push_record(&mut self.pax, b"size", size_rec);
        }
        for (key, value) in xattrs {
            let mut k = PAX_XATTR_PREFIX.as_bytes().to_vec();
            k.extend_from_slice(key);
            push_record(&mut self.pax, &k, value);
        }
        if !self.pax.is_empty() {
            let mut ph = Header::new_ustar();
            let base = path
                .strip_suffix(b"/")
                .unwrap_or(path)
                .rsplit(|c| *c == b'/')
                .next()
                .unwrap_or(b"");
            let mut pname = b"PaxHeaders.0/".to_vec();
            pname.extend_from_slice(&base[..base.len().min(100 - pname.len())]);
            set_ustar_name(&mut ph, &pname);
            ph.set_entry_type(EntryType::XHeader);
            ph.set_mode(0o644);
            ph.set_mtime(0);
            ph.set_size(self.pax.len() as u64);
            ph.set_cksum();
            let pax = std::mem::take(&mut self.pax);
            let r = self
                .raw(ph.as_bytes(), path)
                .and_then(|()| self.raw(&pax, path))
                .and_then(|()| self.pad(pax.len() as u64, path));
            self.pax = pax;
            r?;
        }
        h.set_cksum();
        self.raw(h.as_bytes(), path)
    }

    /// Copies exactly `size` bytes of `file` and the padding after them.
    fn data(
        &mut self,
        mut file: File,
        size: u64,
        node: &Node<'_>,
        dir: &Path,
    ) -> Result<(), SnapshotError> {
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => {
                    return Err(SnapshotError::Io {
                        op: "reading (file shrank during diff)",
                        path: dir.join(lossy(node.path)),
                        source: std::io::ErrorKind::UnexpectedEof.into(),
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(SnapshotError::Io {
                        op: "reading",
                        path: dir.join(lossy(node.path)),
                        source,
                    });
                }
            };
            let chunk = std::mem::take(&mut self.buf);
            let r = self.raw(&chunk[..n], node.path);
            self.buf = chunk;
            r?;
            left -= n as u64;
        }
        self.pad(size, node.path)
    }
}

/// Puts `path` into the ustar name (and prefix) fields. Returns false when it does not fit;
/// the name field then holds a truncated copy and the caller adds a PAX `path` record.
fn set_ustar_name(h: &mut Header, path: &[u8]) -> bool {
    let bytes = h.as_mut_bytes();
    bytes[..100].fill(0);
    bytes[345..500].fill(0);
    if path.len() <= 100 {
        bytes[..path.len()].copy_from_slice(path);
        return true;
    }
    // Split at a '/' so that prefix <= 155 and name <= 100 (name non-empty).
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let split = trimmed
        .iter()
        .enumerate()
        .filter(|(i, c)| **c == b'/' && *i <= 155 && path.len() - i - 1 <= 100)
        .map(|(i, _)| i)
        .next();
    match split {
        Some(i) => {
            bytes[345..345 + i].copy_from_slice(&path[..i]);
            let name = &path[i + 1..];
            bytes[..name.len()].copy_from_slice(name);
            true
        }
        None => {
            bytes[..100].copy_from_slice(&path[..100]);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ustar_names_split_at_a_slash_or_need_pax() {
        let mut h = Header::new_ustar();
        assert!(set_ustar_name(&mut h, b"short/name"));
        assert_eq!(&h.path_bytes()[..], b"short/name");

        let long = format!("{}/{}", "p".repeat(150), "n".repeat(90));
        assert!(set_ustar_name(&mut h, long.as_bytes()));
        assert_eq!(&h.path_bytes()[..], long.as_bytes());

        let too_long = "x".repeat(101);
        assert!(!set_ustar_name(&mut h, too_long.as_bytes()));
    }

    #[test]
    fn whiteout_names() {
        let mut out = Vec::new();
        whiteout_name(b"a/b/c", &mut out);
        assert_eq!(out, b"a/b/.wh.c");
        whiteout_name(b"c", &mut out);
        assert_eq!(out, b".wh.c");
    }
}
