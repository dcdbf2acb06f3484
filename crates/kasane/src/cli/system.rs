//! `kasane system df|prune|check` (docker-formats.md §1.7, §1.8).

use clap::Args;
use kasane::output::{
    FormatMode, ago, human_size, human_size_with_precision, render_rows, tabwrite,
};
use serde_json::json;

use super::{GlobalOptions, confirm, image_id, now_unix, open_engine};

const DF_DEFAULT: &str =
    "table {{.Type}}\\t{{.TotalCount}}\\t{{.Active}}\\t{{.Size}}\\t{{.Reclaimable}}";
const DF_HEADERS: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

/// `system df [OPTIONS]`
#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

/// `system prune [OPTIONS]`
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Provide filter values
    #[arg(long = "filter")]
    filters: Vec<String>,
}

/// `system check [--repair]`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Remove corrupt content (and the images that need it) and collect leftovers
    #[arg(long)]
    repair: bool,
    /// Only print problems
    #[arg(short, long)]
    quiet: bool,
}

fn reclaimable(reclaimable: u64, total: u64, percent: bool) -> String {
    let size = human_size(reclaimable as i64);
    if percent && total > 0 {
        format!("{size} ({}%)", reclaimable * 100 / total)
    } else {
        size
    }
}

pub fn df(g: &GlobalOptions, a: DfArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let usage = engine.disk_usage()?;
    let containers = engine.list_containers(true, true)?;
    let volumes = super::volume::usage(&mut engine)?;
    if a.verbose {
        return df_verbose(&usage, &containers, &volumes);
    }
    let v_size: u64 = volumes.iter().map(|v| v.size).sum();
    let v_reclaimable: u64 = volumes
        .iter()
        .filter(|v| v.links == 0)
        .map(|v| v.size)
        .sum();
    let v_active = volumes.iter().filter(|v| v.links > 0).count();
    let c_size: u64 = containers.iter().filter_map(|c| c.size_rw).sum();
    let c_reclaimable: u64 = containers
        .iter()
        .filter(|c| !c.state.is_running())
        .filter_map(|c| c.size_rw)
        .sum();
    let c_active = containers.iter().filter(|c| c.state.is_running()).count();
    let rows = vec![
        json!({
            "Type": "Images",
            "TotalCount": usage.images.len().to_string(),
            "Active": usage.active_images.to_string(),
            "Size": human_size(usage.images_size as i64),
            "Reclaimable": reclaimable(usage.images_reclaimable, usage.images_size, true),
        }),
        json!({
            "Type": "Containers",
            "TotalCount": containers.len().to_string(),
            "Active": c_active.to_string(),
            "Size": human_size(c_size as i64),
            "Reclaimable": reclaimable(c_reclaimable, c_size, true),
        }),
        json!({
            "Type": "Local Volumes",
            "TotalCount": volumes.len().to_string(),
            "Active": v_active.to_string(),
            "Size": human_size(v_size as i64),
            "Reclaimable": reclaimable(v_reclaimable, v_size, true),
        }),
        json!({"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
    ];
    let mode = FormatMode::parse(a.format.as_deref(), DF_DEFAULT)?;
    print!("{}", render_rows(&mode, DF_HEADERS, &rows)?);
    Ok(0)
}

fn df_verbose(
    usage: &kasane_engine::DiskUsage,
    containers: &[kasane_engine::containers::ContainerSummary],
    volumes: &[super::volume::VolumeUsage],
) -> anyhow::Result<u8> {
    let now = now_unix();
    let mut out = String::from("Images space usage:\n\n");
    let mut table = String::from(
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n",
    );
    for u in &usage.images {
        let (repo, tag) = match u.image.tags.first() {
            Some(t) => (t.familiar_name(), t.tag_or_latest().to_owned()),
            None => match u.image.digests.first() {
                Some(d) => (d.familiar_name(), "<none>".to_owned()),
                None => ("<none>".to_owned(), "<none>".to_owned()),
            },
        };
        table.push_str(&format!(
            "{repo}\t{tag}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            image_id(&u.image.id, false),
            u.image
                .created
                .map(|c| ago(c, now))
                .unwrap_or_else(|| "N/A".into()),
            human_size_with_precision(u.image.size as i64, 3),
            human_size(u.shared_size as i64),
            human_size(u.unique_size as i64),
            u.image.containers.max(0),
        ));
    }
    out.push_str(&tabwrite(&table));
    out.push_str("\nContainers space usage:\n\n");
    let mut ctable =
        String::from("CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n");
    for c in containers {
        let created = kasane_engine::images::parse_time(&c.created).unwrap_or(0);
        ctable.push_str(&format!(
            "{}\t{}\t\"{}\"\t{}\t{}\t{}\t{}\t{}\n",
            &c.id[..12],
            c.image,
            kasane::output::ellipsis(&c.command, 20),
            c.mounts.len(),
            human_size_with_precision(c.size_rw.unwrap_or(0) as i64, 3),
            ago(created, now),
            super::ps::status(c, now),
            c.name,
        ));
    }
    out.push_str(&tabwrite(&ctable));
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut vtable = String::from("VOLUME NAME\tLINKS\tSIZE\n");
    for v in volumes {
        vtable.push_str(&format!(
            "{}\t{}\t{}\n",
            v.name,
            v.links,
            human_size(v.size as i64)
        ));
    }
    out.push_str(&tabwrite(&vtable));
    out.push_str("\nBuild cache usage: 0B\n\n");
    out.push_str(&tabwrite(
        "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n",
    ));
    print!("{out}");
    Ok(0)
}

pub fn prune(g: &GlobalOptions, a: SystemPruneArgs) -> anyhow::Result<u8> {
    if !a.force {
        let mut w = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        if a.all {
            w.push_str("  - all images without at least one container associated to them\n  - all build cache\n");
        } else {
            w.push_str("  - all dangling images\n  - unused build cache\n");
        }
        w.push_str("\nAre you sure you want to continue?");
        if !confirm(&w)? {
            return Ok(0);
        }
    }
    if a.volumes && a.filters.iter().any(|f| f.starts_with("until=")) {
        anyhow::bail!("ERROR: The \"until\" filter is not supported with \"--volumes\"");
    }
    // Stopped containers first (their images and volumes become unused), then volumes
    // (anonymous ones only, even with -a, as docker), then images. Networks and build
    // cache have nothing to prune yet.
    let (ids, mut reclaimed) = open_engine(g)?.prune_containers()?;
    print!("{}", super::prune::containers_section(&ids));
    if a.volumes {
        let labels: Vec<String> = a
            .filters
            .iter()
            .filter(|f| f.starts_with("label"))
            .cloned()
            .collect();
        let (section, freed) = super::volume::prune_volumes(g, false, &labels)?;
        print!("{section}");
        reclaimed += freed;
    }
    super::prune::prune_and_report_with(g, a.all, &a.filters, reclaimed)
}

pub fn check(g: &GlobalOptions, a: CheckArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let report = engine.check(a.repair)?;
    for e in &report.errors {
        println!("error: {e}");
    }
    if !a.quiet {
        for l in &report.leftovers {
            println!("leftover: {l}");
        }
        for r in &report.repaired {
            println!("repaired: {r}");
        }
        println!(
            "checked {} images, {} blobs, {} snapshots: {} errors, {} leftovers{}",
            report.images_checked,
            report.blobs_checked,
            report.snapshots_checked,
            report.errors.len(),
            report.leftovers.len(),
            if report.leftovers.is_empty() || a.repair {
                ""
            } else {
                " (not errors: `kasane system check --repair` removes them)"
            }
        );
    }
    Ok(if report.is_clean() { 0 } else { 1 })
}
