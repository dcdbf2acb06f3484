//! `pull`: an image from a registry into the store and snapshots.
//!
//! Resolve the reference on the first endpoint that has it (the configured mirrors in order,
//! then the origin), verify the manifest bytes, pick the platform from an index, then
//! [`Engine::unpack_manifest`] with the remote repository as the source: every layer is
//! fetched, hashed, decompressed and applied in one pass, several layers at once, and nothing
//! unverified is committed. A pull killed half way leaves partial ingests, which the next
//! pull resumes with `Range`; two processes pulling the same image meet at the store's
//! ingest locks and fetch each blob once.
//!
//! Afterwards the tag and the repository digest are recorded, and where each blob came from
//! (so a push to the same registry can mount instead of upload).

use kasane_oci::{Descriptor, Digest, ImageId, Index, ManifestKind, Platform, Reference};
use kasane_registry::{RegistryClient, RemoteRepository};
use kasane_store::metadata::{LeaseResource, TargetDescriptor};

use crate::Engine;
use crate::blob_io::write_small_blob;
use crate::error::{EngineError, Result};
use crate::lease::Lease;
use crate::unpack::UnpackProgress;

/// Options of [`Engine::pull`].
#[derive(Default, Clone, Copy)]
pub struct PullOptions<'a> {
    /// The platform to pick from an index (default: the host's).
    pub platform: Option<&'a Platform>,
    /// Per-layer progress, from worker threads.
    pub progress: Option<UnpackProgress<'a>>,
}

/// What [`Engine::pull`] did.
#[derive(Debug, Clone)]
pub struct PullReport {
    /// The reference pulled (normalised, with its tag or digest).
    pub reference: Reference,
    /// The repository digest (`Digest:` line).
    pub digest: Digest,
    /// The image.
    pub image: ImageId,
    /// The image was here already under this name ("Image is up to date").
    pub up_to_date: bool,
}

impl Engine {
    /// Pulls `reference` (tagged, or by digest) through `client`.
    ///
    /// # Errors
    /// `Remote` when no endpoint can serve it (not found, unauthorized, unreachable);
    /// `InvalidImage` when what arrives does not verify; nothing of it is kept then.
    pub fn pull(
        &mut self,
        client: &RegistryClient,
        reference: &Reference,
        opts: &PullOptions<'_>,
    ) -> Result<PullReport> {
        let reference = if reference.digest.is_none() {
            reference.clone().with_default_tag()
        } else {
            reference.clone()
        };
        let subject = reference.to_string();
        let wanted = reference
            .digest
            .as_ref()
            .map_or_else(|| reference.tag_or_latest().to_owned(), ToString::to_string);
        let (repo, root, root_bytes) = resolve_remote(client, &reference, &wanted)?;
        let host = opts.platform.cloned().unwrap_or_else(Platform::host);
        let (manifest, index) = if kasane_oci::media_type::is_index(&root.media_type) {
            let index: Index = match ManifestKind::parse(&root_bytes, Some(&root.media_type)) {
                Ok(ManifestKind::Index(i)) => i,
                Ok(_) => {
                    return Err(EngineError::invalid_image(
                        &subject,
                        format!("{} is not an index", root.digest),
                    ));
                }
                Err(e) => return Err(EngineError::invalid_image(&subject, e)),
            };
            let chosen = index.select_platform(&host).cloned().ok_or_else(|| {
                EngineError::NotFound(format!(
                    "no matching manifest for {host} in the manifest list entries of {subject}"
                ))
            })?;
            (chosen, Some(root.clone()))
        } else {
            (root.clone(), None)
        };
        let lease = Lease::take(&mut self.metadata)?;
        let result = self.pull_with_lease(
            &repo,
            &reference,
            &subject,
            (&root, &root_bytes, index.is_some()),
            &manifest,
            opts,
            &lease,
        );
        let released = lease.release(&mut self.metadata);
        match result {
            Ok(report) => {
                released?;
                Ok(report)
            }
            Err(e) => {
                if let Err(gc) = self.gc() {
                    tracing::warn!("cleaning up after a failed pull: {gc}");
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn pull_with_lease(
        &mut self,
        repo: &RemoteRepository,
        reference: &Reference,
        subject: &str,
        (root, root_bytes, is_index): (&Descriptor, &[u8], bool),
        manifest: &Descriptor,
        opts: &PullOptions<'_>,
        lease: &Lease,
    ) -> Result<PullReport> {
        let name = reference.name();
        let tag_name = reference.tag.as_ref().map(|_| reference.to_string());
        // Up to date: the name points at an image that this registry digest names too (or
        // whose own manifest is this one).
        let (current, by_digest) = self.metadata.read(|tx| {
            let by_digest = tx.repo_digest(&name, &root.digest)?;
            let current = match &tag_name {
                Some(t) => tx.tag(t)?,
                None => by_digest.clone(),
            };
            Ok((current, by_digest))
        })?;
        if let Some(id) = &current
            && let Some(rec) = self.metadata.read(|tx| tx.image(id))?
            && (rec.manifest_digest == manifest.digest || by_digest.as_ref() == Some(id))
        {
            self.record_pull_names(&name, tag_name.as_deref(), &root.digest, id)?;
            return Ok(PullReport {
                reference: reference.clone(),
                digest: root.digest.clone(),
                image: id.clone(),
                up_to_date: true,
            });
        }

        let mut unpacked = self.unpack_manifest(repo, manifest, subject, lease, opts.progress)?;
        if is_index {
            lease.add(
                &mut self.metadata,
                LeaseResource::Blob,
                &root.digest.to_string(),
            )?;
            write_small_blob(&*self.store, root, root_bytes)?;
            unpacked.record.target = TargetDescriptor {
                media_type: root.media_type.clone(),
                digest: root.digest.clone(),
                size: root.size,
            };
        }
        let id = unpacked.record.id.clone();
        let record = unpacked.record;
        let source = format!("{}/{}", repo.registry(), repo.repository());
        // One transaction: a pull killed now leaves either nothing or the named image.
        self.metadata.write(|tx| {
            if tx.image(&record.id)?.is_none() {
                tx.insert_image(&record)?;
            }
            for l in &record.layers {
                tx.add_blob_source(&l.blob_digest, &source)?;
            }
            if let Some(t) = &tag_name {
                tx.set_tag(t, &id)?;
            }
            tx.add_repo_digest(&name, &root.digest, &id)
        })?;
        Ok(PullReport {
            reference: reference.clone(),
            digest: root.digest.clone(),
            image: id,
            up_to_date: false,
        })
    }

    fn record_pull_names(
        &mut self,
        name: &str,
        tag: Option<&str>,
        digest: &Digest,
        id: &ImageId,
    ) -> Result<()> {
        self.metadata.write(|tx| {
            if let Some(t) = tag {
                tx.set_tag(t, id)?;
            }
            tx.add_repo_digest(name, digest, id)
        })?;
        Ok(())
    }
}

/// The first endpoint (mirrors, then the origin) that serves `wanted`: the repository
/// there, the root descriptor and its verified bytes.
pub(crate) fn resolve_remote(
    client: &RegistryClient,
    reference: &Reference,
    wanted: &str,
) -> Result<(RemoteRepository, Descriptor, Vec<u8>)> {
    let subject = reference.to_string();
    let endpoints = client
        .options()
        .registries
        .endpoints(&reference.registry, &reference.repository)
        .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    let mut last_err = None;
    for ep in &endpoints {
        let session = client
            .session(&ep.host)
            .map_err(|e| EngineError::remote(&subject, e))?;
        let repo = RemoteRepository::new(session, &ep.repository, false);
        match repo.get_manifest(wanted) {
            Ok((desc, bytes)) => return Ok((repo, desc, bytes)),
            Err(e) if ep.mirror => {
                tracing::info!("mirror {} failed for {subject}: {e}", ep.host);
                last_err = Some(e);
            }
            Err(e) => return Err(EngineError::remote(&subject, e)),
        }
    }
    Err(match last_err {
        Some(e) => EngineError::remote(&subject, e),
        None => EngineError::InvalidArgument(format!("no endpoint for {subject}")),
    })
}

/// The repository `reference` names on its registry itself (never a mirror: pushes and
/// manifest lists go to the origin), with push access when `push`.
pub(crate) fn origin_repository(
    client: &RegistryClient,
    reference: &Reference,
    push: bool,
) -> Result<RemoteRepository> {
    let subject = reference.to_string();
    let endpoint = client
        .options()
        .registries
        .origin_endpoint(&reference.registry, &reference.repository)
        .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    let session = client
        .session(&endpoint.host)
        .map_err(|e| EngineError::remote(&subject, e))?;
    Ok(RemoteRepository::new(session, &endpoint.repository, push))
}
