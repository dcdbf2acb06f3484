//! Starting the kernel's cgroup-attach grace period before the runtime needs it.
//!
//! Every runtime puts a container's first process into its cgroups by writing a pid to
//! `cgroup.procs`. That write takes the kernel's global `cgroup_threadgroup_rwsem` for
//! writing, and the first writer after a quiet spell waits for an RCU grace period while the
//! rwsem leaves its reader fast path: 7–18 ms on the build machines, on the critical path of
//! every container start, in youki, crun and runc alike. A writer that comes while the
//! rwsem is still in (or just back from) writer mode does not wait.
//!
//! So a short-lived child writes its own pid to the `cgroup.procs` of the cgroup it is
//! already in: a move to where it is, changing nothing, that starts the grace period. It
//! passes while kasane works, and the runtime's own write a few milliseconds later returns
//! at once. The earlier the better, because the writer holds the cgroup mutex for the whole
//! grace period (the runtime's `mkdir`s of the container's cgroups queue behind it): `run`
//! and `start` start it first thing, before opening the store, and the monitor again before
//! it mounts the rootfs unless one started within [`SERVES_FOR`].

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Starts the grace period in a forked child (this process must be single-threaded) and
/// returns the child's pid, which the caller reaps (the monitor's `wait_exit` reaps any
/// child; a command that ends first leaves it to init). `None` when it cannot, or when this
/// process started one within [`SERVES_FOR`]: nothing depends on it but speed.
pub fn start() -> Option<i32> {
    if !claim_window(&LAST, Instant::now()) {
        return None;
    }
    let target = own_cgroup_procs()?;
    let child = crate::sys::fork_single_threaded(move || {
        // Nothing of the parent's (its locks least of all) should live on in the child.
        if crate::sys::close_inherited_fds().is_err() {
            return 1;
        }
        let pid = std::process::id().to_string();
        let written = std::fs::OpenOptions::new()
            .write(true)
            .open(&target)
            .and_then(|mut f| f.write_all(pid.as_bytes()));
        i32::from(written.is_err())
    })
    .ok()?;
    Some(child.as_raw())
}

/// How long one warm-up serves: its grace period (7–18 ms measured) and the one after its
/// write, during which the rwsem stays in writer mode and further writers do not wait.
const SERVES_FOR: Duration = Duration::from_millis(40);

/// When this process last started a warm-up.
static LAST: Mutex<Option<Instant>> = Mutex::new(None);

/// Whether a warm-up should start `now` (recording it in `last`): none did in the last
/// [`SERVES_FOR`]. A second one within that time would only queue behind the first one's
/// write (holding the cgroup mutex the runtime's `mkdir`s need) and gain nothing.
fn claim_window(last: &Mutex<Option<Instant>>, now: Instant) -> bool {
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_some_and(|t| now.saturating_duration_since(t) < SERVES_FOR) {
        return false;
    }
    *last = Some(now);
    true
}

/// The `cgroup.procs` of this process's own cgroup (the rwsem is shared by every
/// hierarchy, so any one of them does).
fn own_cgroup_procs() -> Option<std::path::PathBuf> {
    let paths = crate::cgroups::CgroupPaths::of(std::process::id())?;
    let procs = paths.any()?.join("cgroup.procs");
    procs.exists().then_some(procs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warm_up_serves_for_a_while() {
        let last = Mutex::new(None);
        let t = Instant::now();
        assert!(claim_window(&last, t), "the first claim starts a warm-up");
        assert!(
            !claim_window(&last, t + Duration::from_millis(5)),
            "too soon"
        );
        assert!(claim_window(&last, t + SERVES_FOR), "the window has passed");
    }

    #[test]
    fn finds_this_process_cgroup_procs() {
        // Wherever cgroups are mounted, this process is in one and its cgroup.procs exists.
        if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
            || std::path::Path::new("/sys/fs/cgroup/pids").is_dir()
        {
            let p = own_cgroup_procs().expect("this process's cgroup.procs");
            assert!(p.ends_with("cgroup.procs"), "{p:?}");
        }
    }
}
