//! [`DockerArchive`]: `docker save` output (legacy and ≥ 25 layouts) and podman's
//! docker-archive, read in place through `manifest.json`.
//!
//! ```text
//! legacy (engine ≤ 24)          engine ≥ 25 / containerd store     podman / containers-image
//! ├── manifest.json             ├── manifest.json                  ├── manifest.json
//! ├── <config hex>.json         ├── blobs/sha256/<hex> (all)       ├── <config hex>.json
//! ├── <v1id>/layer.tar          ├── index.json, oci-layout         ├── <diffid hex>.tar
//! └── repositories              └── repositories                   └── <v1id>/layer.tar → symlink
//! ```
//! A docker archive has no manifests of its own, so for each `manifest.json` entry an **OCI
//! image manifest** is synthesised: config media type `application/vnd.oci.image.config.v1+json`,
//! each layer typed by its magic bytes (gzip → `tar+gzip`, zstd → `tar+zstd`, else `tar`) and
//! named by the sha256 of the layer file as stored. Layer files at `blobs/<alg>/<hex>` are
//! taken to have that digest (checked when they are copied: every ingester verifies at
//! commit); any other layer file is hashed once when the archive is opened. The synthesised
//! manifest bytes are served as a blob too.
//!
//! Not checked here: that each layer's *uncompressed* digest equals the config's DiffID —
//! unpacking does that (it decompresses anyway). `LayerSources` (foreign layers) and
//! `Parent` are ignored.
//!
//! Spec: docker-formats.md §8.3/§8.4; moby `image/tarexport/load.go`.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use kasane_oci::{Descriptor, Digest, Digester, Manifest, media_type};
use serde::Deserialize;

use super::{
    ArchiveImage, ImageArchive, TarEntry, TarIndex, consts, layer_media_type_for, no_manifest_json,
};
use crate::content::{MAX_METADATA_BLOB, Provider};
use crate::error::{Result, StoreError};
use crate::local::IO_BUFFER;

/// One element of `manifest.json`.
#[derive(Debug, Deserialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// Just enough of an image config to count its DiffIDs, as docker's check does.
#[derive(Debug, Deserialize)]
struct ConfigProbe {
    #[serde(default)]
    rootfs: Option<RootFsProbe>,
}

#[derive(Debug, Deserialize)]
struct RootFsProbe {
    #[serde(default)]
    diff_ids: Vec<serde::de::IgnoredAny>,
}

#[derive(Debug)]
enum Blob {
    Entry(TarEntry),
    Bytes(Vec<u8>),
}

/// A docker-archive opened for reading.
#[derive(Debug)]
pub struct DockerArchive {
    tar: TarIndex,
    blobs: HashMap<Digest, Blob>,
    images: Vec<ArchiveImage>,
}

impl DockerArchive {
    /// Opens a docker-archive tar file (uncompressed; see `spool_decompressed`).
    ///
    /// # Errors
    /// `invalid archive: does not contain a manifest.json`; `invalid manifest, layers length
    /// mismatch: expected N, got M`; `Invalid` for entries that name missing files; `Json`.
    pub fn open(path: &Path) -> Result<DockerArchive> {
        Self::from_tar(TarIndex::open(path)?)
    }

    /// Reads `manifest.json` from a scanned tar and synthesises the manifests.
    ///
    /// # Errors
    /// As [`DockerArchive::open`].
    pub fn from_tar(tar: TarIndex) -> Result<DockerArchive> {
        let what = format!("archive {}", tar.name().display());
        let manifest_json =
            tar.read(consts::MANIFEST_JSON, MAX_METADATA_BLOB)
                .map_err(|e| match e {
                    StoreError::NotFound(_) => no_manifest_json(),
                    other => other,
                })?;
        let items: Vec<ManifestItem> =
            serde_json::from_slice(&manifest_json).map_err(|source| StoreError::Json {
                what: format!("manifest.json in {what}"),
                source,
            })?;

        let mut blobs = HashMap::new();
        // Resolve every config and layer entry first, then hash the unnamed layers at once.
        let mut configs = Vec::with_capacity(items.len());
        let mut layer_entries: Vec<Vec<(TarEntry, Option<Digest>)>> = Vec::new();
        for item in &items {
            let entry = tar.entry(&item.config).ok_or_else(|| {
                StoreError::invalid(
                    &what,
                    format!("manifest.json names missing config {}", item.config),
                )
            })?;
            let bytes = tar.read(&item.config, MAX_METADATA_BLOB)?;
            let probe: ConfigProbe =
                serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
                    what: format!("config {} in {what}", item.config),
                    source,
                })?;
            let diff_ids = probe.rootfs.map_or(0, |r| r.diff_ids.len());
            if item.layers.len() != diff_ids {
                return Err(StoreError::LayersLengthMismatch {
                    expected: item.layers.len(),
                    actual: diff_ids,
                });
            }
            let digest = Digest::sha256_of(&bytes);
            configs.push(Descriptor::new(
                media_type::OCI_CONFIG,
                digest.clone(),
                bytes.len() as u64,
            ));
            blobs.insert(digest, Blob::Entry(entry));

            let mut layers = Vec::with_capacity(item.layers.len());
            for path in &item.layers {
                let entry = tar.entry(path).ok_or_else(|| {
                    StoreError::invalid(&what, format!("manifest.json names missing layer {path}"))
                })?;
                layers.push((entry, claimed_digest(path)));
            }
            layer_entries.push(layers);
        }

        let mut to_hash: Vec<TarEntry> = layer_entries
            .iter()
            .flatten()
            .filter(|(_, claimed)| claimed.is_none())
            .map(|(e, _)| *e)
            .collect();
        to_hash.sort_by_key(|e| e.offset);
        to_hash.dedup();
        let hashed = hash_entries(&tar, &to_hash)?;

        let mut images = Vec::with_capacity(items.len());
        for ((item, config), layers) in items.iter().zip(configs).zip(layer_entries) {
            let mut descs = Vec::with_capacity(layers.len());
            for (entry, claimed) in layers {
                let digest = match claimed {
                    Some(d) => d,
                    None => hashed
                        .get(&entry.offset)
                        .cloned()
                        .ok_or_else(|| StoreError::invalid(&what, "layer was not hashed"))?,
                };
                let prefix = tar.read_prefix(entry, 8)?;
                descs.push(Descriptor::new(
                    layer_media_type_for(&prefix),
                    digest.clone(),
                    entry.size,
                ));
                blobs.entry(digest).or_insert(Blob::Entry(entry));
            }
            let bytes = Manifest::new(media_type::OCI_MANIFEST, config, descs).to_json();
            let digest = Digest::sha256_of(&bytes);
            let manifest =
                Descriptor::new(media_type::OCI_MANIFEST, digest.clone(), bytes.len() as u64);
            blobs.entry(digest).or_insert(Blob::Bytes(bytes));
            images.push(ArchiveImage {
                manifest,
                repo_tags: item.repo_tags.clone().unwrap_or_default(),
            });
        }
        Ok(DockerArchive { tar, blobs, images })
    }
}

/// The digest a `blobs/<alg>/<hex>` path claims (verified later, at commit).
fn claimed_digest(path: &str) -> Option<Digest> {
    let rest = path.trim_start_matches("./").strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    format!("{alg}:{hex}").parse().ok()
}

/// sha256 of each entry, keyed by data offset; a few threads at once.
fn hash_entries(tar: &TarIndex, entries: &[TarEntry]) -> Result<HashMap<u64, Digest>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(entries.len());
    let out = Mutex::new(HashMap::with_capacity(entries.len()));
    let first_err: Mutex<Option<StoreError>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut buf = vec![0u8; IO_BUFFER];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = entries.get(i) else { break };
                    match hash_entry(tar, *entry, &mut buf) {
                        Ok(d) => {
                            if let Ok(mut m) = out.lock() {
                                m.insert(entry.offset, d);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = first_err.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().ok().flatten() {
        return Err(e);
    }
    out.into_inner()
        .map_err(|_| StoreError::Conflict("a hashing thread panicked".into()))
}

fn hash_entry(tar: &TarIndex, entry: TarEntry, buf: &mut [u8]) -> Result<Digest> {
    let mut reader = tar.reader(entry);
    let mut digester = Digester::new(kasane_oci::Algorithm::Sha256);
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::io("reading", tar.name(), e)),
        };
        digester.update(&buf[..n]);
    }
    Ok(digester.finish())
}

impl Provider for DockerArchive {
    fn open(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        self.open_at(desc, 0)
    }

    fn contains(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.blobs.get(digest).map(|b| match b {
            Blob::Entry(e) => e.size,
            Blob::Bytes(b) => b.len() as u64,
        }))
    }

    fn open_at(&self, desc: &Descriptor, offset: u64) -> Result<Box<dyn Read + Send + '_>> {
        let blob = self
            .blobs
            .get(&desc.digest)
            .ok_or_else(|| StoreError::BlobNotFound(desc.digest.clone()))?;
        let size = match blob {
            Blob::Entry(e) => e.size,
            Blob::Bytes(b) => b.len() as u64,
        };
        if size != desc.size {
            return Err(StoreError::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: size,
            });
        }
        Ok(match blob {
            Blob::Entry(e) => {
                let mut reader = self.tar.reader(*e);
                reader.skip(offset);
                Box::new(reader)
            }
            Blob::Bytes(b) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
                Box::new(&b[start..])
            }
        })
    }
}

impl ImageArchive for DockerArchive {
    fn images(&self) -> &[ArchiveImage] {
        &self.images
    }

    fn as_provider(&self) -> &dyn Provider {
        self
    }
}
