//! Disk usage: the figures behind `system df`.
//!
//! A layer shared by several images is counted once in the totals and as "shared" in each
//! image. RECLAIMABLE is exactly what `image prune -a` would free: the sizes of the layers
//! that no image in use by a container references.

use std::collections::{HashMap, HashSet};

use kasane_oci::ChainId;

use crate::Engine;
use crate::error::Result;
use crate::images::ImageSummary;

/// One image's share of the disk.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    /// The image.
    pub image: ImageSummary,
    /// Bytes of layers this image shares with at least one other image.
    pub shared_size: u64,
    /// Bytes of layers only this image uses.
    pub unique_size: u64,
}

/// `system df` figures.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// Per image, newest first.
    pub images: Vec<ImageUsage>,
    /// Images used by at least one container.
    pub active_images: usize,
    /// Bytes of all layers, each counted once.
    pub images_size: u64,
    /// Bytes that `image prune -a` would free.
    pub images_reclaimable: u64,
}

impl Engine {
    /// Computes disk usage from the metadata (no tree walks: sizes were measured at unpack).
    pub fn disk_usage(&mut self) -> Result<DiskUsage> {
        let (summaries, records): (Vec<_>, Vec<_>) =
            self.images_with_records()?.into_iter().unzip();
        let mut chains_of: Vec<Vec<ChainId>> = Vec::with_capacity(summaries.len());
        let mut users: HashMap<ChainId, usize> = HashMap::new();
        for rec in &records {
            let chains: Vec<ChainId> = rec.layers.iter().map(|l| l.chain_id.clone()).collect();
            for c in chains.iter().collect::<HashSet<_>>() {
                *users.entry(c.clone()).or_default() += 1;
            }
            chains_of.push(chains);
        }
        let sizes: HashMap<ChainId, u64> = self
            .metadata
            .read(|tx| tx.layers())?
            .into_iter()
            .map(|l| (l.chain_id, l.size))
            .collect();
        let mut usage = DiskUsage::default();
        let mut active_chains: HashSet<ChainId> = HashSet::new();
        for (s, chains) in summaries.iter().zip(&chains_of) {
            if s.containers > 0 {
                usage.active_images += 1;
                active_chains.extend(chains.iter().cloned());
            }
        }
        for (chain, _) in users.iter() {
            let size = sizes.get(chain).copied().unwrap_or(0);
            usage.images_size += size;
            if !active_chains.contains(chain) {
                usage.images_reclaimable += size;
            }
        }
        for (s, chains) in summaries.into_iter().zip(chains_of) {
            let mut shared = 0;
            let mut unique = 0;
            for c in chains.iter().collect::<HashSet<_>>() {
                let size = sizes.get(c).copied().unwrap_or(0);
                if users.get(c).copied().unwrap_or(0) > 1 {
                    shared += size;
                } else {
                    unique += size;
                }
            }
            usage.images.push(ImageUsage {
                image: s,
                shared_size: shared,
                unique_size: unique,
            });
        }
        Ok(usage)
    }
}
