//! Image references: `[registry/][repository/]name[:tag][@digest]`, normalised as docker does.
//!
//! Owns: [`Reference`], the grammar of names, tags and digests, docker's normalisation
//! (`ParseNormalizedNamed` in `github.com/distribution/reference`) and its short "familiar"
//! form.
//!
//! Grammar (hand-written; docker's regular expressions, spelled out):
//! ```text
//! reference   := name [ ":" tag ] [ "@" digest ]
//! name        := [ registry "/" ] path
//! registry    := host [ ":" port ]           host: DNS name, IPv4, or "[" IPv6 "]"
//! path        := component ( "/" component )*                at most 255 characters
//! component   := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag         := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest      := algorithm ":" hex           sha256 or sha512, lower-case hex
//! ```
//!
//! Normalisation, worked through:
//! - `nginx` → `docker.io/library/nginx` (one component: a Docker Hub official image);
//! - `foo/bar:1` → `docker.io/foo/bar:1` (the first component is a registry only if it
//!   contains `.` or `:`, is `localhost`, or has upper case letters);
//! - `localhost:5000/x` → registry `localhost:5000`, repository `x`;
//! - `index.docker.io/foo` → `docker.io/library/foo`;
//! - `test.com:5000` → `docker.io/library/test.com:5000` (no `/`: `5000` is a tag!);
//! - `Nginx` → error `repository name (library/Nginx) must be lowercase`;
//! - 64 hex characters alone → error: that is an image ID, not a name.
//!
//! The familiar form ([`Reference::familiar`]) undoes the Docker Hub defaults for display:
//! `docker.io/library/nginx:latest` → `nginx:latest`.
//!
//! Deviations from docker, both for inputs docker itself mishandles:
//! - a first component that looks like a registry but is not a valid host (`foo_bar.com/x`)
//!   is refused; docker accepts it with an *empty* registry;
//! - the familiar name keeps `docker.io/` where dropping it would change the meaning on a
//!   second parse (`docker.io/foo.bar/x`, a 64-hex official image name), so
//!   `familiar()` always parses back to the same reference.
//!
//! Spec: distribution `reference` package grammar; OCI distribution-spec (tags `[a-zA-Z0-9_]
//! [a-zA-Z0-9._-]{0,127}`, repository names).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ReferenceError;
use crate::{Digest, OciError};

/// The registry that references without a registry part point to (Docker Hub).
pub const DOCKER_HUB_REGISTRY: &str = "docker.io";
/// Docker Hub's legacy name, normalised to [`DOCKER_HUB_REGISTRY`] when parsing.
pub const DOCKER_HUB_LEGACY_REGISTRY: &str = "index.docker.io";
/// The namespace of Docker Hub's official images (`nginx` is `library/nginx`).
pub const OFFICIAL_NAMESPACE: &str = "library";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest repository path accepted.
pub const MAX_REPOSITORY_LEN: usize = 255;

/// A fully qualified image reference, e.g. `docker.io/library/nginx:latest`.
///
/// The fields are plain data. Values made by [`FromStr`] and the `with_*` methods always
/// satisfy the grammar, so [`Display`](fmt::Display) output parses back to an equal value;
/// code that fills the fields by hand is responsible for that itself.
///
/// ```
/// use kasane_oci::Reference;
///
/// let r: Reference = "nginx".parse()?;
/// assert_eq!(r.to_string(), "docker.io/library/nginx");
/// let r = r.with_default_tag();
/// assert_eq!((r.registry.as_str(), r.repository.as_str()), ("docker.io", "library/nginx"));
/// assert_eq!(r.familiar(), "nginx:latest");
///
/// let r: Reference = "localhost:5000/team/app:1.2".parse()?;
/// assert_eq!(r.familiar_name(), "localhost:5000/team/app");
/// assert!("Nginx".parse::<Reference>().is_err());
/// # Ok::<(), kasane_oci::OciError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host with optional port (`docker.io`, `localhost:5000`, `[::1]:5000`).
    pub registry: String,
    /// Repository path inside the registry (`library/nginx`, `foo/bar`).
    pub repository: String,
    /// Tag, if given (`latest`, `1.27-alpine`).
    pub tag: Option<String>,
    /// Digest of the manifest, if given; it pins the content, the tag is then informative.
    pub digest: Option<Digest>,
}

impl Reference {
    /// The name without tag or digest: `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short name docker shows: `nginx`, `foo/bar`, `localhost:5000/x`
    /// (docker's `FamiliarName`, see the module docs for the one deviation).
    pub fn familiar_name(&self) -> String {
        if self.registry != DOCKER_HUB_REGISTRY {
            return self.name();
        }
        let short = match self.repository.strip_prefix("library/") {
            Some(rest) if !rest.contains('/') => rest,
            _ => self.repository.as_str(),
        };
        // Keep the registry when the short form would parse as something else.
        let first = short.split('/').next().unwrap_or_default();
        let ambiguous = if short.contains('/') {
            looks_like_registry(first)
        } else {
            is_hex_identifier(short)
        };
        if ambiguous {
            self.name()
        } else {
            short.to_owned()
        }
    }

    /// The short form docker shows: `nginx:latest`, `foo/bar@sha256:…`
    /// (docker's `FamiliarString`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        s
    }

    /// Adds the `latest` tag when there is neither tag nor digest (docker's `TagNameOnly`).
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// The same reference with `tag` (replacing any tag; a digest is kept).
    ///
    /// # Errors
    /// [`OciError::InvalidReference`] when `tag` breaks the tag grammar.
    pub fn with_tag(mut self, tag: &str) -> Result<Self, OciError> {
        if !is_tag(tag) {
            return Err(OciError::InvalidReference {
                input: tag.to_owned(),
                reason: ReferenceError::Tag(tag.to_owned()),
            });
        }
        self.tag = Some(tag.to_owned());
        Ok(self)
    }

    /// The same reference pinned to `digest` (a tag is kept).
    pub fn with_digest(mut self, digest: Digest) -> Self {
        self.digest = Some(digest);
        self
    }

    /// The same repository without tag or digest.
    pub fn without_tag_or_digest(&self) -> Self {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: None,
        }
    }

    /// The tag, or `latest` when none was given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// Whether the registry is Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB_REGISTRY
    }
}

fn push_suffix(s: &mut String, tag: Option<&str>, digest: Option<&Digest>) {
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(digest) = digest {
        s.push('@');
        s.push_str(&digest.to_string());
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form: `docker.io/library/nginx:latest@sha256:…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = OciError;

    /// Parses and normalises like docker's `ParseNormalizedNamed`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_normalized(s).map_err(|reason| OciError::InvalidReference {
            input: s.to_owned(),
            reason,
        })
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether a first path component would be taken as a registry by the parser.
fn looks_like_registry(first: &str) -> bool {
    first == "localhost" || first.contains(['.', ':']) || first.to_lowercase() != first
}

/// Whether `s` is exactly 64 lower-case hex characters (an image ID).
fn is_hex_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// docker's `splitDockerDomain`: the registry and the rest (path, tag and digest).
fn split_registry(s: &str) -> (String, String) {
    let (registry, rest) = match s.split_once('/') {
        None => return (DOCKER_HUB_REGISTRY.to_owned(), format!("library/{s}")),
        Some((DOCKER_HUB_LEGACY_REGISTRY, rest)) => (DOCKER_HUB_REGISTRY, rest),
        Some((first, rest)) if looks_like_registry(first) => (first, rest),
        Some(_) => (DOCKER_HUB_REGISTRY, s),
    };
    let rest = if registry == DOCKER_HUB_REGISTRY && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest.to_owned()
    };
    (registry.to_owned(), rest)
}

/// The parser behind [`Reference::from_str`].
fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
    if s.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if is_hex_identifier(s) {
        return Err(ReferenceError::HexIdentifier(s.to_owned()));
    }
    let (registry, rest) = split_registry(s);
    // docker checks everything before the first ':' of the remainder, digest included.
    let remote = rest.split(':').next().unwrap_or_default();
    if remote.to_lowercase() != remote {
        return Err(ReferenceError::Uppercase(remote.to_owned()));
    }

    let (name_tag, digest) = match rest.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (rest.as_str(), None),
    };
    let (path, tag) = match name_tag.rsplit_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (name_tag, None),
    };
    // The registry was split off already, so the path holds no ':' and the tag no '/'.
    if !is_registry(&registry) {
        return Err(ReferenceError::Registry(registry));
    }
    if !is_path(path) {
        return Err(if path.is_empty() || path.split('/').any(str::is_empty) {
            ReferenceError::Format
        } else {
            ReferenceError::Repository(path.to_owned())
        });
    }
    if let Some(tag) = tag.filter(|t| !is_tag(t)) {
        return Err(ReferenceError::Tag(tag.to_owned()));
    }
    if digest.is_some_and(|d| !is_digest_syntax(d)) {
        return Err(ReferenceError::Format);
    }
    if path.len() > MAX_REPOSITORY_LEN {
        return Err(ReferenceError::NameTooLong);
    }
    let digest = digest
        .map(Digest::from_str)
        .transpose()
        .map_err(ReferenceError::Digest)?;
    Ok(Reference {
        registry,
        repository: path.to_owned(),
        tag: tag.map(str::to_owned),
        digest,
    })
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    (1..=128).contains(&b.len())
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// One or more `/`-separated path components.
fn is_path(s: &str) -> bool {
    !s.is_empty() && s.split('/').all(is_path_component)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_path_component(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        // A run of alphanumerics is required here: at the start and after each separator.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' if b.get(i + 1) == Some(&b'_') => i += 2,
            b'_' => i += 1,
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `host[:port]`: a DNS-like name or IPv4 address, or an IPv6 address in brackets.
fn is_registry(s: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, after)) => (
                !ip.is_empty() && ip.bytes().all(|c| c.is_ascii_hexdigit() || c == b':'),
                after,
            ),
            None => return false,
        }
    } else {
        let (host, port) = match s.find(':') {
            Some(i) => s.split_at(i),
            None => (s, ""),
        };
        (
            !host.is_empty() && host.split('.').all(is_domain_component),
            port,
        )
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        _ => false,
    }
}

/// docker's digest syntax (any algorithm name, at least 32 hex digits); whether the
/// algorithm is supported and the length right is checked by [`Digest`] afterwards.
fn is_digest_syntax(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(u8::is_ascii_alphanumeric)
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
