//! The wire protocol: routes, headers, media types, limits and error bodies of the OCI
//! Distribution Specification v1.1 / Docker Registry HTTP API v2.
//!
//! Pure functions and constants only (no I/O), so the server (later) shares them.

use kasane_oci::{Digest, media_type};

use crate::error::ApiError;

/// `Accept` for manifest requests: every manifest and index type we can use, most preferred
/// first. Schema 1 is left out on purpose (registries then convert or refuse).
pub const MANIFEST_ACCEPT: &str = concat!(
    "application/vnd.oci.image.index.v1+json, ",
    "application/vnd.docker.distribution.manifest.list.v2+json, ",
    "application/vnd.oci.image.manifest.v1+json, ",
    "application/vnd.docker.distribution.manifest.v2+json"
);

/// Docker schema 1 manifest media types, refused with a clear error.
pub const SCHEMA1_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
];

/// Largest manifest accepted (distribution's own limit is 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Largest error body read (the rest is dropped): hostile registries may send gigabytes.
pub const MAX_ERROR_BODY: u64 = 64 << 10;
/// Largest token-server answer read.
pub const MAX_TOKEN_BODY: u64 = 1 << 20;
/// Largest tag-list or referrers page read.
pub const MAX_LIST_BODY: u64 = 16 << 20;

/// Header with the digest of a manifest or blob.
pub const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
/// Header the v2 API version check reads (`registry/2.0`).
pub const API_VERSION_HEADER: &str = "docker-distribution-api-version";
/// Header with a registry's minimum chunk size for chunked uploads (distribution-spec 1.1).
pub const OCI_CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";

/// `/v2/` (the ping route).
pub fn ping_path() -> &'static str {
    "/v2/"
}

/// `/v2/<name>/manifests/<reference>`.
pub fn manifest_path(repository: &str, reference: &str) -> String {
    format!("/v2/{repository}/manifests/{reference}")
}

/// `/v2/<name>/blobs/<digest>`.
pub fn blob_path(repository: &str, digest: &Digest) -> String {
    format!("/v2/{repository}/blobs/{digest}")
}

/// `/v2/<name>/blobs/uploads/` (start an upload).
pub fn upload_path(repository: &str) -> String {
    format!("/v2/{repository}/blobs/uploads/")
}

/// `/v2/<name>/blobs/uploads/?mount=<digest>&from=<other>` (cross-repository mount).
pub fn mount_path(repository: &str, digest: &Digest, from: &str) -> String {
    format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}")
}

/// `/v2/<name>/tags/list`.
pub fn tags_path(repository: &str) -> String {
    format!("/v2/{repository}/tags/list")
}

/// `/v2/<name>/referrers/<digest>`.
pub fn referrers_path(repository: &str, digest: &Digest) -> String {
    format!("/v2/{repository}/referrers/{digest}")
}

/// The tag the referrers tag schema uses for `digest` (`sha256-<hex>`).
pub fn referrers_fallback_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm(), digest.hex())
}

/// Whether `mt` names a manifest or an index (fetched from `/manifests/`, not `/blobs/`).
pub fn is_manifest_media_type(mt: &str) -> bool {
    media_type::is_index(mt) || media_type::is_manifest(mt) || SCHEMA1_MEDIA_TYPES.contains(&mt)
}

/// Parses a registry error body (`{"errors":[{"code","message","detail"}]}`); anything else
/// yields no entries.
pub fn parse_errors(body: &[u8]) -> Vec<ApiError> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<ApiError>,
    }
    serde_json::from_slice::<Body>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
}

/// The target of a `Link: <url>; rel="next"` header (tag list and catalog pagination).
pub fn parse_link_next(link: &str) -> Option<String> {
    for part in link.split(',') {
        let part = part.trim();
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        if is_next {
            return Some(target.to_owned());
        }
    }
    None
}

/// Parses `Content-Range: bytes START-END/TOTAL` (or `*` total) into its start.
pub fn content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, _) = rest.split_once('/').unwrap_or((rest, ""));
    range.split_once('-')?.0.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_next_is_found_among_other_relations() {
        assert_eq!(
            parse_link_next(r#"</v2/x/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?n=2&last=b")
        );
        assert_eq!(
            parse_link_next(r#"<https://a/prev>; rel="prev", <https://a/next>; rel=next"#)
                .as_deref(),
            Some("https://a/next")
        );
        assert_eq!(parse_link_next("garbage"), None);
    }

    #[test]
    fn errors_body() {
        let e = parse_errors(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].code, "MANIFEST_UNKNOWN");
        assert!(parse_errors(b"<html>").is_empty());
    }

    #[test]
    fn content_range() {
        assert_eq!(content_range_start("bytes 100-199/1000"), Some(100));
        assert_eq!(content_range_start("bytes 5-9/*"), Some(5));
        assert_eq!(content_range_start("items 1-2"), None);
    }
}
