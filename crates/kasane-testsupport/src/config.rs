//! The vocabulary of an image config and its media types: platform, healthcheck, history
//! entries and the OCI/Docker media-type family.
//!
//! Owns: the plain data [`ImageBuilder`](crate::ImageBuilder) collects; rendering lives in
//! [`crate::image`].
//!
//! Spec: OCI image-spec `config.md` (`history`, platform fields), `media-types.md`; Docker
//! image manifest v2 schema 2.

use std::time::Duration;

use crate::consts;
use crate::layer::Compression;

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
    pub(crate) fn manifest_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => consts::OCI_MANIFEST,
            ManifestFormat::Docker => consts::DOCKER_MANIFEST,
        }
    }

    pub(crate) fn config_media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => consts::OCI_CONFIG,
            ManifestFormat::Docker => consts::DOCKER_CONFIG,
        }
    }

    pub(crate) fn index_media_type(self) -> &'static str {
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
        Self {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        }
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
        Self {
            created_by: created_by.into(),
            ..Self::default()
        }
    }

    /// A metadata-only step (`"empty_layer": true`).
    pub fn empty(created_by: impl Into<String>) -> Self {
        Self {
            created_by: created_by.into(),
            empty_layer: true,
            ..Self::default()
        }
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
