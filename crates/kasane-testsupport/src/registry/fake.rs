//! An in-process, read-only registry serving images from memory, with fault injection, for
//! the hostile and edge-case pull tests a real registry cannot stage.
//!
//! Owns: [`FakeRegistry`] and [`Fault`]. Spec: OCI distribution-spec "Pulling manifests" /
//! "Pulling blobs" and its error codes (`BLOB_UNKNOWN`, `MANIFEST_UNKNOWN`, …).
//!
//! Routes (plain HTTP on [`HttpServer`]; every answer carries
//! `Docker-Distribution-API-Version: registry/2.0`):
//! - `GET /v2/` → `200 {}`;
//! - `HEAD|GET /v2/<name>/manifests/<tag-or-digest>` → `Content-Type`, `Docker-Content-Digest`,
//!   `Content-Length`; `404 MANIFEST_UNKNOWN` otherwise;
//! - `HEAD|GET /v2/<name>/blobs/<digest>`, with `Range: bytes=N-` / `bytes=N-M` answered
//!   `206` + `Content-Range` (`416` past the end); `404 BLOB_UNKNOWN` otherwise;
//! - `GET /v2/<name>/tags/list`.
//!
//! Names may contain slashes, so the path is split at the last `/manifests/`, `/blobs/` or
//! `/tags/list`. Blobs are not scoped to a repository (any name serves any blob added).
//! Faults are keyed by blob digest or manifest reference (tag or digest, as requested).

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::json;

use super::http::{Body, HttpServer, Request, Response};
use crate::digest::Digest;
use crate::image::Image;
use crate::index::Index;

/// Size of the body sent by [`Fault::HugeErrorBody`].
pub const HUGE_ERROR_BODY: u64 = 100 * 1024 * 1024;

/// A misbehaviour injected for one blob digest or manifest reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The right length and headers, different bytes (one byte flipped): digest mismatch.
    WrongBytes,
    /// One byte short, with a `Content-Length` that matches what is sent: size mismatch.
    WrongLength,
    /// A chunked body that never ends.
    Endless,
    /// `500` with a 100 MiB ([`HUGE_ERROR_BODY`]) JSON-typed body.
    HugeErrorBody,
    /// The full `Content-Length`, the first `after` bytes, then silence until the client gives
    /// up (or the registry is dropped).
    Stall {
        /// Bytes sent before the stall.
        after: usize,
    },
    /// The first GET only (HEADs do not count): the full `Content-Length`, `send` bytes, then
    /// the connection closes; later requests (a resume with `Range`, a retry) are served
    /// normally.
    Truncated {
        /// Bytes sent before closing.
        send: usize,
    },
    /// The first `n` requests (HEAD and GET alike) answer `status` with an error body, then
    /// the content is served: for retry tests.
    FailTimes {
        /// How many requests fail.
        n: u32,
        /// Their status (e.g. 500, 503, 429).
        status: u16,
    },
    /// Every request answers this status with an error body.
    Status(u16),
    /// Manifests only: the right bytes with a `Docker-Content-Digest` of other content.
    WrongDigestHeader,
}

/// A stored manifest: media type and bytes.
type StoredManifest = (String, Arc<Vec<u8>>);

#[derive(Default)]
struct State {
    blobs: HashMap<String, Arc<Vec<u8>>>,
    /// `(repo, reference)` → `(media type, bytes)`.
    manifests: HashMap<(String, String), StoredManifest>,
    tags: HashMap<String, BTreeSet<String>>,
    faults: HashMap<String, Fault>,
    /// Requests (HEAD and GET) that met the fault of a key so far.
    fault_hits: HashMap<String, u32>,
    /// GET requests that met the fault of a key so far.
    fault_gets: HashMap<String, u32>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An in-memory registry on `127.0.0.1:<port>` (plain HTTP), with per-path request counts.
pub struct FakeRegistry {
    http: HttpServer,
    state: Arc<Mutex<State>>,
}

impl FakeRegistry {
    /// Starts an empty registry.
    pub fn new() -> io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = Arc::clone(&state);
        let http = HttpServer::start(move |r: &Request| {
            handle(&handler_state, r).with_header("Docker-Distribution-API-Version", "registry/2.0")
        })?;
        Ok(Self { http, state })
    }

    /// `127.0.0.1:PORT`, the registry host of image references.
    pub fn host(&self) -> String {
        self.http.host()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.http.url()
    }

    /// The underlying server, for the full request log (headers such as `Range`, `Accept`).
    pub fn http(&self) -> &HttpServer {
        &self.http
    }

    /// Adds a blob (served under every repository name); returns its `sha256:…` digest.
    pub fn add_blob(&self, bytes: impl Into<Vec<u8>>) -> String {
        let bytes = bytes.into();
        let digest = Digest::sha256(&bytes).to_string();
        lock(&self.state)
            .blobs
            .insert(digest.clone(), Arc::new(bytes));
        digest
    }

    /// Adds a manifest to `repo` under `reference` (a tag or a digest) and under its own
    /// digest; returns that digest. A tag reference also shows in `tags/list`.
    pub fn add_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> String {
        let bytes = Arc::new(bytes.into());
        let digest = Digest::sha256(&bytes).to_string();
        let mut st = lock(&self.state);
        let entry = (media_type.to_string(), bytes);
        st.manifests
            .insert((repo.to_string(), digest.clone()), entry.clone());
        if reference != digest {
            st.manifests
                .insert((repo.to_string(), reference.to_string()), entry);
            if !reference.contains(':') {
                st.tags
                    .entry(repo.to_string())
                    .or_default()
                    .insert(reference.to_string());
            }
        }
        digest
    }

    /// Adds an [`Image`] (layers, config, manifest) to `repo` as `reference`; returns the
    /// manifest digest.
    pub fn add_image(&self, repo: &str, reference: &str, image: &Image) -> String {
        for layer in &image.layers {
            self.add_blob(layer.blob.data());
        }
        self.add_blob(image.config.clone());
        self.add_manifest(
            repo,
            reference,
            image.manifest_media_type,
            image.manifest.clone(),
        )
    }

    /// Adds an [`Index`] and every image in it (by digest) to `repo` as `reference`; returns
    /// the index digest.
    pub fn add_index(&self, repo: &str, reference: &str, index: &Index) -> String {
        for image in &index.images {
            let d = image.manifest_digest.to_string();
            self.add_image(repo, &d, image);
        }
        self.add_manifest(repo, reference, index.media_type, index.manifest.clone())
    }

    /// Injects `fault` for the blob digest or manifest reference `key` (replacing any
    /// previous one and restarting its counters).
    pub fn set_fault(&self, key: &str, fault: Fault) {
        let mut st = lock(&self.state);
        st.faults.insert(key.to_string(), fault);
        st.fault_hits.remove(key);
        st.fault_gets.remove(key);
    }

    /// Removes the fault of `key`.
    pub fn clear_fault(&self, key: &str) {
        let mut st = lock(&self.state);
        st.faults.remove(key);
        st.fault_hits.remove(key);
        st.fault_gets.remove(key);
    }

    /// How many requests with this method and path were received (e.g.
    /// `count("GET", "/v2/library/busybox/blobs/sha256:…")`).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.http.count(method, path)
    }

    /// `(method, path)` of every request so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.http.requests()
    }
}

fn error_code_for(status: u16, not_found: &str) -> &str {
    match status {
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        404 => not_found,
        405 => "UNSUPPORTED",
        429 => "TOOMANYREQUESTS",
        _ => "UNKNOWN",
    }
}

fn error(status: u16, code: &str, message: &str, detail: &str) -> Response {
    Response::json(
        status,
        &json!({"errors": [{"code": code, "message": message, "detail": detail}]}),
    )
}

#[derive(Clone, Copy)]
enum Kind {
    Manifest,
    Blob,
}

impl Kind {
    fn unknown(self) -> &'static str {
        match self {
            Kind::Manifest => "MANIFEST_UNKNOWN",
            Kind::Blob => "BLOB_UNKNOWN",
        }
    }
}

fn handle(state: &Mutex<State>, r: &Request) -> Response {
    if !matches!(r.method.as_str(), "GET" | "HEAD") {
        return error(
            405,
            "UNSUPPORTED",
            "this fake registry is read-only",
            &r.method,
        );
    }
    if r.path == "/v2/" || r.path == "/v2" {
        return Response::json(200, &json!({}));
    }
    let Some(rest) = r.path.strip_prefix("/v2/") else {
        return error(404, "NOT_FOUND", "not a registry path", &r.path);
    };
    if let Some(name) = rest.strip_suffix("/tags/list") {
        let st = lock(state);
        return match st.tags.get(name) {
            Some(tags) => Response::json(200, &json!({"name": name, "tags": tags})),
            None => error(
                404,
                "NAME_UNKNOWN",
                "repository name not known to registry",
                name,
            ),
        };
    }
    if let Some(i) = rest.rfind("/manifests/") {
        let (name, reference) = (&rest[..i], &rest[i + "/manifests/".len()..]);
        let found = lock(state)
            .manifests
            .get(&(name.to_string(), reference.to_string()))
            .cloned();
        let Some((media_type, bytes)) = found else {
            return error(404, "MANIFEST_UNKNOWN", "manifest unknown", reference);
        };
        return serve(state, r, Kind::Manifest, reference, &media_type, &bytes);
    }
    if let Some(i) = rest.rfind("/blobs/") {
        let digest = &rest[i + "/blobs/".len()..];
        let found = lock(state).blobs.get(digest).cloned();
        let Some(bytes) = found else {
            return error(404, "BLOB_UNKNOWN", "blob unknown to registry", digest);
        };
        return serve(
            state,
            r,
            Kind::Blob,
            digest,
            "application/octet-stream",
            &bytes,
        );
    }
    error(404, "NOT_FOUND", "unknown endpoint", &r.path)
}

/// Parses `bytes=N-` or `bytes=N-M` into a start and an inclusive end.
fn parse_range(h: &str) -> Option<(u64, Option<u64>)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => None,
        e => Some(e.parse().ok()?),
    };
    Some((start, end))
}

fn serve(
    state: &Mutex<State>,
    r: &Request,
    kind: Kind,
    key: &str,
    media_type: &str,
    bytes: &[u8],
) -> Response {
    let digest = Digest::sha256(bytes);
    let (fault, hits, gets) = {
        let mut st = lock(state);
        match st.faults.get(key).cloned() {
            Some(f) => {
                let hits = st.fault_hits.entry(key.to_string()).or_insert(0);
                *hits += 1;
                let hits = *hits;
                let gets = st.fault_gets.entry(key.to_string()).or_insert(0);
                if r.method == "GET" {
                    *gets += 1;
                }
                (Some(f), hits, *gets)
            }
            None => (None, 0, 0),
        }
    };
    match fault {
        Some(Fault::Status(status)) => {
            return error(
                status,
                error_code_for(status, kind.unknown()),
                "injected failure",
                key,
            );
        }
        Some(Fault::FailTimes { n, status }) if hits <= n => {
            return error(
                status,
                error_code_for(status, kind.unknown()),
                &format!("injected transient failure {hits} of {n}"),
                key,
            );
        }
        Some(Fault::HugeErrorBody) => {
            return Response::new(500)
                .with_header("Content-Type", "application/json")
                .with_body(Body::Repeat {
                    byte: b' ',
                    len: HUGE_ERROR_BODY,
                });
        }
        _ => {}
    }

    // The slice this request asks for.
    let total = bytes.len() as u64;
    let mut status = 200;
    let mut slice = bytes;
    let mut content_range = None;
    if matches!(kind, Kind::Blob)
        && let Some((start, end)) = r.header("range").and_then(parse_range)
    {
        let end = end.map_or(total.saturating_sub(1), |e| e.min(total.saturating_sub(1)));
        if start >= total || start > end {
            return error(416, "BLOB_UNKNOWN", "range not satisfiable", key)
                .with_header("Content-Range", &format!("bytes */{total}"));
        }
        slice = &bytes[start as usize..=end as usize];
        status = 206;
        content_range = Some(format!("bytes {start}-{end}/{total}"));
    }

    let mut digest_header = digest.to_string();
    let body = match fault {
        Some(Fault::WrongBytes) => {
            let mut v = slice.to_vec();
            if let Some(b) = v.get_mut(slice.len() / 2) {
                *b ^= 0xff;
            }
            Body::Bytes(v)
        }
        Some(Fault::WrongLength) => Body::Bytes(slice[..slice.len().saturating_sub(1)].to_vec()),
        Some(Fault::Endless) => Body::Endless,
        Some(Fault::Stall { after }) => Body::StallAfter {
            bytes: slice.to_vec(),
            after,
        },
        Some(Fault::Truncated { send }) if gets == 1 && r.method == "GET" => Body::Truncated {
            bytes: slice.to_vec(),
            send,
        },
        Some(Fault::WrongDigestHeader) => {
            digest_header = digest.perturbed("wrong digest header").to_string();
            Body::Bytes(slice.to_vec())
        }
        _ => Body::Bytes(slice.to_vec()),
    };
    let mut resp = Response::new(status)
        .with_header("Content-Type", media_type)
        .with_header("Docker-Content-Digest", &digest_header)
        .with_body(body);
    if matches!(kind, Kind::Blob) {
        resp = resp.with_header("Accept-Ranges", "bytes");
    }
    if let Some(cr) = content_range {
        resp = resp.with_header("Content-Range", &cr);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageBuilder, LayerBuilder};
    use reqwest::blocking::Client;
    use serde_json::Value;
    use std::time::{Duration, Instant};

    fn client() -> Client {
        Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    #[test]
    fn serves_images_manifests_and_blobs() {
        let reg = FakeRegistry::new().unwrap();
        let image = ImageBuilder::new()
            .layer(LayerBuilder::new(1).file("a", "aaa").build(), "COPY a /")
            .build();
        let mdigest = reg.add_image("library/busybox", "latest", &image);
        let c = client();

        let resp = c.get(format!("{}/v2/", reg.url())).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["docker-distribution-api-version"],
            "registry/2.0"
        );

        for reference in ["latest", mdigest.as_str()] {
            let url = format!("{}/v2/library/busybox/manifests/{reference}", reg.url());
            let resp = c.head(&url).send().unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-type"], image.manifest_media_type);
            assert_eq!(resp.headers()["docker-content-digest"], mdigest.as_str());
            assert_eq!(
                resp.headers()["content-length"],
                image.manifest.len().to_string().as_str()
            );
            let resp = c.get(&url).send().unwrap();
            assert_eq!(resp.bytes().unwrap().as_ref(), image.manifest.as_slice());
        }

        let layer = &image.layers[0];
        let path = format!("/v2/library/busybox/blobs/{}", layer.digest);
        let resp = c.get(format!("{}{path}", reg.url())).send().unwrap();
        assert_eq!(resp.bytes().unwrap().as_ref(), layer.blob.data());
        assert_eq!(reg.count("GET", &path), 1);
        assert_eq!(reg.count("HEAD", &path), 0);

        // Range: resume from byte 10.
        let resp = c
            .get(format!("{}{path}", reg.url()))
            .header("Range", "bytes=10-")
            .send()
            .unwrap();
        assert_eq!(resp.status(), 206);
        assert_eq!(
            resp.headers()["content-range"],
            format!("bytes 10-{}/{}", layer.size - 1, layer.size).as_str()
        );
        assert_eq!(resp.bytes().unwrap().as_ref(), &layer.blob.data()[10..]);
        let resp = c
            .get(format!("{}{path}", reg.url()))
            .header("Range", format!("bytes={}-", layer.size))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 416);

        // Unknown things: distribution's error bodies.
        let resp = c
            .get(format!(
                "{}/v2/library/busybox/blobs/sha256:{}",
                reg.url(),
                "0".repeat(64)
            ))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 404);
        let v: Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
        assert_eq!(v["errors"][0]["code"], "BLOB_UNKNOWN");
        let resp = c
            .get(format!("{}/v2/library/busybox/manifests/nope", reg.url()))
            .send()
            .unwrap();
        let v: Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
        assert_eq!(v["errors"][0]["code"], "MANIFEST_UNKNOWN");

        let tags: Value = serde_json::from_slice(
            &c.get(format!("{}/v2/library/busybox/tags/list", reg.url()))
                .send()
                .unwrap()
                .bytes()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(tags["tags"], json!(["latest"]));
    }

    #[test]
    fn faults() {
        let reg = FakeRegistry::new().unwrap();
        let data: Vec<u8> = (0..100u8).collect();
        let d = reg.add_blob(data.clone());
        let url = format!("{}/v2/x/y/blobs/{d}", reg.url());
        let c = client();

        reg.set_fault(&d, Fault::WrongBytes);
        let got = c.get(&url).send().unwrap().bytes().unwrap();
        assert_eq!(got.len(), 100);
        assert_ne!(got.as_ref(), data.as_slice());

        reg.set_fault(&d, Fault::WrongLength);
        let resp = c.get(&url).send().unwrap();
        assert_eq!(resp.headers()["content-length"], "99");
        assert_eq!(resp.bytes().unwrap().as_ref(), &data[..99]);

        reg.set_fault(&d, Fault::FailTimes { n: 2, status: 503 });
        assert_eq!(c.get(&url).send().unwrap().status(), 503);
        assert_eq!(c.head(&url).send().unwrap().status(), 503);
        assert_eq!(
            c.get(&url).send().unwrap().bytes().unwrap().as_ref(),
            data.as_slice()
        );

        reg.set_fault(&d, Fault::Status(403));
        let resp = c.get(&url).send().unwrap();
        assert_eq!(resp.status(), 403);

        reg.set_fault(&d, Fault::Truncated { send: 10 });
        assert_eq!(c.head(&url).send().unwrap().status(), 200);
        assert!(c.get(&url).send().unwrap().bytes().is_err());
        let resp = c.get(&url).header("Range", "bytes=10-").send().unwrap();
        assert_eq!(resp.status(), 206);
        assert_eq!(resp.bytes().unwrap().as_ref(), &data[10..]);

        reg.set_fault(&d, Fault::Stall { after: 5 });
        let t = Instant::now();
        let quick = Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        assert!(quick.get(&url).send().and_then(|r| r.bytes()).is_err());
        assert!(t.elapsed() < Duration::from_secs(5));

        reg.set_fault(&d, Fault::Endless);
        let mut resp = c.get(&url).send().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        std::io::Read::read_exact(&mut resp, &mut buf).unwrap();
        drop(resp);

        reg.set_fault(&d, Fault::HugeErrorBody);
        let resp = c.get(&url).send().unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(
            resp.headers()["content-length"],
            HUGE_ERROR_BODY.to_string().as_str()
        );
        drop(resp);

        reg.clear_fault(&d);
        assert_eq!(
            c.get(&url).send().unwrap().bytes().unwrap().as_ref(),
            data.as_slice()
        );

        let m = reg.add_manifest(
            "x/y",
            "t",
            "application/vnd.oci.image.manifest.v1+json",
            "{}",
        );
        reg.set_fault("t", Fault::WrongDigestHeader);
        let resp = c
            .get(format!("{}/v2/x/y/manifests/t", reg.url()))
            .send()
            .unwrap();
        assert_ne!(resp.headers()["docker-content-digest"], m.as_str());
        assert_eq!(resp.bytes().unwrap().as_ref(), b"{}");
        let resp = c
            .get(format!("{}/v2/x/y/manifests/{m}", reg.url()))
            .send()
            .unwrap();
        assert_eq!(resp.headers()["docker-content-digest"], m.as_str());
        assert_eq!(reg.count("GET", "/v2/x/y/manifests/t"), 1);
    }
}
