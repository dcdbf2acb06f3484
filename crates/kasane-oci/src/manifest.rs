//! Image manifests and indexes, OCI and Docker v2s2 alike.
//!
//! Owns: [`Manifest`], [`Index`], [`ManifestKind`] (telling them apart from bytes),
//! platform selection in an index, and relabelling a manifest between OCI and Docker v2s2.
//!
//! Model: OCI image manifests and Docker v2s2 manifests have the same JSON shape, and so do
//! OCI indexes and Docker manifest lists; one type serves each pair and `mediaType` says
//! which it is. Parsed values are for reading. The bytes that were hashed are what is stored
//! and served: re-serialising a parsed manifest need not reproduce them (field order, white
//! space, unknown fields), so [`Manifest::to_json`] is only for manifests kasane creates.
//!
//! Deciding what a document is ([`ManifestKind::parse`]): the `mediaType` field if present,
//! else the HTTP `Content-Type`, else the shape (`manifests` → index, `layers`/`config` →
//! image manifest). Docker schema 1 is recognised and refused with a clear error.
//!
//! Spec: OCI image-spec `manifest.md` and `image-index.md`; Docker "Image Manifest V2,
//! Schema 2" (`manifest-v2-2.md`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::media_type::{self, Format};
use crate::{Descriptor, OciError, Platform};

/// The only `schemaVersion` of OCI and Docker v2s2 manifests.
pub const SCHEMA_VERSION: u32 = 2;

/// An image manifest: one config blob plus an ordered list of layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Spec: "This REQUIRED property specifies the image manifest schema version. For this
    /// version of the specification, this MUST be 2."
    pub schema_version: u32,
    /// Spec: "This property SHOULD be used"; Docker v2s2 always sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The type of an artifact (OCI 1.1); "MUST be set when config.mediaType is set to the
    /// empty value".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Spec: "This REQUIRED property references a configuration object for a container, by
    /// digest."
    pub config: Descriptor,
    /// Layers, base first. Spec: "the base layer MUST be the first".
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers: signatures, SBOMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata (`org.opencontainers.image.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An index of manifests, usually one per platform (OCI index or Docker manifest list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Spec: "This REQUIRED property specifies the image manifest schema version. For this
    /// version of the specification, this MUST be 2."
    pub schema_version: u32,
    /// Spec: "This property SHOULD be used"; Docker manifest lists always set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The type of an artifact when the index is used for one (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Spec: "This REQUIRED property contains a list of manifests for specific platforms."
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What a manifest document turned out to be.
// A manifest is parsed once per resolve and matched on at once; boxing it would only make
// every caller's pattern noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image manifest (OCI or Docker v2s2).
    Image(Manifest),
    /// An index (OCI index or Docker manifest list).
    Index(Index),
}

/// Serialises one of our own types; they contain only string-keyed maps, so this cannot fail.
fn to_json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    match serde_json::to_vec(value) {
        Ok(bytes) => bytes,
        Err(e) => unreachable!("serialising a value with string keys cannot fail: {e}"),
    }
}

impl Manifest {
    /// A schema 2 manifest of `media_type` (e.g. [`media_type::OCI_MANIFEST`]).
    pub fn new(media_type: &str, config: Descriptor, layers: Vec<Descriptor>) -> Self {
        Manifest {
            schema_version: SCHEMA_VERSION,
            media_type: Some(media_type.to_owned()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: None,
        }
    }

    /// Parses an image manifest, without checking `mediaType` (see [`ManifestKind::parse`]).
    ///
    /// # Errors
    /// [`OciError::InvalidManifest`] when `bytes` are not a manifest.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, OciError> {
        serde_json::from_slice(bytes).map_err(|source| OciError::InvalidManifest { source })
    }

    /// Compact JSON in field order, for manifests kasane writes; hash these exact bytes.
    pub fn to_json(&self) -> Vec<u8> {
        to_json_bytes(self)
    }

    /// The media type, defaulting to OCI's when the document omits it.
    pub fn media_type(&self) -> &str {
        self.media_type
            .as_deref()
            .unwrap_or(media_type::OCI_MANIFEST)
    }

    /// Which family of media types this manifest is labelled with.
    pub fn format(&self) -> Format {
        if media_type::essence(self.media_type()) == media_type::DOCKER_MANIFEST {
            Format::DockerV2S2
        } else {
            Format::Oci
        }
    }

    /// The same manifest relabelled for `format`: manifest, config and layer media types
    /// are mapped ([`media_type::convert`]); digests, sizes and the blobs stay the same.
    /// The caller serialises the result and stores it under its new digest.
    ///
    /// # Errors
    /// [`OciError::Unconvertible`] when a media type has no equivalent in `format`, or when
    /// converting to Docker v2s2 a manifest that uses OCI-only `subject` or `artifactType`.
    pub fn convert(&self, format: Format) -> Result<Manifest, OciError> {
        let target = format.as_str();
        let map = |mt: &str| {
            media_type::convert(mt, format).ok_or_else(|| OciError::Unconvertible {
                what: format!("media type {mt:?}"),
                target,
            })
        };
        if format == Format::DockerV2S2 {
            for (present, what) in [
                (self.subject.is_some(), "subject"),
                (self.artifact_type.is_some(), "artifactType"),
            ] {
                if present {
                    return Err(OciError::Unconvertible {
                        what: format!("a manifest with {what}"),
                        target,
                    });
                }
            }
        }
        let mut out = self.clone();
        out.media_type = Some(map(self.media_type())?.to_owned());
        out.config.media_type = map(&self.config.media_type)?.to_owned();
        for layer in &mut out.layers {
            layer.media_type = map(&layer.media_type)?.to_owned();
        }
        Ok(out)
    }
}

impl Index {
    /// A schema 2 index of `media_type` (e.g. [`media_type::OCI_INDEX`]).
    pub fn new(media_type: &str, manifests: Vec<Descriptor>) -> Self {
        Index {
            schema_version: SCHEMA_VERSION,
            media_type: Some(media_type.to_owned()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: None,
        }
    }

    /// Parses an index, without checking `mediaType` (see [`ManifestKind::parse`]).
    ///
    /// # Errors
    /// [`OciError::InvalidIndex`] when `bytes` are not an index.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, OciError> {
        serde_json::from_slice(bytes).map_err(|source| OciError::InvalidIndex { source })
    }

    /// Compact JSON in field order, for indexes kasane writes; hash these exact bytes.
    pub fn to_json(&self) -> Vec<u8> {
        to_json_bytes(self)
    }

    /// The media type, defaulting to OCI's when the document omits it.
    pub fn media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or(media_type::OCI_INDEX)
    }

    /// The manifest for `wanted`: the first entry whose platform [matches](Platform::matches),
    /// preferring one whose variant is spelled exactly as in `wanted`.
    ///
    /// Entries without a platform are skipped, and so are buildkit's attestation manifests
    /// (platform `unknown/unknown`), which never match a real platform.
    pub fn select_platform(&self, wanted: &Platform) -> Option<&Descriptor> {
        let mut candidates = self
            .manifests
            .iter()
            .filter(|d| d.platform.as_ref().is_some_and(|p| p.matches(wanted)));
        let first = candidates.next()?;
        let exact = |d: &&Descriptor| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.variant == wanted.variant)
        };
        if exact(&first) {
            return Some(first);
        }
        Some(candidates.find(exact).unwrap_or(first))
    }
}

/// Only what is needed to tell the kinds apart; every field is optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u64>,
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
    layers: Option<serde::de::IgnoredAny>,
    config: Option<serde::de::IgnoredAny>,
    fs_layers: Option<serde::de::IgnoredAny>,
}

/// What the probe decided before the full parse.
enum Decision {
    Image,
    Index,
}

impl ManifestKind {
    /// Parses a manifest or index, deciding which by the `mediaType` field, else
    /// `content_type` (the HTTP `Content-Type` or descriptor media type), else the shape.
    ///
    /// # Errors
    /// - [`OciError::UnsupportedSchema1`] for Docker schema 1 manifests;
    /// - [`OciError::UnknownMediaType`] when `mediaType` names something else;
    /// - [`OciError::UnsupportedSchemaVersion`] when `schemaVersion` is present and not 2;
    /// - [`OciError::NotAManifest`] when nothing identifies the document;
    /// - [`OciError::InvalidManifest`] / [`OciError::InvalidIndex`] for malformed JSON.
    ///
    /// ```
    /// use kasane_oci::ManifestKind;
    ///
    /// let json = br#"{"schemaVersion":2,"manifests":[]}"#;
    /// let kind = ManifestKind::parse(json, Some("application/vnd.oci.image.index.v1+json"))?;
    /// assert!(matches!(kind, ManifestKind::Index(ref i) if i.manifests.is_empty()));
    /// # Ok::<(), kasane_oci::OciError>(())
    /// ```
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<ManifestKind, OciError> {
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|source| OciError::InvalidManifest { source })?;
        let body_schema1 = probe
            .media_type
            .as_deref()
            .is_some_and(media_type::is_schema1);
        if body_schema1 || probe.schema_version == Some(1) || probe.fs_layers.is_some() {
            return Err(OciError::UnsupportedSchema1 {
                media_type: probe
                    .media_type
                    .filter(|_| body_schema1)
                    .unwrap_or_else(|| "schemaVersion 1".to_owned()),
            });
        }
        if let Some(version) = probe.schema_version.filter(|v| *v != 2) {
            return Err(OciError::UnsupportedSchemaVersion { version });
        }
        let decision = match probe.media_type.as_deref() {
            Some(mt) if media_type::is_index(mt) => Decision::Index,
            Some(mt) if media_type::is_manifest(mt) => Decision::Image,
            Some(mt) => {
                return Err(OciError::UnknownMediaType {
                    media_type: mt.to_owned(),
                });
            }
            None => match content_type {
                // A schema 2 body under a stale schema 1 content type is judged by its shape.
                Some(ct) if media_type::is_schema1(ct) && probe.schema_version.is_none() => {
                    return Err(OciError::UnsupportedSchema1 {
                        media_type: media_type::essence(ct).to_owned(),
                    });
                }
                Some(ct) if media_type::is_index(ct) => Decision::Index,
                Some(ct) if media_type::is_manifest(ct) => Decision::Image,
                _ if probe.manifests.is_some() => Decision::Index,
                _ if probe.layers.is_some() || probe.config.is_some() => Decision::Image,
                _ => return Err(OciError::NotAManifest),
            },
        };
        Ok(match decision {
            Decision::Image => ManifestKind::Image(Manifest::from_slice(bytes)?),
            Decision::Index => ManifestKind::Index(Index::from_slice(bytes)?),
        })
    }

    /// The media type of the document (defaulting to OCI's when it has none).
    pub fn media_type(&self) -> &str {
        match self {
            ManifestKind::Image(m) => m.media_type(),
            ManifestKind::Index(i) => i.media_type(),
        }
    }

    /// The image manifest, if this is one.
    pub fn as_image(&self) -> Option<&Manifest> {
        match self {
            ManifestKind::Image(m) => Some(m),
            ManifestKind::Index(_) => None,
        }
    }

    /// The index, if this is one.
    pub fn as_index(&self) -> Option<&Index> {
        match self {
            ManifestKind::Index(i) => Some(i),
            ManifestKind::Image(_) => None,
        }
    }

    /// Compact JSON of the manifest or index (see [`Manifest::to_json`]).
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            ManifestKind::Image(m) => m.to_json(),
            ManifestKind::Index(i) => i.to_json(),
        }
    }
}

#[cfg(test)]
mod tests;
