//! Snapshotters: the directories that hold unpacked layers and containers' writable layers,
//! and the [`Mount`]s that stack them into a root file system.
//!
//! Owns: everything under `<root>/` (kasane uses `<state>/snapshots/`). It does not own
//! metadata: which chain ID a snapshot holds, who its parents are and whether it is committed
//! live in the caller's SQLite. Here a snapshot is only a directory named by a caller-chosen
//! [`SnapshotId`].
//!
//! # Layout
//! ```text
//! <root>/
//! ├── 1/fs/              a committed layer (overlay: just this layer's changes, whiteouts as
//! │                      0/0 devices; native: the full tree up to this layer)
//! ├── 2/fs/
//! ├── 7/fs/  7/work/     an active snapshot: overlay upperdir and workdir
//! └── .removing-3-…/     a snapshot being removed (never listed; swept by `open`)
//! ```
//!
//! # Lifecycle
//! Importing a layer (pull), for a stack `L1 ← L2`:
//! ```no_run
//! # fn main() -> Result<(), kasane_snapshot::SnapshotError> {
//! use kasane_snapshot::{archive, ApplyOptions, Overlay, SnapshotId, Snapshotter};
//! let sn = Overlay::open("/var/lib/kasane/snapshots")?;
//! let (l1, l2): (SnapshotId, SnapshotId) = ("1".parse()?, "2".parse()?);
//! # let (tar1, tar2) = (std::io::empty(), std::io::empty());
//! let opts = ApplyOptions { whiteouts: sn.whiteout_mode(), ..Default::default() };
//! let dir = sn.prepare_layer(&l1, &[])?;
//! archive::apply(&dir, tar1, &opts)?;          // check the DiffID, or remove(&l1)
//! sn.commit(&l1)?;
//! let dir = sn.prepare_layer(&l2, &[l1.clone()])?;
//! archive::apply(&dir, tar2, &opts)?;
//! sn.commit(&l2)?;
//! // Running a container: a writable layer on top, mounted as its rootfs.
//! let c: SnapshotId = "c1".parse()?;
//! let mounts = sn.prepare_active(&c, &[l2.clone(), l1.clone()])?;
//! kasane_snapshot::mount_all(&mounts, "/run/kasane/c1/rootfs".as_ref())?;
//! # Ok(()) }
//! ```
//! `parents` are always ordered **nearest first** (the direct parent, then its parent, down to
//! the base layer), which is also overlayfs' `lowerdir=` order.
//!
//! # Concurrency and durability
//! Distinct IDs can be used from many threads and processes at once; the caller serialises
//! operations on one ID (its metadata transaction does). `prepare_*` fails with
//! [`SnapshotError::AlreadyExists`] if the ID's directory exists, so two racing prepares cannot
//! both win. Nothing is durable before [`Snapshotter::commit`] (`syncfs`). A crash leaves
//! directories the caller's metadata does not know: [`Snapshotter::list`] reports them for
//! garbage collection.
//!
//! # Spec
//! The model is containerd's `core/snapshots/snapshotter.go` ("Importing a Layer", "Running a
//! Container"); overlay options per the kernel's `Documentation/filesystems/overlayfs.rst`.

mod copy;
mod native;
mod overlay;

pub use native::Native;
pub use overlay::{Overlay, overlay_supported};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::archive::WhiteoutMode;
use crate::consts::{FS_DIR, HIDDEN_PREFIX, WORK_DIR};
use crate::error::SnapshotError;
pub use crate::tree::Usage;

/// The name of a snapshot directory, chosen by the caller (kasane uses its SQLite row id).
///
/// 1–128 characters of `[A-Za-z0-9_.-]`, not starting with `.`: it is used as a directory name
/// and inside overlay mount options, where `/`, `,` and `:` would break things.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotId(String);

impl SnapshotId {
    /// The ID as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SnapshotId {
    type Err = SnapshotError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let reason = if s.is_empty() {
            Some("empty")
        } else if s.len() > 128 {
            Some("longer than 128 characters")
        } else if s.starts_with('.') {
            Some("starts with a dot")
        } else if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            Some("only letters, digits, '_', '.' and '-' are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(SnapshotError::InvalidId {
                id: s.to_owned(),
                reason,
            }),
            None => Ok(SnapshotId(s.to_owned())),
        }
    }
}

impl TryFrom<String> for SnapshotId {
    type Error = SnapshotError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A mount, as plain data: what an OCI runtime spec's `mounts` entry or [`crate::mount_all`]
/// needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mount {
    /// The file system type: `overlay` or `bind`.
    pub kind: String,
    /// The source: `overlay`, or the directory to bind.
    pub source: String,
    /// Where to mount, relative to the target given at mount time; `None` is the target itself.
    pub target: Option<String>,
    /// Mount options. Overlay: `lowerdir=` (top-most first), `upperdir=`, `workdir=`, plus
    /// `index=off`, `redirect_dir=off`, `metacopy=off` so that the upper dir stays a plain
    /// diff. Bind: `rbind`, and `ro` or `rw`.
    pub options: Vec<String>,
}

/// The overlay option that skips every sync of the upper directory (Linux 5.10+).
pub(crate) const VOLATILE: &str = "volatile";

impl Mount {
    /// Makes a writable overlay skip every sync of its upper directory ([`VOLATILE`]): for
    /// a container removed when it ends (`--rm`), whose changes nobody keeps, unmounting
    /// then does not flush the upper file system. Other mounts are left as they are. The
    /// kernel refuses to mount directories a volatile mount used until the mark it leaves
    /// is cleared; [`crate::mount_all`] clears it, as a throw-away layer has nothing to lose.
    pub fn make_volatile(&mut self) {
        let writable = self.options.iter().any(|o| o.starts_with("upperdir="));
        if self.kind == "overlay" && writable && !self.options.iter().any(|o| o == VOLATILE) {
            self.options.push(VOLATILE.to_owned());
        }
    }
}

/// A store of snapshot directories and the mounts that stack them.
///
/// Implementations: [`Overlay`] (the default: layers are stacked by overlayfs, so they unpack
/// independently and in parallel) and [`Native`] (each snapshot is a full copy of its parent,
/// for file systems overlayfs cannot use). Both pass the conformance suite in
/// `kasane_snapshot::testsuite` (feature `testsuite`).
pub trait Snapshotter: Send + Sync {
    /// Creates snapshot `id` for unpacking a layer whose ancestors are `parents` (nearest
    /// first), and returns the directory to [`crate::archive::apply`] the layer into, with
    /// [`Self::whiteout_mode`].
    ///
    /// Overlay returns an empty directory and does not look at `parents` (they need not exist
    /// yet: layers unpack in parallel). Native returns a full copy of `parents[0]`, which must
    /// be committed.
    ///
    /// # Errors
    /// [`SnapshotError::AlreadyExists`] if `id` exists (committed, active or left over by a
    /// crash); [`SnapshotError::NotFound`] if Native's parent is missing.
    fn prepare_layer(
        &self,
        id: &SnapshotId,
        parents: &[SnapshotId],
    ) -> Result<PathBuf, SnapshotError>;

    /// How layers must be applied into directories from [`Self::prepare_layer`].
    fn whiteout_mode(&self) -> WhiteoutMode;

    /// Makes snapshot `id` durable (one `syncfs` of its file system). The caller records it as
    /// committed afterwards; a committed snapshot must not be written again.
    ///
    /// # Errors
    /// [`SnapshotError::NotFound`] if `id` does not exist; I/O errors of the sync.
    fn commit(&self, id: &SnapshotId) -> Result<(), SnapshotError>;

    /// Creates the writable snapshot `id` on top of the committed `parents` (nearest first;
    /// empty for a scratch container) and returns the mounts of its root file system.
    ///
    /// # Errors
    /// [`SnapshotError::AlreadyExists`] if `id` exists; [`SnapshotError::NotFound`] if Native's
    /// parent is missing.
    fn prepare_active(
        &self,
        id: &SnapshotId,
        parents: &[SnapshotId],
    ) -> Result<Vec<Mount>, SnapshotError>;

    /// The mounts of the active snapshot `id` made by [`Self::prepare_active`] with the same
    /// `parents` (to mount it again, for example after a reboot). Creates nothing.
    ///
    /// # Errors
    /// [`SnapshotError::NotFound`] if `id` does not exist.
    fn mounts(&self, id: &SnapshotId, parents: &[SnapshotId]) -> Result<Vec<Mount>, SnapshotError>;

    /// Read-only mounts showing the committed snapshot `id` on top of its `parents` (nearest
    /// first). Creates nothing; a single directory is a read-only bind.
    ///
    /// # Errors
    /// [`SnapshotError::NotFound`] if `id` does not exist.
    fn view(&self, id: &SnapshotId, parents: &[SnapshotId]) -> Result<Vec<Mount>, SnapshotError>;

    /// The directory holding `id`'s own tree (`<root>/<id>/fs`): for Overlay an active
    /// snapshot's upper dir, which [`crate::archive::diff`] turns into a layer with
    /// [`crate::DiffMode::OverlayUpper`]. Does not check that `id` exists.
    fn fs_dir(&self, id: &SnapshotId) -> PathBuf;

    /// Removes snapshot `id` entirely. A missing `id` is success. The snapshot must not be
    /// mounted, and no other snapshot may still use it as a parent (the caller checks both).
    ///
    /// # Errors
    /// I/O errors; a partly removed snapshot is no longer listed and is swept on the next open.
    fn remove(&self, id: &SnapshotId) -> Result<(), SnapshotError>;

    /// Disk usage of `id`'s own directory. Walks the tree: cost grows with its file count.
    ///
    /// # Errors
    /// [`SnapshotError::NotFound`] if `id` does not exist.
    fn usage(&self, id: &SnapshotId) -> Result<Usage, SnapshotError>;

    /// The snapshots present on disk, in no particular order: for finding orphans the metadata
    /// does not know.
    ///
    /// # Errors
    /// I/O errors reading the root.
    fn list(&self) -> Result<Vec<SnapshotId>, SnapshotError>;
}

/// The on-disk layout both snapshotters share.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Creates `root` if needed, checks it can appear in mount options, sweeps interrupted
    /// removals.
    pub(crate) fn open(root: &Path) -> Result<Layout, SnapshotError> {
        let io_err = |op, source| SnapshotError::Io {
            op,
            path: root.to_path_buf(),
            source,
        };
        let abs = std::path::absolute(root).map_err(|e| io_err("resolving", e))?;
        let Some(s) = abs.to_str() else {
            return Err(SnapshotError::InvalidRoot {
                path: abs,
                reason: "not UTF-8",
            });
        };
        if s.contains([',', ':']) {
            return Err(SnapshotError::InvalidRoot {
                path: abs,
                reason: "',' and ':' cannot appear in overlay mount options",
            });
        }
        std::fs::create_dir_all(&abs).map_err(|e| io_err("creating", e))?;
        let layout = Layout { root: abs };
        layout.sweep();
        Ok(layout)
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn dir(&self, id: &SnapshotId) -> PathBuf {
        self.root.join(id.as_str())
    }

    pub(crate) fn fs(&self, id: &SnapshotId) -> PathBuf {
        self.dir(id).join(FS_DIR)
    }

    pub(crate) fn work(&self, id: &SnapshotId) -> PathBuf {
        self.dir(id).join(WORK_DIR)
    }

    /// `<root>/<id>/fs` as a string for mount options (the root is checked to be UTF-8).
    pub(crate) fn fs_str(&self, id: &SnapshotId) -> String {
        self.fs(id).to_string_lossy().into_owned()
    }

    pub(crate) fn work_str(&self, id: &SnapshotId) -> String {
        self.work(id).to_string_lossy().into_owned()
    }

    /// Creates `<root>/<id>/fs` (and `work` for active snapshots); fails if `<root>/<id>` exists.
    pub(crate) fn create(&self, id: &SnapshotId, work: bool) -> Result<PathBuf, SnapshotError> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = self.dir(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(SnapshotError::AlreadyExists { id: id.clone() });
            }
            Err(source) => {
                return Err(SnapshotError::Io {
                    op: "creating snapshot directory",
                    path: dir,
                    source,
                });
            }
        }
        let made = (|| {
            let fs = self.fs(id);
            std::fs::DirBuilder::new().mode(0o755).create(&fs)?;
            // The root of a container's file system: not narrowed by the caller's umask.
            std::fs::set_permissions(&fs, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
            if work {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(self.work(id))?;
            }
            Ok(fs)
        })();
        made.map_err(|source| {
            self.cleanup(id);
            SnapshotError::Io {
                op: "creating snapshot directory",
                path: self.dir(id),
                source,
            }
        })
    }

    /// Removes a half-made snapshot after a failure; the original error is what matters.
    pub(crate) fn cleanup(&self, id: &SnapshotId) {
        if let Err(e) = self.remove(id) {
            tracing::warn!(snapshot = %id, error = %e, "removing a half-prepared snapshot");
        }
    }

    /// `<root>/<id>/fs`, which must exist.
    pub(crate) fn require(&self, id: &SnapshotId) -> Result<PathBuf, SnapshotError> {
        let fs = self.fs(id);
        match std::fs::symlink_metadata(&fs) {
            Ok(m) if m.is_dir() => Ok(fs),
            Ok(_) => Err(SnapshotError::NotFound { id: id.clone() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(SnapshotError::NotFound { id: id.clone() })
            }
            Err(source) => Err(SnapshotError::Io {
                op: "reading snapshot",
                path: fs,
                source,
            }),
        }
    }

    pub(crate) fn commit(&self, id: &SnapshotId) -> Result<(), SnapshotError> {
        let fs = self.require(id)?;
        crate::sys::sync_tree(&fs)
    }

    /// Renames `<root>/<id>` out of the namespace first, so a crash mid-way never leaves a
    /// half-deleted directory under a valid ID.
    pub(crate) fn remove(&self, id: &SnapshotId) -> Result<(), SnapshotError> {
        let dir = self.dir(id);
        let nonce: u64 = rand::random();
        let trash = self
            .root
            .join(format!("{HIDDEN_PREFIX}removing-{id}-{nonce:016x}"));
        match std::fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(SnapshotError::Io {
                    op: "removing snapshot",
                    path: dir,
                    source,
                });
            }
        }
        remove_dir(&trash)
    }

    pub(crate) fn usage(&self, id: &SnapshotId) -> Result<Usage, SnapshotError> {
        let fs = self.require(id)?;
        crate::tree::usage(&fs)
    }

    pub(crate) fn list(&self) -> Result<Vec<SnapshotId>, SnapshotError> {
        let io_err = |source| SnapshotError::Io {
            op: "listing snapshots in",
            path: self.root.clone(),
            source,
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with(HIDDEN_PREFIX) || !entry.file_type().map_err(io_err)?.is_dir() {
                continue;
            }
            if let Ok(id) = name.parse() {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Finishes removals a crash interrupted. Best effort: a failure only leaves garbage.
    fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(".removing-")
                && let Err(e) = remove_dir(&entry.path())
            {
                tracing::warn!(error = %e, "sweeping an interrupted snapshot removal");
            }
        }
    }
}

/// Removes a directory tree without following symlinks in it.
fn remove_dir(path: &Path) -> Result<(), SnapshotError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let Some(name) = path.file_name() else {
        return Ok(());
    };
    let pfd = crate::sys::open_dir(parent).map_err(|source| SnapshotError::Io {
        op: "opening",
        path: parent.to_path_buf(),
        source,
    })?;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;
    crate::walk::remove_tree(pfd.as_fd(), name.as_bytes(), parent)
}

/// Mounts of a snapshot stack. `upper` is `(upperdir, workdir)` of an active snapshot;
/// `lowers` are read-only layers, top-most first.
pub(crate) fn stack_mounts(upper: Option<(String, String)>, lowers: &[String]) -> Vec<Mount> {
    let bind = |source: &str, mode: &str| Mount {
        kind: "bind".to_owned(),
        source: source.to_owned(),
        target: None,
        options: vec!["rbind".to_owned(), mode.to_owned()],
    };
    match (upper, lowers) {
        (Some((up, _)), []) => vec![bind(&up, "rw")],
        (None, [one]) => vec![bind(one, "ro")],
        (upper, lowers) => {
            let mut options = vec![
                "index=off".to_owned(),
                "redirect_dir=off".to_owned(),
                "metacopy=off".to_owned(),
            ];
            match upper {
                Some((up, work)) => {
                    options.push(format!("upperdir={up}"));
                    options.push(format!("workdir={work}"));
                }
                None => options.push("ro".to_owned()),
            }
            options.push(format!("lowerdir={}", lowers.join(":")));
            vec![Mount {
                kind: "overlay".to_owned(),
                source: "overlay".to_owned(),
                target: None,
                options,
            }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids() {
        for ok in ["1", "sha256-abc", "a.b_c-D"] {
            assert!(ok.parse::<SnapshotId>().is_ok(), "{ok}");
        }
        for bad in ["", ".x", "a/b", "a:b", "a,b", "..", &"x".repeat(129)] {
            assert!(bad.parse::<SnapshotId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mounts_for_stacks() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            stack_mounts(Some(("/u".into(), "/w".into())), &[]),
            [Mount {
                kind: "bind".into(),
                source: "/u".into(),
                target: None,
                options: s(&["rbind", "rw"]),
            }]
        );
        assert_eq!(
            stack_mounts(None, &s(&["/a"]))[0].options,
            s(&["rbind", "ro"])
        );
        assert_eq!(
            stack_mounts(None, &s(&["/b", "/a"]))[0].options,
            s(&[
                "index=off",
                "redirect_dir=off",
                "metacopy=off",
                "ro",
                "lowerdir=/b:/a"
            ])
        );
        assert_eq!(
            stack_mounts(Some(("/u".into(), "/w".into())), &s(&["/a"]))[0].options,
            s(&[
                "index=off",
                "redirect_dir=off",
                "metacopy=off",
                "upperdir=/u",
                "workdir=/w",
                "lowerdir=/a"
            ])
        );
    }

    #[test]
    fn only_writable_overlays_become_volatile() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut rw = stack_mounts(Some(("/u".into(), "/w".into())), &s(&["/a"]));
        rw.iter_mut().for_each(Mount::make_volatile);
        rw.iter_mut().for_each(Mount::make_volatile);
        let volatile = rw[0].options.iter().filter(|o| *o == VOLATILE).count();
        assert_eq!(volatile, 1, "{rw:?}");
        for mut m in [
            stack_mounts(None, &s(&["/b", "/a"])),
            stack_mounts(Some(("/u".into(), "/w".into())), &[]),
        ] {
            let before = m.clone();
            m.iter_mut().for_each(Mount::make_volatile);
            assert_eq!(m, before);
        }
    }

    #[test]
    fn layout_create_remove_list() {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::open(t.path()).unwrap();
        let id: SnapshotId = "a".parse().unwrap();
        l.create(&id, true).unwrap();
        assert!(matches!(
            l.create(&id, false),
            Err(SnapshotError::AlreadyExists { .. })
        ));
        assert_eq!(l.list().unwrap(), std::slice::from_ref(&id));
        l.remove(&id).unwrap();
        l.remove(&id).unwrap();
        assert!(l.list().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
        assert!(matches!(l.commit(&id), Err(SnapshotError::NotFound { .. })));
    }
}
