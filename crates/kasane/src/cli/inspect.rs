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
    /// Return JSON for specified type: container or image
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
        && k != "container"
    {
        anyhow::bail!("\"{k}\" is not a valid value for --type");
    }
    let (containers, images) = match a.kind.as_deref() {
        Some("image") => (false, true),
        Some("container") => (true, false),
        _ => (true, true),
    };
    let mut engine = open_engine(g)?;
    let mut objects = Vec::new();
    let mut missing = Vec::new();
    let mut any_container = false;
    for name in &a.names {
        // docker looks for a container first, then an image.
        if containers {
            match engine.inspect_container(name, a.size) {
                Ok(doc) => {
                    objects.push(doc);
                    any_container = true;
                    continue;
                }
                Err(kasane_engine::EngineError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if images {
            match engine.image_details(name) {
                Ok(d) => {
                    objects.push(image_inspect(&d));
                    continue;
                }
                Err(kasane_engine::EngineError::NoSuchImage(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        missing.push(name.clone());
    }
    let hints = if any_container {
        Hints::new()
    } else {
        Hints::image_inspect()
    };
    let out = render_inspect(&format, &objects, &hints);
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
