//! `kasane manifest inspect|create|annotate|push|rm`: docker's `docker manifest` commands,
//! with docker's output byte for byte.
//!
//! Local lists live under the state root (`kasane_engine::manifest_list`); everything else
//! is the registry. What docker prints:
//! - `inspect IMAGE`: the manifest as the registry served it, through Go's
//!   `json.Indent(raw, "", "\t")`, then a newline;
//! - `inspect LIST` (local or remote): the index docker would push (`manifestlist`'s
//!   three-space `MarshalIndent`), then a newline;
//! - `inspect -v`: docker's `types.ImageManifest` (or an array of them) with tabs: `Ref`,
//!   `Descriptor` (with the platform), `Raw` (base64), `SchemaV2Manifest` or `OCIManifest`;
//! - `create`: `Created manifest list <full reference>`;
//! - `push`: `Pushed ref <list repo>@<digest> with digest: <digest>` for each image copied
//!   into the list's repository, then the list's digest.

use anyhow::Context;
use base64::Engine as _;
use clap::{Args, Subcommand};
use kasane::output::{go_compact, go_indent};
use kasane_engine::ErrorKind;
use kasane_engine::manifest_list::{
    self, AMEND_REFUSED, Fetched, ListEntry, ManifestLists, PlatformUpdate,
};
use kasane_oci::{Reference, media_type};
use kasane_registry::RegistryClient;

use super::registry::{RegistryArgs, parse_reference};
use super::{GlobalOptions, open_engine};

/// `manifest …`
#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Display an image manifest, or manifest list
    Inspect(InspectArgs),
    /// Create a local manifest list for annotating and pushing to a registry
    Create(CreateArgs),
    /// Add additional information to a local image manifest
    Annotate(AnnotateArgs),
    /// Push a manifest list to a repository
    Push(PushArgs),
    /// Delete one or more manifest lists from local storage
    Rm(RmArgs),
}

/// `manifest inspect [OPTIONS] [MANIFEST_LIST] MANIFEST`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Allow communication with an insecure registry
    #[arg(long)]
    insecure: bool,
    /// Output additional info including layers and platform
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// A local manifest list (optional), then the image or list to show
    #[arg(value_name = "[MANIFEST_LIST] MANIFEST", num_args = 1..=2, required = true)]
    refs: Vec<String>,
}

/// `manifest create MANIFEST_LIST MANIFEST [MANIFEST...]`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Amend an existing manifest list
    #[arg(short, long)]
    amend: bool,
    /// Allow communication with an insecure registry
    #[arg(long)]
    insecure: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The manifest list to create
    #[arg(value_name = "MANIFEST_LIST")]
    list: String,
    /// The images it lists
    #[arg(value_name = "MANIFEST", required = true)]
    manifests: Vec<String>,
}

/// `manifest annotate [OPTIONS] MANIFEST_LIST MANIFEST`
#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// Set operating system
    #[arg(long)]
    os: Option<String>,
    /// Set architecture
    #[arg(long)]
    arch: Option<String>,
    /// Set operating system version
    #[arg(long = "os-version")]
    os_version: Option<String>,
    /// Set operating system feature
    #[arg(long = "os-features", value_delimiter = ',')]
    os_features: Vec<String>,
    /// Set architecture variant
    #[arg(long)]
    variant: Option<String>,
    /// The local manifest list
    #[arg(value_name = "MANIFEST_LIST")]
    list: String,
    /// The image in it to annotate
    #[arg(value_name = "MANIFEST")]
    manifest: String,
}

/// `manifest push [OPTIONS] MANIFEST_LIST`
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Remove the local manifest list after push
    #[arg(short, long)]
    purge: bool,
    /// Allow push to an insecure registry
    #[arg(long)]
    insecure: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The local manifest list to push
    #[arg(value_name = "MANIFEST_LIST")]
    list: String,
}

/// `manifest rm MANIFEST_LIST [MANIFEST_LIST...]`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// The local manifest lists to delete
    #[arg(value_name = "MANIFEST_LIST", required = true)]
    lists: Vec<String>,
}

/// Runs one `manifest` subcommand.
pub fn run(g: &GlobalOptions, c: ManifestCommand) -> anyhow::Result<u8> {
    let engine = open_engine(g)?;
    let lists = engine.manifest_lists();
    drop(engine);
    match c {
        ManifestCommand::Inspect(a) => inspect(&lists, a),
        ManifestCommand::Create(a) => create(&lists, a),
        ManifestCommand::Annotate(a) => annotate(&lists, a),
        ManifestCommand::Push(a) => push(&lists, a),
        ManifestCommand::Rm(a) => rm(&lists, a),
    }
}

/// docker's `normalizeReference`: parsed, and tagged `latest` unless it has a digest.
fn normalize(name: &str) -> anyhow::Result<Reference> {
    Ok(parse_reference(name)?.with_default_tag())
}

/// The registry client; `--insecure` allows plain http and unverified TLS.
fn client(registry: &RegistryArgs, insecure: bool) -> anyhow::Result<RegistryClient> {
    RegistryArgs {
        tls_verify: registry.tls_verify && !insecure,
    }
    .client()
}

fn inspect(lists: &ManifestLists, a: InspectArgs) -> anyhow::Result<u8> {
    let (list, image) = match a.refs.as_slice() {
        [image] => (None, image),
        [list, image] => (Some(list), image),
        _ => anyhow::bail!("\"manifest inspect\" requires at least 1 and at most 2 arguments"),
    };
    let named = normalize(image)?;
    let out = if let Some(list) = list {
        let list = normalize(list)?;
        let entry = lists.get_entry(&list, &named)?;
        manifest_text(&entry, a.verbose)?
    } else if lists.exists(&named)? {
        list_text(&named, &lists.get(&named)?, a.verbose)?
    } else {
        let client = client(&a.registry, a.insecure)?;
        match manifest_list::fetch(&client, &named)? {
            Fetched::Image(entry) => manifest_text(&entry, a.verbose)?,
            Fetched::List(entries) => list_text(&named, &entries, a.verbose)?,
        }
    };
    print!("{out}");
    Ok(0)
}

/// One image manifest as docker prints it (with the final newline).
fn manifest_text(entry: &ListEntry, verbose: bool) -> anyhow::Result<String> {
    if verbose {
        let doc = verbose_json(entry)?;
        return Ok(tab_indented(&doc) + "\n");
    }
    let raw = entry
        .raw
        .as_deref()
        .with_context(|| format!("{} has no payload", entry.reference))?;
    Ok(String::from_utf8_lossy(&go_indent(raw, "", "\t")).into_owned() + "\n")
}

/// A list as docker prints it (with the final newline).
fn list_text(list: &Reference, entries: &[ListEntry], verbose: bool) -> anyhow::Result<String> {
    if verbose {
        let items = entries
            .iter()
            .map(verbose_json)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let doc = format!("[{}]", items.join(","));
        return Ok(tab_indented(&doc) + "\n");
    }
    let (_, bytes) = manifest_list::index_document(list, entries, false)
        .context("failed to assemble ManifestDescriptor")?;
    Ok(String::from_utf8_lossy(&bytes).into_owned() + "\n")
}

/// `json.MarshalIndent(v, "", "\t")` of a compact document (HTML-escaped as Go's
/// encoder does).
fn tab_indented(compact: &str) -> String {
    String::from_utf8_lossy(&go_indent(&go_compact(compact.as_bytes(), true), "", "\t"))
        .into_owned()
}

/// docker's `types.ImageManifest` of an entry, compact: `Ref`, `Descriptor`, `Raw`, then
/// the manifest under `SchemaV2Manifest` or `OCIManifest`.
fn verbose_json(entry: &ListEntry) -> anyhow::Result<String> {
    let mut out = String::from("{\"Ref\":");
    out += &serde_json::to_string(&entry.reference.to_string())?;
    out += ",\"Descriptor\":";
    let mut descriptor = entry.descriptor.clone();
    descriptor.platform = Some(manifest_list::normalized(entry.platform()));
    out += &serde_json::to_string(&descriptor)?;
    if let Some(raw) = &entry.raw {
        out += ",\"Raw\":";
        out += &serde_json::to_string(&base64::engine::general_purpose::STANDARD.encode(raw))?;
        let key = if media_type::essence(&entry.descriptor.media_type) == media_type::OCI_MANIFEST {
            "OCIManifest"
        } else {
            "SchemaV2Manifest"
        };
        // Checked to be JSON when it was fetched; checked again, as it is spliced in.
        serde_json::from_slice::<serde::de::IgnoredAny>(raw)
            .with_context(|| format!("the manifest of {} is not JSON", entry.reference))?;
        out += &format!(",\"{key}\":");
        out += &String::from_utf8_lossy(raw);
    }
    out.push('}');
    Ok(out)
}

fn create(lists: &ManifestLists, a: CreateArgs) -> anyhow::Result<u8> {
    let list = normalize(&a.list)
        .with_context(|| format!("error parsing name for manifest list {}", a.list))?;
    if lists.exists(&list)? && !a.amend {
        anyhow::bail!(AMEND_REFUSED);
    }
    let client = client(&a.registry, a.insecure)?;
    let mut entries = Vec::with_capacity(a.manifests.len());
    for m in &a.manifests {
        let named = normalize(m)?;
        // docker reuses what the list holds already, and asks the registry otherwise.
        let local = match lists.get_entry(&list, &named) {
            Ok(e) if e.raw.is_some() => Some(e),
            Ok(_) => None,
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let entry = match local {
            Some(e) => e,
            None => manifest_list::fetch_image(&client, &named)?,
        };
        entries.push(entry);
    }
    lists.create(&list, &entries, a.amend)?;
    println!("Created manifest list {list}");
    Ok(0)
}

fn annotate(lists: &ManifestLists, a: AnnotateArgs) -> anyhow::Result<u8> {
    let list = normalize(&a.list)
        .with_context(|| format!("annotate: error parsing name for manifest list {}", a.list))?;
    let image = normalize(&a.manifest)
        .with_context(|| format!("annotate: error parsing name for manifest {}", a.manifest))?;
    let update = PlatformUpdate {
        os: a.os,
        architecture: a.arch,
        variant: a.variant,
        os_version: a.os_version,
        os_features: a
            .os_features
            .into_iter()
            .filter(|f| !f.is_empty())
            .collect(),
    };
    match lists.annotate(&list, &image, &update) {
        Ok(_) => Ok(0),
        Err(e) if e.kind() == ErrorKind::NotFound => anyhow::bail!(
            "manifest for image {} does not exist in {}",
            a.manifest,
            a.list
        ),
        Err(e) => Err(e.into()),
    }
}

fn push(lists: &ManifestLists, a: PushArgs) -> anyhow::Result<u8> {
    let list = normalize(&a.list)?;
    let mut entries = lists.get(&list)?;
    if entries.is_empty() {
        anyhow::bail!("{list} not found");
    }
    let client = client(&a.registry, a.insecure)?;
    for e in &mut entries {
        // A file without the manifest (written by hand): fetch it again, keep the platform.
        if e.raw.is_none() {
            let fetched = manifest_list::fetch_image(&client, &e.reference)?;
            if fetched.descriptor.digest != e.descriptor.digest {
                anyhow::bail!(
                    "{} now names {}, not the {} in the list",
                    e.reference,
                    fetched.descriptor.digest,
                    e.descriptor.digest
                );
            }
            e.raw = fetched.raw;
        }
    }
    let on_ref = |r: &Reference, d: &kasane_oci::Digest| {
        println!("Pushed ref {r} with digest: {d}");
    };
    let pushed = manifest_list::push(&client, &list, &entries, &on_ref)?;
    println!("{}", pushed.digest);
    if a.purge {
        lists.remove(&list)?;
    }
    Ok(0)
}

fn rm(lists: &ManifestLists, a: RmArgs) -> anyhow::Result<u8> {
    let mut errors = Vec::new();
    for target in &a.lists {
        let result = normalize(target).and_then(|list| Ok(lists.remove(&list)?));
        if let Err(e) = result {
            errors.push(format!("{e:#}"));
        }
    }
    if !errors.is_empty() {
        anyhow::bail!(errors.join("\n"));
    }
    Ok(0)
}
