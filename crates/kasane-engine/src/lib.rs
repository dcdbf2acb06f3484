//! The engine: the one place that knows every component and wires them into docker's
//! operations (images, import, load, save, tag, rmi, prune, df, check; later pull, push,
//! build and containers).
//!
//! Owns the state root:
//! ```text
//! <root>     /var/lib/kasane as root, $XDG_DATA_HOME/kasane otherwise; --root / KASANE_ROOT
//! ├── kasane.db              metadata (kasane_store::metadata)
//! ├── gc.lock                taken exclusively by garbage collection
//! ├── blobs/ ingest/ tmp/    the content store (kasane_store::local)
//! ├── manifests/             manifest lists being assembled (manifest_list)
//! └── snapshots/
//!     ├── driver             "overlay" or "native", fixed when the root is created
//!     └── <id>/{fs,work}     snapshot directories (kasane_snapshot)
//! ```
//! Every operation is a method on [`Engine`] that takes resolved options and returns plain
//! data; the CLI formats it. Operations that create content take a [`lease`] first, so a
//! concurrent garbage collection never removes their work, and a killed operation leaves only
//! garbage that the next collection removes.

pub mod containers;
pub mod error;
pub mod filter;
pub mod images;
pub mod lease;
pub mod manifest_list;
pub mod pull;
pub mod push;
pub mod unpack;
pub mod volumes;

mod archive_io;
mod blob_io;
mod changes;
mod check;
mod gc;
mod import;
mod new_image;
mod remove;
mod resolve;
mod usage;

pub use archive_io::{ArchiveFormat, LoadReport};
pub use check::CheckReport;
pub use error::{EngineError, ErrorKind, Result};
pub use gc::GcReport;
pub use images::{HistoryEntry, ImageDetails, ImageSummary};
pub use import::ImportOptions;
pub use pull::{PullOptions, PullReport};
pub use push::{PushEvent, PushOptions, PushReport};
pub use remove::{PruneOptions, PruneReport, RemoveEvent};
pub use resolve::display_name;
pub use usage::{DiskUsage, ImageUsage};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kasane_snapshot::Snapshotter;
use kasane_store::local::LocalStore;
use kasane_store::metadata::Metadata;

/// Which snapshotter a new state root uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotterKind {
    /// Overlay where the filesystem supports it, else native.
    #[default]
    Auto,
    /// overlayfs: layers are stacked, never copied.
    Overlay,
    /// Full copies: works on any filesystem, costs space.
    Native,
}

/// Options for [`Engine::open`].
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// The state root (see the crate docs). Empty means the default for this user.
    pub root: PathBuf,
    /// Snapshotter for a new root; an existing root keeps the one it was created with.
    pub snapshotter: SnapshotterKind,
}

/// The default state root: `/var/lib/kasane` for root, `$XDG_DATA_HOME/kasane`
/// (or `~/.local/share/kasane`) otherwise.
pub fn default_root() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/kasane");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("kasane");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/kasane"),
        None => PathBuf::from("/var/lib/kasane"),
    }
}

/// An open state root.
pub struct Engine {
    root: PathBuf,
    store: Arc<LocalStore>,
    metadata: Metadata,
    snapshots: Arc<dyn Snapshotter>,
    snapshots_root: PathBuf,
    /// `overlay` or `native`: which snapshotter `snapshots` is.
    driver: &'static str,
}

impl Engine {
    /// Opens (creating if needed) the state root.
    ///
    /// # Errors
    /// I/O errors creating the layout; a database from a newer kasane; an overlay snapshotter
    /// requested on a filesystem without overlay support.
    pub fn open(opts: &EngineOptions) -> Result<Engine> {
        let root = if opts.root.as_os_str().is_empty() {
            default_root()
        } else {
            opts.root.clone()
        };
        // Absolute, because the root reaches processes with another working directory: a
        // runtime's `--log` and `--root` (crun works in the bundle directory), the monitor.
        let root = std::path::absolute(&root)
            .map_err(|e| EngineError::io(format!("resolving state root {}", root.display()), e))?;
        std::fs::create_dir_all(&root)
            .map_err(|e| EngineError::io(format!("creating state root {}", root.display()), e))?;
        let store = Arc::new(LocalStore::open(&root)?);
        let metadata = Metadata::open(&root.join("kasane.db"))?;
        let snapshots_root = root.join("snapshots");
        let (snapshots, driver) = open_snapshotter(&snapshots_root, opts.snapshotter)?;
        Ok(Engine {
            root,
            store,
            metadata,
            snapshots,
            snapshots_root,
            driver,
        })
    }

    /// The state root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store.
    pub fn store(&self) -> &LocalStore {
        &self.store
    }

    /// Name of the snapshotter in use (`overlay` or `native`).
    pub fn snapshotter_name(&self) -> &'static str {
        self.driver
    }

    fn gc_lock_path(&self) -> PathBuf {
        self.root.join("gc.lock")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

/// Parses a snapshot directory id stored in the metadata.
pub(crate) fn snap_id(s: &str) -> Result<kasane_snapshot::SnapshotId> {
    Ok(s.parse()?)
}

fn open_snapshotter(
    dir: &Path,
    wanted: SnapshotterKind,
) -> Result<(Arc<dyn Snapshotter>, &'static str)> {
    use kasane_snapshot::{Native, Overlay};
    std::fs::create_dir_all(dir)
        .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))?;
    let marker = dir.join("driver");
    let existing = match std::fs::read_to_string(&marker) {
        Ok(s) => Some(s.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(EngineError::io(format!("reading {}", marker.display()), e)),
    };
    let name = match existing {
        Some(name) => name,
        None => {
            let name = match wanted {
                SnapshotterKind::Overlay => "overlay",
                SnapshotterKind::Native => "native",
                SnapshotterKind::Auto => {
                    if kasane_snapshot::overlay_supported(dir) {
                        "overlay"
                    } else {
                        "native"
                    }
                }
            };
            kasane_store::atomic::write_atomic(&marker, format!("{name}\n").as_bytes())?;
            name.to_owned()
        }
    };
    match name.as_str() {
        "overlay" => Ok((Arc::new(Overlay::open(dir)?), "overlay")),
        "native" => Ok((Arc::new(Native::open(dir)?), "native")),
        other => Err(EngineError::InvalidArgument(format!(
            "unknown snapshotter {other:?} in {}",
            marker.display()
        ))),
    }
}
