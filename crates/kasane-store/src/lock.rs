//! Inter-process locks and lease liveness.
//!
//! Owns `<root>/gc.lock`. Garbage collection takes it exclusively, so two collections never
//! sweep at once; operations that publish content whose digest they could not lease in
//! advance take it shared for that short window. Long operations (a load, a pull) do *not*
//! hold it: their leases protect their content instead (see `metadata` and `gc`).
//!
//! Locks are `flock`s (`std::fs::File::lock`): the kernel drops them when a process dies,
//! so a SIGKILLed kasane never leaves a lock behind.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// A held lock on a lock file; released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    fn open(path: &Path) -> Result<File> {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("opening lock file", path, e))
    }

    /// Blocks until the exclusive lock on `path` is held.
    pub fn exclusive(path: &Path) -> Result<Self> {
        let file = Self::open(path)?;
        file.lock()
            .map_err(|e| StoreError::io("locking", path, e))?;
        Ok(FileLock {
            file,
            path: path.to_owned(),
        })
    }

    /// Blocks until a shared lock on `path` is held.
    pub fn shared(path: &Path) -> Result<Self> {
        let file = Self::open(path)?;
        file.lock_shared()
            .map_err(|e| StoreError::io("locking", path, e))?;
        Ok(FileLock {
            file,
            path: path.to_owned(),
        })
    }

    /// Takes the exclusive lock if nobody holds the file; `None` if somebody does.
    pub fn try_exclusive(path: &Path) -> Result<Option<Self>> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_owned(),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io("locking", path, e)),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the flock anyway; unlocking explicitly only makes
        // the release happen before any later close of a duplicated fd. Failure is harmless.
        let _ = self.file.unlock();
    }
}

/// The start time of process `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22),
/// or `None` if no such process exists. Together with the pid it identifies a process
/// uniquely, so a lease of a dead kasane is never mistaken for a live one after pid reuse.
pub fn process_start_time(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: split after the
    // last ')'. Field 3 is then the first one after it, so field 22 is index 19.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process's `(pid, start time)`, for taking leases.
pub fn current_process() -> (i64, i64) {
    let pid = i64::from(std::process::id());
    (pid, process_start_time(pid).unwrap_or(0))
}

/// Whether the process that took a lease is still alive.
pub fn holder_alive(pid: i64, pid_start: i64) -> bool {
    process_start_time(pid) == Some(pid_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gc.lock");
        let held = FileLock::exclusive(&p).unwrap();
        assert!(FileLock::try_exclusive(&p).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_exclusive(&p).unwrap().is_some());
    }

    #[test]
    fn own_process_is_alive_and_dead_pid_is_not() {
        let (pid, start) = current_process();
        assert!(holder_alive(pid, start));
        assert!(!holder_alive(pid, start + 1));
        assert!(!holder_alive(i64::from(i32::MAX), 0));
    }
}
