//! `kasane image prune [-a] [-f]` (docker-formats.md §1.8).

use clap::Args;
use kasane::output::human_size;
use kasane_engine::filter::{LabelFilter, parse_until};
use kasane_engine::{PruneOptions, PruneReport, RemoveEvent};

use super::{GlobalOptions, confirm, open_engine};

/// `image prune [OPTIONS]`
#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long = "filter")]
    filters: Vec<String>,
}

/// The `Deleted Images:` block (without the total), or nothing.
pub fn images_section(report: &PruneReport) -> String {
    if report.events.is_empty() {
        return String::new();
    }
    let mut s = String::from("Deleted Images:\n");
    for e in &report.events {
        match e {
            RemoveEvent::Untagged(r) => s.push_str(&format!("untagged: {r}\n")),
            RemoveEvent::Deleted(d) => s.push_str(&format!("deleted: {d}\n")),
        }
    }
    s.push('\n');
    s
}

pub fn run(g: &GlobalOptions, a: ImagePruneArgs) -> anyhow::Result<u8> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !a.force && !confirm(warning)? {
        return Ok(0);
    }
    prune_and_report(g, a.all, &a.filters)
}

/// Parses docker's prune filters: `until=`, `label=`, `label!=`.
fn prune_options(all: bool, filters: &[String]) -> anyhow::Result<PruneOptions> {
    let mut opts = PruneOptions {
        all,
        ..PruneOptions::default()
    };
    for f in filters {
        if let Some(v) = f.strip_prefix("label!=") {
            opts.labels.push(LabelFilter::parse(v, true)?);
        } else if let Some(v) = f.strip_prefix("label=") {
            opts.labels.push(LabelFilter::parse(v, false)?);
        } else if let Some(v) = f.strip_prefix("until=") {
            opts.until = Some(parse_until(v, super::now_unix())?);
        } else {
            anyhow::bail!("invalid filter {f:?}: prune takes until=, label= and label!=");
        }
    }
    Ok(opts)
}

/// Prunes images (all unused ones with `all`) and prints docker's report.
pub fn prune_and_report(g: &GlobalOptions, all: bool, filters: &[String]) -> anyhow::Result<u8> {
    prune_and_report_with(g, all, filters, 0)
}

/// As [`prune_and_report`], adding `already` bytes reclaimed by an earlier step.
pub fn prune_and_report_with(
    g: &GlobalOptions,
    all: bool,
    filters: &[String],
    already: u64,
) -> anyhow::Result<u8> {
    let opts = prune_options(all, filters)?;
    let mut engine = open_engine(g)?;
    let report = engine.prune_images(&opts)?;
    print!("{}", images_section(&report));
    println!(
        "Total reclaimed space: {}",
        human_size((report.reclaimed + already) as i64)
    );
    Ok(0)
}

/// `container prune [-f]`
#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (accepted for compatibility; only stopped containers are removed)
    #[arg(long = "filter")]
    filters: Vec<String>,
}

/// A prune report's block: `TITLE:`, one line per item, an empty line; nothing when
/// nothing was deleted.
pub fn deleted_section(title: &str, items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut s = format!("{title}:\n");
    for item in items {
        s.push_str(item);
        s.push('\n');
    }
    s.push('\n');
    s
}

/// The `Deleted Containers:` block (without the total), or nothing.
pub fn containers_section(ids: &[String]) -> String {
    deleted_section("Deleted Containers", ids)
}

pub fn containers(g: &GlobalOptions, a: ContainerPruneArgs) -> anyhow::Result<u8> {
    let warning =
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";
    if !a.force && !confirm(warning)? {
        return Ok(0);
    }
    let _ = a.filters;
    let mut engine = open_engine(g)?;
    let (ids, reclaimed) = engine.prune_containers()?;
    print!("{}", containers_section(&ids));
    println!("Total reclaimed space: {}", human_size(reclaimed as i64));
    Ok(0)
}
