//! Registry names and the keys docker and podman file credentials under: Docker Hub's
//! legacy URL, `host[:port]`, scheme and path variants, podman's repository-scoped keys.

use serde_json::{Map, Value};

use super::{CredentialError, DOCKER_HUB_KEY, KeyStyle};

/// The `auths` key docker uses for `registry`: `https://index.docker.io/v1/` for Docker Hub,
/// else `host[:port]` (any scheme or path given is dropped, the host lower-cased).
pub fn config_key(registry: &str) -> String {
    canonical_key(&docker_key_host(registry))
}

pub(super) fn canonical_key(host: &str) -> String {
    if host == "docker.io" {
        DOCKER_HUB_KEY.to_owned()
    } else {
        host.to_owned()
    }
}

/// The normalised host of a registry name given by a caller.
pub(super) fn registry_host(registry: &str) -> Result<String, CredentialError> {
    let host = docker_key_host(registry);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CredentialError::InvalidRegistry {
            registry: registry.to_owned(),
        });
    }
    Ok(host)
}

/// Docker's `ConvertToHostname`, lower-cased, with Docker Hub's aliases mapped to `docker.io`.
pub(super) fn docker_key_host(key: &str) -> String {
    let key = key.trim();
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    normalize_host(host)
}

/// Podman's key normalisation: URLs lose scheme and path; other keys with a path are scoped
/// to a repository and do not name a whole registry (`None`).
pub(super) fn podman_key_host(key: &str) -> Option<String> {
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
pub(super) fn matching_keys(map: &Map<String, Value>, host: &str, style: KeyStyle) -> Vec<String> {
    let canonical = canonical_key(host);
    let mut keys: Vec<String> = map
        .keys()
        .filter(|k| key_host(k, style).as_deref() == Some(host))
        .cloned()
        .collect();
    keys.sort_by_key(|k| *k != canonical && *k != host);
    keys
}
