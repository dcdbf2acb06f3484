//! `top`: the container's processes as the host's `ps` shows them.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::ProcessList;
use crate::Engine;
use crate::containers::state::Status;
use crate::error::{EngineError, Result};

impl Engine {
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
            return Err(EngineError::ContainerState(format!(
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
}

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
pub(super) fn parent_pid(stat: &str) -> Option<i32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// docker's `parsePSOutput`: the header's words are the titles, rows whose PID is one of
/// `pids` are kept, extra words joined into the last column.
pub(super) fn parse_ps(output: &str, pids: &[i32]) -> Result<ProcessList> {
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
