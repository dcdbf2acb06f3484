//! Images (config + manifest + layers) and multi-platform indexes, rendered deterministically.
//!
//! Owns: [`ImageBuilder`] → [`Image`] (config JSON, manifest JSON, the per-layer blob and
//! descriptor facts tests assert on), [`IndexBuilder`] → [`Index`], and the corruption helpers
//! that make an image inconsistent in exactly one way.
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

use crate::consts;
use crate::digest::Digest;
use crate::layer::{Blob, Compression, DEFAULT_MTIME, Layer};
use crate::rootfs::{Rootfs, Tree};
use crate::time::format_rfc3339;

/// Which family of media types the manifest (and config, layers) use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ManifestFormat {
    /// OCI image manifest / index.
    #[default]
    Oci,
    /// Docker image manifest v2 schema 2 / manifest list.
    Docker,
}

impl ManifestFormat {
    fn manifest_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => consts::OCI_MANIFEST,
            ManifestFormat::Docker => consts::DOCKER_MANIFEST,
        }
    }

    fn config_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => consts::OCI_CONFIG,
            ManifestFormat::Docker => consts::DOCKER_CONFIG,
        }
    }

    fn index_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => consts::OCI_INDEX,
            ManifestFormat::Docker => consts::DOCKER_MANIFEST_LIST,
        }
    }

    /// Media type of a layer in the given compression.
    pub fn layer_media_type(self, c: Compression) -> &'static str {
        match (self, c) {
            (ManifestFormat::Oci, Compression::None) => consts::OCI_LAYER,
            (ManifestFormat::Oci, Compression::Gzip) => consts::OCI_LAYER_GZIP,
            (ManifestFormat::Oci, Compression::Zstd) => consts::OCI_LAYER_ZSTD,
            (ManifestFormat::Docker, Compression::None) => consts::DOCKER_LAYER,
            (ManifestFormat::Docker, Compression::Gzip) => consts::DOCKER_LAYER_GZIP,
            (ManifestFormat::Docker, Compression::Zstd) => consts::DOCKER_LAYER_ZSTD,
        }
    }
}

/// Target platform of an image.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// GOARCH value, e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// GOOS value, e.g. `linux`.
    pub os: String,
    /// CPU variant, e.g. `v8` for arm64.
    pub variant: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`.
    fn default() -> Self {
        Self { architecture: "amd64".into(), os: "linux".into(), variant: None }
    }
}

/// A docker `HEALTHCHECK` (a docker extension of the config, kept by OCI tools).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Time between checks.
    pub interval: Option<Duration>,
    /// Time before a check counts as hung.
    pub timeout: Option<Duration>,
    /// Grace period after start.
    pub start_period: Option<Duration>,
    /// Consecutive failures before `unhealthy`.
    pub retries: Option<u32>,
}

/// One entry of the config's `history` array.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// RFC 3339 time; `None` takes the image's `created`.
    pub created: Option<String>,
    /// The command that made the step (see [`crate::classic`]).
    pub created_by: String,
    /// Author.
    pub author: Option<String>,
    /// Comment (`buildkit.dockerfile.v0`, `Imported from -`, ...).
    pub comment: Option<String>,
    /// True for steps that made no layer.
    pub empty_layer: bool,
}

impl History {
    /// A step that made a layer.
    pub fn layer(created_by: impl Into<String>) -> Self {
        Self { created_by: created_by.into(), ..Self::default() }
    }

    /// A metadata-only step (`"empty_layer": true`).
    pub fn empty(created_by: impl Into<String>) -> Self {
        Self { created_by: created_by.into(), empty_layer: true, ..Self::default() }
    }

    /// Sets the comment.
    pub fn comment(mut self, comment: &str) -> Self {
        self.comment = Some(comment.to_string());
        self
    }

    /// Sets the author.
    pub fn author(mut self, author: &str) -> Self {
        self.author = Some(author.to_string());
        self
    }

    /// Sets the time (RFC 3339).
    pub fn created(mut self, created: &str) -> Self {
        self.created = Some(created.to_string());
        self
    }
}

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

    /// Sets the platform (default linux/amd64).
    pub fn platform(mut self, os: &str, architecture: &str, variant: Option<&str>) -> Self {
        self.spec.platform =
            Platform { architecture: architecture.into(), os: os.into(), variant: variant.map(str::to_string) };
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
        let p = if port.contains('/') { port.to_string() } else { format!("{port}/tcp") };
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
        self.spec.annotations.insert(key.to_string(), value.to_string());
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
    fn render(spec: Arc<ImageSpec>, layers: Vec<Arc<Layer>>, corruptions: Vec<Option<Corruption>>) -> Image {
        let image_layers: Vec<ImageLayer> =
            layers.into_iter().zip(corruptions).map(|(layer, c)| image_layer(&spec, layer, c)).collect();
        let config = render_config(&spec, &image_layers);
        let config_digest = Digest::sha256(&config);
        let format = spec.format;
        let descriptor = |media_type: &str, digest: &Digest, size: u64| -> Value {
            // Docker's distribution library orders mediaType, size, digest; OCI's Go types
            // order mediaType, digest, size. Key order does not matter to parsers, but
            // matching each family keeps the bytes familiar.
            match format {
                ManifestFormat::Oci => json!({"mediaType": media_type, "digest": digest.as_str(), "size": size}),
                ManifestFormat::Docker => json!({"mediaType": media_type, "size": size, "digest": digest.as_str()}),
            }
        };
        let mut manifest = Map::new();
        manifest.insert("schemaVersion".into(), json!(2));
        manifest.insert("mediaType".into(), json!(format.manifest_media_type()));
        manifest.insert("config".into(), descriptor(format.config_media_type(), &config_digest, config.len() as u64));
        manifest.insert(
            "layers".into(),
            Value::Array(image_layers.iter().map(|l| descriptor(l.media_type, &l.digest, l.size)).collect()),
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
        assert!(index < self.layers.len(), "layer index {index} out of range: the image has {} layers", self.layers.len());
        let layers = self.layers.iter().map(|l| Arc::clone(&l.layer)).collect();
        let mut corruptions: Vec<Option<Corruption>> = self.layers.iter().map(|l| l.corruption).collect();
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
    let compression = if corruption == Some(Corruption::TruncatedGzip) { Compression::Gzip } else { spec.compression };
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
    ImageLayer { media_type: spec.format.layer_media_type(compression), blob, digest, size, diff_id, layer, corruption }
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
        c.insert("ExposedPorts".into(), Value::Object(s.exposed_ports.iter().map(|p| (p.clone(), json!({}))).collect()));
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
        for (k, v) in [("Interval", hc.interval), ("Timeout", hc.timeout), ("StartPeriod", hc.start_period)] {
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
        c.insert("Volumes".into(), Value::Object(s.volumes.iter().map(|p| (p.clone(), json!({}))).collect()));
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
                e.insert("created".into(), json!(h.created.as_deref().unwrap_or(&spec.created)));
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

/// Collects per-platform images into an [`Index`].
#[derive(Clone, Debug)]
pub struct IndexBuilder {
    format: ManifestFormat,
    images: Vec<Image>,
    annotations: BTreeMap<String, String>,
}

impl IndexBuilder {
    /// An empty OCI index or Docker manifest list.
    pub fn new(format: ManifestFormat) -> Self {
        Self { format, images: Vec::new(), annotations: BTreeMap::new() }
    }

    /// Adds an image; its platform goes into the descriptor.
    pub fn image(mut self, image: Image) -> Self {
        self.images.push(image);
        self
    }

    /// Adds an index annotation (OCI only).
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }

    /// Renders the index JSON.
    pub fn build(self) -> Index {
        let manifests: Vec<Value> = self
            .images
            .iter()
            .map(|img| {
                let mut p = Map::new();
                p.insert("architecture".into(), json!(img.platform.architecture));
                p.insert("os".into(), json!(img.platform.os));
                if let Some(v) = &img.platform.variant {
                    p.insert("variant".into(), json!(v));
                }
                let (d, s) = (img.manifest_digest.as_str(), img.manifest.len());
                match self.format {
                    ManifestFormat::Oci => {
                        json!({"mediaType": img.manifest_media_type, "digest": d, "size": s, "platform": p})
                    }
                    ManifestFormat::Docker => {
                        json!({"mediaType": img.manifest_media_type, "size": s, "digest": d, "platform": p})
                    }
                }
            })
            .collect();
        let mut m = Map::new();
        m.insert("schemaVersion".into(), json!(2));
        m.insert("mediaType".into(), json!(self.format.index_media_type()));
        m.insert("manifests".into(), Value::Array(manifests));
        if self.format == ManifestFormat::Oci && !self.annotations.is_empty() {
            m.insert("annotations".into(), json!(self.annotations));
        }
        let manifest = to_json(&Value::Object(m));
        Index {
            digest: Digest::sha256(&manifest),
            manifest,
            media_type: self.format.index_media_type(),
            images: self.images,
        }
    }
}

/// A built multi-platform index.
#[derive(Clone, Debug)]
pub struct Index {
    /// The index JSON, as hashed.
    pub manifest: Vec<u8>,
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: &'static str,
    /// The per-platform images, in descriptor order.
    pub images: Vec<Image>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic;
    use crate::layer::LayerBuilder;

    fn json(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn two_layer(format: ManifestFormat, c: Compression) -> Image {
        let base = LayerBuilder::new(1).file("etc/passwd", "root:x:0:0::/root:/bin/sh\n").file("a/old", "o").build();
        let top = LayerBuilder::new(2).whiteout("a/old").text_file("a/new", 5000).build();
        ImageBuilder::new()
            .layer(base, "/bin/sh -c #(nop) ADD file:x in / ")
            .history(History::empty(classic::env(&[("A", "b")])))
            .layer(top, "/bin/sh -c echo hi")
            .env("A=b")
            .cmd(&["sh", "-c", "echo"])
            .entrypoint(&["/init"])
            .expose("80")
            .expose("53/udp")
            .label("org.example", "yes")
            .workdir("/app")
            .user("1000:1000")
            .volume("/data")
            .stop_signal("SIGQUIT")
            .healthcheck(Healthcheck { test: strings(&["CMD", "true"]), interval: Some(Duration::from_secs(5)), retries: Some(3), ..Healthcheck::default() })
            .format(format)
            .compression(c)
            .build()
    }

    #[test]
    fn config_has_every_field() {
        let img = two_layer(ManifestFormat::Oci, Compression::Gzip);
        let cfg = img.config_json();
        assert_eq!(cfg["architecture"], "amd64");
        assert_eq!(cfg["os"], "linux");
        assert_eq!(cfg["created"], "2024-01-01T00:00:00Z");
        let c = &cfg["config"];
        assert_eq!(c["Env"], json!(["A=b"]));
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo"]));
        assert_eq!(c["Entrypoint"], json!(["/init"]));
        assert_eq!(c["ExposedPorts"], json!({"53/udp": {}, "80/tcp": {}}));
        assert_eq!(c["Labels"], json!({"org.example": "yes"}));
        assert_eq!(c["WorkingDir"], "/app");
        assert_eq!(c["User"], "1000:1000");
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["StopSignal"], "SIGQUIT");
        assert_eq!(c["Healthcheck"], json!({"Test": ["CMD", "true"], "Interval": 5_000_000_000u64, "Retries": 3}));
        assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        let h = cfg["history"].as_array().unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[1], json!({"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop)  ENV A=b", "empty_layer": true}));
        assert_eq!(img.id(), &Digest::sha256(&img.config));
    }

    #[test]
    fn manifests_reference_config_and_blobs() {
        for (format, c, mt, lt) in [
            (ManifestFormat::Oci, Compression::Gzip, consts::OCI_MANIFEST, consts::OCI_LAYER_GZIP),
            (ManifestFormat::Oci, Compression::Zstd, consts::OCI_MANIFEST, consts::OCI_LAYER_ZSTD),
            (ManifestFormat::Oci, Compression::None, consts::OCI_MANIFEST, consts::OCI_LAYER),
            (ManifestFormat::Docker, Compression::Gzip, consts::DOCKER_MANIFEST, consts::DOCKER_LAYER_GZIP),
            (ManifestFormat::Docker, Compression::None, consts::DOCKER_MANIFEST, consts::DOCKER_LAYER),
        ] {
            let img = two_layer(format, c);
            let m = json(&img.manifest);
            assert_eq!(m["mediaType"], mt);
            assert_eq!(m["config"]["digest"], img.config_digest.as_str());
            assert_eq!(m["config"]["size"], img.config.len());
            for (d, l) in m["layers"].as_array().unwrap().iter().zip(&img.layers) {
                assert_eq!(d["mediaType"], lt);
                assert_eq!(d["digest"], Digest::sha256(l.blob.data()).as_str());
                assert_eq!(d["size"], l.blob.data().len());
            }
            assert_eq!(img.manifest_digest, Digest::sha256(&img.manifest));
        }
    }

    #[test]
    fn rootfs_applies_whiteouts() {
        let img = two_layer(ManifestFormat::Oci, Compression::Gzip);
        assert_eq!(img.rootfs().paths(), ["a", "a/new", "etc", "etc/passwd"]);
    }

    #[test]
    fn each_corruption_changes_exactly_one_fact() {
        let good = two_layer(ManifestFormat::Oci, Compression::Zstd);
        let bad = good.with_wrong_diff_id(1);
        assert_ne!(bad.diff_ids()[1], good.diff_ids()[1]);
        assert_eq!(bad.diff_ids()[0], good.diff_ids()[0]);
        assert_eq!(bad.layer_digests(), good.layer_digests());
        assert_eq!(json(&bad.manifest)["config"]["digest"], bad.config_digest.as_str());

        let bad = good.with_wrong_blob_size(0);
        assert_eq!(bad.layers[0].size, good.layers[0].size + 1);
        assert_eq!(bad.config, good.config);

        let bad = good.with_wrong_blob_digest(0);
        assert_ne!(bad.layers[0].digest, bad.layers[0].blob.digest);
        assert_eq!(bad.config, good.config);

        let bad = good.truncate_gzip_layer(1);
        let l = &bad.layers[1];
        assert_eq!(l.media_type, consts::OCI_LAYER_GZIP);
        assert_eq!((l.digest.clone(), l.size), (Digest::sha256(l.blob.data()), l.blob.data().len() as u64));
        let mut out = Vec::new();
        let err = io::Read::read_to_end(&mut flate2::read::GzDecoder::new(l.blob.data()), &mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(bad.config, good.config);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn corruption_index_is_checked() {
        let _ = two_layer(ManifestFormat::Oci, Compression::Gzip).with_wrong_diff_id(5);
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let d = [Digest::sha256(b"a"), Digest::sha256(b"b")];
        let c = chain_ids(&d);
        assert_eq!(c[0], d[0]);
        assert_eq!(c[1], Digest::sha256(format!("{} {}", d[0], d[1]).as_bytes()));
    }

    #[test]
    fn index_lists_platforms() {
        let l = Arc::new(LayerBuilder::new(1).file("f", "x").build());
        let amd = ImageBuilder::new().layer(Arc::clone(&l), "x").build();
        let arm = ImageBuilder::new().platform("linux", "arm64", Some("v8")).layer(l, "x").build();
        for format in [ManifestFormat::Oci, ManifestFormat::Docker] {
            let idx = IndexBuilder::new(format).image(amd.clone()).image(arm.clone()).build();
            let v = json(&idx.manifest);
            assert_eq!(v["manifests"][1]["platform"], json!({"architecture": "arm64", "os": "linux", "variant": "v8"}));
            assert_eq!(v["manifests"][0]["digest"], amd.manifest_digest.as_str());
            assert_eq!(idx.digest, Digest::sha256(&idx.manifest));
        }
        assert_ne!(amd.id(), arm.id());
    }
}
