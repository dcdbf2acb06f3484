//! `RemoteRepository`: one repository of a registry as a content [`Provider`] + [`Ingester`].
//!
//! Pull is an unpack or `copy_graph` *from* a `RemoteRepository`; push is a `copy_graph`
//! *into* one. Manifests and indexes go through `/manifests/<digest>`, everything else
//! through `/blobs/`. What the seam guarantees holds here too: every byte read is checked
//! against its descriptor by the consumer (size and digest), manifests are verified here as
//! they are read, and a blob written is published only by the final `PUT ?digest=` of its
//! upload, which the registry verifies and we verify as well.
//!
//! Downloads resume: a read that fails mid-blob re-requests the rest with `Range`, and
//! [`Provider::open_at`] starts at an offset (a pull resuming its partial ingest).
//! Uploads stream: `POST` starts a session, then either one `PUT ?digest=` carrying the whole
//! body (streamed from the writer through a bounded channel), or, when the registry asks
//! for chunks (`OCI-Chunk-Min-Length`) or the user does (`KASANE_PUSH_CHUNK_SIZE`), `PATCH`
//! chunks with `Content-Range` and a final empty `PUT`.
//!
//! Spec: distribution-spec `spec.md` (pull, push, content discovery, referrers).

use std::io::{Cursor, Read};
use std::sync::Arc;

use kasane_oci::{Descriptor, Digest, Index, ManifestKind, media_type};
use kasane_store::{BlobWriter, Ingester, Provider, StoreError};
use reqwest::blocking::Response;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};

use crate::auth::{Scope, read_limited};
use crate::client::{Session, join};
use crate::error::{RegistryError, Result};
use crate::proto::{self, MANIFEST_ACCEPT, MAX_LIST_BODY, MAX_MANIFEST_BYTES};

mod upload;

use upload::ManifestWriter;
pub use upload::UploadWriter;

/// Environment variable forcing chunked uploads of this many bytes per `PATCH`.
pub const CHUNK_SIZE_ENV: &str = "KASANE_PUSH_CHUNK_SIZE";

/// One repository on one registry.
#[derive(Debug, Clone)]
pub struct RemoteRepository {
    session: Arc<Session>,
    repository: String,
    scopes: Vec<Scope>,
}

/// What a cross-repository mount did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountOutcome {
    /// The registry linked the blob into this repository (201).
    Mounted,
    /// The registry would not (202 started an upload, which was cancelled; or it refused):
    /// upload the blob instead.
    NotMounted,
}

impl RemoteRepository {
    /// The repository `repository` (`library/busybox`) on `session`'s registry; `push` asks
    /// for push access in tokens.
    pub fn new(session: Arc<Session>, repository: &str, push: bool) -> Self {
        let scope = if push {
            Scope::push(repository)
        } else {
            Scope::pull(repository)
        };
        RemoteRepository {
            session,
            repository: repository.to_owned(),
            scopes: vec![scope],
        }
    }

    /// The repository path.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The registry name.
    pub fn registry(&self) -> &str {
        self.session.registry()
    }

    /// The session (for login checks).
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    fn what(&self, object: &str) -> String {
        format!(
            "{object} in {}/{}",
            self.session.registry(),
            self.repository
        )
    }

    /// Fetches the manifest or index `reference` (tag or digest) and verifies it: against
    /// the digest when the reference is one, against `Docker-Content-Digest` otherwise.
    ///
    /// # Errors
    /// `NotFound` for an unknown tag or digest; `DigestMismatch`; `Unsupported` for schema 1;
    /// `Invalid` for a body over 4 MiB or one that is not a manifest.
    pub fn get_manifest(&self, reference: &str) -> Result<(Descriptor, Vec<u8>)> {
        let what = self.what(&format!("manifest {reference}"));
        let path = proto::manifest_path(&self.repository, reference);
        let resp = self.session.send(&what, &self.scopes, true, |http, base| {
            Ok(http.get(join(base, &path)?).header(ACCEPT, MANIFEST_ACCEPT))
        })?;
        let resp = self.session.check(resp, &what)?;
        let header_digest = header(&resp, proto::DOCKER_CONTENT_DIGEST);
        let content_type = header(&resp, CONTENT_TYPE.as_str());
        if content_length(&resp).is_some_and(|n| n > MAX_MANIFEST_BYTES) {
            return Err(RegistryError::invalid(
                what,
                format!("larger than the {MAX_MANIFEST_BYTES}-byte manifest limit"),
            ));
        }
        let body =
            read_limited(resp, MAX_MANIFEST_BYTES + 1).map_err(|source| RegistryError::Io {
                what: format!("reading {what}"),
                source,
            })?;
        if body.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(RegistryError::invalid(
                what,
                format!("larger than the {MAX_MANIFEST_BYTES}-byte manifest limit"),
            ));
        }
        let expected: Option<Digest> = match reference.parse::<Digest>() {
            Ok(d) => Some(d),
            Err(_) => header_digest.as_deref().and_then(|h| h.parse().ok()),
        };
        let digest = match &expected {
            Some(e) => {
                let actual = e.recompute(&body);
                if &actual != e {
                    return Err(RegistryError::DigestMismatch {
                        what,
                        expected: e.clone(),
                        actual,
                    });
                }
                actual
            }
            None => Digest::sha256_of(&body),
        };
        let media_type = manifest_media_type(content_type.as_deref(), &body, &what)?;
        Ok((Descriptor::new(media_type, digest, body.len() as u64), body))
    }

    /// `HEAD` of a manifest: its descriptor, or `None` when the registry lacks it.
    ///
    /// # Errors
    /// Transport and authorization failures.
    pub fn head_manifest(&self, reference: &str) -> Result<Option<Descriptor>> {
        let what = self.what(&format!("manifest {reference}"));
        let path = proto::manifest_path(&self.repository, reference);
        let resp = self.session.send(&what, &self.scopes, true, |http, base| {
            Ok(http
                .head(join(base, &path)?)
                .header(ACCEPT, MANIFEST_ACCEPT))
        })?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let resp = self.session.check(resp, &what)?;
        let digest = header(&resp, proto::DOCKER_CONTENT_DIGEST).and_then(|d| d.parse().ok());
        let mt = header(&resp, CONTENT_TYPE.as_str()).unwrap_or_default();
        match (digest, content_length(&resp)) {
            (Some(d), Some(n)) => Ok(Some(Descriptor::new(mt, d, n))),
            _ => Ok(self.get_manifest(reference).ok().map(|(d, _)| d)),
        }
    }

    /// Uploads a manifest or index under `reference` (a tag, or its digest).
    ///
    /// # Errors
    /// The registry's refusal (`MANIFEST_INVALID`, `MANIFEST_BLOB_UNKNOWN`, `DENIED`, …).
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<()> {
        let what = self.what(&format!("pushing manifest {reference}"));
        let path = proto::manifest_path(&self.repository, reference);
        let resp = self.session.send(&what, &self.scopes, true, |http, base| {
            Ok(http
                .put(join(base, &path)?)
                .header(CONTENT_TYPE, media_type)
                .body(bytes.to_vec()))
        })?;
        let resp = self.session.check(resp, &what)?;
        if let Some(d) = header(&resp, proto::DOCKER_CONTENT_DIGEST)
            && let Ok(d) = d.parse::<Digest>()
        {
            let ours = d.recompute(bytes);
            if ours != d {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected: ours,
                    actual: d,
                });
            }
        }
        Ok(())
    }

    /// `HEAD` of a blob: its size, or `None` when the repository lacks it.
    ///
    /// # Errors
    /// Transport and authorization failures.
    pub fn head_blob(&self, digest: &Digest) -> Result<Option<u64>> {
        let what = self.what(&format!("blob {digest}"));
        let path = proto::blob_path(&self.repository, digest);
        let resp = self.session.send(&what, &self.scopes, true, |http, base| {
            Ok(http.head(join(base, &path)?))
        })?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let resp = self.session.check(resp, &what)?;
        Ok(Some(content_length(&resp).unwrap_or(0)))
    }

    /// Opens blob `desc` from byte `offset` (with `Range`); the reader re-requests the rest
    /// when the connection breaks mid-blob.
    ///
    /// # Errors
    /// `NotFound`; `Invalid` when the registry announces a size other than the descriptor's.
    pub fn open_blob(&self, desc: &Descriptor, offset: u64) -> Result<BlobReader> {
        let resp = self.request_blob(desc, offset)?;
        Ok(BlobReader {
            repo: self.clone(),
            desc: desc.clone(),
            pos: offset,
            resp: Some(resp),
            resumes_left: 3,
        })
    }

    fn request_blob(&self, desc: &Descriptor, offset: u64) -> Result<Box<dyn Read + Send>> {
        if offset >= desc.size && desc.size > 0 {
            // Everything is here already (an interrupted pull that had every byte): asking
            // for `bytes=<size>-` would only earn a 416.
            return Ok(Box::new(std::io::empty()));
        }
        let what = self.what(&format!("blob {}", desc.digest));
        let path = proto::blob_path(&self.repository, &desc.digest);
        let resp = self.session.send(&what, &self.scopes, true, |http, base| {
            let mut rb = http.get(join(base, &path)?);
            if offset > 0 {
                rb = rb.header(RANGE, format!("bytes={offset}-"));
            }
            Ok(rb)
        })?;
        let resp = self.session.check(resp, &what)?;
        let partial = resp.status().as_u16() == 206;
        if partial {
            let start =
                header(&resp, CONTENT_RANGE.as_str()).and_then(|v| proto::content_range_start(&v));
            if start != Some(offset) {
                return Err(RegistryError::invalid(
                    what,
                    format!("asked for bytes from {offset}, the registry sent {start:?}"),
                ));
            }
        }
        let announced_total = content_length(&resp).map(|n| if partial { n + offset } else { n });
        if let Some(n) = announced_total
            && n != desc.size
        {
            return Err(RegistryError::invalid(
                what,
                format!(
                    "the registry announces {n} bytes, the manifest says {}",
                    desc.size
                ),
            ));
        }
        let mut reader: Box<dyn Read + Send> = Box::new(resp);
        if !partial && offset > 0 {
            // The registry ignored the Range: skip what we have.
            std::io::copy(&mut (&mut reader).take(offset), &mut std::io::sink()).map_err(
                |source| RegistryError::Io {
                    what: format!("reading {what}"),
                    source,
                },
            )?;
        }
        Ok(reader)
    }

    /// Asks the registry to link blob `digest` from repository `from` (same registry).
    ///
    /// # Errors
    /// Transport and authorization failures only; a refusal is [`MountOutcome::NotMounted`].
    pub fn mount_blob(&self, digest: &Digest, from: &str) -> Result<MountOutcome> {
        let what = self.what(&format!("mounting blob {digest} from {from}"));
        let path = proto::mount_path(&self.repository, digest, from);
        let mut scopes = self.scopes.clone();
        scopes.push(Scope::pull(from));
        let resp = self.session.send(&what, &scopes, true, |http, base| {
            Ok(http.post(join(base, &path)?).header(CONTENT_LENGTH, "0"))
        })?;
        match resp.status().as_u16() {
            201 => Ok(MountOutcome::Mounted),
            202 => {
                // An upload was started instead: cancel it (best effort).
                if let Some(loc) = header(&resp, LOCATION.as_str())
                    && let Ok(base) = self.session.base()
                    && let Ok(url) = join(base, &loc)
                {
                    let _ = self.session.send(&what, &self.scopes, false, |http, _| {
                        Ok(http.delete(url.clone()))
                    });
                }
                Ok(MountOutcome::NotMounted)
            }
            s => {
                tracing::debug!("{what}: {s}; uploading instead");
                Ok(MountOutcome::NotMounted)
            }
        }
    }

    /// Every tag of the repository, following `Link` pagination.
    ///
    /// # Errors
    /// `NotFound` for an unknown repository.
    pub fn tags(&self) -> Result<Vec<String>> {
        self.tags_paged(1000)
    }

    /// [`RemoteRepository::tags`], asking for `page` tags per request.
    ///
    /// # Errors
    /// As [`RemoteRepository::tags`].
    pub fn tags_paged(&self, page: usize) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let what = self.what("tag list");
        let mut next = Some(format!("{}?n={page}", proto::tags_path(&self.repository)));
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > 10_000 {
                return Err(RegistryError::invalid(what, "more than 10000 pages"));
            }
            let resp = self.session.send(&what, &self.scopes, true, |http, base| {
                Ok(http.get(join(base, &path)?))
            })?;
            let resp = self.session.check(resp, &what)?;
            next = header(&resp, "link").and_then(|l| proto::parse_link_next(&l));
            let body = read_limited(resp, MAX_LIST_BODY).map_err(|source| RegistryError::Io {
                what: what.clone(),
                source,
            })?;
            let list: TagList = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::invalid(&what, e.to_string()))?;
            out.extend(list.tags.unwrap_or_default());
        }
        Ok(out)
    }

    /// The manifests that refer to `digest` (signatures, SBOMs), from the referrers API or,
    /// where the registry lacks it, the `sha256-<hex>` tag schema.
    ///
    /// # Errors
    /// Transport and authorization failures; `Invalid` for an unparsable index.
    pub fn referrers(&self, digest: &Digest) -> Result<Vec<Descriptor>> {
        let what = self.what(&format!("referrers of {digest}"));
        let path = proto::referrers_path(&self.repository, digest);
        let resp = self.session.send(&what, &self.scopes, true, |http, base| {
            Ok(http
                .get(join(base, &path)?)
                .header(ACCEPT, media_type::OCI_INDEX))
        })?;
        let body = if resp.status().as_u16() == 404 {
            match self.get_manifest(&proto::referrers_fallback_tag(digest)) {
                Ok((_, body)) => body,
                Err(e) if e.kind() == crate::error::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            }
        } else {
            let resp = self.session.check(resp, &what)?;
            read_limited(resp, MAX_LIST_BODY).map_err(|source| RegistryError::Io {
                what: what.clone(),
                source,
            })?
        };
        let index: Index = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::invalid(&what, e.to_string()))?;
        Ok(index.manifests)
    }
}

/// The media type of a fetched manifest: the `Content-Type`, or the body's `mediaType`.
fn manifest_media_type(content_type: Option<&str>, body: &[u8], what: &str) -> Result<String> {
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_owned())
        .filter(|c| !c.is_empty() && c != "application/json" && c != "text/plain");
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "schemaVersion", default)]
        schema_version: Option<u32>,
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(body)
        .map_err(|e| RegistryError::invalid(what, format!("not a JSON manifest: {e}")))?;
    let schema1 = probe.schema_version == Some(1)
        || ct
            .as_deref()
            .is_some_and(|c| proto::SCHEMA1_MEDIA_TYPES.contains(&c));
    if schema1 {
        return Err(RegistryError::Unsupported(format!(
            "{what} is a Docker image manifest schema 1, which is not supported; \
             push the image again with a current docker, podman or kasane"
        )));
    }
    let mt = ct.or(probe.media_type).unwrap_or_else(|| {
        if probe.manifests.is_some() {
            media_type::OCI_INDEX.to_owned()
        } else {
            media_type::OCI_MANIFEST.to_owned()
        }
    });
    // Parse once to refuse what is not a manifest at all.
    ManifestKind::parse(body, Some(&mt))
        .map_err(|e| RegistryError::invalid(what, e.to_string()))?;
    Ok(mt)
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn content_length(resp: &Response) -> Option<u64> {
    header(resp, CONTENT_LENGTH.as_str()).and_then(|v| v.trim().parse().ok())
}

/// A blob download that resumes with `Range` when the connection breaks.
pub struct BlobReader {
    repo: RemoteRepository,
    desc: Descriptor,
    pos: u64,
    resp: Option<Box<dyn Read + Send>>,
    resumes_left: u32,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(resp) = self.resp.as_mut() else {
                return Err(std::io::Error::other(format!(
                    "blob {} could not be resumed",
                    self.desc.digest
                )));
            };
            match resp.read(buf) {
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if self.resumes_left > 0 && self.pos < self.desc.size => {
                    self.resumes_left -= 1;
                    tracing::debug!(
                        "blob {} broke at byte {}: {e}; resuming",
                        self.desc.digest,
                        self.pos
                    );
                    self.resp = None;
                    match self.repo.request_blob(&self.desc, self.pos) {
                        Ok(r) => self.resp = Some(r),
                        Err(re) => {
                            return Err(std::io::Error::other(format!(
                                "{}; resuming at byte {} failed: {}",
                                error_chain(&e),
                                self.pos,
                                error_chain(&re)
                            )));
                        }
                    }
                }
                Err(e) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!(
                            "reading {} at byte {}: {}",
                            self.repo.what(&format!("blob {}", self.desc.digest)),
                            self.pos,
                            error_chain(&e)
                        ),
                    ));
                }
            }
        }
    }
}

/// An error and its causes on one line (`error decoding response body: operation timed out`).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

impl Provider for RemoteRepository {
    fn open(&self, desc: &Descriptor) -> kasane_store::Result<Box<dyn Read + Send + '_>> {
        self.open_at(desc, 0)
    }

    fn contains(&self, digest: &Digest) -> kasane_store::Result<Option<u64>> {
        Ok(self.head_blob(digest)?)
    }

    fn open_at(
        &self,
        desc: &Descriptor,
        offset: u64,
    ) -> kasane_store::Result<Box<dyn Read + Send + '_>> {
        if proto::is_manifest_media_type(&desc.media_type) {
            let (got, bytes) = self.get_manifest(&desc.digest.to_string())?;
            if got.size != desc.size {
                return Err(StoreError::SizeMismatch {
                    digest: desc.digest.clone(),
                    expected: desc.size,
                    actual: got.size,
                });
            }
            let mut c = Cursor::new(bytes);
            c.set_position(offset);
            return Ok(Box::new(c));
        }
        Ok(Box::new(self.open_blob(desc, offset)?))
    }
}

impl Ingester for RemoteRepository {
    fn writer(
        &self,
        expected: Option<&Descriptor>,
    ) -> kasane_store::Result<Box<dyn BlobWriter + '_>> {
        let desc = expected.ok_or_else(|| {
            StoreError::invalid(
                "push",
                "a registry upload needs the blob's digest and size up front",
            )
        })?;
        if proto::is_manifest_media_type(&desc.media_type) {
            return Ok(Box::new(ManifestWriter {
                repo: self.clone(),
                desc: desc.clone(),
                bytes: Vec::new(),
            }));
        }
        Ok(Box::new(self.upload(desc, false)?))
    }

    fn witnessed_writer(
        &self,
        expected: &Descriptor,
    ) -> kasane_store::Result<Box<dyn BlobWriter + '_>> {
        if proto::is_manifest_media_type(&expected.media_type) {
            return self.writer(Some(expected));
        }
        Ok(Box::new(self.upload(expected, true)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema1_is_refused_clearly() {
        let e = manifest_media_type(
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            br#"{"schemaVersion":1,"fsLayers":[]}"#,
            "manifest x",
        )
        .unwrap_err();
        assert!(e.to_string().contains("schema 1"), "{e}");
    }

    #[test]
    fn media_type_falls_back_to_the_body() {
        let mt = manifest_media_type(
            Some("application/json"),
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
            "x",
        )
        .unwrap();
        assert_eq!(mt, media_type::OCI_INDEX);
    }
}
