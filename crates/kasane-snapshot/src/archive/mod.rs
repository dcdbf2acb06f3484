//! Layer tars ⇄ directory trees: [`apply`] (unpack) and [`diff`].
//!
//! Owns: the only code in kasane that turns an untrusted layer tar into files, and the code that
//! turns a snapshot directory back into a layer tar.
//!
//! # Model
//! A layer is an *uncompressed* tar stream (decompression is the caller's job) of changes to the
//! layers below it. Deletions are OCI whiteouts:
//! ```text
//! etc/                      directory (metadata only when it already exists)
//! etc/.wh.motd              delete etc/motd of the layers below
//! usr/share/doc/            
//! usr/share/doc/.wh..wh..opq  hide everything below usr/share/doc from the layers below
//! usr/share/doc/README      ...but keep what this layer adds
//! ```
//! Where the layer lands decides how whiteouts are written ([`WhiteoutMode`]):
//! - **Overlay**: into an empty directory that becomes an overlayfs lower/upper dir. `.wh.name`
//!   becomes a `0/0` character device `name`, the opaque marker becomes the xattr
//!   `trusted.overlay.opaque=y` on the directory — exactly what overlayfs writes itself.
//! - **Delete**: onto a full copy of the parent tree (the native snapshotter). `.wh.name` removes
//!   `name` recursively; the opaque marker removes every child of the directory that this layer
//!   did not create.
//!
//! As the OCI spec says, a whiteout applies to lower layers only: a whiteout for a path this
//! same layer created is ignored for files and turns an own directory opaque.
//!
//! # Confinement (hostile layers)
//! Every path is resolved below the target directory with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`, never `root.join(name)`. Entry names are first cleaned lexically as
//! if rooted: `/etc/x` lands at `root/etc/x` and `../../x` at `root/x` (containerd's behaviour;
//! docker rejects `..`). Symlinks created by the layer are followed *inside* the root only, with
//! `/` meaning the root. The last component is never followed: a file entry over a symlink
//! replaces the symlink. Hardlink targets are resolved the same way and a hardlink to a symlink
//! links the symlink itself. A parent that is a dangling symlink, a symlink loop, or a file used
//! as a directory is an error naming the entry. Nothing outside the root is ever created,
//! modified, chowned, chmodded or deleted.
//!
//! # Limits
//! Headers are read under a byte budget ([`Limits::max_pax_size`] plus room for GNU long
//! names), so a PAX header claiming a gigabyte fails after a megabyte; names longer than
//! [`Limits::max_path`] and more than [`Limits::max_entries`] entries are refused. File sizes are
//! believed only as far as the stream delivers: a short entry is [`crate::SnapshotError::Truncated`],
//! and so is a stream that stops without the end-of-archive block.
//!
//! # Reading the tar
//! `tar::Archive::entries()` frames the stream (never `unpack`). Because its PAX parser splits
//! records at newlines, every entry's headers are read again from the exact bytes it consumed,
//! by their length prefix as Go's archive/tar does: names (PAX `path` over a GNU long name over
//! the ustar name), link targets, owners, mtimes (PAX fractions kept) and `SCHILY.xattr.*` come
//! from that reading, and an entry whose size the two readings disagree on is refused.
//! Global PAX headers are skipped, GNU sparse files are expanded; PAX sparse formats and
//! `LIBARCHIVE.xattr.*` are not interpreted.
//!
//! # DiffID
//! Every byte read, end-of-archive blocks and trailing padding included, is hashed (sha256) on
//! a helper thread while entries are written, so hashing does not slow the unpack down.
//!
//! # Lifecycle
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kasane_snapshot::{archive, ApplyOptions, WhiteoutMode};
//! let layer = std::fs::File::open("layer.tar")?; // already decompressed
//! let opts = ApplyOptions { whiteouts: WhiteoutMode::Overlay, ..Default::default() };
//! let stats = archive::apply("/var/lib/kasane/snapshots/12/fs".as_ref(), layer, &opts)?;
//! println!("{} ({} bytes of files)", stats.diff_id, stats.content_size);
//! # Ok(()) }
//! ```
//!
//! # Durability
//! [`apply`] does not fsync: the snapshotter syncs the whole tree once at commit
//! ([`crate::sync_tree`]). A failed apply leaves a partial tree that the caller removes.
//!
//! # Spec
//! OCI image-spec `layer.md` (changesets, whiteouts, opaque whiteouts); POSIX pax
//! (`path`, `linkpath`, `mtime`, `uid`, `gid`, `size`), `SCHILY.xattr.*` as GNU tar writes it.

mod apply;
mod diff;
mod hashing;
mod headers;
mod pax;

pub use apply::apply;
pub use diff::diff;

use kasane_oci::DiffId;

/// How [`apply`] writes OCI whiteouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// As overlayfs whiteouts: `0/0` character devices and `trusted.overlay.opaque=y`.
    #[default]
    Overlay,
    /// By deleting from the tree below (the layer is applied onto a copy of its parent).
    Delete,
}

/// Bounds on untrusted layer input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest PAX extended header (or global header) in bytes.
    pub max_pax_size: u64,
    /// Longest entry name or link target in bytes (Linux `PATH_MAX`).
    pub max_path: usize,
    /// Most entries in one layer.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pax_size: 1 << 20,
            max_path: 4096,
            max_entries: 10_000_000,
        }
    }
}

/// Options of [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// How whiteouts are written.
    pub whiteouts: WhiteoutMode,
    /// Bounds on the input.
    pub limits: Limits,
    /// When set, the stream must hash to this DiffID or [`apply`] fails with
    /// [`crate::SnapshotError::DiffIdMismatch`] (after writing; the caller removes the tree).
    pub expected_diff_id: Option<DiffId>,
    /// Set owners from the tar (needs `CAP_CHOWN`). Off, files belong to the caller.
    pub preserve_owners: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            whiteouts: WhiteoutMode::Overlay,
            limits: Limits::default(),
            expected_diff_id: None,
            preserve_owners: true,
        }
    }
}

/// What [`apply`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyStats {
    /// sha256 of the whole uncompressed stream, end-of-archive blocks and padding included.
    pub diff_id: DiffId,
    /// Bytes in the uncompressed stream.
    pub tar_size: u64,
    /// Sum of regular file sizes (a hardlinked file counts once): docker's layer `Size`.
    pub content_size: u64,
    /// Tar entries applied (extension headers not counted).
    pub entries: u64,
    /// The content of every regular file written, for [`fingerprint_with`](crate::fingerprint_with).
    pub contents: crate::KnownContents,
}

/// What [`diff`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffMode {
    /// A plain tree: everything is content (a rootfs for `import`, a native snapshot's files).
    #[default]
    Plain,
    /// An overlayfs upper dir: `0/0` character devices are whiteouts, directories with
    /// `trusted.overlay.opaque=y` are opaque, other `trusted.overlay.*` xattrs are dropped.
    OverlayUpper,
}

/// What [`diff`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffStats {
    /// sha256 of the tar written.
    pub diff_id: DiffId,
    /// Bytes of tar written.
    pub size: u64,
    /// Sum of regular file sizes written (hardlinks once): docker's layer `Size`.
    pub content_size: u64,
}
