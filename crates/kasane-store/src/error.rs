//! The store's one error type.

use std::path::PathBuf;

use kasane_oci::Digest;

/// Classification of a [`StoreError`], mapped by the engine to exit codes and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The thing asked for does not exist.
    NotFound,
    /// The thing being created exists already.
    AlreadyExists,
    /// The input (archive, blob, metadata) is malformed or does not verify.
    InvalidArgument,
    /// Another operation holds the resource.
    Conflict,
    /// I/O or database failure.
    Internal,
}

/// Everything that can go wrong in the content store, metadata and archive sources/sinks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A blob is not in the store or source.
    #[error("blob {0} not found")]
    BlobNotFound(Digest),
    /// Content did not hash to the digest it was announced with.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the descriptor said.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// Content did not have the size it was announced with.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// What the descriptor said.
        expected: u64,
        /// What was actually read or written.
        actual: u64,
    },
    /// Untrusted input is larger than kasane accepts for its kind.
    #[error("{what} is too large: {size} bytes (limit {limit})")]
    TooLarge {
        /// What was being read.
        what: String,
        /// Its size, or the bytes read before giving up.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An archive, layout or JSON document is malformed.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was being read ("archive", "manifest.json", "index.json", …).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A docker-archive `manifest.json` entry lists a different number of layers than its
    /// config has DiffIDs (docker's exact message, moby `image/tarexport/load.go`).
    #[error("invalid manifest, layers length mismatch: expected {expected}, got {actual}")]
    LayersLengthMismatch {
        /// Layers listed in `manifest.json`.
        expected: usize,
        /// DiffIDs in the image config.
        actual: usize,
    },
    /// A JSON document could not be parsed.
    #[error("parsing {what}")]
    Json {
        /// What was being parsed.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// An OCI type failed to parse.
    #[error("parsing {what}")]
    Oci {
        /// What was being parsed.
        what: String,
        /// The parser's error.
        #[source]
        source: kasane_oci::OciError,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}")]
    Io {
        /// The operation, as a gerund phrase ("opening", "renaming to", …).
        op: &'static str,
        /// The path it failed on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A read or write on a stream (no path) failed.
    #[error("{what}")]
    Stream {
        /// What was being read or written.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("metadata database: {context}")]
    Db {
        /// What was being done.
        context: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A named object (image, tag, snapshot) is missing.
    #[error("{0} not found")]
    NotFound(String),
    /// A named object exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// Another process holds a lock or the object is in use.
    #[error("{0}")]
    Conflict(String),
    /// A source or sink outside the store (a registry) failed; the error is its own, and
    /// `kind` is its classification (callers may downcast `error` for details).
    #[error("{error}")]
    External {
        /// How the caller should treat it.
        kind: ErrorKind,
        /// The source's or sink's error.
        error: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl StoreError {
    /// Classifies the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::BlobNotFound(_) | StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            StoreError::DigestMismatch { .. }
            | StoreError::SizeMismatch { .. }
            | StoreError::TooLarge { .. }
            | StoreError::Invalid { .. }
            | StoreError::LayersLengthMismatch { .. }
            | StoreError::Json { .. }
            | StoreError::Oci { .. } => ErrorKind::InvalidArgument,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Io { .. } | StoreError::Stream { .. } | StoreError::Db { .. } => {
                ErrorKind::Internal
            }
            StoreError::External { kind, .. } => *kind,
        }
    }

    /// Shorthand for [`StoreError::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`StoreError::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        StoreError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias for the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
