//! [`TarIndex`]: random access into a tar file without unpacking it.
//!
//! One pass over the headers records, for every regular file, where its data starts and how
//! long it is; blobs are then served by positional reads (`pread`) into the tar file, so
//! several threads read different entries at once and nothing is written to disk.
//!
//! Hardened for untrusted archives: at most [`MAX_TAR_ENTRIES`] entries, paths of at most
//! [`MAX_TAR_PATH`] bytes, PAX records of at most 1 MiB, header checksums checked, data
//! ranges inside the file, no absolute or `..` paths, no duplicate file paths, and link chains
//! of at most 16 hops that stay inside the archive. Links are resolved (docker's legacy save
//! and containers/image write `<id>/layer.tar` as symlinks to a shared file).
//!
//! Spec: POSIX.1-2001 `pax` (ustar + extended headers), GNU tar `L`/`K` long names, GNU
//! base-256 sizes.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// The most entries an archive may have.
pub const MAX_TAR_ENTRIES: usize = 100_000;
/// The longest entry path or link target accepted, in bytes.
pub const MAX_TAR_PATH: usize = 4096;
const MAX_PAX: u64 = 1024 * 1024;
const MAX_LINK_HOPS: usize = 16;
const BLOCK: u64 = 512;

/// Where a regular file's bytes are in the tar file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TarEntry {
    /// Offset of the first data byte.
    pub offset: u64,
    /// Length of the data.
    pub size: u64,
}

#[derive(Debug, Clone)]
enum Node {
    File(TarEntry),
    HardLink(String),
    Symlink(String),
    Dir,
    Other,
}

/// The regular files of a tar archive, by normalised path (no `./` prefix, no trailing `/`).
#[derive(Debug)]
pub struct TarIndex {
    file: File,
    name: PathBuf,
    nodes: HashMap<String, Node>,
}

impl TarIndex {
    /// Opens and scans the tar file at `path`.
    ///
    /// # Errors
    /// `Io` when it cannot be opened or read; `Invalid` when it is malformed or breaks the
    /// limits above.
    pub fn open(path: &Path) -> Result<TarIndex> {
        let file = File::open(path).map_err(|e| StoreError::io("opening", path, e))?;
        Self::scan_named(file, path.to_path_buf())
    }

    /// Scans an open tar file (a spooled stdin, for example).
    ///
    /// # Errors
    /// As [`TarIndex::open`].
    pub fn scan(file: File) -> Result<TarIndex> {
        let name = file_name_of(&file);
        Self::scan_named(file, name)
    }

    fn scan_named(file: File, name: PathBuf) -> Result<TarIndex> {
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("reading", &name, e))?
            .len();
        let mut scanner = Scanner {
            file: &file,
            name: &name,
            len,
            nodes: HashMap::new(),
        };
        scanner.run()?;
        let nodes = scanner.nodes;
        Ok(TarIndex { file, name, nodes })
    }

    /// The archive's path (for messages).
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// The regular file at `path`, following hard and symbolic links.
    pub fn entry(&self, path: &str) -> Option<TarEntry> {
        let mut current = normalize(path)?;
        for _ in 0..MAX_LINK_HOPS {
            match self.nodes.get(&current)? {
                Node::File(e) => return Some(*e),
                Node::HardLink(target) => current = target.clone(),
                Node::Symlink(target) => current = resolve_symlink(&current, target)?,
                Node::Dir | Node::Other => return None,
            }
        }
        None
    }

    /// Whether `path` names a regular file (after links).
    pub fn contains(&self, path: &str) -> bool {
        self.entry(path).is_some()
    }

    /// Paths of all regular files, hard links and symlinks (unordered).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .filter(|(_, n)| matches!(n, Node::File(_) | Node::HardLink(_) | Node::Symlink(_)))
            .map(|(p, _)| p.as_str())
    }

    /// A reader over an entry's bytes (positional reads; many may be open at once).
    pub fn reader(&self, entry: TarEntry) -> EntryReader<'_> {
        EntryReader {
            file: &self.file,
            pos: entry.offset,
            end: entry.offset + entry.size,
        }
    }

    /// Reads a small entry whole.
    ///
    /// # Errors
    /// `NotFound` when absent; `TooLarge` over `limit`; `Io`.
    pub fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let entry = self
            .entry(path)
            .ok_or_else(|| StoreError::NotFound(format!("{path} in {}", self.name.display())))?;
        if entry.size > limit {
            return Err(StoreError::TooLarge {
                what: format!("{path} in {}", self.name.display()),
                size: entry.size,
                limit,
            });
        }
        self.read_range(entry.offset, entry.size as usize)
    }

    /// Reads up to `n` bytes from the start of an entry (magic-number sniffing).
    ///
    /// # Errors
    /// `Io`.
    pub fn read_prefix(&self, entry: TarEntry, n: usize) -> Result<Vec<u8>> {
        let n = n.min(usize::try_from(entry.size).unwrap_or(usize::MAX));
        self.read_range(entry.offset, n)
    }

    fn read_range(&self, offset: u64, n: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| StoreError::io("reading", &self.name, e))?;
        Ok(buf)
    }
}

/// Reads one entry's bytes from the tar file with `pread`.
#[derive(Debug)]
pub struct EntryReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl EntryReader<'_> {
    /// Skips `n` bytes (or to the end).
    pub fn skip(&mut self, n: u64) {
        self.pos = self.pos.saturating_add(n).min(self.end);
    }
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar file shrank while reading",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

struct Scanner<'a> {
    file: &'a File,
    name: &'a Path,
    len: u64,
    nodes: HashMap<String, Node>,
}

#[derive(Default)]
struct Pending {
    long_name: Option<String>,
    long_link: Option<String>,
    pax_path: Option<String>,
    pax_link: Option<String>,
    pax_size: Option<u64>,
}

impl Scanner<'_> {
    fn invalid(&self, reason: impl Into<String>) -> StoreError {
        StoreError::invalid(format!("archive {}", self.name.display()), reason)
    }

    fn run(&mut self) -> Result<()> {
        let mut pos = 0u64;
        let mut pending = Pending::default();
        let mut count = 0usize;
        let mut header = [0u8; BLOCK as usize];
        loop {
            if pos == self.len {
                break; // no end-of-archive blocks: tolerated, as GNU tar and Go do
            }
            if pos + BLOCK > self.len {
                return Err(self.invalid(format!("truncated header at offset {pos}")));
            }
            self.file
                .read_exact_at(&mut header, pos)
                .map_err(|e| StoreError::io("reading", self.name, e))?;
            if header.iter().all(|b| *b == 0) {
                break;
            }
            count += 1;
            if count > MAX_TAR_ENTRIES {
                return Err(self.invalid(format!("more than {MAX_TAR_ENTRIES} entries")));
            }
            if !checksum_ok(&header) {
                return Err(self.invalid(format!("header checksum mismatch at offset {pos}")));
            }
            let typeflag = header[156];
            let is_extension = matches!(typeflag, b'L' | b'K' | b'x' | b'g');
            let header_size = parse_number(&header[124..136])
                .ok_or_else(|| self.invalid(format!("bad size field at offset {pos}")))?;
            let size = if is_extension {
                header_size
            } else {
                pending.pax_size.take().unwrap_or(header_size)
            };
            let data = pos + BLOCK;
            let end = data
                .checked_add(size)
                .filter(|end| *end <= self.len)
                .ok_or_else(|| self.invalid(format!("entry at offset {pos} runs past the end")))?;
            match typeflag {
                b'L' => pending.long_name = Some(self.read_name(data, size)?),
                b'K' => pending.long_link = Some(self.read_name(data, size)?),
                b'x' => self.read_pax(data, size, &mut pending)?,
                b'g' => {} // global PAX headers carry nothing an image archive needs
                _ => {
                    let raw_path = pending
                        .pax_path
                        .take()
                        .or(pending.long_name.take())
                        .unwrap_or_else(|| header_path(&header));
                    let raw_link = pending
                        .pax_link
                        .take()
                        .or(pending.long_link.take())
                        .unwrap_or_else(|| cstr(&header[157..257]));
                    pending = Pending::default();
                    self.add(typeflag, &raw_path, &raw_link, data, size)?;
                }
            }
            pos = end
                .checked_add(BLOCK - 1)
                .map(|e| e & !(BLOCK - 1))
                .ok_or_else(|| self.invalid("size overflow"))?;
        }
        Ok(())
    }

    fn add(
        &mut self,
        typeflag: u8,
        raw_path: &str,
        raw_link: &str,
        data: u64,
        size: u64,
    ) -> Result<()> {
        if raw_path.len() > MAX_TAR_PATH || raw_link.len() > MAX_TAR_PATH {
            return Err(self.invalid(format!("path longer than {MAX_TAR_PATH} bytes")));
        }
        let Some(path) = normalize(raw_path) else {
            return Err(self.invalid(format!(
                "entry path {raw_path:?} is absolute or leaves the archive"
            )));
        };
        if path.is_empty() {
            return Ok(()); // "./" itself
        }
        let node = match typeflag {
            b'0' | b'\0' | b'7' => Node::File(TarEntry { offset: data, size }),
            b'1' => Node::HardLink(normalize(raw_link).ok_or_else(|| {
                self.invalid(format!("hard link {path} points outside the archive"))
            })?),
            b'2' => Node::Symlink(raw_link.to_owned()),
            b'5' => Node::Dir,
            _ => Node::Other,
        };
        match self.nodes.entry(path) {
            MapEntry::Vacant(v) => {
                v.insert(node);
            }
            MapEntry::Occupied(mut o) => {
                if matches!((o.get(), &node), (Node::Dir, Node::Dir)) {
                    return Ok(());
                }
                if matches!(o.get(), Node::Dir | Node::Other)
                    && matches!(node, Node::Dir | Node::Other)
                {
                    o.insert(node);
                    return Ok(());
                }
                // Two entries for one file: readers disagree about which wins, so refuse.
                let path = o.key().clone();
                return Err(self.invalid(format!("duplicate entry {path}")));
            }
        }
        Ok(())
    }

    fn read_name(&self, data: u64, size: u64) -> Result<String> {
        if size > MAX_TAR_PATH as u64 + 1 {
            return Err(self.invalid(format!("long name longer than {MAX_TAR_PATH} bytes")));
        }
        let mut buf = vec![0u8; size as usize];
        self.file
            .read_exact_at(&mut buf, data)
            .map_err(|e| StoreError::io("reading", self.name, e))?;
        Ok(cstr(&buf))
    }

    fn read_pax(&self, data: u64, size: u64, pending: &mut Pending) -> Result<()> {
        if size > MAX_PAX {
            return Err(self.invalid(format!("PAX header larger than {MAX_PAX} bytes")));
        }
        let mut buf = vec![0u8; size as usize];
        self.file
            .read_exact_at(&mut buf, data)
            .map_err(|e| StoreError::io("reading", self.name, e))?;
        let mut rest = &buf[..];
        while !rest.is_empty() {
            // "<len> <key>=<value>\n", where <len> counts the whole record.
            let bad = || self.invalid(format!("malformed PAX record at offset {data}"));
            let space = rest.iter().position(|b| *b == b' ').ok_or_else(bad)?;
            let len: usize = std::str::from_utf8(&rest[..space])
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|l| *l > space + 1 && *l <= rest.len())
                .ok_or_else(bad)?;
            let record = &rest[space + 1..len];
            let record = record.strip_suffix(b"\n").ok_or_else(bad)?;
            let eq = record.iter().position(|b| *b == b'=').ok_or_else(bad)?;
            let value = String::from_utf8_lossy(&record[eq + 1..]).into_owned();
            match &record[..eq] {
                b"path" => pending.pax_path = Some(value),
                b"linkpath" => pending.pax_link = Some(value),
                b"size" => {
                    pending.pax_size = Some(value.parse().map_err(|_| bad())?);
                }
                _ => {}
            }
            rest = &rest[len..];
        }
        Ok(())
    }
}

fn checksum_ok(header: &[u8; BLOCK as usize]) -> bool {
    let Some(want) = parse_number(&header[148..156]) else {
        return false;
    };
    let unsigned: u64 = header
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    // Some old writers summed signed bytes; accept either, as Go's archive/tar does.
    let signed: i64 = header
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                i64::from(*b as i8)
            }
        })
        .sum();
    want == unsigned || i64::try_from(want).is_ok_and(|w| w == signed)
}

/// An octal field, or GNU base-256 when the high bit of the first byte is set.
fn parse_number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    let s: &[u8] = {
        let start = field
            .iter()
            .position(|b| *b != b' ' && *b != 0)
            .unwrap_or(field.len());
        let rest = &field[start..];
        let end = rest
            .iter()
            .position(|b| *b == b' ' || *b == 0)
            .unwrap_or(rest.len());
        &rest[..end]
    };
    if s.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for b in s {
        if !(b'0'..=b'7').contains(b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// name, with the ustar prefix when the header is POSIX ustar (GNU headers have no prefix).
fn header_path(header: &[u8; BLOCK as usize]) -> String {
    let name = cstr(&header[0..100]);
    if &header[257..263] == b"ustar\0" {
        let prefix = cstr(&header[345..500]);
        if !prefix.is_empty() {
            return format!("{prefix}/{name}");
        }
    }
    name
}

/// `./a//b/` → `a/b`; `None` for absolute paths and any `..` component.
fn normalize(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Resolves a symlink at `link` with `target`, relative to the link's directory; `None`
/// when it would leave the archive.
fn resolve_symlink(link: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new() // absolute targets are taken relative to the archive root
    } else {
        let mut p: Vec<&str> = link.split('/').collect();
        p.pop();
        p
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The path an open file was opened at, for messages (`/proc/self/fd`), or a placeholder.
fn file_name_of(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .unwrap_or_else(|_| PathBuf::from("<archive>"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize("manifest.json").as_deref(), Some("manifest.json"));
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("a/../b"), None);
    }

    #[test]
    fn resolves_symlinks_inside_only() {
        assert_eq!(
            resolve_symlink("abc/layer.tar", "../def/layer.tar").as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(resolve_symlink("layer.tar", "../../x"), None);
    }

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_number(b"0000644\0"), Some(0o644));
        assert_eq!(parse_number(b"   12 \0"), Some(0o12));
        assert_eq!(parse_number(&[0x80, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(parse_number(b"9"), None);
    }
}
