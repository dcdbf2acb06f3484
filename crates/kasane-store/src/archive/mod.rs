//! Image archives as sources and sinks, so that save and load are [`copy_graph`] calls.
//!
//! Owns the on-disk image formats other tools exchange:
//! - [`OciLayoutDir`]: an OCI image layout directory (source and sink);
//! - [`OciArchive`]: an OCI layout inside a tar (source); [`OciArchiveWriter`] (sink);
//! - [`DockerArchive`]: `docker save` output of every engine version and podman's
//!   docker-archive (source); [`DockerArchiveWriter`] (sink).
//!
//! Layouts (docker-formats.md §8):
//! ```text
//! OCI layout / oci-archive           docker-archive (what kasane writes; docker ≥ 25 style)
//! ├── oci-layout                     ├── blobs/sha256/<hex>   config, layers as stored, manifests
//! ├── index.json                     ├── oci-layout
//! └── blobs/sha256/<hex>             ├── index.json           roots, ref-name annotations
//!                                    ├── manifest.json        [{Config, RepoTags, Layers}]
//!                                    └── repositories         {"name":{"tag":"<top diffid hex>"}}
//! ```
//! Legacy docker archives (`<v1id>/layer.tar`, `<hex>.json`) and podman's (`<hex>.tar`) are
//! read through `manifest.json` too.
//!
//! Lifecycle of a load (tar sources never unpack: blobs are read in place through
//! [`TarIndex`]):
//! ```text
//! stdin / .tar.gz ──spool_decompressed──► plain tar in <root>/tmp (unlinked)
//! open_archive(path) ──► Box<dyn ImageArchive>: images() + Provider
//! for image in images(): copy_graph(archive, store, image.manifest)  then tag repo_tags
//! ```
//! and of a save: `copy_graph(store, writer, root)` per image (blobs are appended to the tar
//! as they are committed, each once), then `writer.finish(images)` writes the index files.
//!
//! Guarantees: sources bound every metadata read ([`MAX_METADATA_BLOB`]) and hand out bytes
//! that the destination verifies at commit; sinks verify each blob's size and digest as it
//! passes and refuse to finish an archive in which a blob failed. Layers are copied as
//! stored, never recompressed.
//!
//! Spec: OCI image-spec `image-layout.md`; moby `image/tarexport`; containers/image
//! `docker/internal/tarfile`.
//!
//! [`copy_graph`]: crate::copy::copy_graph

mod docker;
mod layout;
mod oci;
mod tar_index;
mod writer;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use kasane_oci::media_type::{self, Compression};
use kasane_oci::{Descriptor, Reference};
use serde_json::json;

use crate::atomic::read_full;
use crate::content::{MAX_METADATA_BLOB, Provider};
use crate::error::{Result, StoreError};
use crate::local::IO_BUFFER;

pub use docker::DockerArchive;
pub use layout::OciLayoutDir;
pub use oci::OciArchive;
pub use tar_index::{EntryReader, MAX_TAR_ENTRIES, MAX_TAR_PATH, TarEntry, TarIndex};
pub use writer::{DockerArchiveWriter, OciArchiveWriter};

/// File names and annotation keys of the archive formats, with who writes and reads them.
pub mod consts {
    /// OCI layout marker; written by every OCI layout writer, checked by readers.
    pub const OCI_LAYOUT_FILE: &str = "oci-layout";
    /// Content of `oci-layout` exactly as docker writes it (space after the colon, no LF).
    pub const OCI_LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\": \"1.0.0\"}";
    /// The OCI layout's root index.
    pub const INDEX_JSON: &str = "index.json";
    /// docker's list of images in a docker-archive (wins over `index.json` when both exist).
    pub const MANIFEST_JSON: &str = "manifest.json";
    /// docker's legacy repository → tag → top layer map.
    pub const REPOSITORIES: &str = "repositories";
    /// Directory of blobs in an OCI layout.
    pub const BLOBS_DIR: &str = "blobs";
    /// OCI annotation naming a root in `index.json`; containerd and docker write the tag only.
    pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
    /// containerd's annotation with the full image name (`docker.io/library/demo:1`).
    pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
}

/// An image listed by an archive: its root (a manifest or an index) and its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    /// The root descriptor (for docker archives, the synthesised OCI manifest).
    pub manifest: Descriptor,
    /// Names as the archive writes them: docker's `RepoTags` (`demo:1`) or, for OCI
    /// layouts, `io.containerd.image.name` (else `org.opencontainers.image.ref.name`).
    pub repo_tags: Vec<String>,
}

/// An image to record in an archive being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveImage {
    /// Root descriptor as copied into the sink (manifest or index).
    pub root: Descriptor,
    /// Names to record; empty when saved by ID (docker then writes `RepoTags: null`).
    pub names: Vec<Reference>,
}

/// An archive opened for reading: its images, and their blobs through [`Provider`].
pub trait ImageArchive: Provider {
    /// The images the archive lists, in its order.
    fn images(&self) -> &[ArchiveImage];

    /// The archive as a plain [`Provider`] (for `copy_graph`).
    fn as_provider(&self) -> &dyn Provider;
}

/// Opens a tar archive by docker's rule: `manifest.json` present → [`DockerArchive`];
/// otherwise `index.json` + `oci-layout` → [`OciArchive`].
///
/// # Errors
/// `invalid archive: does not contain a manifest.json` when it is neither; whatever the
/// chosen reader reports.
pub fn open_archive(path: &Path) -> Result<Box<dyn ImageArchive>> {
    open_tar(TarIndex::open(path)?)
}

/// [`open_archive`] for an already open, plain (uncompressed) tar file, e.g. the result of
/// [`spool_decompressed`].
///
/// # Errors
/// As [`open_archive`].
pub fn open_archive_file(file: File) -> Result<Box<dyn ImageArchive>> {
    open_tar(TarIndex::scan(file)?)
}

fn open_tar(tar: TarIndex) -> Result<Box<dyn ImageArchive>> {
    if tar.contains(consts::MANIFEST_JSON) {
        return Ok(Box::new(DockerArchive::from_tar(tar)?));
    }
    if tar.contains(consts::INDEX_JSON) && tar.contains(consts::OCI_LAYOUT_FILE) {
        return Ok(Box::new(OciArchive::from_tar(tar)?));
    }
    Err(no_manifest_json())
}

pub(crate) fn no_manifest_json() -> StoreError {
    StoreError::invalid("archive", "does not contain a manifest.json")
}

/// Detects gzip or zstd from a stream's first bytes (`None` for anything else, a plain tar
/// included).
pub fn detect_compression(prefix: &[u8]) -> Option<Compression> {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else {
        None
    }
}

/// The media type of a layer blob stored as given (docker-archive layers carry none):
/// gzip → `tar+gzip`, zstd → `tar+zstd`, else `tar`.
pub fn layer_media_type_for(prefix: &[u8]) -> &'static str {
    match detect_compression(prefix) {
        Some(Compression::Gzip) => media_type::OCI_LAYER_TAR_GZIP,
        Some(Compression::Zstd) => media_type::OCI_LAYER_TAR_ZSTD,
        _ => media_type::OCI_LAYER_TAR,
    }
}

/// Whether a stream starting with `prefix` is compressed (gzip, zstd, bzip2 or xz): the
/// compressions `docker load` and `docker import` accept.
pub fn is_compressed(prefix: &[u8]) -> bool {
    detect_compression(prefix).is_some() || is_bzip2(prefix) || is_xz(prefix)
}

fn is_bzip2(prefix: &[u8]) -> bool {
    prefix.starts_with(b"BZh")
}

fn is_xz(prefix: &[u8]) -> bool {
    prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
}

/// Wraps `whole` (which still starts with `magic`, its first bytes) in the decompressor its
/// magic number names: gzip, zstd, bzip2, xz, or none for a plain stream.
///
/// # Errors
/// `Stream` when a decompressor cannot start.
pub fn decompressing<'a>(magic: &[u8], whole: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    Ok(if is_bzip2(magic) {
        Box::new(bzip2::read::MultiBzDecoder::new(whole))
    } else if is_xz(magic) {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(whole))
    } else {
        match detect_compression(magic) {
            Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(whole)),
            Some(Compression::Zstd) => {
                Box::new(zstd::stream::read::Decoder::new(whole).map_err(|source| {
                    StoreError::Stream {
                        what: "starting zstd decompression".into(),
                        source,
                    }
                })?)
            }
            _ => Box::new(whole),
        }
    })
}

/// Writes the plain tar that `reader` yields (gzip, zstd, bzip2, xz or uncompressed, detected by magic
/// number) to an unnamed temp file in `tmp_dir` (the store's `tmp/`) and returns it, rewound.
/// This is how stdin and compressed archives become seekable [`TarIndex`] sources.
///
/// # Errors
/// `Stream` when reading or decompressing fails;
/// `Io` on the temp file.
pub fn spool_decompressed(reader: impl Read, tmp_dir: &Path) -> Result<File> {
    let mut reader = BufReader::with_capacity(IO_BUFFER, reader);
    let mut magic = [0u8; 6];
    let n = read_full(&mut reader, &mut magic).map_err(|source| StoreError::Stream {
        what: "reading archive".into(),
        source,
    })?;
    let magic = &magic[..n];
    let whole = io::Cursor::new(magic.to_vec()).chain(reader);
    let mut decoded = decompressing(magic, whole)?;
    let mut file = unnamed_temp(tmp_dir)?;
    let mut buf = vec![0u8; IO_BUFFER];
    loop {
        let n = match decoded.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(StoreError::Stream {
                    what: "decompressing archive".into(),
                    source,
                });
            }
        };
        io::Write::write_all(&mut file, &buf[..n])
            .map_err(|e| StoreError::io("writing to", tmp_dir, e))?;
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| StoreError::io("rewinding temp file in", tmp_dir, e))?;
    Ok(file)
}

/// A read-write file in `dir` with no name (unlinked at once), gone when closed.
fn unnamed_temp(dir: &Path) -> Result<File> {
    loop {
        let path = dir.join(format!(".spool-{:016x}", rand::random::<u64>()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path).map_err(|e| StoreError::io("removing", &path, e))?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::io("creating", path, e)),
        }
    }
}

/// `root` annotated with a name the way containerd and docker do it: the full name in
/// `io.containerd.image.name`, the tag in `org.opencontainers.image.ref.name`.
pub(crate) fn annotated_root(root: &Descriptor, name: &Reference) -> Descriptor {
    let mut desc = root.clone();
    let annotations = desc.annotations.get_or_insert_with(Default::default);
    annotations.insert(consts::ANNOTATION_IMAGE_NAME.to_owned(), name.to_string());
    if let Some(tag) = &name.tag {
        annotations.insert(consts::ANNOTATION_REF_NAME.to_owned(), tag.clone());
    }
    desc
}

/// The root descriptors for `images` in an `index.json`: one per name, or one plain
/// descriptor for an image without names.
pub(crate) fn index_roots(images: &[SaveImage]) -> Vec<Descriptor> {
    let mut out = Vec::new();
    for image in images {
        if image.names.is_empty() {
            out.push(image.root.clone());
        }
        for name in &image.names {
            out.push(annotated_root(&image.root, name));
        }
    }
    out
}

/// Compact `index.json` bytes (no trailing LF, as docker writes it).
pub(crate) fn index_json(manifests: &[Descriptor]) -> Result<Vec<u8>> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": manifests,
    }))
    .map_err(|source| StoreError::Json {
        what: consts::INDEX_JSON.into(),
        source,
    })
}

/// The root descriptors listed by an `index.json` document (kept raw: unknown fields and
/// annotations survive).
pub(crate) fn parse_index_roots(bytes: &[u8], what: &str) -> Result<Vec<Descriptor>> {
    #[derive(serde::Deserialize)]
    struct Roots {
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    if bytes.len() as u64 > MAX_METADATA_BLOB {
        return Err(StoreError::TooLarge {
            what: what.into(),
            size: bytes.len() as u64,
            limit: MAX_METADATA_BLOB,
        });
    }
    let roots: Roots = serde_json::from_slice(bytes).map_err(|source| StoreError::Json {
        what: what.into(),
        source,
    })?;
    Ok(roots.manifests)
}

/// The images an OCI `index.json` lists: roots with the same digest are merged, names taken
/// from `io.containerd.image.name`, else `org.opencontainers.image.ref.name`.
pub(crate) fn images_of_roots(roots: &[Descriptor]) -> Vec<ArchiveImage> {
    let mut images: Vec<ArchiveImage> = Vec::new();
    for root in roots {
        let name = root
            .annotation(consts::ANNOTATION_IMAGE_NAME)
            .or_else(|| root.annotation(consts::ANNOTATION_REF_NAME))
            .map(str::to_owned);
        let mut plain = root.clone();
        if let Some(a) = plain.annotations.as_mut() {
            a.remove(consts::ANNOTATION_IMAGE_NAME);
            a.remove(consts::ANNOTATION_REF_NAME);
            if a.is_empty() {
                plain.annotations = None;
            }
        }
        match images.iter_mut().find(|i| i.manifest.digest == root.digest) {
            Some(image) => image.repo_tags.extend(name),
            None => images.push(ArchiveImage {
                manifest: plain,
                repo_tags: name.into_iter().collect(),
            }),
        }
    }
    images
}
