//! `save` and `load`: images to and from docker-archive and oci-archive tars.
//!
//! `save` is `copy_graph(local store → archive sink)`: the blobs are copied as stored (no
//! recompression), then the sink writes its index (`manifest.json`, `index.json`).
//! `load` opens the archive in place (a tar is indexed, not extracted; stdin and compressed
//! archives are first spooled, decompressed, to the store's `tmp/`) and unpacks every image
//! it lists with [`Engine::unpack_manifest`]: one pass over each layer, verified before
//! anything is committed. Then the names are applied, as docker does.

use std::io::{Read, Write};
use std::path::Path;

use kasane_oci::{Descriptor, ImageId, Index, ManifestKind, Platform, Reference};
use kasane_store::archive::{
    ArchiveImage, DockerArchiveWriter, ImageArchive, OciArchiveWriter, SaveImage, open_archive,
    open_archive_file, spool_decompressed,
};
use kasane_store::copy::{CopyOptions, copy_graph};
use kasane_store::metadata::{ImageRecord, TargetDescriptor};
use kasane_store::{Provider, read_blob};

use crate::Engine;
use crate::blob_io::write_small_blob;
use crate::error::{EngineError, Result};
use crate::lease::Lease;
use crate::resolve::Matched;

/// Archive formats of `save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    /// docker's `manifest.json` archive (with an OCI layout beside it, as docker ≥ 25 writes).
    #[default]
    DockerArchive,
    /// An OCI image layout in a tar.
    OciArchive,
}

/// One image `load` stored.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Its ID.
    pub id: ImageId,
    /// The names applied (full references).
    pub tags: Vec<Reference>,
}

/// What `load` did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// The images, in archive order.
    pub images: Vec<LoadedImage>,
    /// Tags that moved away from another image: (tag, the image it left).
    pub renamed: Vec<(Reference, ImageId)>,
}

impl Engine {
    /// Loads every image of the archive at `path` (plain, gzip or zstd tar).
    ///
    /// # Errors
    /// `InvalidImage` when the archive or an image in it does not verify; nothing of an
    /// image that failed stays in the store.
    pub fn load_path(&mut self, path: &Path) -> Result<LoadReport> {
        let mut head = [0u8; 6];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| EngineError::io(format!("opening {}", path.display()), e))?;
        let compressed = kasane_store::archive::is_compressed(&head[..n]);
        let archive = if compressed {
            let f = std::fs::File::open(path)
                .map_err(|e| EngineError::io(format!("opening {}", path.display()), e))?;
            open_archive_file(spool_decompressed(f, &self.tmp_dir())?)
        } else {
            open_archive(path)
        }
        .map_err(|e| EngineError::invalid_image(path.display().to_string(), e))?;
        self.load_archive(&*archive, &path.display().to_string())
    }

    /// Loads every image of an archive read from a stream (stdin).
    pub fn load_reader(&mut self, input: &mut dyn Read) -> Result<LoadReport> {
        let file = spool_decompressed(input, &self.tmp_dir())
            .map_err(|e| EngineError::invalid_image("archive from stdin", e))?;
        let archive = open_archive_file(file)
            .map_err(|e| EngineError::invalid_image("archive from stdin", e))?;
        self.load_archive(&*archive, "archive from stdin")
    }

    fn load_archive(&mut self, archive: &dyn ImageArchive, subject: &str) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        let host = Platform::host();
        for image in archive.images() {
            let lease = Lease::take(&mut self.metadata)?;
            let loaded = self.load_one(
                archive.as_provider(),
                image,
                &host,
                subject,
                &lease,
                &mut report,
            );
            let released = lease.release(&mut self.metadata);
            if let Err(e) = loaded {
                if let Err(gc) = self.gc() {
                    tracing::warn!("cleaning up after a failed load: {gc}");
                }
                return Err(e);
            }
            released?;
        }
        Ok(report)
    }

    fn load_one(
        &mut self,
        src: &dyn Provider,
        image: &ArchiveImage,
        host: &Platform,
        subject: &str,
        lease: &Lease,
        report: &mut LoadReport,
    ) -> Result<()> {
        let root = &image.manifest;
        let (manifest_desc, index) = if kasane_oci::media_type::is_index(&root.media_type) {
            let bytes = read_blob(src, root).map_err(|e| EngineError::invalid_image(subject, e))?;
            let index: Index = match ManifestKind::parse(&bytes, Some(&root.media_type)) {
                Ok(ManifestKind::Index(i)) => i,
                Ok(_) => {
                    return Err(EngineError::invalid_image(
                        subject,
                        format!("{} is not an index", root.digest),
                    ));
                }
                Err(e) => return Err(EngineError::invalid_image(subject, e)),
            };
            let chosen = index.select_platform(host).cloned().ok_or_else(|| {
                EngineError::invalid_image(
                    subject,
                    format!("no image for platform {host} in index {}", root.digest),
                )
            })?;
            (chosen, Some((root.clone(), bytes)))
        } else {
            (root.clone(), None)
        };
        let names: Vec<Reference> = image
            .repo_tags
            .iter()
            .filter_map(|t| archive_name(t))
            .collect();
        // An image that is here already (same config, so same ID) only gets the names: its
        // layers are unpacked and its blobs stored, whichever manifest described it then.
        if let Some(id) = self.existing_image_of(src, &manifest_desc, subject)? {
            return self.record_loaded(None, id, names, report);
        }
        let mut unpacked = self.unpack_manifest(src, &manifest_desc, subject, lease, None)?;
        if let Some((desc, bytes)) = &index {
            lease.add(
                &mut self.metadata,
                kasane_store::metadata::LeaseResource::Blob,
                &desc.digest.to_string(),
            )?;
            write_small_blob(&*self.store, desc, bytes)?;
            unpacked.record.target = TargetDescriptor {
                media_type: desc.media_type.clone(),
                digest: desc.digest.clone(),
                size: desc.size,
            };
        }
        let id = unpacked.record.id.clone();
        self.record_loaded(Some(&unpacked.record), id, names, report)
    }

    /// The ID of the image `desc` describes, if that image is in the store already.
    fn existing_image_of(
        &mut self,
        src: &dyn Provider,
        desc: &Descriptor,
        subject: &str,
    ) -> Result<Option<ImageId>> {
        let bytes = read_blob(src, desc).map_err(|e| EngineError::invalid_image(subject, e))?;
        let Ok(ManifestKind::Image(m)) = ManifestKind::parse(&bytes, Some(&desc.media_type)) else {
            // Not a manifest: unpack_manifest reports it properly.
            return Ok(None);
        };
        let id = ImageId(m.config.digest);
        Ok(self.metadata.read(|tx| tx.image(&id))?.map(|_| id))
    }

    /// Records a loaded image (`record`, when it is new) and its names in one transaction:
    /// a load killed at any moment leaves the image with all its names or not at all.
    fn record_loaded(
        &mut self,
        record: Option<&ImageRecord>,
        id: ImageId,
        names: Vec<Reference>,
        report: &mut LoadReport,
    ) -> Result<()> {
        let renamed = self.metadata.write(|tx| {
            if let Some(r) = record {
                tx.insert_image(r)?;
            }
            let mut renamed = Vec::new();
            for n in &names {
                if let Some(prev) = tx.set_tag(&n.to_string(), &id)? {
                    renamed.push((n.clone(), prev));
                }
            }
            Ok(renamed)
        })?;
        report.renamed.extend(renamed);
        report.images.push(LoadedImage { id, tags: names });
        Ok(())
    }

    /// Writes the images `names` resolve to as one archive to `out`.
    ///
    /// Names follow docker: `repo:tag` saves that tag; a repository without a tag saves all
    /// its tags; an ID saves the image without names.
    ///
    /// # Errors
    /// `NoSuchImage` for a name that matches nothing (before anything is written); store
    /// errors while copying.
    pub fn save(
        &mut self,
        names: &[String],
        format: ArchiveFormat,
        out: &mut (dyn Write + Send),
    ) -> Result<()> {
        let mut images: Vec<SaveImage> = Vec::new();
        for name in names {
            for (record, refs) in self.save_selection(name)? {
                let root = Descriptor::new(
                    kasane_oci::media_type::OCI_MANIFEST,
                    record.manifest_digest.clone(),
                    self.store
                        .contains(&record.manifest_digest)?
                        .ok_or_else(|| {
                            EngineError::invalid_image(
                                name.clone(),
                                format!(
                                    "manifest {} is missing; run `kasane system check`",
                                    record.manifest_digest
                                ),
                            )
                        })?,
                );
                // The stored manifest knows its own media type; read it to describe it right.
                let root = self.described_manifest(root)?;
                match images.iter_mut().find(|i| i.root.digest == root.digest) {
                    Some(existing) => {
                        for r in refs {
                            if !existing.names.contains(&r) {
                                existing.names.push(r);
                            }
                        }
                    }
                    None => images.push(SaveImage { root, names: refs }),
                }
            }
        }
        let has_none = |_: &kasane_oci::Digest| Ok(false);
        // The local store verified every blob at commit: saving is a copy (jobs = 1 keeps the
        // archive's entry order reproducible).
        let opts = CopyOptions {
            trust_source: true,
            jobs: 1,
            ..CopyOptions::default()
        };
        match format {
            ArchiveFormat::DockerArchive => {
                let sink = DockerArchiveWriter::new(&mut *out);
                for img in &images {
                    if !sink.has(&img.root.digest) {
                        copy_graph(&*self.store, &sink, &has_none, &img.root, &opts)?;
                    }
                }
                sink.finish(&images)?;
            }
            ArchiveFormat::OciArchive => {
                let sink = OciArchiveWriter::new(&mut *out);
                for img in &images {
                    if !sink.has(&img.root.digest) {
                        copy_graph(&*self.store, &sink, &has_none, &img.root, &opts)?;
                    }
                }
                sink.finish(&images)?;
            }
        }
        out.flush()
            .map_err(|e| EngineError::io("writing the archive", e))?;
        Ok(())
    }

    /// What `save NAME` writes: a repository without tag or digest is every tag of it (each
    /// image with its tags of that repository); a tag is that image under that name; an ID or
    /// a digest is the image without names.
    fn save_selection(&mut self, name: &str) -> Result<Vec<(ImageRecord, Vec<Reference>)>> {
        if let Ok(r) = name.parse::<Reference>()
            && r.tag.is_none()
            && r.digest.is_none()
        {
            let tags = self.metadata.read(|tx| tx.tags_in_repository(&r.name()))?;
            if !tags.is_empty() {
                let mut out: Vec<(ImageRecord, Vec<Reference>)> = Vec::new();
                for (tag, id) in tags {
                    let Ok(tag) = tag.parse::<Reference>() else {
                        continue;
                    };
                    match out.iter_mut().find(|(rec, _)| rec.id == id) {
                        Some((_, refs)) => refs.push(tag),
                        None => out.push((self.image_record(&id)?, vec![tag])),
                    }
                }
                return Ok(out);
            }
        }
        let (record, matched) = self.resolve_image(name)?;
        let refs = match matched {
            Matched::Tag(r) => vec![r],
            Matched::Digest(_) | Matched::Id => Vec::new(),
        };
        Ok(vec![(record, refs)])
    }

    /// Re-describes a stored manifest with the media type written inside it.
    fn described_manifest(&self, mut desc: Descriptor) -> Result<Descriptor> {
        let bytes = read_blob(&*self.store, &desc)?;
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(mt) = v.get("mediaType").and_then(|m| m.as_str())
        {
            desc.media_type = mt.to_owned();
        }
        Ok(desc)
    }
}

/// The name an archive gives an image, as a full reference with a tag; `None` for names
/// that are not references (an OCI `ref.name` that is only a tag, like `1`).
fn archive_name(name: &str) -> Option<Reference> {
    if !name.contains(':') && !name.contains('/') {
        return None;
    }
    let r: Reference = name.parse().ok()?;
    if r.digest.is_some() {
        return None;
    }
    Some(r.with_default_tag())
}
