//! The crate's one error type, [`SnapshotError`], and its classification [`ErrorKind`].

use std::io;
use std::path::PathBuf;

use kasane_oci::DiffId;

use crate::snapshotter::SnapshotId;

/// What kind of failure a [`SnapshotError`] is: for exit codes, HTTP status and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A snapshot does not exist.
    NotFound,
    /// A snapshot already exists.
    AlreadyExists,
    /// The input (a layer tar, an ID, an option) is invalid or hostile; retrying will not help.
    InvalidArgument,
    /// The host cannot do it: missing privilege, no overlayfs, no xattr support, out of space.
    Unavailable,
    /// Any other I/O failure.
    Internal,
}

/// Errors of snapshotters and of layer apply/diff.
///
/// Variants that come from a layer tar carry the entry name as it appeared in the tar
/// (lossily decoded); variants from the filesystem carry the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The tar stream itself is malformed (bad checksum, bad number field, two long names).
    #[error("reading layer tar at entry {entry:?}")]
    Tar {
        /// The entry being read, or for a header the last entry before it (`<start>` before
        /// the first).
        entry: String,
        /// The parser's error.
        #[source]
        source: io::Error,
    },
    /// An entry is malformed or not allowed (NUL in a name, hardlink to a directory, ...).
    #[error("invalid tar entry {entry:?}: {reason}")]
    InvalidEntry {
        /// The entry name.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry type kasane does not apply (volume labels, multi-volume continuations, ...).
    #[error("tar entry {entry:?} has unsupported type {typeflag:?}")]
    UnsupportedEntry {
        /// The entry name.
        entry: String,
        /// The tar typeflag byte.
        typeflag: char,
    },
    /// A bound for untrusted input was exceeded.
    #[error("{what} exceeds the limit of {limit} (tar entry {entry:?})")]
    LimitExceeded {
        /// The entry being read, or for headers the last entry read before them.
        entry: String,
        /// What was too large or too many.
        what: &'static str,
        /// The limit from [`crate::Limits`].
        limit: u64,
    },
    /// The stream ended inside an entry or without the end-of-archive marker.
    #[error("layer tar is truncated in entry {entry:?}")]
    Truncated {
        /// The entry whose data or successor is missing.
        entry: String,
    },
    /// The uncompressed stream does not hash to the DiffID the image config promised.
    #[error("layer does not match its diff ID: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// From the image config.
        expected: DiffId,
        /// Computed over the stream.
        actual: DiffId,
    },
    /// A filesystem operation for one tar entry failed.
    #[error("applying tar entry {entry:?}: {op}")]
    Apply {
        /// The entry name.
        entry: String,
        /// What was being done, as a noun phrase ("creating file").
        op: &'static str,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// The filesystem refused an extended attribute that a layer carries.
    #[error("applying tar entry {entry:?}: setting xattr {name}")]
    Xattr {
        /// The entry name.
        entry: String,
        /// The xattr name.
        name: String,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// A filesystem operation on a path failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done ("reading directory").
        op: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// Writing the layer tar of a diff failed.
    #[error("writing layer tar at {path:?}")]
    Write {
        /// The entry being written.
        path: String,
        /// The writer's error.
        #[source]
        source: io::Error,
    },
    /// A snapshot with this ID already exists.
    #[error("snapshot {id} already exists")]
    AlreadyExists {
        /// The ID.
        id: SnapshotId,
    },
    /// No snapshot with this ID exists.
    #[error("snapshot {id} not found")]
    NotFound {
        /// The ID.
        id: SnapshotId,
    },
    /// A string is not a valid [`SnapshotId`].
    #[error("invalid snapshot id {id:?}: {reason}")]
    InvalidId {
        /// The refused string.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// The snapshotter root cannot be used (its path would break mount options).
    #[error("invalid snapshotter root {}: {reason}", path.display())]
    InvalidRoot {
        /// The root directory.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// Mounting or unmounting failed.
    #[error("{op} {kind} at {}", target.display())]
    Mount {
        /// "mounting" or "unmounting".
        op: &'static str,
        /// The mount type (`overlay`, `bind`).
        kind: String,
        /// The mount point.
        target: PathBuf,
        /// The system error (with the kernel's overlayfs message when there is one).
        #[source]
        source: io::Error,
    },
}

impl SnapshotError {
    /// Classifies the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SnapshotError::NotFound { .. } => ErrorKind::NotFound,
            SnapshotError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            SnapshotError::Tar { .. }
            | SnapshotError::InvalidEntry { .. }
            | SnapshotError::UnsupportedEntry { .. }
            | SnapshotError::LimitExceeded { .. }
            | SnapshotError::Truncated { .. }
            | SnapshotError::DiffIdMismatch { .. }
            | SnapshotError::InvalidId { .. }
            | SnapshotError::InvalidRoot { .. } => ErrorKind::InvalidArgument,
            SnapshotError::Apply { source, .. } => match source.raw_os_error() {
                // The layer's own shape is wrong: symlink loops, files used as directories,
                // missing hardlink targets, names too long.
                Some(
                    libc::ELOOP
                    | libc::ENOTDIR
                    | libc::ENOENT
                    | libc::ENAMETOOLONG
                    | libc::EINVAL
                    | libc::EISDIR
                    | libc::EEXIST
                    | libc::EXDEV,
                ) => ErrorKind::InvalidArgument,
                _ => io_kind(source),
            },
            SnapshotError::Xattr { source, .. }
            | SnapshotError::Io { source, .. }
            | SnapshotError::Write { source, .. }
            | SnapshotError::Mount { source, .. } => io_kind(source),
        }
    }

    /// The entry name of a tar-related error, for callers that report it separately.
    pub fn entry(&self) -> Option<&str> {
        match self {
            SnapshotError::InvalidEntry { entry, .. }
            | SnapshotError::UnsupportedEntry { entry, .. }
            | SnapshotError::LimitExceeded { entry, .. }
            | SnapshotError::Truncated { entry }
            | SnapshotError::Apply { entry, .. }
            | SnapshotError::Xattr { entry, .. } => Some(entry),
            SnapshotError::Tar { entry, .. } => Some(entry),
            _ => None,
        }
    }
}

fn io_kind(e: &io::Error) -> ErrorKind {
    match e.raw_os_error() {
        Some(
            libc::EPERM
            | libc::EACCES
            | libc::ENOSPC
            | libc::EDQUOT
            | libc::ENOTSUP
            | libc::ENODEV
            | libc::EROFS
            | libc::ENOSYS
            | libc::EMFILE
            | libc::ENFILE,
        ) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// Lossy, printable form of a name taken from a tar or a directory.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `rustix` errno as a `std::io::Error`.
pub(crate) fn os(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}
