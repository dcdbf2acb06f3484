//! Uploads: blobs streamed through one `PUT` (or `PATCH` chunks), manifests `PUT` whole.
//!
//! A blob upload starts with `POST` (the session's `Location`); the writer then feeds a
//! streaming `PUT ?digest=` through a bounded channel on a thread of its own, or, when the
//! registry asks for chunks (`OCI-Chunk-Min-Length`) or the caller does, sends `PATCH` chunks
//! with `Content-Range` and a final empty `PUT`. Nothing is published before that final
//! `PUT`, which the registry verifies; the writer verifies the same bytes on its side.

use std::io::{Cursor, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use kasane_oci::{Descriptor, Digest};
use kasane_store::BlobWriter;
use kasane_store::content::BlobVerifier;
use reqwest::blocking::Response;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};

use super::{CHUNK_SIZE_ENV, RemoteRepository, header};
use crate::client::join;
use crate::error::{RegistryError, Result};
use crate::proto::{self, MAX_MANIFEST_BYTES};

impl RemoteRepository {
    /// Starts uploading blob `desc`; the writer's commit publishes it.
    ///
    /// # Errors
    /// The registry's refusal to start an upload.
    pub fn upload(&self, desc: &Descriptor, witnessed: bool) -> Result<UploadWriter> {
        let forced: Option<u64> = std::env::var(CHUNK_SIZE_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0);
        self.upload_with(desc, witnessed, forced)
    }

    /// [`RemoteRepository::upload`] in `PATCH` chunks of at least `chunk` bytes (`None`: one
    /// streamed `PUT`, unless the registry asks for chunks).
    ///
    /// # Errors
    /// As [`RemoteRepository::upload`].
    pub fn upload_with(
        &self,
        desc: &Descriptor,
        witnessed: bool,
        chunk: Option<u64>,
    ) -> Result<UploadWriter> {
        let what = self.what(&format!("uploading blob {}", desc.digest));
        let path = proto::upload_path(&self.repository);
        let resp = self.session.send(&what, &self.scopes, true, |http, base| {
            Ok(http.post(join(base, &path)?).header(CONTENT_LENGTH, "0"))
        })?;
        let resp = self.session.check(resp, &what)?;
        let location = self.location(&resp, &what)?;
        let min_chunk = header(&resp, proto::OCI_CHUNK_MIN_LENGTH).and_then(|v| v.parse().ok());
        let verifier = if witnessed {
            BlobVerifier::witnessed(desc)
        } else {
            BlobVerifier::new(Some(desc))
        };
        let mode = match chunk.or(min_chunk) {
            Some(chunk) => {
                let chunk = chunk.max(min_chunk.unwrap_or(0)).max(1);
                UploadMode::Chunked {
                    location,
                    chunk: usize::try_from(chunk).unwrap_or(usize::MAX).min(64 << 20),
                    buf: Vec::new(),
                    sent: 0,
                }
            }
            None => UploadMode::Streaming(self.start_stream(desc, location, &what)),
        };
        Ok(UploadWriter {
            repo: self.clone(),
            what,
            verifier,
            mode,
            failed: false,
        })
    }

    fn location(&self, resp: &Response, what: &str) -> Result<reqwest::Url> {
        let loc = header(resp, LOCATION.as_str())
            .ok_or_else(|| RegistryError::invalid(what, "the registry sent no upload Location"))?;
        join(self.session.base()?, &loc)
    }

    /// Starts the `PUT ?digest=` whose body the writer feeds through a channel.
    fn start_stream(&self, desc: &Descriptor, location: reqwest::Url, what: &str) -> Stream {
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let session = self.session.clone();
        let scopes = self.scopes.clone();
        let size = desc.size;
        let what = what.to_owned();
        let url = with_digest(location, &desc.digest);
        let handle = std::thread::spawn(move || {
            let mut body = Some(reqwest::blocking::Body::sized(
                ChannelReader {
                    rx,
                    current: Cursor::new(Vec::new()),
                },
                size,
            ));
            let resp = session.send(&what, &scopes, false, |http, _| {
                let body = body.take().ok_or_else(|| {
                    RegistryError::invalid(&what, "the upload cannot be replayed")
                })?;
                Ok(http
                    .put(url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(body))
            })?;
            session.check(resp, &what).map(drop)
        });
        Stream {
            tx: Some(tx),
            buf: Vec::with_capacity(STREAM_CHUNK),
            handle: Some(handle),
        }
    }
}

/// `location` with `digest=<digest>` added to its query (keeping the registry's state).
fn with_digest(mut location: reqwest::Url, digest: &Digest) -> reqwest::Url {
    location
        .query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    location
}

/// Bytes handed to the body thread per channel message.
const STREAM_CHUNK: usize = 1 << 20;

/// The body of a streaming `PUT`, fed by the writer.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    current: Cursor<Vec<u8>>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.rx.recv() {
                Ok(next) => self.current = Cursor::new(next),
                Err(_) => return Ok(0), // the writer is done (or gone)
            }
        }
    }
}

struct Stream {
    tx: Option<SyncSender<Vec<u8>>>,
    buf: Vec<u8>,
    handle: Option<JoinHandle<Result<()>>>,
}

impl Stream {
    fn flush_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(STREAM_CHUNK));
        let sent = self.tx.as_ref().map(|tx| tx.send(chunk));
        match sent {
            Some(Ok(())) => Ok(()),
            // The request ended early: its error is reported at commit.
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the registry closed the upload",
            )),
        }
    }

    fn finish(&mut self) -> Result<()> {
        let flushed = self.flush_buf();
        self.tx = None;
        let joined = match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| {
                Err(RegistryError::invalid(
                    "upload",
                    "the upload thread panicked",
                ))
            }),
            None => Ok(()),
        };
        joined?;
        flushed.map_err(|source| RegistryError::Io {
            what: "uploading".into(),
            source,
        })
    }
}

enum UploadMode {
    Streaming(Stream),
    Chunked {
        location: reqwest::Url,
        chunk: usize,
        buf: Vec<u8>,
        sent: u64,
    },
}

/// A blob upload in progress; [`BlobWriter::commit`] publishes it.
pub struct UploadWriter {
    repo: RemoteRepository,
    what: String,
    verifier: BlobVerifier,
    mode: UploadMode,
    failed: bool,
}

impl UploadWriter {
    /// Sends one `PATCH` with `bytes` at offset `sent`; moves `location` on.
    fn patch(
        repo: &RemoteRepository,
        what: &str,
        location: &mut reqwest::Url,
        sent: &mut u64,
        bytes: Vec<u8>,
    ) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let end = *sent + bytes.len() as u64 - 1;
        let url = location.clone();
        let start = *sent;
        let resp = repo.session.send(what, &repo.scopes, true, |http, _| {
            Ok(http
                .patch(url.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_RANGE, format!("{start}-{end}"))
                .body(bytes.clone()))
        })?;
        let resp = repo.session.check(resp, what)?;
        *location = repo.location(&resp, what)?;
        *sent = end + 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>, witness: Option<Digest>) -> Result<(Digest, u64)> {
        if self.failed {
            return Err(RegistryError::invalid(
                &self.what,
                "an earlier write failed; the upload is abandoned",
            ));
        }
        let (digest, size) = self
            .verifier
            .take()
            .finish_with(witness)
            .map_err(|e| RegistryError::invalid(&self.what, e.to_string()))?;
        match &mut self.mode {
            UploadMode::Streaming(s) => s.finish()?,
            UploadMode::Chunked {
                location,
                buf,
                sent,
                ..
            } => {
                let rest = std::mem::take(buf);
                Self::patch(&self.repo, &self.what, location, sent, rest)?;
                let url = with_digest(location.clone(), &digest);
                let resp =
                    self.repo
                        .session
                        .send(&self.what, &self.repo.scopes, true, |http, _| {
                            Ok(http.put(url.clone()).header(CONTENT_LENGTH, "0"))
                        })?;
                self.repo.session.check(resp, &self.what)?;
            }
        }
        Ok((digest, size))
    }
}

impl Write for UploadWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Err(e) = self.verifier.update(data) {
            self.failed = true;
            return Err(std::io::Error::other(e.to_string()));
        }
        let r = match &mut self.mode {
            UploadMode::Streaming(s) => {
                s.buf.extend_from_slice(data);
                if s.buf.len() >= STREAM_CHUNK {
                    s.flush_buf()
                } else {
                    Ok(())
                }
            }
            UploadMode::Chunked {
                location,
                chunk,
                buf,
                sent,
            } => {
                buf.extend_from_slice(data);
                let mut r = Ok(());
                while buf.len() >= *chunk && r.is_ok() {
                    let rest = buf.split_off(*chunk);
                    let full = std::mem::replace(buf, rest);
                    r = Self::patch(&self.repo, &self.what, location, sent, full)
                        .map_err(std::io::Error::other);
                }
                r
            }
        };
        if r.is_err() {
            self.failed = true;
        }
        r.map(|()| data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for UploadWriter {
    fn offset(&self) -> u64 {
        0
    }

    fn commit(self: Box<Self>) -> kasane_store::Result<(Digest, u64)> {
        self.finish(None).map_err(RegistryError::into_store)
    }

    fn commit_witnessed(self: Box<Self>, digest: Digest) -> kasane_store::Result<(Digest, u64)> {
        self.finish(Some(digest)).map_err(RegistryError::into_store)
    }
}

impl Drop for UploadWriter {
    fn drop(&mut self) {
        // An abandoned stream: close the channel so the body ends short and the registry
        // refuses the upload (its size and digest cannot match).
        if let UploadMode::Streaming(s) = &mut self.mode {
            s.tx = None;
        }
    }
}

/// A manifest or index being pushed: buffered, then `PUT` by digest at commit.
pub(super) struct ManifestWriter {
    pub(super) repo: RemoteRepository,
    pub(super) desc: Descriptor,
    pub(super) bytes: Vec<u8>,
}

impl Write for ManifestWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() as u64 + data.len() as u64 > self.desc.size.min(MAX_MANIFEST_BYTES) {
            return Err(std::io::Error::other(format!(
                "manifest {} is larger than its descriptor says",
                self.desc.digest
            )));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for ManifestWriter {
    fn offset(&self) -> u64 {
        0
    }

    fn commit(self: Box<Self>) -> kasane_store::Result<(Digest, u64)> {
        let mut v = BlobVerifier::new(Some(&self.desc));
        v.update(&self.bytes)?;
        let (digest, size) = v.finish()?;
        self.repo
            .put_manifest(&digest.to_string(), &self.desc.media_type, &self.bytes)?;
        Ok((digest, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_added_to_the_upload_location() {
        let u = reqwest::Url::parse("http://r/v2/x/blobs/uploads/abc?_state=s").unwrap();
        let d = Digest::sha256_of(b"");
        let out = with_digest(u, &d);
        assert_eq!(
            out.as_str(),
            format!(
                "http://r/v2/x/blobs/uploads/abc?_state=s&digest=sha256%3A{}",
                d.hex()
            )
        );
    }
}
