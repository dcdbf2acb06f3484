//! `import`: a root filesystem tarball becomes a one-layer image, unpacked and ready to run.
//!
//! The tarball is read once: decompressed if needed, its uncompressed bytes stored as the
//! layer blob (media type `…layer.v1.tar`; push compresses later) and applied into the
//! layer's snapshot while the DiffID is hashed, which is also the blob's digest: the bytes
//! are hashed once. The config follows docker's import: created
//! now, host platform, one history entry whose comment is the message or
//! `Imported from <source>`.

use std::io::{BufRead, BufReader, Read};

use kasane_oci::{ChainId, Descriptor, ImageId, Platform, Reference, media_type};
use kasane_snapshot::SnapshotId;
use kasane_snapshot::archive::{self, ApplyOptions, ApplyStats};
use kasane_store::lock::FileLock;
use kasane_store::metadata::{
    ImageLayer, ImageRecord, LayerRecord, LeaseResource, TargetDescriptor,
};
use serde_json::{Map, Value, json};

use crate::Engine;
use crate::changes::apply_change;
use crate::error::{EngineError, Result};
use crate::lease::{Lease, unix_now};

/// Options for [`Engine::import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Where the tarball came from, for the history comment (`-`, a path or a URL).
    pub source: String,
    /// Name to tag the new image with.
    pub reference: Option<String>,
    /// `--change` lines (Dockerfile instructions without RUN).
    pub changes: Vec<String>,
    /// `-m`: the commit message.
    pub message: Option<String>,
    /// `--platform`; the host's by default.
    pub platform: Option<Platform>,
}

impl Engine {
    /// Imports a rootfs tarball (plain, gzip or zstd) and returns the new image's ID.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad reference or change; `Unpack` for a hostile or corrupt
    /// tarball; I/O errors reading the input. Nothing is kept on failure.
    pub fn import(&mut self, input: &mut dyn Read, opts: &ImportOptions) -> Result<ImageId> {
        let reference = opts
            .reference
            .as_deref()
            .map(|r| r.parse::<Reference>().map(Reference::with_default_tag))
            .transpose()?;
        if reference.as_ref().is_some_and(|r| r.digest.is_some()) {
            return Err(EngineError::InvalidArgument(
                "refusing to create a tag with a digest reference".to_owned(),
            ));
        }
        let mut container_config = Map::new();
        for c in &opts.changes {
            apply_change(&mut container_config, c)?;
        }

        let lease = Lease::take(&mut self.metadata)?;
        let result = self.import_leased(input, opts, container_config, reference.as_ref(), &lease);
        let released = lease.release(&mut self.metadata);
        if result.is_err() {
            // Whatever was committed before the failure is unreferenced now.
            if let Err(e) = self.gc() {
                tracing::warn!("cleaning up after a failed import: {e}");
            }
        }
        let id = result?;
        released?;
        Ok(id)
    }

    fn import_leased(
        &mut self,
        input: &mut dyn Read,
        opts: &ImportOptions,
        container_config: Map<String, Value>,
        reference: Option<&Reference>,
        lease: &Lease,
    ) -> Result<ImageId> {
        let snapshot_id = self.metadata.write(|tx| tx.next_snapshot_id())?;
        lease.add(&mut self.metadata, LeaseResource::Snapshot, &snapshot_id)?;
        let snapshot = crate::snap_id(&snapshot_id)?;
        let applied = self.import_layer(input, &snapshot, lease);
        let (stats, blob_size) = match applied {
            Ok(v) => v,
            Err(e) => {
                self.discard_snapshot(&snapshot);
                return Err(e);
            }
        };
        let (diff_id, content_size) = (stats.diff_id, stats.content_size);
        let fingerprint =
            kasane_snapshot::fingerprint_with(&self.snapshots.fs_dir(&snapshot), &stats.contents)?;
        self.snapshots.commit(&snapshot)?;
        let chain = ChainId(diff_id.0.clone());
        let inserted = self.metadata.write(|tx| {
            tx.insert_layer(&LayerRecord {
                chain_id: chain.clone(),
                parent: None,
                diff_id: diff_id.clone(),
                snapshot_id: snapshot.as_str().to_owned(),
                size: content_size,
                fingerprint,
                created_at: unix_now(),
            })
        })?;
        if !inserted {
            self.discard_snapshot(&snapshot);
        }

        // Config and manifest.
        let created = jiff::Timestamp::now().to_string();
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let comment = opts
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("Imported from {}", opts.source));
        let mut config = Map::new();
        config.insert("architecture".into(), json!(platform.architecture));
        if let Some(v) = &platform.variant {
            config.insert("variant".into(), json!(v));
        }
        config.insert("comment".into(), json!(comment));
        if !container_config.is_empty() {
            config.insert("config".into(), Value::Object(container_config));
        }
        config.insert("created".into(), json!(created));
        config.insert(
            "history".into(),
            json!([{ "created": created, "comment": comment }]),
        );
        config.insert("os".into(), json!(platform.os));
        config.insert(
            "rootfs".into(),
            json!({ "type": "layers", "diff_ids": [diff_id.to_string()] }),
        );
        let layer_desc = Descriptor::new(media_type::OCI_LAYER_TAR, diff_id.0.clone(), blob_size);
        let (config_desc, manifest_desc) = self.store_image_blobs(
            lease,
            config,
            media_type::OCI_CONFIG,
            media_type::OCI_MANIFEST,
            std::slice::from_ref(&layer_desc),
        )?;

        let id = ImageId(config_desc.digest.clone());
        let record = ImageRecord {
            id: id.clone(),
            target: TargetDescriptor {
                media_type: manifest_desc.media_type.clone(),
                digest: manifest_desc.digest.clone(),
                size: manifest_desc.size,
            },
            manifest_digest: manifest_desc.digest.clone(),
            created: Some(created),
            size: content_size,
            added_at: unix_now(),
            last_tag_time: None,
            parent: None,
            layers: vec![ImageLayer {
                chain_id: chain,
                diff_id,
                blob_digest: layer_desc.digest.clone(),
                blob_media_type: layer_desc.media_type.clone(),
                blob_size,
            }],
        };
        self.insert_image_tagged(&record, reference)?;
        Ok(id)
    }

    /// Streams the tarball into the layer blob and the snapshot at once.
    /// Returns what apply saw (DiffID, content size, file contents) and the blob size.
    fn import_layer(
        &mut self,
        input: &mut dyn Read,
        snapshot: &SnapshotId,
        lease: &Lease,
    ) -> Result<(ApplyStats, u64)> {
        let dir = self.snapshots.prepare_layer(snapshot, &[])?;
        let mut buffered = BufReader::with_capacity(1 << 20, input);
        let head = buffered
            .fill_buf()
            .map_err(|e| EngineError::io("reading the import tarball", e))?;
        let magic = head[..head.len().min(6)].to_vec();
        // gzip, zstd, bzip2, xz or plain, as docker import accepts.
        let decompressed = kasane_store::archive::decompressing(&magic, buffered)?;
        let store = self.store.clone();
        // Apply hashes every byte it reads (the DiffID), so the store need not hash them too.
        let mut writer = store.witnessed_unknown_writer()?;
        let opts = ApplyOptions {
            whiteouts: self.snapshots.whiteout_mode(),
            preserve_owners: rustix::process::geteuid().is_root(),
            ..ApplyOptions::default()
        };
        let stats = {
            let mut tee = WriteThrough {
                inner: decompressed,
                sink: &mut *writer,
            };
            let stats = archive::apply(&dir, &mut tee, &opts).map_err(|e| EngineError::Unpack {
                subject: "import".to_owned(),
                layer: "rootfs".to_owned(),
                source: Box::new(e),
            })?;
            // Apply reads to the end; a byte it left would be stored but not hashed.
            let left = std::io::copy(&mut tee, &mut std::io::sink())
                .map_err(|e| EngineError::io("reading the import tarball", e))?;
            if left != 0 {
                return Err(EngineError::Conflict(format!(
                    "import: {left} bytes after the archive were not hashed"
                )));
            }
            stats
        };
        // The digest is only known now: publish and lease it under the shared GC lock, so no
        // collection can run between the two.
        let _gc = FileLock::shared(&self.gc_lock_path())?;
        let (digest, size) = writer.commit_witnessed(stats.diff_id.0.clone())?;
        lease.add(&mut self.metadata, LeaseResource::Blob, &digest.to_string())?;
        Ok((stats, size))
    }
}

/// Passes reads through while writing them into `sink`.
struct WriteThrough<'a, R> {
    inner: R,
    sink: &'a mut dyn kasane_store::BlobWriter,
}

impl<R: Read> Read for WriteThrough<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}
