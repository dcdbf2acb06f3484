//! `kasane pull [--platform P] [-a] [-q] NAME[:TAG|@DIGEST]`: docker's output, line for line.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;
use clap::Args;
use kasane::output::progress::Progress;
use kasane_engine::PullOptions;
use kasane_engine::unpack::UnpackEvent;
use kasane_oci::{Platform, Reference};

use super::registry::{RegistryArgs, parse_reference, progress_stream};
use super::{GlobalOptions, open_engine};

/// `pull NAME[:TAG|@DIGEST]`
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Progress output: auto, tty, plain, json or quiet
    #[arg(long, default_value = "auto")]
    progress: String,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The image to pull
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

pub fn run(g: &GlobalOptions, a: PullArgs) -> anyhow::Result<u8> {
    let reference = parse_reference(&a.name)?;
    let platform = a
        .platform
        .as_deref()
        .map(|p| {
            p.parse::<Platform>()
                .with_context(|| format!("invalid platform {p:?}"))
        })
        .transpose()?;
    let progress = progress_stream(a.quiet, &a.progress)?;
    let client = a.registry.client()?;
    let mut engine = open_engine(g)?;

    let references: Vec<Reference> = if a.all_tags {
        if reference.tag.is_some() || reference.digest.is_some() {
            anyhow::bail!("tag can't be used with --all-tags/-a");
        }
        let session = client.session(&reference.registry)?;
        let repo = kasane_registry::RemoteRepository::new(session, &reference.repository, false);
        let mut tags = repo
            .tags()
            .with_context(|| format!("listing the tags of {}", reference.name()))?;
        tags.sort();
        tags.into_iter()
            .map(|t| reference.clone().with_tag(&t))
            .collect::<Result<_, _>>()?
    } else {
        if reference.tag.is_none() && reference.digest.is_none() {
            progress.line("Using default tag: latest");
        }
        vec![reference.clone()]
    };

    let mut last = None;
    for r in &references {
        let report = pull_one(&mut engine, &client, r, platform.as_ref(), &progress)?;
        last = Some(report);
    }
    if let Some(report) = last {
        let subject = if a.all_tags {
            reference.familiar_name()
        } else {
            report.reference.familiar()
        };
        progress.line(&format!(
            "Status: {} for {subject}",
            if report.up_to_date {
                "Image is up to date"
            } else {
                "Downloaded newer image"
            }
        ));
        let shown = if a.all_tags {
            reference.name()
        } else {
            report.reference.to_string()
        };
        println!("{shown}");
    }
    Ok(0)
}

fn pull_one(
    engine: &mut kasane_engine::Engine,
    client: &kasane_registry::RegistryClient,
    reference: &Reference,
    platform: Option<&Platform>,
    progress: &Progress<std::io::Stdout>,
) -> anyhow::Result<kasane_engine::PullReport> {
    let what = reference
        .digest
        .as_ref()
        .map_or_else(|| reference.tag_or_latest().to_owned(), ToString::to_string);
    progress.line(&format!("{what}: Pulling from {}", reference.repository));
    let sizes: Mutex<HashMap<String, u64>> = Mutex::new(HashMap::new());
    let on_event = |e: &UnpackEvent<'_>| {
        let (layer, status, detail) = match e {
            UnpackEvent::AlreadyExists(l) => (*l, "Already exists", None),
            UnpackEvent::Waiting(l) => (*l, "Pulling fs layer", None),
            UnpackEvent::Started { layer, .. } => {
                sizes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(layer.digest.to_string(), layer.size);
                return;
            }
            UnpackEvent::Progress { layer, done } => {
                (*layer, "Downloading", Some((*done, layer.size)))
            }
            UnpackEvent::Done(l) => {
                let id = l.digest.short().to_owned();
                progress.update(&id, "Verifying Checksum", None);
                progress.update(&id, "Download complete", None);
                (*l, "Pull complete", None)
            }
        };
        progress.update(layer.digest.short(), status, detail);
    };
    let report = engine.pull(
        client,
        reference,
        &PullOptions {
            platform,
            progress: Some(&on_event),
        },
    )?;
    progress.line(&format!("Digest: {}", report.digest));
    Ok(report)
}

/// Pulls `name` for `run`/`create` when it is not local, without progress output (the
/// terminal belongs to the container).
pub fn pull_quietly(
    engine: &mut kasane_engine::Engine,
    g: &GlobalOptions,
    name: &str,
) -> anyhow::Result<()> {
    let _ = g;
    let reference = parse_reference(name)?;
    let client = RegistryArgs { tls_verify: true }.client()?;
    engine.pull(
        &client,
        &reference,
        &PullOptions {
            platform: None,
            progress: None,
        },
    )?;
    Ok(())
}
