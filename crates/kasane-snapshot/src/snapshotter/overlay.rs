//! The overlay snapshotter: each layer is its own directory, stacked by overlayfs.
//!
//! A layer is applied into an empty `fs` with [`WhiteoutMode::Overlay`], so layers of one image
//! unpack independently (in parallel, before their parents exist). An active snapshot's `fs` is
//! the overlay upper dir, so a container's changes *are* its layer diff.

use std::path::{Path, PathBuf};

use super::{Layout, Mount, SnapshotId, Snapshotter, Usage, stack_mounts};
use crate::archive::WhiteoutMode;
use crate::error::SnapshotError;

/// Snapshots stacked with overlayfs (the default).
#[derive(Debug, Clone)]
pub struct Overlay {
    layout: Layout,
}

impl Overlay {
    /// Opens (creating if needed) the snapshot root `root`.
    ///
    /// Does not check that overlayfs works there: see [`overlay_supported`].
    ///
    /// # Errors
    /// [`SnapshotError::InvalidRoot`] if the path has `,` or `:` (they would break mount
    /// options) or is not UTF-8; I/O errors creating it.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, SnapshotError> {
        Ok(Overlay {
            layout: Layout::open(root.as_ref())?,
        })
    }

    /// The snapshot root.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    fn lowers(&self, ids: &[&SnapshotId]) -> Result<Vec<String>, SnapshotError> {
        ids.iter()
            .map(|id| {
                self.layout.require(id)?;
                Ok(self.layout.fs_str(id))
            })
            .collect()
    }
}

impl Snapshotter for Overlay {
    fn prepare_layer(
        &self,
        id: &SnapshotId,
        _parents: &[SnapshotId],
    ) -> Result<PathBuf, SnapshotError> {
        self.layout.create(id, false)
    }

    fn whiteout_mode(&self) -> WhiteoutMode {
        WhiteoutMode::Overlay
    }

    fn commit(&self, id: &SnapshotId) -> Result<(), SnapshotError> {
        self.layout.commit(id)
    }

    fn prepare_active(
        &self,
        id: &SnapshotId,
        parents: &[SnapshotId],
    ) -> Result<Vec<Mount>, SnapshotError> {
        let lowers: Vec<&SnapshotId> = parents.iter().collect();
        self.lowers(&lowers)?;
        self.layout.create(id, true)?;
        self.mounts(id, parents)
            .inspect_err(|_| self.layout.cleanup(id))
    }

    fn mounts(&self, id: &SnapshotId, parents: &[SnapshotId]) -> Result<Vec<Mount>, SnapshotError> {
        self.layout.require(id)?;
        let lowers: Vec<&SnapshotId> = parents.iter().collect();
        let lowers = self.lowers(&lowers)?;
        let upper = (self.layout.fs_str(id), self.layout.work_str(id));
        Ok(stack_mounts(Some(upper), &lowers))
    }

    fn view(&self, id: &SnapshotId, parents: &[SnapshotId]) -> Result<Vec<Mount>, SnapshotError> {
        let ids: Vec<&SnapshotId> = std::iter::once(id).chain(parents).collect();
        let lowers = self.lowers(&ids)?;
        Ok(stack_mounts(None, &lowers))
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

/// Whether overlayfs can be mounted with kasane's options on top of directories in `root`
/// (a real mount of two lowers, an upper and a work dir, then an unmount). Needs
/// `CAP_SYS_ADMIN`; false when not privileged, when the kernel lacks overlayfs, or when `root`'s
/// file system cannot be an upper dir (no `trusted.*` xattrs, no `d_type`).
pub fn overlay_supported(root: &Path) -> bool {
    match probe(root) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(root = %root.display(), error = %e, "overlayfs probe failed");
            false
        }
    }
}

fn probe(root: &Path) -> Result<(), SnapshotError> {
    let layout = Layout::open(root)?;
    let nonce: u64 = rand::random();
    let dir = layout.root().join(format!(".overlay-probe-{nonce:016x}"));
    let io_err = |source| SnapshotError::Io {
        op: "creating overlay probe",
        path: dir.clone(),
        source,
    };
    for sub in ["l1", "l2", "u", "w", "m"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io_err)?;
    }
    let s = |p: &str| dir.join(p).to_string_lossy().into_owned();
    let mounts = stack_mounts(Some((s("u"), s("w"))), &[s("l2"), s("l1")]);
    let target = dir.join("m");
    let result = crate::sys::mount_all(&mounts, &target).and_then(|()| {
        // A whiteout must be creatable in the upper dir (it needs mknod in the upper fs).
        let w = std::fs::write(target.join("f"), b"x")
            .and_then(|()| std::fs::remove_file(target.join("f")));
        let u = crate::sys::unmount(&target);
        w.map_err(io_err)?;
        u
    });
    let cleanup = super::remove_dir(&dir);
    result?;
    cleanup
}
