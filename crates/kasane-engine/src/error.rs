//! The engine's error type: what the CLI (and later the registry server) reports.

use kasane_oci::OciError;
use kasane_snapshot::SnapshotError;
use kasane_store::StoreError;

/// How an error is classified, for exit codes, HTTP statuses and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named thing does not exist.
    NotFound,
    /// The thing being created exists already.
    AlreadyExists,
    /// The request or its input is wrong.
    InvalidArgument,
    /// The operation conflicts with the state (image in use, ambiguous name…).
    Conflict,
    /// Credentials are missing or refused.
    Unauthorized,
    /// A remote or a lock is temporarily unavailable.
    Unavailable,
    /// Anything else: I/O, database, bugs.
    Internal,
}

/// Everything an engine operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No image matches the name, ID or digest.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// No container matches the name or ID.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// No volume has the name.
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// A volume cannot be removed while containers name it.
    #[error("remove {name}: volume is in use - [{}]", containers.join(", "))]
    VolumeInUse {
        /// The volume.
        name: String,
        /// The ids of the containers that name it.
        containers: Vec<String>,
    },
    /// The OCI runtime failed (create, start, exec…); `exit_code` is docker's 125/126/127.
    #[error(transparent)]
    Runtime(#[from] kasane_runtime::RuntimeError),
    /// The container's runtime spec could not be built from the image and options.
    #[error(transparent)]
    Spec(#[from] kasane_runtime::SpecError),
    /// Something other than a local image is missing (a platform in an index, a tag remotely).
    #[error("{0}")]
    NotFound(String),
    /// A short ID matches several images.
    #[error("multiple IDs found with provided prefix: {0}")]
    AmbiguousId(String),
    /// The operation conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A container's state forbids the operation (not running, paused, …); docker's words,
    /// without the `conflict:` its image conflicts carry.
    #[error("{0}")]
    ContainerState(String),
    /// The arguments or the input are wrong.
    #[error("{0}")]
    InvalidArgument(String),
    /// An image's content does not verify (digest, DiffID, size, structure).
    #[error("invalid image {subject}")]
    InvalidImage {
        /// The image or archive being read.
        subject: String,
        /// What was wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A layer could not be unpacked.
    #[error("unpacking layer {layer} of {subject}")]
    Unpack {
        /// The image or archive.
        subject: String,
        /// The layer blob digest.
        layer: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A registry could not be used (transport, authentication, missing or bad content).
    #[error("{subject}")]
    Remote {
        /// What was being pulled or pushed.
        subject: String,
        /// The registry client's error (possibly wrapped by the store seam).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// Its classification.
        kind: ErrorKind,
    },
    /// A reference, digest or platform failed to parse.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// The content store or metadata failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// Reading or writing a user-supplied file or stream failed.
    #[error("{what}")]
    Io {
        /// What was being done, on what.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    /// Classifies the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::NoSuchImage(_)
            | EngineError::NotFound(_)
            | EngineError::NoSuchContainer(_)
            | EngineError::NoSuchVolume(_) => ErrorKind::NotFound,
            EngineError::Runtime(_) => ErrorKind::Internal,
            EngineError::Spec(_) => ErrorKind::InvalidArgument,
            EngineError::AmbiguousId(_) | EngineError::InvalidArgument(_) => {
                ErrorKind::InvalidArgument
            }
            EngineError::Conflict(_)
            | EngineError::ContainerState(_)
            | EngineError::VolumeInUse { .. } => ErrorKind::Conflict,
            EngineError::InvalidImage { .. } | EngineError::Unpack { .. } => {
                ErrorKind::InvalidArgument
            }
            EngineError::Oci(_) => ErrorKind::InvalidArgument,
            EngineError::Store(e) => match e.kind() {
                kasane_store::ErrorKind::NotFound => ErrorKind::NotFound,
                kasane_store::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
                kasane_store::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                kasane_store::ErrorKind::Conflict => ErrorKind::Conflict,
                kasane_store::ErrorKind::Internal => ErrorKind::Internal,
            },
            EngineError::Snapshot(_) | EngineError::Io { .. } => ErrorKind::Internal,
            EngineError::Remote { kind, .. } => *kind,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        EngineError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn invalid_image(
        subject: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        let source = source.into();
        // A registry failure seen through the store seam is not the image's fault.
        let remote_kind = match source.downcast_ref::<StoreError>() {
            Some(StoreError::External { error, .. }) => error
                .downcast_ref::<kasane_registry::RegistryError>()
                .map(remote_kind),
            _ => None,
        };
        if let Some(kind) = remote_kind {
            return EngineError::Remote {
                subject: subject.into(),
                source,
                kind,
            };
        }
        EngineError::InvalidImage {
            subject: subject.into(),
            source,
        }
    }
}

/// Result alias for the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The engine's classification of a registry error.
pub(crate) fn remote_kind(e: &kasane_registry::RegistryError) -> ErrorKind {
    use kasane_registry::ErrorKind as R;
    match e.kind() {
        R::NotFound => ErrorKind::NotFound,
        R::Unauthorized => ErrorKind::Unauthorized,
        R::Invalid => ErrorKind::InvalidArgument,
        R::Transient => ErrorKind::Unavailable,
        R::Other => ErrorKind::Internal,
    }
}

impl EngineError {
    /// Wraps a registry error met while working on `subject`.
    pub(crate) fn remote(subject: impl Into<String>, e: kasane_registry::RegistryError) -> Self {
        EngineError::Remote {
            subject: subject.into(),
            kind: remote_kind(&e),
            source: Box::new(e),
        }
    }
}
