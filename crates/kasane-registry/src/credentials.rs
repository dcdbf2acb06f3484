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

use base64::Engine as _;
use serde::Serialize as _;
use serde_json::{Map, Value};

use helper::{HelperAnswer, helper_for};
pub use keys::config_key;
use keys::{canonical_key, matching_keys, registry_host};

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

mod helper;
mod keys;
#[cfg(test)]
mod tests;
