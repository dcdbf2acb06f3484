//! Garbage collection, the sweep half (the mark half is `kasane_store::gc`).
//!
//! Order (see `kasane_store::gc` for why it is safe against concurrent writers):
//! lock → list the disk → mark in one read transaction → delete what was listed and not
//! marked. Layer rows are deleted before their directories, so a crash in between leaves
//! only an orphan directory, which the next collection removes.

use std::collections::HashSet;

use kasane_oci::{ChainId, Digest};
use kasane_snapshot::SnapshotId;
use kasane_store::gc::mark;
use kasane_store::lock::FileLock;
use kasane_store::metadata::LayerRecord;

use crate::Engine;
use crate::error::Result;

/// How long an idle ingest is kept for a resume before collection removes it.
pub const INGEST_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// What a collection removed.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Blobs deleted, with their sizes.
    pub blobs: Vec<(Digest, u64)>,
    /// Committed layers deleted.
    pub layers: Vec<LayerRecord>,
    /// Snapshot directories deleted that had no committed layer (interrupted operations).
    pub orphan_snapshots: usize,
    /// Leases of dead processes deleted.
    pub dead_leases: usize,
    /// Abandoned ingests deleted.
    pub ingests: usize,
}

impl GcReport {
    /// The chain IDs of the deleted layers.
    pub fn layer_ids(&self) -> HashSet<ChainId> {
        self.layers.iter().map(|l| l.chain_id.clone()).collect()
    }
}

impl Engine {
    /// Removes everything no image, container or live lease references.
    ///
    /// # Errors
    /// Store, metadata or snapshot errors; a partial sweep is safe to repeat.
    pub fn gc(&mut self) -> Result<GcReport> {
        let _lock = FileLock::exclusive(&self.gc_lock_path())?;
        let mut report = GcReport::default();

        // (2) List the disk before marking.
        let blobs_on_disk: Vec<(Digest, u64)> = self
            .store
            .list_blobs()?
            .collect::<kasane_store::Result<_>>()?;
        let dirs_on_disk: Vec<SnapshotId> = self.snapshots.list()?;
        let ingests = self.store.list_ingests()?;

        // (3) Mark.
        let store = self.store.clone();
        let (marked, layers) = self
            .metadata
            .read(|tx| Ok((mark(tx, &*store)?, tx.layers()?)))?;

        // (4) Sweep.
        if !marked.dead_leases.is_empty() {
            self.metadata.write(|tx| {
                for id in &marked.dead_leases {
                    tx.delete_lease(id)?;
                }
                Ok(())
            })?;
            report.dead_leases = marked.dead_leases.len();
        }
        let doomed: Vec<LayerRecord> = layers
            .iter()
            .filter(|l| !marked.layers.contains(&l.chain_id))
            .cloned()
            .collect();
        if !doomed.is_empty() {
            self.metadata.write(|tx| {
                for l in &doomed {
                    tx.delete_layer(&l.chain_id)?;
                }
                Ok(())
            })?;
        }
        for l in &doomed {
            self.snapshots.remove(&crate::snap_id(&l.snapshot_id)?)?;
        }
        report.layers = doomed;

        let kept_dirs: HashSet<&str> = layers
            .iter()
            .filter(|l| marked.layers.contains(&l.chain_id))
            .map(|l| l.snapshot_id.as_str())
            .collect();
        for dir in &dirs_on_disk {
            let id = dir.as_str();
            let was_layer = report.layers.iter().any(|l| l.snapshot_id == id);
            if !kept_dirs.contains(id) && !marked.leased_snapshots.contains(id) && !was_layer {
                self.snapshots.remove(dir)?;
                report.orphan_snapshots += 1;
            }
        }

        for (digest, size) in blobs_on_disk {
            if !marked.blobs.contains(&digest) {
                self.store.delete(&digest)?;
                report.blobs.push((digest, size));
            }
        }
        for ingest in ingests {
            // An idle ingest may still be resumed by a pull that retries; keep it for a while,
            // unless its blob is committed already (a writer killed between publishing the
            // blob and removing its ingest): nothing will resume that one.
            let superseded = match ingest.reference.digest() {
                Some(d) => kasane_store::Provider::contains(&*self.store, &d)?.is_some(),
                None => false,
            };
            if !ingest.active && (superseded || ingest.age >= INGEST_GRACE) {
                match self.store.abort_ingest(&ingest.reference) {
                    Ok(()) => report.ingests += 1,
                    // Taken by a writer or removed by another process since it was listed.
                    Err(e)
                        if matches!(
                            e.kind(),
                            kasane_store::ErrorKind::Conflict | kasane_store::ErrorKind::NotFound
                        ) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(report)
    }
}
