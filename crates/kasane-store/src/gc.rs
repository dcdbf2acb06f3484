//! Garbage collection, the mark half: what is still reachable.
//!
//! Roots are the images in the metadata (each holds its target manifest or index, its
//! platform manifest, its config and its layer blobs, and the committed layers of its chain)
//! and the resources of every lease whose holder is alive. Everything else on disk — blobs,
//! committed layers, snapshot directories, stale ingests — is garbage.
//!
//! The sweep lives in the engine, the only place that knows both the content store and the
//! snapshotter. Its order is what makes GC safe against concurrent writers: (1) take the
//! exclusive `gc.lock`, (2) list what is on disk, (3) [`mark`] in one read transaction,
//! (4) delete what was listed in (2) and not marked in (3). A writer leases a resource
//! *before* creating it, so anything created before (2) is either referenced or leased by
//! (3), and anything created after (2) is not in the list.

use std::collections::HashSet;

use kasane_oci::{ChainId, Descriptor, Digest, ManifestKind, media_type};

use crate::content::{Provider, read_blob};
use crate::error::Result;
use crate::lock::holder_alive;
use crate::metadata::{LeaseResource, Tx};

/// Everything reachable from a root.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Marked {
    /// Reachable blob digests.
    pub blobs: HashSet<Digest>,
    /// Reachable committed layers.
    pub layers: HashSet<ChainId>,
    /// Snapshot directory ids that are leased (being prepared by a live operation) or are a
    /// container's writable layer: kept, though no committed layer names them.
    pub leased_snapshots: HashSet<String>,
    /// Leases whose holder has died: the sweep deletes them.
    pub dead_leases: Vec<String>,
}

/// Marks everything reachable from images and live leases. `provider` is the local store,
/// used to follow an index to the child manifests that are present.
///
/// # Errors
/// Database errors. A missing or corrupt blob under an index is not an error: its children
/// simply are not followed (the index may be sparse: only the host platform was pulled).
pub fn mark(tx: &Tx<'_>, provider: &dyn Provider) -> Result<Marked> {
    let mut m = Marked::default();
    for img in tx.images()? {
        m.blobs.insert(img.id.0.clone());
        m.blobs.insert(img.manifest_digest.clone());
        if img.target.digest != img.manifest_digest {
            let target = Descriptor::new(
                img.target.media_type.clone(),
                img.target.digest.clone(),
                img.target.size,
            );
            mark_graph(provider, &target, &mut m.blobs, 0);
        }
        for l in &img.layers {
            m.blobs.insert(l.blob_digest.clone());
            m.layers.insert(l.chain_id.clone());
        }
    }
    // Parents of marked layers are marked too (they always are the lower layers of the same
    // image, but keep the invariant explicit for layers that builds or containers add).
    let layers = tx.layers()?;
    let mut changed = true;
    while changed {
        changed = false;
        for l in &layers {
            if m.layers.contains(&l.chain_id)
                && let Some(p) = &l.parent
                && m.layers.insert(p.clone())
            {
                changed = true;
            }
        }
    }
    // A container's writable layer lives as long as its row; its image cannot be removed
    // while it exists (rmi refuses), so the layers under it stay marked through the image.
    for c in tx.containers()? {
        m.leased_snapshots.insert(c.snapshot_id);
    }
    for lease in tx.leases()? {
        if !holder_alive(lease.pid, lease.pid_start) {
            m.dead_leases.push(lease.id);
            continue;
        }
        for (kind, key) in tx.lease_resources(&lease.id)? {
            match kind {
                LeaseResource::Blob => {
                    if let Ok(d) = key.parse() {
                        m.blobs.insert(d);
                    }
                }
                LeaseResource::Snapshot => {
                    m.leased_snapshots.insert(key);
                }
            }
        }
    }
    Ok(m)
}

/// Marks `desc` and, for manifests and indexes present in the store, what they reference.
fn mark_graph(provider: &dyn Provider, desc: &Descriptor, out: &mut HashSet<Digest>, depth: u32) {
    out.insert(desc.digest.clone());
    // Indexes nest rarely and shallowly; a cycle would need a hash collision, but bound it.
    if depth > 8
        || !(media_type::is_manifest(&desc.media_type) || media_type::is_index(&desc.media_type))
    {
        return;
    }
    let Ok(bytes) = read_blob(provider, desc) else {
        return;
    };
    match ManifestKind::parse(&bytes, Some(&desc.media_type)) {
        Ok(ManifestKind::Index(index)) => {
            for child in &index.manifests {
                if matches!(provider.contains(&child.digest), Ok(Some(_))) {
                    mark_graph(provider, child, out, depth + 1);
                }
            }
        }
        Ok(ManifestKind::Image(manifest)) => {
            out.insert(manifest.config.digest.clone());
            for l in &manifest.layers {
                out.insert(l.digest.clone());
            }
        }
        // Unparseable content under a root is reported by `system check`, not here.
        Err(_) => {}
    }
}
