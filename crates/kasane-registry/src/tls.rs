//! Per-host TLS material from `certs.d` directories, as docker and podman read it.
//!
//! For a registry `host[:port]` every base directory is searched for a sub-directory named
//! exactly `host[:port]` (for example `/etc/docker/certs.d/myregistry:5000/`). In it:
//!
//! * `*.crt` files are extra root CAs, added to (not replacing) the system trust store. A file
//!   may hold a bundle of several PEM certificates; a DER-encoded file is accepted too.
//! * `NAME.cert` + `NAME.key` are a client certificate and its private key (mutual TLS). A
//!   `.cert` without its `.key`, or a `.key` without its `.cert`, is an error, as in docker.
//! * Anything else is ignored.
//!
//! Base directories, in order: `$KASANE_CERTS_DIRS` (colon-separated; when set and not empty it
//! replaces the defaults), else `/etc/docker/certs.d`, `/etc/containers/certs.d` and
//! `~/.config/containers/certs.d`. Unlike podman, which only uses the first directory that
//! exists, the material of every matching directory is collected; the first client key pair
//! found wins. Directories that are missing or not readable (permission denied, as for a
//! rootless user and a root-only `/etc` directory) are skipped.
//!
//! This module only reads files; [`HostTls::apply`] hands the material to a
//! [`reqwest::blocking::ClientBuilder`].

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// The environment variable listing the certs.d base directories (colon-separated).
pub const CERTS_DIRS_ENV: &str = "KASANE_CERTS_DIRS";

/// The default certs.d base directories that do not depend on the user (docker's, then podman's).
pub const SYSTEM_CERTS_DIRS: [&str; 2] = ["/etc/docker/certs.d", "/etc/containers/certs.d"];

/// What can go wrong while reading or applying certs.d material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The host name cannot name a certs.d directory (empty, or holding `/` or `..`).
    #[error(
        "invalid registry host {host:?} for a certs.d lookup: expected host[:port] without '/'"
    )]
    InvalidHost {
        /// The host as given.
        host: String,
    },
    /// A certs.d directory exists but could not be listed.
    #[error("cannot list TLS directory {}: {source}; check its permissions", .path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A certificate or key file could not be read.
    #[error("cannot read TLS file {}: {source}; check its permissions", .path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A client certificate (`.cert`) has no private key (`.key`) next to it.
    #[error(
        "missing key {} for client certificate {}: put the private key next to it, \
         or rename the file to end in .crt if it is a CA certificate",
        .key.display(), .cert.display()
    )]
    MissingKey {
        /// The `.cert` file found.
        cert: PathBuf,
        /// The `.key` file expected.
        key: PathBuf,
    },
    /// A private key (`.key`) has no client certificate (`.cert`) next to it.
    #[error(
        "missing client certificate {} for key {}: put the certificate next to it, or remove the key",
        .cert.display(), .key.display()
    )]
    MissingCert {
        /// The `.key` file found.
        key: PathBuf,
        /// The `.cert` file expected.
        cert: PathBuf,
    },
    /// A `.crt` file holds no usable certificate.
    #[error(
        "CA file {} holds no usable certificate: {reason}; \
         files ending in .crt in certs.d must be PEM (-----BEGIN CERTIFICATE-----) or DER certificates",
        .path.display()
    )]
    BadCa {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A `.cert`/`.key` pair cannot be used as a client identity.
    #[error(
        "client certificate {} with key {} cannot be used: {reason}",
        .cert.display(), .key.display()
    )]
    BadIdentity {
        /// The `.cert` file.
        cert: PathBuf,
        /// The `.key` file.
        key: PathBuf,
        /// What is wrong with them (and what to do).
        reason: String,
    },
    /// reqwest refused the material when it was handed over.
    #[error("cannot use the TLS material for {host} ({what}): {source}")]
    Apply {
        /// The registry host.
        host: String,
        /// Which material ("extra root CA #2", "client certificate").
        what: String,
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
}

/// A client certificate and its private key, for registries that require mutual TLS.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate (chain) in PEM form, as read from `NAME.cert`.
    pub cert_pem: Vec<u8>,
    /// The private key in PEM form, as read from `NAME.key` (secret: never printed by `Debug`).
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &format_args!("<{} bytes>", self.cert_pem.len()))
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

impl ClientIdentity {
    /// The certificate and key as one PEM document for [`reqwest::Identity::from_pem`].
    ///
    /// Only certificate and private-key blocks are kept: reqwest rejects other sections such as
    /// the `EC PARAMETERS` block `openssl ecparam -genkey` writes before the key.
    pub fn combined_pem(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.cert_pem.len() + self.key_pem.len() + 1);
        for pem in [&self.cert_pem, &self.key_pem] {
            for (label, block) in pem_blocks(pem) {
                if matches!(
                    label,
                    "CERTIFICATE" | "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
                ) {
                    out.extend_from_slice(block);
                    out.push(b'\n');
                }
            }
        }
        out
    }
}

/// The TLS material certs.d holds for one registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostTls {
    /// Extra root CAs, one entry per `.crt` file, in PEM form (a file may hold several).
    pub roots: Vec<Vec<u8>>,
    /// The client identity (the first `.cert`/`.key` pair found), if any.
    pub identity: Option<ClientIdentity>,
    /// The `<base>/<host>` directories that existed and were read, for diagnostics.
    pub dirs_used: Vec<PathBuf>,
}

impl HostTls {
    /// Reads the material for `host` (`host[:port]` as in image references) from the
    /// configured base directories (see the module documentation).
    pub fn for_host(host: &str) -> Result<HostTls, TlsConfigError> {
        HostTls::for_host_in(&default_bases(), host)
    }

    /// Reads the material for `host` from `<base>/<host>/` for each of `bases`, in order.
    pub fn for_host_in(bases: &[PathBuf], host: &str) -> Result<HostTls, TlsConfigError> {
        if host.is_empty()
            || host.contains('/')
            || host.contains('\\')
            || host.contains('\0')
            || host == "."
            || host == ".."
        {
            return Err(TlsConfigError::InvalidHost {
                host: host.to_owned(),
            });
        }
        let mut out = HostTls::default();
        for base in bases {
            let dir = base.join(host);
            let Some(names) = list_dir(&dir)? else {
                continue;
            };
            tracing::debug!(dir = %dir.display(), "reading TLS material");
            out.dirs_used.push(dir.clone());
            read_host_dir(&dir, &names, &mut out)?;
        }
        Ok(out)
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.identity.is_none()
    }

    /// Adds the extra roots (merged with the built-in trust store) and the client identity
    /// to `builder`.
    pub fn apply(
        &self,
        builder: reqwest::blocking::ClientBuilder,
    ) -> Result<reqwest::blocking::ClientBuilder, TlsConfigError> {
        let host = self
            .dirs_used
            .first()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut certs = Vec::new();
        for (i, pem) in self.roots.iter().enumerate() {
            let bundle =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| TlsConfigError::Apply {
                    host: host.clone(),
                    what: format!("extra root CA #{}", i + 1),
                    source: e,
                })?;
            certs.extend(bundle);
        }
        let mut builder = if certs.is_empty() {
            builder
        } else {
            builder.tls_certs_merge(certs)
        };
        if let Some(id) = &self.identity {
            let identity = reqwest::Identity::from_pem(&id.combined_pem()).map_err(|e| {
                TlsConfigError::Apply {
                    host: host.clone(),
                    what: "client certificate".to_owned(),
                    source: e,
                }
            })?;
            builder = builder.identity(identity);
        }
        Ok(builder)
    }
}

/// The base directories searched by [`HostTls::for_host`]: `$KASANE_CERTS_DIRS` when set,
/// else the system directories and `~/.config/containers/certs.d`.
pub fn default_bases() -> Vec<PathBuf> {
    bases_from(
        std::env::var_os(CERTS_DIRS_ENV),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn bases_from(env: Option<OsString>, home: Option<PathBuf>) -> Vec<PathBuf> {
    if let Some(list) = env.filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    let mut bases: Vec<PathBuf> = SYSTEM_CERTS_DIRS.iter().map(PathBuf::from).collect();
    if let Some(home) = home.filter(|h| !h.as_os_str().is_empty()) {
        bases.push(home.join(".config/containers/certs.d"));
    }
    bases
}

/// The sorted file names in `dir`, or `None` when it does not exist or may not be read.
fn list_dir(dir: &Path) -> Result<Option<Vec<String>>, TlsConfigError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::PermissionDenied
            ) =>
        {
            if e.kind() == io::ErrorKind::PermissionDenied {
                tracing::debug!(dir = %dir.display(), "skipping unreadable certs directory");
            }
            return Ok(None);
        }
        Err(e) => {
            return Err(TlsConfigError::ReadDir {
                path: dir.to_owned(),
                source: e,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TlsConfigError::ReadDir {
            path: dir.to_owned(),
            source: e,
        })?;
        // Follows symlinks: a link to a certificate elsewhere is common.
        let is_file = std::fs::metadata(entry.path())
            .map(|m| m.is_file())
            .unwrap_or(false);
        if !is_file {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(Some(names))
}

fn read_host_dir(dir: &Path, names: &[String], out: &mut HostTls) -> Result<(), TlsConfigError> {
    let has = |n: &str| names.iter().any(|x| x == n);
    for name in names {
        let path = dir.join(name);
        if name.ends_with(".crt") {
            let data = read(&path)?;
            out.roots.push(ca_to_pem(&path, data)?);
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key_name = format!("{stem}.key");
            let key_path = dir.join(&key_name);
            if !has(&key_name) {
                return Err(TlsConfigError::MissingKey {
                    cert: path,
                    key: key_path,
                });
            }
            let identity = ClientIdentity {
                cert_pem: read(&path)?,
                key_pem: read(&key_path)?,
            };
            check_identity(&path, &key_path, &identity)?;
            if out.identity.is_none() {
                out.identity = Some(identity);
            } else {
                tracing::warn!(
                    cert = %path.display(),
                    "ignoring an additional client certificate: only the first one found is used"
                );
            }
        } else if let Some(stem) = name.strip_suffix(".key") {
            let cert_name = format!("{stem}.cert");
            if !has(&cert_name) {
                return Err(TlsConfigError::MissingCert {
                    key: path,
                    cert: dir.join(cert_name),
                });
            }
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| TlsConfigError::ReadFile {
        path: path.to_owned(),
        source: e,
    })
}

/// Validates a `.crt` file and returns it as PEM (DER input is wrapped).
fn ca_to_pem(path: &Path, data: Vec<u8>) -> Result<Vec<u8>, TlsConfigError> {
    let bad = |reason: String| TlsConfigError::BadCa {
        path: path.to_owned(),
        reason,
    };
    let is_pem = data.windows(11).any(|w| w == b"-----BEGIN ");
    let pem = if is_pem {
        data
    } else if data.first() == Some(&0x30) {
        der_to_pem("CERTIFICATE", &data)
    } else if data.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("the file is empty".to_owned()));
    } else {
        return Err(bad("it is neither PEM nor DER".to_owned()));
    };
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if certs.is_empty() => Err(bad("no CERTIFICATE block found".to_owned())),
        Ok(_) => Ok(pem),
        Err(e) => Err(bad(e.to_string())),
    }
}

fn check_identity(cert: &Path, key: &Path, id: &ClientIdentity) -> Result<(), TlsConfigError> {
    let bad = |reason: String| TlsConfigError::BadIdentity {
        cert: cert.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let labels = |pem: &[u8]| -> Vec<String> {
        pem_blocks(pem)
            .into_iter()
            .map(|(l, _)| l.to_owned())
            .collect()
    };
    let cert_labels = labels(&id.cert_pem);
    let key_labels = labels(&id.key_pem);
    if !cert_labels.iter().any(|l| l == "CERTIFICATE") {
        return Err(bad(format!(
            "{} holds no PEM CERTIFICATE block",
            cert.display()
        )));
    }
    if key_labels.iter().any(|l| l == "ENCRYPTED PRIVATE KEY") {
        return Err(bad(format!(
            "the key in {} is encrypted; decrypt it (openssl pkey -in KEY -out KEY) first",
            key.display()
        )));
    }
    if !key_labels.iter().any(|l| l.ends_with("PRIVATE KEY")) {
        return Err(bad(format!(
            "{} holds no PEM private key block",
            key.display()
        )));
    }
    reqwest::Identity::from_pem(&id.combined_pem())
        .map(drop)
        .map_err(|e| bad(e.to_string()))
}

/// Splits PEM text into `(label, whole block)` pairs; text outside blocks is skipped.
fn pem_blocks(pem: &[u8]) -> Vec<(&str, &[u8])> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = pem;
    let mut offset = 0;
    while let Some(start) = find(rest, BEGIN) {
        let abs_start = offset + start;
        let after = &pem[abs_start + BEGIN.len()..];
        let Some(label_end) = find(after, b"-----") else {
            break;
        };
        let label_bytes = &after[..label_end];
        let Ok(label) = std::str::from_utf8(label_bytes) else {
            break;
        };
        let end_marker = format!("-----END {label}-----");
        let body_start = abs_start + BEGIN.len() + label_end + 5;
        let Some(end_rel) = find(&pem[body_start..], end_marker.as_bytes()) else {
            break;
        };
        let block_end = body_start + end_rel + end_marker.len();
        out.push((label, &pem[abs_start..block_end]));
        offset = block_end;
        rest = &pem[block_end..];
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn der_to_pem(label: &str, der: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated once with:
    //   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    //     -keyout ca.key -out ca.crt -days 36500 -subj "/CN=kasane test CA"
    // (and likewise for the client pair; the SEC1 key with `openssl ecparam -genkey`).
    const CA_CRT: &str = "-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIULq/Op3aP5gAXtECrxLPb0vyvqLQwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOa2FzYW5lIHRlc3QgQ0EwIBcNMjYxMTIyMTYyMDA0WhgPMjEy
NjEwMjkxNjIwMDRaMBkxFzAVBgNVBAMMDmthc2FuZSB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE2WMxnRGgvF3zOJSC49dvWnl132H1wDeaQnJCYBH+
wxgFAWZGvqKbMIpCQCQ5frxr4gzHKLDI7g5puDZ727/MX6NTMFEwHQYDVR0OBBYE
FGf0i0uRBH7HXjCojchKp7eO652oMB8GA1UdIwQYMBaAFGf0i0uRBH7HXjCojchK
p7eO652oMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAPzBTtGM
G7SRp/ufHZK2VAGA17vsCfZoQTcBz86QBJPYAiB3wAgqDrOtuMQ231mmv/ROki06
DZirAhxZ0T14BzRELw==
-----END CERTIFICATE-----
";
    const CLIENT_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBkjCCATegAwIBAgIUBnfEuw4gkbJw9lTMsJ/FUef0TQswCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSa2FzYW5lIHRlc3QgY2xpZW50MCAXDTI2MTEyMjE2MjAwNFoY
DzIxMjYxMDI5MTYyMDA0WjAdMRswGQYDVQQDDBJrYXNhbmUgdGVzdCBjbGllbnQw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASkAB2+6f+0iyUsmIZjqHQ7ydJGsUaA
tQeovevMlj6tlgmfnoYR7ehPdqhCfdGcQzonL8MIHNNhpCNQ7F+boqxGo1MwUTAd
BgNVHQ4EFgQUCV0F7YDYr4di+/XK8Ad9s1AXeJkwHwYDVR0jBBgwFoAUCV0F7YDY
r4di+/XK8Ad9s1AXeJkwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBG
AiEAm1JBMQxsJX/DJrG9nPvyuQhar68AF0nCWiuqDWSflbgCIQCj43Ebn94OxnYG
r7c5Y47lM8ML1/Bcs0ajlEwOJWkQbw==
-----END CERTIFICATE-----
";
    const CLIENT_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgp/xlxLE0sB5f9bCC
Lrh4pJxtb8WVCc4RsYONysiuat2hRANCAASkAB2+6f+0iyUsmIZjqHQ7ydJGsUaA
tQeovevMlj6tlgmfnoYR7ehPdqhCfdGcQzonL8MIHNNhpCNQ7F+boqxG
-----END PRIVATE KEY-----
";
    const SEC1_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUeV/bbF7kcRkwLbIFl5q2lLzQWVswCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSa2FzYW5lIHNlYzEgY2xpZW50MCAXDTI2MTEyMjE2MjAwNFoY
DzIxMjYxMDI5MTYyMDA0WjAdMRswGQYDVQQDDBJrYXNhbmUgc2VjMSBjbGllbnQw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASBQzpB+nNy6BPQZqZ5y5IgSj41S2Di
CWN8ay+RvOfbzuk4fbc0HGEVJ0uFSnWrduNe/E3qkqKm3gvIIJFzJXnHo1MwUTAd
BgNVHQ4EFgQU+CF7A5uqgSEcvMTFxnp14N6OhPAwHwYDVR0jBBgwFoAU+CF7A5uq
gSEcvMTFxnp14N6OhPAwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEAk5j0R7rvXANdOTUwo/Rvwv4ykgwThWmNz9ugLYuNxa4CIANfUTidaAaFm4mN
bXh49sRPY0rA7Wstac8VSYWJwugH
-----END CERTIFICATE-----
";
    const SEC1_KEY: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIB3vPhVNzb+bWsMNyeUzWQBb1erJPqQ4ciUL68XOAI+hoAoGCCqGSM49
AwEHoUQDQgAEgUM6QfpzcugT0GamecuSIEo+NUtg4gljfGsvkbzn287pOH23NBxh
FSdLhUp1q3bjXvxN6pKipt4LyCCRcyV5xw==
-----END EC PRIVATE KEY-----
";

    fn host_dir(base: &Path, host: &str) -> PathBuf {
        let d = base.join(host);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn pem_to_der(pem: &str) -> Vec<u8> {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }

    #[test]
    fn nothing_configured_is_empty() {
        let t = tempfile::tempdir().unwrap();
        let tls = HostTls::for_host_in(&[t.path().to_owned()], "reg.example:5000").unwrap();
        assert!(tls.is_empty());
        assert!(tls.dirs_used.is_empty());
        // Applying nothing still yields a working builder.
        tls.apply(reqwest::blocking::Client::builder())
            .unwrap()
            .build()
            .unwrap();
    }

    #[test]
    fn reads_roots_and_identity_and_applies_them() {
        let t = tempfile::tempdir().unwrap();
        let d = host_dir(t.path(), "reg.example:5000");
        // A bundle of two certificates in one file, and a second file.
        std::fs::write(d.join("ca.crt"), format!("{CA_CRT}{SEC1_CERT}")).unwrap();
        std::fs::write(d.join("other.crt"), CA_CRT).unwrap();
        std::fs::write(d.join("client.cert"), CLIENT_CERT).unwrap();
        std::fs::write(d.join("client.key"), CLIENT_KEY).unwrap();
        std::fs::write(d.join("README"), "ignored").unwrap();

        let tls = HostTls::for_host_in(&[t.path().to_owned()], "reg.example:5000").unwrap();
        assert_eq!(tls.roots.len(), 2);
        assert_eq!(tls.dirs_used, vec![d.clone()]);
        let id = tls.identity.as_ref().unwrap();
        assert_eq!(id.cert_pem, CLIENT_CERT.as_bytes());
        assert_eq!(id.key_pem, CLIENT_KEY.as_bytes());
        assert!(
            !format!("{id:?}").contains("MIGHAgEA"),
            "Debug leaks the key"
        );

        tls.apply(reqwest::blocking::Client::builder())
            .unwrap()
            .build()
            .unwrap();
        // Other hosts do not see this material.
        let other = HostTls::for_host_in(&[t.path().to_owned()], "reg.example").unwrap();
        assert!(other.is_empty());
    }

    #[test]
    fn sec1_key_with_ec_parameters_is_accepted() {
        let t = tempfile::tempdir().unwrap();
        let d = host_dir(t.path(), "h");
        std::fs::write(d.join("c.cert"), SEC1_CERT).unwrap();
        std::fs::write(d.join("c.key"), SEC1_KEY).unwrap();
        let tls = HostTls::for_host_in(&[t.path().to_owned()], "h").unwrap();
        let combined = tls.identity.as_ref().unwrap().combined_pem();
        let text = String::from_utf8(combined).unwrap();
        assert!(!text.contains("EC PARAMETERS"));
        assert!(text.contains("EC PRIVATE KEY"));
        tls.apply(reqwest::blocking::Client::builder())
            .unwrap()
            .build()
            .unwrap();
    }

    #[test]
    fn der_ca_is_accepted() {
        let t = tempfile::tempdir().unwrap();
        let d = host_dir(t.path(), "h");
        std::fs::write(d.join("ca.crt"), pem_to_der(CA_CRT)).unwrap();
        let tls = HostTls::for_host_in(&[t.path().to_owned()], "h").unwrap();
        assert_eq!(tls.roots.len(), 1);
        assert!(tls.roots[0].starts_with(b"-----BEGIN CERTIFICATE-----\n"));
        tls.apply(reqwest::blocking::Client::builder())
            .unwrap()
            .build()
            .unwrap();
    }

    #[test]
    fn cert_without_key_names_the_files() {
        let t = tempfile::tempdir().unwrap();
        let d = host_dir(t.path(), "h:1");
        std::fs::write(d.join("client.cert"), CLIENT_CERT).unwrap();
        let e = HostTls::for_host_in(&[t.path().to_owned()], "h:1").unwrap_err();
        assert!(matches!(e, TlsConfigError::MissingKey { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(&d.join("client.key").display().to_string()),
            "{msg}"
        );
        assert!(
            msg.contains(&d.join("client.cert").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains(".crt"), "{msg}");
    }

    #[test]
    fn key_without_cert_names_the_files() {
        let t = tempfile::tempdir().unwrap();
        let d = host_dir(t.path(), "h");
        std::fs::write(d.join("client.key"), CLIENT_KEY).unwrap();
        let e = HostTls::for_host_in(&[t.path().to_owned()], "h").unwrap_err();
        assert!(matches!(e, TlsConfigError::MissingCert { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains(&d.join("client.cert").display().to_string())
        );
    }

    #[test]
    fn garbage_ca_is_an_error_naming_the_file() {
        let t = tempfile::tempdir().unwrap();
        let d = host_dir(t.path(), "h");
        std::fs::write(d.join("ca.crt"), "not a certificate").unwrap();
        let e = HostTls::for_host_in(&[t.path().to_owned()], "h").unwrap_err();
        assert!(matches!(e, TlsConfigError::BadCa { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains(&d.join("ca.crt").display().to_string())
        );

        std::fs::write(
            d.join("ca.crt"),
            "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = HostTls::for_host_in(&[t.path().to_owned()], "h").unwrap_err();
        assert!(matches!(e, TlsConfigError::BadCa { .. }), "{e:?}");
    }

    #[test]
    fn swapped_or_encrypted_identity_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let d = host_dir(t.path(), "h");
        std::fs::write(d.join("c.cert"), CLIENT_KEY).unwrap();
        std::fs::write(d.join("c.key"), CLIENT_CERT).unwrap();
        let e = HostTls::for_host_in(&[t.path().to_owned()], "h").unwrap_err();
        assert!(matches!(e, TlsConfigError::BadIdentity { .. }), "{e:?}");

        std::fs::write(d.join("c.cert"), CLIENT_CERT).unwrap();
        std::fs::write(
            d.join("c.key"),
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = HostTls::for_host_in(&[t.path().to_owned()], "h").unwrap_err();
        assert!(e.to_string().contains("encrypted"), "{e}");
    }

    #[test]
    fn all_bases_are_collected_and_the_first_identity_wins() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let da = host_dir(a.path(), "h");
        let db = host_dir(b.path(), "h");
        std::fs::write(da.join("a.crt"), CA_CRT).unwrap();
        std::fs::write(da.join("c.cert"), CLIENT_CERT).unwrap();
        std::fs::write(da.join("c.key"), CLIENT_KEY).unwrap();
        std::fs::write(db.join("b.crt"), SEC1_CERT).unwrap();
        std::fs::write(db.join("c.cert"), SEC1_CERT).unwrap();
        std::fs::write(db.join("c.key"), SEC1_KEY).unwrap();
        let missing = a.path().join("does-not-exist");
        let tls = HostTls::for_host_in(&[missing, a.path().to_owned(), b.path().to_owned()], "h")
            .unwrap();
        assert_eq!(tls.dirs_used, vec![da, db]);
        assert_eq!(tls.roots.len(), 2);
        assert_eq!(
            tls.identity.as_ref().unwrap().cert_pem,
            CLIENT_CERT.as_bytes()
        );
    }

    #[test]
    fn hosts_that_escape_the_base_are_refused() {
        let t = tempfile::tempdir().unwrap();
        for h in ["", "..", ".", "a/b", "../etc"] {
            let e = HostTls::for_host_in(&[t.path().to_owned()], h).unwrap_err();
            assert!(
                matches!(e, TlsConfigError::InvalidHost { .. }),
                "{h}: {e:?}"
            );
        }
    }

    #[test]
    fn base_list_from_env_replaces_the_defaults() {
        let home = PathBuf::from("/home/u");
        assert_eq!(
            bases_from(Some("/a:/b::".into()), Some(home.clone())),
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(
            bases_from(Some("".into()), Some(home.clone())),
            vec![
                PathBuf::from("/etc/docker/certs.d"),
                PathBuf::from("/etc/containers/certs.d"),
                PathBuf::from("/home/u/.config/containers/certs.d"),
            ]
        );
        assert_eq!(bases_from(None, None).len(), 2);
    }

    #[test]
    fn pem_blocks_splits_labels() {
        let text = format!("junk\n{SEC1_KEY}tail");
        let blocks = pem_blocks(text.as_bytes());
        let labels: Vec<&str> = blocks.iter().map(|(l, _)| *l).collect();
        assert_eq!(labels, vec!["EC PARAMETERS", "EC PRIVATE KEY"]);
        assert!(blocks[1].1.ends_with(b"-----END EC PRIVATE KEY-----"));
        assert!(pem_blocks(b"-----BEGIN X-----\nunterminated").is_empty());
    }
}
