//! A hand-written POSIX (ustar + PAX) tar writer.
//!
//! Owns: the byte layout of every tar this crate produces. It is written by hand instead of
//! with `tar::Builder` for two reasons: the `tar` crate has no PAX writer (needed for
//! `SCHILY.xattr.*` records and long names), and an independent encoder is a better witness
//! of what kasane's reader must accept than the very crate kasane may read with.
//!
//! Model: one 512-byte ustar header per entry, preceded by a PAX extended header (`x`) when a
//! value does not fit ustar (long path or link name, big numbers, xattrs), content padded to
//! 512 bytes, and two zero blocks at the end — what Go's `archive/tar` (hence docker) writes.
//!
//! Spec: POSIX.1-2008 `pax` "ustar Interchange Format" and "pax Extended Header";
//! GNU tar manual "Extended header keywords" (`SCHILY.xattr.*`, as written by star/Go/docker).

use std::collections::BTreeMap;
use std::io::{self, Write};

const BLOCK: usize = 512;

/// ustar type flags (POSIX `typeflag`).
pub(crate) mod flag {
    /// Regular file.
    pub(crate) const REG: u8 = b'0';
    /// Hard link (`linkname` names an earlier entry of the same archive).
    pub(crate) const LINK: u8 = b'1';
    /// Symbolic link.
    pub(crate) const SYMLINK: u8 = b'2';
    /// Character device.
    pub(crate) const CHAR: u8 = b'3';
    /// Block device.
    pub(crate) const BLOCK: u8 = b'4';
    /// Directory.
    pub(crate) const DIR: u8 = b'5';
    /// FIFO.
    pub(crate) const FIFO: u8 = b'6';
    /// PAX extended header for the next entry.
    pub(crate) const PAX: u8 = b'x';
}

/// Everything a header says about one entry.
#[derive(Clone, Debug, Default)]
pub(crate) struct TarHeader {
    /// Path as stored (directories should end in `/`, as docker writes them).
    pub(crate) path: String,
    /// One of [`flag`].
    pub(crate) typeflag: u8,
    /// Permission bits including setuid/setgid/sticky.
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) uname: String,
    pub(crate) gname: String,
    /// Content size (0 for everything but regular files).
    pub(crate) size: u64,
    /// Seconds since the Unix epoch.
    pub(crate) mtime: i64,
    pub(crate) linkname: String,
    pub(crate) devmajor: u32,
    pub(crate) devminor: u32,
    /// Written as `SCHILY.xattr.<name>` PAX records.
    pub(crate) xattrs: BTreeMap<String, Vec<u8>>,
}

/// Streams entries into `W`; call [`TarWriter::finish`] to write the end-of-archive marker.
pub(crate) struct TarWriter<W: Write> {
    w: W,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(w: W) -> Self {
        Self { w }
    }

    /// Appends an entry whose content is `data` (`h.size` is overwritten with its length).
    pub(crate) fn append(&mut self, h: &TarHeader, data: &[u8]) -> io::Result<()> {
        let mut h = h.clone();
        h.size = data.len() as u64;
        self.write_header(&h)?;
        self.w.write_all(data)?;
        self.pad(h.size)
    }

    /// Appends an entry whose `h.size` bytes of content are produced by `content`.
    ///
    /// # Errors
    /// `InvalidData` if `content` writes a different number of bytes than `h.size`.
    pub(crate) fn append_with(
        &mut self,
        h: &TarHeader,
        content: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        self.write_header(h)?;
        let mut counter = CountingWriter {
            w: &mut self.w,
            n: 0,
        };
        content(&mut counter)?;
        if counter.n != h.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "tar entry {}: header size {} but {} bytes of content",
                    h.path, h.size, counter.n
                ),
            ));
        }
        self.pad(h.size)
    }

    /// Writes the two zero blocks that end an archive and returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.w.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.w)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.w.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    fn write_header(&mut self, h: &TarHeader) -> io::Result<()> {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let (prefix, name) = match split_ustar_path(&h.path) {
            Some(split) => split,
            None => {
                pax.push(("path".into(), h.path.as_bytes().to_vec()));
                ("", truncate(&h.path, 100))
            }
        };
        let linkname = if h.linkname.len() > 100 {
            pax.push(("linkpath".into(), h.linkname.as_bytes().to_vec()));
            truncate(&h.linkname, 100)
        } else {
            h.linkname.as_str()
        };
        let mut num = |key: &str, v: u64, width: usize| -> u64 {
            if v >= 8u64.pow(width as u32 - 1) {
                pax.push((key.into(), v.to_string().into_bytes()));
                0
            } else {
                v
            }
        };
        let uid = num("uid", h.uid, 8);
        let gid = num("gid", h.gid, 8);
        let size = num("size", h.size, 12);
        let mtime = match u64::try_from(h.mtime) {
            Ok(m) => num("mtime", m, 12),
            Err(_) => {
                pax.push(("mtime".into(), h.mtime.to_string().into_bytes()));
                0
            }
        };
        let uname = if h.uname.len() > 32 {
            pax.push(("uname".into(), h.uname.as_bytes().to_vec()));
            ""
        } else {
            h.uname.as_str()
        };
        let gname = if h.gname.len() > 32 {
            pax.push(("gname".into(), h.gname.as_bytes().to_vec()));
            ""
        } else {
            h.gname.as_str()
        };
        for (k, v) in &h.xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }

        if !pax.is_empty() {
            let body = pax_records(&pax);
            let pax_header = TarHeader {
                path: pax_header_name(&h.path),
                typeflag: flag::PAX,
                mode: 0o644,
                size: body.len() as u64,
                mtime: h.mtime.max(0),
                ..TarHeader::default()
            };
            self.write_header(&pax_header)?;
            self.w.write_all(&body)?;
            self.pad(body.len() as u64)?;
        }

        let mut b = [0u8; BLOCK];
        put_str(&mut b[0..100], name);
        put_octal(&mut b[100..108], u64::from(h.mode & 0o7777));
        put_octal(&mut b[108..116], uid);
        put_octal(&mut b[116..124], gid);
        put_octal(&mut b[124..136], size);
        put_octal(&mut b[136..148], mtime);
        b[156] = h.typeflag;
        put_str(&mut b[157..257], linkname);
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        put_str(&mut b[265..297], uname);
        put_str(&mut b[297..329], gname);
        // Device numbers are written as zeros for every other type too, as Go and GNU tar do;
        // some readers (the `tar` crate among them) reject an all-NUL numeric field.
        put_octal(&mut b[329..337], u64::from(h.devmajor));
        put_octal(&mut b[337..345], u64::from(h.devminor));
        put_str(&mut b[345..500], prefix);
        // The checksum is computed with its own field filled with spaces, then stored as six
        // octal digits, NUL, space (POSIX; what Go's archive/tar writes).
        b[148..156].copy_from_slice(b"        ");
        let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
        put_octal(&mut b[148..155], u64::from(sum));
        b[155] = b' ';
        self.w.write_all(&b)
    }
}

struct CountingWriter<'a, W: Write> {
    w: &'a mut W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.w.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Splits a path into ustar `(prefix, name)`, or `None` if it needs a PAX `path` record.
fn split_ustar_path(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // Split at a '/' so that the prefix fits 155 bytes and the rest 100 (a trailing '/' of a
    // directory stays in the name part).
    let bytes = path.as_bytes();
    let search_end = (path.len() - 1).min(155);
    (1..=search_end)
        .rev()
        .filter(|&i| bytes[i] == b'/')
        .map(|i| (&path[..i], &path[i + 1..]))
        .find(|(_, name)| !name.is_empty() && name.len() <= 100)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Go's naming for PAX headers: `<dir>/PaxHeaders.0/<base>`, cut to 100 bytes.
fn pax_header_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let (dir, base) = match trimmed.rfind('/') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    let name = if dir.is_empty() {
        format!("PaxHeaders.0/{base}")
    } else {
        format!("{dir}/PaxHeaders.0/{base}")
    };
    truncate(&name, 100).to_string()
}

/// Encodes PAX records: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let rest = k.len() + v.len() + 3; // ' ', '=', '\n'
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

fn put_str(field: &mut [u8], s: &str) {
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s.as_bytes()[..n]);
}

/// Zero-padded octal digits filling all but the last byte, which stays NUL.
fn put_octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (path, type, content, uid, PAX records) of every entry.
    type Listing = Vec<(String, tar::EntryType, Vec<u8>, u64, Vec<(String, Vec<u8>)>)>;

    fn read_all(bytes: &[u8]) -> Listing {
        let mut ar = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let ty = e.header().entry_type();
            let uid = e.header().uid().unwrap();
            let mut xattrs = Vec::new();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    xattrs.push((ext.key().unwrap().to_string(), ext.value_bytes().to_vec()));
                }
            }
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            out.push((path, ty, data, uid, xattrs));
        }
        out
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        // 9 + len("9") = 10 is wrong; the classic example: "30 mtime=1350244992.023960108\n".
        let r = pax_records(&[("mtime".into(), b"1350244992.023960108".to_vec())]);
        assert_eq!(r, b"30 mtime=1350244992.023960108\n");
        let r = pax_records(&[("a".into(), b"b".to_vec())]);
        assert_eq!(r, b"6 a=b\n");
        // A record whose length crosses a power of ten.
        let v = vec![b'x'; 94];
        let r = pax_records(&[("k".into(), v)]);
        assert_eq!(r.len(), 101);
        assert!(r.starts_with(b"101 k="));
    }

    #[test]
    fn round_trips_through_the_tar_crate() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let very_long = "x/".repeat(150) + "end";
        let mut w = TarWriter::new(Vec::new());
        let mut h = TarHeader {
            path: "a.txt".into(),
            typeflag: flag::REG,
            mode: 0o644,
            ..Default::default()
        };
        h.xattrs.insert("user.k".into(), b"v\0binary".to_vec());
        w.append(&h, b"hello").unwrap();
        let h = TarHeader {
            path: long.clone(),
            typeflag: flag::REG,
            mode: 0o600,
            uid: 5_000_000,
            ..Default::default()
        };
        w.append(&h, b"").unwrap();
        let h = TarHeader {
            path: very_long.clone(),
            typeflag: flag::SYMLINK,
            linkname: "t".repeat(150),
            ..Default::default()
        };
        w.append(&h, b"").unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % 512, 0);

        let got = read_all(&bytes);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, "a.txt");
        assert_eq!(got[0].2, b"hello");
        assert_eq!(
            got[0].4,
            vec![("SCHILY.xattr.user.k".to_string(), b"v\0binary".to_vec())]
        );
        assert_eq!(got[1].0, long);
        assert_eq!(got[1].3, 5_000_000);
        assert_eq!(got[2].0, very_long);
        assert_eq!(got[2].1, tar::EntryType::Symlink);
        // (The tar crate verifies every header checksum while reading.)
    }

    #[test]
    fn size_mismatch_is_an_error() {
        let mut w = TarWriter::new(Vec::new());
        let h = TarHeader {
            path: "f".into(),
            typeflag: flag::REG,
            size: 3,
            ..Default::default()
        };
        let err = w.append_with(&h, |w| w.write_all(b"ab")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
