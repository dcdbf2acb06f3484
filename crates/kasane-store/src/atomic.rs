//! The one way kasane persists a file: temp file → write → fsync → rename → fsync directory.
//!
//! Owns: [`write_atomic`], [`write_atomic_with`] and [`AtomicFile`] for whole files (metadata
//! documents, `index.json`, ingest `meta`), plus the two primitives the blob store composes
//! ([`publish`] and [`fsync_dir`]). Nobody calls `fs::write` on a store path (STYLE rule 2).
//!
//! Layout: the temp file lives in the target's own directory, so the final rename never
//! crosses a filesystem:
//! ```text
//! dir/
//! ├── index.json                   the published file (old or new content, never a mix)
//! └── .index.json.tmp-3f9c…        the write in progress; removed on drop or commit
//! ```
//!
//! Lifecycle:
//! ```no_run
//! # fn main() -> kasane_store::Result<()> {
//! use std::io::Write;
//! use kasane_store::atomic::{AtomicFile, IfExists};
//! let mut f = AtomicFile::create("/tmp/x/index.json".as_ref())?;
//! f.write_all(b"{}").map_err(|e| kasane_store::StoreError::io("writing", "/tmp/x", e))?;
//! f.commit(IfExists::Replace)?; // fsync, rename, fsync dir
//! # Ok(()) }
//! ```
//!
//! Guarantees: readers see the old file or the whole new one. After `commit` returns, the
//! content and the directory entry are on stable storage (both are fsynced). A temp file that
//! is dropped uncommitted is removed; one left by a killed process is a hidden `.…tmp-…` file
//! that GC may collect.
//!
//! "Already exists" is success when the caller says so: [`IfExists::Keep`] for
//! content-addressed names (same name ⇒ same bytes), [`IfExists::KeepIfSame`] when a
//! differing file is an error worth reporting. Those two publish with `RENAME_NOREPLACE`
//! (falling back to `link(2)` where the filesystem lacks it), so two racing writers never
//! clobber each other.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// What to do when the target exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfExists {
    /// Replace it atomically (mutable documents such as `index.json`).
    Replace,
    /// Keep it and succeed without comparing (content-addressed names).
    Keep,
    /// Keep it and succeed if its bytes are identical; `AlreadyExists` otherwise.
    KeepIfSame,
}

/// Whether a publish wrote the target or found it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The new content is now at the target.
    Written,
    /// The target existed and was kept (per [`IfExists`]).
    AlreadyExisted,
}

/// Writes `bytes` to `path` atomically and durably, replacing any existing file.
///
/// # Errors
/// `Io` naming the path of the step that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, IfExists::Replace).map(|_| ())
}

/// Writes `bytes` to `path` atomically and durably, with the given policy for an existing
/// target.
///
/// # Errors
/// `Io` naming the path; `AlreadyExists` for [`IfExists::KeepIfSame`] with different content.
pub fn write_atomic_with(path: &Path, bytes: &[u8], if_exists: IfExists) -> Result<Outcome> {
    if if_exists != IfExists::Replace && fs::symlink_metadata(path).is_ok() {
        // Cheap early exit; the publish below still decides races atomically.
        if if_exists == IfExists::Keep || same_content(path, &mut io::Cursor::new(bytes))? {
            return Ok(Outcome::AlreadyExisted);
        }
        return Err(StoreError::AlreadyExists(path.display().to_string()));
    }
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|e| StoreError::io("writing", &file.tmp, e))?;
    file.commit(if_exists)
}

/// A file written under a temporary name and published atomically by [`AtomicFile::commit`].
///
/// Dropped without commit, it removes its temp file and leaves the target untouched.
#[derive(Debug)]
pub struct AtomicFile {
    file: File,
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temp file beside `target` (its directory must exist).
    ///
    /// # Errors
    /// `Io` when the temp file cannot be created.
    pub fn create(target: &Path) -> Result<Self> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::create_tmp(parent_dir(target), &name, target.to_path_buf())
    }

    /// Creates a temp file in `dir` for content whose name is known only at the end (a blob
    /// whose digest is being computed); publish it with [`AtomicFile::commit_to`].
    ///
    /// # Errors
    /// `Io` when the temp file cannot be created.
    pub fn create_in(dir: &Path) -> Result<Self> {
        Self::create_tmp(dir, "", dir.to_path_buf())
    }

    fn create_tmp(dir: &Path, name: &str, target: PathBuf) -> Result<Self> {
        loop {
            let tmp = dir.join(format!(".{name}.tmp-{:016x}", rand::random::<u64>()));
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => {
                    return Ok(AtomicFile {
                        file,
                        tmp,
                        target,
                        committed: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StoreError::io("creating", tmp, e)),
            }
        }
    }

    /// The open temp file (for `set_len`, `copy_file_range` and similar fast paths).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The temp file's path.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// The path the content will be published at.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Fsyncs the content, publishes it at the target and fsyncs the directory.
    ///
    /// # Errors
    /// `Io` naming the failing step's path; `AlreadyExists` for [`IfExists::KeepIfSame`] with
    /// different content. The temp file is removed on every path.
    pub fn commit(self, if_exists: IfExists) -> Result<Outcome> {
        let target = self.target.clone();
        self.commit_to(&target, if_exists)
    }

    /// Like [`AtomicFile::commit`], publishing at `target` (which must be on the same
    /// filesystem as the temp file, normally in the same directory).
    ///
    /// # Errors
    /// As [`AtomicFile::commit`].
    pub fn commit_to(mut self, target: &Path, if_exists: IfExists) -> Result<Outcome> {
        self.file
            .sync_all()
            .map_err(|e| StoreError::io("syncing", &self.tmp, e))?;
        let outcome = publish(&self.tmp, target, if_exists);
        // On success the temp name is gone (renamed) or must go (kept existing); on failure it
        // must go too. Drop does it; mark committed only when the rename consumed it.
        if matches!(outcome, Ok(Outcome::Written)) {
            self.committed = true;
        }
        outcome
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed
            && let Err(e) = fs::remove_file(&self.tmp)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.tmp.display(), error = %e, "removing temp file");
        }
    }
}

/// Renames the (already fsynced) file `tmp` to `target` per `if_exists`, then fsyncs the
/// target's directory. For [`IfExists::Keep`]/[`IfExists::KeepIfSame`] an existing target
/// wins and `tmp` is left for the caller to remove.
///
/// # Errors
/// `Io` naming the path; `AlreadyExists` for [`IfExists::KeepIfSame`] with different content.
pub fn publish(tmp: &Path, target: &Path, if_exists: IfExists) -> Result<Outcome> {
    match if_exists {
        IfExists::Replace => {
            fs::rename(tmp, target).map_err(|e| StoreError::io("renaming to", target, e))?;
        }
        IfExists::Keep | IfExists::KeepIfSame => match rename_noreplace(tmp, target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if if_exists == IfExists::Keep {
                    return Ok(Outcome::AlreadyExisted);
                }
                let mut new = File::open(tmp).map_err(|e| StoreError::io("opening", tmp, e))?;
                if same_content(target, &mut new)? {
                    return Ok(Outcome::AlreadyExisted);
                }
                return Err(StoreError::AlreadyExists(target.display().to_string()));
            }
            Err(e) => return Err(StoreError::io("renaming to", target, e)),
        },
    }
    fsync_dir(parent_dir(target))?;
    Ok(Outcome::Written)
}

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
///
/// # Errors
/// `Io` naming the directory.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("syncing directory", dir, e))
}

/// Creates `dir` and its parents, fsyncing each parent whose entry was new, so the directory
/// survives a crash.
///
/// # Errors
/// `Io` naming the directory.
pub fn create_dir_all_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dir_all_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => fsync_dir(parent_dir(dir)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(StoreError::io("creating directory", dir, e)),
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `renameat2(RENAME_NOREPLACE)`, or `link` + `unlink` where the filesystem lacks it.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            // Some filesystems (older NFS, FUSE) refuse the flag; link(2) is just as atomic
            // about not replacing, at the cost of a second syscall.
            fs::hard_link(from, to)?;
            fs::remove_file(from)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether the file at `path` has exactly the bytes `other` yields.
fn same_content(path: &Path, other: &mut dyn Read) -> Result<bool> {
    let mut existing = File::open(path).map_err(|e| StoreError::io("opening", path, e))?;
    let mut a = vec![0u8; 64 * 1024];
    let mut b = vec![0u8; 64 * 1024];
    loop {
        let n = read_full(&mut existing, &mut a).map_err(|e| StoreError::io("reading", path, e))?;
        let m = read_full(other, &mut b[..n.max(1)]).map_err(|e| StoreError::Stream {
            what: format!("comparing with {}", path.display()),
            source: e,
        })?;
        if n != m || a[..n] != b[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or EOF; returns the bytes read.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replace_and_keep_policies() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            write_atomic_with(&p, b"three", IfExists::Keep).unwrap(),
            Outcome::AlreadyExisted
        );
        assert_eq!(
            write_atomic_with(&p, b"two", IfExists::KeepIfSame).unwrap(),
            Outcome::AlreadyExisted
        );
        let err = write_atomic_with(&p, b"tw", IfExists::KeepIfSame).unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists(_)), "{err}");
        assert_eq!(fs::read(&p).unwrap(), b"two");
        // No temp files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_file_publishes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"partial").unwrap();
        drop(f);
        assert!(!p.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn racing_keep_if_same_publishes_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut a = AtomicFile::create(&p).unwrap();
        let mut b = AtomicFile::create(&p).unwrap();
        a.write_all(b"same").unwrap();
        b.write_all(b"same").unwrap();
        assert_eq!(a.commit(IfExists::KeepIfSame).unwrap(), Outcome::Written);
        assert_eq!(
            b.commit(IfExists::KeepIfSame).unwrap(),
            Outcome::AlreadyExisted
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
