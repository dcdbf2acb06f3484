//! `copy_graph`: the one operation behind pull, push, save, load and copy (ARCHITECTURE.md
//! principle 3).
//!
//! Owns the walk of an image graph (index → manifests → config and layers) from any
//! [`Provider`] into any [`Ingester`], children before parents, so that a destination never
//! holds a manifest whose blobs it lacks.
//!
//! Lifecycle of one copy:
//! ```text
//! walk   read root (bounded, verified) ─┬─ index: read each (platform-matching) child ─┐
//!                                       └─ manifest: note config + layers  ◄───────────┘
//! leaves config + layers, deduplicated, `jobs` at a time:
//!          dst_has? → "already exists"
//!          else writer(desc) → skip writer.offset() bytes of the source → stream → commit
//! parents manifests, then indexes (bytes already in memory from the walk), in post-order
//! ```
//!
//! Guarantees: every blob is committed through `Ingester::writer(Some(desc))`, whose commit
//! verifies size and digest before publishing (the content contract, checked for each
//! implementation by the conformance suite); manifests and indexes are additionally verified
//! when read during the walk. A failure stops the copy before any parent is written. The
//! progress callback is called from the worker threads.
//!
//! Spec: OCI image-spec `image-index.md`, `manifest.md`; containerd `core/images/handlers.go`
//! (`Dispatch`, `FilterPlatforms`) and `core/remotes/handlers.go` (`PushContent`: children
//! before parents).

use std::collections::HashSet;
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kasane_oci::{Descriptor, Digest, ManifestKind, Platform, media_type};

use crate::content::{Ingester, Provider, read_blob};
use crate::error::{Result, StoreError};
use crate::local::IO_BUFFER;

/// How deep indexes may nest (an index of indexes of …) before the walk gives up.
pub const MAX_GRAPH_DEPTH: usize = 8;

/// Options for [`copy_graph`].
#[derive(Clone)]
pub struct CopyOptions<'a> {
    /// Follow only index children whose platform matches (children without a platform are
    /// followed). `None`: every child.
    pub platform: Option<Platform>,
    /// How many blobs are copied at once (at least 1). Sinks that serialise writes (the tar
    /// writers) gain nothing from more than 1, and 1 keeps their entry order reproducible.
    pub jobs: usize,
    /// Called for every [`ProgressEvent`], from worker threads.
    pub progress: Option<&'a (dyn Fn(&ProgressEvent<'_>) + Sync)>,
    /// The source verified every blob when it stored it (the local store does, at commit;
    /// `system check` re-verifies): the destination then only counts bytes and commits with
    /// the source's digest, so a copy out of the store (`save`, `push`) is not slowed by
    /// hashing everything again. Never set it for a source whose bytes were not verified.
    pub trust_source: bool,
}

impl Default for CopyOptions<'_> {
    fn default() -> Self {
        CopyOptions {
            platform: None,
            jobs: 3, // docker's max-concurrent-downloads
            progress: None,
            trust_source: false,
        }
    }
}

impl std::fmt::Debug for CopyOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOptions")
            .field("platform", &self.platform)
            .field("jobs", &self.jobs)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// What happens to one blob during a copy.
#[derive(Debug, Clone, Copy)]
pub enum ProgressEvent<'a> {
    /// The transfer begins; `offset` bytes were there already (a resumed ingest).
    Started {
        /// The blob.
        desc: &'a Descriptor,
        /// Bytes the destination held before this transfer.
        offset: u64,
    },
    /// More bytes arrived; `done` counts from the blob's start (including the resumed prefix).
    Bytes {
        /// The blob.
        desc: &'a Descriptor,
        /// Bytes the destination holds now.
        done: u64,
    },
    /// The blob was verified and committed.
    Done {
        /// The blob.
        desc: &'a Descriptor,
    },
    /// The destination has the blob; nothing was transferred.
    AlreadyExists {
        /// The blob.
        desc: &'a Descriptor,
    },
    /// The blob is deliberately not copied.
    Skipped {
        /// The blob.
        desc: &'a Descriptor,
        /// Why ("platform not selected", "foreign layer not in source").
        reason: &'static str,
    },
}

/// What a [`copy_graph`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Blobs transferred and committed, children before parents.
    pub copied: Vec<Descriptor>,
    /// Blobs the destination already had.
    pub existing: Vec<Descriptor>,
    /// Blobs deliberately left out (other platforms, foreign layers absent from the source).
    pub skipped: Vec<Descriptor>,
    /// The image manifests reached (after platform filtering), in walk order.
    pub manifests: Vec<Descriptor>,
    /// Bytes transferred (resumed prefixes not counted).
    pub bytes: u64,
}

/// What [`copy_blob`] did with one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Transferred and committed; the bytes sent in this call.
    Copied(u64),
    /// The destination had it already.
    Existing,
}

/// Copies the image graph under `root` from `src` to `dst`, children before parents.
///
/// `dst_has` says whether the destination already holds a digest (a `Provider::contains`, a
/// registry `HEAD`, a tar sink's record of what it wrote); such blobs are reported as
/// "already exists" and not read.
///
/// # Errors
/// Anything the source, destination or parsing reports: `BlobNotFound` for a blob the source
/// lacks, `DigestMismatch`/`SizeMismatch` for content that does not verify, `Oci` for an
/// unparsable manifest, `Invalid` for a graph nested deeper than [`MAX_GRAPH_DEPTH`].
///
/// # Example
/// ```no_run
/// # fn main() -> kasane_store::Result<()> {
/// use kasane_store::{Provider, copy::{CopyOptions, copy_graph}, local::LocalStore};
/// use kasane_store::archive::{ImageArchive, open_archive};
/// let store = LocalStore::open("/var/lib/kasane".as_ref())?;
/// let archive = open_archive("image.tar".as_ref())?;
/// for image in archive.images() {
///     let has = |d: &kasane_oci::Digest| Ok(store.contains(d)?.is_some());
///     copy_graph(archive.as_provider(), &store, &has, &image.manifest, &CopyOptions::default())?;
/// }
/// # Ok(()) }
/// ```
pub fn copy_graph(
    src: &dyn Provider,
    dst: &dyn Ingester,
    dst_has: &(dyn Fn(&Digest) -> Result<bool> + Sync),
    root: &Descriptor,
    opts: &CopyOptions<'_>,
) -> Result<CopyReport> {
    let mut plan = Plan::default();
    walk(src, root, opts, 0, &mut plan)?;
    let mut report = CopyReport {
        skipped: plan.skipped.clone(),
        manifests: plan.manifests.clone(),
        ..CopyReport::default()
    };
    for desc in &plan.skipped_events {
        emit(
            opts,
            &ProgressEvent::Skipped {
                desc: &desc.0,
                reason: desc.1,
            },
        );
    }

    let outcomes = copy_leaves(src, dst, dst_has, &plan.leaves, opts)?;
    for (desc, outcome) in plan.leaves.iter().zip(outcomes) {
        record(&mut report, desc, outcome);
    }
    for (desc, bytes) in &plan.parents {
        let outcome = copy_bytes(dst, dst_has, desc, bytes, opts)?;
        record(&mut report, desc, outcome);
    }
    Ok(report)
}

/// Copies one blob from `src` to `dst`, resuming at the destination's offset.
///
/// # Errors
/// As [`copy_graph`].
pub fn copy_blob(
    src: &dyn Provider,
    dst: &dyn Ingester,
    dst_has: &(dyn Fn(&Digest) -> Result<bool> + Sync),
    desc: &Descriptor,
    opts: &CopyOptions<'_>,
) -> Result<BlobOutcome> {
    let mut buf = vec![0u8; IO_BUFFER];
    copy_one(src, dst, dst_has, desc, opts, &mut buf)
}

fn record(report: &mut CopyReport, desc: &Descriptor, outcome: BlobOutcome) {
    match outcome {
        BlobOutcome::Copied(n) => {
            report.bytes += n;
            report.copied.push(desc.clone());
        }
        BlobOutcome::Existing => report.existing.push(desc.clone()),
    }
}

fn emit(opts: &CopyOptions<'_>, event: &ProgressEvent<'_>) {
    if let Some(progress) = opts.progress {
        progress(event);
    }
}

#[derive(Default)]
struct Plan {
    seen: HashSet<Digest>,
    /// Configs and layers, deduplicated, in walk order.
    leaves: Vec<Descriptor>,
    /// Manifests and indexes with their (verified) bytes, in post-order.
    parents: Vec<(Descriptor, Vec<u8>)>,
    manifests: Vec<Descriptor>,
    skipped: Vec<Descriptor>,
    skipped_events: Vec<(Descriptor, &'static str)>,
}

impl Plan {
    fn skip(&mut self, desc: &Descriptor, reason: &'static str) {
        self.skipped.push(desc.clone());
        self.skipped_events.push((desc.clone(), reason));
    }
}

fn walk(
    src: &dyn Provider,
    desc: &Descriptor,
    opts: &CopyOptions<'_>,
    depth: usize,
    plan: &mut Plan,
) -> Result<()> {
    if !plan.seen.insert(desc.digest.clone()) {
        return Ok(());
    }
    let mt = desc.media_type.as_str();
    if !(media_type::is_manifest(mt) || media_type::is_index(mt)) {
        if media_type::is_foreign_layer(mt) && src.contains(&desc.digest)?.is_none() {
            // Foreign (non-distributable) layers are fetched from their URLs by whoever
            // unpacks them; registries and archives usually do not carry them.
            plan.skip(desc, "foreign layer not in source");
            return Ok(());
        }
        plan.leaves.push(desc.clone());
        return Ok(());
    }
    if depth >= MAX_GRAPH_DEPTH {
        return Err(StoreError::invalid(
            format!("image graph at {}", desc.digest),
            format!("indexes nested deeper than {MAX_GRAPH_DEPTH} levels"),
        ));
    }
    let bytes = read_blob(src, desc)?;
    let parsed =
        ManifestKind::parse(&bytes, Some(&desc.media_type)).map_err(|source| StoreError::Oci {
            what: format!("manifest {}", desc.digest),
            source,
        })?;
    match &parsed {
        ManifestKind::Index(index) => {
            for child in &index.manifests {
                let wanted = match (&opts.platform, &child.platform) {
                    (Some(want), Some(have)) => have.matches(want),
                    _ => true,
                };
                if wanted {
                    walk(src, child, opts, depth + 1, plan)?;
                } else if plan.seen.insert(child.digest.clone()) {
                    plan.skip(child, "platform not selected");
                }
            }
        }
        ManifestKind::Image(manifest) => {
            walk(src, &manifest.config, opts, depth + 1, plan)?;
            for layer in &manifest.layers {
                walk(src, layer, opts, depth + 1, plan)?;
            }
            plan.manifests.push(desc.clone());
        }
    }
    plan.parents.push((desc.clone(), bytes));
    Ok(())
}

/// Copies the leaves, `opts.jobs` at a time; the first error stops the others.
fn copy_leaves(
    src: &dyn Provider,
    dst: &dyn Ingester,
    dst_has: &(dyn Fn(&Digest) -> Result<bool> + Sync),
    leaves: &[Descriptor],
    opts: &CopyOptions<'_>,
) -> Result<Vec<BlobOutcome>> {
    let workers = opts.jobs.max(1).min(leaves.len());
    if workers <= 1 {
        let mut buf = vec![0u8; IO_BUFFER];
        return leaves
            .iter()
            .map(|d| copy_one(src, dst, dst_has, d, opts, &mut buf))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<BlobOutcome>>>> =
        Mutex::new((0..leaves.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut buf = vec![0u8; IO_BUFFER];
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(desc) = leaves.get(i) else { break };
                    let r = copy_one(src, dst, dst_has, desc, opts, &mut buf);
                    if r.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut slots) = results.lock() {
                        slots[i] = Some(r);
                    }
                }
            });
        }
    });
    let slots = results.into_inner().map_err(|_| {
        StoreError::Conflict("a copy worker panicked while recording its result".into())
    })?;
    let mut out = Vec::with_capacity(slots.len());
    let mut first_err = None;
    for slot in slots {
        match slot {
            Some(Ok(o)) => out.push(o),
            Some(Err(e)) => {
                first_err.get_or_insert(e);
            }
            None => {} // not started because another blob failed
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn copy_one(
    src: &dyn Provider,
    dst: &dyn Ingester,
    dst_has: &(dyn Fn(&Digest) -> Result<bool> + Sync),
    desc: &Descriptor,
    opts: &CopyOptions<'_>,
    buf: &mut [u8],
) -> Result<BlobOutcome> {
    if dst_has(&desc.digest)? {
        emit(opts, &ProgressEvent::AlreadyExists { desc });
        return Ok(BlobOutcome::Existing);
    }
    let mut w = if opts.trust_source {
        dst.witnessed_writer(desc)?
    } else {
        dst.writer(Some(desc))?
    };
    let offset = w.offset();
    if offset == desc.size && desc.size > 0 {
        // The destination holds every byte (a committed blob or a finished ingest).
        w.commit()?;
        emit(opts, &ProgressEvent::AlreadyExists { desc });
        return Ok(BlobOutcome::Existing);
    }
    emit(opts, &ProgressEvent::Started { desc, offset });
    let mut reader = src
        .open_at(desc, offset)?
        .take(desc.size.saturating_sub(offset));
    let mut done = offset;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(StoreError::Stream {
                    what: format!("reading blob {}", desc.digest),
                    source,
                });
            }
        };
        w.write_all(&buf[..n])
            .map_err(|source| StoreError::Stream {
                what: format!("writing blob {}", desc.digest),
                source,
            })?;
        done += n as u64;
        emit(opts, &ProgressEvent::Bytes { desc, done });
    }
    if opts.trust_source {
        w.commit_witnessed(desc.digest.clone())?;
    } else {
        w.commit()?;
    }
    emit(opts, &ProgressEvent::Done { desc });
    Ok(BlobOutcome::Copied(done - offset))
}

/// Writes a manifest or index whose verified bytes the walk holds already.
fn copy_bytes(
    dst: &dyn Ingester,
    dst_has: &(dyn Fn(&Digest) -> Result<bool> + Sync),
    desc: &Descriptor,
    bytes: &[u8],
    opts: &CopyOptions<'_>,
) -> Result<BlobOutcome> {
    if dst_has(&desc.digest)? {
        emit(opts, &ProgressEvent::AlreadyExists { desc });
        return Ok(BlobOutcome::Existing);
    }
    let mut w = dst.writer(Some(desc))?;
    let offset = usize::try_from(w.offset()).unwrap_or(usize::MAX);
    if offset >= bytes.len() && !bytes.is_empty() {
        w.commit()?;
        emit(opts, &ProgressEvent::AlreadyExists { desc });
        return Ok(BlobOutcome::Existing);
    }
    emit(
        opts,
        &ProgressEvent::Started {
            desc,
            offset: offset as u64,
        },
    );
    w.write_all(&bytes[offset..])
        .map_err(|source| StoreError::Stream {
            what: format!("writing blob {}", desc.digest),
            source,
        })?;
    w.commit()?;
    emit(opts, &ProgressEvent::Done { desc });
    Ok(BlobOutcome::Copied((bytes.len() - offset) as u64))
}
