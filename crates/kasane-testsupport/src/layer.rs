//! Layer tars built from a declarative list of entries, deterministically.
//!
//! Owns: [`Entry`] (one tar member: path, kind, mode, owner, mtime, xattrs), [`LayerBuilder`]
//! and the finished [`Layer`] (uncompressed tar, DiffID, lazily compressed [`Blob`]s).
//!
//! Model: a layer is a set of entries keyed by path. `build` adds missing parent directories
//! (unless [`LayerBuilder::implicit_parents`] is off), orders entries the way a sorted
//! depth-first walk does — with whiteouts first among their siblings, as the OCI spec asks —
//! and writes a PAX/ustar tar. Everything that is not set explicitly is fixed: mtimes default
//! to [`DEFAULT_MTIME`], owners to 0:0, random content is seeded from the layer seed and the
//! path. The same builder therefore always yields the same DiffID.
//!
//! Lifecycle:
//! ```
//! use kasane_testsupport::{Compression, Entry, LayerBuilder};
//! let layer = LayerBuilder::new(7)
//!     .file("etc/hostname", "box\n")
//!     .entry(Entry::random_file("bin/app", 4096).mode(0o4755))
//!     .symlink("bin/sh", "app")
//!     .whiteout("var/cache/old")
//!     .build();
//! assert!(layer.diff_id().as_str().starts_with("sha256:"));
//! let gz = layer.blob(Compression::Gzip);
//! assert_eq!(gz.size, gz.data().len() as u64);
//! ```
//!
//! Spec: OCI image-spec `layer.md` (changesets, whiteouts, opaque whiteouts, "whiteout files
//! appear before sibling directory entries"); PAX `SCHILY.xattr.*` for extended attributes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::digest::{Digest, HashingWriter};
use crate::rng::{self, write_random, write_text};
use crate::rootfs::{Rootfs, Tree};
use crate::tarw::{flag, TarHeader, TarWriter};

/// Default mtime of every entry: 2024-01-01T00:00:00Z.
pub const DEFAULT_MTIME: i64 = 1_704_067_200;

/// Basename prefix that marks a whiteout (OCI `layer.md` "Whiteouts"); written by layer
/// producers, read by every unpacker.
pub const WHITEOUT_PREFIX: &str = ".wh.";

/// Basename of the opaque-directory marker (OCI `layer.md` "Opaque Whiteout").
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// The bytes of a regular file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// Exactly these bytes.
    Bytes(Arc<Vec<u8>>),
    /// `len` incompressible pseudo-random bytes; `seed` defaults to one derived from the layer
    /// seed and the path.
    Random {
        /// Length in bytes.
        len: u64,
        /// Explicit seed, or `None` for the layer-derived one.
        seed: Option<u64>,
    },
    /// `len` bytes of compressible text (words and newlines).
    Text {
        /// Length in bytes.
        len: u64,
        /// Explicit seed, or `None` for the layer-derived one.
        seed: Option<u64>,
    },
    /// `random` random bytes followed by `text` bytes of text, like real binaries-with-data.
    Mixed {
        /// Length of the random prefix.
        random: u64,
        /// Length of the text suffix.
        text: u64,
        /// Explicit seed, or `None` for the layer-derived one.
        seed: Option<u64>,
    },
}

impl Content {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Random { len, .. } | Content::Text { len, .. } => *len,
            Content::Mixed { random, text, .. } => random + text,
        }
    }

    /// True for empty content.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same content with its seed fixed (no-op for bytes or an explicit seed).
    fn resolved(&self, default_seed: u64) -> Content {
        match self {
            Content::Bytes(_) => self.clone(),
            Content::Random { len, seed } => Content::Random { len: *len, seed: Some(seed.unwrap_or(default_seed)) },
            Content::Text { len, seed } => Content::Text { len: *len, seed: Some(seed.unwrap_or(default_seed)) },
            Content::Mixed { random, text, seed } => {
                Content::Mixed { random: *random, text: *text, seed: Some(seed.unwrap_or(default_seed)) }
            }
        }
    }

    /// Streams the content into `w`.
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        match self {
            Content::Bytes(b) => w.write_all(b),
            Content::Random { len, seed } => write_random(w, seed.unwrap_or(0), *len),
            Content::Text { len, seed } => write_text(w, seed.unwrap_or(0), *len),
            Content::Mixed { random, text, seed } => {
                let s = seed.unwrap_or(0);
                write_random(w, s, *random)?;
                write_text(w, s.wrapping_add(1), *text)
            }
        }
    }

    /// The content as one vector (fine for small files; large ones are better streamed).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        // Writing into a Vec cannot fail and the generators have no other error source.
        self.write_to(&mut v).expect("writing into a Vec is infallible");
        v
    }
}

/// What kind of filesystem object an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File(Content),
    /// A symbolic link to the given target (not resolved, may dangle or be absolute).
    Symlink(String),
    /// A hard link to an earlier entry of the layer (path relative to the layer root).
    Hardlink(String),
    /// A character device.
    CharDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One tar member. Plain data with chaining setters for the optional parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the layer root, without leading `/` or `./` and without trailing `/`.
    pub path: String,
    /// The object.
    pub kind: EntryKind,
    /// Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    pub mode: u32,
    /// Owner uid.
    pub uid: u64,
    /// Owner gid.
    pub gid: u64,
    /// Owner user name in the header (`uname`), empty when `None`.
    pub uname: Option<String>,
    /// Owner group name in the header (`gname`), empty when `None`.
    pub gname: Option<String>,
    /// Seconds since the epoch, or `None` for the layer default.
    pub mtime: Option<i64>,
    /// Extended attributes, written as PAX `SCHILY.xattr.<name>` records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Strips leading `/` and `./` and trailing `/`; `.` and `/` become the empty root path.
pub(crate) fn normalize(path: &str) -> String {
    let mut s = path;
    loop {
        let t = s.trim_start_matches('/');
        match t.strip_prefix("./") {
            Some(rest) => s = rest,
            None => {
                s = t;
                break;
            }
        }
    }
    let s = s.trim_end_matches('/');
    if s == "." { String::new() } else { s.to_string() }
}

impl Entry {
    fn new(path: &str, kind: EntryKind, mode: u32) -> Self {
        Self {
            path: normalize(path),
            kind,
            mode,
            uid: 0,
            gid: 0,
            uname: None,
            gname: None,
            mtime: None,
            xattrs: BTreeMap::new(),
        }
    }

    /// A directory, mode 0755.
    pub fn dir(path: &str) -> Self {
        Self::new(path, EntryKind::Dir, 0o755)
    }

    /// A regular file with the given bytes, mode 0644.
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Self {
        Self::new(path, EntryKind::File(Content::Bytes(Arc::new(data.into()))), 0o644)
    }

    /// A regular file of `len` pseudo-random (incompressible) bytes, mode 0644.
    pub fn random_file(path: &str, len: u64) -> Self {
        Self::new(path, EntryKind::File(Content::Random { len, seed: None }), 0o644)
    }

    /// A regular file of `len` bytes of compressible text, mode 0644.
    pub fn text_file(path: &str, len: u64) -> Self {
        Self::new(path, EntryKind::File(Content::Text { len, seed: None }), 0o644)
    }

    /// A regular file with arbitrary [`Content`], mode 0644.
    pub fn content_file(path: &str, content: Content) -> Self {
        Self::new(path, EntryKind::File(content), 0o644)
    }

    /// A symlink, mode 0777.
    pub fn symlink(path: &str, target: &str) -> Self {
        Self::new(path, EntryKind::Symlink(target.to_string()), 0o777)
    }

    /// A hard link to `target` (a path in the same layer, or in a lower one).
    pub fn hardlink(path: &str, target: &str) -> Self {
        Self::new(path, EntryKind::Hardlink(normalize(target)), 0o644)
    }

    /// A character device, mode 0644 (`/dev/null` is `char_device(.., 1, 3)`).
    pub fn char_device(path: &str, major: u32, minor: u32) -> Self {
        Self::new(path, EntryKind::CharDevice { major, minor }, 0o644)
    }

    /// A block device, mode 0644.
    pub fn block_device(path: &str, major: u32, minor: u32) -> Self {
        Self::new(path, EntryKind::BlockDevice { major, minor }, 0o644)
    }

    /// A named pipe, mode 0644.
    pub fn fifo(path: &str) -> Self {
        Self::new(path, EntryKind::Fifo, 0o644)
    }

    /// The whiteout `.wh.<name>` that deletes `path` from the layers below.
    pub fn whiteout(path: &str) -> Self {
        let p = normalize(path);
        let wh = match p.rfind('/') {
            Some(i) => format!("{}/{WHITEOUT_PREFIX}{}", &p[..i], &p[i + 1..]),
            None => format!("{WHITEOUT_PREFIX}{p}"),
        };
        // moby's `pkg/archive` writes whiteouts as empty regular files with mode 0.
        Self::new(&wh, EntryKind::File(Content::Bytes(Arc::new(Vec::new()))), 0)
    }

    /// The opaque marker `<dir>/.wh..wh..opq` that hides everything below `dir` in lower layers.
    pub fn opaque(dir: &str) -> Self {
        let d = normalize(dir);
        let p = if d.is_empty() { OPAQUE_MARKER.to_string() } else { format!("{d}/{OPAQUE_MARKER}") };
        Self::new(&p, EntryKind::File(Content::Bytes(Arc::new(Vec::new()))), 0)
    }

    /// Sets the permission bits (e.g. `0o4755` for setuid).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the numeric owner.
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Sets the owner names written in the header.
    pub fn owner_names(mut self, uname: &str, gname: &str) -> Self {
        self.uname = Some(uname.to_string());
        self.gname = Some(gname.to_string());
        self
    }

    /// Sets the mtime (seconds since the epoch; negative values are written as PAX records).
    pub fn mtime(mut self, secs: i64) -> Self {
        self.mtime = Some(secs);
        self
    }

    /// Adds an extended attribute (e.g. `user.foo`, `security.capability`).
    pub fn xattr(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.xattrs.insert(name.to_string(), value.into());
        self
    }

    /// Fixes the seed of generated content (random/text); no-op for other kinds.
    pub fn seed(mut self, seed: u64) -> Self {
        if let EntryKind::File(
            Content::Random { seed: s, .. } | Content::Text { seed: s, .. } | Content::Mixed { seed: s, .. },
        ) = &mut self.kind
        {
            *s = Some(seed);
        }
        self
    }

    /// The basename (last path component).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// True for `.wh.*` entries, including the opaque marker.
    pub fn is_whiteout(&self) -> bool {
        self.name().starts_with(WHITEOUT_PREFIX)
    }

    pub(crate) fn header(&self, default_mtime: i64) -> TarHeader {
        let (typeflag, size, linkname, devmajor, devminor) = match &self.kind {
            EntryKind::Dir => (flag::DIR, 0, String::new(), 0, 0),
            EntryKind::File(c) => (flag::REG, c.len(), String::new(), 0, 0),
            EntryKind::Symlink(t) => (flag::SYMLINK, 0, t.clone(), 0, 0),
            EntryKind::Hardlink(t) => (flag::LINK, 0, t.clone(), 0, 0),
            EntryKind::CharDevice { major, minor } => (flag::CHAR, 0, String::new(), *major, *minor),
            EntryKind::BlockDevice { major, minor } => (flag::BLOCK, 0, String::new(), *major, *minor),
            EntryKind::Fifo => (flag::FIFO, 0, String::new(), 0, 0),
        };
        let path = match (&self.kind, self.path.is_empty()) {
            (_, true) => "./".to_string(),
            (EntryKind::Dir, false) => format!("{}/", self.path),
            _ => self.path.clone(),
        };
        TarHeader {
            path,
            typeflag,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            uname: self.uname.clone().unwrap_or_default(),
            gname: self.gname.clone().unwrap_or_default(),
            size,
            mtime: self.mtime.unwrap_or(default_mtime),
            linkname,
            devmajor,
            devminor,
            xattrs: self.xattrs.clone(),
        }
    }
}

/// Sort key of a path: component-wise (a depth-first walk), whiteouts first among siblings.
pub(crate) fn walk_order_key(path: &str) -> Vec<(u8, &str)> {
    path.split('/')
        .map(|c| {
            let rank = if c == OPAQUE_MARKER {
                0
            } else if c.starts_with(WHITEOUT_PREFIX) {
                1
            } else {
                2
            };
            (rank, c)
        })
        .collect()
}

/// Collects entries and builds a [`Layer`].
#[derive(Clone, Debug)]
pub struct LayerBuilder {
    seed: u64,
    entries: BTreeMap<String, Entry>,
    default_mtime: i64,
    implicit_parents: bool,
}

impl LayerBuilder {
    /// An empty layer whose generated content derives from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed, entries: BTreeMap::new(), default_mtime: DEFAULT_MTIME, implicit_parents: true }
    }

    /// Adds an entry; a later entry with the same path replaces the earlier one.
    pub fn entry(mut self, entry: Entry) -> Self {
        self.entries.insert(entry.path.clone(), entry);
        self
    }

    /// Adds a directory (mode 0755).
    pub fn dir(self, path: &str) -> Self {
        self.entry(Entry::dir(path))
    }

    /// Adds a regular file with the given bytes (mode 0644).
    pub fn file(self, path: &str, data: impl Into<Vec<u8>>) -> Self {
        self.entry(Entry::file(path, data))
    }

    /// Adds a file of `len` random bytes.
    pub fn random_file(self, path: &str, len: u64) -> Self {
        self.entry(Entry::random_file(path, len))
    }

    /// Adds a file of `len` bytes of compressible text.
    pub fn text_file(self, path: &str, len: u64) -> Self {
        self.entry(Entry::text_file(path, len))
    }

    /// Adds a symlink.
    pub fn symlink(self, path: &str, target: &str) -> Self {
        self.entry(Entry::symlink(path, target))
    }

    /// Adds a hard link to `target`.
    pub fn hardlink(self, path: &str, target: &str) -> Self {
        self.entry(Entry::hardlink(path, target))
    }

    /// Adds a character device.
    pub fn char_device(self, path: &str, major: u32, minor: u32) -> Self {
        self.entry(Entry::char_device(path, major, minor))
    }

    /// Adds a block device.
    pub fn block_device(self, path: &str, major: u32, minor: u32) -> Self {
        self.entry(Entry::block_device(path, major, minor))
    }

    /// Adds a FIFO.
    pub fn fifo(self, path: &str) -> Self {
        self.entry(Entry::fifo(path))
    }

    /// Adds a whiteout deleting `path` from lower layers.
    pub fn whiteout(self, path: &str) -> Self {
        self.entry(Entry::whiteout(path))
    }

    /// Adds an opaque marker hiding the lower-layer contents of `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        self.entry(Entry::opaque(dir))
    }

    /// Sets the mtime of entries that do not set their own (default [`DEFAULT_MTIME`]).
    pub fn default_mtime(mut self, secs: i64) -> Self {
        self.default_mtime = secs;
        self
    }

    /// Whether missing parent directories are added as 0755 root-owned entries (default: on,
    /// as in docker's diffs). Turn off to produce tars that rely on the unpacker creating them.
    /// Note that an implicit parent also overrides the metadata of that directory from lower
    /// layers, exactly as an explicit entry would.
    pub fn implicit_parents(mut self, on: bool) -> Self {
        self.implicit_parents = on;
        self
    }

    /// The entries added so far, by path.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Writes the tar and computes its DiffID.
    pub fn build(self) -> Layer {
        let mut entries = self.entries;
        if self.implicit_parents {
            let mut parents = BTreeSet::new();
            for path in entries.keys() {
                let mut p = path.as_str();
                while let Some(i) = p.rfind('/') {
                    p = &p[..i];
                    parents.insert(p.to_string());
                }
            }
            for p in parents {
                entries.entry(p.clone()).or_insert_with(|| Entry::dir(&p));
            }
        }
        let mut resolved: Vec<Entry> = entries
            .into_values()
            .map(|mut e| {
                if let EntryKind::File(c) = &e.kind {
                    e.kind = EntryKind::File(c.resolved(rng::mix(self.seed, &e.path)));
                }
                e.mtime = Some(e.mtime.unwrap_or(self.default_mtime));
                e
            })
            .collect();
        resolved.sort_by(|a, b| walk_order_key(&a.path).cmp(&walk_order_key(&b.path)));
        let ordered = hardlinks_after_targets(resolved);

        let mut digests = BTreeMap::new();
        let mut tw = TarWriter::new(HashingWriter::new(Vec::new()));
        for e in &ordered {
            let h = e.header(self.default_mtime);
            // Writing into a Vec cannot fail, and `append_with` only errs on a size mismatch,
            // which cannot happen because the header size is the content's own length.
            if let EntryKind::File(c) = &e.kind {
                let mut digest = None;
                tw.append_with(&h, |w| {
                    let mut hw = HashingWriter::new(w);
                    c.write_to(&mut hw)?;
                    digest = Some(hw.finish().1);
                    Ok(())
                })
                .expect("in-memory tar write is infallible");
                if let Some(d) = digest {
                    digests.insert(e.path.clone(), d);
                }
            } else {
                tw.append(&h, &[]).expect("in-memory tar write is infallible");
            }
        }
        let hw = tw.finish().expect("in-memory tar write is infallible");
        let (tar, diff_id, _) = hw.finish();
        Layer {
            entries: ordered,
            digests,
            tar: Arc::new(tar),
            diff_id,
            default_mtime: self.default_mtime,
            gzip: OnceLock::new(),
            zstd: OnceLock::new(),
        }
    }
}

/// Moves each hardlink right after its target when the target would otherwise come later
/// (a tar hardlink may only name an entry that was already extracted).
fn hardlinks_after_targets(sorted: Vec<Entry>) -> Vec<Entry> {
    let present: BTreeSet<String> = sorted.iter().map(|e| e.path.clone()).collect();
    let mut emitted: BTreeSet<String> = BTreeSet::new();
    let mut waiting: HashMap<String, Vec<Entry>> = HashMap::new();
    let mut out = Vec::with_capacity(sorted.len());
    fn emit(e: Entry, out: &mut Vec<Entry>, emitted: &mut BTreeSet<String>, waiting: &mut HashMap<String, Vec<Entry>>) {
        let path = e.path.clone();
        out.push(e);
        emitted.insert(path.clone());
        for w in waiting.remove(&path).unwrap_or_default() {
            emit(w, out, emitted, waiting);
        }
    }
    for e in sorted {
        match &e.kind {
            EntryKind::Hardlink(t) if present.contains(t) && !emitted.contains(t) && *t != e.path => {
                waiting.entry(t.clone()).or_default().push(e);
            }
            _ => emit(e, &mut out, &mut emitted, &mut waiting),
        }
    }
    // Links in a cycle never get their target emitted; write them anyway, in order.
    let mut rest: Vec<Entry> = waiting.into_values().flatten().collect();
    rest.sort_by(|a, b| walk_order_key(&a.path).cmp(&walk_order_key(&b.path)));
    out.extend(rest);
    out
}

/// Layer or archive compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Uncompressed tar.
    None,
    /// gzip (RFC 1952), level 6, no name, mtime 0 — like `gzip -n`.
    #[default]
    Gzip,
    /// zstd (RFC 8878), level 3.
    Zstd,
}

/// Compresses `data` deterministically.
pub(crate) fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    // All writes go to memory; neither encoder has another failure mode.
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::new(6));
            enc.write_all(data).expect("gzip into memory is infallible");
            enc.finish().expect("gzip into memory is infallible")
        }
        Compression::Zstd => zstd::stream::encode_all(data, 3).expect("zstd into memory is infallible"),
    }
}

/// A blob as stored: bytes, digest, size.
#[derive(Clone, Debug)]
pub struct Blob {
    data: Arc<Vec<u8>>,
    /// Digest of the bytes.
    pub digest: Digest,
    /// Length of the bytes.
    pub size: u64,
}

impl Blob {
    /// A blob holding `data`.
    pub fn new(data: Vec<u8>) -> Self {
        Self::from_arc(Arc::new(data))
    }

    pub(crate) fn from_arc(data: Arc<Vec<u8>>) -> Self {
        Self { digest: Digest::sha256(&data), size: data.len() as u64, data }
    }

    /// The bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub(crate) fn shared(&self) -> Arc<Vec<u8>> {
        Arc::clone(&self.data)
    }
}

/// A finished layer: the uncompressed tar and everything tests assert on.
#[derive(Debug)]
pub struct Layer {
    entries: Vec<Entry>,
    digests: BTreeMap<String, Digest>,
    tar: Arc<Vec<u8>>,
    diff_id: Digest,
    default_mtime: i64,
    gzip: OnceLock<Arc<Blob>>,
    zstd: OnceLock<Arc<Blob>>,
}

impl Layer {
    /// The uncompressed tar.
    pub fn tar(&self) -> &[u8] {
        &self.tar
    }

    pub(crate) fn tar_shared(&self) -> Arc<Vec<u8>> {
        Arc::clone(&self.tar)
    }

    /// The DiffID: digest of the uncompressed tar.
    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }

    /// Size of the uncompressed tar in bytes.
    pub fn size(&self) -> u64 {
        self.tar.len() as u64
    }

    /// The entries in tar order, with seeds and mtimes resolved.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Digest of a regular file's content in this layer.
    pub fn file_digest(&self, path: &str) -> Option<&Digest> {
        self.digests.get(&normalize(path))
    }

    /// True if the layer contains whiteouts or opaque markers.
    pub fn has_whiteouts(&self) -> bool {
        self.entries.iter().any(Entry::is_whiteout)
    }

    /// The tar in the given compression (computed once, then cached).
    pub fn blob(&self, c: Compression) -> Arc<Blob> {
        match c {
            Compression::None => Arc::new(Blob::from_arc(self.tar_shared())),
            Compression::Gzip => Arc::clone(self.gzip.get_or_init(|| Arc::new(Blob::new(compress(&self.tar, c))))),
            Compression::Zstd => Arc::clone(self.zstd.get_or_init(|| Arc::new(Blob::new(compress(&self.tar, c))))),
        }
    }

    /// The tree this layer produces when applied to an empty rootfs.
    pub fn rootfs(&self) -> Rootfs {
        let mut t = Tree::default();
        t.apply(self);
        t.to_rootfs()
    }

    pub(crate) fn default_mtime(&self) -> i64 {
        self.default_mtime
    }

    /// Writes this layer as a plain rootfs tarball (for `import`), optionally gzipped.
    ///
    /// # Errors
    /// `InvalidInput` if the layer has whiteouts (a rootfs tarball has none), or the I/O error.
    pub fn write_rootfs_tar(&self, path: &Path, gzip: bool) -> io::Result<()> {
        if self.has_whiteouts() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a rootfs tarball cannot contain whiteouts; use Image::write_rootfs_tar to flatten",
            ));
        }
        let c = if gzip { Compression::Gzip } else { Compression::None };
        std::fs::write(path, self.blob(c).data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn listing(layer: &Layer) -> Vec<(String, tar::EntryType, u32, u64, Vec<u8>)> {
        let mut ar = tar::Archive::new(layer.tar());
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, h.entry_type(), h.mode().unwrap(), h.mtime().unwrap(), data)
            })
            .collect()
    }

    #[test]
    fn normalize_cases() {
        for (input, want) in [("/a/b/", "a/b"), ("./a", "a"), ("a", "a"), ("/", ""), (".", ""), ("././x/", "x"), ("//x", "x")] {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn order_is_depth_first_with_whiteouts_first_and_parents_implicit() {
        let layer = LayerBuilder::new(1)
            .file("a-c", "1")
            .file("a/b", "2")
            .whiteout("a/zzz")
            .opaque("a")
            .file("x/y/z", "3")
            .build();
        let paths: Vec<String> = listing(&layer).into_iter().map(|e| e.0).collect();
        assert_eq!(paths, ["a/", "a/.wh..wh..opq", "a/.wh.zzz", "a/b", "a-c", "x/", "x/y/", "x/y/z"]);
    }

    #[test]
    fn deterministic_and_seed_sensitive() {
        let make = |seed| LayerBuilder::new(seed).random_file("r", 1000).text_file("t", 1000).build();
        assert_eq!(make(1).diff_id(), make(1).diff_id());
        assert_ne!(make(1).diff_id(), make(2).diff_id());
        // Insertion order does not matter.
        let a = LayerBuilder::new(3).random_file("p", 10).random_file("q", 10).build();
        let b = LayerBuilder::new(3).random_file("q", 10).random_file("p", 10).build();
        assert_eq!(a.diff_id(), b.diff_id());
        assert_eq!(a.file_digest("p"), b.file_digest("/p"));
    }

    #[test]
    fn every_kind_round_trips() {
        let layer = LayerBuilder::new(9)
            .entry(Entry::dir("d").mode(0o700).owner(1000, 1000).mtime(5))
            .entry(Entry::file("d/suid", "x").mode(0o4755).xattr("user.k", "v"))
            .symlink("d/sl", "/etc/passwd")
            .hardlink("d/a-link", "d/suid")
            .char_device("dev/null", 1, 3)
            .block_device("dev/sda", 8, 0)
            .fifo("d/pipe")
            .build();
        let mut ar = tar::Archive::new(layer.tar());
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let exts: Vec<(String, Vec<u8>)> = e
                .pax_extensions()
                .unwrap()
                .map(|x| x.map(|x| x.unwrap()).map(|x| (x.key().unwrap().to_string(), x.value_bytes().to_vec())).collect())
                .unwrap_or_default();
            seen.push((path, h.entry_type(), h.mode().unwrap(), h.uid().unwrap(), h.mtime().unwrap(), exts, h.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()), h.device_major().unwrap(), h.device_minor().unwrap()));
        }
        let by_path: BTreeMap<_, _> = seen.iter().map(|s| (s.0.clone(), s)).collect();
        assert_eq!(by_path["d/"].1, tar::EntryType::Directory);
        assert_eq!((by_path["d/"].2, by_path["d/"].3, by_path["d/"].4), (0o700, 1000, 5));
        assert_eq!(by_path["d/suid"].2, 0o4755);
        assert_eq!(by_path["d/suid"].5, vec![("SCHILY.xattr.user.k".to_string(), b"v".to_vec())]);
        assert_eq!(by_path["d/sl"].6.as_deref(), Some("/etc/passwd"));
        assert_eq!(by_path["d/a-link"].1, tar::EntryType::Link);
        assert_eq!(by_path["dev/null"].1, tar::EntryType::Char);
        assert_eq!((by_path["dev/null"].7, by_path["dev/null"].8), (Some(1), Some(3)));
        assert_eq!(by_path["dev/sda"].1, tar::EntryType::Block);
        assert_eq!(by_path["d/pipe"].1, tar::EntryType::Fifo);
        // The hard link sorts before its target by name but is written after it.
        let order: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        let link = order.iter().position(|p| *p == "d/a-link").unwrap();
        let target = order.iter().position(|p| *p == "d/suid").unwrap();
        assert!(target < link, "{order:?}");
        assert_eq!(Digest::sha256(layer.tar()), *layer.diff_id());
    }

    #[test]
    fn default_mtime_applies_to_unset_entries() {
        let layer = LayerBuilder::new(0).default_mtime(123).file("f", "").entry(Entry::file("g", "").mtime(7)).build();
        let l = listing(&layer);
        assert_eq!(l[0].3, 123);
        assert_eq!(l[1].3, 7);
    }

    #[test]
    fn compressed_blobs_decompress_to_the_tar() {
        let layer = LayerBuilder::new(5).text_file("t", 100_000).build();
        let gz = layer.blob(Compression::Gzip);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz.data()).read_to_end(&mut out).unwrap();
        assert_eq!(out, layer.tar());
        assert!(gz.size < layer.size() / 2, "text compresses");
        let zs = layer.blob(Compression::Zstd);
        assert_eq!(zstd::stream::decode_all(zs.data()).unwrap(), layer.tar());
        assert_eq!(zs.digest, Digest::sha256(zs.data()));
        assert!(Arc::ptr_eq(&gz, &layer.blob(Compression::Gzip)), "cached");
        assert_eq!(layer.blob(Compression::None).digest, *layer.diff_id());
    }

    #[test]
    fn rootfs_tar_refuses_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let layer = LayerBuilder::new(0).whiteout("x").build();
        let err = layer.write_rootfs_tar(&dir.path().join("r.tar"), false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let ok = LayerBuilder::new(0).file("x", "y").build();
        ok.write_rootfs_tar(&dir.path().join("r.tar.gz"), true).unwrap();
        let bytes = std::fs::read(dir.path().join("r.tar.gz")).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    }
}
