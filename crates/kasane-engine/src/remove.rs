//! Names and removal: `tag`, `rmi`, `image prune`.
//!
//! Docker's rules, kept: removing the last tag of a repository also removes that
//! repository's digest references; an image with no references left is deleted; removing by
//! ID untags everything first, but refuses without `force` when the image is known in several
//! repositories. Deleting an image only forgets the image: its layers and blobs go in the
//! garbage collection that follows, which is what reports them as deleted.

use std::collections::{BTreeSet, HashMap};

use kasane_oci::{ChainId, ImageId, Reference};

use crate::Engine;
use crate::error::{EngineError, Result};
use crate::resolve::Matched;

/// One line of `rmi`/`prune` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveEvent {
    /// A reference was removed (familiar form).
    Untagged(String),
    /// An image (`sha256:<id>`) or a layer (`sha256:<chain id>`) was deleted.
    Deleted(String),
}

/// What `image prune` removes.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Every unused image, not only dangling ones (`-a`).
    pub all: bool,
    /// Only images created before this Unix time (`until=`).
    pub until: Option<i64>,
    /// Only images whose labels match all of these (`label=`, `label!=`).
    pub labels: Vec<crate::filter::LabelFilter>,
}

/// The result of `image prune`.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    /// What was untagged and deleted, in order.
    pub events: Vec<RemoveEvent>,
    /// Bytes freed: the sizes of the deleted images' layers that no other image shares.
    pub reclaimed: u64,
}

impl Engine {
    /// Points `target` at the image `source` resolves to (`docker tag`).
    ///
    /// # Errors
    /// `NoSuchImage`; `InvalidArgument` for a malformed target or one with a digest.
    pub fn tag(&mut self, source: &str, target: &str) -> Result<()> {
        let (record, _) = self.resolve_image(source)?;
        let target: Reference = target.parse()?;
        if target.digest.is_some() {
            return Err(EngineError::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        let target = target.with_default_tag();
        let now = jiff::Timestamp::now().to_string();
        self.metadata.write(|tx| {
            tx.set_tag(&target.to_string(), &record.id)?;
            tx.set_last_tag_time(&record.id, &now)
        })?;
        Ok(())
    }

    /// Removes the images or references named (`docker rmi`). Each name is handled on its
    /// own; the result per name is its events or its error, in order.
    pub fn remove_images(
        &mut self,
        names: &[String],
        force: bool,
    ) -> Vec<Result<Vec<RemoveEvent>>> {
        let mut results = Vec::with_capacity(names.len());
        for name in names {
            results.push(self.remove_one(name, force));
        }
        results
    }

    fn remove_one(&mut self, name: &str, force: bool) -> Result<Vec<RemoveEvent>> {
        let (record, matched) = self.resolve_image(name)?;
        let id = record.id.clone();
        // Containers of this image: (short id, running). The image must outlive them.
        let users: Vec<(String, bool)> = self
            .container_records()?
            .into_iter()
            .filter(|c| c.image == id)
            .map(|c| {
                let running =
                    crate::containers::RunState::load(&self.container_paths(&c.id).state())
                        .map(|s| s.is_running())
                        .unwrap_or(false);
                (c.id[..12].to_owned(), running)
            })
            .collect();
        if let (Matched::Id, Some((c, running))) = (&matched, users.first()) {
            if *running {
                return Err(EngineError::Conflict(format!(
                    "unable to delete {} (cannot be forced) - image is being used by running container {c}",
                    id.0.short()
                )));
            }
            if !force {
                return Err(EngineError::Conflict(format!(
                    "unable to delete {} (must be forced) - image is being used by stopped container {c}",
                    id.0.short()
                )));
            }
        }
        let mut events = Vec::new();
        let delete = self.metadata.write(|tx| {
            match &matched {
                Matched::Tag(r) => {
                    tx.remove_tag(&r.to_string())?;
                    events.push(RemoveEvent::Untagged(r.familiar()));
                    let repo = r.name();
                    let same_repo_tag_left = tx
                        .tags_of(&id)?
                        .iter()
                        .filter_map(|t| t.parse::<Reference>().ok())
                        .any(|t| t.name() == repo);
                    if !same_repo_tag_left {
                        for (repository, digest) in tx.repo_digests_of(&id)? {
                            if repository == repo {
                                tx.remove_repo_digest(&repository, &digest)?;
                                events.push(RemoveEvent::Untagged(familiar_digest(&repository, &digest)));
                            }
                        }
                    }
                }
                Matched::Digest(r) => {
                    if let Some(d) = &r.digest {
                        tx.remove_repo_digest(&r.name(), d)?;
                    }
                    events.push(RemoveEvent::Untagged(r.familiar()));
                }
                Matched::Id => {
                    let tags = tx.tags_of(&id)?;
                    let digests = tx.repo_digests_of(&id)?;
                    let repos: BTreeSet<String> = tags
                        .iter()
                        .filter_map(|t| t.parse::<Reference>().ok().map(|r| r.name()))
                        .chain(digests.iter().map(|(r, _)| r.clone()))
                        .collect();
                    if repos.len() > 1 && !force {
                        return Err(kasane_store::StoreError::Conflict(format!(
                            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            id.0.short()
                        )));
                    }
                    for t in &tags {
                        tx.remove_tag(t)?;
                        if let Ok(r) = t.parse::<Reference>() {
                            events.push(RemoveEvent::Untagged(r.familiar()));
                        }
                    }
                    for (repository, digest) in &digests {
                        tx.remove_repo_digest(repository, digest)?;
                        events.push(RemoveEvent::Untagged(familiar_digest(repository, digest)));
                    }
                }
            }
            let left = tx.tags_of(&id)?.len() + tx.repo_digests_of(&id)?.len();
            if left == 0 {
                if let Some((c, _)) = users.first() {
                    if !force {
                        return Err(kasane_store::StoreError::Conflict(format!(
                            "conflict: unable to remove repository reference \"{name}\" (must force) - container {c} is using its referenced image {}",
                            id.0.short()
                        )));
                    }
                    // Forced: the references go, the image stays for its containers.
                    return Ok(false);
                }
                tx.delete_image(&id)?;
                return Ok(true);
            }
            Ok(false)
        })?;
        if delete {
            events.push(RemoveEvent::Deleted(id.to_string()));
            let report = self.gc()?;
            events.extend(deleted_layers(
                &record
                    .layers
                    .iter()
                    .map(|l| l.chain_id.clone())
                    .collect::<Vec<_>>(),
                &report.layer_ids(),
            ));
        }
        Ok(events)
    }

    /// Removes dangling images, or with `all` every image no container uses
    /// (`docker image prune [-a] [--filter until=…] [--filter label=…]`).
    pub fn prune_images(&mut self, opts: &PruneOptions) -> Result<PruneReport> {
        let images = self.images_with_records()?;
        let mut report = PruneReport::default();
        let mut doomed: Vec<(ImageId, Vec<ChainId>)> = Vec::new();
        for (img, record) in &images {
            if img.containers > 0 || !(opts.all || img.dangling) {
                continue;
            }
            if let Some(until) = opts.until
                && img.created.is_some_and(|c| c >= until)
            {
                continue;
            }
            if !opts.labels.is_empty() {
                let labels = self.image_labels(&img.id)?;
                if !opts.labels.iter().all(|f| f.matches(&labels)) {
                    continue;
                }
            }
            self.metadata.write(|tx| {
                for t in &img.tags {
                    tx.remove_tag(&t.to_string())?;
                }
                for d in &img.digests {
                    if let Some(digest) = &d.digest {
                        tx.remove_repo_digest(&d.name(), digest)?;
                    }
                }
                tx.delete_image(&img.id)
            })?;
            for t in &img.tags {
                report.events.push(RemoveEvent::Untagged(t.familiar()));
            }
            for d in &img.digests {
                report.events.push(RemoveEvent::Untagged(d.familiar()));
            }
            report.events.push(RemoveEvent::Deleted(img.id.to_string()));
            doomed.push((
                img.id.clone(),
                record.layers.iter().map(|l| l.chain_id.clone()).collect(),
            ));
        }
        if doomed.is_empty() {
            return Ok(report);
        }
        let gc = self.gc()?;
        let removed = gc.layer_ids();
        let sizes: HashMap<ChainId, u64> = gc
            .layers
            .iter()
            .map(|l| (l.chain_id.clone(), l.size))
            .collect();
        let mut counted = BTreeSet::new();
        let mut events = Vec::new();
        for (id, chains) in &doomed {
            // Keep docker's order: an image's untag/delete lines, then its deleted layers.
            for e in report.events.drain(..) {
                let stop = e == RemoveEvent::Deleted(id.to_string());
                events.push(e);
                if stop {
                    break;
                }
            }
            for e in deleted_layers(chains, &removed) {
                if let RemoveEvent::Deleted(c) = &e
                    && counted.insert(c.clone())
                {
                    if let Ok(chain) = c.parse::<ChainId>() {
                        report.reclaimed += sizes.get(&chain).copied().unwrap_or(0);
                    }
                    events.push(e);
                }
            }
        }
        events.append(&mut report.events);
        report.events = events;
        Ok(report)
    }
}

/// `Deleted:` lines for an image's layers that the collection removed, top layer first.
fn deleted_layers(
    chains: &[ChainId],
    removed: &std::collections::HashSet<ChainId>,
) -> Vec<RemoveEvent> {
    chains
        .iter()
        .rev()
        .filter(|c| removed.contains(*c))
        .map(|c| RemoveEvent::Deleted(c.to_string()))
        .collect()
}

fn familiar_digest(repository: &str, digest: &kasane_oci::Digest) -> String {
    match format!("{repository}@{digest}").parse::<Reference>() {
        Ok(r) => r.familiar(),
        Err(_) => format!("{repository}@{digest}"),
    }
}
