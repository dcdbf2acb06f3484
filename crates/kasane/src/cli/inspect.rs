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
    /// Return JSON for specified type: container, image or volume
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    /// Containers, images or volumes to inspect
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

/// Parses an inspect `--format`; a template that does not parse is reported here and
/// gives docker's exit code 64 as `Err`.
pub fn inspect_format(flag: Option<&str>) -> anyhow::Result<Result<InspectFormat, u8>> {
    match InspectFormat::parse(flag) {
        Ok(f) => Ok(Ok(f)),
        Err(e @ OutputError::Parse { .. }) => {
            eprintln!("{e}");
            Ok(Err(64))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn run(g: &GlobalOptions, a: InspectArgs) -> anyhow::Result<u8> {
    let format = match inspect_format(a.format.as_deref())? {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    let (containers, images, volumes) = match a.kind.as_deref() {
        None => (true, true, true),
        Some("container") => (true, false, false),
        Some("image") => (false, true, false),
        Some("volume") => (false, false, true),
        Some(k) => anyhow::bail!("\"{k}\" is not a valid value for --type"),
    };
    let mut engine = open_engine(g)?;
    let mut objects = Vec::new();
    let mut missing = Vec::new();
    let mut hints = None;
    for name in &a.names {
        // docker looks for a container first, then an image.
        if containers {
            match engine.inspect_container(name, a.size) {
                Ok(doc) => {
                    objects.push(doc);
                    hints.get_or_insert_with(Hints::new);
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
                    hints.get_or_insert_with(Hints::image_inspect);
                    continue;
                }
                Err(kasane_engine::EngineError::NoSuchImage(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if volumes {
            match engine.volume(name) {
                Ok(v) => {
                    objects.push(super::volume::inspect_json(&v));
                    hints.get_or_insert_with(super::volume::inspect_hints);
                    continue;
                }
                Err(kasane_engine::EngineError::NoSuchVolume(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        missing.push(name.clone());
    }
    // Templates see the first object's kind, as with docker's typed inspects.
    let hints = hints.unwrap_or_else(Hints::image_inspect);
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
