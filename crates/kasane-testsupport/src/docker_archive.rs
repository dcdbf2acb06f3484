//! `docker save` archives in both of docker's layouts, for `load` tests.
//!
//! Owns: [`DockerArchive`], [`DockerArchiveFormat`] and [`write_docker_archive`].
//!
//! Layout, [`DockerArchiveFormat::Legacy`] (engine ≤ 24), all entries at the image's `created`:
//! ```text
//! <config hex>.json            the image config, raw bytes
//! <v1 id>/VERSION              "1.0"
//! <v1 id>/json                 v1 layer config (id, parent, created, container_config, os)
//! <v1 id>/layer.tar            the uncompressed layer
//! manifest.json                [{"Config","RepoTags","Layers"}] + LF
//! repositories                 {"repo":{"tag":"<top v1 id>"}} + LF (only if tagged)
//! ```
//! Layout, [`DockerArchiveFormat::Oci`] (engine ≥ 25), all entries at the epoch:
//! ```text
//! blobs/sha256/<hex>           config, layers (uncompressed, named by DiffID), the generated
//!                              OCI manifest, v1 layer-config JSON blobs
//! index.json                   one descriptor per tag (io.containerd.image.name + ref.name)
//! oci-layout                   {"imageLayoutVersion": "1.0.0"}
//! manifest.json, repositories  as above; Layers are blobs/sha256/<diffid hex>,
//!                              repositories maps to the top DiffID's hex
//! ```
//! v1 layer ids are synthetic, as docker's are: a SHA-256 over the chain ID, the parent id and
//! the created time (moby's `v1.CreateID` hashes a few more zero fields; nothing reads ids
//! back, so byte equality with docker is not attempted).
//!
//! Corrupted images: a wrong DiffID names the layer file after the wrong DiffID (OCI layout)
//! so only its content mismatches; a truncated gzip layer is stored as those bytes (docker
//! load decompresses layer files); a wrong blob digest or size only affects the generated OCI
//! manifest (the legacy layout has no descriptors).
//!
//! Spec: `docker-formats.md` §8; moby `image/tarexport/save.go`.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::archive::{FileTree, write_compressed};
use crate::consts;
use crate::digest::Digest;
use crate::image::{Corruption, Image, ImageLayer, chain_ids, to_json};
use crate::layer::Compression;
use crate::time::parse_rfc3339;

/// Which `docker save` layout to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DockerArchiveFormat {
    /// Docker engine ≤ 24: `<v1id>/layer.tar` directories.
    Legacy,
    /// Docker engine ≥ 25: an OCI layout plus `manifest.json`.
    Oci,
}

/// A `docker save` archive under construction.
#[derive(Clone, Debug)]
pub struct DockerArchive {
    format: DockerArchiveFormat,
    compression: Compression,
    images: Vec<(Vec<String>, Image)>,
}

/// Splits a familiar `name[:tag]` into repository and tag (`latest` by default).
fn split_tag(tag: &str) -> (String, String) {
    let slash = tag.rfind('/').map_or(0, |i| i + 1);
    match tag[slash..].rfind(':') {
        Some(i) => (
            tag[..slash + i].to_string(),
            tag[slash + i + 1..].to_string(),
        ),
        None => (tag.to_string(), "latest".to_string()),
    }
}

/// docker's normalisation of a familiar repository name: `demo` → `docker.io/library/demo`.
fn qualify(repo: &str) -> String {
    match repo.split_once('/') {
        None => format!("docker.io/library/{repo}"),
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            repo.to_string()
        }
        Some(_) => format!("docker.io/{repo}"),
    }
}

/// The zero `container_config` docker writes into v1 layer JSON.
fn zero_container_config() -> Value {
    json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
        "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": null,
        "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "", "Entrypoint": null,
        "OnBuild": null, "Labels": null
    })
}

/// The bytes docker would store for a layer: the uncompressed tar, or the broken gzip stream.
fn layer_bytes(l: &ImageLayer) -> Arc<Vec<u8>> {
    if l.corruption == Some(Corruption::TruncatedGzip) {
        l.blob.shared()
    } else {
        l.layer.tar_shared()
    }
}

/// (v1 id hex, v1 json bytes) per layer.
fn v1_layers(image: &Image) -> Vec<(String, Vec<u8>)> {
    let cfg = image.config_json();
    let chains = chain_ids(&image.diff_ids());
    let mut parent: Option<String> = None;
    let mut out = Vec::new();
    for (i, chain) in chains.iter().enumerate() {
        let top = i + 1 == chains.len();
        let created = if top {
            image.created().to_string()
        } else {
            "1970-01-01T00:00:00Z".to_string()
        };
        let mut id_input = Map::new();
        id_input.insert("created".into(), json!(created));
        id_input.insert("layer_id".into(), json!(chain.as_str()));
        if let Some(p) = &parent {
            id_input.insert("parent".into(), json!(format!("sha256:{p}")));
        }
        let id = Digest::sha256(&to_json(&Value::Object(id_input)))
            .hex()
            .to_string();
        let mut j = Map::new();
        j.insert("id".into(), json!(id));
        if let Some(p) = &parent {
            j.insert("parent".into(), json!(p));
        }
        j.insert("created".into(), json!(created));
        j.insert("container_config".into(), zero_container_config());
        if top {
            j.insert("config".into(), cfg["config"].clone());
            j.insert("architecture".into(), cfg["architecture"].clone());
        }
        j.insert("os".into(), json!(image.platform.os));
        out.push((id.clone(), to_json(&Value::Object(j))));
        parent = Some(id);
    }
    out
}

impl DockerArchive {
    /// An empty, uncompressed archive of the given layout.
    pub fn new(format: DockerArchiveFormat) -> Self {
        Self {
            format,
            compression: Compression::None,
            images: Vec::new(),
        }
    }

    /// Adds an image with familiar tags (`demo:1`, `user/app`, `localhost:5000/x:y`); no tags
    /// means "saved by ID" (`RepoTags: null`).
    pub fn image(mut self, tags: &[&str], image: &Image) -> Self {
        self.images.push((
            tags.iter().map(|t| (*t).to_string()).collect(),
            image.clone(),
        ));
        self
    }

    /// Compresses the whole archive file (docker load accepts gzip and zstd).
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Digests of the OCI manifests generated for each image (OCI layout; empty for legacy).
    pub fn oci_manifest_digests(&self) -> Vec<Digest> {
        self.build().1
    }

    fn build(&self) -> (FileTree, Vec<Digest>) {
        match self.format {
            DockerArchiveFormat::Legacy => (self.legacy(), Vec::new()),
            DockerArchiveFormat::Oci => self.oci(),
        }
    }

    fn finish(
        tree: &mut FileTree,
        items: Vec<Value>,
        repos: BTreeMap<String, BTreeMap<String, String>>,
        mtime: i64,
    ) {
        let mut manifest_json = to_json(&Value::Array(items));
        manifest_json.push(b'\n');
        tree.insert_bytes("manifest.json", manifest_json, mtime);
        if !repos.is_empty() {
            let mut r = to_json(&json!(repos));
            r.push(b'\n');
            tree.insert_bytes("repositories", r, mtime);
        }
    }

    fn item(config: String, tags: &[String], layers: Vec<String>) -> Value {
        let mut m = Map::new();
        m.insert("Config".into(), json!(config));
        m.insert(
            "RepoTags".into(),
            if tags.is_empty() {
                Value::Null
            } else {
                json!(tags)
            },
        );
        m.insert("Layers".into(), json!(layers));
        Value::Object(m)
    }

    fn legacy(&self) -> FileTree {
        let mut tree = FileTree::default();
        let mut items = Vec::new();
        let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut latest_mtime = 0;
        for (tags, image) in &self.images {
            let mtime = parse_rfc3339(image.created()).unwrap_or(0);
            latest_mtime = latest_mtime.max(mtime);
            let config_path = format!("{}.json", image.config_digest.hex());
            tree.insert_bytes(&config_path, image.config.clone(), mtime);
            let mut layer_paths = Vec::new();
            for ((id, json), l) in v1_layers(image).into_iter().zip(&image.layers) {
                tree.insert_bytes(&format!("{id}/VERSION"), b"1.0".to_vec(), mtime);
                tree.insert_bytes(&format!("{id}/json"), json, mtime);
                tree.insert(&format!("{id}/layer.tar"), layer_bytes(l), mtime);
                layer_paths.push(format!("{id}/layer.tar"));
            }
            if let Some(top) = layer_paths.last().and_then(|p| p.split('/').next()) {
                for t in tags {
                    let (repo, tag) = split_tag(t);
                    repos.entry(repo).or_default().insert(tag, top.to_string());
                }
            }
            items.push(Self::item(config_path, tags, layer_paths));
        }
        Self::finish(&mut tree, items, repos, latest_mtime);
        tree
    }

    fn oci(&self) -> (FileTree, Vec<Digest>) {
        let mut tree = FileTree::default();
        let mut items = Vec::new();
        let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut index_entries = Vec::new();
        let mut manifest_digests = Vec::new();
        let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
        for (tags, image) in &self.images {
            tree.insert_bytes(&blob(&image.config_digest), image.config.clone(), 0);
            for (_, json) in v1_layers(image) {
                tree.insert_bytes(&blob(&Digest::sha256(&json)), json, 0);
            }
            let mut layer_paths = Vec::new();
            let mut descriptors = Vec::new();
            for l in &image.layers {
                let bytes = layer_bytes(l);
                let path = blob(&l.diff_id);
                let size =
                    bytes.len() as u64 + u64::from(l.corruption == Some(Corruption::WrongBlobSize));
                let digest = if l.corruption == Some(Corruption::WrongBlobDigest) {
                    let wrong = l.diff_id.perturbed("wrong blob digest");
                    tree.insert(&blob(&wrong), Arc::clone(&bytes), 0);
                    wrong
                } else {
                    l.diff_id.clone()
                };
                tree.insert(&path, bytes, 0);
                descriptors.push(json!({"mediaType": consts::OCI_LAYER, "digest": digest.as_str(), "size": size}));
                layer_paths.push(path);
            }
            let manifest = to_json(&json!({
                "schemaVersion": 2,
                "mediaType": consts::OCI_MANIFEST,
                "config": {"mediaType": consts::OCI_CONFIG, "digest": image.config_digest.as_str(), "size": image.config.len()},
                "layers": descriptors,
            }));
            let manifest_digest = Digest::sha256(&manifest);
            let size = manifest.len();
            tree.insert_bytes(&blob(&manifest_digest), manifest, 0);
            if tags.is_empty() {
                index_entries.push(json!({"mediaType": consts::OCI_MANIFEST, "digest": manifest_digest.as_str(), "size": size}));
            }
            for t in tags {
                let (repo, tag) = split_tag(t);
                index_entries.push(json!({
                    "mediaType": consts::OCI_MANIFEST, "digest": manifest_digest.as_str(), "size": size,
                    "annotations": {
                        consts::ANNOTATION_IMAGE_NAME: format!("{}:{tag}", qualify(&repo)),
                        consts::ANNOTATION_REF_NAME: tag,
                    },
                }));
                if let Some(top) = image.layers.last() {
                    repos
                        .entry(repo)
                        .or_default()
                        .insert(tag, top.diff_id.hex().to_string());
                }
            }
            manifest_digests.push(manifest_digest);
            items.push(Self::item(blob(&image.config_digest), tags, layer_paths));
        }
        let index =
            json!({"schemaVersion": 2, "mediaType": consts::OCI_INDEX, "manifests": index_entries});
        tree.insert_bytes("index.json", to_json(&index), 0);
        tree.insert_bytes("oci-layout", consts::OCI_LAYOUT_FILE.as_bytes().to_vec(), 0);
        Self::finish(&mut tree, items, repos, 0);
        (tree, manifest_digests)
    }

    /// The archive bytes, compressed as configured.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (tree, _) = self.build();
        crate::layer::compress(&tree.to_tar(self.dir_mtime()), self.compression)
    }

    fn dir_mtime(&self) -> i64 {
        match self.format {
            DockerArchiveFormat::Legacy => self
                .images
                .iter()
                .filter_map(|(_, i)| parse_rfc3339(i.created()))
                .max()
                .unwrap_or(0),
            DockerArchiveFormat::Oci => 0,
        }
    }

    /// Writes the archive file.
    ///
    /// # Errors
    /// The I/O error writing `path`.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let (tree, _) = self.build();
        write_compressed(path, &tree.to_tar(self.dir_mtime()), self.compression)
    }
}

/// Writes one image with `tags` as an uncompressed `docker save` archive.
///
/// # Errors
/// The I/O error writing `path`.
pub fn write_docker_archive(
    path: &Path,
    tags: &[&str],
    image: &Image,
    format: DockerArchiveFormat,
) -> io::Result<()> {
    DockerArchive::new(format).image(tags, image).write(path)
}

#[cfg(test)]
mod tests;
