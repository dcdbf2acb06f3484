//! `kasane volume create|ls|inspect|rm|prune` (docker's `local` driver).

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use kasane::output::{FormatMode, GoType, Hints, human_size, render_inspect, render_rows};
use kasane_engine::Engine;
use kasane_engine::EngineError;
use kasane_engine::filter::LabelFilter;
use kasane_engine::volumes::Volume;
use serde_json::{Value, json};

use super::{GlobalOptions, confirm, open_engine};

/// `kasane volume …`
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `volume create [OPTIONS] [VOLUME]`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opts: Vec<String>,
    /// Specify volume name
    #[arg(long, hide = true)]
    name: Option<String>,
    /// The volume's name (generated when absent)
    #[arg(value_name = "VOLUME")]
    volume: Option<String>,
}

/// `volume ls [OPTIONS]`
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long = "filter")]
    filters: Vec<String>,
}

/// `volume inspect [OPTIONS] VOLUME [VOLUME...]`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short, long)]
    format: Option<String>,
    /// Volumes to inspect
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

/// `volume rm [OPTIONS] VOLUME [VOLUME...]`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes (missing ones are no error)
    #[arg(short, long)]
    force: bool,
    /// Volumes to remove
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

/// `volume prune [OPTIONS]`
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    filters: Vec<String>,
}

const LS_DEFAULT: &str = "table {{.Driver}}\\t{{.Name}}";
const LS_HEADERS: &[(&str, &str)] = &[
    ("Availability", "AVAILABILITY"),
    ("Driver", "DRIVER"),
    ("Group", "GROUP"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Name", "VOLUME NAME"),
    ("Scope", "SCOPE"),
    ("Size", "SIZE"),
    ("Status", "STATUS"),
];

pub fn run(g: &GlobalOptions, cmd: VolumeCommand) -> anyhow::Result<u8> {
    match cmd {
        VolumeCommand::Create(a) => create(g, a),
        VolumeCommand::Ls(a) => ls(g, a),
        VolumeCommand::Inspect(a) => inspect(g, a),
        VolumeCommand::Rm(a) => rm(g, a),
        VolumeCommand::Prune(a) => prune(g, a),
    }
}

fn create(g: &GlobalOptions, a: CreateArgs) -> anyhow::Result<u8> {
    if a.driver != "local" {
        anyhow::bail!(
            "create {}: error looking up volume plugin {}: plugin \"{}\" not found \
             (kasane has the local driver only)",
            a.volume.as_deref().or(a.name.as_deref()).unwrap_or(""),
            a.driver,
            a.driver
        );
    }
    if let Some(o) = a.opts.first() {
        anyhow::bail!(
            "invalid option {o:?}: kasane's local volumes are plain directories and take no \
             driver options (type=, device=, o=)"
        );
    }
    let name = match (a.volume, a.name) {
        (Some(v), Some(n)) if v != n => {
            anyhow::bail!(
                "conflicting options: either specify --name or provide positional arg, not both"
            )
        }
        (v, n) => v.or(n),
    };
    let mut labels = BTreeMap::new();
    for l in &a.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            anyhow::bail!("invalid label '{l}': empty name");
        }
        if k.contains(char::is_whitespace) {
            anyhow::bail!("label '{k}' contains whitespaces");
        }
        labels.insert(k.to_owned(), v.to_owned());
    }
    match open_engine(g)?.create_volume(name.as_deref(), labels) {
        Ok(v) => {
            println!("{}", v.name);
            Ok(0)
        }
        Err(e @ EngineError::InvalidArgument(_)) => {
            eprintln!("Error response from daemon: {e}");
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

/// docker's `volume ls` filters.
struct LsFilter {
    dangling: Option<bool>,
    names: Vec<String>,
    drivers: Vec<String>,
    labels: Vec<LabelFilter>,
}

impl LsFilter {
    fn parse(filters: &[String]) -> anyhow::Result<Self> {
        let mut f = LsFilter {
            dangling: None,
            names: Vec::new(),
            drivers: Vec::new(),
            labels: Vec::new(),
        };
        for spec in filters {
            let (k, v) = spec
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
            match k {
                "dangling" => {
                    f.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => anyhow::bail!("invalid filter 'dangling={v}'"),
                    })
                }
                "name" => f.names.push(v.to_owned()),
                "driver" => f.drivers.push(v.to_owned()),
                "label" => f.labels.push(LabelFilter::parse(v, false)?),
                "label!" => f.labels.push(LabelFilter::parse(v, true)?),
                _ => anyhow::bail!("invalid filter '{k}'"),
            }
        }
        Ok(f)
    }

    fn matches(&self, v: &Volume, in_use: bool) -> bool {
        self.dangling.is_none_or(|d| d != in_use)
            && (self.names.is_empty() || self.names.iter().any(|n| v.name.contains(n.as_str())))
            && (self.drivers.is_empty() || self.drivers.iter().any(|d| d == "local"))
            && self.labels.iter().all(|l| l.matches(&v.labels))
    }
}

fn ls(g: &GlobalOptions, a: LsArgs) -> anyhow::Result<u8> {
    let filter = LsFilter::parse(&a.filters)?;
    let mut engine = open_engine(g)?;
    let users = engine.volume_users()?;
    let volumes: Vec<Volume> = engine
        .volumes()?
        .into_iter()
        .filter(|v| filter.matches(v, users.contains_key(&v.name)))
        .collect();
    if a.quiet && a.format.is_none() {
        for v in &volumes {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    let rows: Vec<Value> = volumes.iter().map(ls_row).collect();
    let mode = FormatMode::parse(a.format.as_deref(), LS_DEFAULT)?;
    print!("{}", render_rows(&mode, LS_HEADERS, &rows)?);
    Ok(0)
}

fn ls_row(v: &Volume) -> Value {
    json!({
        "Availability": "N/A",
        "Driver": "local",
        "Group": "N/A",
        "Labels": super::ps::labels_column(&v.labels),
        "Links": "N/A",
        "Mountpoint": v.mountpoint.display().to_string(),
        "Name": v.name,
        "Scope": "local",
        "Size": "N/A",
        "Status": "N/A",
    })
}

/// One volume's figures for `system df`.
pub struct VolumeUsage {
    /// The volume's name.
    pub name: String,
    /// Containers that name it.
    pub links: usize,
    /// Bytes of its data.
    pub size: u64,
}

/// Every volume with its users and size, for `system df`.
pub fn usage(engine: &mut Engine) -> anyhow::Result<Vec<VolumeUsage>> {
    let users = engine.volume_users()?;
    Ok(engine
        .volumes()?
        .into_iter()
        .map(|v| VolumeUsage {
            links: users.get(&v.name).map_or(0, Vec::len),
            size: kasane_engine::volumes::volume_size(&v.mountpoint),
            name: v.name,
        })
        .collect())
}

/// A volume as `volume inspect` shows it.
pub fn inspect_json(v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created,
        "Driver": "local",
        // docker keeps no empty maps: `null`, not `{}`.
        "Labels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
        "Mountpoint": v.mountpoint.display().to_string(),
        "Name": v.name,
        "Options": Value::Null,
        "Scope": "local",
    })
}

/// How `--format` sees an inspected volume.
pub fn inspect_hints() -> Hints {
    Hints::new()
        .with("", GoType::Struct)
        .with("Options", GoType::StringMap)
        .with("Labels", GoType::StringMap)
}

fn inspect(g: &GlobalOptions, a: InspectArgs) -> anyhow::Result<u8> {
    let format = match super::inspect::inspect_format(a.format.as_deref())? {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    let engine = open_engine(g)?;
    let mut objects = Vec::new();
    let mut failed = false;
    for name in &a.volumes {
        match engine.volume(name) {
            Ok(v) => objects.push(inspect_json(&v)),
            Err(e @ EngineError::NoSuchVolume(_)) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let out = render_inspect(&format, &objects, &inspect_hints());
    print!("{}", out.stdout);
    for e in &out.errors {
        eprintln!("{e}");
        failed = true;
    }
    Ok(u8::from(failed))
}

fn rm(g: &GlobalOptions, a: RmArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let mut failed = false;
    for name in &a.volumes {
        match engine.remove_volume(name) {
            Ok(()) => println!("{name}"),
            Err(EngineError::NoSuchVolume(_)) if a.force => println!("{name}"),
            Err(e) => {
                eprintln!(
                    "Error response from daemon: {}",
                    kasane_engine::containers::monitor::full_message(&e)
                );
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

/// Parses `volume prune` filters: `label=`, `label!=` and `all=true`.
fn prune_filters(filters: &[String], all: &mut bool) -> anyhow::Result<Vec<LabelFilter>> {
    let mut out = Vec::new();
    for f in filters {
        if let Some(v) = f.strip_prefix("label!=") {
            out.push(LabelFilter::parse(v, true)?);
        } else if let Some(v) = f.strip_prefix("label=") {
            out.push(LabelFilter::parse(v, false)?);
        } else if let Some(v) = f.strip_prefix("all=") {
            if *all {
                anyhow::bail!("conflicting options: cannot specify both --all and --filter all=1");
            }
            *all = match v {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => anyhow::bail!("invalid filter 'all': {v:?} is not a boolean"),
            };
        } else {
            let key = f.split_once('=').map_or(f.as_str(), |(k, _)| k);
            anyhow::bail!("invalid filter '{key}': volume prune takes label, label! and all");
        }
    }
    Ok(out)
}

/// Prunes unused volumes (anonymous ones unless `all`); returns docker's section and the
/// bytes freed.
pub fn prune_volumes(
    g: &GlobalOptions,
    all: bool,
    filters: &[String],
) -> anyhow::Result<(String, u64)> {
    let mut all = all;
    let labels = prune_filters(filters, &mut all)?;
    let (names, reclaimed) = open_engine(g)?.prune_volumes(all, &labels)?;
    Ok((
        super::prune::deleted_section("Deleted Volumes", &names),
        reclaimed,
    ))
}

fn prune(g: &GlobalOptions, a: PruneArgs) -> anyhow::Result<u8> {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
    };
    if !a.force && !confirm(warning)? {
        return Ok(0);
    }
    let (section, reclaimed) = prune_volumes(g, a.all, &a.filters)?;
    print!("{section}");
    println!("Total reclaimed space: {}", human_size(reclaimed as i64));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, labels: &[(&str, &str)]) -> Volume {
        Volume {
            name: name.into(),
            created: "2026-01-02T03:04:05Z".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            anonymous: false,
            mountpoint: "/x".into(),
        }
    }

    #[test]
    fn ls_filters() {
        let f = LsFilter::parse(&["dangling=true".into()]).unwrap();
        assert!(f.matches(&vol("ab", &[]), false));
        assert!(!f.matches(&vol("ab", &[]), true));
        let f = LsFilter::parse(&["name=dat".into(), "label=env=prod".into()]).unwrap();
        assert!(f.matches(&vol("mydata", &[("env", "prod")]), true));
        assert!(!f.matches(&vol("mydata", &[("env", "dev")]), true));
        assert!(!f.matches(&vol("other", &[("env", "prod")]), true));
        assert!(LsFilter::parse(&["dangling=maybe".into()]).is_err());
        assert!(LsFilter::parse(&["colour=red".into()]).is_err());
        assert!(LsFilter::parse(&["nonsense".into()]).is_err());
    }

    #[test]
    fn prune_filter_all() {
        let mut all = false;
        let l = prune_filters(&["all=true".into(), "label=a".into()], &mut all).unwrap();
        assert!(all);
        assert_eq!(l.len(), 1);
        let e = prune_filters(&["until=1h".into()], &mut all).unwrap_err();
        assert!(e.to_string().contains("invalid filter 'until'"), "{e}");
        let e = prune_filters(&["all=1".into()], &mut all).unwrap_err();
        assert!(e.to_string().contains("conflicting options"), "{e}");
    }
}
