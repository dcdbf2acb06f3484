//! Multi-platform indexes (OCI image index / Docker manifest list) over built images.
//!
//! Owns: [`IndexBuilder`] → [`Index`]. Each image contributes one descriptor carrying its
//! platform (architecture, os, variant); the images' own blobs are written next to the index
//! by [`OciLayout::index`](crate::OciLayout::index).
//!
//! Spec: OCI image-spec `image-index.md`; Docker manifest list v2 schema 2.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::config::ManifestFormat;
use crate::digest::Digest;
use crate::image::{Image, to_json};

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
        Self {
            format,
            images: Vec::new(),
            annotations: BTreeMap::new(),
        }
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
