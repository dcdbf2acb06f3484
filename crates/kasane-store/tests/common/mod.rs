//! Hand-built test images: tiny layers made with `tar` + `flate2`, an OCI config and manifest.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;

use kasane_oci::{Descriptor, Digest, Index, Manifest, Platform, media_type};
use kasane_store::Ingester;

/// An image written into some ingester.
#[derive(Debug, Clone)]
pub struct TestImage {
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub diff_ids: Vec<Digest>,
}

impl TestImage {
    /// Every blob digest of the image, manifest included.
    pub fn digests(&self) -> Vec<Digest> {
        let mut v = vec![self.manifest.digest.clone(), self.config.digest.clone()];
        v.extend(self.layers.iter().map(|l| l.digest.clone()));
        v
    }
}

/// A layer tar with the given regular files (mtime 0, mode 0644).
pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).unwrap()
}

/// Writes `bytes` as a blob and returns its descriptor.
pub fn put(dst: &dyn Ingester, media_type: &str, bytes: &[u8]) -> Descriptor {
    let desc = Descriptor::new(media_type, Digest::sha256_of(bytes), bytes.len() as u64);
    let mut w = dst.writer(Some(&desc)).unwrap();
    let offset = w.offset() as usize;
    w.write_all(&bytes[offset..]).unwrap();
    w.commit().unwrap();
    desc
}

pub fn config_json(platform: &Platform, diff_ids: &[Digest], label: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {"Cmd": ["/bin/sh"], "Labels": {"test": label}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": diff_ids.iter().map(|_| serde_json::json!({"created_by": "test"})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// Builds an image from layers (each a list of files), gzip-compressing them when `gzipped`.
pub fn build_image(
    dst: &dyn Ingester,
    platform: &Platform,
    layers: &[&[(&str, &[u8])]],
    gzipped: bool,
    label: &str,
) -> TestImage {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for files in layers {
        let tar = layer_tar(files);
        diff_ids.push(Digest::sha256_of(&tar));
        let desc = if gzipped {
            put(dst, media_type::OCI_LAYER_TAR_GZIP, &gzip(&tar))
        } else {
            put(dst, media_type::OCI_LAYER_TAR, &tar)
        };
        descs.push(desc);
    }
    let config = put(
        dst,
        media_type::OCI_CONFIG,
        &config_json(platform, &diff_ids, label),
    );
    let manifest_bytes =
        Manifest::new(media_type::OCI_MANIFEST, config.clone(), descs.clone()).to_json();
    let manifest = put(dst, media_type::OCI_MANIFEST, &manifest_bytes);
    TestImage {
        manifest,
        config,
        layers: descs,
        diff_ids,
    }
}

/// An index over images, each descriptor carrying its platform.
pub fn build_index(dst: &dyn Ingester, images: &[(&TestImage, Platform)]) -> Descriptor {
    let manifests = images
        .iter()
        .map(|(img, p)| {
            let mut d = img.manifest.clone();
            d.platform = Some(p.clone());
            d
        })
        .collect();
    let bytes = Index::new(media_type::OCI_INDEX, manifests).to_json();
    put(dst, media_type::OCI_INDEX, &bytes)
}

pub fn linux(arch: &str) -> Platform {
    Platform::new("linux", arch)
}

/// A small standard image: two gzip layers, one shared with `other_image`.
pub fn base_layers() -> Vec<Vec<(&'static str, &'static [u8])>> {
    vec![
        vec![
            ("etc/os-release", b"NAME=test\n" as &[u8]),
            ("bin/sh", b"#!fake shell\n"),
        ],
        vec![("app/hello.txt", b"hello, world\n" as &[u8])],
    ]
}
