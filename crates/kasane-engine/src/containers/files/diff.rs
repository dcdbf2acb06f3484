//! `diff`: a container's changes to its image's file system (overlay upper dir or native
//! tree comparison), and the native snapshotter's change set as a layer for `commit`.

use std::collections::{BTreeSet, HashSet};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use super::{TarOut, WHITEOUT_PREFIX, join, join_name, list_names, open_subdir, os_path};
use crate::error::{EngineError, Result};
use crate::{Engine, snap_id};

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
}

/// The xattr overlayfs marks an opaque directory with (value `y`).
pub(super) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// A change: kind (`A`, `C`, `D`) and the absolute path in the container.
pub(super) type Change = (char, Vec<u8>);

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
pub(super) fn overlay_changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<Change>> {
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
pub(super) fn tree_changes(new: &Path, old: Option<&Path>) -> io::Result<Vec<Change>> {
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
pub(super) fn export_tree_changes(
    new: &Path,
    old: Option<&Path>,
    out: &mut dyn Write,
) -> io::Result<()> {
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
mod tests;
