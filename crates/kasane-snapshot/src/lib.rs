//! Snapshots and layers: where image layers are unpacked, how they are stacked into a
//! container's root file system, and how a file system becomes a layer again.
//!
//! Owns:
//! - [`archive::apply`] / [`archive::diff`]: layer tar ⇄ directory tree, with OCI whiteouts
//!   written as overlayfs whiteouts or as deletions, hostile-input confinement and the DiffID
//!   computed on the way;
//! - [`Snapshotter`] with [`Overlay`] (default) and [`Native`] (full copies), directories named
//!   by [`SnapshotId`] and stacked with plain-data [`Mount`]s;
//! - [`fingerprint`] / [`listing`] / [`usage`]: the canonical description of a tree, so that a
//!   snapshot can be re-verified long after its DiffID was checked;
//! - the only mount code of kasane ([`mount_all`], [`unmount`], [`sync_tree`]), in `sys`.
//!
//! It does not own metadata (chain ID ↔ snapshot, parents, committed or active): that is the
//! store's SQLite. Decompression is the caller's, too.
//!
//! # Layout
//! ```text
//! <state>/snapshots/
//! ├── <id>/fs      a layer (overlay: its own changes; native: the whole tree)
//! └── <id>/work    overlay workdir of an active (container) snapshot
//! ```
//!
//! # Lifecycle
//! pull: `prepare_layer` → [`archive::apply`] (DiffID checked) → `commit` → the store records
//! chain ID → id and [`fingerprint`]. run: `prepare_active` on the image's layers → [`mount_all`].
//! build: a RUN's active snapshot's `fs` is its upper dir → [`archive::diff`] with
//! [`DiffMode::OverlayUpper`] → new layer. See the [`snapshotter`] module for a worked example.
//!
//! # Guarantees
//! - A layer never writes, chmods, chowns or deletes outside the directory it is applied into
//!   (see [`archive`] for the rules and `tests/hostile.rs` for the corpus that checks them).
//! - Untrusted input is bounded ([`Limits`]).
//! - Nothing is durable before `commit` (one `syncfs`).
//!
//! # Spec
//! OCI image-spec `layer.md` (changesets, whiteouts); overlayfs
//! (`Documentation/filesystems/overlayfs.rst`); containerd's snapshotter model.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod archive;
pub mod consts;
mod error;
pub mod snapshotter;
mod sys;
#[cfg(feature = "testsuite")]
pub mod testsuite;
mod tree;
mod walk;

pub use archive::{ApplyOptions, ApplyStats, DiffMode, DiffStats, Limits, WhiteoutMode};
pub use error::{ErrorKind, SnapshotError};
pub use snapshotter::{Mount, Native, Overlay, SnapshotId, Snapshotter, overlay_supported};
pub use sys::{mount_all, open_in_root, sync_tree, unmount};
pub use tree::{KnownContents, TreeEntry, Usage, fingerprint, fingerprint_with, listing, usage};
