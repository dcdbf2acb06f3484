//! `kasane push NAME[:TAG]`: docker's output, line for line.

use std::collections::HashSet;
use std::sync::Mutex;

use anyhow::Context;
use clap::Args;
use kasane_engine::{PushEvent, PushOptions};

use super::registry::{RegistryArgs, parse_reference, progress_stream};
use super::{GlobalOptions, open_engine};

/// `push NAME[:TAG]`
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Progress output: auto, tty, plain, json or quiet
    #[arg(long, default_value = "auto")]
    progress: String,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The image to push
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
}

pub fn run(g: &GlobalOptions, a: PushArgs) -> anyhow::Result<u8> {
    let reference = parse_reference(&a.name)?;
    let progress = progress_stream(a.quiet, &a.progress)?;
    let client = a.registry.client()?;
    let mut engine = open_engine(g)?;

    let references = if a.all_tags {
        if reference.tag.is_some() || reference.digest.is_some() {
            anyhow::bail!("tag can't be used with --all-tags/-a");
        }
        let mut tags = engine.tags_in_repository(&reference.name())?;
        tags.sort();
        if tags.is_empty() {
            anyhow::bail!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_name()
            );
        }
        tags.iter()
            .map(|t| reference.clone().with_tag(t))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        if reference.tag.is_none() && reference.digest.is_none() {
            progress.line("Using default tag: latest");
        }
        vec![reference.clone().with_default_tag()]
    };
    progress.line(&format!(
        "The push refers to repository [{}]",
        reference.name()
    ));
    for r in &references {
        let layers = engine.push_layers(&r.to_string()).with_context(|| {
            format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            )
        })?;
        // docker keys push lines by DiffID and lists the top layer first.
        let id_of = |d: &kasane_oci::Digest| layers.get(d).map(|diff| diff.short().to_owned());
        let mounted = Mutex::new(HashSet::new());
        let on_event = |e: &PushEvent<'_>| match e {
            PushEvent::Preparing(d) => {
                if let Some(id) = id_of(&d.digest) {
                    progress.update(&id, "Preparing", None);
                }
            }
            PushEvent::Pushing(d, done) => {
                if let Some(id) = id_of(&d.digest) {
                    progress.update(&id, "Pushing", Some((*done, d.size)));
                }
            }
            PushEvent::Pushed(d) => {
                if let Some(id) = id_of(&d.digest) {
                    progress.update(&id, "Pushed", None);
                }
            }
            PushEvent::AlreadyExists(d) => {
                let was_mounted = mounted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(&d.digest);
                if let Some(id) = id_of(&d.digest)
                    && !was_mounted
                {
                    progress.update(&id, "Layer already exists", None);
                }
            }
            PushEvent::Mounted(d, from) => {
                mounted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(d.digest.clone());
                if let Some(id) = id_of(&d.digest) {
                    progress.update(&id, &format!("Mounted from {from}"), None);
                }
            }
        };
        let report = engine.push(
            &client,
            r,
            &PushOptions {
                progress: Some(&on_event),
            },
        )?;
        progress.line(&format!(
            "{}: digest: {} size: {}",
            report.tag, report.digest, report.size
        ));
    }
    if a.quiet {
        println!("{}", reference.familiar());
    }
    Ok(0)
}
