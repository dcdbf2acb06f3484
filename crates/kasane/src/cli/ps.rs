//! `kasane ps` / `container ls`: docker's table, filters and `--format`
//! (docker-formats.md §1.5, §4.3).

use clap::Args;
use kasane::output::{
    FormatMode, ago, ellipsis, go_time_string_of_rfc3339, human_duration_secs,
    human_size_with_precision, render_rows,
};
use kasane_engine::containers::{ContainerSummary, Status};
use serde_json::{Value, json};

use super::{GlobalOptions, now_unix, open_engine};

const DEFAULT: &str = "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}";
const DEFAULT_SIZE: &str = "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}\\t{{.Size}}";

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Platform", "PLATFORM"),
];

/// `ps [OPTIONS]`
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filters: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
}

pub fn run(g: &GlobalOptions, a: PsArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let last = if a.latest { 1 } else { a.last };
    // A status or exit-code filter looks at every container, as docker's does.
    let status_filter = a
        .filters
        .iter()
        .any(|f| f.starts_with("status=") || f.starts_with("exited="));
    let all = a.all || last > 0 || status_filter;
    let want_size = a.size || a.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let mut list = engine.list_containers(all, want_size)?;
    let filters = a
        .filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value): {f}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (k, _) in &filters {
        if !matches!(
            k.as_str(),
            "name"
                | "id"
                | "status"
                | "ancestor"
                | "label"
                | "exited"
                | "before"
                | "since"
                | "publish"
                | "expose"
                | "volume"
                | "network"
        ) {
            anyhow::bail!("invalid filter '{k}'");
        }
    }
    if !filters.is_empty() {
        let mut keep = Vec::new();
        for c in list {
            if matches_filters(&mut engine, &c, &filters)? {
                keep.push(c);
            }
        }
        list = keep;
    }
    if last > 0 {
        list.truncate(last as usize);
    }
    let now = now_unix();
    let rows: Vec<Value> = list.iter().map(|c| row(c, a.no_trunc, now)).collect();
    let format = if a.quiet {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let default = if a.size { DEFAULT_SIZE } else { DEFAULT };
    let mode = FormatMode::parse(format, default)?;
    print!("{}", render_rows(&mode, HEADERS, &rows)?);
    Ok(0)
}

fn matches_filters(
    engine: &mut kasane_engine::Engine,
    c: &ContainerSummary,
    filters: &[(String, String)],
) -> anyhow::Result<bool> {
    // Same key: any value matches (OR); different keys: all must match (AND).
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    for key in keys {
        let mut any = false;
        for (_, v) in filters.iter().filter(|(k, _)| k == key) {
            let ok = match key {
                "name" => c.name.contains(v.trim_start_matches('/')),
                "id" => c.id.starts_with(v.as_str()),
                "status" => c.state.docker_status() == v,
                "exited" => c.state.status == Status::Exited && c.state.exit_code.to_string() == *v,
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => c.labels.get(lk).is_some_and(|x| x == lv),
                    None => c.labels.contains_key(v.as_str()),
                },
                "ancestor" => match engine.resolve_image(v) {
                    Ok((img, _)) => img.id == c.image_id,
                    Err(_) => false,
                },
                "publish" => c.ports.iter().any(|m| {
                    let (p, proto) = v.split_once('/').unwrap_or((v, "tcp"));
                    m.host_port.to_string() == p && m.protocol.to_string() == proto
                }),
                "expose" => c.exposed.iter().any(|(p, proto)| {
                    let (want, wproto) = v.split_once('/').unwrap_or((v, "tcp"));
                    p.to_string() == want && proto.to_string() == wproto
                }),
                "volume" => c.mounts.iter().any(|m| m == v),
                "before" | "since" => {
                    let other = engine.find_container(v)?;
                    if key == "before" {
                        c.created < other.created
                    } else {
                        c.created > other.created
                    }
                }
                _ => true,
            };
            any |= ok;
        }
        if !any {
            return Ok(false);
        }
    }
    Ok(true)
}

/// docker's STATUS column.
pub fn status(c: &ContainerSummary, now: i64) -> String {
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(kasane_engine::images::parse_time)
            .map(|s| human_duration_secs(now - s))
            .unwrap_or_else(|| "Less than a second".into())
    };
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running if c.state.paused => {
            format!("Up {} (Paused)", since(&c.state.started_at))
        }
        Status::Running => format!("Up {}", since(&c.state.started_at)),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            since(&c.state.finished_at)
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            since(&c.state.finished_at)
        ),
    }
}

/// docker's LABELS column: `k=v` pairs joined by commas.
pub fn labels_column(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// docker's PORTS column: published mappings, then exposed-only ports merged into ranges.
pub fn ports_column(c: &ContainerSummary) -> String {
    let mut parts = Vec::new();
    let mut published = c.ports.clone();
    published.sort_by_key(|m| {
        (
            m.container_port,
            m.host_ip,
            m.host_port,
            m.protocol.to_string(),
        )
    });
    for m in &published {
        let ip = match m.host_ip {
            Some(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            Some(ip) => ip.to_string(),
            None => "0.0.0.0".into(),
        };
        parts.push(format!(
            "{ip}:{}->{}/{}",
            m.host_port, m.container_port, m.protocol
        ));
    }
    let mut exposed: Vec<(u16, String)> = c
        .exposed
        .iter()
        .filter(|(p, proto)| {
            !published
                .iter()
                .any(|m| m.container_port == *p && m.protocol == *proto)
        })
        .map(|(p, proto)| (*p, proto.to_string()))
        .collect();
    exposed.sort();
    let mut ranges: Vec<String> = Vec::new();
    let mut i = 0;
    while i < exposed.len() {
        let (start, proto) = &exposed[i];
        let mut end = *start;
        while i + 1 < exposed.len() && exposed[i + 1].1 == *proto && exposed[i + 1].0 == end + 1 {
            end += 1;
            i += 1;
        }
        ranges.push(if end == *start {
            format!("{start}/{proto}")
        } else {
            format!("{start}-{end}/{proto}")
        });
        i += 1;
    }
    ranges.extend(parts);
    ranges.join(", ")
}

fn row(c: &ContainerSummary, no_trunc: bool, now: i64) -> Value {
    let created = kasane_engine::images::parse_time(&c.created).unwrap_or(0);
    let command = if no_trunc {
        format!("\"{}\"", c.command)
    } else {
        format!("\"{}\"", ellipsis(&c.command, 20))
    };
    let image = if no_trunc {
        c.image.clone()
    } else if c.image.starts_with("sha256:")
        || (c.image.len() == 64 && c.image.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        let hex = c.image.trim_start_matches("sha256:");
        hex[..hex.len().min(12)].to_owned()
    } else {
        c.image.split('@').next().unwrap_or(&c.image).to_owned()
    };
    let size = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(root)) if root > 0 => format!(
            "{} (virtual {})",
            human_size_with_precision(rw as i64, 3),
            human_size_with_precision((rw + root) as i64, 3)
        ),
        (Some(rw), _) => human_size_with_precision(rw as i64, 3),
        _ => String::new(),
    };
    let labels = labels_column(&c.labels);
    json!({
        "Command": command,
        "CreatedAt": go_time_string_of_rfc3339(&c.created).unwrap_or_default(),
        "ID": if no_trunc { c.id.clone() } else { c.id[..12].to_owned() },
        "Image": image,
        "Labels": labels,
        "LocalVolumes": c.mounts.len().to_string(),
        "Mounts": c.mounts.join(","),
        "Names": c.name,
        "Networks": "",
        "Platform": Value::Null,
        "Ports": ports_column(c),
        "RunningFor": ago(created, now),
        "Size": size,
        "State": c.state.docker_status(),
        "Status": status(c, now),
    })
}
