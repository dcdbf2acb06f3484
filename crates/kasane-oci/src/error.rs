//! The one error type of `kasane-oci`: every parser here returns [`OciError`].
//!
//! Owns: [`OciError`] and [`ReferenceError`], the reasons a reference string was refused.
//!
//! Every variant carries its subject (the input string, the media type, the JSON parser's
//! error as `#[source]`). Messages are lower case without a trailing period; reference errors
//! keep docker's wording so users see what `docker pull` would have said, e.g.
//! `invalid reference format: repository name (library/Nginx) must be lowercase`.
//!
//! All of these are caused by the input, so callers classify them as "invalid argument",
//! except [`OciError::UnsupportedSchema1`] and [`OciError::UnknownMediaType`], which are
//! "unsupported" (well-formed content this engine cannot handle).

use crate::digest::DigestError;

/// Why parsing, validating or converting OCI or Docker image data failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// A string is not a valid image reference (`[registry/]repository[:tag][@digest]`).
    #[error("{reason}")]
    InvalidReference {
        /// The string as the user gave it.
        input: String,
        /// What is wrong with it; its text is docker's wording and names the bad part.
        reason: ReferenceError,
    },

    /// A string is not a valid platform specifier (`os[/arch[/variant]]`).
    #[error("invalid platform {input:?}: {reason}")]
    InvalidPlatform {
        /// The string as the user gave it.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An image manifest is not valid JSON for its schema.
    #[error("invalid image manifest JSON")]
    InvalidManifest {
        /// The JSON parser's error (with line and column).
        #[source]
        source: serde_json::Error,
    },

    /// An image index (or docker manifest list) is not valid JSON for its schema.
    #[error("invalid image index JSON")]
    InvalidIndex {
        /// The JSON parser's error (with line and column).
        #[source]
        source: serde_json::Error,
    },

    /// An image configuration is not valid JSON for its schema.
    #[error("invalid image config JSON")]
    InvalidConfig {
        /// The JSON parser's error (with line and column).
        #[source]
        source: serde_json::Error,
    },

    /// The document is a Docker image manifest v2 schema 1, which kasane does not read.
    ///
    /// Schema 1 was deprecated in 2017 and removed from docker 28; its layers are not
    /// content-addressed the way the rest of kasane requires.
    #[error(
        "docker image manifest v2 schema 1 ({media_type}) is not supported: \
         re-push the image with a current client to convert it to schema 2 or OCI"
    )]
    UnsupportedSchema1 {
        /// The media type or content type that identified it (or `schemaVersion 1`).
        media_type: String,
    },

    /// A manifest's `mediaType` is neither an image manifest nor an index that kasane knows.
    #[error("unsupported manifest media type {media_type:?}")]
    UnknownMediaType {
        /// The media type as found.
        media_type: String,
    },

    /// A manifest's `schemaVersion` is not 2.
    #[error("unsupported manifest schemaVersion {version}: expected 2")]
    UnsupportedSchemaVersion {
        /// The version found.
        version: u64,
    },

    /// A document has no `mediaType`, no usable content type, and neither `manifests` nor
    /// `layers`, so it is neither an image manifest nor an index.
    #[error("document is neither an image manifest nor an image index")]
    NotAManifest,

    /// A manifest cannot be expressed in the requested format.
    #[error("cannot convert {what} to {target}")]
    Unconvertible {
        /// What has no equivalent (usually a media type, or a field such as `subject`).
        what: String,
        /// The format that was asked for.
        target: &'static str,
    },

    /// A digest string is malformed or uses an unsupported algorithm.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// Why a reference string was refused; the text follows docker's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The string is empty.
    #[error("invalid reference format: repository name must have at least one component")]
    Empty,
    /// The string does not follow `[registry/]repository[:tag][@digest]`.
    #[error("invalid reference format")]
    Format,
    /// A repository path component breaks `[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*`.
    #[error("invalid reference format: repository name ({0}) is not valid")]
    Repository(String),
    /// The registry part is not `host[:port]` (a DNS name, IPv4 or `[IPv6]`).
    #[error("invalid reference format: registry host ({0}) is not valid")]
    Registry(String),
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}`.
    #[error("invalid reference format: tag ({0}) is not valid")]
    Tag(String),
    /// The digest is malformed or uses an unsupported algorithm.
    #[error("invalid reference format: {0}")]
    Digest(DigestError),
    /// The repository contains upper-case letters (upper case is allowed in the registry).
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// The repository path is longer than 255 characters.
    #[error("invalid reference format: repository name must not be more than 255 characters")]
    NameTooLong,
    /// The string is 64 hex characters: an image ID, not a name.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
}
