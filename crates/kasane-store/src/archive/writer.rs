//! Tar sinks: [`DockerArchiveWriter`] and [`OciArchiveWriter`] stream an archive to any
//! `Write` (a file, stdout) as `copy_graph` commits blobs into them.
//!
//! A tar is sequential, so each blob becomes one entry `blobs/<alg>/<hex>` as soon as its
//! writer opens: the header carries the descriptor's size, the bytes stream through a
//! verifier, and the padding follows at commit. One blob is written at a time (other writers
//! wait for their turn, so copy with `jobs: 1` for a reproducible entry order); a blob
//! already in the archive gets an "already exists" writer, so blobs shared by several images
//! are written once. `finish` appends the index files:
//! ```text
//! blobs/sha256/<hex>…   in commit order, mode 0644, uid/gid 0, mtime 0 (the epoch)
//! oci-layout            {"imageLayoutVersion": "1.0.0"}
//! index.json            roots with ref-name annotations
//! manifest.json         docker only: [{"Config":…,"RepoTags":…,"Layers":[…]}] + LF
//! repositories          docker only, when something is tagged: {"repo":{"tag":"<hex>"}} + LF
//! ```
//! Failure: bytes of a blob that do not verify are already in the stream, so the sink is
//! *poisoned*: every later writer and `finish` fail, and the caller discards the output. A
//! writer dropped half-way poisons it too.
//!
//! Spec: docker-formats.md §8.2/§8.3 (what docker ≥ 25 writes); OCI image-spec
//! `image-layout.md`.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Write};
use std::sync::{Condvar, Mutex, MutexGuard};

use kasane_oci::{Descriptor, Digest, ImageConfig, Manifest, ManifestKind, media_type};
use serde::Serialize;

use super::{SaveImage, consts, index_json, index_roots};
use crate::content::{BlobVerifier, BlobWriter, ExistingBlob, Ingester, MAX_METADATA_BLOB};
use crate::error::{Result, StoreError};
use crate::local::IO_BUFFER;

const BLOCK: usize = 512;

struct State<W: Write> {
    /// `None` while a blob writer holds the stream.
    out: Option<BufWriter<W>>,
    poisoned: Option<String>,
}

/// The shared tar-streaming core of both sinks.
struct TarSink<W: Write> {
    what: &'static str,
    state: Mutex<State<W>>,
    turn: Condvar,
    /// Blobs in the stream: digest → size.
    written: Mutex<HashMap<Digest, u64>>,
    /// Bytes of manifests, indexes and configs that passed, for `finish`.
    metadata: Mutex<HashMap<Digest, Vec<u8>>>,
}

impl<W: Write + Send> TarSink<W> {
    fn new(out: W, what: &'static str) -> Self {
        TarSink {
            what,
            state: Mutex::new(State {
                out: Some(BufWriter::with_capacity(IO_BUFFER, out)),
                poisoned: None,
            }),
            turn: Condvar::new(),
            written: Mutex::new(HashMap::new()),
            metadata: Mutex::new(HashMap::new()),
        }
    }

    fn poisoned_error(&self, why: &str) -> StoreError {
        StoreError::invalid(self.what, format!("the archive is incomplete: {why}"))
    }

    fn lock_state(&self) -> MutexGuard<'_, State<W>> {
        // A panic while holding the lock leaves the stream in an unknown state; the poison
        // flag below (set by the writer's Drop) reports it, so the guard itself is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn has(&self, digest: &Digest) -> bool {
        self.written
            .lock()
            .map(|w| w.contains_key(digest))
            .unwrap_or(false)
    }

    /// Waits for the stream and takes it.
    fn take_stream(&self) -> Result<BufWriter<W>> {
        let mut state = self.lock_state();
        loop {
            if let Some(why) = &state.poisoned {
                return Err(self.poisoned_error(why));
            }
            if let Some(out) = state.out.take() {
                return Ok(out);
            }
            state = self.turn.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give_back(&self, out: Option<BufWriter<W>>, poison: Option<String>) {
        let mut state = self.lock_state();
        state.out = out;
        if let Some(why) = poison {
            state.poisoned.get_or_insert(why);
        }
        drop(state);
        self.turn.notify_all();
    }

    fn writer(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        self.open_writer(expected, false)
    }

    fn open_writer(
        &self,
        expected: Option<&Descriptor>,
        witnessed: bool,
    ) -> Result<Box<dyn BlobWriter + '_>> {
        let Some(desc) = expected else {
            return Err(StoreError::invalid(
                self.what,
                "a tar stream needs each blob's size and digest before its bytes",
            ));
        };
        if self.has(&desc.digest) {
            return Ok(Box::new(ExistingBlob::new(desc.digest.clone(), desc.size)));
        }
        let mut out = self.take_stream()?;
        if self.has(&desc.digest) {
            // Written by the writer we waited for.
            self.give_back(Some(out), None);
            return Ok(Box::new(ExistingBlob::new(desc.digest.clone(), desc.size)));
        }
        let path = blob_path(&desc.digest);
        if let Err(e) = write_header(&mut out, &path, desc.size) {
            self.give_back(None, Some(format!("writing the header of {path}: {e}")));
            return Err(StoreError::Stream {
                what: format!("writing {path} to the {}", self.what),
                source: e,
            });
        }
        let mt = desc.media_type.as_str();
        let keep =
            (media_type::is_manifest(mt) || media_type::is_index(mt) || media_type::is_config(mt))
                && desc.size <= MAX_METADATA_BLOB;
        Ok(Box::new(TarBlobWriter {
            sink: self,
            out: Some(out),
            verifier: if witnessed {
                BlobVerifier::witnessed(desc)
            } else {
                BlobVerifier::new(Some(desc))
            },
            digest: desc.digest.clone(),
            keep: keep.then(Vec::new),
        }))
    }

    /// Writes one small file entry (index files at `finish`).
    fn append_file(out: &mut BufWriter<W>, path: &str, bytes: &[u8]) -> io::Result<()> {
        write_header(out, path, bytes.len() as u64)?;
        out.write_all(bytes)?;
        write_padding(out, bytes.len() as u64)
    }

    /// Takes the stream for good (no writer may be open).
    fn close(&self) -> Result<BufWriter<W>> {
        let mut state = self.lock_state();
        if let Some(why) = &state.poisoned {
            return Err(self.poisoned_error(why));
        }
        state.out.take().ok_or_else(|| {
            StoreError::Conflict(format!(
                "a blob is still being written to the {}",
                self.what
            ))
        })
    }

    fn metadata_of(&self, digest: &Digest) -> Result<Vec<u8>> {
        self.metadata
            .lock()
            .ok()
            .and_then(|m| m.get(digest).cloned())
            .ok_or_else(|| {
                StoreError::invalid(
                    self.what,
                    format!("{digest} was not written to the archive"),
                )
            })
    }

    fn finish_with(&self, files: &[(&str, Vec<u8>)]) -> Result<W> {
        let mut out = self.close()?;
        let io_err = |source| StoreError::Stream {
            what: format!("finishing the {}", self.what),
            source,
        };
        for (path, bytes) in files {
            Self::append_file(&mut out, path, bytes).map_err(io_err)?;
        }
        // End of archive: two zero blocks, as Go's archive/tar writes them.
        out.write_all(&[0u8; 2 * BLOCK]).map_err(io_err)?;
        out.into_inner().map_err(|e| io_err(e.into_error()))
    }
}

struct TarBlobWriter<'a, W: Write> {
    sink: &'a TarSink<W>,
    /// `None` after commit or a failed write.
    out: Option<BufWriter<W>>,
    verifier: BlobVerifier,
    digest: Digest,
    keep: Option<Vec<u8>>,
}

impl<W: Write + Send> Write for TarBlobWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(out) = self.out.as_mut() else {
            return Err(io::Error::other("this blob writer has failed"));
        };
        if let Some((digest, size)) = self.verifier.expected()
            && self.verifier.count() + buf.len() as u64 > size
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("blob {digest}: more than the expected {size} bytes"),
            ));
        }
        if let Err(e) = out.write_all(buf) {
            // The stream is broken mid-entry: nothing after this can make a valid archive.
            self.out = None;
            self.sink
                .give_back(None, Some(format!("writing blob {}: {e}", self.digest)));
            return Err(e);
        }
        // Cannot fail: the size was checked above.
        let _ = self.verifier.update(buf);
        if let Some(keep) = self.keep.as_mut() {
            keep.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // the sink flushes at finish; flushing per blob would only cost syscalls
    }
}

impl<W: Write + Send> BlobWriter for TarBlobWriter<'_, W> {
    fn offset(&self) -> u64 {
        self.verifier.count()
    }

    fn commit(self: Box<Self>) -> Result<(Digest, u64)> {
        (*self).finish(None)
    }

    fn commit_witnessed(self: Box<Self>, digest: Digest) -> Result<(Digest, u64)> {
        (*self).finish(Some(digest))
    }
}

impl<W: Write + Send> TarBlobWriter<'_, W> {
    fn finish(mut self, witness: Option<Digest>) -> Result<(Digest, u64)> {
        let Some(mut out) = self.out.take() else {
            return Err(StoreError::Stream {
                what: format!("committing {} to the {}", self.digest, self.sink.what),
                source: io::Error::other("an earlier write failed"),
            });
        };
        let verified = self.verifier.take().finish_with(witness);
        let (digest, size) = match verified {
            Ok(v) => v,
            Err(e) => {
                self.sink
                    .give_back(None, Some(format!("blob {} did not verify", self.digest)));
                return Err(e);
            }
        };
        if let Err(e) = write_padding(&mut out, size) {
            self.sink
                .give_back(None, Some(format!("writing blob {digest}: {e}")));
            return Err(StoreError::Stream {
                what: format!("writing blob {digest} to the {}", self.sink.what),
                source: e,
            });
        }
        if let Ok(mut w) = self.sink.written.lock() {
            w.insert(digest.clone(), size);
        }
        if let Some(bytes) = self.keep.take()
            && let Ok(mut m) = self.sink.metadata.lock()
        {
            m.insert(digest.clone(), bytes);
        }
        self.sink.give_back(Some(out), None);
        Ok((digest, size))
    }
}

impl<W: Write> Drop for TarBlobWriter<'_, W> {
    fn drop(&mut self) {
        if self.out.is_some() {
            // The header promised bytes that will never come.
            let mut state = self.sink.state.lock().unwrap_or_else(|p| p.into_inner());
            state
                .poisoned
                .get_or_insert(format!("blob {} was abandoned half-written", self.digest));
            drop(state);
            self.sink.turn.notify_all();
        }
    }
}

fn blob_path(digest: &Digest) -> String {
    format!(
        "{}/{}/{}",
        consts::BLOBS_DIR,
        digest.algorithm(),
        digest.hex()
    )
}

fn write_header(out: &mut impl Write, path: &str, size: u64) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path)?;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    out.write_all(header.as_bytes())
}

fn write_padding(out: &mut impl Write, size: u64) -> io::Result<()> {
    let rem = (size % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
    }
    Ok(())
}

/// Writes an oci-archive (an OCI layout as a tar) to a stream.
///
/// ```no_run
/// # fn main() -> kasane_store::Result<()> {
/// # let (store, root, name): (kasane_store::local::LocalStore, kasane_oci::Descriptor, kasane_oci::Reference) = todo!();
/// use kasane_store::archive::{OciArchiveWriter, SaveImage};
/// use kasane_store::copy::{CopyOptions, copy_graph};
/// let sink = OciArchiveWriter::new(std::fs::File::create("out.tar").map_err(|e| kasane_store::StoreError::io("creating", "out.tar", e))?);
/// copy_graph(&store, &sink, &|d| Ok(sink.has(d)), &root, &CopyOptions::default())?;
/// sink.finish(&[SaveImage { root, names: vec![name] }])?;
/// # Ok(()) }
/// ```
pub struct OciArchiveWriter<W: Write + Send> {
    sink: TarSink<W>,
}

impl<W: Write + Send> OciArchiveWriter<W> {
    /// A sink that streams to `out` (buffered internally).
    pub fn new(out: W) -> Self {
        OciArchiveWriter {
            sink: TarSink::new(out, "oci-archive"),
        }
    }

    /// Whether the blob is in the archive already (the `dst_has` of `copy_graph`).
    pub fn has(&self, digest: &Digest) -> bool {
        self.sink.has(digest)
    }

    /// Appends `oci-layout` and `index.json` (roots annotated with their names) and the
    /// end-of-archive blocks; returns the stream.
    ///
    /// # Errors
    /// `Invalid` when a root was not written or the sink is poisoned; `Stream`.
    pub fn finish(self, images: &[SaveImage]) -> Result<W> {
        for image in images {
            if !self.sink.has(&image.root.digest) {
                return Err(StoreError::invalid(
                    self.sink.what,
                    format!("{} was not written to the archive", image.root.digest),
                ));
            }
        }
        self.sink.finish_with(&[
            (
                consts::OCI_LAYOUT_FILE,
                consts::OCI_LAYOUT_CONTENT.as_bytes().to_vec(),
            ),
            (consts::INDEX_JSON, index_json(&index_roots(images))?),
        ])
    }
}

impl<W: Write + Send> Ingester for OciArchiveWriter<W> {
    /// Appends the blob as the next tar entry; needs `expected` (size first).
    fn writer(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        self.sink.writer(expected)
    }

    /// Like `writer`, but only counts: the caller commits with the digest it trusts.
    fn witnessed_writer(&self, expected: &Descriptor) -> Result<Box<dyn BlobWriter + '_>> {
        self.sink.open_writer(Some(expected), true)
    }
}

/// Writes a docker-archive (docker ≥ 25 layout: an OCI layout plus `manifest.json`) to a
/// stream; layers are written as stored (usually gzip), which docker and podman load.
pub struct DockerArchiveWriter<W: Write + Send> {
    sink: TarSink<W>,
}

#[derive(Serialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

impl<W: Write + Send> DockerArchiveWriter<W> {
    /// A sink that streams to `out` (buffered internally).
    pub fn new(out: W) -> Self {
        DockerArchiveWriter {
            sink: TarSink::new(out, "docker-archive"),
        }
    }

    /// Whether the blob is in the archive already (the `dst_has` of `copy_graph`).
    pub fn has(&self, digest: &Digest) -> bool {
        self.sink.has(digest)
    }

    /// Appends `oci-layout`, `index.json`, `manifest.json` and (when something is tagged)
    /// `repositories`, then the end-of-archive blocks; returns the stream.
    ///
    /// For a root that is an index, the `manifest.json` entry describes the first of its
    /// image manifests that was copied (copy with a platform filter to choose it).
    ///
    /// # Errors
    /// `Invalid` when a root, its manifest, config or a layer was not written, or the sink
    /// is poisoned; `Oci` for unparsable manifests; `Stream`.
    pub fn finish(self, images: &[SaveImage]) -> Result<W> {
        let mut items = Vec::with_capacity(images.len());
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for image in images {
            let manifest = self.image_manifest(&image.root, 0)?;
            for layer in &manifest.layers {
                if !self.sink.has(&layer.digest) {
                    return Err(StoreError::invalid(
                        self.sink.what,
                        format!("layer {} was not written to the archive", layer.digest),
                    ));
                }
            }
            let config_bytes = self.sink.metadata_of(&manifest.config.digest)?;
            let config =
                ImageConfig::from_slice(&config_bytes).map_err(|source| StoreError::Oci {
                    what: format!("config {}", manifest.config.digest),
                    source,
                })?;
            let tagged: Vec<_> = image.names.iter().filter(|n| n.tag.is_some()).collect();
            if let Some(top) = config.diff_ids().last() {
                for name in &tagged {
                    if let Some(tag) = &name.tag {
                        repositories
                            .entry(name.familiar_name())
                            .or_default()
                            .insert(tag.clone(), top.digest().hex().to_owned());
                    }
                }
            }
            items.push(ManifestItem {
                config: blob_path(&manifest.config.digest),
                repo_tags: (!tagged.is_empty())
                    .then(|| tagged.iter().map(|n| n.familiar()).collect()),
                layers: manifest
                    .layers
                    .iter()
                    .map(|l| blob_path(&l.digest))
                    .collect(),
            });
        }
        let json_err = |source| StoreError::Json {
            what: consts::MANIFEST_JSON.into(),
            source,
        };
        let mut manifest_json = serde_json::to_vec(&items).map_err(json_err)?;
        manifest_json.push(b'\n');
        let mut files = vec![
            (
                consts::OCI_LAYOUT_FILE,
                consts::OCI_LAYOUT_CONTENT.as_bytes().to_vec(),
            ),
            (consts::INDEX_JSON, index_json(&index_roots(images))?),
            (consts::MANIFEST_JSON, manifest_json),
        ];
        if !repositories.is_empty() {
            let mut bytes = serde_json::to_vec(&repositories).map_err(json_err)?;
            bytes.push(b'\n');
            files.push((consts::REPOSITORIES, bytes));
        }
        self.sink.finish_with(&files)
    }

    /// The image manifest a root stands for: itself, or the first copied image manifest
    /// under an index.
    fn image_manifest(&self, root: &Descriptor, depth: usize) -> Result<Manifest> {
        let bytes = self.sink.metadata_of(&root.digest)?;
        let parsed = ManifestKind::parse(&bytes, Some(&root.media_type)).map_err(|source| {
            StoreError::Oci {
                what: format!("manifest {}", root.digest),
                source,
            }
        })?;
        match parsed {
            ManifestKind::Image(m) => Ok(m),
            ManifestKind::Index(index) if depth < 4 => {
                for child in &index.manifests {
                    if self.sink.has(&child.digest)
                        && let Ok(m) = self.image_manifest(child, depth + 1)
                    {
                        return Ok(m);
                    }
                }
                Err(StoreError::invalid(
                    self.sink.what,
                    format!("no image manifest under index {} was written", root.digest),
                ))
            }
            ManifestKind::Index(_) => Err(StoreError::invalid(
                self.sink.what,
                format!("indexes under {} nest too deep", root.digest),
            )),
        }
    }
}

impl<W: Write + Send> Ingester for DockerArchiveWriter<W> {
    /// Appends the blob as the next tar entry; needs `expected` (size first).
    fn writer(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        self.sink.writer(expected)
    }

    /// Like `writer`, but only counts: the caller commits with the digest it trusts.
    fn witnessed_writer(&self, expected: &Descriptor) -> Result<Box<dyn BlobWriter + '_>> {
        self.sink.open_writer(Some(expected), true)
    }
}
