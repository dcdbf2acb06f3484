//! Images (config + manifest + layers), rendered deterministically.
//!
//! Owns: [`ImageBuilder`] → [`Image`] (config JSON, manifest JSON, the per-layer blob and
//! descriptor facts tests assert on) and the corruption helpers that make an image
//! inconsistent in exactly one way. Multi-platform indexes are in [`crate::index`].
//!
//! Model: an [`Image`] is an immutable value that keeps the builder's specification, so a
//! corruption helper re-renders config and manifest around one deliberately wrong fact and
//! everything else stays self-consistent (e.g. a wrong DiffID gives a new config, and the
//! manifest points at that new config with its right digest and size).
//!
//! Lifecycle:
//! ```
//! use kasane_testsupport::{classic, Compression, History, ImageBuilder, LayerBuilder, ManifestFormat};
//! let base = LayerBuilder::new(1).file("etc/os-release", "ID=test\n").build();
//! let image = ImageBuilder::new()
//!     .layer(base, "/bin/sh -c #(nop) ADD file:abc in / ")
//!     .env("PATH=/usr/bin:/bin")
//!     .cmd(&["sh"])
//!     .history(History::empty(classic::cmd(&["sh"])))
//!     .format(ManifestFormat::Oci)
//!     .compression(Compression::Zstd)
//!     .build();
//! assert_eq!(image.diff_ids().len(), 1);
//! assert!(image.rootfs().get("etc/os-release").is_some());
//! ```
//!
//! Spec: OCI image-spec `config.md`, `manifest.md`, `image-index.md`; Docker image manifest
//! v2 schema 2; `docker-formats.md` §1.6 for history.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::config::{Healthcheck, History, ManifestFormat, Platform};
use crate::consts::DEFAULT_MTIME;
use crate::digest::Digest;
use crate::layer::{Blob, Compression, Layer};
use crate::rootfs::{Rootfs, Tree};
use crate::time::format_rfc3339;

/// Everything the builder collected; kept by [`Image`] so corruptions can re-render.
#[derive(Clone, Debug)]
struct ImageSpec {
    platform: Platform,
    created: String,
    author: Option<String>,
    user: Option<String>,
    exposed_ports: BTreeSet<String>,
    env: Vec<String>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    healthcheck: Option<Healthcheck>,
    volumes: BTreeSet<String>,
    working_dir: Option<String>,
    labels: BTreeMap<String, String>,
    stop_signal: Option<String>,
    shell: Option<Vec<String>>,
    extra_config: Map<String, Value>,
    history: Vec<History>,
    omit_history: bool,
    format: ManifestFormat,
    compression: Compression,
    annotations: BTreeMap<String, String>,
}

/// Collects layers and config and builds an [`Image`].
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    spec: ImageSpec,
    layers: Vec<Arc<Layer>>,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_string()).collect()
}

impl ImageBuilder {
    /// An empty linux/amd64 OCI image, gzip layers, created at [`DEFAULT_MTIME`].
    pub fn new() -> Self {
        Self {
            spec: ImageSpec {
                platform: Platform::default(),
                created: format_rfc3339(DEFAULT_MTIME),
                author: None,
                user: None,
                exposed_ports: BTreeSet::new(),
                env: Vec::new(),
                entrypoint: None,
                cmd: None,
                healthcheck: None,
                volumes: BTreeSet::new(),
                working_dir: None,
                labels: BTreeMap::new(),
                stop_signal: None,
                shell: None,
                extra_config: Map::new(),
                history: Vec::new(),
                omit_history: false,
                format: ManifestFormat::Oci,
                compression: Compression::Gzip,
                annotations: BTreeMap::new(),
            },
            layers: Vec::new(),
        }
    }

    /// Appends a layer and its history entry.
    pub fn layer(mut self, layer: impl Into<Arc<Layer>>, created_by: &str) -> Self {
        self.layers.push(layer.into());
        self.spec.history.push(History::layer(created_by));
        self
    }

    /// Appends a layer without a history entry (pair with [`ImageBuilder::history`]).
    pub fn layer_only(mut self, layer: impl Into<Arc<Layer>>) -> Self {
        self.layers.push(layer.into());
        self
    }

    /// Appends a history entry (e.g. [`History::empty`] for metadata steps).
    pub fn history(mut self, entry: History) -> Self {
        self.spec.history.push(entry);
        self
    }

    /// Leaves `history` out of the config entirely (it is optional in the OCI spec).
    pub fn omit_history(mut self) -> Self {
        self.spec.omit_history = true;
        self
    }

    /// Sets the platform, e.g. `platform("linux", "arm64", Some("v8"))` (default linux/amd64).
    pub fn platform(mut self, os: &str, architecture: &str, variant: Option<&str>) -> Self {
        self.spec.platform = Platform {
            architecture: architecture.into(),
            os: os.into(),
            variant: variant.map(str::to_string),
        };
        self
    }

    /// Sets `created` from Unix seconds.
    pub fn created(mut self, secs: i64) -> Self {
        self.spec.created = format_rfc3339(secs);
        self
    }

    /// Sets `created` verbatim (e.g. with nanoseconds, or a zero time).
    pub fn created_raw(mut self, created: &str) -> Self {
        self.spec.created = created.to_string();
        self
    }

    /// Sets the top-level `author`.
    pub fn author(mut self, author: &str) -> Self {
        self.spec.author = Some(author.to_string());
        self
    }

    /// Appends an `Env` entry (`KEY=value`).
    pub fn env(mut self, kv: &str) -> Self {
        self.spec.env.push(kv.to_string());
        self
    }

    /// Sets `Cmd`.
    pub fn cmd(mut self, args: &[&str]) -> Self {
        self.spec.cmd = Some(strings(args));
        self
    }

    /// Sets `Entrypoint`.
    pub fn entrypoint(mut self, args: &[&str]) -> Self {
        self.spec.entrypoint = Some(strings(args));
        self
    }

    /// Adds an exposed port; `80` means `80/tcp`, as docker normalises it.
    pub fn expose(mut self, port: &str) -> Self {
        let p = if port.contains('/') {
            port.to_string()
        } else {
            format!("{port}/tcp")
        };
        self.spec.exposed_ports.insert(p);
        self
    }

    /// Sets a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.spec.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets `WorkingDir`.
    pub fn workdir(mut self, dir: &str) -> Self {
        self.spec.working_dir = Some(dir.to_string());
        self
    }

    /// Sets `User`.
    pub fn user(mut self, user: &str) -> Self {
        self.spec.user = Some(user.to_string());
        self
    }

    /// Adds a volume.
    pub fn volume(mut self, path: &str) -> Self {
        self.spec.volumes.insert(path.to_string());
        self
    }

    /// Sets `StopSignal`.
    pub fn stop_signal(mut self, signal: &str) -> Self {
        self.spec.stop_signal = Some(signal.to_string());
        self
    }

    /// Sets `Healthcheck`.
    pub fn healthcheck(mut self, hc: Healthcheck) -> Self {
        self.spec.healthcheck = Some(hc);
        self
    }

    /// Sets `Shell` (docker extension).
    pub fn shell(mut self, args: &[&str]) -> Self {
        self.spec.shell = Some(strings(args));
        self
    }

    /// Sets any other key of the `config` object (e.g. `ArgsEscaped`, `OnBuild`).
    pub fn config_field(mut self, key: &str, value: Value) -> Self {
        self.spec.extra_config.insert(key.to_string(), value);
        self
    }

    /// Chooses OCI or Docker media types (default OCI).
    pub fn format(mut self, format: ManifestFormat) -> Self {
        self.spec.format = format;
        self
    }

    /// Chooses the layer compression (default gzip).
    pub fn compression(mut self, c: Compression) -> Self {
        self.spec.compression = c;
        self
    }

    /// Adds a manifest annotation (OCI format only; Docker v2s2 has no annotations).
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.spec
            .annotations
            .insert(key.to_string(), value.to_string());
        self
    }

    /// Renders config and manifest.
    pub fn build(self) -> Image {
        let n = self.layers.len();
        Image::render(Arc::new(self.spec), self.layers, vec![None; n])
    }
}

/// A deliberate inconsistency (see the corruption helpers on [`Image`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Corruption {
    WrongDiffId,
    WrongBlobSize,
    WrongBlobDigest,
    TruncatedGzip,
}

/// One layer as the image references it.
#[derive(Clone, Debug)]
pub struct ImageLayer {
    /// The layer (tar, DiffID, entries).
    pub layer: Arc<Layer>,
    /// Media type in the manifest.
    pub media_type: &'static str,
    /// The blob as stored (compressed per the image; truncated by `truncate_gzip_layer`).
    pub blob: Arc<Blob>,
    /// Digest the manifest declares (differs from `blob.digest` after `with_wrong_blob_digest`).
    pub digest: Digest,
    /// Size the manifest declares (differs from `blob.size` after `with_wrong_blob_size`).
    pub size: u64,
    /// DiffID the config declares (differs from `layer.diff_id()` after `with_wrong_diff_id`).
    pub diff_id: Digest,
    pub(crate) corruption: Option<Corruption>,
}

/// A built image: the exact bytes of config and manifest and the facts tests assert on.
#[derive(Clone, Debug)]
pub struct Image {
    spec: Arc<ImageSpec>,
    /// The config JSON, compact, as hashed.
    pub config: Vec<u8>,
    /// Digest of `config`: the image ID.
    pub config_digest: Digest,
    /// Media type of the config.
    pub config_media_type: &'static str,
    /// The manifest JSON, compact, as hashed.
    pub manifest: Vec<u8>,
    /// Digest of `manifest`.
    pub manifest_digest: Digest,
    /// Media type of the manifest.
    pub manifest_media_type: &'static str,
    /// The layers, bottom first.
    pub layers: Vec<ImageLayer>,
    /// The platform of the config.
    pub platform: Platform,
    /// The media-type family.
    pub format: ManifestFormat,
}

impl Image {
    fn render(
        spec: Arc<ImageSpec>,
        layers: Vec<Arc<Layer>>,
        corruptions: Vec<Option<Corruption>>,
    ) -> Image {
        let image_layers: Vec<ImageLayer> = layers
            .into_iter()
            .zip(corruptions)
            .map(|(layer, c)| image_layer(&spec, layer, c))
            .collect();
        let config = render_config(&spec, &image_layers);
        let config_digest = Digest::sha256(&config);
        let format = spec.format;
        let descriptor = |media_type: &str, digest: &Digest, size: u64| -> Value {
            // Docker's distribution library orders mediaType, size, digest; OCI's Go types
            // order mediaType, digest, size. Key order does not matter to parsers, but
            // matching each family keeps the bytes familiar.
            match format {
                ManifestFormat::Oci => {
                    json!({"mediaType": media_type, "digest": digest.as_str(), "size": size})
                }
                ManifestFormat::Docker => {
                    json!({"mediaType": media_type, "size": size, "digest": digest.as_str()})
                }
            }
        };
        let mut manifest = Map::new();
        manifest.insert("schemaVersion".into(), json!(2));
        manifest.insert("mediaType".into(), json!(format.manifest_media_type()));
        manifest.insert(
            "config".into(),
            descriptor(
                format.config_media_type(),
                &config_digest,
                config.len() as u64,
            ),
        );
        manifest.insert(
            "layers".into(),
            Value::Array(
                image_layers
                    .iter()
                    .map(|l| descriptor(l.media_type, &l.digest, l.size))
                    .collect(),
            ),
        );
        if format == ManifestFormat::Oci && !spec.annotations.is_empty() {
            manifest.insert("annotations".into(), json!(spec.annotations));
        }
        let manifest = to_json(&Value::Object(manifest));
        Image {
            config_digest,
            config_media_type: format.config_media_type(),
            manifest_digest: Digest::sha256(&manifest),
            manifest_media_type: format.manifest_media_type(),
            manifest,
            config,
            layers: image_layers,
            platform: spec.platform.clone(),
            format,
            spec,
        }
    }

    fn with_corruption(&self, index: usize, c: Corruption) -> Image {
        assert!(
            index < self.layers.len(),
            "layer index {index} out of range: the image has {} layers",
            self.layers.len()
        );
        let layers = self.layers.iter().map(|l| Arc::clone(&l.layer)).collect();
        let mut corruptions: Vec<Option<Corruption>> =
            self.layers.iter().map(|l| l.corruption).collect();
        corruptions[index] = Some(c);
        Image::render(Arc::clone(&self.spec), layers, corruptions)
    }

    /// The image ID (config digest).
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// DiffIDs as the config declares them.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// ChainIDs of the declared DiffIDs (OCI `config.md` "Layer ChainID").
    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(&self.diff_ids())
    }

    /// Layer blob digests as the manifest declares them.
    pub fn layer_digests(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.digest.clone()).collect()
    }

    /// Uncompressed layer sizes.
    pub fn uncompressed_sizes(&self) -> Vec<u64> {
        self.layers.iter().map(|l| l.layer.size()).collect()
    }

    /// The config parsed back, for assertions on single fields.
    pub fn config_json(&self) -> Value {
        // The bytes were produced by serde_json from a Value a moment ago.
        serde_json::from_slice(&self.config).expect("the config this crate rendered is valid JSON")
    }

    /// The history entries as rendered into the config.
    pub fn history(&self) -> &[History] {
        &self.spec.history
    }

    /// The merged rootfs the layers produce (whiteouts applied).
    pub fn rootfs(&self) -> Rootfs {
        self.tree().to_rootfs()
    }

    fn tree(&self) -> Tree {
        let mut t = Tree::default();
        for l in &self.layers {
            t.apply(&l.layer);
        }
        t
    }

    /// Writes the merged rootfs as one plain tarball (no whiteouts), optionally gzipped.
    ///
    /// # Errors
    /// The I/O error writing `path`.
    pub fn write_rootfs_tar(&self, path: &Path, gzip: bool) -> io::Result<()> {
        self.tree().flatten().write_rootfs_tar(path, gzip)
    }

    /// Same image whose config declares a wrong DiffID for layer `index` (the manifest points
    /// at that config correctly). Docker archives store the layer under the wrong name too.
    ///
    /// # Panics
    /// If `index` is out of range (a bug in the test).
    pub fn with_wrong_diff_id(&self, index: usize) -> Image {
        self.with_corruption(index, Corruption::WrongDiffId)
    }

    /// Same image whose manifest declares layer `index` one byte larger than it is.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn with_wrong_blob_size(&self, index: usize) -> Image {
        self.with_corruption(index, Corruption::WrongBlobSize)
    }

    /// Same image whose manifest declares a wrong digest for layer `index`; writers store the
    /// blob under that declared name, so the only fault is content ≠ name.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn with_wrong_blob_digest(&self, index: usize) -> Image {
        self.with_corruption(index, Corruption::WrongBlobDigest)
    }

    /// Same image whose layer `index` is a gzip stream cut in half; digest and size in the
    /// manifest match the truncated bytes, so only decompression fails. The layer is gzip
    /// (with the gzip media type) whatever the image's compression.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn truncate_gzip_layer(&self, index: usize) -> Image {
        self.with_corruption(index, Corruption::TruncatedGzip)
    }
}

fn image_layer(spec: &ImageSpec, layer: Arc<Layer>, corruption: Option<Corruption>) -> ImageLayer {
    let compression = if corruption == Some(Corruption::TruncatedGzip) {
        Compression::Gzip
    } else {
        spec.compression
    };
    let mut blob = layer.blob(compression);
    if corruption == Some(Corruption::TruncatedGzip) {
        let data = blob.data();
        blob = Arc::new(Blob::new(data[..data.len() / 2].to_vec()));
    }
    let digest = match corruption {
        Some(Corruption::WrongBlobDigest) => blob.digest.perturbed("wrong blob digest"),
        _ => blob.digest.clone(),
    };
    let size = match corruption {
        Some(Corruption::WrongBlobSize) => blob.size + 1,
        _ => blob.size,
    };
    let diff_id = match corruption {
        Some(Corruption::WrongDiffId) => layer.diff_id().perturbed("wrong diff id"),
        _ => layer.diff_id().clone(),
    };
    ImageLayer {
        media_type: spec.format.layer_media_type(compression),
        blob,
        digest,
        size,
        diff_id,
        layer,
        corruption,
    }
}

/// ChainIDs: `chain[0] = diff[0]`, `chain[i] = sha256(chain[i-1] + " " + diff[i])`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Compact JSON, the way Go's `json.Marshal` (and so docker) writes it.
pub(crate) fn to_json(v: &Value) -> Vec<u8> {
    // Serialising a Value into memory has no failure mode (all keys are strings).
    serde_json::to_vec(v).expect("serialising a serde_json::Value is infallible")
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The `config` object (container defaults), keys in the OCI spec's order.
fn container_config(s: &ImageSpec) -> Value {
    let mut c = Map::new();
    if let Some(u) = &s.user {
        c.insert("User".into(), json!(u));
    }
    if !s.exposed_ports.is_empty() {
        c.insert(
            "ExposedPorts".into(),
            Value::Object(
                s.exposed_ports
                    .iter()
                    .map(|p| (p.clone(), json!({})))
                    .collect(),
            ),
        );
    }
    if !s.env.is_empty() {
        c.insert("Env".into(), json!(s.env));
    }
    if let Some(e) = &s.entrypoint {
        c.insert("Entrypoint".into(), json!(e));
    }
    if let Some(cmd) = &s.cmd {
        c.insert("Cmd".into(), json!(cmd));
    }
    if let Some(hc) = &s.healthcheck {
        let mut h = Map::new();
        h.insert("Test".into(), json!(hc.test));
        for (k, v) in [
            ("Interval", hc.interval),
            ("Timeout", hc.timeout),
            ("StartPeriod", hc.start_period),
        ] {
            if let Some(d) = v {
                h.insert(k.into(), json!(nanos(d)));
            }
        }
        if let Some(r) = hc.retries {
            h.insert("Retries".into(), json!(r));
        }
        c.insert("Healthcheck".into(), Value::Object(h));
    }
    if !s.volumes.is_empty() {
        c.insert(
            "Volumes".into(),
            Value::Object(s.volumes.iter().map(|p| (p.clone(), json!({}))).collect()),
        );
    }
    if let Some(w) = &s.working_dir {
        c.insert("WorkingDir".into(), json!(w));
    }
    if !s.labels.is_empty() {
        c.insert("Labels".into(), json!(s.labels));
    }
    if let Some(sig) = &s.stop_signal {
        c.insert("StopSignal".into(), json!(sig));
    }
    if let Some(sh) = &s.shell {
        c.insert("Shell".into(), json!(sh));
    }
    for (k, v) in &s.extra_config {
        c.insert(k.clone(), v.clone());
    }
    Value::Object(c)
}

impl Image {
    /// `created` of the config.
    pub fn created(&self) -> &str {
        &self.spec.created
    }
}

fn render_config(spec: &ImageSpec, layers: &[ImageLayer]) -> Vec<u8> {
    let mut cfg = Map::new();
    cfg.insert("created".into(), json!(spec.created));
    if let Some(a) = &spec.author {
        cfg.insert("author".into(), json!(a));
    }
    cfg.insert("architecture".into(), json!(spec.platform.architecture));
    cfg.insert("os".into(), json!(spec.platform.os));
    if let Some(v) = &spec.platform.variant {
        cfg.insert("variant".into(), json!(v));
    }
    cfg.insert("config".into(), container_config(spec));
    cfg.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.as_str()).collect::<Vec<_>>()}),
    );
    if !spec.omit_history {
        let history: Vec<Value> = spec
            .history
            .iter()
            .map(|h| {
                let mut e = Map::new();
                e.insert(
                    "created".into(),
                    json!(h.created.as_deref().unwrap_or(&spec.created)),
                );
                e.insert("created_by".into(), json!(h.created_by));
                if let Some(a) = &h.author {
                    e.insert("author".into(), json!(a));
                }
                if let Some(c) = &h.comment {
                    e.insert("comment".into(), json!(c));
                }
                if h.empty_layer {
                    e.insert("empty_layer".into(), json!(true));
                }
                Value::Object(e)
            })
            .collect();
        cfg.insert("history".into(), Value::Array(history));
    }
    to_json(&Value::Object(cfg))
}

#[cfg(test)]
mod tests;
