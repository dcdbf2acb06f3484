//! Reading images: the data behind `images`, `inspect` and `history`.

use std::collections::BTreeMap;

use kasane_oci::{Descriptor, Digest, ImageConfig, ImageId, Reference};
use kasane_store::metadata::ImageRecord;
use kasane_store::{Provider, read_blob};

use crate::Engine;
use crate::error::{EngineError, Result};

/// One image as `images` lists it.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// The image ID.
    pub id: ImageId,
    /// Tags pointing at it (full references), sorted.
    pub tags: Vec<Reference>,
    /// `repository@digest` references to it, sorted.
    pub digests: Vec<Reference>,
    /// `created` from the config as Unix seconds (None when absent or unparseable).
    pub created: Option<i64>,
    /// `created` as written in the config.
    pub created_raw: Option<String>,
    /// Sum of its layers' sizes.
    pub size: u64,
    /// Number of containers using it.
    pub containers: i64,
    /// Whether it has neither tags nor digests (docker's "dangling").
    pub dangling: bool,
}

/// Everything `inspect` shows of an image.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    /// The stored record.
    pub record: ImageRecord,
    /// Tags (full references), sorted.
    pub tags: Vec<Reference>,
    /// `repository@digest` references, sorted.
    pub digests: Vec<Reference>,
    /// The parsed config.
    pub config: ImageConfig,
    /// The config bytes as stored (its digest is the image ID).
    pub config_raw: Vec<u8>,
    /// The snapshotter's view of the image's top layer (docker's `GraphDriver`).
    pub graph_driver: GraphDriver,
}

/// Which snapshotter holds the image and where (docker's `GraphDriver`).
#[derive(Debug, Clone)]
pub struct GraphDriver {
    /// `overlay2`-like name of the driver.
    pub name: String,
    /// Directories (`LowerDir`, `UpperDir`, …), sorted by key.
    pub data: BTreeMap<String, String>,
}

/// One row of `history`, newest first.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// The image ID for the top row; `None` (`<missing>`) for the others.
    pub id: Option<ImageId>,
    /// Creation time, Unix seconds.
    pub created: Option<i64>,
    /// The command that made the step.
    pub created_by: String,
    /// Size of the layer the step made (0 for metadata-only steps).
    pub size: u64,
    /// The step's comment.
    pub comment: String,
    /// Whether the step made no layer.
    pub empty_layer: bool,
}

/// Parses an RFC 3339 time to Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

impl Engine {
    /// Every image, newest first.
    pub fn images(&mut self) -> Result<Vec<ImageSummary>> {
        Ok(self
            .images_with_records()?
            .into_iter()
            .map(|(summary, _)| summary)
            .collect())
    }

    /// Every image with its stored record (layers included), newest first: one read of the
    /// metadata for callers that need both (`system df`, `image prune`).
    pub(crate) fn images_with_records(&mut self) -> Result<Vec<(ImageSummary, ImageRecord)>> {
        let (records, containers) = self
            .metadata
            .read(|tx| Ok((tx.images()?, tx.containers()?)))?;
        let mut out = Vec::with_capacity(records.len());
        for rec in records {
            let mut summary = self.summary(rec.clone())?;
            summary.containers = containers.iter().filter(|c| c.image == rec.id).count() as i64;
            out.push((summary, rec));
        }
        Ok(out)
    }

    fn refs_of(&mut self, id: &ImageId) -> Result<(Vec<Reference>, Vec<Reference>)> {
        let (tags, digests) = self
            .metadata
            .read(|tx| Ok((tx.tags_of(id)?, tx.repo_digests_of(id)?)))?;
        let tags = tags
            .iter()
            .filter_map(|t| t.parse::<Reference>().ok())
            .collect();
        let digests = digests
            .iter()
            .filter_map(|(repo, d)| format!("{repo}@{d}").parse::<Reference>().ok())
            .collect();
        Ok((tags, digests))
    }

    fn summary(&mut self, rec: ImageRecord) -> Result<ImageSummary> {
        let (tags, digests) = self.refs_of(&rec.id)?;
        Ok(ImageSummary {
            dangling: tags.is_empty() && digests.is_empty(),
            id: rec.id,
            tags,
            digests,
            created: rec.created.as_deref().and_then(parse_time),
            created_raw: rec.created,
            size: rec.size,
            containers: 0,
        })
    }

    /// The details of the image `name` resolves to.
    ///
    /// # Errors
    /// `NoSuchImage`; store errors if the config blob is missing or corrupt.
    pub fn image_details(&mut self, name: &str) -> Result<ImageDetails> {
        let (record, _) = self.resolve_image(name)?;
        self.details_of(record)
    }

    pub(crate) fn config_of(&self, record: &ImageRecord) -> Result<(ImageConfig, Vec<u8>)> {
        let size = self.store.contains(&record.id.0)?.ok_or_else(|| {
            EngineError::invalid_image(
                record.id.to_string(),
                format!(
                    "config blob {} is missing from the store; run `kasane system check`",
                    record.id
                ),
            )
        })?;
        let desc = Descriptor::new(
            kasane_oci::media_type::OCI_CONFIG,
            record.id.0.clone(),
            size,
        );
        let raw = read_blob(&*self.store, &desc)?;
        let config = ImageConfig::from_slice(&raw)
            .map_err(|e| EngineError::invalid_image(record.id.to_string(), e))?;
        Ok((config, raw))
    }

    fn details_of(&mut self, record: ImageRecord) -> Result<ImageDetails> {
        let (tags, digests) = self.refs_of(&record.id)?;
        let (config, config_raw) = self.config_of(&record)?;
        let graph_driver = self.graph_driver(&record)?;
        Ok(ImageDetails {
            record,
            tags,
            digests,
            config,
            config_raw,
            graph_driver,
        })
    }

    fn graph_driver(&mut self, record: &ImageRecord) -> Result<GraphDriver> {
        let mut dirs = Vec::new();
        for l in record.layers.iter().rev() {
            if let Some(rec) = self.metadata.read(|tx| tx.layer(&l.chain_id))? {
                dirs.push(self.snapshots_root.join(&rec.snapshot_id).join("fs"));
            }
        }
        let mut data = BTreeMap::new();
        let name = self.driver;
        if name == "overlay" {
            if let Some((top, lower)) = dirs.split_first() {
                data.insert("UpperDir".to_owned(), top.display().to_string());
                if !lower.is_empty() {
                    let joined: Vec<String> =
                        lower.iter().map(|d| d.display().to_string()).collect();
                    data.insert("LowerDir".to_owned(), joined.join(":"));
                }
            }
        } else if let Some(top) = dirs.first() {
            data.insert("Dir".to_owned(), top.display().to_string());
        }
        Ok(GraphDriver {
            name: if name == "overlay" {
                "overlay2".to_owned()
            } else {
                "vfs".to_owned()
            },
            data,
        })
    }

    /// The history of the image `name` resolves to, newest first.
    pub fn history(&mut self, name: &str) -> Result<Vec<HistoryEntry>> {
        let (record, _) = self.resolve_image(name)?;
        let (config, _) = self.config_of(&record)?;
        let mut sizes = Vec::with_capacity(record.layers.len());
        for l in &record.layers {
            let size = self
                .metadata
                .read(|tx| tx.layer(&l.chain_id))?
                .map_or(0, |r| r.size);
            sizes.push(size);
        }
        let mut out = Vec::new();
        let mut layer = 0usize;
        for h in &config.history {
            let empty = h.empty_layer.unwrap_or(false);
            let size = if empty {
                0
            } else {
                let s = sizes.get(layer).copied().unwrap_or(0);
                layer += 1;
                s
            };
            out.push(HistoryEntry {
                id: None,
                created: h.created.as_deref().and_then(parse_time),
                created_by: h.created_by.clone().unwrap_or_default(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
                empty_layer: empty,
            });
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = Some(record.id.clone());
        }
        Ok(out)
    }

    /// Digest of the platform manifest of an image (for `--digests` of local images).
    pub fn manifest_digest(&mut self, id: &ImageId) -> Result<Digest> {
        Ok(self.image_record(id)?.manifest_digest)
    }
}
