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

use crate::consts::DEFAULT_MTIME;
use crate::digest::{Digest, HashingWriter};
use crate::entry::{Entry, EntryKind, normalize, walk_order_key};
use crate::rng;
use crate::rootfs::{Rootfs, Tree};
use crate::tarw::TarWriter;

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
        Self {
            seed,
            entries: BTreeMap::new(),
            default_mtime: DEFAULT_MTIME,
            implicit_parents: true,
        }
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
                tw.append(&h, &[])
                    .expect("in-memory tar write is infallible");
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
    fn emit(
        e: Entry,
        out: &mut Vec<Entry>,
        emitted: &mut BTreeSet<String>,
        waiting: &mut HashMap<String, Vec<Entry>>,
    ) {
        let path = e.path.clone();
        out.push(e);
        emitted.insert(path.clone());
        for w in waiting.remove(&path).unwrap_or_default() {
            emit(w, out, emitted, waiting);
        }
    }
    for e in sorted {
        match &e.kind {
            EntryKind::Hardlink(t)
                if present.contains(t) && !emitted.contains(t) && *t != e.path =>
            {
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
        Compression::Zstd => {
            zstd::stream::encode_all(data, 3).expect("zstd into memory is infallible")
        }
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
        Self {
            digest: Digest::sha256(&data),
            size: data.len() as u64,
            data,
        }
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
            // The uncompressed blob is the tar itself, already hashed as the DiffID.
            Compression::None => Arc::new(Blob {
                data: self.tar_shared(),
                digest: self.diff_id.clone(),
                size: self.size(),
            }),
            Compression::Gzip => Arc::clone(
                self.gzip
                    .get_or_init(|| Arc::new(Blob::new(compress(&self.tar, c)))),
            ),
            Compression::Zstd => Arc::clone(
                self.zstd
                    .get_or_init(|| Arc::new(Blob::new(compress(&self.tar, c)))),
            ),
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
        let c = if gzip {
            Compression::Gzip
        } else {
            Compression::None
        };
        std::fs::write(path, self.blob(c).data())
    }
}

#[cfg(test)]
mod tests;
