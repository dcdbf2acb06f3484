//! `kasane inspect` / `image inspect` (docker-formats.md §5).

use clap::Args;
use kasane::output::{Hints, InspectFormat, OutputError, render_inspect};

use super::{GlobalOptions, inspect_view::image_inspect, open_engine};

/// `inspect [OPTIONS] NAME|ID [NAME|ID...]`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short, long)]
    format: Option<String>,
    /// Return JSON for specified type (only "image" exists so far)
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    /// Images to inspect
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

pub fn run(g: &GlobalOptions, a: InspectArgs) -> anyhow::Result<u8> {
    let format = match InspectFormat::parse(a.format.as_deref()) {
        Ok(f) => f,
        Err(e @ OutputError::Parse { .. }) => {
            eprintln!("{e}");
            return Ok(64);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(k) = a.kind.as_deref()
        && k != "image"
    {
        anyhow::bail!("\"{k}\" is not a valid value for --type");
    }
    let _ = a.size; // only meaningful for containers
    let mut engine = open_engine(g)?;
    let mut objects = Vec::new();
    let mut missing = Vec::new();
    for name in &a.names {
        match engine.image_details(name) {
            Ok(d) => objects.push(image_inspect(&d)),
            Err(kasane_engine::EngineError::NoSuchImage(_)) => missing.push(name.clone()),
            Err(e) => return Err(e.into()),
        }
    }
    let out = render_inspect(&format, &objects, &Hints::image_inspect());
    print!("{}", out.stdout);
    let mut failed = !out.errors.is_empty();
    for e in &out.errors {
        eprintln!("{e}");
    }
    for name in &missing {
        eprintln!("Error: No such object: {name}");
        failed = true;
    }
    Ok(if failed { 1 } else { 0 })
}
