//! Starting the kernel's cgroup-attach grace period before the runtime needs it.
//!
//! Every runtime puts a container's first process into its cgroups by writing a pid to
//! `cgroup.procs`. That write takes the kernel's global `cgroup_threadgroup_rwsem` for
//! writing, and the first writer after a quiet spell waits for an RCU grace period while the
//! rwsem leaves its reader fast path: 7–18 ms on the build machines, on the critical path of
//! every container start, in youki, crun and runc alike. A writer that comes while the
//! rwsem is still in (or just back from) writer mode does not wait.
//!
//! So before it mounts the rootfs and writes the bundle, the monitor forks a short-lived
//! child that writes its own pid to the `cgroup.procs` of the cgroup it is already in: a
//! move to where it is, changing nothing, that starts the grace period. It passes while the
//! monitor works, and the runtime's own write a few milliseconds later returns at once.

use std::io::Write;

/// Starts the grace period in a forked child (this process must be single-threaded) and
/// returns the child's pid, which the caller reaps (the monitor's `wait_exit` reaps any
/// child). `None` when it cannot: nothing depends on it but speed.
pub fn start() -> Option<i32> {
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

/// The `cgroup.procs` of this process's own cgroup (the rwsem is shared by every
/// hierarchy, so any one of them does).
fn own_cgroup_procs() -> Option<std::path::PathBuf> {
    let paths = crate::cgroups::CgroupPaths::of(std::process::id())?;
    let procs = paths.any()?.join("cgroup.procs");
    procs.exists().then_some(procs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_this_process_cgroup_procs() {
        // Wherever cgroups are mounted, this process is in one and its cgroup.procs exists.
        if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
            || std::path::Path::new("/sys/fs/cgroup/pids").is_dir()
        {
            let p = super::own_cgroup_procs().expect("this process's cgroup.procs");
            assert!(p.ends_with("cgroup.procs"), "{p:?}");
        }
    }
}
