//! Registry mirrors, insecure and blocked registries: kasane's `registries.toml`.
//!
//! The format is a small subset of podman's `containers-registries.conf(5)` version 2: a list of
//! `[[registry]]` tables, each with its mirrors. The `location` of an entry is both what it
//! matches and where the registry is; there is no separate `prefix`, no wildcards and no
//! search registries.
//!
//! ```toml
//! # /etc/kasane/registries.toml and ~/.config/kasane/registries.toml
//! # (the user file wins for an entry with the same location)
//! [[registry]]
//! location = "docker.io"          # host[:port], optionally with a repository prefix "docker.io/library"
//! insecure = false                # allow plain http / unverified TLS for this registry
//! blocked = false                 # refuse to pull from or push to it
//!
//! [[registry.mirror]]
//! location = "mirror.example:5000"
//! insecure = true
//!
//! [[registry.mirror]]
//! location = "127.0.0.1:5001/cache"   # a mirror may carry a path prefix (namespace)
//! ```
//!
//! Pulling `docker.io/library/busybox` with this file tries, in order:
//! `mirror.example:5000/library/busybox`, `127.0.0.1:5001/cache/library/busybox`, then
//! `docker.io/library/busybox` itself. The entry whose location is the longest prefix of
//! `registry/repository` (at a `/` boundary) applies; the part of the name after that prefix is
//! appended to each mirror's location, as podman does. Pushes never use mirrors.
//!
//! `docker.io`, `index.docker.io` and `registry-1.docker.io` all name Docker Hub, and host
//! names match case-insensitively. Unknown keys are an error, so a typo such as `mirrors = …`
//! does not silently do nothing.
//!
//! Files: `$KASANE_REGISTRIES_CONF` if set (only that file, which must exist), else
//! `/etc/kasane/registries.toml` and then `$XDG_CONFIG_HOME/kasane/registries.toml` (or
//! `~/.config/kasane/registries.toml`); missing default files are fine.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The environment variable naming the one registries file to read instead of the defaults.
pub const REGISTRIES_CONF_ENV: &str = "KASANE_REGISTRIES_CONF";

/// The system-wide registries file.
pub const SYSTEM_REGISTRIES_CONF: &str = "/etc/kasane/registries.toml";

/// What can go wrong with the registries configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A configuration file exists but could not be read.
    #[error("cannot read registries configuration {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `$KASANE_REGISTRIES_CONF` names a file that does not exist.
    #[error(
        "registries configuration {} (from ${REGISTRIES_CONF_ENV}) does not exist; \
         create it or unset {REGISTRIES_CONF_ENV}",
        .path.display()
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// A file is not valid TOML or does not have the expected shape.
    #[error("cannot parse registries configuration {}: {source}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error (its text gives the line and column).
        #[source]
        source: toml::de::Error,
    },
    /// A `location` is not of the form `host[:port][/path]`.
    #[error(
        "invalid location {location:?} in registries configuration {}: {reason}",
        .path.display()
    )]
    InvalidLocation {
        /// The file.
        path: PathBuf,
        /// The location as written.
        location: String,
        /// What is wrong, and the expected form.
        reason: String,
    },
    /// Two `[[registry]]` tables of one file have the same location.
    #[error(
        "registry {location:?} is configured twice in {}; merge the two [[registry]] tables",
        .path.display()
    )]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The location.
        location: String,
    },
    /// The configuration blocks the registry.
    #[error(
        "{reference} is blocked by the [[registry]] entry {location:?} in {}; \
         remove `blocked = true` there to allow it",
        .path.display()
    )]
    Blocked {
        /// The image name refused (`registry/repository`).
        reference: String,
        /// The location of the blocking entry.
        location: String,
        /// The file holding the entry.
        path: PathBuf,
    },
}

/// A mirror of a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorEntry {
    /// `host[:port]` with an optional path prefix, as written (trailing `/` removed).
    pub location: String,
    /// Whether plain http and unverified TLS are allowed for the mirror.
    pub insecure: bool,
}

/// One `[[registry]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// `host[:port]` with an optional repository prefix, as written (trailing `/` removed).
    pub location: String,
    /// Whether plain http and unverified TLS are allowed for the registry.
    pub insecure: bool,
    /// Whether pulling from and pushing to matching names is refused.
    pub blocked: bool,
    /// Mirrors to try before the registry itself, in order.
    pub mirrors: Vec<MirrorEntry>,
    /// The file the entry came from, for messages.
    pub origin: PathBuf,
}

/// Somewhere to pull from (or push to): a host and the repository name to use there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` to connect to (Docker Hub is `docker.io`; the client maps it to its API host).
    pub host: String,
    /// The repository on that host (a mirror's path prefix included).
    pub repository: String,
    /// Whether plain http and unverified TLS are allowed (configured insecure).
    pub insecure: bool,
    /// Whether this is a mirror rather than the registry named by the reference.
    pub mirror: bool,
}

impl Endpoint {
    /// Whether plain http may be used: the endpoint is insecure or on the local host.
    pub fn allows_plain_http(&self) -> bool {
        self.insecure || is_local_host(&self.host)
    }
}

/// The merged registries configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesConfig {
    registries: Vec<RegistryEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    registry: Vec<RawRegistry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror: Vec<RawMirror>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMirror {
    location: String,
    #[serde(default)]
    insecure: bool,
}

impl RegistriesConfig {
    /// Every `[[registry]]` entry, in the order the files were merged.
    pub fn entries(&self) -> &[RegistryEntry] {
        &self.registries
    }

    /// Reads the configuration files named in the module documentation.
    pub fn load_default() -> Result<RegistriesConfig, ConfigError> {
        if let Some(path) = std::env::var_os(REGISTRIES_CONF_ENV).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(path);
            return match read_optional(&path)? {
                Some(text) => RegistriesConfig::parse(&text, &path),
                None => Err(ConfigError::Missing { path }),
            };
        }
        let user_dir = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .map(|h| PathBuf::from(h).join(".config"))
            });
        let mut files = vec![PathBuf::from(SYSTEM_REGISTRIES_CONF)];
        if let Some(dir) = user_dir {
            files.push(dir.join("kasane/registries.toml"));
        }
        RegistriesConfig::load_files(&files)
    }

    /// Reads `files` in order, skipping missing ones; later files override entries of earlier
    /// ones with the same location.
    pub fn load_files(files: &[PathBuf]) -> Result<RegistriesConfig, ConfigError> {
        let mut config = RegistriesConfig::default();
        for path in files {
            if let Some(text) = read_optional(path)? {
                tracing::debug!(path = %path.display(), "reading registries configuration");
                config.merge(RegistriesConfig::parse(&text, path)?);
            }
        }
        Ok(config)
    }

    /// Parses one file's text; `origin` names it in errors and in [`RegistryEntry::origin`].
    pub fn parse(text: &str, origin: &Path) -> Result<RegistriesConfig, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            source: e,
        })?;
        let mut registries: Vec<RegistryEntry> = Vec::with_capacity(raw.registry.len());
        for r in raw.registry {
            let location = check_location(&r.location, origin)?;
            let key = match_key(&location);
            if registries.iter().any(|e| match_key(&e.location) == key) {
                return Err(ConfigError::Duplicate {
                    path: origin.to_owned(),
                    location,
                });
            }
            let mut mirrors = Vec::with_capacity(r.mirror.len());
            for m in r.mirror {
                mirrors.push(MirrorEntry {
                    location: check_location(&m.location, origin)?,
                    insecure: m.insecure,
                });
            }
            registries.push(RegistryEntry {
                location,
                insecure: r.insecure,
                blocked: r.blocked,
                mirrors,
                origin: origin.to_owned(),
            });
        }
        Ok(RegistriesConfig { registries })
    }

    /// Adds `other`'s entries; an entry of `other` replaces one here with the same location.
    pub fn merge(&mut self, other: RegistriesConfig) {
        for entry in other.registries {
            let key = match_key(&entry.location);
            match self
                .registries
                .iter_mut()
                .find(|e| match_key(&e.location) == key)
            {
                Some(existing) => *existing = entry,
                None => self.registries.push(entry),
            }
        }
    }

    /// The configured entries.
    pub fn registries(&self) -> &[RegistryEntry] {
        &self.registries
    }

    /// The entry that applies to `registry/repository`: the longest location that is a
    /// prefix of it at a `/` boundary.
    pub fn find(&self, registry: &str, repository: &str) -> Option<&RegistryEntry> {
        let name = match_key(&join_name(registry, repository));
        self.registries
            .iter()
            .filter_map(|e| {
                let prefix = match_key(&e.location);
                prefix_remainder(&name, &prefix).map(|_| (prefix.len(), e))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, e)| e)
    }

    /// Where to pull `registry/repository` from, in order: the mirrors of the matching entry
    /// (with their rewritten repository names), then the registry itself, always last.
    ///
    /// # Errors
    /// [`ConfigError::Blocked`] when the matching entry is blocked.
    pub fn endpoints(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Vec<Endpoint>, ConfigError> {
        let origin = self.origin_endpoint(registry, repository)?;
        let mut out = Vec::new();
        if let Some(entry) = self.find(registry, repository) {
            let name = join_name(registry, repository);
            let prefix = match_key(&entry.location);
            let remainder = prefix_remainder(&match_key(&name), &prefix)
                .map(|r| r.to_owned())
                .unwrap_or_default();
            for m in &entry.mirrors {
                let rewritten = format!("{}{remainder}", m.location);
                let (host, repo) = split_location(&rewritten);
                if repo.is_empty() {
                    tracing::warn!(
                        mirror = %m.location,
                        name = %name,
                        "skipping mirror: it would leave no repository name"
                    );
                    continue;
                }
                out.push(Endpoint {
                    host: host.to_owned(),
                    repository: repo.to_owned(),
                    insecure: m.insecure || self.is_insecure(host),
                    mirror: true,
                });
            }
        }
        out.push(origin);
        Ok(out)
    }

    /// The registry itself, for pushes (which never use mirrors).
    ///
    /// # Errors
    /// [`ConfigError::Blocked`] when the matching entry is blocked.
    pub fn origin_endpoint(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Endpoint, ConfigError> {
        let entry = self.find(registry, repository);
        if let Some(e) = entry.filter(|e| e.blocked) {
            return Err(ConfigError::Blocked {
                reference: join_name(registry, repository),
                location: e.location.clone(),
                path: e.origin.clone(),
            });
        }
        Ok(Endpoint {
            host: registry.to_owned(),
            repository: repository.to_owned(),
            insecure: entry.is_some_and(|e| e.insecure) || self.is_insecure(registry),
            mirror: false,
        })
    }

    /// Whether `host` (`host[:port]`) is configured insecure, by a registry or a mirror entry
    /// on that host (TLS settings are per host, so a path prefix does not narrow it).
    pub fn is_insecure(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.registries.iter().any(|e| {
            (e.insecure && normalize_host(split_location(&e.location).0) == host)
                || e.mirrors
                    .iter()
                    .any(|m| m.insecure && normalize_host(split_location(&m.location).0) == host)
        })
    }
}

/// Whether `host` (`host[:port]`, IPv6 in brackets or bare) is the local machine:
/// `localhost`, `127.0.0.0/8` or `::1`. Plain http is allowed for these without configuration.
pub fn is_local_host(host: &str) -> bool {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, after)) if after.is_empty() || after.starts_with(':') => inside,
            _ => return false,
        }
    } else if h.parse::<IpAddr>().is_ok() {
        // A bare IPv6 address (colons are not a port separator here) or IPv4.
        h
    } else {
        match h.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => h,
        }
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::Read {
            path: path.to_owned(),
            source: e,
        }),
    }
}

fn check_location(raw: &str, origin: &Path) -> Result<String, ConfigError> {
    let bad = |reason: &str| ConfigError::InvalidLocation {
        path: origin.to_owned(),
        location: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let location = raw.trim_end_matches('/');
    if location.is_empty() {
        return Err(bad("it is empty; expected host[:port][/path]"));
    }
    if location.contains("://") {
        return Err(bad(
            "URL schemes are not supported; write host[:port][/path] and set `insecure = true` for plain http",
        ));
    }
    if location.starts_with("*.") {
        return Err(bad("wildcard locations are not supported; list each host"));
    }
    if location
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad("it contains whitespace"));
    }
    let (host, path) = split_location(location);
    if host.is_empty() {
        return Err(bad("the host is empty; expected host[:port][/path]"));
    }
    if host.contains('@') {
        return Err(bad(
            "credentials do not belong in a location; use `kasane login`",
        ));
    }
    if !path.is_empty() {
        if path.split('/').any(str::is_empty) {
            return Err(bad("the path has an empty component (\"//\")"));
        }
        if path.contains(':') || path.contains('@') {
            return Err(bad(
                "the path may not carry a tag or digest; write a repository prefix",
            ));
        }
    }
    Ok(location.to_owned())
}

/// `host` and `path` of `host[:port][/path]` (path without its leading `/`).
fn split_location(location: &str) -> (&str, &str) {
    location.split_once('/').unwrap_or((location, ""))
}

fn join_name(registry: &str, repository: &str) -> String {
    if repository.is_empty() {
        registry.to_owned()
    } else {
        format!("{registry}/{repository}")
    }
}

/// Lower-cases the host and maps Docker Hub's aliases to `docker.io`.
fn normalize_host(host: &str) -> String {
    let h = host.to_ascii_lowercase();
    match h.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => h,
    }
}

/// The form of a location or name used for matching: normalised host, path as is.
fn match_key(location: &str) -> String {
    let (host, path) = split_location(location);
    let host = normalize_host(host);
    if path.is_empty() && !location.contains('/') {
        host
    } else {
        format!("{host}/{path}")
    }
}

/// If `prefix` is `name` or a prefix of it ending at a `/`, the rest of `name` (empty, or
/// starting with `/`).
fn prefix_remainder<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests;
