//! `push`: a local image to a registry.
//!
//! `copy_graph(local store → RemoteRepository)`, children before parents: for each blob,
//! `HEAD` first ("Layer already exists"), then a cross-repository mount from a repository of
//! the same registry the store knows holds it ("Mounted from …"), else a streamed upload.
//! Blobs go as stored (no recompression) and are trusted as the store verified them at
//! commit, so nothing is hashed again on the way out. The manifest goes last, under the tag.

use std::collections::HashMap;

use kasane_oci::{Descriptor, Digest, Index, ManifestKind, Reference, media_type};
use kasane_registry::{MountOutcome, RegistryClient};
use kasane_store::copy::{CopyOptions, ProgressEvent, copy_graph};
use kasane_store::{Provider, read_blob};

use crate::Engine;
use crate::error::{EngineError, Result};

/// What happens to one blob during a push (docker's push lines).
#[derive(Debug, Clone, Copy)]
pub enum PushEvent<'a> {
    /// The blob is about to be checked ("Preparing").
    Preparing(&'a Descriptor),
    /// The registry has it ("Layer already exists").
    AlreadyExists(&'a Descriptor),
    /// The registry linked it from another repository ("Mounted from library/alpine").
    Mounted(&'a Descriptor, &'a str),
    /// Bytes uploaded so far ("Pushing").
    Pushing(&'a Descriptor, u64),
    /// Uploaded and verified by the registry ("Pushed").
    Pushed(&'a Descriptor),
}

/// Options of [`Engine::push`].
#[derive(Default, Clone, Copy)]
pub struct PushOptions<'a> {
    /// Progress of the layer and config blobs, from worker threads.
    pub progress: Option<&'a (dyn Fn(&PushEvent<'_>) + Sync)>,
}

/// What [`Engine::push`] did.
#[derive(Debug, Clone)]
pub struct PushReport {
    /// The tag pushed (`latest`), or the digest when pushed by digest.
    pub tag: String,
    /// The digest of the manifest or index pushed.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The layers of the image, bottom first: (blob digest, DiffID) for progress ids.
    pub layers: Vec<(Digest, Digest)>,
}

impl Engine {
    /// The layers of the local image `name` (blob digest → DiffID), for progress lines that
    /// docker keys by DiffID.
    ///
    /// # Errors
    /// `NoSuchImage`.
    pub fn push_layers(&mut self, name: &str) -> Result<HashMap<Digest, Digest>> {
        let (record, _) = self.resolve_image(name)?;
        Ok(record
            .layers
            .iter()
            .map(|l| (l.blob_digest.clone(), l.diff_id.0.clone()))
            .collect())
    }

    /// Pushes the local image `reference` names to its registry.
    ///
    /// # Errors
    /// `NoSuchImage` when there is no such local image; `Remote` when the registry refuses
    /// (unauthorized, denied, invalid manifest) or cannot be reached.
    pub fn push(
        &mut self,
        client: &RegistryClient,
        reference: &Reference,
        opts: &PushOptions<'_>,
    ) -> Result<PushReport> {
        let reference = if reference.digest.is_none() {
            reference.clone().with_default_tag()
        } else {
            reference.clone()
        };
        let subject = reference.to_string();
        let (record, _) = self.resolve_image(&subject)?;
        let target = Descriptor::new(
            record.target.media_type.clone(),
            record.target.digest.clone(),
            record.target.size,
        );
        let root = self.push_root(&target, &record.manifest_digest)?;
        let repo = crate::pull::origin_repository(client, &reference, true)?;
        let registry_prefix = format!("{}/", reference.registry);
        let own = format!("{}/{}", reference.registry, repo.repository());

        // Where each blob is known to exist on this registry already (other repositories).
        let mut sources: HashMap<Digest, Vec<String>> = HashMap::new();
        for l in &record.layers {
            let known = self.metadata.read(|tx| tx.blob_sources(&l.blob_digest))?;
            let same_registry: Vec<String> = known
                .into_iter()
                .filter(|r| r != &own)
                .filter_map(|r| r.strip_prefix(&registry_prefix).map(str::to_owned))
                .collect();
            sources.insert(l.blob_digest.clone(), same_registry);
        }
        let manifests: std::collections::HashSet<Digest> = std::iter::once(root.digest.clone())
            .chain(std::iter::once(record.manifest_digest.clone()))
            .collect();
        let layer_descs: HashMap<Digest, Descriptor> = record
            .layers
            .iter()
            .map(|l| {
                (
                    l.blob_digest.clone(),
                    Descriptor::new(
                        l.blob_media_type.clone(),
                        l.blob_digest.clone(),
                        l.blob_size,
                    ),
                )
            })
            .collect();
        let emit = |e: &PushEvent<'_>| {
            if let Some(p) = opts.progress {
                p(e);
            }
        };
        let dst_has = |d: &Digest| -> kasane_store::Result<bool> {
            if manifests.contains(d) {
                return Ok(false); // manifests are PUT (idempotent), never HEADed as blobs
            }
            if repo.head_blob(d)?.is_some() {
                return Ok(true);
            }
            for from in sources.get(d).into_iter().flatten() {
                if repo.mount_blob(d, from)? == MountOutcome::Mounted {
                    if let Some(desc) = layer_descs.get(d) {
                        emit(&PushEvent::Mounted(desc, from));
                    }
                    return Ok(true);
                }
            }
            Ok(false)
        };
        let progress = |e: &ProgressEvent<'_>| match e {
            ProgressEvent::Started { desc, .. } if !is_manifest(desc) => {
                emit(&PushEvent::Preparing(desc))
            }
            ProgressEvent::Bytes { desc, done } if !is_manifest(desc) => {
                emit(&PushEvent::Pushing(desc, *done))
            }
            ProgressEvent::Done { desc } if !is_manifest(desc) => emit(&PushEvent::Pushed(desc)),
            ProgressEvent::AlreadyExists { desc } if !is_manifest(desc) => {
                emit(&PushEvent::AlreadyExists(desc))
            }
            _ => {}
        };
        let copy = CopyOptions {
            platform: None,
            jobs: 5, // docker's max-concurrent-uploads
            progress: Some(&progress),
            trust_source: true,
        };
        copy_graph(&*self.store, &repo, &dst_has, &root, &copy)
            .map_err(|e| EngineError::invalid_image(&subject, e))?;
        let bytes = read_blob(&*self.store, &root)?;
        let tag = match (&reference.digest, &reference.tag) {
            (Some(d), _) => d.to_string(),
            (None, t) => t.clone().unwrap_or_else(|| "latest".into()),
        };
        repo.put_manifest(&tag, &root.media_type, &bytes)
            .map_err(|e| EngineError::remote(&subject, e))?;

        let name = reference.name();
        self.metadata.write(|tx| {
            tx.add_repo_digest(&name, &root.digest, &record.id)?;
            for l in &record.layers {
                tx.add_blob_source(&l.blob_digest, &own)?;
            }
            Ok(())
        })?;
        Ok(PushReport {
            tag,
            digest: root.digest.clone(),
            size: root.size,
            layers: record
                .layers
                .iter()
                .map(|l| (l.blob_digest.clone(), l.diff_id.0.clone()))
                .collect(),
        })
    }

    /// What to push: the image's index when every child it lists is here, else its one
    /// platform manifest (an image pulled from a multi-arch index holds only one child).
    fn push_root(&self, target: &Descriptor, manifest_digest: &Digest) -> Result<Descriptor> {
        if !media_type::is_index(&target.media_type) {
            return Ok(target.clone());
        }
        let bytes = read_blob(&*self.store, target)?;
        let index: Index = match ManifestKind::parse(&bytes, Some(&target.media_type)) {
            Ok(ManifestKind::Index(i)) => i,
            _ => return Ok(target.clone()),
        };
        let mut complete = true;
        let mut own = None;
        for m in &index.manifests {
            if self.store.contains(&m.digest)?.is_none() {
                complete = false;
            }
            if &m.digest == manifest_digest {
                own = Some(m.clone());
            }
        }
        match (complete, own) {
            (true, _) => Ok(target.clone()),
            (false, Some(m)) => Ok(Descriptor::new(m.media_type, m.digest, m.size)),
            (false, None) => Err(EngineError::Conflict(format!(
                "index {} lists manifests that are not in the store, and not {manifest_digest}",
                target.digest
            ))),
        }
    }
}

fn is_manifest(d: &Descriptor) -> bool {
    media_type::is_manifest(&d.media_type) || media_type::is_index(&d.media_type)
}

impl Engine {
    /// The tags (`latest`, `1.0`) of repository `name` (full name, `docker.io/library/x`).
    ///
    /// # Errors
    /// Database failures.
    pub fn tags_in_repository(&mut self, name: &str) -> Result<Vec<String>> {
        let rows = self.metadata.read(|tx| tx.tags_in_repository(name))?;
        Ok(rows
            .into_iter()
            .filter_map(|(full, _)| {
                full.strip_prefix(name)
                    .and_then(|t| t.strip_prefix(':'))
                    .map(str::to_owned)
            })
            .collect())
    }
}
