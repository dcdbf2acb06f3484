//! Names with a meaning on disk or inside layer tars, in one place.
//!
//! Each constant says who writes it and who reads it.

/// Prefix of an OCI whiteout entry: `dir/.wh.name` deletes `dir/name` of the layers below.
/// Written by [`crate::archive::diff`], read by [`crate::archive::apply`].
/// Spec: OCI image-spec `layer.md#whiteouts`.
pub const WHITEOUT_PREFIX: &str = ".wh.";

/// Prefix of whiteout *meta* entries (`.wh..wh.*`): the opaque marker below, plus aufs
/// bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`) that [`crate::archive::apply`] skips.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";

/// The opaque marker `dir/.wh..wh..opq`: hide everything below `dir` in lower layers.
/// Written by [`crate::archive::diff`], read by [`crate::archive::apply`].
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";

/// The xattr overlayfs reads on an upper or lower directory to make it opaque (value `y`).
/// Written by [`crate::archive::apply`] in [`crate::WhiteoutMode::Overlay`], read by the kernel
/// and by [`crate::archive::diff`] in [`crate::DiffMode::OverlayUpper`].
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Namespace of overlayfs' private xattrs. Never taken from a layer tar (a layer must not steer
/// overlayfs redirects or metacopy), never written into one.
pub const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";

/// PAX record prefix for extended attributes, as written by GNU tar, Go's archive/tar and docker.
pub const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Directory under `<snapshots>/<id>/` that holds the snapshot's tree (an overlay lower or upper
/// dir, or a native full copy). Written by the snapshotters, read by mounts.
pub const FS_DIR: &str = "fs";

/// Directory under `<snapshots>/<id>/` that overlayfs needs as `workdir=` of an active snapshot.
pub const WORK_DIR: &str = "work";

/// Prefix of directories under the snapshotter root that are not snapshots: a snapshot being
/// removed (`.removing-<id>-<nonce>`) or an overlay probe. [`crate::SnapshotId`]s cannot start
/// with a dot, so `list` never reports them.
pub const HIDDEN_PREFIX: &str = ".";
