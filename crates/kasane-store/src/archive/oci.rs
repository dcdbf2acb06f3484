//! [`OciArchive`]: an OCI image layout packed in a tar (`podman save --format oci-archive`,
//! `skopeo copy … oci-archive:`, `buildctl --output type=oci`), read in place.
//!
//! ```text
//! archive.tar
//! ├── oci-layout
//! ├── index.json
//! └── blobs/sha256/<hex>     served by pread from the tar file, never unpacked
//! ```

use std::io::Read;
use std::path::Path;

use kasane_oci::{Descriptor, Digest};

use super::{ArchiveImage, ImageArchive, TarIndex, consts, images_of_roots, parse_index_roots};
use crate::content::{MAX_METADATA_BLOB, Provider};
use crate::error::{Result, StoreError};

/// An oci-archive opened for reading.
#[derive(Debug)]
pub struct OciArchive {
    tar: TarIndex,
    index_bytes: Vec<u8>,
    images: Vec<ArchiveImage>,
}

impl OciArchive {
    /// Opens an oci-archive tar file (uncompressed; see `spool_decompressed`).
    ///
    /// # Errors
    /// `Invalid` when it lacks `oci-layout` or `index.json`, or its index is malformed.
    pub fn open(path: &Path) -> Result<OciArchive> {
        Self::from_tar(TarIndex::open(path)?)
    }

    /// Reads the layout from a scanned tar.
    ///
    /// # Errors
    /// As [`OciArchive::open`].
    pub fn from_tar(tar: TarIndex) -> Result<OciArchive> {
        let what = format!("archive {}", tar.name().display());
        if !tar.contains(consts::OCI_LAYOUT_FILE) {
            return Err(StoreError::invalid(
                what,
                "does not contain an oci-layout file",
            ));
        }
        let index_bytes = tar
            .read(consts::INDEX_JSON, MAX_METADATA_BLOB)
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    StoreError::invalid(&what, "does not contain an index.json")
                }
                other => other,
            })?;
        let roots = parse_index_roots(&index_bytes, &format!("index.json in {what}"))?;
        let images = images_of_roots(&roots);
        Ok(OciArchive {
            tar,
            index_bytes,
            images,
        })
    }

    /// The raw `index.json`.
    pub fn index_bytes(&self) -> &[u8] {
        &self.index_bytes
    }

    fn blob_path(digest: &Digest) -> String {
        format!(
            "{}/{}/{}",
            consts::BLOBS_DIR,
            digest.algorithm(),
            digest.hex()
        )
    }
}

impl Provider for OciArchive {
    fn open(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        self.open_at(desc, 0)
    }

    fn contains(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.tar.entry(&Self::blob_path(digest)).map(|e| e.size))
    }

    fn open_at(&self, desc: &Descriptor, offset: u64) -> Result<Box<dyn Read + Send + '_>> {
        let entry = self
            .tar
            .entry(&Self::blob_path(&desc.digest))
            .ok_or_else(|| StoreError::BlobNotFound(desc.digest.clone()))?;
        if entry.size != desc.size {
            return Err(StoreError::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: entry.size,
            });
        }
        let mut reader = self.tar.reader(entry);
        reader.skip(offset);
        Ok(Box::new(reader))
    }
}

impl ImageArchive for OciArchive {
    fn images(&self) -> &[ArchiveImage] {
        &self.images
    }

    fn as_provider(&self) -> &dyn Provider {
        self
    }
}
