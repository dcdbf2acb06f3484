//! Manifest lists assembled locally before they are pushed (`kasane manifest create`,
//! `annotate`, `inspect`, `push`, `rm`), as docker keeps them in `~/.docker/manifests`.
//!
//! Owns: [`ManifestLists`] (the local lists), [`ListEntry`] (one image of a list),
//! [`PlatformUpdate`] (what `annotate` changes), and the registry side: [`fetch`] /
//! [`fetch_image`] (docker's `GetManifest`/`GetManifestList`), [`index_document`] (the list
//! docker writes) and [`push`].
//!
//! Layout under the state root, one directory per list and one JSON file per image, named
//! as docker names them (`:` → `-`, `/` → `_` in the full references):
//! ```text
//! <root>/manifests/
//! └── 127.0.0.1-5000_x_list-1/           the list 127.0.0.1:5000/x/list:1
//!     ├── .ref                           the list's reference (names can collide)
//!     ├── 127.0.0.1-5000_x_img-amd64     {"Ref": …, "Descriptor": {…, "platform": …}, "Raw": base64}
//!     └── 127.0.0.1-5000_x_img-arm64
//! ```
//! Entries are listed in file-name order, which is the order docker puts them in the index.
//! Every file is written atomically; nothing here touches the content store or the database.
//!
//! Spec: docker/cli `cli/manifest/store/store.go` (layout), `cli/command/manifest/*.go`
//! (behaviour), `internal/registryclient/fetcher.go` (what an entry holds), distribution's
//! `manifestlist.FromDescriptors` (the pushed document and its media type).

use std::collections::BTreeSet;
use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};

use kasane_oci::{Descriptor, Digest, ManifestKind, Platform, Reference, media_type};
use kasane_registry::{MountOutcome, RegistryClient, RemoteRepository};
use kasane_store::atomic::write_atomic;
use kasane_store::copy::{CopyOptions, copy_graph};
use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::error::{EngineError, Result};

/// The directory under the state root that holds the lists.
pub const DIR: &str = "manifests";

/// The hidden file in a list's directory that names the list.
const REF_FILE: &str = ".ref";

/// docker's message when `create` meets an existing list without `--amend`.
pub const AMEND_REFUSED: &str = "refusing to amend an existing manifest list with no --amend flag";

/// One image of a manifest list: its reference, its manifest's descriptor (with the
/// platform, from the image config or `annotate`) and the manifest bytes.
///
/// Serialised as docker's `types.ImageManifest` minus the parsed manifest (`Ref`,
/// `Descriptor`, `Raw` as base64), so the files read like docker's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    /// The image (`127.0.0.1:5000/x/img:amd64`), normalised and tagged.
    #[serde(rename = "Ref")]
    pub reference: Reference,
    /// Media type, digest and size of the image's manifest, and its platform.
    #[serde(rename = "Descriptor")]
    pub descriptor: Descriptor,
    /// The manifest exactly as the registry served it (what `inspect LIST IMAGE` prints
    /// and `push` re-uploads); `None` in a file that lacks it (then it is fetched again).
    #[serde(
        rename = "Raw",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub raw: Option<Vec<u8>>,
}

impl ListEntry {
    /// The platform, never absent (docker always fills one in).
    pub fn platform(&self) -> Platform {
        self.descriptor.platform.clone().unwrap_or_default()
    }

    /// The digests of the blobs the manifest refers to (config, then layers), foreign
    /// layers excluded (registries do not hold them).
    ///
    /// # Errors
    /// `InvalidArgument` when the manifest bytes are missing or not an image manifest.
    pub fn blobs(&self) -> Result<Vec<Descriptor>> {
        let raw = self.raw.as_deref().ok_or_else(|| {
            EngineError::InvalidArgument(format!("{} has no payload", self.reference))
        })?;
        match ManifestKind::parse(raw, Some(&self.descriptor.media_type))? {
            ManifestKind::Image(m) => Ok(std::iter::once(m.config)
                .chain(m.layers)
                .filter(|d| !media_type::is_foreign_layer(&d.media_type))
                .collect()),
            ManifestKind::Index(_) => Err(EngineError::InvalidArgument(format!(
                "{} is a manifest list",
                self.reference
            ))),
        }
    }
}

/// What `annotate` sets; `None`/empty leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformUpdate {
    /// `--os`.
    pub os: Option<String>,
    /// `--arch`.
    pub architecture: Option<String>,
    /// `--variant`.
    pub variant: Option<String>,
    /// `--os-version`.
    pub os_version: Option<String>,
    /// `--os-features`: added to the entry's features (each once).
    pub os_features: Vec<String>,
}

impl PlatformUpdate {
    /// Applies the update to `p` as docker does (non-empty values replace, features add).
    pub fn apply(&self, p: &mut Platform) {
        let set = |field: &mut String, v: &Option<String>| {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                *field = v.to_owned();
            }
        };
        set(&mut p.os, &self.os);
        set(&mut p.architecture, &self.architecture);
        let features = p.os_features.get_or_insert_with(Vec::new);
        for f in &self.os_features {
            if !features.contains(f) {
                features.push(f.clone());
            }
        }
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            p.variant = Some(v.to_owned());
        }
        if let Some(v) = self.os_version.as_deref().filter(|v| !v.is_empty()) {
            p.os_version = Some(v.to_owned());
        }
        *p = normalized(p.clone());
    }
}

/// Drops empty optional fields, as Go's `omitempty` does when docker writes a platform.
pub fn normalized(mut p: Platform) -> Platform {
    if p.os_features.as_ref().is_some_and(Vec::is_empty) {
        p.os_features = None;
    }
    if p.os_version.as_deref() == Some("") {
        p.os_version = None;
    }
    if p.variant.as_deref() == Some("") {
        p.variant = None;
    }
    p
}

/// The os/architecture pairs `annotate` accepts (docker's `validOSArches`: Go's first-class
/// ports plus linux/s390x).
const VALID_OS_ARCH: &[(&str, &str)] = &[
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm"),
    ("darwin", "arm64"),
    ("dragonfly", "amd64"),
    ("freebsd", "386"),
    ("freebsd", "amd64"),
    ("freebsd", "arm"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("linux", "mips64"),
    ("linux", "mips64le"),
    ("linux", "riscv64"),
    ("linux", "s390x"),
    ("netbsd", "386"),
    ("netbsd", "amd64"),
    ("netbsd", "arm"),
    ("openbsd", "386"),
    ("openbsd", "amd64"),
    ("openbsd", "arm"),
    ("plan9", "386"),
    ("plan9", "amd64"),
    ("solaris", "amd64"),
    ("windows", "386"),
    ("windows", "amd64"),
];

/// Whether `annotate` accepts the pair.
pub fn is_valid_os_arch(os: &str, arch: &str) -> bool {
    VALID_OS_ARCH.iter().any(|(o, a)| *o == os && *a == arch)
}

/// docker's file name for a reference: `:` → `-`, `/` → `_`.
pub fn file_safe_name(reference: &str) -> String {
    reference.replace(':', "-").replace('/', "_")
}

/// The local manifest lists of one state root.
#[derive(Debug, Clone)]
pub struct ManifestLists {
    dir: PathBuf,
}

impl Engine {
    /// The local manifest lists under this state root.
    pub fn manifest_lists(&self) -> ManifestLists {
        ManifestLists::new(self.root())
    }
}

fn not_found(reference: &Reference) -> EngineError {
    EngineError::NotFound(format!("No such manifest: {reference}"))
}

impl ManifestLists {
    /// The lists under `state_root/manifests`.
    pub fn new(state_root: &Path) -> Self {
        ManifestLists {
            dir: state_root.join(DIR),
        }
    }

    fn list_dir(&self, list: &Reference) -> PathBuf {
        self.dir.join(file_safe_name(&list.to_string()))
    }

    /// The list a directory belongs to, per its `.ref` file (`None` for a directory
    /// without one).
    fn owner(&self, dir: &Path) -> Result<Option<String>> {
        match std::fs::read_to_string(dir.join(REF_FILE)) {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == IoKind::NotFound => Ok(None),
            Err(e) => Err(EngineError::io(format!("reading {}", dir.display()), e)),
        }
    }

    /// The directory of `list` if it exists and belongs to it.
    fn existing_dir(&self, list: &Reference) -> Result<Option<PathBuf>> {
        let dir = self.list_dir(list);
        if !dir.is_dir() {
            return Ok(None);
        }
        match self.owner(&dir)? {
            Some(owner) if owner != list.to_string() => Ok(None),
            _ => Ok(Some(dir)),
        }
    }

    /// Whether `list` exists locally.
    ///
    /// # Errors
    /// I/O errors reading its directory.
    pub fn exists(&self, list: &Reference) -> Result<bool> {
        Ok(self.existing_dir(list)?.is_some())
    }

    /// Creates `list` with `entries`, or adds them to it with `amend` (an entry for the same
    /// image is replaced).
    ///
    /// # Errors
    /// `InvalidArgument` ([`AMEND_REFUSED`]) when the list exists and `amend` is false, or
    /// when its directory belongs to another list whose name escapes the same way; I/O.
    pub fn create(&self, list: &Reference, entries: &[ListEntry], amend: bool) -> Result<()> {
        let dir = self.list_dir(list);
        if dir.is_dir() {
            if let Some(owner) = self.owner(&dir)?
                && owner != list.to_string()
            {
                return Err(EngineError::InvalidArgument(format!(
                    "the local manifest list {owner} is stored under the same name as {list}; \
                     remove it first (kasane manifest rm {owner})"
                )));
            }
            if !amend {
                return Err(EngineError::InvalidArgument(AMEND_REFUSED.to_owned()));
            }
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))?;
        write_atomic(&dir.join(REF_FILE), format!("{list}\n").as_bytes())?;
        for entry in entries {
            self.save(list, entry)?;
        }
        Ok(())
    }

    /// Writes one entry of an existing list (replacing the entry for the same image).
    ///
    /// # Errors
    /// `NotFound` when the list does not exist; `InvalidArgument` when another image's
    /// entry has the same file name; I/O.
    pub fn save(&self, list: &Reference, entry: &ListEntry) -> Result<()> {
        let dir = self.existing_dir(list)?.ok_or_else(|| not_found(list))?;
        let path = dir.join(file_safe_name(&entry.reference.to_string()));
        if let Some(existing) = read_entry(&path)?
            && existing.reference != entry.reference
        {
            return Err(EngineError::InvalidArgument(format!(
                "{} and {} have the same file name in the local manifest list {list}",
                existing.reference, entry.reference
            )));
        }
        let bytes = serde_json::to_vec(entry)
            .map_err(|e| EngineError::InvalidArgument(format!("encoding {list}: {e}")))?;
        write_atomic(&path, &bytes)?;
        Ok(())
    }

    /// The entries of `list`, in docker's order (by file name).
    ///
    /// # Errors
    /// `NotFound` ("No such manifest: …") when there is no such list; `InvalidArgument` for
    /// an unreadable entry file; I/O.
    pub fn get(&self, list: &Reference) -> Result<Vec<ListEntry>> {
        let dir = self.existing_dir(list)?.ok_or_else(|| not_found(list))?;
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| EngineError::io(format!("listing {}", dir.display()), e))?;
        let mut names = BTreeSet::new();
        for e in rd {
            let e = e.map_err(|e| EngineError::io(format!("listing {}", dir.display()), e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            // Hidden: the `.ref` file and atomic writes in progress.
            if !name.starts_with('.') {
                names.insert(name);
            }
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(entry) = read_entry(&dir.join(&name))? {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// The entry of `image` in `list`.
    ///
    /// # Errors
    /// `NotFound` ("No such manifest: <image>") when the list or the entry is missing.
    pub fn get_entry(&self, list: &Reference, image: &Reference) -> Result<ListEntry> {
        let dir = self.existing_dir(list)?.ok_or_else(|| not_found(image))?;
        match read_entry(&dir.join(file_safe_name(&image.to_string())))? {
            Some(e) if &e.reference == image => Ok(e),
            _ => Err(not_found(image)),
        }
    }

    /// Changes the platform of `image`'s entry in `list` (docker's `annotate`).
    ///
    /// # Errors
    /// `NotFound` when the entry is missing; `InvalidArgument` when the resulting os/arch
    /// pair is not one docker accepts.
    pub fn annotate(
        &self,
        list: &Reference,
        image: &Reference,
        update: &PlatformUpdate,
    ) -> Result<ListEntry> {
        let mut entry = self.get_entry(list, image)?;
        let mut platform = entry.platform();
        update.apply(&mut platform);
        if !is_valid_os_arch(&platform.os, &platform.architecture) {
            return Err(EngineError::InvalidArgument(format!(
                "manifest entry for image has unsupported os/arch combination: {}/{}",
                platform.os, platform.architecture
            )));
        }
        entry.descriptor.platform = Some(platform);
        self.save(list, &entry)?;
        Ok(entry)
    }

    /// Deletes `list`.
    ///
    /// # Errors
    /// `NotFound` when there is no such list; I/O.
    pub fn remove(&self, list: &Reference) -> Result<()> {
        let dir = self.existing_dir(list)?.ok_or_else(|| not_found(list))?;
        std::fs::remove_dir_all(&dir)
            .map_err(|e| EngineError::io(format!("removing {}", dir.display()), e))
    }
}

fn read_entry(path: &Path) -> Result<Option<ListEntry>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::io(format!("reading {}", path.display()), e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        EngineError::InvalidArgument(format!("invalid manifest file {}: {e}", path.display()))
    })
}

/// `Option<Vec<u8>>` as a base64 string (Go's `[]byte` in JSON).
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

// ---------------------------------------------------------------------------------------
// The registry side.

/// What a reference names on its registry.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// One image manifest, with the platform from its config.
    Image(Box<ListEntry>),
    /// An index: its images, with the platforms the index gives them.
    List(Vec<ListEntry>),
}

/// The platform an image config declares (its top-level `architecture`, `os`,
/// `os.version`, `os.features` and `variant`), as docker reads it.
///
/// # Errors
/// `InvalidArgument` when the config is not a JSON object with those fields well typed.
pub fn platform_of_config(config: &[u8]) -> Result<Platform> {
    let invalid =
        |e: serde_json::Error| EngineError::InvalidArgument(format!("invalid image config: {e}"));
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(config).map_err(invalid)?;
    serde_json::from_value::<Platform>(serde_json::Value::Object(object))
        .map(normalized)
        .map_err(invalid)
}

/// The media type of an image manifest: its `mediaType`, else the registry's.
fn manifest_type(body: &kasane_oci::Manifest, served: &str) -> String {
    body.media_type
        .clone()
        .unwrap_or_else(|| media_type::essence(served).to_owned())
}

/// One image manifest as an entry: the config is read for the platform.
fn image_entry(
    repo: &RemoteRepository,
    reference: &Reference,
    desc: &Descriptor,
    manifest: &kasane_oci::Manifest,
    bytes: Vec<u8>,
) -> Result<ListEntry> {
    let subject = reference.to_string();
    let config = kasane_store::read_blob(repo, &manifest.config)
        .map_err(|e| EngineError::invalid_image(&subject, e))?;
    let platform = platform_of_config(&config)?;
    let mut descriptor = Descriptor::new(
        manifest_type(manifest, &desc.media_type),
        desc.digest.clone(),
        desc.size,
    );
    descriptor.platform = Some(platform);
    Ok(ListEntry {
        reference: reference.clone(),
        descriptor,
        raw: Some(bytes),
    })
}

/// The image manifest `reference` names (docker's `GetManifest`): its descriptor, the
/// platform from its config, and its bytes.
///
/// # Errors
/// `InvalidArgument` ("… is a manifest list") when it names an index; `Remote` when the
/// registry fails or lacks it.
pub fn fetch_image(client: &RegistryClient, reference: &Reference) -> Result<ListEntry> {
    match fetch_inner(client, reference, false)? {
        Fetched::Image(e) => Ok(*e),
        Fetched::List(_) => Err(EngineError::InvalidArgument(format!(
            "{reference} is a manifest list"
        ))),
    }
}

/// What `reference` names: an image manifest (with its config's platform) or an index
/// (each image manifest it lists, with the index's platforms), as `manifest inspect` shows.
///
/// # Errors
/// `Remote` when the registry fails or lacks it; `InvalidArgument` when an index lists
/// something other than image manifests.
pub fn fetch(client: &RegistryClient, reference: &Reference) -> Result<Fetched> {
    fetch_inner(client, reference, true)
}

fn fetch_inner(client: &RegistryClient, reference: &Reference, lists: bool) -> Result<Fetched> {
    let subject = reference.to_string();
    let wanted = match (&reference.digest, &reference.tag) {
        (Some(d), _) => d.to_string(),
        (None, t) => t.clone().unwrap_or_else(|| "latest".to_owned()),
    };
    let (repo, desc, bytes) = crate::pull::resolve_remote(client, reference, &wanted)?;
    match ManifestKind::parse(&bytes, Some(&desc.media_type))? {
        ManifestKind::Image(m) => Ok(Fetched::Image(Box::new(image_entry(
            &repo, reference, &desc, &m, bytes,
        )?))),
        ManifestKind::Index(_) if !lists => Ok(Fetched::List(Vec::new())),
        ManifestKind::Index(index) => {
            let mut out = Vec::with_capacity(index.manifests.len());
            for child in &index.manifests {
                let (cdesc, cbytes) = repo
                    .get_manifest(&child.digest.to_string())
                    .map_err(|e| EngineError::remote(&subject, e))?;
                let m = match ManifestKind::parse(&cbytes, Some(&cdesc.media_type))? {
                    ManifestKind::Image(m) => m,
                    ManifestKind::Index(_) => {
                        return Err(EngineError::InvalidArgument(format!(
                            "unsupported manifest type: {} (an index inside {subject})",
                            child.digest
                        )));
                    }
                };
                let mut descriptor = Descriptor::new(
                    manifest_type(&m, &cdesc.media_type),
                    cdesc.digest.clone(),
                    cdesc.size,
                );
                descriptor.platform = Some(normalized(child.platform.clone().unwrap_or_default()));
                out.push(ListEntry {
                    reference: reference.clone().with_digest(cdesc.digest),
                    descriptor,
                    raw: Some(cbytes),
                });
            }
            Ok(Fetched::List(out))
        }
    }
}

/// A Docker `manifestlist.ManifestDescriptor`, in docker's field order.
#[derive(Serialize)]
struct DockerListEntry<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    size: u64,
    digest: &'a Digest,
    platform: DockerPlatform<'a>,
}

/// docker's `manifestlist.PlatformSpec`.
#[derive(Serialize)]
struct DockerPlatform<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    os_version: Option<&'a str>,
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    os_features: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

#[derive(Serialize)]
struct DockerList<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    manifests: Vec<DockerListEntry<'a>>,
}

/// The index docker makes of `entries` for `list` (`manifestlist.FromDescriptors`): an OCI
/// index when the first entry is an OCI manifest, else a Docker manifest list, indented
/// by three spaces as Go's `json.MarshalIndent` writes it. `manifest inspect` prints these
/// bytes and `manifest push` uploads them, so the digest is the one docker would get.
///
/// With `for_push`, every entry must have an OS and an architecture (docker's check).
///
/// # Errors
/// `InvalidArgument` when an entry is on another registry than `list`, or (for a push)
/// lacks an OS or architecture.
pub fn index_document(
    list: &Reference,
    entries: &[ListEntry],
    for_push: bool,
) -> Result<(String, Vec<u8>)> {
    let mut manifests = Vec::with_capacity(entries.len());
    for e in entries {
        let p = e.descriptor.platform.as_ref();
        if for_push && p.is_none_or(|p| p.os.is_empty() || p.architecture.is_empty()) {
            return Err(EngineError::InvalidArgument(format!(
                "manifest {} must have an OS and Architecture to be pushed to a registry",
                e.reference
            )));
        }
        if e.reference.registry != list.registry {
            return Err(EngineError::InvalidArgument(format!(
                "cannot use source images from a different registry than the target image: \
                 {} != {}",
                e.reference.registry, list.registry
            )));
        }
        manifests.push(DockerListEntry {
            media_type: &e.descriptor.media_type,
            size: e.descriptor.size,
            digest: &e.descriptor.digest,
            platform: DockerPlatform {
                architecture: p.map_or("", |p| p.architecture.as_str()),
                os: p.map_or("", |p| p.os.as_str()),
                os_version: p
                    .and_then(|p| p.os_version.as_deref())
                    .filter(|v| !v.is_empty()),
                os_features: p
                    .and_then(|p| p.os_features.as_deref())
                    .filter(|v| !v.is_empty()),
                variant: p
                    .and_then(|p| p.variant.as_deref())
                    .filter(|v| !v.is_empty()),
            },
        });
    }
    let media_type = match entries.first() {
        Some(e) if e.descriptor.media_type == media_type::OCI_MANIFEST => media_type::OCI_INDEX,
        _ => media_type::DOCKER_MANIFEST_LIST,
    };
    let doc = DockerList {
        schema_version: 2,
        media_type,
        manifests,
    };
    Ok((media_type.to_owned(), go_marshal_indent(&doc, b"   ")?))
}

/// `json.MarshalIndent(v, "", indent)`: serde's pretty layout is Go's, and Go's encoder
/// additionally escapes `<`, `>`, `&`, U+2028 and U+2029 (which appear only inside strings).
fn go_marshal_indent<T: Serialize>(v: &T, indent: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser)
        .map_err(|e| EngineError::InvalidArgument(format!("encoding a manifest list: {e}")))?;
    Ok(go_escape_html(&out))
}

/// Go's HTML escaping of already-encoded JSON.
fn go_escape_html(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut i = 0;
    while i < json.len() {
        let c = json[i];
        match c {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 if json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                out.extend_from_slice(if json[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// What [`push`] did.
#[derive(Debug, Clone)]
pub struct PushedList {
    /// The index's media type.
    pub media_type: String,
    /// Its digest (what docker prints).
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

/// Pushes `list` (the local entries `entries`) to its registry, as `docker manifest push`:
/// each image that lives in another repository of the same registry is made to exist in
/// the list's repository (its blobs mounted, or copied through the client where the
/// registry will not mount, then its manifest put by digest; `on_ref` is told each one),
/// then the index is put under the list's tag.
///
/// # Errors
/// `InvalidArgument` for entries docker would refuse (no OS/architecture, another
/// registry); `Remote` when the registry fails.
pub fn push(
    client: &RegistryClient,
    list: &Reference,
    entries: &[ListEntry],
    on_ref: &dyn Fn(&Reference, &Digest),
) -> Result<PushedList> {
    let subject = list.to_string();
    if entries.is_empty() {
        return Err(EngineError::NotFound(format!("{subject} not found")));
    }
    let (mt, bytes) = index_document(list, entries, true)?;
    let target = crate::pull::origin_repository(client, list, true)?;

    for entry in entries {
        if entry.reference.repository == list.repository {
            continue;
        }
        copy_entry(client, &target, entry)?;
        on_ref(
            &list
                .without_tag_or_digest()
                .with_digest(entry.descriptor.digest.clone()),
            &entry.descriptor.digest,
        );
    }

    let tag = match (&list.tag, &list.digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".to_owned(),
    };
    target
        .put_manifest(&tag, &mt, &bytes)
        .map_err(|e| EngineError::remote(&subject, e))?;
    Ok(PushedList {
        media_type: mt,
        digest: Digest::sha256_of(&bytes),
        size: bytes.len() as u64,
    })
}

/// Makes `entry`'s image exist in `target`: blobs it lacks are mounted from the entry's
/// repository, or copied through the client when the registry will not mount them; then
/// the manifest is put by digest.
fn copy_entry(client: &RegistryClient, target: &RemoteRepository, entry: &ListEntry) -> Result<()> {
    let r = &entry.reference;
    let subject = r.to_string();
    let source = crate::pull::origin_repository(client, r, false)?;
    let from = source.repository().to_owned();
    let root = Descriptor::new(
        entry.descriptor.media_type.clone(),
        entry.descriptor.digest.clone(),
        entry.descriptor.size,
    );
    let dst_has = |d: &Digest| -> kasane_store::Result<bool> {
        if d == &root.digest {
            return Ok(false); // the manifest is always put (idempotent)
        }
        if target.head_blob(d)?.is_some() {
            return Ok(true);
        }
        Ok(target.mount_blob(d, &from)? == MountOutcome::Mounted)
    };
    let opts = CopyOptions {
        platform: None,
        jobs: 3,
        progress: None,
        trust_source: false,
    };
    copy_graph(&source, target, &dst_has, &root, &opts)
        .map_err(|e| EngineError::invalid_image(&subject, e))?;
    Ok(())
}

#[cfg(test)]
mod tests;
