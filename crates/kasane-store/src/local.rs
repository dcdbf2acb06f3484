//! The local content store: committed blobs plus resumable ingests on the local filesystem.
//!
//! Owns the `blobs/`, `ingest/` and `tmp/` directories of the state root:
//! ```text
//! <root>
//! ├── blobs/sha256/<hex>         committed, verified, read-only (0444), immutable
//! ├── ingest/<ref>/data          bytes accepted so far (locked while a writer is open)
//! ├── ingest/<ref>/meta          JSON: expected descriptor, start time
//! └── tmp/                       scratch (spooled archives); anything here may be deleted
//! ```
//! `<ref>` is `sha256-<hex>` for a write whose digest is known up front (so every writer of
//! one blob meets at one ingest), `random-<hex>` otherwise, or a caller's name
//! ([`LocalStore::writer_with_ref`], e.g. a registry upload session).
//!
//! Lifecycle (what a pull does per layer):
//! ```no_run
//! # fn main() -> kasane_store::Result<()> {
//! use std::io::Write;
//! use kasane_store::{Ingester, local::LocalStore};
//! # let desc: kasane_oci::Descriptor = todo!();
//! let store = LocalStore::open("/var/lib/kasane".as_ref())?;
//! let mut w = store.writer(Some(&desc))?;
//! let resume_at = w.offset(); // > 0 after an interrupted pull: send `Range: bytes=N-`
//! # let body: &[u8] = &[];
//! w.write_all(body).map_err(|e| kasane_store::StoreError::Stream { what: "pulling".into(), source: e })?;
//! let (digest, size) = w.commit()?; // verify → fsync → rename into blobs/ → fsync dir
//! # Ok(()) }
//! ```
//!
//! Concurrency: an open writer holds an exclusive `flock` on its `data` file. A second writer
//! of the same blob (another thread or process) **waits** for the lock (polling, up to
//! [`LocalStore::with_ingest_wait`], default [`DEFAULT_INGEST_WAIT`]) and then either finds
//! the blob committed (and gets an [`ExistingBlob`] writer whose offset is the full size, so
//! nothing is sent again: the same blob is pulled once) or resumes where the first stopped.
//! When the wait runs out it fails with `StoreError::Conflict`. A writer checks, after
//! locking, that its file is still the one at the ingest path, so it never appends to a file
//! that a committer has just renamed into `blobs/`.
//!
//! Durability: `commit` fsyncs the data, renames it into `blobs/` and fsyncs the directory
//! before it returns; readers never see a partial blob. A killed writer leaves an ingest that
//! the next writer of that digest resumes (it rehashes the prefix on disk, the truth) or that
//! GC removes ([`LocalStore::list_ingests`], [`LocalStore::abort_ingest`]).
//!
//! Spec: containerd `plugins/content/local` (same model); OCI distribution-spec resumable
//! pulls via HTTP `Range`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use kasane_oci::{Algorithm, Descriptor, Digest, Digester};
use serde::{Deserialize, Serialize};

use crate::atomic::{self, IfExists};
use crate::content::{BlobVerifier, BlobWriter, ExistingBlob, Ingester, Provider};
use crate::error::{Result, StoreError};

/// How long a writer waits for another writer of the same blob by default.
pub const DEFAULT_INGEST_WAIT: Duration = Duration::from_secs(30 * 60);

/// Buffer size for streaming blob bytes (hashing, copying): large, so that load and verify
/// run at disk speed.
pub const IO_BUFFER: usize = 1024 * 1024;

const BLOBS_DIR: &str = "blobs";
const INGEST_DIR: &str = "ingest";
const TMP_DIR: &str = "tmp";
const DATA_FILE: &str = "data";
const META_FILE: &str = "meta";
const MAX_META: u64 = 64 * 1024;
const MAX_REF_LEN: usize = 160;

/// The name of an ingest (a directory under `ingest/`).
///
/// `[A-Za-z0-9_.-]`, 1 to 160 characters, not starting with `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IngestRef(String);

impl IngestRef {
    /// The ingest every writer of `digest` shares: `sha256-<hex>`.
    pub fn for_digest(digest: &Digest) -> Self {
        IngestRef(format!("{}-{}", digest.algorithm(), digest.hex()))
    }

    /// A fresh, unique name for a write whose digest is not known up front.
    pub fn random() -> Self {
        IngestRef(format!("random-{:032x}", rand::random::<u128>()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digest this ingest is named after, when it is a [`IngestRef::for_digest`] name.
    pub fn digest(&self) -> Option<Digest> {
        let (alg, hex) = self.0.split_once('-')?;
        format!("{alg}:{hex}").parse().ok()
    }
}

impl fmt::Display for IngestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for IngestRef {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_REF_LEN
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return Err(StoreError::invalid(
                "ingest reference",
                format!("{s:?}: expected 1-{MAX_REF_LEN} characters of [A-Za-z0-9_.-]"),
            ));
        }
        Ok(IngestRef(s.to_owned()))
    }
}

/// An in-progress write, as GC and `system df` see it.
#[derive(Debug, Clone)]
pub struct IngestStatus {
    /// Its name.
    pub reference: IngestRef,
    /// The descriptor the writer announced, if any.
    pub expected: Option<Descriptor>,
    /// Bytes on disk (where a resumed writer continues).
    pub offset: u64,
    /// Last write to the data file.
    pub updated: SystemTime,
    /// Time since the last write (GC removes idle ingests older than its grace period).
    pub age: Duration,
    /// Whether a writer holds it right now (GC must leave it alone).
    pub active: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct IngestMeta {
    expected: Option<Descriptor>,
    /// Seconds since the Unix epoch when the ingest was started.
    started: u64,
}

/// The blob store under a state root. Cheap to share by reference across threads.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    blobs: PathBuf,
    ingest: PathBuf,
    tmp: PathBuf,
    ingest_wait: Duration,
}

impl LocalStore {
    /// Opens the store at `root`, creating `blobs/sha256`, `ingest/` and `tmp/` if missing.
    ///
    /// # Errors
    /// `Io` when a directory cannot be created.
    pub fn open(root: &Path) -> Result<LocalStore> {
        let store = LocalStore {
            root: root.to_path_buf(),
            blobs: root.join(BLOBS_DIR),
            ingest: root.join(INGEST_DIR),
            tmp: root.join(TMP_DIR),
            ingest_wait: DEFAULT_INGEST_WAIT,
        };
        atomic::create_dir_all_durable(&store.blobs.join(Algorithm::Sha256.as_str()))?;
        atomic::create_dir_all_durable(&store.ingest)?;
        atomic::create_dir_all_durable(&store.tmp)?;
        Ok(store)
    }

    /// Sets how long a writer waits for another writer of the same blob before failing with
    /// `Conflict` (zero: fail at once).
    pub fn with_ingest_wait(mut self, wait: Duration) -> Self {
        self.ingest_wait = wait;
        self
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Scratch space on the same filesystem (spooled archives, temp files).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Where the committed blob `digest` lives (whether or not it exists). For read-only fast
    /// paths (reflink, `copy_file_range`, sendfile); never write through it.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    fn ingest_dir(&self, reference: &IngestRef) -> PathBuf {
        self.ingest.join(reference.as_str())
    }

    /// Rehashes the committed blob and compares it with its name (`system check`).
    ///
    /// # Errors
    /// `BlobNotFound`; `DigestMismatch` when the bytes on disk are corrupt; `Io`.
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        let file = open_blob(&path, digest)?;
        let mut digester = Digester::new(digest.algorithm());
        hash_prefix(&file, &path, u64::MAX, &mut |b| digester.update(b))?;
        let actual = digester.finish();
        if &actual != digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Removes a committed blob. Callers (GC) make sure nothing references it.
    ///
    /// # Errors
    /// `BlobNotFound` when it is absent; `Io`.
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(StoreError::io("removing", path, e)),
        }
    }

    /// Iterates over committed blobs as `(digest, size)`, in directory order. Files whose
    /// names are not digests are skipped.
    ///
    /// # Errors
    /// `Io` when `blobs/` cannot be listed; each item may fail on its own.
    pub fn list_blobs(&self) -> Result<BlobIter> {
        let mut dirs = Vec::new();
        for alg in [Algorithm::Sha512, Algorithm::Sha256] {
            let dir = self.blobs.join(alg.as_str());
            match fs::read_dir(&dir) {
                Ok(rd) => dirs.push((alg, dir, rd)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("listing", dir, e)),
            }
        }
        Ok(BlobIter { dirs })
    }

    /// Lists in-progress writes with their age and whether a writer holds them.
    ///
    /// # Errors
    /// `Io` when `ingest/` cannot be listed.
    pub fn list_ingests(&self) -> Result<Vec<IngestStatus>> {
        let rd =
            fs::read_dir(&self.ingest).map_err(|e| StoreError::io("listing", &self.ingest, e))?;
        let now = SystemTime::now();
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| StoreError::io("listing", &self.ingest, e))?;
            let Some(reference) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<IngestRef>().ok())
            else {
                continue; // not ours (a stray file); GC's business, not the listing's
            };
            let dir = entry.path();
            let data = dir.join(DATA_FILE);
            let (offset, updated, active) = match File::open(&data) {
                Ok(f) => {
                    let md = f
                        .metadata()
                        .map_err(|e| StoreError::io("reading", &data, e))?;
                    let active = match f.try_lock() {
                        Ok(()) => false, // released when `f` drops
                        Err(fs::TryLockError::WouldBlock) => true,
                        Err(fs::TryLockError::Error(e)) => {
                            return Err(StoreError::io("locking", &data, e));
                        }
                    };
                    (md.len(), md.modified().unwrap_or(now), active)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // A directory being set up or torn down; report it by the dir's mtime.
                    let md = match entry.metadata() {
                        Ok(md) => md,
                        Err(_) => continue, // removed meanwhile
                    };
                    (0, md.modified().unwrap_or(now), false)
                }
                Err(e) => return Err(StoreError::io("opening", data, e)),
            };
            let expected = read_meta(&dir.join(META_FILE)).and_then(|m| m.expected);
            out.push(IngestStatus {
                reference,
                expected,
                offset,
                updated,
                age: now.duration_since(updated).unwrap_or_default(),
                active,
            });
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    /// Removes an ingest that no writer holds.
    ///
    /// # Errors
    /// `NotFound` when absent; `Conflict` when a writer holds it; `Io`.
    pub fn abort_ingest(&self, reference: &IngestRef) -> Result<()> {
        let dir = self.ingest_dir(reference);
        if !dir.is_dir() {
            return Err(StoreError::NotFound(format!("ingest {reference}")));
        }
        let data = dir.join(DATA_FILE);
        // Hold the lock while removing so that no writer starts on it meanwhile.
        let _guard = match File::open(&data) {
            Ok(f) => match f.try_lock() {
                Ok(()) => Some(f),
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Conflict(format!(
                        "ingest {reference} is being written"
                    )));
                }
                Err(fs::TryLockError::Error(e)) => return Err(StoreError::io("locking", data, e)),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io("opening", data, e)),
        };
        remove_dir(&dir)
    }

    /// Starts or resumes the ingest named `reference` (a registry upload session, for
    /// example). Unlike [`Ingester::writer`], the ingest stays on disk when the writer is
    /// dropped uncommitted, even without an expected digest, so the caller can come back.
    ///
    /// # Errors
    /// As [`Ingester::writer`].
    pub fn writer_with_ref(
        &self,
        reference: &IngestRef,
        expected: Option<&Descriptor>,
    ) -> Result<Box<dyn BlobWriter + '_>> {
        self.open_writer(reference.clone(), expected, WriterMode::plain(true))
    }

    /// A witnessed writer (see [`Ingester::witnessed_writer`]) that keeps what an interrupted
    /// write of the same blob left: its offset is where that write stopped. The caller must
    /// witness those bytes too, reading them back with [`LocalStore::open_ingest`], and send
    /// only the rest (a pull resumed with `Range`). A blob committed meanwhile yields an
    /// [`ExistingBlob`] writer, as with every writer.
    ///
    /// # Errors
    /// As [`Ingester::writer`].
    pub fn witnessed_resuming_writer(
        &self,
        expected: &Descriptor,
    ) -> Result<Box<dyn BlobWriter + '_>> {
        self.open_writer(
            IngestRef::for_digest(&expected.digest),
            Some(expected),
            WriterMode {
                keep_on_drop: true,
                witnessed: true,
                keep_prefix: true,
            },
        )
    }

    /// A witnessed writer (see [`Ingester::witnessed_writer`]) for a blob whose digest is not
    /// known until the caller has hashed all of it: `import` stores the uncompressed tarball
    /// while applying it, and commits with the DiffID that apply computed over the same bytes.
    /// Dropped uncommitted, its ingest is removed.
    ///
    /// # Errors
    /// As [`Ingester::writer`].
    pub fn witnessed_unknown_writer(&self) -> Result<Box<dyn BlobWriter + '_>> {
        self.open_writer(
            IngestRef::random(),
            None,
            WriterMode {
                keep_on_drop: false,
                witnessed: true,
                keep_prefix: false,
            },
        )
    }

    /// Opens the bytes an ingest holds so far, for reading (the writer holding the ingest
    /// may be appending meanwhile; read only up to its offset).
    ///
    /// # Errors
    /// `Io` when the ingest does not exist.
    pub fn open_ingest(&self, reference: &IngestRef) -> Result<File> {
        let path = self.ingest_dir(reference).join(DATA_FILE);
        File::open(&path).map_err(|e| StoreError::io("opening", path, e))
    }

    fn open_writer(
        &self,
        reference: IngestRef,
        expected: Option<&Descriptor>,
        mode: WriterMode,
    ) -> Result<Box<dyn BlobWriter + '_>> {
        let dir = self.ingest_dir(&reference);
        let data_path = dir.join(DATA_FILE);
        let deadline = Instant::now() + self.ingest_wait;
        // Each turn either returns or observed a committer/aborter replacing the data file
        // under us; that can only happen a few times in a row.
        for _ in 0..64 {
            if let Some(existing) = self.existing(expected)? {
                return Ok(Box::new(existing));
            }
            fs::create_dir_all(&dir).map_err(|e| StoreError::io("creating directory", &dir, e))?;
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&data_path)
            {
                Ok(f) => f,
                // The directory was removed by a committer between the two calls: retry.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("opening", &data_path, e)),
            };
            lock_until(&file, &data_path, deadline, &reference)?;
            if !same_inode(&file, &data_path)? {
                continue;
            }
            if let Some(existing) = self.existing(expected)? {
                // Committed by someone else meanwhile: this ingest is useless now. Remove it
                // while holding its lock (best effort: GC collects leftovers).
                if let Err(e) = remove_dir(&dir) {
                    tracing::warn!(ingest = %reference, error = %e, "removing superseded ingest");
                }
                return Ok(Box::new(existing));
            }
            return self.resume(reference, dir, data_path, file, expected, mode);
        }
        Err(StoreError::Conflict(format!(
            "ingest {reference} keeps changing under this writer"
        )))
    }

    /// An [`ExistingBlob`] writer when the expected blob is committed already.
    fn existing(&self, expected: Option<&Descriptor>) -> Result<Option<ExistingBlob>> {
        let Some(desc) = expected else {
            return Ok(None);
        };
        let path = self.blob_path(&desc.digest);
        match fs::metadata(&path) {
            Ok(md) if md.len() == desc.size => {
                Ok(Some(ExistingBlob::new(desc.digest.clone(), desc.size)))
            }
            Ok(md) => Err(StoreError::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: md.len(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("checking", path, e)),
        }
    }

    /// Turns a locked data file into a writer positioned after the bytes already on disk.
    fn resume(
        &self,
        reference: IngestRef,
        dir: PathBuf,
        data_path: PathBuf,
        mut file: File,
        expected: Option<&Descriptor>,
        mode: WriterMode,
    ) -> Result<Box<dyn BlobWriter + '_>> {
        let WriterMode {
            keep_on_drop,
            witnessed,
            keep_prefix,
        } = mode;
        let meta_path = dir.join(META_FILE);
        let meta = IngestMeta {
            expected: expected.cloned(),
            started: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let meta_bytes = serde_json::to_vec(&meta).map_err(|source| StoreError::Json {
            what: format!("ingest {reference} meta"),
            source,
        })?;
        let mut len = file
            .metadata()
            .map_err(|e| StoreError::io("reading", &data_path, e))?
            .len();
        // A different expectation than the one recorded (only possible with caller-chosen
        // refs) invalidates the bytes on disk.
        let recorded = read_meta(&meta_path);
        let stale = recorded.as_ref().is_some_and(|m| {
            m.expected.as_ref().map(|d| (&d.digest, d.size))
                != expected.map(|d| (&d.digest, d.size))
        });
        let too_long = expected.is_some_and(|d| len > d.size);
        if stale || too_long || (witnessed && !keep_prefix && len > 0) {
            file.set_len(0)
                .map_err(|e| StoreError::io("truncating", &data_path, e))?;
            len = 0;
        }
        if recorded.is_none() || stale {
            atomic::write_atomic(&meta_path, &meta_bytes)?;
        }
        let mut verifier = match expected {
            Some(desc) if witnessed => BlobVerifier::witnessed(desc),
            None if witnessed => BlobVerifier::witnessed_unknown(),
            _ => BlobVerifier::new(expected),
        };
        if len > 0 {
            let mut fed = Ok(());
            hash_prefix(&file, &data_path, len, &mut |b| {
                if fed.is_ok() {
                    fed = verifier.update(b);
                }
            })?;
            fed?;
            tracing::debug!(ingest = %reference, offset = len, "resuming ingest");
        }
        file.seek(SeekFrom::Start(len))
            .map_err(|e| StoreError::io("seeking", &data_path, e))?;
        Ok(Box::new(LocalWriter {
            store: self,
            reference,
            dir,
            data_path,
            file: Some(BufWriter::with_capacity(IO_BUFFER, file)),
            verifier,
            failed: false,
            keep_on_drop: keep_on_drop || expected.is_some(),
        }))
    }
}

impl Provider for LocalStore {
    fn open(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        let path = self.blob_path(&desc.digest);
        let file = open_blob(&path, &desc.digest)?;
        check_size(&file, &path, desc)?;
        Ok(Box::new(file))
    }

    fn contains(&self, digest: &Digest) -> Result<Option<u64>> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(md) => Ok(Some(md.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("checking", path, e)),
        }
    }

    fn open_at(&self, desc: &Descriptor, offset: u64) -> Result<Box<dyn Read + Send + '_>> {
        let path = self.blob_path(&desc.digest);
        let mut file = open_blob(&path, &desc.digest)?;
        check_size(&file, &path, desc)?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| StoreError::io("seeking", &path, e))?;
        Ok(Box::new(file))
    }
}

impl Ingester for LocalStore {
    /// Starts or resumes the write of `expected` at `ingest/sha256-<hex>` (waiting for another
    /// writer of the same blob, see the module docs), or a fresh `random-…` ingest when the
    /// digest is unknown (removed again if dropped uncommitted).
    fn writer(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        match expected {
            Some(desc) => self.open_writer(
                IngestRef::for_digest(&desc.digest),
                Some(desc),
                WriterMode::plain(true),
            ),
            None => self.open_writer(IngestRef::random(), None, WriterMode::plain(false)),
        }
    }

    /// A writer for `expected` that counts but does not hash: the caller hashes exactly the
    /// bytes it writes (for an uncompressed layer, the DiffID it computes while unpacking is
    /// the blob digest) and commits with [`BlobWriter::commit_witnessed`]. It never resumes
    /// an earlier ingest, whose bytes the caller did not see.
    ///
    /// # Errors
    /// As [`Ingester::writer`].
    fn witnessed_writer(&self, expected: &Descriptor) -> Result<Box<dyn BlobWriter + '_>> {
        self.open_writer(
            IngestRef::for_digest(&expected.digest),
            Some(expected),
            WriterMode {
                keep_on_drop: true,
                witnessed: true,
                keep_prefix: false,
            },
        )
    }
}

/// How a writer treats its ingest: keep it when dropped (for a resume), whether the caller
/// hashes, and whether a witnessed write keeps earlier bytes (only when the caller re-reads
/// them: it must witness every byte).
#[derive(Debug, Clone, Copy)]
struct WriterMode {
    keep_on_drop: bool,
    witnessed: bool,
    keep_prefix: bool,
}

impl WriterMode {
    /// A self-hashing writer.
    fn plain(keep_on_drop: bool) -> Self {
        WriterMode {
            keep_on_drop,
            witnessed: false,
            keep_prefix: true,
        }
    }
}

/// Iterator over committed blobs, from [`LocalStore::list_blobs`].
#[derive(Debug)]
pub struct BlobIter {
    dirs: Vec<(Algorithm, PathBuf, fs::ReadDir)>,
}

impl Iterator for BlobIter {
    type Item = Result<(Digest, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (alg, dir, rd) = self.dirs.last_mut()?;
            let entry = match rd.next() {
                None => {
                    self.dirs.pop();
                    continue;
                }
                Some(Err(e)) => return Some(Err(StoreError::io("listing", dir.clone(), e))),
                Some(Ok(entry)) => entry,
            };
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|hex| Digest::from_parts(*alg, hex).ok())
            else {
                continue; // a temp or stray file, not a blob
            };
            return Some(match entry.metadata() {
                Ok(md) => Ok((digest, md.len())),
                Err(e) => Err(StoreError::io("reading", entry.path(), e)),
            });
        }
    }
}

/// A writer into `ingest/<ref>/data`; holds the ingest lock until dropped.
struct LocalWriter<'a> {
    store: &'a LocalStore,
    reference: IngestRef,
    dir: PathBuf,
    data_path: PathBuf,
    /// `None` only after commit took it.
    file: Option<BufWriter<File>>,
    verifier: BlobVerifier,
    /// A write failed: what is on disk may differ from what was hashed, so refuse to commit.
    failed: bool,
    keep_on_drop: bool,
}

impl Write for LocalWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other(format!(
                "ingest {}: an earlier write failed",
                self.reference
            )));
        }
        if let Some((digest, size)) = self.verifier.expected()
            && self.verifier.count() + buf.len() as u64 > size
        {
            self.failed = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "blob {digest}: {} bytes written, more than the expected {size}",
                    self.verifier.count() + buf.len() as u64
                ),
            ));
        }
        let Some(file) = self.file.as_mut() else {
            unreachable!("LocalWriter used after commit");
        };
        match file.write(buf) {
            Ok(n) => {
                // Cannot fail: the size was checked above.
                let _ = self.verifier.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter for LocalWriter<'_> {
    fn offset(&self) -> u64 {
        self.verifier.count()
    }

    fn commit(self: Box<Self>) -> Result<(Digest, u64)> {
        self.finish(None)
    }

    fn commit_witnessed(self: Box<Self>, digest: Digest) -> Result<(Digest, u64)> {
        self.finish(Some(digest))
    }
}

impl LocalWriter<'_> {
    /// Verifies (with the caller's digest for a witnessed write) and publishes.
    fn finish(mut self: Box<Self>, witness: Option<Digest>) -> Result<(Digest, u64)> {
        let Some(buffered) = self.file.take() else {
            unreachable!("LocalWriter committed twice");
        };
        if self.failed {
            return Err(StoreError::Stream {
                what: format!("committing ingest {}", self.reference),
                source: io::Error::other("an earlier write failed"),
            });
        }
        let file = buffered
            .into_inner()
            .map_err(|e| StoreError::io("writing", &self.data_path, e.into_error()))?;
        let verified = self.verifier.take().finish_with(witness);
        let (digest, size) = match verified {
            Ok(v) => v,
            Err(e) => {
                // Bytes that do not verify are worthless: remove them (still holding the lock,
                // so no other writer picks them up meanwhile) and let a retry start clean.
                if let Err(rm) = remove_dir(&self.dir) {
                    tracing::warn!(ingest = %self.reference, error = %rm, "removing bad ingest");
                }
                self.keep_on_drop = true;
                drop(file);
                return Err(e);
            }
        };
        file.sync_all()
            .map_err(|e| StoreError::io("syncing", &self.data_path, e))?;
        // Committed blobs are read-only, so a stray writer through `blob_path` fails loudly.
        file.set_permissions(fs::Permissions::from_mode(0o444))
            .map_err(|e| StoreError::io("setting permissions of", &self.data_path, e))?;
        let target = self.store.blob_path(&digest);
        if let Some(parent) = target.parent() {
            atomic::create_dir_all_durable(parent)?;
        }
        // Publish while still holding the lock (it lives on `file`): a waiting writer then
        // sees either our ingest or the committed blob, never a half state.
        atomic::publish(&self.data_path, &target, IfExists::Keep)?;
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            // Best effort after a successful publish: GC collects the leftover.
            tracing::warn!(ingest = %self.reference, error = %e, "removing committed ingest");
        }
        self.keep_on_drop = true; // nothing left for Drop to clean up
        drop(file);
        Ok((digest, size))
    }
}

impl Drop for LocalWriter<'_> {
    fn drop(&mut self) {
        let Some(mut f) = self.file.take() else {
            return; // committed (or commit failed and cleaned up)
        };
        // Keep what was accepted so a later writer resumes (errors: that writer rehashes
        // whatever is on disk, so a short flush only costs bytes, not correctness).
        let _ = f.flush();
        if !self.keep_on_drop
            && let Err(e) = remove_dir(&self.dir)
        {
            tracing::warn!(ingest = %self.reference, error = %e, "removing abandoned ingest");
        }
        drop(f); // releases the lock last
    }
}

fn open_blob(path: &Path, digest: &Digest) -> Result<File> {
    File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StoreError::BlobNotFound(digest.clone()),
        _ => StoreError::io("opening", path, e),
    })
}

fn check_size(file: &File, path: &Path, desc: &Descriptor) -> Result<()> {
    let len = file
        .metadata()
        .map_err(|e| StoreError::io("reading", path, e))?
        .len();
    if len != desc.size {
        return Err(StoreError::SizeMismatch {
            digest: desc.digest.clone(),
            expected: desc.size,
            actual: len,
        });
    }
    Ok(())
}

fn read_meta(path: &Path) -> Option<IngestMeta> {
    let f = File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(MAX_META).read_to_end(&mut buf).ok()?;
    // A torn or foreign meta file is treated as absent: the data file is the truth.
    serde_json::from_slice(&buf).ok()
}

fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("removing", dir, e)),
    }
}

/// Feeds the first `len` bytes of `file` (from offset 0, positional reads) to `sink`.
fn hash_prefix(file: &File, path: &Path, len: u64, sink: &mut dyn FnMut(&[u8])) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; IO_BUFFER];
    let mut pos = 0u64;
    while pos < len {
        let want = (len - pos).min(IO_BUFFER as u64) as usize;
        let n = match file.read_at(&mut buf[..want], pos) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::io("reading", path, e)),
        };
        sink(&buf[..n]);
        pos += n as u64;
    }
    Ok(())
}

/// Takes the exclusive lock on `file`, polling until `deadline`.
fn lock_until(file: &File, path: &Path, deadline: Instant, reference: &IngestRef) -> Result<()> {
    let mut pause = Duration::from_millis(5);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(StoreError::io("locking", path, e)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(StoreError::Conflict(format!(
                "ingest {reference} is being written by another writer"
            )));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Whether the open `file` is still the file at `path` (a committer may have renamed it away).
fn same_inode(file: &File, path: &Path) -> Result<bool> {
    let open = file
        .metadata()
        .map_err(|e| StoreError::io("reading", path, e))?;
    match fs::metadata(path) {
        Ok(now) => Ok(now.ino() == open.ino() && now.dev() == open.dev()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("checking", path, e)),
    }
}
