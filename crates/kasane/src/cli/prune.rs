//! `kasane image prune [-a] [-f]` (docker-formats.md §1.8).

use clap::Args;
use kasane::output::human_size;
use kasane_engine::{PruneReport, RemoveEvent};

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
    if !a.filters.is_empty() {
        anyhow::bail!("image prune filters are not supported yet");
    }
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !a.force && !confirm(warning)? {
        return Ok(0);
    }
    prune_and_report(g, a.all)
}

/// Prunes images (all unused ones with `all`) and prints docker's report.
pub fn prune_and_report(g: &GlobalOptions, all: bool) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let report = engine.prune_images(all)?;
    print!("{}", images_section(&report));
    println!(
        "Total reclaimed space: {}",
        human_size(report.reclaimed as i64)
    );
    Ok(0)
}
