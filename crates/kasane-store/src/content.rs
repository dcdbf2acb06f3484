//! The content seams: [`Provider`] reads blobs, [`Ingester`] writes them.
//!
//! Every place that holds blobs — the local store, an OCI layout directory, a docker-archive or
//! oci-archive tar, later a remote registry — implements one or both, and `copy_graph` moves an
//! image between any two of them (ARCHITECTURE.md principle 3).
//!
//! Lifecycle of a write: `Ingester::writer(expected)` → `write` bytes → `BlobWriter::commit`.
//! Nothing written is visible to `Provider::open` until `commit` has verified size and digest
//! and published the blob atomically; a writer dropped without commit publishes nothing.
//! Committing a blob that exists already is success ("already exists").

use std::io::{Read, Write};

use kasane_oci::{Descriptor, Digest};

use crate::error::Result;

/// Reads blobs by digest.
pub trait Provider: Send + Sync {
    /// Opens the blob for streaming. The reader is *not* required to verify the digest; use
    /// [`read_blob`] or a `VerifiedReader` when the bytes come from an untrusted place.
    ///
    /// # Errors
    /// `StoreError::BlobNotFound` when the blob is absent.
    fn open(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>>;

    /// Whether the blob is present (and its size), without reading it.
    fn contains(&self, digest: &Digest) -> Result<Option<u64>>;
}

/// Writes blobs; a write becomes visible only at [`BlobWriter::commit`].
pub trait Ingester: Send + Sync {
    /// Starts (or resumes) a write of the blob `expected` describes. When the digest is not
    /// known in advance (a layer being compressed on the fly), pass `None` and commit with
    /// the digest that results.
    fn writer(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>>;
}

/// An in-progress blob write.
pub trait BlobWriter: Write + Send {
    /// Bytes accepted so far (a resumed ingest starts above zero).
    fn offset(&self) -> u64;

    /// Verifies size and digest against the expected descriptor (when one was given),
    /// publishes the blob, and returns its descriptor fields (digest, size).
    ///
    /// # Errors
    /// `DigestMismatch`/`SizeMismatch` when the bytes do not match; nothing is published then.
    fn commit(self: Box<Self>) -> Result<(Digest, u64)>;
}

/// The largest manifest, index or config kasane reads into memory (docker uses 4 MiB for
/// manifests; configs of big images can be larger).
pub const MAX_METADATA_BLOB: u64 = 32 * 1024 * 1024;

/// Reads a small blob (manifest, index, config) whole, bounded and verified against `desc`.
///
/// # Errors
/// `TooLarge` over [`MAX_METADATA_BLOB`]; `SizeMismatch`/`DigestMismatch` when it does not verify.
pub fn read_blob(provider: &dyn Provider, desc: &Descriptor) -> Result<Vec<u8>> {
    use crate::error::StoreError;
    if desc.size > MAX_METADATA_BLOB {
        return Err(StoreError::TooLarge {
            what: format!("blob {}", desc.digest),
            size: desc.size,
            limit: MAX_METADATA_BLOB,
        });
    }
    let mut buf = Vec::with_capacity(desc.size as usize);
    provider
        .open(desc)?
        .take(desc.size + 1)
        .read_to_end(&mut buf)
        .map_err(|source| StoreError::Stream {
            what: format!("reading blob {}", desc.digest),
            source,
        })?;
    if buf.len() as u64 != desc.size {
        return Err(StoreError::SizeMismatch {
            digest: desc.digest.clone(),
            expected: desc.size,
            actual: buf.len() as u64,
        });
    }
    let actual = desc.digest.recompute(&buf);
    if actual != desc.digest {
        return Err(StoreError::DigestMismatch {
            expected: desc.digest.clone(),
            actual,
        });
    }
    Ok(buf)
}
