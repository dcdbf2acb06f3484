//! The registry client's error type.
//!
//! Messages name the registry, repository and object (tag, digest) involved and, where there
//! is one, what the user can do ("run `kasane login HOST`").

use kasane_oci::Digest;

/// Classification of a [`RegistryError`], for retries, exit codes and the store seam.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The manifest, tag, blob or repository does not exist.
    NotFound,
    /// Credentials are missing or wrong, or the registry denies the operation.
    Unauthorized,
    /// The registry sent something that does not verify or parse.
    Invalid,
    /// A network failure or a 5xx/429 answer: trying again may help.
    Transient,
    /// Anything else (configuration, policy, unsupported formats).
    Other,
}

/// One error entry of a registry's JSON error body (distribution-spec "Error Codes").
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ApiError {
    /// `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, `DENIED`, `UNAUTHORIZED`, …
    #[serde(default)]
    pub code: String,
    /// The registry's human message.
    #[serde(default)]
    pub message: String,
}

/// Everything the registry client can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The request could not be sent or the answer not read (DNS, TCP, TLS, timeouts).
    #[error("{what}: {source}")]
    Transport {
        /// What was being done ("GET https://…/v2/").
        what: String,
        /// reqwest's error (its chain names the cause).
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error status.
    #[error("{what}: {}", describe_status(*.status, .errors))]
    Status {
        /// What was being done.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error entries, if its body had any.
        errors: Vec<ApiError>,
    },
    /// Authentication failed or is required.
    #[error("{what}: {reason}")]
    Unauthorized {
        /// What was being done.
        what: String,
        /// What the registry or token server said, and what to do.
        reason: String,
    },
    /// The thing asked for does not exist.
    #[error("{what}: not found{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    NotFound {
        /// The manifest, tag or blob, with its repository.
        what: String,
        /// The registry's message, if any.
        detail: Option<String>,
    },
    /// The registry sent content or headers that do not verify or parse.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was being read.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes did not hash to the digest that named them.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was being read.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// A format the client refuses (Docker schema 1 manifests).
    #[error("{0}")]
    Unsupported(String),
    /// A configured or built-in policy refused the operation (plain http to a remote host, a
    /// redirect to a private address, a blocked registry).
    #[error("{0}")]
    Policy(String),
    /// The credentials file, registries config or certs.d material is broken.
    #[error("{0}")]
    Config(String),
    /// Reading or writing a stream failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn describe_status(status: u16, errors: &[ApiError]) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut out = format!("{status} {reason}").trim_end().to_owned();
    for e in errors.iter().take(4) {
        out.push_str(": ");
        if e.code.is_empty() {
            out.push_str(&e.message);
        } else {
            out.push_str(&e.code.to_lowercase().replace('_', " "));
            if !e.message.is_empty() && !e.message.eq_ignore_ascii_case(&e.code.replace('_', " ")) {
                out.push_str(": ");
                out.push_str(&e.message);
            }
        }
    }
    out
}

impl RegistryError {
    /// Classifies the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Transport { .. } | RegistryError::Io { .. } => ErrorKind::Transient,
            RegistryError::Status { status, errors, .. } => match status {
                401 | 403 => ErrorKind::Unauthorized,
                404 => ErrorKind::NotFound,
                408 | 429 | 500..=599 => ErrorKind::Transient,
                _ if errors.iter().any(|e| e.code == "DENIED") => ErrorKind::Unauthorized,
                _ => ErrorKind::Other,
            },
            RegistryError::Unauthorized { .. } => ErrorKind::Unauthorized,
            RegistryError::NotFound { .. } => ErrorKind::NotFound,
            RegistryError::Invalid { .. } | RegistryError::DigestMismatch { .. } => {
                ErrorKind::Invalid
            }
            RegistryError::Unsupported(_) | RegistryError::Policy(_) | RegistryError::Config(_) => {
                ErrorKind::Other
            }
        }
    }

    /// Shorthand for [`RegistryError::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        RegistryError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Wraps the error for the store seam (`Provider`/`Ingester` report `StoreError`).
    pub fn into_store(self) -> kasane_store::StoreError {
        use kasane_store::ErrorKind as K;
        let kind = match self.kind() {
            ErrorKind::NotFound => K::NotFound,
            ErrorKind::Invalid => K::InvalidArgument,
            ErrorKind::Unauthorized | ErrorKind::Transient | ErrorKind::Other => K::Internal,
        };
        kasane_store::StoreError::External {
            kind,
            error: Box::new(self),
        }
    }
}

impl From<RegistryError> for kasane_store::StoreError {
    fn from(e: RegistryError) -> Self {
        e.into_store()
    }
}

/// Result alias for the registry client.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_messages_name_the_registry_error() {
        let e = RegistryError::Status {
            what: "GET manifest library/x:1".into(),
            status: 403,
            errors: vec![ApiError {
                code: "DENIED".into(),
                message: "requested access to the resource is denied".into(),
            }],
        };
        assert_eq!(
            e.to_string(),
            "GET manifest library/x:1: 403 Forbidden: denied: requested access to the resource is denied"
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
    }

    #[test]
    fn store_seam_keeps_the_kind_and_the_error() {
        let e = RegistryError::NotFound {
            what: "blob sha256:ab in x".into(),
            detail: None,
        };
        let s = e.into_store();
        assert_eq!(s.kind(), kasane_store::ErrorKind::NotFound);
        assert!(s.to_string().contains("blob sha256:ab in x: not found"));
    }
}
