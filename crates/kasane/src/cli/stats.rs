//! `kasane stats [-a] [--no-stream] [--no-trunc] [--format] [CONTAINER...]`: docker's live
//! table of CPU, memory, network, block I/O and process counts.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use kasane::output::{FormatMode, bytes_size, human_size_with_precision, render_rows};
use kasane_engine::Engine;
use kasane_engine::containers::stats::StatsSample;
use kasane_store::metadata::ContainerRecord;
use serde_json::{Value, json};

use super::{GlobalOptions, open_engine};

/// `stats [OPTIONS] [CONTAINER...]`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Containers (default: every running one)
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

const DEFAULT: &str = "table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}";
const HEADERS: &[(&str, &str)] = &[
    ("BlockIO", "BLOCK I/O"),
    ("CPUPerc", "CPU %"),
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("MemPerc", "MEM %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("Name", "NAME"),
    ("NetIO", "NET I/O"),
    ("PIDs", "PIDS"),
];

/// How often the table is redrawn, and the span the first CPU figure is measured over.
const INTERVAL: Duration = Duration::from_millis(1000);

fn io_pair((a, b): (u64, u64)) -> String {
    format!(
        "{} / {}",
        human_size_with_precision(a as i64, 3),
        human_size_with_precision(b as i64, 3)
    )
}

fn row(
    record: &ContainerRecord,
    as_named: &str,
    now: Option<&StatsSample>,
    before: Option<&StatsSample>,
    no_trunc: bool,
) -> Value {
    let id = if no_trunc {
        record.id.clone()
    } else {
        record.id[..12].to_owned()
    };
    let (cpu, mem, mem_perc, net, block, pids) = match now {
        Some(s) => (
            before.map_or(0.0, |b| s.cpu_percent_since(b)),
            format!(
                "{} / {}",
                bytes_size(s.mem_usage as i64),
                bytes_size(s.mem_limit as i64)
            ),
            s.mem_percent(),
            io_pair(s.net),
            io_pair(s.block),
            s.pids,
        ),
        None => (
            0.0,
            "0B / 0B".to_owned(),
            0.0,
            "0B / 0B".to_owned(),
            "0B / 0B".to_owned(),
            0,
        ),
    };
    json!({
        "BlockIO": block,
        "CPUPerc": format!("{cpu:.2}%"),
        "Container": as_named,
        "ID": id,
        "MemPerc": format!("{mem_perc:.2}%"),
        "MemUsage": mem,
        "Name": record.name,
        "NetIO": net,
        "PIDs": pids.to_string(),
    })
}

/// The containers to show, with the name each was asked by.
fn targets(engine: &mut Engine, a: &StatsArgs) -> anyhow::Result<Vec<(ContainerRecord, String)>> {
    if !a.containers.is_empty() {
        return a
            .containers
            .iter()
            .map(|n| Ok((engine.find_container(n)?, n.clone())))
            .collect();
    }
    let mut out = Vec::new();
    for c in engine.list_containers(a.all, false)? {
        let record = engine.find_container(&c.id)?;
        out.push((record, c.id[..12].to_owned()));
    }
    Ok(out)
}

/// A sample of each running container of `shown`, by id.
fn samples(
    engine: &mut Engine,
    shown: &[(ContainerRecord, String)],
) -> anyhow::Result<HashMap<String, StatsSample>> {
    let mut out = HashMap::new();
    for (record, _) in shown {
        if let Some(s) = engine.container_stats(record)? {
            out.insert(record.id.clone(), s);
        }
    }
    Ok(out)
}

pub fn run(g: &GlobalOptions, a: StatsArgs) -> anyhow::Result<u8> {
    let mode = FormatMode::parse(a.format.as_deref(), DEFAULT)?;
    let mut engine = open_engine(g)?;
    let clear = !a.no_stream && std::io::stdout().is_terminal();
    let mut previous: HashMap<String, StatsSample> = HashMap::new();
    let mut first = true;
    loop {
        let shown = targets(&mut engine, &a)?;
        let mut now = samples(&mut engine, &shown)?;
        if first && !now.is_empty() {
            // docker's first figures already cover an interval: measure one.
            previous = now;
            std::thread::sleep(INTERVAL);
            now = samples(&mut engine, &shown)?;
        }
        first = false;
        let rows: Vec<Value> = shown
            .iter()
            .map(|(r, asked)| row(r, asked, now.get(&r.id), previous.get(&r.id), a.no_trunc))
            .collect();
        let text = render_rows(&mode, HEADERS, &rows)?;
        let mut out = std::io::stdout().lock();
        if clear {
            out.write_all(b"\x1b[2J\x1b[H")?;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if a.no_stream {
            return Ok(0);
        }
        previous = now;
        std::thread::sleep(INTERVAL);
    }
}
