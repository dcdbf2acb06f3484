//! `stats`: what a running container uses, read where docker reads it: the cgroups of its
//! init (v1 or v2, found in `/proc/<pid>/cgroup`, whatever runtime made them) and the
//! network devices of its namespace.

use std::path::Path;
use std::time::Instant;

use kasane_runtime::cgroups::CgroupPaths;
use kasane_store::metadata::ContainerRecord;

use super::Status;
use crate::Engine;
use crate::error::Result;

/// One reading of a container's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSample {
    /// When it was read.
    pub at: Instant,
    /// CPU time used so far, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use without the inactive file cache (docker's figure).
    pub mem_usage: u64,
    /// The memory limit, or the host's memory when there is none.
    pub mem_limit: u64,
    /// Bytes received and sent on every interface but `lo`.
    pub net: (u64, u64),
    /// Bytes read from and written to block devices.
    pub block: (u64, u64),
    /// Processes (tasks) in the container.
    pub pids: u64,
}

impl StatsSample {
    /// CPU use between `earlier` and this sample, in percent of one CPU (docker's figure:
    /// 200% is two CPUs busy).
    pub fn cpu_percent_since(&self, earlier: &StatsSample) -> f64 {
        let wall = self.at.saturating_duration_since(earlier.at).as_nanos() as f64;
        if wall <= 0.0 {
            return 0.0;
        }
        self.cpu_ns.saturating_sub(earlier.cpu_ns) as f64 / wall * 100.0
    }

    /// Memory in use, in percent of the limit.
    pub fn mem_percent(&self) -> f64 {
        if self.mem_limit == 0 {
            0.0
        } else {
            self.mem_usage as f64 / self.mem_limit as f64 * 100.0
        }
    }
}

impl Engine {
    /// Reads container `record`'s counters; `None` when it does not run.
    ///
    /// # Errors
    /// Its state cannot be read.
    pub fn container_stats(&mut self, record: &ContainerRecord) -> Result<Option<StatsSample>> {
        let state = self.container_state(record)?;
        if state.status != Status::Running || state.pid <= 0 {
            return Ok(None);
        }
        Ok(sample(state.pid))
    }
}

/// The counters of the container whose init is `pid`; `None` once it is gone.
fn sample(pid: i32) -> Option<StatsSample> {
    let groups = CgroupPaths::of(u32::try_from(pid).ok()?)?;
    let at = Instant::now();
    let host_memory = host_memory();
    let (cpu_ns, mem_usage, mem_limit, block, pids) = match &groups {
        CgroupPaths::V2(dir) => {
            let cpu = key_value(&dir.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000;
            let current = number(&dir.join("memory.current")).unwrap_or(0);
            let inactive = key_value(&dir.join("memory.stat"), "inactive_file").unwrap_or(0);
            let limit = number(&dir.join("memory.max")).unwrap_or(host_memory);
            let block = io_stat(&dir.join("io.stat"));
            let pids = number(&dir.join("pids.current")).unwrap_or(0);
            (cpu, current.saturating_sub(inactive), limit, block, pids)
        }
        CgroupPaths::V1(_) => {
            let dir = |c: &str| groups.controller(c);
            let cpu = dir("cpuacct")
                .and_then(|d| number(&d.join("cpuacct.usage")))
                .unwrap_or(0);
            let (usage, limit) = dir("memory").map_or((0, host_memory), |d| {
                let usage = number(&d.join("memory.usage_in_bytes")).unwrap_or(0);
                let inactive =
                    key_value(&d.join("memory.stat"), "total_inactive_file").unwrap_or(0);
                let limit = number(&d.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
                (usage.saturating_sub(inactive), limit)
            });
            let block = dir("blkio").map_or((0, 0), |d| {
                blkio_bytes(&d.join("blkio.throttle.io_service_bytes_recursive"))
            });
            let pids = dir("pids")
                .and_then(|d| number(&d.join("pids.current")))
                .unwrap_or(0);
            (cpu, usage, limit.min(host_memory), block, pids)
        }
    };
    Some(StatsSample {
        at,
        cpu_ns,
        mem_usage,
        mem_limit,
        net: net_bytes(pid),
        block,
        pids,
    })
}

fn number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a `key value` file (`memory.stat`, `cpu.stat`).
fn key_value(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Read and written bytes of a v1 `blkio.throttle.io_service_bytes_recursive`.
fn blkio_bytes(path: &Path) -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (0, 0);
    };
    let (mut read, mut write) = (0, 0);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [_, op, n] = f.as_slice() {
            let n: u64 = n.parse().unwrap_or(0);
            match *op {
                "Read" => read += n,
                "Write" => write += n,
                _ => {}
            }
        }
    }
    (read, write)
}

/// Read and written bytes of a v2 `io.stat`.
fn io_stat(path: &Path) -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (0, 0);
    };
    let (mut read, mut write) = (0, 0);
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            read += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            write += v.parse::<u64>().unwrap_or(0);
        }
    }
    (read, write)
}

/// Received and sent bytes of the namespace of `pid`, `lo` left out.
fn net_bytes(pid: i32) -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/dev")) else {
        return (0, 0);
    };
    let (mut rx, mut tx) = (0, 0);
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

/// The host's memory in bytes (`MemTotal`).
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(
            p.join("blk"),
            "8:0 Read 100\n8:0 Write 20\n8:0 Total 120\n8:16 Read 1\nTotal 121\n",
        )
        .unwrap();
        assert_eq!(blkio_bytes(&p.join("blk")), (101, 20));
        std::fs::write(
            p.join("io"),
            "8:0 rbytes=10 wbytes=5 rios=1\n8:16 rbytes=1 wbytes=0\n",
        )
        .unwrap();
        assert_eq!(io_stat(&p.join("io")), (11, 5));
        std::fs::write(p.join("stat"), "cache 5\ntotal_inactive_file 7\n").unwrap();
        assert_eq!(key_value(&p.join("stat"), "total_inactive_file"), Some(7));
        assert_eq!(key_value(&p.join("stat"), "inactive_file"), None);
        std::fs::write(p.join("max"), "max\n").unwrap();
        assert_eq!(number(&p.join("max")), None);
        assert_eq!(blkio_bytes(&p.join("missing")), (0, 0));
    }

    #[test]
    fn percentages() {
        let t = Instant::now();
        let a = StatsSample {
            at: t,
            cpu_ns: 0,
            mem_usage: 0,
            mem_limit: 0,
            net: (0, 0),
            block: (0, 0),
            pids: 0,
        };
        let b = StatsSample {
            at: t + std::time::Duration::from_secs(1),
            cpu_ns: 1_500_000_000,
            mem_usage: 25,
            mem_limit: 100,
            ..a.clone()
        };
        assert!((b.cpu_percent_since(&a) - 150.0).abs() < 1e-9);
        assert!((b.mem_percent() - 25.0).abs() < 1e-9);
        assert_eq!(a.mem_percent(), 0.0);
        assert_eq!(a.cpu_percent_since(&b), 0.0);
    }

    #[test]
    fn this_process_has_counters() {
        // Whatever the host's cgroup layout, the reader finds this process's groups and
        // the kernel's counters for it.
        let s = sample(std::process::id() as i32).unwrap();
        assert!(s.mem_limit > 0);
    }
}
