//! [`OciLayoutDir`]: an OCI image layout directory as a source and a sink.
//!
//! ```text
//! <dir>
//! ├── oci-layout               {"imageLayoutVersion": "1.0.0"}
//! ├── index.json               roots, named by annotations; replaced atomically
//! └── blobs/sha256/<hex>       content; written through a hidden temp file and renamed
//! ```
//! Writers are not resumable (a dropped writer removes its temp file); two writers of one
//! blob both succeed and the second rename is a no-op ("already exists"). Updates of
//! `index.json` hold an exclusive `flock` on the directory, so concurrent `add_images` calls
//! from several processes do not lose each other's entries.
//!
//! Spec: OCI image-spec `image-layout.md`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use kasane_oci::{Descriptor, Digest, Index};

use super::{ArchiveImage, SaveImage, consts, images_of_roots, index_json, index_roots};
use crate::atomic::{self, AtomicFile, IfExists};
use crate::content::{
    BlobVerifier, BlobWriter, ExistingBlob, Ingester, MAX_METADATA_BLOB, Provider,
};
use crate::error::{Result, StoreError};
use crate::local::IO_BUFFER;

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayoutDir {
    root: PathBuf,
}

impl OciLayoutDir {
    /// Opens an existing layout (it must have an `oci-layout` file).
    ///
    /// # Errors
    /// `Invalid` when `oci-layout` is missing or unreadable.
    pub fn open(dir: &Path) -> Result<OciLayoutDir> {
        let marker = dir.join(consts::OCI_LAYOUT_FILE);
        let mut bytes = Vec::new();
        File::open(&marker)
            .and_then(|f| f.take(64 * 1024).read_to_end(&mut bytes))
            .map_err(|e| {
                StoreError::invalid(
                    format!("OCI layout {}", dir.display()),
                    format!("reading {}: {e}", consts::OCI_LAYOUT_FILE),
                )
            })?;
        let parsed: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
                what: marker.display().to_string(),
                source,
            })?;
        if parsed.get("imageLayoutVersion").is_none() {
            return Err(StoreError::invalid(
                format!("OCI layout {}", dir.display()),
                "oci-layout has no imageLayoutVersion",
            ));
        }
        Ok(OciLayoutDir {
            root: dir.to_path_buf(),
        })
    }

    /// Creates a layout at `dir` (or opens the one there): `oci-layout`, an empty
    /// `index.json` and `blobs/sha256/`.
    ///
    /// # Errors
    /// `Io` when the directory or files cannot be created.
    pub fn create(dir: &Path) -> Result<OciLayoutDir> {
        atomic::create_dir_all_durable(&dir.join(consts::BLOBS_DIR).join("sha256"))?;
        atomic::write_atomic_with(
            &dir.join(consts::OCI_LAYOUT_FILE),
            consts::OCI_LAYOUT_CONTENT.as_bytes(),
            IfExists::Keep,
        )?;
        atomic::write_atomic_with(
            &dir.join(consts::INDEX_JSON),
            &index_json(&[])?,
            IfExists::Keep,
        )?;
        Self::open(dir)
    }

    /// The layout's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives in the layout (read-only fast paths).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join(consts::BLOBS_DIR)
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The parsed `index.json` and its raw bytes.
    ///
    /// # Errors
    /// `Io`; `TooLarge`; `Oci` when it is not an index.
    pub fn index(&self) -> Result<(Index, Vec<u8>)> {
        let bytes = self.index_bytes()?;
        let index = Index::from_slice(&bytes).map_err(|source| StoreError::Oci {
            what: self.root.join(consts::INDEX_JSON).display().to_string(),
            source,
        })?;
        Ok((index, bytes))
    }

    fn index_bytes(&self) -> Result<Vec<u8>> {
        let path = self.root.join(consts::INDEX_JSON);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|f| f.take(MAX_METADATA_BLOB + 1).read_to_end(&mut bytes))
            .map_err(|e| StoreError::io("reading", &path, e))?;
        if bytes.len() as u64 > MAX_METADATA_BLOB {
            return Err(StoreError::TooLarge {
                what: path.display().to_string(),
                size: bytes.len() as u64,
                limit: MAX_METADATA_BLOB,
            });
        }
        Ok(bytes)
    }

    /// The images `index.json` lists, with their names (see [`ArchiveImage::repo_tags`]).
    ///
    /// # Errors
    /// As [`OciLayoutDir::index`].
    pub fn images(&self) -> Result<Vec<ArchiveImage>> {
        let (index, _) = self.index()?;
        Ok(images_of_roots(&index.manifests))
    }

    /// Adds the images' roots to `index.json` (annotated with their names), replacing roots
    /// of the same name; written atomically under a directory lock. The blobs must have been
    /// copied in already.
    ///
    /// # Errors
    /// `Io`; `Json`; `BlobNotFound` when a root is not in the layout.
    pub fn add_images(&self, images: &[SaveImage]) -> Result<()> {
        for image in images {
            if self.contains(&image.root.digest)?.is_none() {
                return Err(StoreError::BlobNotFound(image.root.digest.clone()));
            }
        }
        let dir = File::open(&self.root).map_err(|e| StoreError::io("opening", &self.root, e))?;
        dir.lock()
            .map_err(|e| StoreError::io("locking", &self.root, e))?;
        let bytes = self.index_bytes()?;
        let mut value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
                what: self.root.join(consts::INDEX_JSON).display().to_string(),
                source,
            })?;
        let new = index_roots(images);
        let name_of = |d: &Descriptor| {
            d.annotation(consts::ANNOTATION_IMAGE_NAME)
                .or_else(|| d.annotation(consts::ANNOTATION_REF_NAME))
                .map(str::to_owned)
        };
        let mut roots = super::parse_index_roots(&bytes, consts::INDEX_JSON)?;
        roots.retain(|old| {
            let old_name = name_of(old);
            !new.iter().any(|n| match (&old_name, name_of(n)) {
                (Some(a), Some(b)) => *a == b,
                (None, None) => old.digest == n.digest,
                _ => false,
            })
        });
        roots.extend(new);
        // Keep every other field of the existing document (annotations, subject, …).
        let manifests = serde_json::to_value(&roots).map_err(|source| StoreError::Json {
            what: consts::INDEX_JSON.into(),
            source,
        })?;
        match value.as_object_mut() {
            Some(obj) => {
                obj.insert("manifests".into(), manifests);
            }
            None => {
                return Err(StoreError::invalid(
                    self.root.join(consts::INDEX_JSON).display().to_string(),
                    "not a JSON object",
                ));
            }
        }
        let out = serde_json::to_vec(&value).map_err(|source| StoreError::Json {
            what: consts::INDEX_JSON.into(),
            source,
        })?;
        atomic::write_atomic(&self.root.join(consts::INDEX_JSON), &out)
        // `dir` (and the lock) drops here.
    }
}

impl Provider for OciLayoutDir {
    fn open(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(self.open_checked(desc)?))
    }

    fn contains(&self, digest: &Digest) -> Result<Option<u64>> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(md) if md.is_file() => Ok(Some(md.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("checking", path, e)),
        }
    }

    fn open_at(&self, desc: &Descriptor, offset: u64) -> Result<Box<dyn Read + Send + '_>> {
        let mut file = self.open_checked(desc)?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| StoreError::io("seeking", self.blob_path(&desc.digest), e))?;
        Ok(Box::new(file))
    }
}

impl OciLayoutDir {
    fn open_checked(&self, desc: &Descriptor) -> Result<File> {
        let path = self.blob_path(&desc.digest);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(desc.digest.clone()),
            _ => StoreError::io("opening", &path, e),
        })?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("reading", &path, e))?
            .len();
        if len != desc.size {
            return Err(StoreError::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: len,
            });
        }
        Ok(file)
    }
}

impl Ingester for OciLayoutDir {
    /// Writes into a hidden temp file in `blobs/<alg>/`, renamed at commit. Not resumable.
    fn writer(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>> {
        if let Some(desc) = expected
            && self.contains(&desc.digest)? == Some(desc.size)
        {
            return Ok(Box::new(ExistingBlob::new(desc.digest.clone(), desc.size)));
        }
        let alg = expected.map_or("sha256", |d| d.digest.algorithm().as_str());
        let dir = self.root.join(consts::BLOBS_DIR).join(alg);
        atomic::create_dir_all_durable(&dir)?;
        let file = AtomicFile::create_in(&dir)?;
        Ok(Box::new(LayoutWriter {
            layout: self,
            out: BufWriter::with_capacity(IO_BUFFER, file),
            verifier: BlobVerifier::new(expected),
            failed: false,
        }))
    }
}

struct LayoutWriter<'a> {
    layout: &'a OciLayoutDir,
    out: BufWriter<AtomicFile>,
    verifier: BlobVerifier,
    failed: bool,
}

impl Write for LayoutWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier write to this blob failed"));
        }
        if let Some((digest, size)) = self.verifier.expected()
            && self.verifier.count() + buf.len() as u64 > size
        {
            self.failed = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("blob {digest}: more than the expected {size} bytes"),
            ));
        }
        let n = self.out.write(buf).inspect_err(|_| self.failed = true)?;
        // Cannot fail: the size was checked above.
        let _ = self.verifier.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl BlobWriter for LayoutWriter<'_> {
    fn offset(&self) -> u64 {
        self.verifier.count()
    }

    fn commit(self: Box<Self>) -> Result<(Digest, u64)> {
        let LayoutWriter {
            layout,
            out,
            verifier,
            failed,
        } = *self;
        if failed {
            return Err(StoreError::Stream {
                what: format!("committing a blob to {}", layout.root.display()),
                source: io::Error::other("an earlier write failed"),
            });
        }
        let file = out
            .into_inner()
            .map_err(|e| StoreError::io("writing", layout.root.clone(), e.into_error()))?;
        // On mismatch `file` drops here and removes its temp file: nothing is published.
        let (digest, size) = verifier.finish()?;
        file.commit_to(&layout.blob_path(&digest), IfExists::Keep)?;
        Ok((digest, size))
    }
}
