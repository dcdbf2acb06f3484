//! `commit`: a new image made of a container's image plus its changes as one more layer.

use std::io::{self, Write};
use std::path::Path;

use kasane_oci::{DiffId, Digest, ImageId, Reference, media_type};
use kasane_runtime::Runtime;
use kasane_snapshot::archive::{self, DiffMode};
use kasane_store::Ingester;
use kasane_store::lock::FileLock;
use kasane_store::metadata::{ContainerRecord, ImageRecord, LeaseResource};
use serde_json::{Map, Value, json};

use super::CommitOptions;
use super::diff::export_tree_changes;
use crate::changes::apply_change;
use crate::containers::{ContainerOptions, Status, now_rfc3339};
use crate::error::{EngineError, Result};
use crate::lease::Lease;
use crate::{Engine, snap_id};

impl Engine {
    /// `commit`: a new image made of the container's image plus its changes as one more
    /// layer, with the container's settings in the config (docker's merge) and `changes`
    /// applied. Returns the new image's ID; tags it when `opts.reference` is given.
    ///
    /// # Errors
    /// `NoSuchContainer`; `InvalidArgument` for a bad reference or change; snapshot, store
    /// and I/O errors. Nothing is kept on failure.
    pub fn commit_container(&mut self, name: &str, opts: &CommitOptions) -> Result<ImageId> {
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
        for c in &opts.changes {
            apply_change(&mut Map::new(), c)?;
        }
        let record = self.find_container(name)?;
        let copts = self.container_options(&record)?;
        let image = self.image_record(&record.image)?;
        let (_, raw) = self.config_of(&image)?;
        let doc: Map<String, Value> = serde_json::from_slice(&raw).map_err(|e| {
            EngineError::invalid_image(image.id.to_string(), format!("config: {e}"))
        })?;

        // Paused here unless the user paused it already (then it stays paused).
        let state = self.container_state(&record)?;
        let paused_here = if opts.pause && state.status == Status::Running && !state.paused {
            let runtime = self.runtime_for(&copts, &self.container_paths(&record.id))?;
            runtime.pause(&record.id).map_err(|e| {
                EngineError::ContainerState(format!("cannot pause container {}: {e}", record.id))
            })?;
            Some(runtime)
        } else {
            None
        };
        let lease = Lease::take(&mut self.metadata)?;
        let result = self
            .commit_leased(&record, &copts, &image, doc, opts, &lease)
            .and_then(|new_image| {
                self.insert_image_tagged(&new_image, reference.as_ref())?;
                Ok(new_image.id)
            });
        if let Some(runtime) = paused_here
            && let Err(e) = runtime.resume(&record.id)
        {
            tracing::warn!("unpausing {} after the commit: {e}", record.name);
        }
        let released = lease.release(&mut self.metadata);
        if result.is_err()
            && let Err(e) = self.gc()
        {
            tracing::warn!("cleaning up after a failed commit: {e}");
        }
        let id = result?;
        released?;
        Ok(id)
    }

    /// Writes the layer, config and manifest of the committed image under `lease` and
    /// unpacks it; returns the image's row, not yet written.
    fn commit_leased(
        &mut self,
        record: &ContainerRecord,
        copts: &ContainerOptions,
        image: &ImageRecord,
        mut doc: Map<String, Value>,
        opts: &CommitOptions,
        lease: &Lease,
    ) -> Result<ImageRecord> {
        let base_cfg = doc
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let created_by = container_cmd(copts, &base_cfg).join(" ");
        let mut cfg = commit_config(base_cfg, copts);
        for c in &opts.changes {
            apply_change(&mut cfg, c)?;
        }

        // The layer: the container's changes, gzip-compressed into the store.
        let parents = self.layer_snapshots(image)?;
        let upper = self.snapshots.fs_dir(&snap_id(&record.snapshot_id)?);
        let base = parents.first().map(|p| self.snapshots.fs_dir(p));
        let (diff_id, blob_digest, blob_size) = self.write_layer(&upper, base.as_deref(), lease)?;
        // A tar with no entries: docker adds no layer, only an `empty_layer` history entry.
        let empty = diff_id.0 == Digest::sha256_of(&[0u8; EMPTY_TAR_LEN]);

        // The config: docker's `NewChildImage`.
        let created = now_rfc3339();
        let author = opts.author.clone().filter(|a| !a.is_empty());
        let message = opts.message.clone().filter(|m| !m.is_empty());
        doc.remove("container_config");
        match &author {
            Some(a) => doc.insert("author".into(), json!(a)),
            None => doc.remove("author"),
        };
        match &message {
            Some(m) => doc.insert("comment".into(), json!(m)),
            None => doc.remove("comment"),
        };
        doc.insert("config".into(), Value::Object(cfg));
        doc.insert("container".into(), json!(record.id));
        doc.insert("created".into(), json!(created));
        let mut entry = Map::new();
        entry.insert("created".into(), json!(created));
        if let Some(a) = &author {
            entry.insert("author".into(), json!(a));
        }
        entry.insert("created_by".into(), json!(created_by));
        if let Some(m) = &message {
            entry.insert("comment".into(), json!(m));
        }
        if empty {
            entry.insert("empty_layer".into(), json!(true));
        }
        let history = doc.entry("history").or_insert_with(|| json!([]));
        if !history.is_array() {
            *history = json!([]);
        }
        if let Value::Array(h) = history {
            h.push(Value::Object(entry));
        }
        let rootfs = doc
            .entry("rootfs")
            .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
        if !rootfs.is_object() {
            *rootfs = json!({"type": "layers", "diff_ids": []});
        }
        if !empty && let Value::Object(r) = rootfs {
            let ids = r.entry("diff_ids").or_insert_with(|| json!([]));
            if !ids.is_array() {
                *ids = json!([]);
            }
            if let Value::Array(ids) = ids {
                ids.push(json!(diff_id.to_string()));
            }
        }

        // Manifest in the flavour of the image's own layers.
        let docker = !image.layers.is_empty()
            && image
                .layers
                .iter()
                .all(|l| l.blob_media_type.starts_with("application/vnd.docker."));
        let (manifest_type, config_type, layer_type) = if docker {
            (
                media_type::DOCKER_MANIFEST,
                media_type::DOCKER_CONFIG,
                media_type::DOCKER_LAYER_GZIP,
            )
        } else {
            (
                media_type::OCI_MANIFEST,
                media_type::OCI_CONFIG,
                media_type::OCI_LAYER_TAR_GZIP,
            )
        };
        let mut layers: Vec<kasane_oci::Descriptor> = image
            .layers
            .iter()
            .map(|l| {
                kasane_oci::Descriptor::new(
                    l.blob_media_type.clone(),
                    l.blob_digest.clone(),
                    l.blob_size,
                )
            })
            .collect();
        if !empty {
            layers.push(kasane_oci::Descriptor::new(
                layer_type,
                blob_digest,
                blob_size,
            ));
        }
        let (_, manifest_desc) =
            self.store_image_blobs(lease, doc, config_type, manifest_type, &layers)?;

        // The new layer's snapshot: unpacked from the store like any pulled image, so chain
        // IDs, layer rows and sizes are computed in one place.
        let store = self.store.clone();
        let subject = format!("commit of {}", record.name);
        let unpacked = self.unpack_manifest(&*store, &manifest_desc, &subject, lease, None)?;
        let mut new_image = unpacked.record;
        new_image.parent = Some(image.id.clone());
        Ok(new_image)
    }

    /// Writes the container's change set as a gzip layer blob; returns (DiffID, blob digest,
    /// blob size). `base` is the image's top layer for the native snapshotter.
    fn write_layer(
        &mut self,
        upper: &Path,
        base: Option<&Path>,
        lease: &Lease,
    ) -> Result<(DiffId, Digest, u64)> {
        let store = self.store.clone();
        let mut writer = store.writer(None)?;
        let diff_id = {
            let mut gz =
                flate2::write::GzEncoder::new(&mut *writer, flate2::Compression::default());
            let diff_id = if self.driver == "overlay" {
                archive::diff(upper, DiffMode::OverlayUpper, &mut gz)?.diff_id
            } else {
                let mut hashing = HashingWriter {
                    inner: &mut gz,
                    digester: kasane_oci::Digester::new(kasane_oci::Algorithm::Sha256),
                };
                export_tree_changes(upper, base, &mut hashing)
                    .map_err(|e| EngineError::io("writing the container's layer", e))?;
                DiffId(hashing.digester.finish())
            };
            gz.finish()
                .map_err(|e| EngineError::io("compressing the container's layer", e))?;
            diff_id
        };
        // Publish and lease under the shared GC lock, as import does.
        let _gc = FileLock::shared(&self.gc_lock_path())?;
        let (digest, size) = writer.commit()?;
        lease.add(&mut self.metadata, LeaseResource::Blob, &digest.to_string())?;
        Ok((diff_id, digest, size))
    }
}

/// Bytes of a tar with no entries (its two end-of-archive blocks).
const EMPTY_TAR_LEN: usize = 1024;

/// Hashes what passes through (the DiffID of a layer being written).
struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    digester: kasane_oci::Digester,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digester.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The container's command (docker's `ContainerConfig.Cmd`), for the history.
pub(super) fn container_cmd(
    copts: &ContainerOptions,
    image_cfg: &Map<String, Value>,
) -> Vec<String> {
    if !copts.cmd.is_empty() || copts.entrypoint.is_some() {
        return copts.cmd.clone();
    }
    string_list(image_cfg.get("Cmd"))
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The image config plus what the container was created with (docker merges the
/// container's config over the image's).
pub(super) fn commit_config(
    mut cfg: Map<String, Value>,
    copts: &ContainerOptions,
) -> Map<String, Value> {
    if !copts.env.is_empty() {
        let mut env = string_list(cfg.get("Env"));
        for e in &copts.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        cfg.insert("Env".into(), json!(env));
    }
    if let Some(ep) = &copts.entrypoint {
        if ep.is_empty() {
            cfg.insert("Entrypoint".into(), Value::Null);
        } else {
            cfg.insert("Entrypoint".into(), json!(ep));
        }
        if copts.cmd.is_empty() {
            cfg.insert("Cmd".into(), Value::Null);
        }
    }
    if !copts.cmd.is_empty() {
        cfg.insert("Cmd".into(), json!(copts.cmd));
    }
    if let Some(w) = copts.workdir.as_deref().filter(|w| !w.is_empty()) {
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &copts.user {
        cfg.insert("User".into(), json!(u));
    }
    if !copts.publish.is_empty() {
        let ports = cfg.entry("ExposedPorts").or_insert_with(|| json!({}));
        if !ports.is_object() {
            *ports = json!({});
        }
        if let Value::Object(p) = ports {
            for m in &copts.publish {
                p.insert(format!("{}/{}", m.container_port, m.protocol), json!({}));
            }
        }
    }
    if !copts.labels.is_empty() {
        let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        if let Value::Object(l) = labels {
            for (k, v) in &copts.labels {
                l.insert(k.clone(), json!(v));
            }
        }
    }
    if let Some(s) = &copts.stop_signal {
        cfg.insert("StopSignal".into(), json!(s));
    }
    cfg
}
