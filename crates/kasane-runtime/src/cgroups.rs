//! Where a process's cgroups are: the unified hierarchy's directory, or each v1
//! controller's, read from `/proc/<pid>/cgroup` with the hierarchies mounted under
//! `/sys/fs/cgroup` (alone, `memory`, or with companions, `cpu,cpuacct`). Whatever runtime
//! made them, this finds them.

use std::path::{Path, PathBuf};

/// A process's cgroup directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPaths {
    /// The unified (v2) hierarchy's directory.
    V2(PathBuf),
    /// Each mounted v1 controller (`memory`, `cpuacct`, …) with its directory, in the order
    /// of `/proc/<pid>/cgroup`.
    V1(Vec<(String, PathBuf)>),
}

impl CgroupPaths {
    /// The cgroups of process `pid`; `None` when it is gone or cgroups are not mounted.
    pub fn of(pid: u32) -> Option<CgroupPaths> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        Some(Self::parse(&text, Path::new("/sys/fs/cgroup")))
    }

    /// Reads a `/proc/<pid>/cgroup` text against the hierarchies mounted under `root`.
    fn parse(text: &str, root: &Path) -> CgroupPaths {
        let under = |p: &str| root.join(p.trim_start_matches('/'));
        if root.join("cgroup.controllers").exists()
            && let Some(path) = text.lines().find_map(|l| l.strip_prefix("0::"))
        {
            return CgroupPaths::V2(under(path));
        }
        let mut dirs = Vec::new();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            for c in ctrls.split(',').filter(|c| !c.is_empty()) {
                let dir = [c, ctrls]
                    .iter()
                    .map(|m| root.join(m).join(path.trim_start_matches('/')))
                    .find(|d| d.is_dir());
                if let Some(d) = dir {
                    dirs.push((c.to_owned(), d));
                }
            }
        }
        CgroupPaths::V1(dirs)
    }

    /// The directory of v1 controller `name` (`None` on v2 or when it is not mounted).
    pub fn controller(&self, name: &str) -> Option<&Path> {
        match self {
            CgroupPaths::V1(dirs) => dirs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, d)| d.as_path()),
            CgroupPaths::V2(_) => None,
        }
    }

    /// Some directory of the process's own cgroup: the unified one, or its first v1
    /// controller's.
    pub fn any(&self) -> Option<&Path> {
        match self {
            CgroupPaths::V2(d) => Some(d),
            CgroupPaths::V1(dirs) => dirs.first().map(|(_, d)| d.as_path()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_controllers_alone_and_joined() {
        let root = tempfile::tempdir().unwrap();
        for d in [
            "memory/kasane/c1",
            "cpu,cpuacct/kasane/c1",
            "pids/kasane/c1",
        ] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let text = "12:pids:/kasane/c1\n4:memory:/kasane/c1\n2:cpu,cpuacct:/kasane/c1\n1:name=systemd:/x\n0::/\n";
        let p = CgroupPaths::parse(text, root.path());
        assert_eq!(
            p.controller("memory"),
            Some(root.path().join("memory/kasane/c1").as_path())
        );
        assert_eq!(
            p.controller("cpuacct"),
            Some(root.path().join("cpu,cpuacct/kasane/c1").as_path())
        );
        assert_eq!(p.controller("blkio"), None);
        assert_eq!(p.any(), Some(root.path().join("pids/kasane/c1").as_path()));
    }

    #[test]
    fn unified() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        let p = CgroupPaths::parse("0::/kasane/c1\n", root.path());
        assert_eq!(p, CgroupPaths::V2(root.path().join("kasane/c1")));
        assert_eq!(p.controller("memory"), None);
    }

    #[test]
    fn this_process() {
        if Path::new("/sys/fs/cgroup").is_dir() {
            assert!(CgroupPaths::of(std::process::id()).is_some());
        }
    }
}
