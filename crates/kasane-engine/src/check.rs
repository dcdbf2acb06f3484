//! `system check [--repair]`: verify everything the store holds.
//!
//! Problems are of two kinds. *Corruption* — a blob that no longer hashes to its digest, a
//! snapshot whose tree changed since its DiffID was verified, an image whose config,
//! manifest or layers are missing, a database that fails SQLite's own check — is an error.
//! *Leftovers* of interrupted operations — leases of dead processes, snapshot directories
//! and blobs nothing references, abandoned ingests — are normal after a crash and are not
//! errors; the next garbage collection removes them.
//!
//! `--repair` removes corrupt blobs and snapshots, the images that depended on them (so that
//! a `load` or `pull` can bring them back whole), and collects the leftovers.

use std::collections::HashSet;

use kasane_oci::{Digest, ImageId};
use kasane_store::gc::mark;

use crate::Engine;
use crate::error::{EngineError, Result};

/// What `system check` found (and, with repair, did).
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Corruption found, one line each.
    pub errors: Vec<String>,
    /// Leftovers of interrupted operations, one line each (not errors).
    pub leftovers: Vec<String>,
    /// What `--repair` did, one line each.
    pub repaired: Vec<String>,
    /// Number of blobs verified.
    pub blobs_checked: usize,
    /// Number of snapshots verified.
    pub snapshots_checked: usize,
    /// Number of images checked.
    pub images_checked: usize,
}

impl CheckReport {
    /// Whether no corruption remains.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

impl Engine {
    /// Verifies every blob digest, every snapshot against the fingerprint taken when its
    /// DiffID was verified, and every metadata row; with `repair`, fixes what it can.
    pub fn check(&mut self, repair: bool) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        for problem in self.metadata.integrity_check()? {
            report.errors.push(format!("metadata database: {problem}"));
        }

        // Blobs.
        let mut bad_blobs: HashSet<Digest> = HashSet::new();
        let blobs: Vec<(Digest, u64)> = self
            .store
            .list_blobs()?
            .collect::<kasane_store::Result<_>>()?;
        let present: HashSet<Digest> = blobs.iter().map(|(d, _)| d.clone()).collect();
        for (digest, _) in &blobs {
            report.blobs_checked += 1;
            if let Err(e) = self.store.verify(digest) {
                report.errors.push(format!("blob {digest}: {e}"));
                bad_blobs.insert(digest.clone());
            }
        }

        // Snapshots.
        let layers = self.metadata.read(|tx| tx.layers())?;
        let mut bad_layers = HashSet::new();
        for l in &layers {
            report.snapshots_checked += 1;
            let dir = self.snapshots.fs_dir(&crate::snap_id(&l.snapshot_id)?);
            match kasane_snapshot::fingerprint(&dir) {
                Ok(fp) if fp == l.fingerprint => {}
                Ok(_) => {
                    report.errors.push(format!(
                        "layer {} (snapshot {}): files changed since it was unpacked from {}",
                        l.chain_id, l.snapshot_id, l.diff_id
                    ));
                    bad_layers.insert(l.chain_id.clone());
                }
                Err(e) => {
                    report.errors.push(format!(
                        "layer {} (snapshot {}): {e}",
                        l.chain_id, l.snapshot_id
                    ));
                    bad_layers.insert(l.chain_id.clone());
                }
            }
        }
        let layer_ids: HashSet<_> = layers.iter().map(|l| l.chain_id.clone()).collect();

        // Images.
        let mut broken_images: Vec<ImageId> = Vec::new();
        for img in self.metadata.read(|tx| tx.images())? {
            report.images_checked += 1;
            let mut problems = Vec::new();
            for (what, d) in [("config", &img.id.0), ("manifest", &img.manifest_digest)] {
                if !present.contains(d) {
                    problems.push(format!("{what} blob {d} is missing"));
                } else if bad_blobs.contains(d) {
                    problems.push(format!("{what} blob {d} is corrupt"));
                }
            }
            if problems.is_empty()
                && let Err(e) = self.config_of(&img)
            {
                problems.push(format!("config does not parse: {e}"));
            }
            for l in &img.layers {
                if !present.contains(&l.blob_digest) {
                    problems.push(format!("layer blob {} is missing", l.blob_digest));
                } else if bad_blobs.contains(&l.blob_digest) {
                    problems.push(format!("layer blob {} is corrupt", l.blob_digest));
                }
                if !layer_ids.contains(&l.chain_id) {
                    problems.push(format!("layer {} is not unpacked", l.chain_id));
                } else if bad_layers.contains(&l.chain_id) {
                    problems.push(format!("layer {} is corrupt", l.chain_id));
                }
            }
            if !problems.is_empty() {
                for p in problems {
                    report.errors.push(format!("image {}: {p}", img.id));
                }
                broken_images.push(img.id.clone());
            }
        }

        // Leftovers: what the next collection would remove.
        let store = self.store.clone();
        let marked = self.metadata.read(|tx| mark(tx, &*store))?;
        for lease in &marked.dead_leases {
            report
                .leftovers
                .push(format!("lease {lease} of a process that no longer runs"));
        }
        for l in &layers {
            if !marked.layers.contains(&l.chain_id) {
                report
                    .leftovers
                    .push(format!("layer {} is not used by any image", l.chain_id));
            }
        }
        let known_dirs: HashSet<&str> = layers.iter().map(|l| l.snapshot_id.as_str()).collect();
        for dir in self.snapshots.list()? {
            if !known_dirs.contains(dir.as_str()) && !marked.leased_snapshots.contains(dir.as_str())
            {
                report.leftovers.push(format!(
                    "snapshot directory {} belongs to no layer",
                    dir.as_str()
                ));
            }
        }
        for (digest, _) in &blobs {
            if !marked.blobs.contains(digest) {
                report
                    .leftovers
                    .push(format!("blob {digest} is not used by any image"));
            }
        }
        for ingest in self.store.list_ingests()? {
            report
                .leftovers
                .push(format!("unfinished ingest {}", ingest.reference.as_str()));
        }
        let volume_leftovers = self.volume_leftovers();
        for dir in &volume_leftovers {
            report
                .leftovers
                .push(format!("half-removed volume {}", dir.display()));
        }

        if repair {
            for digest in &bad_blobs {
                self.store.delete(digest)?;
                report
                    .repaired
                    .push(format!("deleted corrupt blob {digest}"));
            }
            if !bad_layers.is_empty() {
                self.metadata.write(|tx| {
                    for c in &bad_layers {
                        tx.delete_layer(c)?;
                    }
                    Ok(())
                })?;
                for l in layers.iter().filter(|l| bad_layers.contains(&l.chain_id)) {
                    self.snapshots.remove(&crate::snap_id(&l.snapshot_id)?)?;
                    report
                        .repaired
                        .push(format!("deleted corrupt layer {}", l.chain_id));
                }
            }
            for id in &broken_images {
                self.metadata.write(|tx| tx.delete_image(id))?;
                report.repaired.push(format!(
                    "deleted image {id}: load or pull it again to restore it"
                ));
            }
            let gc = self.gc()?;
            let cleaned = gc.blobs.len()
                + gc.layers.len()
                + gc.orphan_snapshots
                + gc.dead_leases
                + gc.ingests;
            for dir in &volume_leftovers {
                std::fs::remove_dir_all(dir)
                    .map_err(|e| EngineError::io(format!("removing {}", dir.display()), e))?;
                report
                    .repaired
                    .push(format!("removed half-removed volume {}", dir.display()));
            }
            if cleaned > 0 {
                report.repaired.push(format!(
                    "removed {cleaned} leftovers of interrupted operations"
                ));
            }
            // Everything but the database's own problems has been removed above.
            report.errors.retain(|e| e.starts_with("metadata database"));
        }
        Ok(report)
    }
}
