//! Registry credentials, read and written the way the docker CLI does.
//!
//! * The docker config file is `$DOCKER_CONFIG/config.json`, or `~/.docker/config.json`.
//!   Its `auths` object maps a server key to `{"auth": base64("user:password"),
//!   "identitytoken": …}`; `credHelpers` maps a registry host to a credential helper and
//!   `credsStore` names the helper for every other registry.
//! * A credential helper `NAME` is the program `docker-credential-NAME` on `PATH`, speaking the
//!   docker-credential-helpers protocol: `get` reads the server URL on stdin and prints
//!   `{"ServerURL","Username","Secret"}`; `store` reads that JSON; `erase` reads the server URL.
//!   A failing helper that prints `credentials not found in native keychain` means "none".
//!   The user name `<token>` marks `Secret` as an identity (refresh) token.
//! * Docker Hub's key is `https://index.docker.io/v1/`; other registries are keyed by
//!   `host[:port]`, but older files may hold `https://host`, `http://host/v2/` and the like,
//!   which match by host after the scheme and path are stripped.
//! * Podman's auth files (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//!   `~/.config/containers/auth.json`) are read after docker's config, never written. Their
//!   keys scoped to a repository (`quay.io/org`) do not apply to a whole registry.
//!
//! [`CredentialStore::store`] and [`CredentialStore::erase`] behave like `docker login` and
//! `docker logout`: they keep every other field of `config.json`, create the directory with
//! mode 0700 and the file with mode 0600 (an existing file keeps its mode and owner), follow a
//! symlinked `config.json`, and replace the file atomically.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Serialize as _;
use serde_json::{Map, Value};

/// The `auths` key docker uses for Docker Hub.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The prefix of credential helper programs.
pub const HELPER_PREFIX: &str = "docker-credential-";

/// The user name a credential helper reports when `Secret` is an identity token.
const TOKEN_USERNAME: &str = "<token>";

/// The message helpers print when they hold nothing for a server.
const NOT_FOUND_MESSAGE: &str = "credentials not found";

/// What can go wrong while reading or writing credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The registry name is empty or not a host.
    #[error(
        "invalid registry {registry:?}: expected a host[:port] such as docker.io or localhost:5000"
    )]
    InvalidRegistry {
        /// The name as given.
        registry: String,
    },
    /// The credential cannot be stored (empty user name, or one holding ':').
    #[error("cannot store credentials for {registry}: {reason}")]
    InvalidCredential {
        /// The registry.
        registry: String,
        /// What is wrong.
        reason: String,
    },
    /// A credentials file exists but could not be read.
    #[error("cannot read credentials file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A credentials file is not JSON.
    #[error(
        "credentials file {} is not valid JSON: {source}; fix it, or move it aside and log in again",
        .path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A credentials file is JSON but not of the expected shape.
    #[error(
        "credentials file {} is malformed: {detail}; fix it, or move it aside and log in again",
        .path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        detail: String,
    },
    /// The docker config could not be written.
    #[error(
        "cannot write credentials file {}: {source}; check the directory's permissions \
         or set DOCKER_CONFIG to another directory",
        .path.display()
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The configured credential helper is not installed.
    #[error(
        "credential helper {program} for {registry} (configured by {setting} in {}) was not \
         found on PATH; install it, or remove that setting to use the config file instead",
        .path.display()
    )]
    HelperNotFound {
        /// The program (`docker-credential-NAME`).
        program: String,
        /// The registry.
        registry: String,
        /// `"credsStore"` or `credHelpers["host"]`.
        setting: String,
        /// The file holding the setting.
        path: PathBuf,
    },
    /// The configured helper name cannot name a program.
    #[error(
        "invalid credential helper name {name:?} (from {setting} in {}): it must be a plain name \
         such as \"pass\" or \"secretservice\"",
        .path.display()
    )]
    InvalidHelperName {
        /// The name as configured.
        name: String,
        /// `"credsStore"` or `credHelpers["host"]`.
        setting: String,
        /// The file holding the setting.
        path: PathBuf,
    },
    /// The helper could not be started.
    #[error("cannot run credential helper {}: {source}", .program.display())]
    HelperSpawn {
        /// The program's path.
        program: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The helper failed.
    #[error("credential helper {program} failed to {action} credentials for {registry}: {output}")]
    HelperFailed {
        /// The program.
        program: String,
        /// `get`, `store` or `erase`.
        action: String,
        /// The registry.
        registry: String,
        /// What it printed (or its exit status).
        output: String,
    },
    /// The helper's answer to `get` is not the protocol's JSON.
    #[error("credential helper {program} returned invalid JSON for {registry}: {source}")]
    HelperOutput {
        /// The program.
        program: String,
        /// The registry.
        registry: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// A user name and password, or an identity token, for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credential {
    /// The user name (empty when only an identity token is known).
    pub username: String,
    /// The password or access token (secret: never printed by `Debug`).
    pub password: String,
    /// An OAuth2 refresh token from a previous login (secret: never printed by `Debug`).
    pub identity_token: Option<String>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field(
                "identity_token",
                &self.identity_token.as_deref().map(redact),
            )
            .finish()
    }
}

impl Credential {
    /// A user name and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credential {
            username: username.into(),
            password: password.into(),
            identity_token: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.identity_token.is_none()
    }
}

/// Docker's credential files and helpers, plus podman's auth files for reading.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    config_dir: PathBuf,
    config_path: PathBuf,
    podman_files: Vec<PathBuf>,
    helper_path: Option<OsString>,
}

/// Which configuration chose a credential helper.
#[derive(Debug, Clone)]
struct Helper {
    name: String,
    setting: String,
    file: PathBuf,
}

/// How a key of an auth file maps to a host.
#[derive(Clone, Copy)]
enum KeyStyle {
    /// docker: strip any scheme and path (`ConvertToHostname`).
    Docker,
    /// podman: strip scheme and path from URLs; other keys with a path are repository-scoped.
    Podman,
}

impl CredentialStore {
    /// The store for this user: `$DOCKER_CONFIG` or `~/.docker`, and podman's auth files.
    pub fn from_env() -> CredentialStore {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home = env("HOME").map(PathBuf::from).or_else(passwd_home);
        let config_dir = env("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".docker")))
            .unwrap_or_else(|| PathBuf::from("/nonexistent/.docker"));
        let mut podman = Vec::new();
        if let Some(f) = env("REGISTRY_AUTH_FILE") {
            podman.push(PathBuf::from(f));
        }
        if let Some(d) = env("XDG_RUNTIME_DIR") {
            podman.push(PathBuf::from(d).join("containers/auth.json"));
        }
        if let Some(h) = &home {
            podman.push(h.join(".config/containers/auth.json"));
        }
        podman.dedup();
        CredentialStore::with_paths(config_dir, podman)
    }

    /// A store using `docker_config_dir/config.json` and then `podman_files` (read only).
    pub fn with_paths(docker_config_dir: impl Into<PathBuf>, podman_files: Vec<PathBuf>) -> Self {
        let config_dir = docker_config_dir.into();
        CredentialStore {
            config_path: config_dir.join("config.json"),
            config_dir,
            podman_files,
            helper_path: None,
        }
    }

    /// Looks credential helpers up in `path` (a `PATH`-style list) instead of `$PATH`, and
    /// runs them with that `PATH`.
    pub fn with_helper_path(mut self, path: impl Into<OsString>) -> Self {
        self.helper_path = Some(path.into());
        self
    }

    /// The docker config directory.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// The docker config file that `store` and `erase` change (for "saved to …" messages).
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The podman auth files consulted after docker's config, in order.
    pub fn podman_files(&self) -> &[PathBuf] {
        &self.podman_files
    }

    /// The credentials for `registry` (`host[:port]` as in references; `docker.io` for Docker
    /// Hub), or `None` when none are configured.
    ///
    /// Order: docker's `credHelpers[host]`, else `credsStore`, else `auths`; then the podman
    /// auth files. A helper that is configured but not installed is an error
    /// ([`CredentialError::HelperNotFound`]); callers pulling public images may downgrade it
    /// to a warning, as docker does.
    pub fn get(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let host = registry_host(registry)?;
        if let Some(root) = load(&self.config_path)?
            && let Some(c) = self.get_in(&root, &self.config_path, &host, KeyStyle::Docker)?
        {
            return Ok(Some(c));
        }
        for file in &self.podman_files {
            if let Some(root) = load(file)?
                && let Some(c) = self.get_in(&root, file, &host, KeyStyle::Podman)?
            {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Saves `credential` for `registry`, like `docker login`: into the credential helper that
    /// applies (recording an empty `auths` entry), else base64-encoded into `auths`.
    pub fn store(&self, registry: &str, credential: &Credential) -> Result<(), CredentialError> {
        let host = registry_host(registry)?;
        let key = config_key(registry);
        if credential.username.is_empty() && credential.identity_token.is_none() {
            return Err(CredentialError::InvalidCredential {
                registry: registry.to_owned(),
                reason: "the user name is empty".to_owned(),
            });
        }
        if credential.username.contains(':') {
            return Err(CredentialError::InvalidCredential {
                registry: registry.to_owned(),
                reason: "the user name contains ':', which the config file format cannot hold"
                    .to_owned(),
            });
        }
        let path = &self.config_path;
        let mut root = load(path)?.unwrap_or_default();
        let old = auths(&root, path)?
            .and_then(|a| a.get(&key))
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let mut entry = match old.clone() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for secret in [
            "auth",
            "username",
            "password",
            "identitytoken",
            "registrytoken",
        ] {
            entry.remove(secret);
        }
        if let Some(helper) = helper_for(&root, path, &host, true)? {
            let (user, secret) = match &credential.identity_token {
                Some(t) => (TOKEN_USERNAME, t.as_str()),
                None => (credential.username.as_str(), credential.password.as_str()),
            };
            let input = serde_json::json!({
                "ServerURL": key,
                "Username": user,
                "Secret": secret,
            });
            let mut bytes = input.to_string().into_bytes();
            bytes.push(b'\n');
            match self.run_helper(&helper, "store", &bytes, registry)? {
                HelperAnswer::Output(_) => {}
                HelperAnswer::NotFound => {
                    return Err(CredentialError::HelperFailed {
                        program: helper.program(),
                        action: "store".to_owned(),
                        registry: registry.to_owned(),
                        output: NOT_FOUND_MESSAGE.to_owned(),
                    });
                }
            }
        } else {
            if !credential.username.is_empty() || !credential.password.is_empty() {
                let raw = format!("{}:{}", credential.username, credential.password);
                entry.insert(
                    "auth".to_owned(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(raw)),
                );
            }
            if let Some(t) = &credential.identity_token {
                entry.insert("identitytoken".to_owned(), Value::String(t.clone()));
            }
        }
        let entry = Value::Object(entry);
        if entry == old && auths(&root, path)?.is_some_and(|a| a.contains_key(&key)) {
            return Ok(());
        }
        auths_mut(&mut root, path)?.insert(key, entry);
        self.write_config(&root)
    }

    /// Removes the credentials for `registry`, like `docker logout`: from the helper that
    /// applies and every matching `auths` entry of docker's config (podman's files are left
    /// alone). Returns whether anything was removed.
    pub fn erase(&self, registry: &str) -> Result<bool, CredentialError> {
        let host = registry_host(registry)?;
        let path = &self.config_path;
        let Some(mut root) = load(path)? else {
            return Ok(false);
        };
        let keys: Vec<String> = auths(&root, path)?
            .map(|a| matching_keys(a, &host, KeyStyle::Docker))
            .unwrap_or_default();
        let mut removed = false;
        let mut failure = None;
        if let Some(helper) = helper_for(&root, path, &host, true)? {
            let mut servers = keys.clone();
            if servers.is_empty() {
                servers.push(config_key(registry));
            }
            for server in &servers {
                match self.run_helper(&helper, "erase", server.as_bytes(), registry) {
                    Ok(HelperAnswer::Output(_)) => removed = true,
                    Ok(HelperAnswer::NotFound) => {}
                    Err(e) => {
                        tracing::debug!(server = %server, error = %e, "credential helper erase failed");
                        failure.get_or_insert(e);
                    }
                }
            }
        }
        if !keys.is_empty() {
            let a = auths_mut(&mut root, path)?;
            for k in &keys {
                a.shift_remove(k);
            }
            self.write_config(&root)?;
            removed = true;
        }
        match failure {
            Some(e) if !removed => Err(e),
            _ => Ok(removed),
        }
    }

    /// Whether `store` would keep the password in plain text (base64) in
    /// [`config_path`](Self::config_path), i.e. no credential helper applies; `docker login`
    /// warns about that.
    pub fn stores_plaintext(&self, registry: &str) -> bool {
        let Ok(host) = registry_host(registry) else {
            return true;
        };
        match load(&self.config_path) {
            Ok(Some(root)) => !matches!(
                helper_for(&root, &self.config_path, &host, true),
                Ok(Some(_))
            ),
            _ => true,
        }
    }

    fn get_in(
        &self,
        root: &Map<String, Value>,
        file: &Path,
        host: &str,
        style: KeyStyle,
    ) -> Result<Option<Credential>, CredentialError> {
        let auths = auths(root, file)?;
        let keys = auths
            .map(|a| matching_keys(a, host, style))
            .unwrap_or_default();
        let allow_store = matches!(style, KeyStyle::Docker);
        if let Some(helper) = helper_for(root, file, host, allow_store)? {
            // Docker records the key it logged in with; the helper stores under that key.
            let server = keys.first().cloned().unwrap_or_else(|| canonical_key(host));
            return self.helper_get(&helper, &server, host);
        }
        for key in &keys {
            let Some(entry) = auths.and_then(|a| a.get(key)) else {
                continue;
            };
            if let Some(c) = decode_entry(entry, file, key)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    fn helper_get(
        &self,
        helper: &Helper,
        server: &str,
        registry: &str,
    ) -> Result<Option<Credential>, CredentialError> {
        let out = match self.run_helper(helper, "get", server.as_bytes(), registry)? {
            HelperAnswer::Output(o) => o,
            HelperAnswer::NotFound => return Ok(None),
        };
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let a: Answer =
            serde_json::from_slice(&out).map_err(|e| CredentialError::HelperOutput {
                program: helper.program(),
                registry: registry.to_owned(),
                source: e,
            })?;
        let c = if a.username == TOKEN_USERNAME {
            Credential {
                username: String::new(),
                password: String::new(),
                identity_token: Some(a.secret).filter(|s| !s.is_empty()),
            }
        } else {
            Credential::basic(a.username, a.secret)
        };
        Ok((!c.is_empty()).then_some(c))
    }

    fn run_helper(
        &self,
        helper: &Helper,
        action: &str,
        input: &[u8],
        registry: &str,
    ) -> Result<HelperAnswer, CredentialError> {
        let program_name = helper.program();
        let search = self
            .helper_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let program = find_program(&program_name, &search).ok_or_else(|| {
            CredentialError::HelperNotFound {
                program: program_name.clone(),
                registry: registry.to_owned(),
                setting: helper.setting.clone(),
                path: helper.file.clone(),
            }
        })?;
        tracing::debug!(program = %program.display(), action, registry, "running credential helper");
        let mut cmd = Command::new(&program);
        cmd.arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = &self.helper_path {
            cmd.env("PATH", p);
        }
        let mut child = spawn_retrying(&mut cmd).map_err(|e| CredentialError::HelperSpawn {
            program: program.clone(),
            source: e,
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            match stdin.write_all(input) {
                Ok(()) => {}
                // The helper may exit without reading (e.g. a usage error): its output says why.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(CredentialError::HelperSpawn { program, source: e });
                }
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|e| CredentialError::HelperSpawn {
                program: program.clone(),
                source: e,
            })?;
        if out.status.success() {
            return Ok(HelperAnswer::Output(out.stdout));
        }
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if [&stdout, &stderr]
            .iter()
            .any(|s| s.to_ascii_lowercase().contains(NOT_FOUND_MESSAGE))
        {
            return Ok(HelperAnswer::NotFound);
        }
        let mut output = if !stdout.is_empty() {
            stdout
        } else if !stderr.is_empty() {
            stderr
        } else {
            format!("it exited with {}", out.status)
        };
        if output.len() > 500 {
            let mut cut = 500;
            while !output.is_char_boundary(cut) {
                cut -= 1;
            }
            output.truncate(cut);
            output.push('…');
        }
        Err(CredentialError::HelperFailed {
            program: program_name,
            action: action.to_owned(),
            registry: registry.to_owned(),
            output,
        })
    }

    fn write_config(&self, root: &Map<String, Value>) -> Result<(), CredentialError> {
        let werr = |path: &Path, e: io::Error| CredentialError::Write {
            path: path.to_owned(),
            source: e,
        };
        if !self.config_dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.config_dir)
                .map_err(|e| werr(&self.config_dir, e))?;
        }
        let target = resolve_symlinks(&self.config_path);
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".to_owned());

        let mut data = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut data,
            serde_json::ser::PrettyFormatter::with_indent(b"\t"),
        );
        Value::Object(root.clone())
            .serialize(&mut ser)
            .map_err(|e| werr(&target, io::Error::other(e)))?;

        let tmp = dir.join(format!(".{file_name}.tmp-{:016x}", rand::random::<u64>()));
        let result = (|| -> io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&data)?;
            if let Ok(meta) = std::fs::metadata(&target)
                && meta.is_file()
            {
                f.set_permissions(meta.permissions())?;
                let mine = f.metadata()?;
                if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
                    // Best effort, as docker: keeps a `sudo` login owned by the user.
                    let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
                }
            }
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &target)?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(werr(&target, e));
        }
        Ok(())
    }
}

enum HelperAnswer {
    Output(Vec<u8>),
    NotFound,
}

impl Helper {
    fn program(&self) -> String {
        format!("{HELPER_PREFIX}{}", self.name)
    }
}

/// The `auths` key docker uses for `registry`: `https://index.docker.io/v1/` for Docker Hub,
/// else `host[:port]` (any scheme or path given is dropped, the host lower-cased).
pub fn config_key(registry: &str) -> String {
    canonical_key(&docker_key_host(registry))
}

fn canonical_key(host: &str) -> String {
    if host == "docker.io" {
        DOCKER_HUB_KEY.to_owned()
    } else {
        host.to_owned()
    }
}

/// The normalised host of a registry name given by a caller.
fn registry_host(registry: &str) -> Result<String, CredentialError> {
    let host = docker_key_host(registry);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CredentialError::InvalidRegistry {
            registry: registry.to_owned(),
        });
    }
    Ok(host)
}

/// Docker's `ConvertToHostname`, lower-cased, with Docker Hub's aliases mapped to `docker.io`.
fn docker_key_host(key: &str) -> String {
    let key = key.trim();
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    normalize_host(host)
}

/// Podman's key normalisation: URLs lose scheme and path; other keys with a path are scoped
/// to a repository and do not name a whole registry (`None`).
fn podman_key_host(key: &str) -> Option<String> {
    let key = key.trim();
    let stripped = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"));
    match stripped {
        Some(rest) => Some(normalize_host(rest.split('/').next().unwrap_or_default())),
        None if key.contains('/') => None,
        None => Some(normalize_host(key)),
    }
}

fn normalize_host(host: &str) -> String {
    let h = host.to_ascii_lowercase();
    match h.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => h,
    }
}

fn key_host(key: &str, style: KeyStyle) -> Option<String> {
    match style {
        KeyStyle::Docker => Some(docker_key_host(key)),
        KeyStyle::Podman => podman_key_host(key),
    }
}

/// The keys of `map` naming `host`, the canonical one first, then in file order.
fn matching_keys(map: &Map<String, Value>, host: &str, style: KeyStyle) -> Vec<String> {
    let canonical = canonical_key(host);
    let mut keys: Vec<String> = map
        .keys()
        .filter(|k| key_host(k, style).as_deref() == Some(host))
        .cloned()
        .collect();
    keys.sort_by_key(|k| *k != canonical && *k != host);
    keys
}

/// The credential helper that applies to `host` in `root`, if any.
fn helper_for(
    root: &Map<String, Value>,
    file: &Path,
    host: &str,
    allow_store: bool,
) -> Result<Option<Helper>, CredentialError> {
    let check = |name: &str, setting: String| -> Result<Helper, CredentialError> {
        if name.is_empty() || name.contains('/') || name.contains('\0') || name == ".." {
            return Err(CredentialError::InvalidHelperName {
                name: name.to_owned(),
                setting,
                path: file.to_owned(),
            });
        }
        Ok(Helper {
            name: name.to_owned(),
            setting,
            file: file.to_owned(),
        })
    };
    match root.get("credHelpers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(helpers)) => {
            // Podman's credHelpers keys are hosts too; docker's style covers both.
            if let Some(key) = matching_keys(helpers, host, KeyStyle::Docker).first() {
                let Some(name) = helpers.get(key).and_then(Value::as_str) else {
                    return Err(malformed(
                        file,
                        format!("credHelpers[{key:?}] is not a string"),
                    ));
                };
                return check(name, format!("credHelpers[{key:?}]")).map(Some);
            }
        }
        Some(_) => {
            return Err(malformed(
                file,
                "\"credHelpers\" is not an object".to_owned(),
            ));
        }
    }
    if !allow_store {
        return Ok(None);
    }
    match root.get("credsStore") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => check(s, "\"credsStore\"".to_owned()).map(Some),
        Some(_) => Err(malformed(file, "\"credsStore\" is not a string".to_owned())),
    }
}

fn malformed(file: &Path, detail: String) -> CredentialError {
    CredentialError::Malformed {
        path: file.to_owned(),
        detail,
    }
}

fn auths<'a>(
    root: &'a Map<String, Value>,
    file: &Path,
) -> Result<Option<&'a Map<String, Value>>, CredentialError> {
    match root.get("auths") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(malformed(file, "\"auths\" is not an object".to_owned())),
    }
}

fn auths_mut<'a>(
    root: &'a mut Map<String, Value>,
    file: &Path,
) -> Result<&'a mut Map<String, Value>, CredentialError> {
    let slot = root
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
        .ok_or_else(|| malformed(file, "\"auths\" is not an object".to_owned()))
}

/// Reads and parses an auth file; `None` when it does not exist. An empty file is empty.
fn load(path: &Path) -> Result<Option<Map<String, Value>>, CredentialError> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CredentialError::Read {
                path: path.to_owned(),
                source: e,
            });
        }
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_slice::<Value>(&data) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(malformed(
            path,
            "the top level is not a JSON object".to_owned(),
        )),
        Err(e) => Err(CredentialError::Parse {
            path: path.to_owned(),
            source: e,
        }),
    }
}

/// The credential of one `auths` entry, `None` when it holds none.
fn decode_entry(
    entry: &Value,
    file: &Path,
    key: &str,
) -> Result<Option<Credential>, CredentialError> {
    let Value::Object(e) = entry else {
        return Err(malformed(file, format!("auths[{key:?}] is not an object")));
    };
    let field = |name: &str| -> Result<Option<&str>, CredentialError> {
        match e.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.is_empty())),
            Some(_) => Err(malformed(
                file,
                format!("auths[{key:?}].{name} is not a string"),
            )),
        }
    };
    let mut cred = Credential::default();
    if let Some(auth) = field("auth")? {
        let bad = |why: &str| {
            malformed(
                file,
                format!(
                    "auths[{key:?}].auth is not base64 of \"user:password\" ({why}); \
                     log in to {key} again or remove the entry"
                ),
            )
        };
        let raw = base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
            .decode(auth.trim())
            .map_err(|_| bad("invalid base64"))?;
        let text = String::from_utf8(raw).map_err(|_| bad("not UTF-8"))?;
        let (user, pass) = text.split_once(':').ok_or_else(|| bad("no ':'"))?;
        if user.is_empty() {
            return Err(bad("empty user name"));
        }
        cred.username = user.to_owned();
        cred.password = pass.trim_matches('\0').to_owned();
    } else {
        cred.username = field("username")?.unwrap_or_default().to_owned();
        cred.password = field("password")?.unwrap_or_default().to_owned();
    }
    cred.identity_token = field("identitytoken")?.map(str::to_owned);
    Ok((!cred.is_empty()).then_some(cred))
}

/// Follows `path` through symlinks (dangling ones included) to the file to replace.
fn resolve_symlinks(path: &Path) -> PathBuf {
    let mut p = path.to_owned();
    for _ in 0..40 {
        match std::fs::read_link(&p) {
            Ok(t) if t.is_absolute() => p = t,
            Ok(t) => p = p.parent().unwrap_or(Path::new("/")).join(t),
            Err(_) => break,
        }
    }
    p
}

fn find_program(name: &str, search: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(search)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Spawns `cmd`, retrying briefly on ETXTBSY (a helper that was just written, or a fork in
/// another thread still holding it open for writing).
fn spawn_retrying(cmd: &mut Command) -> io::Result<std::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10 * tries));
            }
            other => return other,
        }
    }
}

/// The home directory of the current user from `/etc/passwd`, for when `HOME` is unset.
fn passwd_home() -> Option<PathBuf> {
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2].parse::<u32>().ok() == Some(uid) && !fields[5].is_empty())
            .then(|| PathBuf::from(fields[5]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    struct Env {
        _tmp: tempfile::TempDir,
        docker: PathBuf,
        podman: PathBuf,
        bin: PathBuf,
        state: PathBuf,
    }

    impl Env {
        fn new() -> Env {
            let tmp = tempfile::tempdir().unwrap();
            let docker = tmp.path().join("docker");
            let podman = tmp.path().join("auth.json");
            let bin = tmp.path().join("bin");
            let state = tmp.path().join("state");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::create_dir_all(&state).unwrap();
            Env {
                _tmp: tmp,
                docker,
                podman,
                bin,
                state,
            }
        }

        fn store(&self) -> CredentialStore {
            CredentialStore::with_paths(&self.docker, vec![self.podman.clone()]).with_helper_path(
                std::env::join_paths([
                    self.bin.as_path(),
                    Path::new("/usr/bin"),
                    Path::new("/bin"),
                ])
                .unwrap(),
            )
        }

        fn config(&self) -> PathBuf {
            self.docker.join("config.json")
        }

        fn write_config(&self, v: &Value) {
            std::fs::create_dir_all(&self.docker).unwrap();
            std::fs::write(self.config(), serde_json::to_vec_pretty(v).unwrap()).unwrap();
        }

        fn read_config(&self) -> Value {
            serde_json::from_slice(&std::fs::read(self.config()).unwrap()).unwrap()
        }

        /// A fake `docker-credential-test`: `get` answers from `state/get-<hex url>`,
        /// `store` appends its input to `state/store.log`, `erase` removes the get file;
        /// every call is logged to `state/calls`.
        fn install_helper(&self) {
            let script = format!(
                r#"#!/bin/sh
state='{state}'
input=$(cat)
printf '%s %s\n' "$1" "$input" >> "$state/calls"
hex=$(printf '%s' "$input" | od -An -tx1 | tr -d ' \n')
case "$1" in
  get)
    if [ -f "$state/get-$hex" ]; then cat "$state/get-$hex"; exit 0; fi
    echo "credentials not found in native keychain"; exit 1 ;;
  store)
    printf '%s\n' "$input" >> "$state/store.log"; exit 0 ;;
  erase)
    if [ -f "$state/get-$hex" ]; then rm "$state/get-$hex"; exit 0; fi
    echo "credentials not found in native keychain"; exit 1 ;;
  *) echo "unknown action" >&2; exit 2 ;;
esac
"#,
                state = self.state.display()
            );
            let path = self.bin.join("docker-credential-test");
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        fn helper_has(&self, server: &str, user: &str, secret: &str) {
            let hex: String = server.bytes().map(|b| format!("{b:02x}")).collect();
            let body = serde_json::json!({"ServerURL": server, "Username": user, "Secret": secret});
            std::fs::write(self.state.join(format!("get-{hex}")), body.to_string()).unwrap();
        }

        fn calls(&self) -> String {
            std::fs::read_to_string(self.state.join("calls")).unwrap_or_default()
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn missing_files_mean_no_credentials() {
        let env = Env::new();
        let s = env.store();
        assert_eq!(s.get("docker.io").unwrap(), None);
        assert!(!s.erase("docker.io").unwrap());
        assert!(s.stores_plaintext("docker.io"));
        assert_eq!(s.config_path(), env.docker.join("config.json"));
    }

    #[test]
    fn round_trip_in_the_config_file() {
        let env = Env::new();
        let s = env.store();
        s.store(
            "localhost:5000",
            &Credential::basic("alice", "s3cret:with:colons"),
        )
        .unwrap();
        let got = s.get("localhost:5000").unwrap().unwrap();
        assert_eq!(got, Credential::basic("alice", "s3cret:with:colons"));
        let v = env.read_config();
        assert_eq!(
            v["auths"]["localhost:5000"]["auth"],
            b64("alice:s3cret:with:colons")
        );
        assert!(v["auths"]["localhost:5000"].get("password").is_none());

        // Modes: directory 0700, file 0600; docker's tab indentation; no temp files left.
        let dmode = std::fs::metadata(&env.docker).unwrap().permissions().mode() & 0o777;
        let fmode = std::fs::metadata(env.config())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!((dmode, fmode), (0o700, 0o600));
        let text = std::fs::read_to_string(env.config()).unwrap();
        assert!(text.contains("\n\t\"auths\""), "{text}");
        let names: Vec<_> = std::fs::read_dir(&env.docker)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("config.json")]);

        // Identity tokens are kept alongside.
        let tok = Credential {
            username: "bob".into(),
            password: String::new(),
            identity_token: Some("refresh-123".into()),
        };
        s.store("docker.io", &tok).unwrap();
        assert_eq!(s.get("docker.io").unwrap().unwrap(), tok);
        let v = env.read_config();
        assert_eq!(v["auths"][DOCKER_HUB_KEY]["identitytoken"], "refresh-123");
        assert_eq!(v["auths"][DOCKER_HUB_KEY]["auth"], b64("bob:"));

        assert!(s.erase("localhost:5000").unwrap());
        assert_eq!(s.get("localhost:5000").unwrap(), None);
        assert!(!s.erase("localhost:5000").unwrap());
        assert!(s.get("docker.io").unwrap().is_some());
    }

    #[test]
    fn unknown_keys_and_order_are_preserved() {
        let env = Env::new();
        env.write_config(&serde_json::json!({
            "psFormat": "table {{.ID}}",
            "auths": {
                "other.example": {"auth": b64("o:p"), "email": "o@example.com"}
            },
            "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
            "zzz-unknown": [1, 2, {"x": null}],
        }));
        std::fs::set_permissions(env.config(), std::fs::Permissions::from_mode(0o640)).unwrap();
        let s = env.store();
        s.store("reg.example", &Credential::basic("u", "p"))
            .unwrap();
        let v = env.read_config();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["psFormat", "auths", "proxies", "zzz-unknown"]);
        assert_eq!(v["zzz-unknown"], serde_json::json!([1, 2, {"x": null}]));
        assert_eq!(v["proxies"]["default"]["httpProxy"], "http://proxy:3128");
        assert_eq!(v["auths"]["other.example"]["email"], "o@example.com");
        assert_eq!(v["auths"]["reg.example"]["auth"], b64("u:p"));
        // An existing file keeps its mode, as docker does.
        let fmode = std::fs::metadata(env.config())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(fmode, 0o640);

        // Re-login keeps other fields of the entry but replaces the secrets.
        s.store("other.example", &Credential::basic("o2", "p2"))
            .unwrap();
        let v = env.read_config();
        assert_eq!(v["auths"]["other.example"]["email"], "o@example.com");
        assert_eq!(v["auths"]["other.example"]["auth"], b64("o2:p2"));
    }

    #[test]
    fn docker_hub_keys_are_normalised() {
        let env = Env::new();
        env.write_config(&serde_json::json!({
            "auths": {DOCKER_HUB_KEY: {"auth": b64("hubuser:hubpass")}}
        }));
        let s = env.store();
        for name in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "DOCKER.IO",
        ] {
            assert_eq!(
                s.get(name).unwrap(),
                Some(Credential::basic("hubuser", "hubpass")),
                "{name}"
            );
        }
        assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(config_key("index.docker.io"), DOCKER_HUB_KEY);
        assert_eq!(
            config_key("https://Reg.Example:5000/v2/"),
            "reg.example:5000"
        );

        // A login to docker.io writes the canonical key, not "docker.io".
        s.store("docker.io", &Credential::basic("new", "pw"))
            .unwrap();
        let v = env.read_config();
        assert_eq!(v["auths"].as_object().unwrap().len(), 1);
        assert_eq!(v["auths"][DOCKER_HUB_KEY]["auth"], b64("new:pw"));
    }

    #[test]
    fn hosts_match_with_scheme_and_path_variants() {
        let env = Env::new();
        env.write_config(&serde_json::json!({
            "auths": {
                "https://a.example": {"auth": b64("a:1")},
                "http://b.example:5000/v2/": {"username": "b", "password": "2"},
                "c.example/some/path": {"auth": b64("c:3")},
                "d.example": {},
            }
        }));
        let s = env.store();
        assert_eq!(
            s.get("a.example").unwrap(),
            Some(Credential::basic("a", "1"))
        );
        assert_eq!(
            s.get("b.example:5000").unwrap(),
            Some(Credential::basic("b", "2"))
        );
        assert_eq!(s.get("b.example").unwrap(), None);
        assert_eq!(
            s.get("c.example").unwrap(),
            Some(Credential::basic("c", "3"))
        );
        assert_eq!(s.get("d.example").unwrap(), None);

        // The canonical key wins over legacy variants.
        s.store("a.example", &Credential::basic("a", "new"))
            .unwrap();
        assert_eq!(
            s.get("a.example").unwrap(),
            Some(Credential::basic("a", "new"))
        );

        // Logout removes every variant.
        assert!(s.erase("a.example").unwrap());
        let v = env.read_config();
        let keys: Vec<&String> = v["auths"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "http://b.example:5000/v2/",
                "c.example/some/path",
                "d.example"
            ]
        );
    }

    #[test]
    fn podman_auth_file_is_a_fallback() {
        let env = Env::new();
        std::fs::write(
            &env.podman,
            serde_json::json!({
                "auths": {
                    "quay.io": {"auth": b64("pq:pw")},
                    "quay.io/scoped-org": {"auth": b64("scoped:pw")},
                    "ghcr.io/only-org": {"auth": b64("g:pw")},
                    "docker.io": {"auth": b64("pd:pw")},
                }
            })
            .to_string(),
        )
        .unwrap();
        let s = env.store();
        assert_eq!(
            s.get("quay.io").unwrap(),
            Some(Credential::basic("pq", "pw"))
        );
        // Repository-scoped keys do not apply to the whole registry.
        assert_eq!(s.get("ghcr.io").unwrap(), None);
        assert_eq!(
            s.get("docker.io").unwrap(),
            Some(Credential::basic("pd", "pw"))
        );

        // Docker's config comes first.
        env.write_config(&serde_json::json!({"auths": {DOCKER_HUB_KEY: {"auth": b64("dd:pw")}}}));
        assert_eq!(
            s.get("docker.io").unwrap(),
            Some(Credential::basic("dd", "pw"))
        );

        // Logout leaves podman's file alone.
        assert!(s.erase("docker.io").unwrap());
        assert_eq!(
            s.get("docker.io").unwrap(),
            Some(Credential::basic("pd", "pw"))
        );
        assert!(!s.erase("quay.io").unwrap());
        assert_eq!(
            s.get("quay.io").unwrap(),
            Some(Credential::basic("pq", "pw"))
        );
    }

    #[test]
    fn creds_store_helper_get_store_erase() {
        let env = Env::new();
        env.install_helper();
        env.write_config(&serde_json::json!({"credsStore": "test", "auths": {}}));
        let s = env.store();
        assert!(!s.stores_plaintext("reg.example"));

        // Not found in the helper: none, and the config's auths are not consulted.
        assert_eq!(s.get("reg.example").unwrap(), None);

        s.store("reg.example", &Credential::basic("u", "p"))
            .unwrap();
        let log = std::fs::read_to_string(env.state.join("store.log")).unwrap();
        let stored: Value = serde_json::from_str(log.trim()).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"ServerURL": "reg.example", "Username": "u", "Secret": "p"})
        );
        let v = env.read_config();
        assert_eq!(v["auths"]["reg.example"], serde_json::json!({}));
        assert_eq!(v["credsStore"], "test");

        env.helper_has("reg.example", "u", "p");
        assert_eq!(
            s.get("reg.example").unwrap(),
            Some(Credential::basic("u", "p"))
        );

        // Docker Hub goes to the helper under its canonical key; <token> means identity token.
        env.helper_has(DOCKER_HUB_KEY, "<token>", "refresh-xyz");
        assert_eq!(
            s.get("docker.io").unwrap(),
            Some(Credential {
                username: String::new(),
                password: String::new(),
                identity_token: Some("refresh-xyz".into()),
            })
        );

        assert!(s.erase("reg.example").unwrap());
        assert_eq!(s.get("reg.example").unwrap(), None);
        assert!(env.read_config()["auths"].get("reg.example").is_none());
        assert!(env.calls().contains("erase reg.example"), "{}", env.calls());
        assert!(!s.erase("reg.example").unwrap());
    }

    #[test]
    fn cred_helpers_per_registry_and_token_store() {
        let env = Env::new();
        env.install_helper();
        env.write_config(&serde_json::json!({
            "credHelpers": {"helped.example": "test"},
            "auths": {"plain.example": {"auth": b64("pl:pw")}}
        }));
        let s = env.store();
        assert!(!s.stores_plaintext("helped.example"));
        assert!(s.stores_plaintext("plain.example"));
        assert_eq!(
            s.get("plain.example").unwrap(),
            Some(Credential::basic("pl", "pw"))
        );

        let tok = Credential {
            username: "ignored".into(),
            password: String::new(),
            identity_token: Some("tok".into()),
        };
        s.store("helped.example", &tok).unwrap();
        let log = std::fs::read_to_string(env.state.join("store.log")).unwrap();
        let stored: Value = serde_json::from_str(log.trim()).unwrap();
        assert_eq!(stored["Username"], "<token>");
        assert_eq!(stored["Secret"], "tok");
        assert_eq!(
            env.read_config()["auths"]["helped.example"],
            serde_json::json!({})
        );
        // Nothing else went through the helper.
        assert!(!env.calls().contains("plain.example"), "{}", env.calls());
    }

    #[test]
    fn podman_cred_helpers_are_used() {
        let env = Env::new();
        env.install_helper();
        std::fs::write(
            &env.podman,
            serde_json::json!({"credHelpers": {"p.example": "test"}}).to_string(),
        )
        .unwrap();
        env.helper_has("p.example", "pu", "pp");
        let s = env.store();
        assert_eq!(
            s.get("p.example").unwrap(),
            Some(Credential::basic("pu", "pp"))
        );
    }

    #[test]
    fn missing_and_failing_helpers_are_clear_errors() {
        let env = Env::new();
        env.write_config(&serde_json::json!({"credsStore": "desktop"}));
        let s = env.store();
        let e = s.get("reg.example").unwrap_err();
        assert!(matches!(e, CredentialError::HelperNotFound { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("docker-credential-desktop"), "{msg}");
        assert!(msg.contains("credsStore"), "{msg}");
        assert!(msg.contains(&env.config().display().to_string()), "{msg}");

        let failing = env.bin.join("docker-credential-broken");
        std::fs::write(
            &failing,
            "#!/bin/sh\ncat >/dev/null\necho 'keychain locked' >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
        env.write_config(&serde_json::json!({"credHelpers": {"reg.example": "broken"}}));
        let e = s.get("reg.example").unwrap_err();
        assert!(matches!(e, CredentialError::HelperFailed { .. }), "{e:?}");
        assert!(e.to_string().contains("keychain locked"), "{e}");
        assert!(
            s.store("reg.example", &Credential::basic("u", "p"))
                .is_err()
        );

        env.write_config(&serde_json::json!({"credsStore": "../evil"}));
        let e = s.get("reg.example").unwrap_err();
        assert!(
            matches!(e, CredentialError::InvalidHelperName { .. }),
            "{e:?}"
        );
    }

    #[test]
    fn corrupted_config_names_the_file() {
        let env = Env::new();
        std::fs::create_dir_all(&env.docker).unwrap();
        std::fs::write(env.config(), "{\"auths\": {").unwrap();
        let s = env.store();
        let e = s.get("docker.io").unwrap_err();
        assert!(matches!(e, CredentialError::Parse { .. }), "{e:?}");
        assert!(
            e.to_string().contains(&env.config().display().to_string()),
            "{e}"
        );
        // store refuses rather than overwriting the broken file.
        assert!(s.store("docker.io", &Credential::basic("u", "p")).is_err());
        assert_eq!(
            std::fs::read_to_string(env.config()).unwrap(),
            "{\"auths\": {"
        );

        std::fs::write(
            env.config(),
            "{\"auths\": {\"x.example\": {\"auth\": \"!!!\"}}}",
        )
        .unwrap();
        let e = s.get("x.example").unwrap_err();
        assert!(e.to_string().contains("auths[\"x.example\"].auth"), "{e}");

        std::fs::write(env.config(), "{\"auths\": []}").unwrap();
        let e = s.get("x.example").unwrap_err();
        assert!(matches!(e, CredentialError::Malformed { .. }), "{e:?}");

        // An empty file is an empty config, as docker treats it.
        std::fs::write(env.config(), "").unwrap();
        assert_eq!(s.get("x.example").unwrap(), None);
        s.store("x.example", &Credential::basic("u", "p")).unwrap();
        assert!(s.get("x.example").unwrap().is_some());
    }

    #[test]
    fn symlinked_config_stays_a_symlink() {
        let env = Env::new();
        std::fs::create_dir_all(&env.docker).unwrap();
        let real_dir = env.state.join("real");
        std::fs::create_dir_all(&real_dir).unwrap();
        let real = real_dir.join("docker-config.json");
        std::fs::write(&real, "{\"auths\": {}}").unwrap();
        std::os::unix::fs::symlink(&real, env.config()).unwrap();
        let s = env.store();
        s.store("reg.example", &Credential::basic("u", "p"))
            .unwrap();
        assert!(
            std::fs::symlink_metadata(env.config())
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let v: Value = serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
        assert_eq!(v["auths"]["reg.example"]["auth"], b64("u:p"));
    }

    #[test]
    fn invalid_input_is_refused() {
        let env = Env::new();
        let s = env.store();
        assert!(matches!(
            s.get(""),
            Err(CredentialError::InvalidRegistry { .. })
        ));
        assert!(matches!(
            s.store("r.example", &Credential::basic("", "p")),
            Err(CredentialError::InvalidCredential { .. })
        ));
        assert!(matches!(
            s.store("r.example", &Credential::basic("a:b", "p")),
            Err(CredentialError::InvalidCredential { .. })
        ));
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let c = Credential {
            username: "alice".into(),
            password: "hunter2".into(),
            identity_token: Some("tok-secret".into()),
        };
        let d = format!("{c:?}");
        assert!(d.contains("alice"), "{d}");
        assert!(!d.contains("hunter2") && !d.contains("tok-secret"), "{d}");
    }

    #[test]
    fn key_host_normalisation() {
        assert_eq!(docker_key_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(docker_key_host("http://Reg:5000/v2/"), "reg:5000");
        assert_eq!(docker_key_host("reg:5000/x"), "reg:5000");
        assert_eq!(docker_key_host("[::1]:5000"), "[::1]:5000");
        assert_eq!(podman_key_host("quay.io/org"), None);
        assert_eq!(
            podman_key_host("https://quay.io/v2/"),
            Some("quay.io".into())
        );
        assert_eq!(podman_key_host("index.docker.io"), Some("docker.io".into()));
    }
}
