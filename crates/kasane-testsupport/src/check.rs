//! Independent consistency checks of OCI layouts and docker archives.
//!
//! Owns: [`check_oci_layout`], [`check_oci_archive`] and [`check_docker_archive`]: they read
//! what this crate (or kasane's `save`) wrote and list every inconsistency — blob names vs
//! content, declared sizes, config/manifest references, DiffIDs vs decompressed layers — the
//! way `skopeo copy` and `docker load` would trip over them. An empty list means consistent.
//!
//! Collect-all: every problem is reported, not just the first. I/O errors reading the input
//! itself (missing directory, unreadable archive) are returned as `Err`.
//!
//! Spec: OCI image-spec `image-layout.md`, `descriptor.md`, `manifest.md`; `docker-formats.md`
//! §8.4 (what `docker load` checks, and its error texts).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::archive::{decompress, read_tar_files};
use crate::consts;
use crate::digest::Digest;

enum Files {
    Dir(PathBuf),
    Map(BTreeMap<String, Vec<u8>>),
}

impl Files {
    fn get(&self, path: &str) -> Option<Cow<'_, [u8]>> {
        match self {
            Files::Dir(d) => fs::read(d.join(path)).ok().map(Cow::Owned),
            Files::Map(m) => m.get(path).map(|v| Cow::Borrowed(v.as_slice())),
        }
    }
}

fn parse(what: &str, bytes: &[u8], problems: &mut Vec<String>) -> Option<Value> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("{what}: invalid JSON: {e}"));
            None
        }
    }
}

/// Checks an OCI layout directory.
///
/// # Errors
/// `NotFound` if `dir` does not exist.
pub fn check_oci_layout(dir: &Path) -> io::Result<Vec<String>> {
    fs::metadata(dir)?;
    Ok(check_layout(&Files::Dir(dir.to_path_buf())))
}

/// Checks an `oci-archive` tar (plain, gzip or zstd).
///
/// # Errors
/// The I/O, decompression or tar error reading `path`.
pub fn check_oci_archive(path: &Path) -> io::Result<Vec<String>> {
    Ok(check_layout(&Files::Map(read_tar_files(&fs::read(path)?)?)))
}

fn check_layout(files: &Files) -> Vec<String> {
    let mut problems = Vec::new();
    match files.get("oci-layout") {
        None => problems.push("oci-layout: missing".into()),
        Some(b) => {
            if let Some(v) = parse("oci-layout", &b, &mut problems)
                && v["imageLayoutVersion"] != "1.0.0"
            {
                problems.push(format!(
                    "oci-layout: imageLayoutVersion {}, want \"1.0.0\"",
                    v["imageLayoutVersion"]
                ));
            }
        }
    }
    let Some(index) = files.get("index.json") else {
        problems.push("index.json: missing".into());
        return problems;
    };
    let Some(index) = parse("index.json", &index, &mut problems) else {
        return problems;
    };
    check_index(files, "index.json", &index, &mut problems);
    problems
}

fn check_index(files: &Files, what: &str, index: &Value, problems: &mut Vec<String>) {
    if index["schemaVersion"] != 2 {
        problems.push(format!(
            "{what}: schemaVersion {}, want 2",
            index["schemaVersion"]
        ));
    }
    let Some(manifests) = index["manifests"].as_array() else {
        problems.push(format!("{what}: no manifests array"));
        return;
    };
    for d in manifests {
        let Some(bytes) = check_blob(files, what, d, problems) else {
            continue;
        };
        let media_type = d["mediaType"].as_str().unwrap_or_default();
        let name = format!(
            "{} {}",
            media_type,
            d["digest"].as_str().unwrap_or_default()
        );
        let Some(v) = parse(&name, &bytes, problems) else {
            continue;
        };
        match media_type {
            consts::OCI_INDEX | consts::DOCKER_MANIFEST_LIST => {
                check_index(files, &name, &v, problems)
            }
            consts::OCI_MANIFEST | consts::DOCKER_MANIFEST => {
                check_manifest(files, &name, &v, problems)
            }
            other => problems.push(format!("{what}: unknown manifest media type {other:?}")),
        }
    }
}

/// Reads the blob a descriptor names and checks its size and digest.
fn check_blob(files: &Files, what: &str, d: &Value, problems: &mut Vec<String>) -> Option<Vec<u8>> {
    let Some(digest) = d["digest"].as_str() else {
        problems.push(format!("{what}: descriptor without digest"));
        return None;
    };
    let Some(hex) = digest.strip_prefix("sha256:") else {
        problems.push(format!("{what}: unsupported digest {digest}"));
        return None;
    };
    let path = format!("blobs/sha256/{hex}");
    let Some(bytes) = files.get(&path) else {
        problems.push(format!("{path}: missing (referenced by {what})"));
        return None;
    };
    if d["size"].as_u64() != Some(bytes.len() as u64) {
        problems.push(format!(
            "{path}: size {}, descriptor says {}",
            bytes.len(),
            d["size"]
        ));
    }
    let actual = Digest::sha256(&bytes);
    if actual != digest {
        problems.push(format!(
            "{path}: content digest {actual}, descriptor says {digest}"
        ));
    }
    Some(bytes.into_owned())
}

fn check_manifest(files: &Files, what: &str, m: &Value, problems: &mut Vec<String>) {
    let Some(config) = check_blob(files, what, &m["config"], problems) else {
        return;
    };
    let Some(config) = parse(&format!("config of {what}"), &config, problems) else {
        return;
    };
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    if layers.len() != diff_ids.len() {
        problems.push(format!(
            "{what}: {} layers but {} diff_ids in the config",
            layers.len(),
            diff_ids.len()
        ));
    }
    for (i, (l, diff_id)) in layers.iter().zip(&diff_ids).enumerate() {
        let Some(blob) = check_blob(files, what, l, problems) else {
            continue;
        };
        match decompress(&blob) {
            Ok(tar) => {
                let actual = Digest::sha256(&tar);
                if actual != *diff_id {
                    problems.push(format!(
                        "{what}: layer {i} uncompresses to {actual}, config says {diff_id}"
                    ));
                }
            }
            Err(e) => problems.push(format!("{what}: layer {i}: decompressing: {e}")),
        }
    }
}

/// Checks a `docker save` archive (either layout; plain, gzip or zstd) the way `docker load`
/// does, plus the embedded OCI layout when there is one.
///
/// # Errors
/// The I/O, decompression or tar error reading `path`.
pub fn check_docker_archive(path: &Path) -> io::Result<Vec<String>> {
    let files = read_tar_files(&fs::read(path)?)?;
    let mut problems = Vec::new();
    let Some(manifest) = files.get("manifest.json") else {
        problems.push("invalid archive: does not contain a manifest.json".into());
        return Ok(problems);
    };
    let Some(items) = parse("manifest.json", manifest, &mut problems) else {
        return Ok(problems);
    };
    for (n, item) in items
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let what = format!("manifest.json[{n}]");
        let Some(config_path) = item["Config"].as_str() else {
            problems.push(format!("{what}: no Config"));
            continue;
        };
        let Some(config) = files.get(config_path) else {
            problems.push(format!("{what}: config {config_path} missing"));
            continue;
        };
        let Some(config) = parse(config_path, config, &mut problems) else {
            continue;
        };
        let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let layers: Vec<&str> = item["Layers"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if layers.len() != diff_ids.len() {
            problems.push(format!(
                "invalid manifest, layers length mismatch: expected {}, got {}",
                diff_ids.len(),
                layers.len()
            ));
            continue;
        }
        for (layer_path, diff_id) in layers.iter().zip(&diff_ids) {
            let Some(layer) = files.get(*layer_path) else {
                problems.push(format!("{what}: layer {layer_path} missing"));
                continue;
            };
            match decompress(layer) {
                Ok(tar) => {
                    let actual = Digest::sha256(&tar);
                    if actual != *diff_id {
                        problems.push(format!(
                            "{layer_path}: content {actual}, config says {diff_id}"
                        ));
                    }
                }
                Err(e) => problems.push(format!("{layer_path}: decompressing: {e}")),
            }
        }
        if !(item["RepoTags"].is_null() || item["RepoTags"].is_array()) {
            problems.push(format!("{what}: RepoTags is neither null nor an array"));
        }
    }
    if let Some(r) = files.get("repositories")
        && let Some(v) = parse("repositories", r, &mut problems)
        && !v.as_object().is_some_and(|m| {
            m.values().all(|t| {
                t.as_object()
                    .is_some_and(|t| t.values().all(Value::is_string))
            })
        })
    {
        problems.push("repositories: not a {repo: {tag: id}} object".into());
    }
    if files.contains_key("index.json") {
        problems.extend(check_layout(&Files::Map(files)));
    }
    Ok(problems)
}
