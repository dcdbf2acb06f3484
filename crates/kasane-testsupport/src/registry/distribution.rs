//! The real registry for end-to-end tests: Debian's CNCF distribution (`docker-registry`
//! 2.8), started privately on a free loopback port with filesystem storage in a temporary
//! directory, in one of three auth modes and with or without TLS.
//!
//! Owns: [`Distribution`], [`DistributionOptions`], [`Auth`], and the seeding helpers that
//! write images straight into the registry's storage (so a pull test needs no push).
//!
//! Facts relied on (docker-registry 2.8.2): the config file is `docker-registry serve FILE`;
//! `REGISTRY_*` environment variables override it (so they are removed from the child's
//! environment); htpasswd files must hold bcrypt hashes; token auth needs `realm`, `service`,
//! `issuer` and a non-empty `rootcertbundle`. The storage layout written by the seeding
//! helpers is the filesystem driver's (`docker/registry/v2/blobs/sha256/<2>/<hex>/data` plus
//! the per-repository `_layers`, `_manifests/revisions` and `_manifests/tags` link files),
//! read without caching by a registry configured like this one.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;

use super::tls::{TestPki, ossl};
use super::token::TokenServer;
use crate::digest::Digest;
use crate::image::Image;
use crate::index::Index;

/// Where Debian installs the registry.
pub const DEFAULT_BINARY: &str = "/usr/bin/docker-registry";
/// How long [`Distribution::start`] waits for `GET /v2/` to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// The realm named in htpasswd challenges.
pub const HTPASSWD_REALM: &str = "kasane-test-registry";

/// How clients must authenticate to the registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may pull, push and delete.
    #[default]
    None,
    /// HTTP Basic against these `(user, password)` pairs; turns TLS on.
    Htpasswd {
        /// The accepted users and their passwords (stored bcrypt-hashed).
        users: Vec<(String, String)>,
    },
    /// Bearer tokens from a token server (see [`Auth::token`] for one from a [`TokenServer`]).
    Token {
        /// The token endpoint URL, sent in the `WWW-Authenticate` challenge.
        realm: String,
        /// The service name (the tokens' `aud`).
        service: String,
        /// The accepted `iss`.
        issuer: String,
        /// PEM file with the certificates allowed to sign tokens.
        root_cert: PathBuf,
    },
}

impl Auth {
    /// Token auth trusting `server` (its realm, service, issuer and signing certificate).
    pub fn token(server: &TokenServer) -> Self {
        Auth::Token {
            realm: server.realm(),
            service: server.service().to_string(),
            issuer: server.issuer().to_string(),
            root_cert: server.root_cert(),
        }
    }

    /// [`Auth::Htpasswd`] from borrowed pairs.
    pub fn htpasswd(users: &[(&str, &str)]) -> Self {
        Auth::Htpasswd {
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
        }
    }
}

/// How to start a [`Distribution`]; `Default` is plain HTTP without auth.
#[derive(Clone, Debug, Default)]
pub struct DistributionOptions {
    /// The auth mode.
    pub auth: Auth,
    /// Serve HTTPS with the PKI's server certificate (always on for [`Auth::Htpasswd`]).
    pub tls: bool,
    /// The PKI to use; a fresh one in the registry's temporary directory when `None`.
    pub pki: Option<TestPki>,
    /// Require TLS client certificates signed by the PKI's CA (`http.tls.clientcas`; turns
    /// TLS on).
    pub client_certs: bool,
}

/// A running `docker-registry`, killed (by PID) and its storage deleted when dropped.
pub struct Distribution {
    child: Child,
    port: u16,
    tls: bool,
    pki: TestPki,
    config: PathBuf,
    log: PathBuf,
    storage: PathBuf,
    // Last: removed after the child is gone.
    dir: tempfile::TempDir,
}

/// The registry binary: `$KASANE_TEST_DOCKER_REGISTRY`, else `docker-registry` on `PATH`,
/// else [`DEFAULT_BINARY`].
fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KASANE_TEST_DOCKER_REGISTRY") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("docker-registry"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let p = PathBuf::from(DEFAULT_BINARY);
        p.is_file().then_some(p)
    })
}

/// A YAML scalar for `s` (a JSON string is valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn path_str(p: &Path) -> String {
    yaml_str(&p.to_string_lossy())
}

impl Distribution {
    /// Whether a `docker-registry` binary is installed; tests skip (saying so) when not.
    pub fn available() -> bool {
        binary().is_some()
    }

    /// Starts the registry and waits until `GET /v2/` answers (200 or 401), retrying on
    /// another port if the chosen one was taken meanwhile.
    pub fn start(opts: DistributionOptions) -> io::Result<Self> {
        let bin = binary().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "docker-registry is not installed (Debian package docker-registry)",
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("kasane-registry-")
            .tempdir()?;
        let pki = match opts.pki {
            Some(p) => p,
            None => TestPki::generate(&dir.path().join("pki"))?,
        };
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage)?;
        let tls = opts.tls || opts.client_certs || matches!(opts.auth, Auth::Htpasswd { .. });
        let auth_yaml = match &opts.auth {
            Auth::None => String::new(),
            Auth::Htpasswd { users } => {
                let file = dir.path().join("htpasswd");
                write_htpasswd(&file, users)?;
                format!(
                    "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
                    yaml_str(HTPASSWD_REALM),
                    path_str(&file)
                )
            }
            Auth::Token {
                realm,
                service,
                issuer,
                root_cert,
            } => format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                yaml_str(realm),
                yaml_str(service),
                yaml_str(issuer),
                path_str(root_cert)
            ),
        };
        let tls_yaml = if tls {
            let mut y = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                path_str(&pki.server_cert()),
                path_str(&pki.server_key())
            );
            if opts.client_certs {
                y.push_str(&format!(
                    "    clientcas:\n      - {}\n",
                    path_str(&pki.ca_cert())
                ));
            }
            y
        } else {
            String::new()
        };
        let config = dir.path().join("config.yml");
        let log = dir.path().join("registry.log");

        let mut last_err = None;
        for _attempt in 0..5 {
            let port = free_port()?;
            fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: warn\n  formatter: text\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
                     maintenance:\n    uploadpurging:\n      enabled: false\n\
                     http:\n  addr: 127.0.0.1:{port}\n  secret: kasane-test-secret\n  \
                     headers:\n    X-Content-Type-Options: [nosniff]\n{tls_yaml}{auth_yaml}",
                    path_str(&storage)
                ),
            )?;
            let out = fs::File::create(&log)?;
            let mut cmd = Command::new(&bin);
            cmd.arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                .current_dir(dir.path());
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("REGISTRY_") {
                    cmd.env_remove(k);
                }
            }
            let mut child = cmd.spawn()?;
            match wait_ready(&mut child, port, tls.then_some((&pki, opts.client_certs))) {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        port,
                        tls,
                        pki,
                        config,
                        log,
                        storage,
                        dir,
                    });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let logs = fs::read_to_string(&log).unwrap_or_default();
                    let busy = logs.contains("address already in use");
                    last_err = Some(io::Error::new(
                        e.kind(),
                        format!("docker-registry did not become ready: {e}; its log:\n{logs}"),
                    ));
                    if !busy {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("docker-registry did not start")))
    }

    /// `127.0.0.1:PORT`, the registry host of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://…` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The PKI whose `server.crt` it serves with TLS (clients trust `ca.crt`).
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// What the registry logged so far (warnings and errors, plus its access log).
    pub fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The generated `config.yml`.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The filesystem driver's `rootdirectory`.
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// The temporary directory holding config, log, storage and (by default) the PKI.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the registry.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether a blob with this digest is in storage (after a push, or to check a delete).
    pub fn has_blob(&self, digest: &str) -> bool {
        blob_data_path(&self.storage, digest).is_some_and(|p| p.is_file())
    }

    /// Writes `data` as a blob of repository `repo` straight into storage; returns its
    /// digest.
    pub fn seed_blob(&self, repo: &str, data: &[u8]) -> io::Result<String> {
        let digest = Digest::sha256(data);
        write_blob(&self.storage, data, &digest)?;
        write_link(
            &repo_dir(&self.storage, repo)
                .join("_layers/sha256")
                .join(digest.hex()),
            &digest,
        )?;
        Ok(digest.to_string())
    }

    /// Writes a manifest (any media type; the registry reads it from the content) into
    /// repository `repo`, tagged `tag` when given; returns its digest. Blobs it references
    /// must be seeded separately.
    pub fn seed_manifest(&self, repo: &str, tag: Option<&str>, data: &[u8]) -> io::Result<String> {
        let digest = Digest::sha256(data);
        write_blob(&self.storage, data, &digest)?;
        let manifests = repo_dir(&self.storage, repo).join("_manifests");
        write_link(
            &manifests.join("revisions/sha256").join(digest.hex()),
            &digest,
        )?;
        if let Some(tag) = tag {
            let t = manifests.join("tags").join(tag);
            write_link(&t.join("current"), &digest)?;
            write_link(&t.join("index/sha256").join(digest.hex()), &digest)?;
        }
        Ok(digest.to_string())
    }

    /// Seeds an [`Image`]: its layers, config and manifest, tagged `tag`; returns the
    /// manifest digest.
    pub fn seed_image(&self, repo: &str, tag: Option<&str>, image: &Image) -> io::Result<String> {
        for layer in &image.layers {
            self.seed_blob(repo, layer.blob.data())?;
        }
        self.seed_blob(repo, &image.config)?;
        self.seed_manifest(repo, tag, &image.manifest)
    }

    /// Seeds an [`Index`]: every image (untagged) and the index itself tagged `tag`; returns
    /// the index digest.
    pub fn seed_index(&self, repo: &str, tag: Option<&str>, index: &Index) -> io::Result<String> {
        for image in &index.images {
            self.seed_image(repo, None, image)?;
        }
        self.seed_manifest(repo, tag, &index.manifest)
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_dir(storage: &Path, repo: &str) -> PathBuf {
    storage.join("docker/registry/v2/repositories").join(repo)
}

fn blob_data_path(storage: &Path, digest: &str) -> Option<PathBuf> {
    let hex = digest.strip_prefix("sha256:")?;
    if hex.len() < 2 {
        return None;
    }
    Some(
        storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data"),
    )
}

fn write_blob(storage: &Path, data: &[u8], digest: &Digest) -> io::Result<()> {
    let path = blob_data_path(storage, digest.as_str())
        .ok_or_else(|| io::Error::other("not a sha256 digest"))?;
    write_atomic(&path, data)
}

fn write_link(dir: &Path, digest: &Digest) -> io::Result<()> {
    write_atomic(&dir.join("link"), digest.as_str().as_bytes())
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| io::Error::other("path without parent"))?;
    fs::create_dir_all(parent)?;
    let tmp = parent.join(".kasane-seed.tmp");
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path)
}

fn write_htpasswd(path: &Path, users: &[(String, String)]) -> io::Result<()> {
    let mut text = String::new();
    for (user, password) in users {
        // Cost 4 (the minimum): the registry checks the hash on every request.
        let hash = bcrypt::hash_with_result(password, 4).map_err(io::Error::other)?;
        text.push_str(&format!(
            "{user}:{}\n",
            hash.format_for_version(bcrypt::Version::TwoY)
        ));
    }
    fs::write(path, text)
}

/// A port that was free a moment ago (bound to `127.0.0.1:0`, then released).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls until the child listens on `port` and answers `GET /v2/` with 200 or 401.
fn wait_ready(child: &mut Child, port: u16, tls: Option<(&TestPki, bool)>) -> io::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = io::Error::new(io::ErrorKind::TimedOut, "no answer yet");
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "docker-registry exited ({status})"
            )));
        }
        // The port must be the child's own: another test may have grabbed it meanwhile.
        if listens(child.id(), port) != Some(false) {
            match probe(port, tls) {
                Ok(200 | 401) => return Ok(()),
                Ok(code) => last = io::Error::other(format!("GET /v2/ answered {code}")),
                Err(e) => last = e,
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("not ready within {READY_TIMEOUT:?}: {last}"),
    ))
}

/// Whether process `pid` holds a socket listening on `127.0.0.1:port`, from `/proc`;
/// `None` when `/proc` cannot tell.
fn listens(pid: u32, port: u16) -> Option<bool> {
    let table = fs::read_to_string(format!("/proc/{pid}/net/tcp")).ok()?;
    let local = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 9 && f[1] == local && f[3] == "0A").then(|| format!("socket:[{}]", f[9]))
        })
        .collect();
    if inodes.is_empty() {
        return Some(false);
    }
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|t| inodes.iter().any(|i| t.as_os_str() == i.as_str()))
    }))
}

/// `GET /v2/` over a raw connection (TLS verified against the PKI's CA, presenting the
/// client certificate when asked); the status code.
fn probe(port: u16, tls: Option<(&TestPki, bool)>) -> io::Result<u16> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let request =
        format!("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    match tls {
        None => {
            let mut s = stream;
            s.write_all(request.as_bytes())?;
            s.take(4096).read_to_end(&mut response)?;
        }
        Some((pki, client)) => {
            let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(ossl)?;
            let ca = X509::from_pem(pki.ca_pem()).map_err(ossl)?;
            builder.cert_store_mut().add_cert(ca).map_err(ossl)?;
            if client {
                builder
                    .set_certificate_file(pki.client_cert(), openssl::ssl::SslFiletype::PEM)
                    .map_err(ossl)?;
                builder
                    .set_private_key_file(pki.client_key(), openssl::ssl::SslFiletype::PEM)
                    .map_err(ossl)?;
            }
            let connector = builder.build();
            let mut s = connector
                .connect("127.0.0.1", stream)
                .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
            s.write_all(request.as_bytes())?;
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf)?;
            response.extend_from_slice(&buf[..n]);
        }
    }
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP answer: {text:?}")))
}

#[cfg(test)]
mod tests;
