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

use kasane_oci::{Algorithm, Descriptor, Digest, Digester};

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

    /// Opens the blob and positions the reader at byte `offset` (to resume an ingest that
    /// already holds the first `offset` bytes). The default reads and discards the prefix;
    /// sources that can seek (files, HTTP `Range`) override it.
    ///
    /// # Errors
    /// As [`Provider::open`]; `SizeMismatch` when the blob is shorter than `offset`.
    fn open_at(&self, desc: &Descriptor, offset: u64) -> Result<Box<dyn Read + Send + '_>> {
        let mut reader = self.open(desc)?;
        if offset > 0 {
            let skipped = std::io::copy(&mut (&mut reader).take(offset), &mut std::io::sink())
                .map_err(|source| crate::error::StoreError::Stream {
                    what: format!("skipping {offset} bytes of blob {}", desc.digest),
                    source,
                })?;
            if skipped != offset {
                return Err(crate::error::StoreError::SizeMismatch {
                    digest: desc.digest.clone(),
                    expected: desc.size,
                    actual: skipped,
                });
            }
        }
        Ok(reader)
    }
}

/// Writes blobs; a write becomes visible only at [`BlobWriter::commit`].
pub trait Ingester: Send + Sync {
    /// Starts (or resumes) a write of the blob `expected` describes. When the digest is not
    /// known in advance (a layer being compressed on the fly), pass `None` and commit with
    /// the digest that results.
    ///
    /// Callers must honour [`BlobWriter::offset`] and send only the bytes from there on: a
    /// resumed ingest starts above zero, and a blob the ingester holds already yields a writer
    /// whose offset is the full size (see [`ExistingBlob`]).
    fn writer(&self, expected: Option<&Descriptor>) -> Result<Box<dyn BlobWriter + '_>>;

    /// A writer that counts the bytes but leaves hashing to the caller, who commits with
    /// [`BlobWriter::commit_witnessed`] and the digest it computed over the same bytes (or,
    /// copying out of the local store, the digest the store verified when it committed the
    /// blob). Saves hashing every byte twice. Ingesters that cannot do this hand out their
    /// ordinary, self-verifying writer.
    fn witnessed_writer(&self, expected: &Descriptor) -> Result<Box<dyn BlobWriter + '_>> {
        self.writer(Some(expected))
    }
}

/// An in-progress blob write.
pub trait BlobWriter: Write + Send {
    /// Commits a write opened with [`Ingester::witnessed_writer`], with the digest the caller
    /// computed (or trusts) for exactly the bytes it wrote. A writer that hashes for itself
    /// ignores the witness and verifies with its own hash, like [`BlobWriter::commit`].
    ///
    /// # Errors
    /// As [`BlobWriter::commit`].
    fn commit_witnessed(self: Box<Self>, digest: Digest) -> Result<(Digest, u64)> {
        let _ = digest;
        self.commit()
    }

    /// Bytes accepted so far (a resumed ingest starts above zero).
    fn offset(&self) -> u64;

    /// Verifies size and digest against the expected descriptor (when one was given),
    /// publishes the blob, and returns its descriptor fields (digest, size).
    ///
    /// # Errors
    /// `DigestMismatch`/`SizeMismatch` when the bytes do not match; nothing is published then.
    fn commit(self: Box<Self>) -> Result<(Digest, u64)>;
}

/// Checks a stream of bytes against an optional expected descriptor as it passes: counts,
/// hashes, refuses bytes beyond the expected size at once, and compares size and digest at
/// [`BlobVerifier::finish`]. Every [`BlobWriter`] in this crate is built on it, so the check is
/// never forgotten (STYLE rule 4).
pub struct BlobVerifier {
    expected: Option<(Digest, u64)>,
    /// `None` for a witnessed write: the caller hashes the same bytes and brings the digest.
    digester: Option<Digester>,
    count: u64,
}

impl BlobVerifier {
    /// A verifier for the blob `expected` describes, or for unknown content (`None`, sha256).
    pub fn new(expected: Option<&Descriptor>) -> Self {
        let algorithm = expected.map_or(Algorithm::Sha256, |d| d.digest.algorithm());
        BlobVerifier {
            expected: expected.map(|d| (d.digest.clone(), d.size)),
            digester: Some(Digester::new(algorithm)),
            count: 0,
        }
    }

    /// Moves the verifier out of a writer that is still used afterwards, leaving one that
    /// refuses to finish (a hasher cannot be cloned: its state may live on the hashing thread).
    pub fn take(&mut self) -> Self {
        std::mem::replace(
            self,
            BlobVerifier {
                expected: None,
                digester: None,
                count: 0,
            },
        )
    }

    /// A verifier that counts but does not hash: the caller hashes the very same bytes on its
    /// side (a layer's DiffID, when the layer is stored uncompressed) and hands the digest to
    /// [`BlobVerifier::finish_witnessed`]. Saves hashing every byte twice.
    pub fn witnessed(expected: &Descriptor) -> Self {
        BlobVerifier {
            expected: Some((expected.digest.clone(), expected.size)),
            digester: None,
            count: 0,
        }
    }

    /// [`BlobVerifier::witnessed`] for a blob whose digest the caller learns only by hashing
    /// it (`import`): nothing to compare with, the caller's digest names the blob.
    pub fn witnessed_unknown() -> Self {
        BlobVerifier {
            expected: None,
            digester: None,
            count: 0,
        }
    }

    /// Whether the caller must bring the digest ([`BlobVerifier::witnessed`]).
    pub fn is_witnessed(&self) -> bool {
        self.digester.is_none()
    }

    /// Bytes seen so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The expected digest and size, if any.
    pub fn expected(&self) -> Option<(&Digest, u64)> {
        self.expected.as_ref().map(|(d, s)| (d, *s))
    }

    /// Feeds bytes.
    ///
    /// # Errors
    /// `SizeMismatch` when the bytes would exceed the expected size (nothing is hashed then).
    pub fn update(&mut self, bytes: &[u8]) -> Result<()> {
        let next = self.count + bytes.len() as u64;
        if let Some((digest, size)) = &self.expected
            && next > *size
        {
            return Err(crate::error::StoreError::SizeMismatch {
                digest: digest.clone(),
                expected: *size,
                actual: next,
            });
        }
        if let Some(d) = self.digester.as_mut() {
            d.update(bytes);
        }
        self.count = next;
        Ok(())
    }

    /// Finishes with the caller's digest when this verifier is witnessed, else with its own
    /// hash: a writer that hashes for itself trusts its own hash, even when handed one.
    ///
    /// # Errors
    /// `SizeMismatch` or `DigestMismatch`.
    pub fn finish_with(self, witness: Option<Digest>) -> Result<(Digest, u64)> {
        match witness {
            Some(d) if self.is_witnessed() => self.finish_witnessed(d),
            _ => self.finish(),
        }
    }

    /// Like [`BlobVerifier::finish`], with the digest the caller computed over the same bytes.
    ///
    /// # Errors
    /// `SizeMismatch` or `DigestMismatch`.
    pub fn finish_witnessed(self, actual: Digest) -> Result<(Digest, u64)> {
        BlobVerifier {
            digester: None,
            ..self
        }
        .check(actual)
    }

    /// The digest and size of everything fed, checked against the expectation.
    ///
    /// # Errors
    /// `SizeMismatch` or `DigestMismatch` (naming expected and actual).
    pub fn finish(mut self) -> Result<(Digest, u64)> {
        let Some(digester) = self.digester.take() else {
            return Err(crate::error::StoreError::Conflict(
                "a witnessed blob write must be committed with the digest its caller computed"
                    .to_owned(),
            ));
        };
        self.check(digester.finish())
    }

    fn check(self, actual: Digest) -> Result<(Digest, u64)> {
        use crate::error::StoreError;
        if let Some((digest, size)) = self.expected {
            if self.count != size {
                return Err(StoreError::SizeMismatch {
                    digest,
                    expected: size,
                    actual: self.count,
                });
            }
            if actual != digest {
                return Err(StoreError::DigestMismatch {
                    expected: digest,
                    actual,
                });
            }
        }
        Ok((actual, self.count))
    }
}

/// The writer an [`Ingester`] hands out for a blob it holds already: [`BlobWriter::offset`]
/// is the full size, so a caller that honours the offset sends nothing, any byte written is
/// refused, and [`BlobWriter::commit`] succeeds ("already exists" is success).
#[derive(Debug)]
pub struct ExistingBlob {
    digest: Digest,
    size: u64,
}

impl ExistingBlob {
    /// A writer for a blob that is present with this digest and size.
    pub fn new(digest: Digest, size: u64) -> Self {
        ExistingBlob { digest, size }
    }
}

impl Write for ExistingBlob {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        Err(std::io::Error::other(format!(
            "blob {} is complete ({} bytes): no more bytes accepted",
            self.digest, self.size
        )))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for ExistingBlob {
    fn offset(&self) -> u64 {
        self.size
    }

    fn commit(self: Box<Self>) -> Result<(Digest, u64)> {
        Ok((self.digest, self.size))
    }

    fn commit_witnessed(self: Box<Self>, _digest: Digest) -> Result<(Digest, u64)> {
        // Nothing was written: the committed blob is the one that verified before.
        self.commit()
    }
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
