//! A container's files and processes: `diff`, `cp`, `commit` and `top`.
//!
//! # Confinement
//! Everything inside a container is hostile: its symlinks may point anywhere, absolute or
//! with `..`, and a running container may swap directories for symlinks while kasane works.
//! So no container path is ever joined to a host path and handed to `std::fs`. Paths are
//! cleaned lexically first (docker's `cleanScopedPath`), then resolved component by component
//! from a handle on the container's root: symlinks are read with `readlinkat` and followed
//! with the root as `/` ([`resolve_in_root`]), and every open is an
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the root handle or an `openat`
//! with `O_NOFOLLOW` from a directory handle. Regular files are opened `O_PATH` first and
//! re-opened only once `fstat` says they are regular files, so a device node is never opened.
//! Files copied *into* a container go through [`kasane_snapshot::archive::apply`], the
//! hardened extractor used for hostile layers, rooted at the container's root.
//!
//! # Which root
//! A running container is reached through `/proc/<init>/root` (its own mount namespace, so
//! volumes and the `/etc/hosts` files are what the container sees), checked to be the
//! container's overlay mount so a recycled pid cannot point kasane at the host's root. A
//! stopped container's rootfs is mounted for the operation under its monitor lock, so it
//! cannot start meanwhile.
//!
//! # `diff`
//! Overlay: the container's upper dir *is* its change set. Every node in it is `A` (added) or
//! `C` (changed: the path exists in the image's layers, looked up top-first the way overlayfs
//! merges them), a `0/0` character device is `D`, and for an opaque directory every path of
//! the layers below that it hides is `D`. Parent directories of a change show as `C` because
//! overlayfs copies them up. Native: the container's tree is compared with the image's top
//! layer (docker's `ChangesDirs`). Output is in walk order: parents first, siblings by name.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kasane_oci::{DiffId, Digest, ImageId, Reference, media_type};
use kasane_snapshot::archive::{self, ApplyOptions, DiffMode, WhiteoutMode};
use kasane_store::Ingester;
use kasane_store::lock::FileLock;
use kasane_store::metadata::{ContainerRecord, ImageRecord, LeaseResource};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;
use serde_json::{Map, Value, json};

use super::monitor::unmount_all;
use super::state::{Status, open_lock};
use super::{ContainerOptions, now_rfc3339};
use crate::changes::apply_change;
use crate::error::{EngineError, Result};
use crate::lease::Lease;
use crate::{Engine, snap_id};

/// The xattr overlayfs marks an opaque directory with (value `y`).
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Prefix of OCI whiteout names; such names cannot be copied into a container.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Symlinks followed while resolving one path (Linux's limit).
const MAX_LINKS: usize = 40;
/// Bytes of a tar with no entries (its two end-of-archive blocks).
const EMPTY_TAR_LEN: usize = 1024;

/// `cp` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-L`: follow a symlink named as the source (inside the container: within its root).
    pub follow_link: bool,
    /// `-a`: files copied into the container belong to the container's `--user` (when it
    /// has one) instead of keeping the source's owners.
    pub archive: bool,
}

/// `commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `REPOSITORY[:TAG]` to tag the new image with.
    pub reference: Option<String>,
    /// `-m`: the commit message (history comment).
    pub message: Option<String>,
    /// `-a`: the author.
    pub author: Option<String>,
    /// `-c`: Dockerfile instructions applied to the config, as `import --change`.
    pub changes: Vec<String>,
    /// `-p`: pause during the commit (accepted; kasane reads the upper dir as it is).
    pub pause: bool,
}

/// `top`: the `ps` columns and the rows of the container's processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessList {
    /// Column titles as `ps` printed them.
    pub titles: Vec<String>,
    /// One row per process, as many cells as titles (the last one holds the spaces).
    pub processes: Vec<Vec<String>>,
}

impl Engine {
    /// `diff`: the changes of container `name` to its image's file system, as docker's
    /// `(kind, path)` pairs (`'A'`, `'C'`, `'D'`), parents before children.
    ///
    /// # Errors
    /// `NoSuchContainer`; I/O errors reading the snapshots.
    pub fn container_changes(&mut self, name: &str) -> Result<Vec<(char, String)>> {
        let record = self.find_container(name)?;
        let upper = self.snapshots.fs_dir(&snap_id(&record.snapshot_id)?);
        let lowers: Vec<PathBuf> = self
            .image_record(&record.image)
            .and_then(|img| self.layer_snapshots(&img))
            .unwrap_or_default()
            .iter()
            .map(|s| self.snapshots.fs_dir(s))
            .collect();
        let changes = if self.driver == "overlay" {
            overlay_changes(&upper, &lowers)
        } else {
            tree_changes(&upper, lowers.first().map(PathBuf::as_path))
        }
        .map_err(|e| EngineError::io(format!("reading the changes of {}", record.name), e))?;
        let changes: Vec<(char, String)> = changes
            .into_iter()
            .map(|(k, p)| (k, String::from_utf8_lossy(&p).into_owned()))
            .collect();
        let mountpoints = runtime_mountpoints(&self.container_paths(&record.id).spec());
        Ok(hide_mountpoints(changes, &mountpoints, &upper))
    }

    /// `cp CONTAINER:SRC DEST`: copies `src` out of the container to the host path `dest`,
    /// with docker's rules (an existing directory receives the source by name, `SRC/.`
    /// copies a directory's contents). Modes and mtimes are kept; files belong to the caller.
    /// Returns the bytes of file content copied.
    ///
    /// # Errors
    /// `NoSuchContainer`; `NotFound` for a source that does not exist in the container;
    /// `InvalidArgument` for impossible combinations (a directory onto a file…); I/O errors.
    pub fn copy_from_container(
        &mut self,
        name: &str,
        src: &str,
        dest: &Path,
        opts: &CopyOptions,
    ) -> Result<u64> {
        let record = self.find_container(name)?;
        let dest = dest.to_path_buf();
        self.with_rootfs(&record, |root| {
            let source = ContainerSource::open(root, src, opts.follow_link, name)?;
            let target = host_target(&dest, source.is_dir, source.contents, &source.base)?;
            let mut w = HostWriter::default();
            let what =
                |e: io::Error| EngineError::io(format!("copying {src} to {}", dest.display()), e);
            match target {
                HostTarget::Into(dir) => {
                    let fd = source.open_dir().map_err(what)?;
                    w.children(fd.as_fd(), &dir).map_err(what)?;
                }
                HostTarget::At(path) => w
                    .node(source.parent.as_fd(), &source.name, &path)
                    .map_err(what)?,
            }
            Ok(w.copied)
        })
    }

    /// `cp CONTAINER:SRC -`: writes `src` as a tar stream (named by its base name) to `out`.
    /// Returns the bytes of file content copied.
    ///
    /// # Errors
    /// As [`Engine::copy_from_container`].
    pub fn copy_from_container_tar(
        &mut self,
        name: &str,
        src: &str,
        out: &mut dyn Write,
        opts: &CopyOptions,
    ) -> Result<u64> {
        let record = self.find_container(name)?;
        self.with_rootfs(&record, |root| {
            let source = ContainerSource::open(root, src, opts.follow_link, name)?;
            let what = |e: io::Error| EngineError::io(format!("archiving {src}"), e);
            let mut t = TarOut::new(&mut *out);
            if source.contents {
                let fd = source.open_dir().map_err(what)?;
                for n in list_names(fd.as_fd()).map_err(what)? {
                    t.tree(fd.as_fd(), &n, &n).map_err(what)?;
                }
            } else {
                t.tree(source.parent.as_fd(), &source.name, &source.base)
                    .map_err(what)?;
            }
            let copied = t.content;
            t.finish().map_err(what)?;
            Ok(copied)
        })
    }

    /// `cp SRC CONTAINER:DEST`: copies the host path `src` into the container at `dest`, with
    /// docker's rules. Modes, mtimes and owners are kept (`-a`: owned by the container's
    /// user). Returns the bytes of file content copied.
    ///
    /// # Errors
    /// `NoSuchContainer`; `NotFound` when the destination's directory does not exist in the
    /// container; `InvalidArgument` for impossible combinations; `Unpack` when the copy
    /// cannot be written; I/O errors reading `src`.
    pub fn copy_to_container(
        &mut self,
        name: &str,
        src: &Path,
        dest: &str,
        opts: &CopyOptions,
    ) -> Result<u64> {
        let record = self.find_container(name)?;
        let copts = self.container_options(&record)?;
        let raw = src.as_os_str().as_bytes();
        let contents = raw.ends_with(b"/.") || raw == b".";
        let meta = if opts.follow_link {
            std::fs::metadata(src)
        } else {
            std::fs::symlink_metadata(src)
        }
        .map_err(|e| EngineError::io(format!("lstat {}", src.display()), e))?;
        if (raw.ends_with(b"/") || contents) && !meta.is_dir() {
            return Err(EngineError::InvalidArgument(format!(
                "{}: not a directory",
                src.display()
            )));
        }
        let base = host_base_name(src)?;
        let src = src.to_path_buf();
        self.with_rootfs(&record, |root| {
            let plan = container_target(root, dest, meta.is_dir(), contents, &base, name)?;
            let owner = if opts.archive {
                container_owner(root, copts.user.as_deref())?
            } else {
                None
            };
            let follow = opts.follow_link;
            let build = |b: &mut tar::Builder<io::BufWriter<io::PipeWriter>>| -> io::Result<u64> {
                let mut copied = 0;
                match &plan {
                    ContainerTarget::Into(dir) => {
                        for (child, n) in host_children(&src)? {
                            host_tar(b, &child, &join_name(dir, &n), false, owner, &mut copied)?;
                        }
                    }
                    ContainerTarget::At(name) => {
                        host_tar(b, &src, name, follow, owner, &mut copied)?;
                    }
                }
                Ok(copied)
            };
            apply_tar(root, build).map(|s| s.content_size)
        })
    }

    /// `cp - CONTAINER:DEST`: extracts the tar stream `input` into the existing directory
    /// `dest` of the container (confined to that directory). Returns the bytes of file
    /// content written.
    ///
    /// # Errors
    /// `NoSuchContainer`; `NotFound` when `dest` is not a directory of the container;
    /// `Unpack` for a bad or hostile tar.
    pub fn copy_tar_to_container(
        &mut self,
        name: &str,
        input: &mut dyn Read,
        dest: &str,
    ) -> Result<u64> {
        let record = self.find_container(name)?;
        self.with_rootfs(&record, |root| {
            let missing = || {
                EngineError::NotFound(format!(
                    "Could not find the file {dest} in container {name}"
                ))
            };
            let (comps, exists) = resolve_in_root(root, &clean_components(dest.as_bytes()), true)
                .map_err(|_| missing())?;
            if !exists {
                return Err(missing());
            }
            let dir =
                open_in(root, &join(&comps), OFlags::RDONLY | OFlags::DIRECTORY).map_err(|_| {
                    EngineError::InvalidArgument(format!(
                        "extraction point is not a directory: {dest}"
                    ))
                })?;
            let opts = ApplyOptions {
                whiteouts: WhiteoutMode::Delete,
                preserve_owners: rustix::process::geteuid().is_root(),
                ..ApplyOptions::default()
            };
            let stats = archive::apply(&fd_path(dir.as_fd()), input, &opts).map_err(|e| {
                EngineError::Unpack {
                    subject: format!("cp into {name}"),
                    layer: "-".to_owned(),
                    source: Box::new(e),
                }
            })?;
            Ok(stats.content_size)
        })
    }

    /// `commit`: a new image made of the container's image plus its changes as one more
    /// layer, with the container's settings in the config (docker's merge) and `changes`
    /// applied. Returns the new image's ID; tags it when `opts.reference` is given.
    ///
    /// # Errors
    /// `NoSuchContainer`; `InvalidArgument` for a bad reference or change; snapshot, store
    /// and I/O errors. Nothing is kept on failure.
    pub fn commit_container(&mut self, name: &str, opts: &CommitOptions) -> Result<ImageId> {
        let reference = opts
            .reference
            .as_deref()
            .map(|r| r.parse::<Reference>().map(Reference::with_default_tag))
            .transpose()?;
        if reference.as_ref().is_some_and(|r| r.digest.is_some()) {
            return Err(EngineError::InvalidArgument(
                "refusing to create a tag with a digest reference".to_owned(),
            ));
        }
        for c in &opts.changes {
            apply_change(&mut Map::new(), c)?;
        }
        let record = self.find_container(name)?;
        let copts = self.container_options(&record)?;
        let image = self.image_record(&record.image)?;
        let (_, raw) = self.config_of(&image)?;
        let doc: Map<String, Value> = serde_json::from_slice(&raw).map_err(|e| {
            EngineError::invalid_image(image.id.to_string(), format!("config: {e}"))
        })?;

        let lease = Lease::take(&mut self.metadata)?;
        let result = self.commit_leased(&record, &copts, &image, doc, opts, &lease);
        let released = lease.release(&mut self.metadata);
        if result.is_err()
            && let Err(e) = self.gc()
        {
            tracing::warn!("cleaning up after a failed commit: {e}");
        }
        let id = result?;
        released?;
        if let Some(r) = &reference {
            let tag_time = now_rfc3339();
            self.metadata.write(|tx| {
                tx.set_tag(&r.to_string(), &id)?;
                tx.set_last_tag_time(&id, &tag_time)?;
                Ok(())
            })?;
        }
        Ok(id)
    }

    fn commit_leased(
        &mut self,
        record: &ContainerRecord,
        copts: &ContainerOptions,
        image: &ImageRecord,
        mut doc: Map<String, Value>,
        opts: &CommitOptions,
        lease: &Lease,
    ) -> Result<ImageId> {
        let base_cfg = doc
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let created_by = container_cmd(copts, &base_cfg).join(" ");
        let mut cfg = commit_config(base_cfg, copts);
        for c in &opts.changes {
            apply_change(&mut cfg, c)?;
        }

        // The layer: the container's changes, gzip-compressed into the store.
        let parents = self.layer_snapshots(image)?;
        let upper = self.snapshots.fs_dir(&snap_id(&record.snapshot_id)?);
        let base = parents.first().map(|p| self.snapshots.fs_dir(p));
        let (diff_id, blob_digest, blob_size) = self.write_layer(&upper, base.as_deref(), lease)?;
        // A tar with no entries: docker adds no layer, only an `empty_layer` history entry.
        let empty = diff_id.0 == Digest::sha256_of(&[0u8; EMPTY_TAR_LEN]);

        // The config: docker's `NewChildImage`.
        let created = now_rfc3339();
        let author = opts.author.clone().filter(|a| !a.is_empty());
        let message = opts.message.clone().filter(|m| !m.is_empty());
        doc.remove("container_config");
        match &author {
            Some(a) => doc.insert("author".into(), json!(a)),
            None => doc.remove("author"),
        };
        match &message {
            Some(m) => doc.insert("comment".into(), json!(m)),
            None => doc.remove("comment"),
        };
        doc.insert("config".into(), Value::Object(cfg));
        doc.insert("container".into(), json!(record.id));
        doc.insert("created".into(), json!(created));
        let mut entry = Map::new();
        entry.insert("created".into(), json!(created));
        if let Some(a) = &author {
            entry.insert("author".into(), json!(a));
        }
        entry.insert("created_by".into(), json!(created_by));
        if let Some(m) = &message {
            entry.insert("comment".into(), json!(m));
        }
        if empty {
            entry.insert("empty_layer".into(), json!(true));
        }
        let history = doc.entry("history").or_insert_with(|| json!([]));
        if !history.is_array() {
            *history = json!([]);
        }
        if let Value::Array(h) = history {
            h.push(Value::Object(entry));
        }
        let rootfs = doc
            .entry("rootfs")
            .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
        if !rootfs.is_object() {
            *rootfs = json!({"type": "layers", "diff_ids": []});
        }
        if !empty && let Value::Object(r) = rootfs {
            let ids = r.entry("diff_ids").or_insert_with(|| json!([]));
            if !ids.is_array() {
                *ids = json!([]);
            }
            if let Value::Array(ids) = ids {
                ids.push(json!(diff_id.to_string()));
            }
        }

        // Manifest in the flavour of the image's own layers.
        let docker = !image.layers.is_empty()
            && image
                .layers
                .iter()
                .all(|l| l.blob_media_type.starts_with("application/vnd.docker."));
        let (manifest_type, config_type, layer_type) = if docker {
            (
                media_type::DOCKER_MANIFEST,
                media_type::DOCKER_CONFIG,
                media_type::DOCKER_LAYER_GZIP,
            )
        } else {
            (
                media_type::OCI_MANIFEST,
                media_type::OCI_CONFIG,
                media_type::OCI_LAYER_TAR_GZIP,
            )
        };
        let config_bytes = serde_json::to_vec(&Value::Object(doc))
            .map_err(|e| EngineError::InvalidArgument(format!("encoding image config: {e}")))?;
        let config_desc = kasane_oci::Descriptor::new(
            config_type,
            Digest::sha256_of(&config_bytes),
            config_bytes.len() as u64,
        );
        let mut layers: Vec<kasane_oci::Descriptor> = image
            .layers
            .iter()
            .map(|l| {
                kasane_oci::Descriptor::new(
                    l.blob_media_type.clone(),
                    l.blob_digest.clone(),
                    l.blob_size,
                )
            })
            .collect();
        if !empty {
            layers.push(kasane_oci::Descriptor::new(
                layer_type,
                blob_digest,
                blob_size,
            ));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": config_desc,
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest)
            .map_err(|e| EngineError::InvalidArgument(format!("encoding manifest: {e}")))?;
        let manifest_desc = kasane_oci::Descriptor::new(
            manifest_type,
            Digest::sha256_of(&manifest_bytes),
            manifest_bytes.len() as u64,
        );
        self.store_leased_blobs(
            &lease,
            &[
                (&config_desc, &config_bytes),
                (&manifest_desc, &manifest_bytes),
            ],
        )?;

        // The new layer's snapshot: unpacked from the store like any pulled image, so chain
        // IDs, layer rows and sizes are computed in one place.
        let store = self.store.clone();
        let subject = format!("commit of {}", record.name);
        let unpacked = self.unpack_manifest(&*store, &manifest_desc, &subject, lease, None)?;
        let mut new_image = unpacked.record;
        new_image.parent = Some(image.id.clone());
        let id = new_image.id.clone();
        self.metadata
            .write(|tx| tx.insert_image(&new_image).map(drop))?;
        Ok(id)
    }

    /// Writes the container's change set as a gzip layer blob; returns (DiffID, blob digest,
    /// blob size). `base` is the image's top layer for the native snapshotter.
    fn write_layer(
        &mut self,
        upper: &Path,
        base: Option<&Path>,
        lease: &Lease,
    ) -> Result<(DiffId, Digest, u64)> {
        let store = self.store.clone();
        let mut writer = store.writer(None)?;
        let diff_id = {
            let mut gz =
                flate2::write::GzEncoder::new(&mut *writer, flate2::Compression::default());
            let diff_id = if self.driver == "overlay" {
                archive::diff(upper, DiffMode::OverlayUpper, &mut gz)?.diff_id
            } else {
                let mut hashing = HashingWriter {
                    inner: &mut gz,
                    digester: kasane_oci::Digester::new(kasane_oci::Algorithm::Sha256),
                };
                export_tree_changes(upper, base, &mut hashing)
                    .map_err(|e| EngineError::io("writing the container's layer", e))?;
                DiffId(hashing.digester.finish())
            };
            gz.finish()
                .map_err(|e| EngineError::io("compressing the container's layer", e))?;
            diff_id
        };
        // Publish and lease under the shared GC lock, as import does.
        let _gc = FileLock::shared(&self.gc_lock_path())?;
        let (digest, size) = writer.commit()?;
        lease.add(&mut self.metadata, LeaseResource::Blob, &digest.to_string())?;
        Ok((diff_id, digest, size))
    }

    /// `top`: runs the host's `ps` (`ps_args`, default `-ef`) and keeps the rows of the
    /// container's processes, as docker does.
    ///
    /// # Errors
    /// `NoSuchContainer`; not running (`Conflict`, docker's wording); `ps` failing or
    /// printing no `PID` column (`InvalidArgument`).
    pub fn container_top(&mut self, name: &str, ps_args: &[String]) -> Result<ProcessList> {
        let record = self.find_container(name)?;
        let state = self.container_state(&record)?;
        if state.status != Status::Running || state.pid <= 0 {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                record.id
            )));
        }
        let pids = container_pids(state.pid);
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".to_owned()]
        } else {
            ps_args.to_vec()
        };
        let list = pids
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let run = |extra: &[&str]| {
            std::process::Command::new("ps")
                .args(&args)
                .args(extra)
                .stdin(std::process::Stdio::null())
                .output()
        };
        // `-q PIDS` makes ps quick; some options (`f`) refuse it, so retry without.
        let output = match run(&["-q", list.as_str()]) {
            Ok(o) if o.status.success() => o,
            _ => run(&[]).map_err(|e| EngineError::io("running ps", e))?,
        };
        if !output.status.success() {
            return Err(EngineError::InvalidArgument(format!(
                "Error running ps: {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&output.stdout), &pids)
    }

    /// Runs `f` with a handle on the container's root: its init's root while it runs,
    /// else its rootfs mounted for the time of `f` under the monitor lock.
    fn with_rootfs<T>(
        &mut self,
        record: &ContainerRecord,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<T>,
    ) -> Result<T> {
        let paths = self.container_paths(&record.id);
        let rootfs = paths.rootfs();
        let mut access = None;
        for _ in 0..250 {
            let state = self.container_state(record)?;
            if state.status == Status::Running
                && state.pid > 0
                && let Some(fd) = running_root(state.pid, &rootfs)
            {
                access = Some(Ok(fd));
                break;
            }
            let lock = open_lock(&paths.lock())?;
            if lock.try_lock().is_ok() {
                access = Some(Err(lock));
                break;
            }
            // A monitor is starting or restarting the container.
            drop(lock);
            std::thread::sleep(Duration::from_millis(20));
        }
        match access {
            Some(Ok(fd)) => f(fd.as_fd()),
            Some(Err(lock)) => {
                let image = self.image_record(&record.image)?;
                let parents = self.layer_snapshots(&image)?;
                let mounts = self
                    .snapshots
                    .mounts(&snap_id(&record.snapshot_id)?, &parents)?;
                super::mkdir(&rootfs)?;
                // A mount left by a crash would be stacked under ours.
                unmount_all(&rootfs);
                kasane_snapshot::mount_all(&mounts, &rootfs)?;
                let result = rfs::open(
                    &rootfs,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| EngineError::io(format!("opening {}", rootfs.display()), e.into()))
                .and_then(|fd| f(fd.as_fd()));
                unmount_all(&rootfs);
                drop(lock);
                result
            }
            None => Err(EngineError::Conflict(format!(
                "container {} is restarting; try again",
                record.id
            ))),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Confined paths
// ------------------------------------------------------------------------------------------

/// The components of a container path cleaned as if rooted (docker's `cleanScopedPath`):
/// empty and `.` components dropped, `..` resolved lexically, never above `/`.
fn clean_components(path: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in path.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c.to_vec()),
        }
    }
    out
}

/// `a/b/c` (empty for the root).
fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    comps.join(&b'/')
}

/// `dir/name`, or `name` when `dir` is empty.
fn join_name(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut out = dir.to_vec();
    out.push(b'/');
    out.extend_from_slice(name);
    out
}

/// Opens `path` below `root` with every component, symlinks included, confined to `root`
/// (`openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`).
fn open_in(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
) -> std::result::Result<OwnedFd, Errno> {
    let path: &[u8] = if path.is_empty() { b"." } else { path };
    loop {
        match rfs::openat2(
            root,
            path,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            // A concurrent rename could have let `..` escape: the kernel asks to retry.
            Err(Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

/// Resolves the cleaned components `comps` inside the root held by `root`, as the kernel
/// would with that root as `/`: an absolute symlink restarts at the root, a relative one
/// continues from its directory, `..` stops at the root. Returns the components of the real
/// path (directories only, then the last component) and whether the last one exists; with
/// `follow_last` false a final symlink is kept as is.
///
/// Every lookup is a `statat`/`readlinkat` on a directory handle opened in the root, so
/// nothing outside it is ever looked at; the result is only a name, and whoever opens it
/// resolves it confined again.
fn resolve_in_root(
    root: BorrowedFd<'_>,
    comps: &[Vec<u8>],
    follow_last: bool,
) -> std::result::Result<(Vec<Vec<u8>>, bool), Errno> {
    let mut todo: VecDeque<Vec<u8>> = comps.iter().cloned().collect();
    let mut cur: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(comp) = todo.pop_front() {
        match comp.as_slice() {
            b"" | b"." => continue,
            b".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let dir = open_in(root, &join(&cur), OFlags::PATH | OFlags::DIRECTORY)?;
        let st = match rfs::statat(&dir, comp.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) if todo.iter().all(|c| c.is_empty() || c == b".") => {
                cur.push(comp);
                return Ok((cur, false));
            }
            Err(e) => return Err(e),
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        let last = todo.is_empty();
        if ft == FileType::Symlink && (follow_last || !last) {
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::LOOP);
            }
            let target = rfs::readlinkat(&dir, comp.as_slice(), Vec::new())?;
            let target = target.as_bytes();
            if target.starts_with(b"/") {
                cur.clear();
            }
            for c in target.split(|b| *b == b'/').rev() {
                if !c.is_empty() {
                    todo.push_front(c.to_vec());
                }
            }
            continue;
        }
        if !last && ft != FileType::Directory {
            return Err(Errno::NOTDIR);
        }
        cur.push(comp);
    }
    Ok((cur, true))
}

/// `/proc/self/fd/N`: a path naming exactly the directory `fd` holds, for APIs that take a
/// path (opening it follows the handle, not a name).
fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `/proc/<pid>/root` of a running container, if it is the container's root mount (a pid
/// recycled since would show some other root).
fn running_root(pid: i32, rootfs: &Path) -> Option<OwnedFd> {
    let fd = rfs::open(
        format!("/proc/{pid}/root"),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let a = rfs::fstat(&fd).ok()?;
    let b = rfs::stat(rootfs).ok()?;
    (a.st_dev == b.st_dev && a.st_ino == b.st_ino).then_some(fd)
}

/// The names in directory `dir` (opened readable), sorted bytewise.
fn list_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for e in rfs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    out.sort();
    Ok(out)
}

/// Opens the directory `name` of `dir` for reading, never following a symlink.
fn open_subdir(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens the regular file `name` of `dir` for reading: `O_PATH` first, re-opened only once
/// `fstat` shows a regular file, so no device or FIFO is ever opened.
fn open_regular(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<(File, Stat)> {
    let p = rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rfs::fstat(&p)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::other(format!(
            "{} changed while being copied",
            String::from_utf8_lossy(name)
        )));
    }
    let f = rfs::open(
        fd_path(p.as_fd()),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    Ok((File::from(f), st))
}

fn is_whiteout(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

/// Whether the directory `fd` (opened readable) is overlay-opaque.
fn is_opaque(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut buf = [0u8; 8];
    match rfs::fgetxattr(fd, OPAQUE_XATTR, &mut buf[..]) {
        Ok(n) => Ok(&buf[..n] == b"y"),
        Err(Errno::NODATA | Errno::NOTSUP | Errno::RANGE) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------------------------------------
// diff
// ------------------------------------------------------------------------------------------

/// A change: kind (`A`, `C`, `D`) and the absolute path in the container.
type Change = (char, Vec<u8>);

/// Orders changes as a directory walk visits them: parents first, siblings by name.
fn sort_changes(changes: &mut [Change]) {
    changes.sort_by(|a, b| a.1.split(|c| *c == b'/').cmp(b.1.split(|c| *c == b'/')));
}

fn display_path(comps: &[Vec<u8>]) -> Vec<u8> {
    let mut p = b"/".to_vec();
    p.extend_from_slice(&join(comps));
    p
}

/// The image's layers, top first, merged as overlayfs merges lower dirs.
struct Lowers {
    dirs: Vec<OwnedFd>,
}

impl Lowers {
    fn open(paths: &[PathBuf]) -> io::Result<Lowers> {
        let dirs = paths
            .iter()
            .map(|p| {
                rfs::open(
                    p,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
            })
            .collect::<io::Result<_>>()?;
        Ok(Lowers { dirs })
    }

    /// The type of `comps` in the merged layers; `None` when no layer has it, or a higher
    /// layer whites it out, hides it under an opaque directory or a non-directory.
    fn kind(&self, comps: &[Vec<u8>]) -> io::Result<Option<FileType>> {
        for layer in &self.dirs {
            let mut cur: Option<OwnedFd> = None;
            let mut opaque = false;
            for (i, comp) in comps.iter().enumerate() {
                let dir = cur.as_ref().map_or(layer.as_fd(), |f| f.as_fd());
                let st = match rfs::statat(dir, comp.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(Errno::NOENT) => break,
                    Err(e) => return Err(e.into()),
                };
                if is_whiteout(&st) {
                    return Ok(None);
                }
                let ft = FileType::from_raw_mode(st.st_mode);
                if i + 1 == comps.len() {
                    return Ok(Some(ft));
                }
                if ft != FileType::Directory {
                    return Ok(None);
                }
                let fd = open_subdir(dir, comp)?;
                opaque |= is_opaque(fd.as_fd())?;
                cur = Some(fd);
            }
            // Absent from this layer: the layers below count unless a directory on the way
            // was opaque here.
            if opaque {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Every name in the directory `comps` of any layer (to be checked with [`Self::kind`]).
    fn names(&self, comps: &[Vec<u8>]) -> io::Result<BTreeSet<Vec<u8>>> {
        let mut out = BTreeSet::new();
        'layers: for layer in &self.dirs {
            let mut cur: Option<OwnedFd> = None;
            for comp in comps {
                let dir = cur.as_ref().map_or(layer.as_fd(), |f| f.as_fd());
                match open_subdir(dir, comp) {
                    Ok(fd) => cur = Some(fd),
                    Err(_) => continue 'layers,
                }
            }
            let dir = cur.as_ref().map_or(layer.as_fd(), |f| f.as_fd());
            out.extend(list_names(dir)?);
        }
        Ok(out)
    }
}

/// The changes an overlay upper dir holds over its lower dirs (top first).
fn overlay_changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<Change>> {
    let lowers = Lowers::open(lowers)?;
    let top = rfs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", upper.display())))?;
    let mut out = Vec::new();
    let mut comps = Vec::new();
    walk_upper(top.as_fd(), &mut comps, false, &lowers, &mut out)?;
    sort_changes(&mut out);
    Ok(out)
}

fn walk_upper(
    dir: BorrowedFd<'_>,
    comps: &mut Vec<Vec<u8>>,
    hidden_below: bool,
    lowers: &Lowers,
    out: &mut Vec<Change>,
) -> io::Result<()> {
    let names = list_names(dir)?;
    for name in &names {
        let st = match rfs::statat(dir, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed meanwhile (a running container).
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        comps.push(name.clone());
        if is_whiteout(&st) {
            out.push(('D', display_path(comps)));
            comps.pop();
            continue;
        }
        let below = if hidden_below {
            None
        } else {
            lowers.kind(comps)?
        };
        out.push((if below.is_some() { 'C' } else { 'A' }, display_path(comps)));
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let fd = match open_subdir(dir, name) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    comps.pop();
                    continue;
                }
                Err(e) => return Err(e),
            };
            let opaque = is_opaque(fd.as_fd())?;
            if opaque && below == Some(FileType::Directory) {
                // Everything the layers had below it is gone, except what was made again.
                let here: HashSet<Vec<u8>> = list_names(fd.as_fd())?.into_iter().collect();
                for n in lowers.names(comps)? {
                    if here.contains(&n) {
                        continue;
                    }
                    comps.push(n);
                    if lowers.kind(comps)?.is_some() {
                        out.push(('D', display_path(comps)));
                    }
                    comps.pop();
                }
            }
            walk_upper(fd.as_fd(), comps, hidden_below || opaque, lowers, out)?;
        }
        comps.pop();
    }
    Ok(())
}

/// docker's `ChangesDirs`: the changes of the full tree `new` over the full tree `old` (the
/// native snapshotter). A directory with changes inside is `C` too.
fn tree_changes(new: &Path, old: Option<&Path>) -> io::Result<Vec<Change>> {
    let open = |p: &Path| {
        rfs::open(
            p,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    };
    let new = open(new)?;
    let old = old.map(open).transpose()?;
    let mut out = Vec::new();
    let mut comps = Vec::new();
    walk_trees(
        new.as_fd(),
        old.as_ref().map(|o| o.as_fd()),
        &mut comps,
        &mut out,
    )?;
    sort_changes(&mut out);
    Ok(out)
}

fn walk_trees(
    new: BorrowedFd<'_>,
    old: Option<BorrowedFd<'_>>,
    comps: &mut Vec<Vec<u8>>,
    out: &mut Vec<Change>,
) -> io::Result<()> {
    let new_names = list_names(new)?;
    let old_names: HashSet<Vec<u8>> = match old {
        Some(o) => list_names(o)?.into_iter().collect(),
        None => HashSet::new(),
    };
    for name in &new_names {
        let nst = match rfs::statat(new, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        let ost = match old {
            Some(o) if old_names.contains(name) => {
                rfs::statat(o, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW).ok()
            }
            _ => None,
        };
        comps.push(name.clone());
        let new_dir = FileType::from_raw_mode(nst.st_mode) == FileType::Directory;
        match (old, ost) {
            (Some(o), Some(ost)) => {
                let mut changed = stat_different(&ost, &nst);
                if !changed && FileType::from_raw_mode(nst.st_mode) == FileType::Symlink {
                    let a = rfs::readlinkat(o, name.as_slice(), Vec::new())?;
                    let b = rfs::readlinkat(new, name.as_slice(), Vec::new())?;
                    changed = a != b;
                }
                let mark = out.len();
                if changed {
                    out.push(('C', display_path(comps)));
                }
                if new_dir {
                    let child = open_subdir(new, name)?;
                    let old_child = if FileType::from_raw_mode(ost.st_mode) == FileType::Directory {
                        Some(open_subdir(o, name)?)
                    } else {
                        None
                    };
                    walk_trees(
                        child.as_fd(),
                        old_child.as_ref().map(|f| f.as_fd()),
                        comps,
                        out,
                    )?;
                    if !changed && out.len() > mark {
                        out.push(('C', display_path(comps)));
                    }
                }
            }
            _ => {
                out.push(('A', display_path(comps)));
                if new_dir {
                    let child = open_subdir(new, name)?;
                    walk_trees(child.as_fd(), None, comps, out)?;
                }
            }
        }
        comps.pop();
    }
    let here: HashSet<&Vec<u8>> = new_names.iter().collect();
    let mut gone: Vec<&Vec<u8>> = old_names.iter().filter(|n| !here.contains(n)).collect();
    gone.sort();
    for n in gone {
        comps.push(n.clone());
        out.push(('D', display_path(comps)));
        comps.pop();
    }
    Ok(())
}

/// docker's `statDifferent`: type and mode, owners, device, and for non-directories the
/// mtime (a zero nanosecond part matches any) and size.
fn stat_different(a: &Stat, b: &Stat) -> bool {
    let dir = FileType::from_raw_mode(a.st_mode) == FileType::Directory;
    let same_time = a.st_mtime == b.st_mtime
        && (a.st_mtime_nsec == b.st_mtime_nsec || a.st_mtime_nsec == 0 || b.st_mtime_nsec == 0);
    a.st_mode != b.st_mode
        || a.st_uid != b.st_uid
        || a.st_gid != b.st_gid
        || a.st_rdev != b.st_rdev
        || (!dir && (!same_time || a.st_size != b.st_size))
}

/// docker's `ExportChanges` for the native snapshotter: each added or changed node as one
/// entry (directories without their contents), each deletion as a whiteout.
fn export_tree_changes(new: &Path, old: Option<&Path>, out: &mut dyn Write) -> io::Result<()> {
    let changes = tree_changes(new, old)?;
    let root = rfs::open(
        new,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut t = TarOut::new(out);
    for (kind, path) in &changes {
        let rel = path.strip_prefix(b"/").unwrap_or(path);
        let (parent, name) = match rel.iter().rposition(|c| *c == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&b""[..], rel),
        };
        if *kind == 'D' {
            let mut wh = WHITEOUT_PREFIX.to_vec();
            wh.extend_from_slice(name);
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0);
            h.set_mtime(0);
            h.set_size(0);
            t.b.append_data(&mut h, os_path(&join_name(parent, &wh)), io::empty())?;
            continue;
        }
        let dir = if parent.is_empty() {
            None
        } else {
            Some(rfs::openat2(
                &root,
                parent,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            )?)
        };
        let dir = dir.as_ref().map_or(root.as_fd(), |d| d.as_fd());
        t.node(dir, name, rel)?;
    }
    t.finish()
}

// ------------------------------------------------------------------------------------------
// cp
// ------------------------------------------------------------------------------------------

/// The source of a copy out of a container.
struct ContainerSource {
    /// Handle on its directory.
    parent: OwnedFd,
    /// Its name there (`.` for the root).
    name: Vec<u8>,
    /// The name it gets at the destination.
    base: Vec<u8>,
    is_dir: bool,
    /// `SRC/.`: the contents of a directory.
    contents: bool,
}

impl ContainerSource {
    fn open(
        root: BorrowedFd<'_>,
        src: &str,
        follow: bool,
        container: &str,
    ) -> Result<ContainerSource> {
        let raw = src.as_bytes();
        let contents = raw.ends_with(b"/.") || raw == b".";
        let trailing = raw.ends_with(b"/") || contents;
        let missing = || {
            EngineError::NotFound(format!(
                "Could not find the file {src} in container {container}"
            ))
        };
        let comps = clean_components(raw);
        let (real, exists) = resolve_in_root(root, &comps, follow || trailing).map_err(|e| {
            if matches!(e, Errno::NOENT | Errno::NOTDIR) {
                missing()
            } else {
                EngineError::io(
                    format!("resolving {src} in container {container}"),
                    e.into(),
                )
            }
        })?;
        if !exists {
            return Err(missing());
        }
        let (parent_comps, name) = match real.split_last() {
            Some((last, parent)) => (parent.to_vec(), last.clone()),
            None => (Vec::new(), b".".to_vec()),
        };
        let parent = open_in(root, &join(&parent_comps), OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|_| missing())?;
        let st = rfs::statat(&parent, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|_| missing())?;
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if trailing && !is_dir {
            return Err(EngineError::InvalidArgument(format!(
                "{src}: not a directory"
            )));
        }
        // The name the source was asked by (`-L` copies a link's target under the link's
        // name, as docker does).
        let base = comps.last().cloned().unwrap_or_else(|| b".".to_vec());
        Ok(ContainerSource {
            parent,
            name,
            base,
            is_dir,
            contents,
        })
    }

    fn open_dir(&self) -> io::Result<OwnedFd> {
        open_subdir(self.parent.as_fd(), &self.name)
    }
}

/// Where a copy lands on the host.
#[derive(Debug, PartialEq, Eq)]
enum HostTarget {
    /// The source node is written at this path.
    At(PathBuf),
    /// The source directory's children are written into this existing directory.
    Into(PathBuf),
}

/// docker's `CopyInfoDestinationPath` on the host side.
fn host_target(dest: &Path, src_dir: bool, contents: bool, base: &[u8]) -> Result<HostTarget> {
    let raw = dest.as_os_str().as_bytes();
    match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => {
            if src_dir && contents {
                Ok(HostTarget::Into(dest.to_path_buf()))
            } else {
                Ok(HostTarget::At(dest.join(OsStr::from_bytes(base))))
            }
        }
        Ok(_) => {
            if src_dir {
                Err(EngineError::InvalidArgument(format!(
                    "cannot copy a directory to a file: {}",
                    dest.display()
                )))
            } else if raw.ends_with(b"/") {
                Err(EngineError::InvalidArgument(format!(
                    "{}: not a directory",
                    dest.display()
                )))
            } else {
                Ok(HostTarget::At(dest.to_path_buf()))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if raw.ends_with(b"/") && !src_dir {
                return Err(EngineError::InvalidArgument(format!(
                    "destination directory {} must exist",
                    dest.display()
                )));
            }
            let parent = match dest.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if !std::fs::metadata(parent).is_ok_and(|m| m.is_dir()) {
                return Err(EngineError::io(
                    format!("copying to {}", dest.display()),
                    io::Error::new(io::ErrorKind::NotFound, "no such directory"),
                ));
            }
            Ok(HostTarget::At(dest.to_path_buf()))
        }
        Err(e) => Err(EngineError::io(format!("stat {}", dest.display()), e)),
    }
}

/// Writes container nodes to the host as docker's client does (`NoLchown`): modes, mtimes,
/// symlinks and special files kept, owned by the caller.
#[derive(Default)]
struct HostWriter {
    copied: u64,
}

impl HostWriter {
    /// Writes node `name` of `dir` (not followed) at `dest`.
    fn node(&mut self, dir: BorrowedFd<'_>, name: &[u8], dest: &Path) -> io::Result<()> {
        let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let existing = std::fs::symlink_metadata(dest).ok();
        if ft == FileType::Directory {
            let fd = open_subdir(dir, name)?;
            match &existing {
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    return Err(io::Error::other(format!(
                        "cannot overwrite non-directory {} with directory",
                        dest.display()
                    )));
                }
                None => std::fs::create_dir(dest)?,
            }
            self.children(fd.as_fd(), dest)?;
            set_mode(dest, st.st_mode)?;
            return set_mtime(dest, &st);
        }
        if let Some(m) = &existing
            && m.is_dir()
        {
            return Err(io::Error::other(format!(
                "cannot overwrite directory {} with non-directory",
                dest.display()
            )));
        }
        let replace = |dest: &Path| match &existing {
            Some(_) => std::fs::remove_file(dest),
            None => Ok(()),
        };
        match ft {
            FileType::RegularFile => {
                let (mut src, st) = open_regular(dir, name)?;
                replace(dest)?;
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(dest)?;
                self.copied += io::copy(&mut src, &mut out)?;
                drop(out);
                set_mode(dest, st.st_mode)?;
                set_mtime(dest, &st)
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, name, Vec::new())?;
                replace(dest)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(target.as_bytes()), dest)?;
                set_mtime(dest, &st)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                replace(dest)?;
                rfs::mknodat(
                    rfs::CWD,
                    dest,
                    ft,
                    Mode::from_raw_mode(st.st_mode & 0o7777),
                    st.st_rdev,
                )?;
                set_mode(dest, st.st_mode)?;
                set_mtime(dest, &st)
            }
            // Sockets are skipped, as docker's tar does.
            _ => Ok(()),
        }
    }

    /// Writes every child of the directory `dir` into the host directory `dest`.
    fn children(&mut self, dir: BorrowedFd<'_>, dest: &Path) -> io::Result<()> {
        for n in list_names(dir)? {
            self.node(dir, &n, &dest.join(OsStr::from_bytes(&n)))?;
        }
        Ok(())
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    Ok(rfs::chmodat(
        rfs::CWD,
        path,
        Mode::from_raw_mode(mode & 0o7777),
        AtFlags::empty(),
    )?)
}

fn set_mtime(path: &Path, st: &Stat) -> io::Result<()> {
    let ts = rfs::Timespec {
        tv_sec: st.st_mtime,
        tv_nsec: st.st_mtime_nsec as _,
    };
    Ok(rfs::utimensat(
        rfs::CWD,
        path,
        &rfs::Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

fn os_path(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Writes nodes of a confined tree as tar entries (docker's layout: ustar-compatible GNU
/// headers, no user names, mtimes in seconds).
struct TarOut<W: Write> {
    b: tar::Builder<W>,
    content: u64,
}

impl<W: Write> TarOut<W> {
    fn new(out: W) -> Self {
        TarOut {
            b: tar::Builder::new(out),
            content: 0,
        }
    }

    /// Appends node `name` of `dir` (not followed) as `tar_name`; returns a readable handle
    /// when it is a directory.
    fn node(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        tar_name: &[u8],
    ) -> io::Result<Option<OwnedFd>> {
        let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        match ft {
            FileType::Directory => {
                let fd = open_subdir(dir, name)?;
                h.set_entry_type(tar::EntryType::Directory);
                let mut n = tar_name.to_vec();
                n.push(b'/');
                self.b.append_data(&mut h, os_path(&n), io::empty())?;
                return Ok(Some(fd));
            }
            FileType::RegularFile => {
                let (file, st) = open_regular(dir, name)?;
                let size = u64::try_from(st.st_size).unwrap_or(0);
                h.set_size(size);
                h.set_entry_type(tar::EntryType::Regular);
                self.b.append_data(
                    &mut h,
                    os_path(tar_name),
                    Exact {
                        inner: file,
                        left: size,
                    },
                )?;
                self.content += size;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, name, Vec::new())?;
                h.set_entry_type(tar::EntryType::Symlink);
                self.b
                    .append_link(&mut h, os_path(tar_name), os_path(target.as_bytes()))?;
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                h.set_entry_type(match ft {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                if ft != FileType::Fifo {
                    h.set_device_major(rfs::major(st.st_rdev))?;
                    h.set_device_minor(rfs::minor(st.st_rdev))?;
                }
                self.b.append_data(&mut h, os_path(tar_name), io::empty())?;
            }
            // Sockets are skipped, as docker does.
            _ => {}
        }
        Ok(None)
    }

    /// Appends node `name` of `dir` and, for a directory, everything below it.
    fn tree(&mut self, dir: BorrowedFd<'_>, name: &[u8], tar_name: &[u8]) -> io::Result<()> {
        if let Some(fd) = self.node(dir, name, tar_name)? {
            for n in list_names(fd.as_fd())? {
                self.tree(fd.as_fd(), &n, &join_name(tar_name, &n))?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.b.finish()?;
        self.b.get_mut().flush()
    }
}

/// Reads exactly `left` bytes of `inner`: a file that shrank is an error, one that grew is
/// cut (the tar header already holds the size).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let cap = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..cap])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a file shrank while being copied",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Hashes what passes through (the DiffID of a layer being written).
struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    digester: kasane_oci::Digester,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digester.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where a copy lands in the container: tar names relative to its root.
#[derive(Debug, PartialEq, Eq)]
enum ContainerTarget {
    /// The source is written under this name.
    At(Vec<u8>),
    /// The source directory's children are written into this existing directory.
    Into(Vec<u8>),
}

/// docker's `CopyInfoDestinationPath` inside the container: resolves `dest` (symlinks
/// followed within the root) and decides the name of the copy.
fn container_target(
    root: BorrowedFd<'_>,
    dest: &str,
    src_dir: bool,
    contents: bool,
    base: &[u8],
    container: &str,
) -> Result<ContainerTarget> {
    let raw = dest.as_bytes();
    let want_dir = raw.ends_with(b"/") || raw.ends_with(b"/.");
    let comps = clean_components(raw);
    let missing = |what: &[u8]| {
        EngineError::NotFound(format!(
            "Could not find the file {} in container {container}",
            String::from_utf8_lossy(what)
        ))
    };
    let (real, exists) = resolve_in_root(root, &comps, true).map_err(|e| match e {
        Errno::NOENT | Errno::NOTDIR => missing(raw),
        e => EngineError::io(
            format!("resolving {dest} in container {container}"),
            e.into(),
        ),
    })?;
    let target = if exists {
        let fd = open_in(root, &join(&real), OFlags::PATH).map_err(|_| missing(raw))?;
        let st = rfs::fstat(&fd).map_err(|e| EngineError::io(format!("stat {dest}"), e.into()))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            if src_dir && contents {
                return Ok(ContainerTarget::Into(join(&real)));
            }
            join_name(&join(&real), base)
        } else if src_dir {
            return Err(EngineError::InvalidArgument(format!(
                "cannot copy a directory to a file: {dest}"
            )));
        } else if want_dir {
            return Err(EngineError::InvalidArgument(format!(
                "{dest}: not a directory"
            )));
        } else {
            join(&real)
        }
    } else {
        if want_dir && !src_dir {
            return Err(EngineError::InvalidArgument(format!(
                "destination directory {dest} must exist"
            )));
        }
        join(&real)
    };
    let name = target.rsplit(|c| *c == b'/').next().unwrap_or(&target);
    if name.starts_with(WHITEOUT_PREFIX) {
        return Err(EngineError::InvalidArgument(format!(
            "cannot copy to {}: names starting with .wh. are reserved for layer whiteouts",
            String::from_utf8_lossy(&target)
        )));
    }
    // docker's `NoOverwriteDirNonDir`: a directory is never replaced by a file or the
    // reverse.
    if let Ok(fd) = open_in(root, &target, OFlags::PATH | OFlags::NOFOLLOW)
        && let Ok(st) = rfs::fstat(&fd)
    {
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        let shown = String::from_utf8_lossy(&target);
        if is_dir && !src_dir {
            return Err(EngineError::InvalidArgument(format!(
                "cannot overwrite directory \"/{shown}\" with non-directory"
            )));
        }
        if !is_dir && src_dir {
            return Err(EngineError::InvalidArgument(format!(
                "cannot overwrite non-directory \"/{shown}\" with directory"
            )));
        }
    }
    Ok(ContainerTarget::At(target))
}

/// The name a host source gets at its destination.
fn host_base_name(src: &Path) -> Result<Vec<u8>> {
    if let Some(n) = src.file_name() {
        return Ok(n.as_bytes().to_vec());
    }
    let abs = std::fs::canonicalize(src)
        .map_err(|e| EngineError::io(format!("resolving {}", src.display()), e))?;
    Ok(abs
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_else(|| b".".to_vec()))
}

/// The entries of host directory `dir`, sorted by name.
fn host_children(dir: &Path) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| (e.path(), e.file_name().as_bytes().to_vec())))
        .collect::<io::Result<_>>()?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Appends the host node `src` (and below) as `name`, as docker's client archives it: mode,
/// owner (or `owner`), mtime in seconds; hardlinks are copied as separate files.
fn host_tar<W: Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    name: &[u8],
    follow: bool,
    owner: Option<(u32, u32)>,
    copied: &mut u64,
) -> io::Result<()> {
    let meta = if follow {
        std::fs::metadata(src)?
    } else {
        std::fs::symlink_metadata(src)?
    };
    let base = name.rsplit(|c| *c == b'/').next().unwrap_or(name);
    if base.starts_with(WHITEOUT_PREFIX) {
        return Err(io::Error::other(format!(
            "{}: names starting with .wh. are reserved for layer whiteouts",
            src.display()
        )));
    }
    let (uid, gid) = owner.unwrap_or((meta.uid(), meta.gid()));
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    h.set_size(0);
    let ft = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        let mut n = name.to_vec();
        n.push(b'/');
        b.append_data(&mut h, os_path(&n), io::empty())?;
        for (child, n) in host_children(src)? {
            host_tar(b, &child, &join_name(name, &n), false, owner, copied)?;
        }
    } else if ft.is_file() {
        let file = File::open(src)?;
        let size = file.metadata()?.len();
        h.set_size(size);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(
            &mut h,
            os_path(name),
            Exact {
                inner: file,
                left: size,
            },
        )?;
        *copied += size;
    } else if ft.is_symlink() {
        let target = std::fs::read_link(src)?;
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, os_path(name), &target)?;
    } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
        h.set_entry_type(if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else {
            tar::EntryType::Fifo
        });
        if !ft.is_fifo() {
            h.set_device_major(rfs::major(meta.rdev()))?;
            h.set_device_minor(rfs::minor(meta.rdev()))?;
        }
        b.append_data(&mut h, os_path(name), io::empty())?;
    }
    // Sockets are skipped, as docker does.
    Ok(())
}

/// Streams the tar `build` writes into [`archive::apply`] rooted at the container's root.
fn apply_tar(
    root: BorrowedFd<'_>,
    build: impl FnOnce(&mut tar::Builder<io::BufWriter<io::PipeWriter>>) -> io::Result<u64> + Send,
) -> Result<archive::ApplyStats> {
    let (reader, writer) = io::pipe().map_err(|e| EngineError::io("creating a pipe", e))?;
    let opts = ApplyOptions {
        // Names starting with `.wh.` are refused before they get here.
        whiteouts: WhiteoutMode::Delete,
        preserve_owners: rustix::process::geteuid().is_root(),
        ..ApplyOptions::default()
    };
    let root_path = fd_path(root);
    let (applied, written) = std::thread::scope(|s| {
        let h = s.spawn(move || -> io::Result<u64> {
            let mut b = tar::Builder::new(io::BufWriter::with_capacity(1 << 16, writer));
            let copied = build(&mut b)?;
            b.into_inner()?.flush()?;
            Ok(copied)
        });
        let applied = archive::apply(&root_path, reader, &opts);
        let written = h
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the archive writer panicked")));
        (applied, written)
    });
    written.map_err(|e| EngineError::io("reading the files to copy", e))?;
    applied.map_err(|e| EngineError::Unpack {
        subject: "cp".to_owned(),
        layer: "-".to_owned(),
        source: Box::new(e),
    })
}

/// The uid/gid of the container's `--user` (for `cp -a`), resolved in its own
/// `/etc/passwd` and `/etc/group`; `None` without a user.
fn container_owner(root: BorrowedFd<'_>, user: Option<&str>) -> Result<Option<(u32, u32)>> {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let u = kasane_runtime::resolve_user(&fd_path(root), user)?;
    Ok(Some((u.uid, u.gid)))
}

// ------------------------------------------------------------------------------------------
// commit
// ------------------------------------------------------------------------------------------

/// The container's command (docker's `ContainerConfig.Cmd`), for the history.
fn container_cmd(copts: &ContainerOptions, image_cfg: &Map<String, Value>) -> Vec<String> {
    if !copts.cmd.is_empty() || copts.entrypoint.is_some() {
        return copts.cmd.clone();
    }
    string_list(image_cfg.get("Cmd"))
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The image config plus what the container was created with (docker merges the
/// container's config over the image's).
fn commit_config(mut cfg: Map<String, Value>, copts: &ContainerOptions) -> Map<String, Value> {
    if !copts.env.is_empty() {
        let mut env = string_list(cfg.get("Env"));
        for e in &copts.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        cfg.insert("Env".into(), json!(env));
    }
    if let Some(ep) = &copts.entrypoint {
        if ep.is_empty() {
            cfg.insert("Entrypoint".into(), Value::Null);
        } else {
            cfg.insert("Entrypoint".into(), json!(ep));
        }
        if copts.cmd.is_empty() {
            cfg.insert("Cmd".into(), Value::Null);
        }
    }
    if !copts.cmd.is_empty() {
        cfg.insert("Cmd".into(), json!(copts.cmd));
    }
    if let Some(w) = copts.workdir.as_deref().filter(|w| !w.is_empty()) {
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &copts.user {
        cfg.insert("User".into(), json!(u));
    }
    if !copts.publish.is_empty() {
        let ports = cfg.entry("ExposedPorts").or_insert_with(|| json!({}));
        if !ports.is_object() {
            *ports = json!({});
        }
        if let Value::Object(p) = ports {
            for m in &copts.publish {
                p.insert(format!("{}/{}", m.container_port, m.protocol), json!({}));
            }
        }
    }
    if !copts.labels.is_empty() {
        let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        if let Value::Object(l) = labels {
            for (k, v) in &copts.labels {
                l.insert(k.clone(), json!(v));
            }
        }
    }
    if let Some(s) = &copts.stop_signal {
        cfg.insert("StopSignal".into(), json!(s));
    }
    cfg
}

// ------------------------------------------------------------------------------------------
// top
// ------------------------------------------------------------------------------------------

/// The container's processes: every pid in the pid namespace of `init`, and the
/// descendants of `init` (also when it shares a namespace).
fn container_pids(init: i32) -> Vec<i32> {
    let ns = std::fs::read_link(format!("/proc/{init}/ns/pid")).ok();
    let mut pids = BTreeSet::new();
    pids.insert(init);
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if ns.is_some() && std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok() == ns {
                pids.insert(pid);
            }
            if let Some(ppid) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parent_pid(&s))
            {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut todo = vec![init];
    while let Some(p) = todo.pop() {
        for c in children.get(&p).into_iter().flatten() {
            if pids.insert(*c) {
                todo.push(*c);
            }
        }
    }
    pids.into_iter().collect()
}

/// The parent pid from a `/proc/<pid>/stat` line (after the command, which may hold spaces
/// and parentheses).
fn parent_pid(stat: &str) -> Option<i32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// docker's `parsePSOutput`: the header's words are the titles, rows whose PID is one of
/// `pids` are kept, extra words joined into the last column.
fn parse_ps(output: &str, pids: &[i32]) -> Result<ProcessList> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        EngineError::InvalidArgument("Couldn't find PID field in ps output".to_owned())
    })?;
    let wanted: HashSet<i32> = pids.iter().copied().collect();
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() <= pid_col {
            continue;
        }
        let pid: i32 = fields[pid_col].parse().map_err(|_| {
            EngineError::InvalidArgument(format!("Unexpected pid '{}'", fields[pid_col]))
        })?;
        if !wanted.contains(&pid) {
            continue;
        }
        let cut = (titles.len() - 1).min(fields.len());
        let mut row: Vec<String> = fields[..cut].iter().map(|s| (*s).to_owned()).collect();
        row.push(fields[cut..].join(" "));
        processes.push(row);
    }
    Ok(ProcessList { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mknod_whiteout(path: &Path) -> bool {
        rfs::mknodat(rfs::CWD, path, FileType::CharacterDevice, Mode::empty(), 0).is_ok()
    }

    fn set_opaque(path: &Path) -> bool {
        rfs::setxattr(path, OPAQUE_XATTR, b"y", rfs::XattrFlags::empty()).is_ok()
    }

    fn lines(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|(k, p)| format!("{k} {}", String::from_utf8_lossy(p)))
            .collect()
    }

    #[test]
    fn upper_dir_changes_are_classified_against_the_layers() {
        let t = tempfile::tempdir().unwrap();
        let (upper, low1, low2) = (t.path().join("u"), t.path().join("l1"), t.path().join("l2"));
        // l2 is the bottom layer, l1 above it.
        for d in ["etc", "usr/share", "var/cache/x", "opt/old"] {
            std::fs::create_dir_all(low2.join(d)).unwrap();
        }
        std::fs::write(low2.join("etc/passwd"), "root").unwrap();
        std::fs::write(low2.join("etc/group"), "root").unwrap();
        std::fs::write(low2.join("etc/gone-below"), "x").unwrap();
        std::fs::write(low2.join("var/cache/x/a"), "a").unwrap();
        std::fs::write(low2.join("var/cache/b"), "b").unwrap();
        std::fs::write(low2.join("opt/old/f"), "f").unwrap();
        std::fs::create_dir_all(low1.join("etc")).unwrap();
        let whiteouts = mknod_whiteout(&low1.join("etc/gone-below"));

        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::create_dir_all(upper.join("newdir/sub")).unwrap();
        std::fs::create_dir_all(upper.join("tmp")).unwrap();
        std::fs::write(upper.join("etc/passwd"), "root\nextra").unwrap();
        std::fs::write(upper.join("tmp/new"), "x").unwrap();
        std::fs::write(upper.join("newdir/sub/f"), "x").unwrap();
        let mut want = vec![
            "C /etc",
            "C /etc/passwd",
            "A /newdir",
            "A /newdir/sub",
            "A /newdir/sub/f",
            "A /tmp",
            "A /tmp/new",
        ];
        if whiteouts {
            // Whited out by a higher lower layer: recreating it is an addition.
            std::fs::write(upper.join("etc/gone-below"), "again").unwrap();
            assert!(mknod_whiteout(&upper.join("etc/group")));
            want.extend(["A /etc/gone-below", "D /etc/group"]);
            // An opaque directory hides what the layers had below it.
            std::fs::create_dir_all(upper.join("var/cache")).unwrap();
            std::fs::write(upper.join("var/cache/b"), "new b").unwrap();
            if set_opaque(&upper.join("var/cache")) {
                want.extend(["C /var", "C /var/cache", "A /var/cache/b", "D /var/cache/x"]);
                // Below an opaque directory nothing of the layers exists.
                std::fs::create_dir_all(upper.join("opt")).unwrap();
                assert!(set_opaque(&upper.join("opt")));
                std::fs::create_dir_all(upper.join("opt/old")).unwrap();
                want.extend(["C /opt", "A /opt/old"]);
            } else {
                want.extend(["C /var", "C /var/cache", "C /var/cache/b"]);
            }
        }
        let got = overlay_changes(&upper, &[low1, low2]).unwrap();
        let mut got = lines(&got);
        let pos = |p: &str| got.iter().position(|l| l == p);
        if let (Some(a), Some(b)) = (pos("C /etc"), pos("C /etc/passwd")) {
            assert!(a < b, "{got:?}");
        }
        got.sort();
        want.sort();
        assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn native_trees_compare_like_docker() {
        let t = tempfile::tempdir().unwrap();
        let (new, old) = (t.path().join("new"), t.path().join("old"));
        for d in [&new, &old] {
            std::fs::create_dir_all(d.join("etc")).unwrap();
            std::fs::write(d.join("etc/same"), "s").unwrap();
        }
        let same = std::fs::metadata(old.join("etc/same"))
            .unwrap()
            .modified()
            .unwrap();
        std::fs::File::options()
            .write(true)
            .open(new.join("etc/same"))
            .unwrap()
            .set_modified(same)
            .unwrap();
        std::fs::write(old.join("etc/group"), "g").unwrap();
        std::fs::write(old.join("etc/passwd"), "p").unwrap();
        std::fs::write(new.join("etc/passwd"), "p2").unwrap();
        std::fs::create_dir(new.join("added")).unwrap();
        std::fs::write(new.join("added/f"), "f").unwrap();
        let got = lines(&tree_changes(&new, Some(&old)).unwrap());
        assert_eq!(
            got,
            [
                "A /added",
                "A /added/f",
                "C /etc",
                "D /etc/group",
                "C /etc/passwd"
            ]
        );
        let all = lines(&tree_changes(&new, None).unwrap());
        assert!(all.iter().all(|l| l.starts_with("A /")), "{all:?}");
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("etc/hostname"), "inside\n").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("etc/x")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/hostname", root.join("data/up")).unwrap();
        std::os::unix::fs::symlink("/", root.join("data/top")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        let fd = rfs::open(&root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();

        for p in ["/etc/x", "data/up", "/data/top/etc/x", "/data/top/./etc/x"] {
            let (real, exists) =
                resolve_in_root(fd.as_fd(), &clean_components(p.as_bytes()), true).unwrap();
            assert!(exists, "{p}");
            assert_eq!(join(&real), b"etc/hostname", "{p}");
            let f = open_in(fd.as_fd(), &join(&real), OFlags::RDONLY).unwrap();
            let mut s = String::new();
            File::from(f).read_to_string(&mut s).unwrap();
            assert_eq!(s, "inside\n", "{p}");
        }
        // Not following the last component keeps the link itself.
        let (real, _) = resolve_in_root(fd.as_fd(), &clean_components(b"/etc/x"), false).unwrap();
        assert_eq!(join(&real), b"etc/x");
        // A missing last component is reported, a missing parent is an error.
        let (real, exists) =
            resolve_in_root(fd.as_fd(), &clean_components(b"/data/top/new"), true).unwrap();
        assert!(!exists);
        assert_eq!(join(&real), b"new");
        assert!(resolve_in_root(fd.as_fd(), &clean_components(b"/nope/x"), true).is_err());
        assert_eq!(
            resolve_in_root(fd.as_fd(), &clean_components(b"/loop"), true).unwrap_err(),
            Errno::LOOP
        );
        // `..` in the user's path is lexical and stops at the root.
        assert_eq!(
            clean_components(b"/../../etc/./x/"),
            vec![b"etc".to_vec(), b"x".to_vec()]
        );
    }

    #[test]
    fn copies_in_and_out_stay_in_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::write(root.join("etc/hostname"), "inside\n").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("etc/x")).unwrap();
        std::os::unix::fs::symlink("/", root.join("tmp/escape")).unwrap();
        let fd = rfs::open(&root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();

        // Out: a link to an absolute path is read inside the root.
        let src = ContainerSource::open(fd.as_fd(), "/etc/x", true, "c").unwrap();
        let out = t.path().join("out");
        let mut w = HostWriter::default();
        w.node(src.parent.as_fd(), &src.name, &out).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "inside\n");
        // Without -L the link itself is copied.
        let src = ContainerSource::open(fd.as_fd(), "/etc/x", false, "c").unwrap();
        let link = t.path().join("link");
        w.node(src.parent.as_fd(), &src.name, &link).unwrap();
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("/etc/hostname")
        );

        // In: through a link to `/`, into a directory of the root, mode kept.
        let host = t.path().join("in.txt");
        std::fs::write(&host, "payload").unwrap();
        std::fs::set_permissions(&host, std::os::unix::fs::PermissionsExt::from_mode(0o750))
            .unwrap();
        let plan =
            container_target(fd.as_fd(), "/tmp/escape/etc/", false, false, b"in.txt", "c").unwrap();
        assert_eq!(plan, ContainerTarget::At(b"etc/in.txt".to_vec()));
        let ContainerTarget::At(name) = plan else {
            unreachable!()
        };
        let stats = apply_tar(fd.as_fd(), |b| {
            let mut n = 0;
            host_tar(b, &host, &name, false, None, &mut n)?;
            Ok(n)
        })
        .unwrap();
        assert_eq!(stats.content_size, 7);
        let meta = std::fs::metadata(root.join("etc/in.txt")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o750);
        // Onto an existing link to a file: the link's target inside the root is written.
        let plan = container_target(fd.as_fd(), "/etc/x", false, false, b"in.txt", "c").unwrap();
        assert_eq!(plan, ContainerTarget::At(b"etc/hostname".to_vec()));
        // A directory is not replaced by a file.
        assert!(container_target(fd.as_fd(), "/etc", false, false, b"tmp", "c").is_ok());
        assert!(container_target(fd.as_fd(), "/", false, false, b"tmp", "c").is_err());
        assert!(matches!(
            container_target(fd.as_fd(), "/nope/x", false, false, b"f", "c"),
            Err(EngineError::NotFound(_))
        ));
        assert!(container_target(fd.as_fd(), "/tmp/.wh.x", false, false, b"f", "c").is_err());
    }

    #[test]
    fn host_targets_follow_docker() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        let file = t.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(
            host_target(&dir, false, false, b"passwd").unwrap(),
            HostTarget::At(dir.join("passwd"))
        );
        assert_eq!(
            host_target(&dir, true, true, b"tree").unwrap(),
            HostTarget::Into(dir.clone())
        );
        assert_eq!(
            host_target(&file, false, false, b"passwd").unwrap(),
            HostTarget::At(file.clone())
        );
        assert!(host_target(&file, true, false, b"tree").is_err());
        let new = t.path().join("new");
        assert_eq!(
            host_target(&new, true, false, b"tree").unwrap(),
            HostTarget::At(new.clone())
        );
        assert!(host_target(&t.path().join("no/such"), false, false, b"x").is_err());
    }

    #[test]
    fn ps_output_is_filtered_like_docker() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                   root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                   root        4242    4200  0 10:01 ?        00:00:00 sleep 1000\n";
        let list = parse_ps(out, &[4242]).unwrap();
        assert_eq!(list.titles.len(), 8);
        assert_eq!(
            list.processes,
            vec![vec![
                "root",
                "4242",
                "4200",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sleep 1000"
            ]]
        );
        assert!(parse_ps("USER CMD\n", &[1]).is_err());
        assert_eq!(parent_pid("12 (a b) c) S 7 12 12"), Some(7));
    }

    #[test]
    fn commit_config_merges_the_container_options() {
        let image: Map<String, Value> = serde_json::from_value(json!({
            "Env": ["PATH=/bin", "A=1"],
            "Cmd": ["sh"],
        }))
        .unwrap();
        let copts = ContainerOptions {
            cmd: vec!["sleep".into(), "1".into()],
            env: vec!["A=2".into(), "B=3".into()],
            workdir: Some("/w".into()),
            ..Default::default()
        };
        assert_eq!(container_cmd(&copts, &image), ["sleep", "1"]);
        let cfg = commit_config(image.clone(), &copts);
        assert_eq!(cfg["Env"], json!(["PATH=/bin", "A=2", "B=3"]));
        assert_eq!(cfg["Cmd"], json!(["sleep", "1"]));
        assert_eq!(cfg["WorkingDir"], json!("/w"));
        assert_eq!(container_cmd(&ContainerOptions::default(), &image), ["sh"]);
    }
}

/// The paths the runtime creates in the container's upper dir as mount points: every mount
/// destination of its spec, and `/dev`, `/proc`, `/sys`. docker keeps these in a hidden
/// "init" layer, so `diff` never shows them.
fn runtime_mountpoints(spec: &Path) -> std::collections::HashSet<String> {
    let mut set: std::collections::HashSet<String> = ["/dev", "/proc", "/sys"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if let Ok(spec) = oci_spec::runtime::Spec::load(spec) {
        for m in spec.mounts().iter().flatten() {
            set.insert(m.destination().display().to_string());
        }
    }
    set
}

/// Drops additions that are only the runtime's empty mount points, and directories added
/// only to hold them.
fn hide_mountpoints(
    changes: Vec<(char, String)>,
    mountpoints: &std::collections::HashSet<String>,
    upper: &Path,
) -> Vec<(char, String)> {
    let empty = |p: &str| -> bool {
        let path = upper.join(p.trim_start_matches('/'));
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none()),
            Ok(m) => m.is_file() && m.len() == 0,
            Err(_) => false,
        }
    };
    let hidden: std::collections::HashSet<&str> = changes
        .iter()
        .filter(|(k, p)| *k == 'A' && mountpoints.contains(p) && empty(p))
        .map(|(_, p)| p.as_str())
        .collect();
    // A directory added only for hidden mount points (`/sbin` for `--init`) goes too.
    let holds_only_hidden = |dir: &str| -> bool {
        let prefix = format!("{dir}/");
        let inside: Vec<&str> = changes
            .iter()
            .map(|(_, p)| p.as_str())
            .filter(|p| p.starts_with(&prefix))
            .collect();
        !inside.is_empty() && inside.iter().all(|p| hidden.contains(p))
    };
    changes
        .iter()
        .filter(|(k, p)| !(hidden.contains(p.as_str()) || (*k == 'A' && holds_only_hidden(p))))
        .cloned()
        .collect()
}

#[cfg(test)]
mod mountpoint_tests {
    use super::*;

    #[test]
    fn runtime_mount_points_are_hidden_but_real_changes_stay() {
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path();
        std::fs::create_dir_all(up.join("proc")).unwrap();
        std::fs::create_dir_all(up.join("sbin")).unwrap();
        std::fs::write(up.join("sbin/docker-init"), b"").unwrap();
        std::fs::create_dir_all(up.join("etc")).unwrap();
        std::fs::write(up.join("etc/hosts"), b"").unwrap();
        std::fs::write(up.join("etc/motd"), b"hi").unwrap();
        std::fs::create_dir_all(up.join("sys/x")).unwrap();
        let mps: std::collections::HashSet<String> =
            ["/proc", "/sys", "/etc/hosts", "/sbin/docker-init"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
        let changes = vec![
            ('C', "/etc".to_owned()),
            ('A', "/etc/hosts".to_owned()),
            ('A', "/etc/motd".to_owned()),
            ('A', "/proc".to_owned()),
            ('A', "/sbin".to_owned()),
            ('A', "/sbin/docker-init".to_owned()),
            ('A', "/sys".to_owned()),
            ('A', "/sys/x".to_owned()),
        ];
        let kept = hide_mountpoints(changes, &mps, up);
        assert_eq!(
            kept,
            vec![
                ('C', "/etc".to_owned()),
                ('A', "/etc/motd".to_owned()),
                ('A', "/sys".to_owned()),
                ('A', "/sys/x".to_owned()),
            ]
        );
    }
}
