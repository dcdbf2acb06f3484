//! Unpack: an image from any [`Provider`] into the local store and snapshots, in one pass.
//!
//! Each layer blob is read once: the bytes are hashed and written to the store's ingest as
//! they stream past, decompressed, and applied into the layer's own snapshot directory while
//! the DiffID is hashed. Only when the blob digest, its size and the DiffID all match does
//! anything get committed — the blob first, then the snapshot (by chain ID). Overlay layers
//! do not need their parents on disk to be applied, so all layers of an image unpack in
//! parallel; the native snapshotter copies the parent first, so its layers go in order.
//!
//! Layers whose chain ID is already committed are skipped ("Already exists"); blobs already
//! in the store are not written again.

use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use kasane_oci::{
    ChainId, Descriptor, DiffId, Digest, Digester, ImageConfig, ImageId, Manifest, ManifestKind,
    chain_ids, media_type,
};
use kasane_snapshot::archive::{self, ApplyOptions};
use kasane_snapshot::{SnapshotId, Snapshotter};
use kasane_store::local::{IngestRef, LocalStore};
use kasane_store::metadata::{
    ImageLayer, ImageRecord, LayerRecord, LeaseResource, TargetDescriptor,
};
use kasane_store::{BlobWriter, Provider, read_blob};

use crate::Engine;
use crate::blob_io::{copy_blob, write_small_blob};
use crate::error::{EngineError, Result};
use crate::lease::{Lease, unix_now};

/// What happened to one layer during an unpack (for progress output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerOutcome {
    /// The committed layer was there already.
    AlreadyExists,
    /// The layer was unpacked now.
    Unpacked,
}

/// The result of unpacking one image manifest.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The image row to record (target = the manifest; callers may point it at an index).
    pub record: ImageRecord,
    /// The parsed config.
    pub config: ImageConfig,
    /// Per layer, bottom first.
    pub outcomes: Vec<LayerOutcome>,
}

/// What happens to one layer during an unpack, for progress output (docker's pull lines).
#[derive(Debug, Clone, Copy)]
pub enum UnpackEvent<'a> {
    /// The layer is unpacked already ("Already exists").
    AlreadyExists(&'a Descriptor),
    /// The layer waits for a worker ("Waiting").
    Waiting(&'a Descriptor),
    /// Its bytes begin to flow; `offset` were there from an interrupted pull.
    Started {
        /// The layer blob.
        layer: &'a Descriptor,
        /// Bytes resumed from a partial ingest.
        offset: u64,
    },
    /// Bytes read so far (including a resumed prefix).
    Progress {
        /// The layer blob.
        layer: &'a Descriptor,
        /// Bytes read.
        done: u64,
    },
    /// Downloaded, verified and unpacked ("Pull complete").
    Done(&'a Descriptor),
}

/// Progress callback of [`Engine::unpack_manifest`], called from worker threads.
pub type UnpackProgress<'a> = &'a (dyn Fn(&UnpackEvent<'_>) + Sync);

/// A layer that must be applied.
struct LayerJob {
    index: usize,
    desc: Descriptor,
    diff_id: DiffId,
    chain_id: ChainId,
    snapshot: SnapshotId,
    parents: Vec<SnapshotId>,
    write_blob: bool,
}

struct Applied {
    index: usize,
    size: u64,
    fingerprint: Digest,
}

impl Engine {
    /// Unpacks the image manifest `desc` from `src`: blobs into the store, layers into
    /// snapshots. `subject` names the image or archive in errors. Everything created is
    /// added to `lease`; the caller records the image and then releases the lease.
    ///
    /// # Errors
    /// `InvalidImage` when the manifest, config, a blob digest or size, or a DiffID does not
    /// verify; `Unpack` when a layer cannot be applied (hostile or corrupt tar). Nothing that
    /// failed verification is committed.
    pub fn unpack_manifest(
        &mut self,
        src: &dyn Provider,
        desc: &Descriptor,
        subject: &str,
        lease: &Lease,
        progress: Option<UnpackProgress<'_>>,
    ) -> Result<Unpacked> {
        let manifest_bytes =
            read_blob(src, desc).map_err(|e| EngineError::invalid_image(subject, e))?;
        let manifest: Manifest = match ManifestKind::parse(&manifest_bytes, Some(&desc.media_type))
        {
            Ok(ManifestKind::Image(m)) => m,
            Ok(ManifestKind::Index(_)) => {
                return Err(EngineError::invalid_image(
                    subject,
                    format!("{} is an index, expected an image manifest", desc.digest),
                ));
            }
            Err(e) => return Err(EngineError::invalid_image(subject, e)),
        };
        // The config comes through the store (leased first): two processes pulling the same
        // image then fetch it once, and it is verified before it is parsed.
        for d in [&manifest.config, desc] {
            lease.add(
                &mut self.metadata,
                LeaseResource::Blob,
                &d.digest.to_string(),
            )?;
        }
        copy_blob(src, &*self.store, &manifest.config)
            .map_err(|e| EngineError::invalid_image(subject, e))?;
        let config_bytes = read_blob(&*self.store, &manifest.config)
            .map_err(|e| EngineError::invalid_image(subject, e))?;
        let config = ImageConfig::from_slice(&config_bytes)
            .map_err(|e| EngineError::invalid_image(subject, e))?;
        let diff_ids = config.rootfs.diff_ids.clone();
        if diff_ids.len() != manifest.layers.len() {
            return Err(EngineError::invalid_image(
                subject,
                format!(
                    "invalid manifest, layers length mismatch: expected {}, got {}",
                    diff_ids.len(),
                    manifest.layers.len()
                ),
            ));
        }
        let chains = chain_ids(&diff_ids);

        // Plan: which layers need unpacking, which blobs need writing.
        let mut jobs = Vec::new();
        let mut outcomes = Vec::with_capacity(chains.len());
        let mut parent_snapshots: Vec<SnapshotId> = Vec::new();
        let mut blob_only: Vec<Descriptor> = Vec::new();
        for (i, layer) in manifest.layers.iter().enumerate() {
            let existing = self.metadata.read(|tx| tx.layer(&chains[i]))?;
            let has_blob = self.store.contains(&layer.digest)?.is_some();
            match existing {
                Some(rec) => {
                    outcomes.push(LayerOutcome::AlreadyExists);
                    if !has_blob {
                        blob_only.push(layer.clone());
                    }
                    parent_snapshots.push(crate::snap_id(&rec.snapshot_id)?);
                }
                None => {
                    outcomes.push(LayerOutcome::Unpacked);
                    let id = self.metadata.write(|tx| tx.next_snapshot_id())?;
                    lease.add(&mut self.metadata, LeaseResource::Snapshot, &id)?;
                    if !has_blob {
                        lease.add(
                            &mut self.metadata,
                            LeaseResource::Blob,
                            &layer.digest.to_string(),
                        )?;
                    }
                    let snapshot = crate::snap_id(&id)?;
                    jobs.push(LayerJob {
                        index: i,
                        desc: layer.clone(),
                        diff_id: diff_ids[i].clone(),
                        chain_id: chains[i].clone(),
                        snapshot: snapshot.clone(),
                        parents: parent_snapshots.iter().rev().cloned().collect(),
                        write_blob: !has_blob,
                    });
                    parent_snapshots.push(snapshot);
                }
            }
        }
        for d in &blob_only {
            lease.add(
                &mut self.metadata,
                LeaseResource::Blob,
                &d.digest.to_string(),
            )?;
        }

        let ctx = Ctx {
            store: &self.store,
            snapshots: &*self.snapshots,
            parallel: self.driver == "overlay",
            preserve_owners: rustix::process::geteuid().is_root(),
            progress,
        };
        if let Some(p) = progress {
            for (layer, outcome) in manifest.layers.iter().zip(&outcomes) {
                if *outcome == LayerOutcome::AlreadyExists {
                    p(&UnpackEvent::AlreadyExists(layer));
                }
            }
            for job in &jobs {
                p(&UnpackEvent::Waiting(&job.desc));
            }
        }
        let started = std::time::Instant::now();
        let applied = run_jobs(&ctx, src, &jobs, subject);
        tracing::debug!(
            "{subject}: {} layer(s) applied in {:?}",
            jobs.len(),
            started.elapsed()
        );
        let applied = match applied {
            Ok(a) => a,
            Err(e) => {
                for job in &jobs {
                    self.discard_snapshot(&job.snapshot);
                    if job.write_blob {
                        let r = IngestRef::for_digest(&job.desc.digest);
                        // Absent (never started, or removed on a mismatch) is fine.
                        if let Err(e) = self.store.abort_ingest(&r)
                            && e.kind() != kasane_store::ErrorKind::NotFound
                        {
                            tracing::warn!("removing ingest of {}: {e}", job.desc.digest);
                        }
                    }
                }
                return Err(e);
            }
        };

        // Blobs of layers that were unpacked before but whose blob is missing here.
        for d in &blob_only {
            copy_blob(src, &*self.store, d).map_err(|e| EngineError::invalid_image(subject, e))?;
        }
        write_small_blob(&*self.store, &manifest.config, &config_bytes)?;
        write_small_blob(&*self.store, desc, &manifest_bytes)?;

        // Commit snapshots by chain ID. If another process committed the same chain first,
        // theirs wins and ours is removed.
        let now = unix_now();
        for (job, a) in jobs.iter().zip(&applied) {
            self.snapshots.commit(&job.snapshot)?;
            let record = LayerRecord {
                chain_id: job.chain_id.clone(),
                parent: job.index.checked_sub(1).map(|p| chains[p].clone()),
                diff_id: job.diff_id.clone(),
                snapshot_id: job.snapshot.as_str().to_owned(),
                size: a.size,
                fingerprint: a.fingerprint.clone(),
                created_at: now,
            };
            if !self.metadata.write(|tx| tx.insert_layer(&record))? {
                self.discard_snapshot(&job.snapshot);
            }
        }

        tracing::debug!("{subject}: committed after {:?}", started.elapsed());

        // Image size: the sum of its layers' unpacked sizes.
        let mut size = 0u64;
        let mut layers = Vec::with_capacity(chains.len());
        for (i, layer) in manifest.layers.iter().enumerate() {
            let rec = self
                .metadata
                .read(|tx| tx.layer(&chains[i]))?
                .ok_or_else(|| {
                    EngineError::Conflict(format!(
                        "layer {} was removed while image {subject} was being unpacked; try again",
                        chains[i]
                    ))
                })?;
            size += rec.size;
            layers.push(ImageLayer {
                chain_id: chains[i].clone(),
                diff_id: diff_ids[i].clone(),
                blob_digest: layer.digest.clone(),
                blob_media_type: layer.media_type.clone(),
                blob_size: layer.size,
            });
        }
        let record = ImageRecord {
            id: ImageId(manifest.config.digest.clone()),
            target: TargetDescriptor {
                media_type: desc.media_type.clone(),
                digest: desc.digest.clone(),
                size: desc.size,
            },
            manifest_digest: desc.digest.clone(),
            created: config.created.clone(),
            size,
            added_at: now,
            last_tag_time: None,
            parent: None,
            layers,
        };
        Ok(Unpacked {
            record,
            config,
            outcomes,
        })
    }

    /// Removes a snapshot directory that will not be committed; failure only leaves garbage.
    pub(crate) fn discard_snapshot(&self, id: &SnapshotId) {
        if let Err(e) = self.snapshots.remove(id) {
            tracing::warn!("removing uncommitted snapshot {}: {e}", id.as_str());
        }
    }
}

/// What the layer workers share: `Sync` parts of the engine only (never the database).
struct Ctx<'a> {
    store: &'a LocalStore,
    snapshots: &'a dyn Snapshotter,
    parallel: bool,
    preserve_owners: bool,
    progress: Option<UnpackProgress<'a>>,
}

/// Applies every job, in parallel for overlay, in order for native.
fn run_jobs(
    ctx: &Ctx<'_>,
    src: &dyn Provider,
    jobs: &[LayerJob],
    subject: &str,
) -> Result<Vec<Applied>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let parallel = ctx.parallel;
    // A worker waits on the disk part of the time, so one more than the cores keeps them busy.
    let workers = if parallel {
        (std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            + 1)
        .clamp(1, 4)
        .min(jobs.len())
    } else {
        1
    };
    // Largest layers first (overlay only: native must go bottom up): the biggest layer is the
    // critical path, and starting it last would leave the other workers idle at the end.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    if parallel {
        order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].desc.size));
    }
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Result<Applied>>> = Mutex::new(Vec::new());
    let failed = std::sync::atomic::AtomicBool::new(false);
    let unpacking = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        // The snapshots and blobs must be on disk before they are committed. Flushing while
        // the layers are still being applied overlaps the disk writes with the CPU work,
        // instead of one long syncfs at the end.
        let total: u64 = jobs.iter().map(|j| j.desc.size).sum();
        if total >= BACKGROUND_FLUSH_MIN {
            scope.spawn(|| background_flush(ctx.store.root(), &unpacking));
        }
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            handles.push(scope.spawn(|| {
                loop {
                    if failed.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(job) = order.get(i).map(|&j| &jobs[j]) else {
                        return;
                    };
                    let r = apply_job(ctx, src, job, subject);
                    if r.is_err() {
                        failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner()).push(r);
                }
            }));
        }
        for h in handles {
            // A panicking worker left no result: reported below as "stopped early".
            let _ = h.join();
        }
        unpacking.store(false, std::sync::atomic::Ordering::Relaxed);
    });
    let mut out = Vec::with_capacity(jobs.len());
    for r in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        out.push(r?);
    }
    if out.len() != jobs.len() {
        return Err(EngineError::Conflict(format!(
            "unpacking {subject} stopped early"
        )));
    }
    out.sort_by_key(|a| a.index);
    Ok(out)
}

/// Blob bytes of the layers to apply above which a background flusher runs.
const BACKGROUND_FLUSH_MIN: u64 = 32 << 20;

/// `syncfs` of the store's filesystem every few dozen milliseconds while `running`: the page
/// cache is written back as the layers land, so the final flush before commit is short.
fn background_flush(root: &std::path::Path, running: &std::sync::atomic::AtomicBool) {
    let Ok(dir) = std::fs::File::open(root) else {
        return; // the commit's own sync still makes everything durable
    };
    while running.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Err(e) = rustix::fs::syncfs(&dir) {
            tracing::debug!("background flush of {}: {e}", root.display());
            return;
        }
    }
}

fn apply_job(ctx: &Ctx<'_>, src: &dyn Provider, job: &LayerJob, subject: &str) -> Result<Applied> {
    let unpack_err = |e: Box<dyn std::error::Error + Send + Sync>| EngineError::Unpack {
        subject: subject.to_owned(),
        layer: job.desc.digest.to_string(),
        source: e,
    };
    let started = std::time::Instant::now();
    let dir = ctx.snapshots.prepare_layer(&job.snapshot, &job.parents)?;
    // The writer comes first: it waits while another process writes the same blob, which is
    // then read from the store instead of fetched again. A partial ingest left by an
    // interrupted pull is kept; its bytes are read back (and witnessed) from disk and only
    // the rest is fetched.
    let mut writer: Option<Box<dyn BlobWriter + '_>> = if job.write_blob {
        Some(ctx.store.witnessed_resuming_writer(&job.desc)?)
    } else {
        None
    };
    let committed = ctx.store.contains(&job.desc.digest)?.is_some();
    let local: &dyn Provider = ctx.store;
    let (source, offset) = if committed {
        writer = None;
        (local, 0)
    } else {
        (src, writer.as_ref().map_or(0, |w| w.offset()))
    };
    if let Some(p) = ctx.progress {
        p(&UnpackEvent::Started {
            layer: &job.desc,
            offset,
        });
    }
    let mut raw: Box<dyn Read + Send + '_> = if offset > 0 {
        let prefix = ctx
            .store
            .open_ingest(&IngestRef::for_digest(&job.desc.digest))?
            .take(offset);
        let rest: Box<dyn Read + Send + '_> = if offset >= job.desc.size {
            Box::new(std::io::empty()) // the ingest holds every byte already
        } else {
            source
                .open_at(&job.desc, offset)
                .map_err(|e| EngineError::invalid_image(subject, e))?
        };
        Box::new(prefix.chain(rest))
    } else {
        source
            .open(&job.desc)
            .map_err(|e| EngineError::invalid_image(subject, e))?
    };
    // Sniff the compression before anything is hashed or stored, then put the bytes back.
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match raw.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(unpack_err(Box::new(e))),
        }
    }
    let compression = detect_compression(&job.desc.media_type, &head[..got]);
    let stream = std::io::Cursor::new(head[..got].to_vec())
        .chain(raw)
        .take(job.desc.size + 1);
    // An uncompressed sha256 layer's blob digest *is* its DiffID, which apply hashes anyway:
    // hash it once. Otherwise the compressed bytes are hashed on their way to the ingest.
    let diff_is_digest = compression == Compression::None
        && job.desc.digest.algorithm() == kasane_oci::Algorithm::Sha256;
    let tee = Tee {
        inner: Counted {
            inner: stream,
            digester: (!diff_is_digest).then(|| Digester::for_stream(job.desc.digest.algorithm())),
            count: 0,
            progress: ctx.progress.map(|p| (p, &job.desc, 0)),
        },
        sink: writer,
        skip: offset,
    };
    let opts = ApplyOptions {
        whiteouts: ctx.snapshots.whiteout_mode(),
        expected_diff_id: Some(job.diff_id.clone()),
        preserve_owners: ctx.preserve_owners,
        ..ApplyOptions::default()
    };
    // Two stages per layer, so that the largest layer of an image does not put everything on
    // one core: a reader thread receives, hashes and stores the (compressed) bytes, this
    // thread decompresses and applies them, and `archive::apply` hashes the DiffID on a third.
    let (applied, fed) = std::thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<Vec<u8>>(PIPE_DEPTH);
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(PIPE_DEPTH + 2);
        let reader = scope.spawn(move || feed(tee, &full_tx, &free_rx));
        let mut input = ChunkReader {
            rx: full_rx,
            free: free_tx,
            chunk: Vec::new(),
            pos: 0,
        };
        let applied = match compression {
            Compression::None => {
                archive::apply(&dir, &mut input, &opts).map_err(|e| unpack_err(Box::new(e)))
            }
            Compression::Gzip => archive::apply(
                &dir,
                flate2::bufread::MultiGzDecoder::new(&mut input),
                &opts,
            )
            .map_err(|e| unpack_err(Box::new(e))),
            Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(&mut input) {
                Ok(dec) => archive::apply(&dir, dec, &opts).map_err(|e| unpack_err(Box::new(e))),
                Err(e) => Err(unpack_err(Box::new(e))),
            },
        }
        .and_then(|stats| {
            // Whatever follows the compressed stream still belongs to the blob.
            std::io::copy(&mut input, &mut std::io::sink()).map_err(|e| unpack_err(Box::new(e)))?;
            Ok(stats)
        });
        drop(input); // after a failed apply, this stops the reader
        let fed = reader
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the layer reader thread panicked")));
        (applied, fed)
    });
    // A failed read explains a cut-short apply better than the apply's own error.
    let fed = fed.map_err(|e| unpack_err(Box::new(e)))?;
    let stats = applied?;
    let Fed {
        count: size,
        digester,
        sink: writer,
    } = fed;
    let digest = match digester {
        Some(d) => d.finish(),
        // Verified by apply: the stream hashed to the DiffID the config names.
        None => stats.diff_id.0.clone(),
    };
    if size != job.desc.size {
        return Err(EngineError::invalid_image(
            subject,
            kasane_store::StoreError::SizeMismatch {
                digest: job.desc.digest.clone(),
                expected: job.desc.size,
                actual: size,
            },
        ));
    }
    if digest != job.desc.digest {
        return Err(EngineError::invalid_image(
            subject,
            kasane_store::StoreError::DigestMismatch {
                expected: job.desc.digest.clone(),
                actual: digest,
            },
        ));
    }
    if let Some(w) = writer {
        w.commit_witnessed(digest)
            .map_err(|e| EngineError::invalid_image(subject, e))?;
    }
    let applied_at = started.elapsed();
    let fingerprint = kasane_snapshot::fingerprint_with(&dir, &stats.contents)?;
    tracing::debug!(
        "layer {}: {size} bytes applied in {applied_at:?}, fingerprinted in {:?}",
        job.desc.digest,
        started.elapsed() - applied_at
    );
    if let Some(p) = ctx.progress {
        p(&UnpackEvent::Done(&job.desc));
    }
    Ok(Applied {
        index: job.index,
        size: stats.content_size,
        fingerprint,
    })
}

/// Chunks in flight between a layer's reader and its applier.
const PIPE_DEPTH: usize = 8;
/// Bytes per chunk.
const PIPE_CHUNK: usize = 1 << 20;

/// What a layer's reader thread saw: every byte counted (and hashed), the ingest it fed.
struct Fed<'w> {
    count: u64,
    digester: Option<Digester>,
    sink: Option<Box<dyn BlobWriter + 'w>>,
}

/// Reads the whole blob through `tee` (count, hash, store) in chunks for the applier; stops
/// early only when the applier has gone (it failed).
fn feed<'w, R: Read>(
    mut tee: Tee<'w, Counted<'_, R>>,
    full: &SyncSender<Vec<u8>>,
    free: &Receiver<Vec<u8>>,
) -> std::io::Result<Fed<'w>> {
    loop {
        let mut buf = free.try_recv().unwrap_or_default();
        buf.resize(PIPE_CHUNK, 0);
        let n = tee.fill(&mut buf)?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        if full.send(buf).is_err() || n < PIPE_CHUNK {
            break; // the applier stopped, or the blob ended
        }
    }
    Ok(Fed {
        count: tee.inner.count,
        digester: tee.inner.digester.take(),
        sink: tee.sink.take(),
    })
}

/// The applier's end of the pipe: chunks as a `BufRead`, returned for reuse when consumed.
struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    free: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl std::io::BufRead for ChunkReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos >= self.chunk.len() {
            let Ok(next) = self.rx.recv() else {
                return Ok(&[]); // the reader finished
            };
            let used = std::mem::replace(&mut self.chunk, next);
            self.pos = 0;
            // Full means the reader has spares: drop this one then.
            let _ = self.free.try_send(used);
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead;
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Counts (and, unless the caller verifies another way, hashes) what is read through it,
/// reporting progress every [`PROGRESS_STEP`] bytes.
struct Counted<'p, R> {
    inner: R,
    digester: Option<Digester>,
    count: u64,
    /// The callback, the layer, and the count last reported.
    progress: Option<(UnpackProgress<'p>, &'p Descriptor, u64)>,
}

/// Bytes between two progress reports of one layer.
const PROGRESS_STEP: u64 = 512 << 10;

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(d) = self.digester.as_mut() {
            d.update(&buf[..n]);
        }
        self.count += n as u64;
        if let Some((p, layer, last)) = self.progress.as_mut()
            && (self.count >= *last + PROGRESS_STEP || (n == 0 && self.count > *last))
        {
            *last = self.count;
            p(&UnpackEvent::Progress {
                layer,
                done: self.count,
            });
        }
        Ok(n)
    }
}

/// Compression of a layer stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Decides by magic bytes (as docker does), so a layer whose media type lies still unpacks;
/// the media type only breaks ties for streams too short to sniff.
fn detect_compression(mt: &str, head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Compression::Gzip;
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Compression::Zstd;
    }
    if head.len() >= 4 {
        return Compression::None;
    }
    match media_type::layer_compression(mt) {
        Some(media_type::Compression::Gzip) => Compression::Gzip,
        Some(media_type::Compression::Zstd) => Compression::Zstd,
        _ => Compression::None,
    }
}

/// The reading half of a layer: reads the blob through `inner` and copies every byte after
/// the first `skip` (which the ingest holds already, from an interrupted pull) into `sink`,
/// the blob's witnessed ingest.
struct Tee<'w, R> {
    inner: R,
    sink: Option<Box<dyn BlobWriter + 'w>>,
    skip: u64,
}

impl<R: Read> Tee<'_, R> {
    /// Fills `buf` (until it is full or the blob ends) and stores the new bytes in one write,
    /// which a chunk-sized write passes through the ingest's buffer without a copy.
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let skipped = usize::try_from(self.skip).unwrap_or(usize::MAX).min(n);
        self.skip -= skipped as u64;
        if let Some(w) = self.sink.as_mut() {
            w.write_all(&buf[skipped..n])?;
        }
        Ok(n)
    }
}
