//! The native snapshotter: every snapshot is a full copy of its parent.
//!
//! For file systems overlayfs cannot use as an upper dir, and hosts without overlayfs. A layer
//! is applied onto a copy of its parent with [`WhiteoutMode::Delete`]; containers get a bind
//! mount of their own copy. Copies preserve hardlinks, owners, modes, xattrs, devices and
//! mtimes, and use `copy_file_range` (reflinks on btrfs/XFS). Disk use grows with every layer.

use std::path::{Path, PathBuf};

use super::{Layout, Mount, SnapshotId, Snapshotter, Usage, copy, stack_mounts};
use crate::archive::WhiteoutMode;
use crate::error::SnapshotError;

/// Snapshots that are full copies of their parents.
#[derive(Debug, Clone)]
pub struct Native {
    layout: Layout,
}

impl Native {
    /// Opens (creating if needed) the snapshot root `root`.
    ///
    /// # Errors
    /// [`SnapshotError::InvalidRoot`] for a path that is not UTF-8 or has `,`/`:`; I/O errors.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, SnapshotError> {
        Ok(Native {
            layout: Layout::open(root.as_ref())?,
        })
    }

    /// The snapshot root.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// Creates `id` as a copy of `parents[0]` (or empty).
    fn create_copy(
        &self,
        id: &SnapshotId,
        parents: &[SnapshotId],
        work: bool,
    ) -> Result<PathBuf, SnapshotError> {
        let src = parents
            .first()
            .map(|p| self.layout.require(p))
            .transpose()?;
        let fs = self.layout.create(id, work)?;
        if let Some(src) = src {
            copy::copy_tree(&src, &fs).inspect_err(|_| self.layout.cleanup(id))?;
        }
        Ok(fs)
    }
}

impl Snapshotter for Native {
    fn prepare_layer(
        &self,
        id: &SnapshotId,
        parents: &[SnapshotId],
    ) -> Result<PathBuf, SnapshotError> {
        self.create_copy(id, parents, false)
    }

    fn whiteout_mode(&self) -> WhiteoutMode {
        WhiteoutMode::Delete
    }

    fn commit(&self, id: &SnapshotId) -> Result<(), SnapshotError> {
        self.layout.commit(id)
    }

    fn prepare_active(
        &self,
        id: &SnapshotId,
        parents: &[SnapshotId],
    ) -> Result<Vec<Mount>, SnapshotError> {
        self.create_copy(id, parents, false)?;
        self.mounts(id, parents)
            .inspect_err(|_| self.layout.cleanup(id))
    }

    fn mounts(
        &self,
        id: &SnapshotId,
        _parents: &[SnapshotId],
    ) -> Result<Vec<Mount>, SnapshotError> {
        self.layout.require(id)?;
        Ok(stack_mounts(
            Some((self.layout.fs_str(id), String::new())),
            &[],
        ))
    }

    fn view(&self, id: &SnapshotId, _parents: &[SnapshotId]) -> Result<Vec<Mount>, SnapshotError> {
        self.layout.require(id)?;
        Ok(stack_mounts(None, &[self.layout.fs_str(id)]))
    }

    fn fs_dir(&self, id: &SnapshotId) -> PathBuf {
        self.layout.fs(id)
    }

    fn remove(&self, id: &SnapshotId) -> Result<(), SnapshotError> {
        self.layout.remove(id)
    }

    fn usage(&self, id: &SnapshotId) -> Result<Usage, SnapshotError> {
        self.layout.usage(id)
    }

    fn list(&self) -> Result<Vec<SnapshotId>, SnapshotError> {
        self.layout.list()
    }
}
