//! The client against servers on 127.0.0.1: redirects to blob storage without leaking
//! credentials, tag pagination, the referrers tag-schema fallback, chunked uploads.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::sync::Arc;

use kasane_oci::{Descriptor, Digest, media_type};
use kasane_registry::credentials::{Credential, CredentialStore};
use kasane_registry::registries_conf::RegistriesConfig;
use kasane_registry::{ClientOptions, RegistryClient, RemoteRepository};
use kasane_store::{Ingester, Provider};
use kasane_testsupport::registry::{Distribution, DistributionOptions, HttpServer, Response};

fn options(dir: &std::path::Path) -> ClientOptions {
    ClientOptions {
        credentials: Arc::new(CredentialStore::with_paths(dir.join("docker"), Vec::new())),
        registries: Arc::new(RegistriesConfig::default()),
        tls_verify: true,
        read_timeout: std::time::Duration::from_secs(10),
        retries: 1,
        backoff: std::time::Duration::from_millis(10),
        credential_override: None,
    }
}

#[test]
fn blob_redirects_are_followed_without_the_authorization_header() {
    let blob = b"stored elsewhere".to_vec();
    let digest = Digest::sha256_of(&blob);
    let storage_blob = blob.clone();
    let storage = HttpServer::start(move |_| {
        Response::bytes(200, "application/octet-stream", storage_blob.clone())
    })
    .unwrap();
    let storage_url = format!("{}/bucket/object?signature=abc", storage.url());
    let registry = HttpServer::start(move |r| {
        if r.header("authorization") != Some("Basic dTpw") {
            return Response::new(401).with_header("WWW-Authenticate", "Basic realm=\"test\"");
        }
        if r.path.contains("/blobs/") {
            return Response::new(307).with_header("Location", &storage_url);
        }
        Response::new(200)
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.credential_override = Some((registry.host(), Credential::basic("u", "p")));
    let client = RegistryClient::new(opts);
    let repo = RemoteRepository::new(client.session(&registry.host()).unwrap(), "x/y", false);
    let desc = Descriptor::new(media_type::OCI_LAYER_TAR, digest, blob.len() as u64);
    let mut got = Vec::new();
    repo.open(&desc).unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got, blob);
    let at_storage = storage.recorded();
    assert_eq!(at_storage.len(), 1);
    assert_eq!(
        at_storage[0].header("authorization"),
        None,
        "credentials leaked"
    );
    assert!(
        registry
            .recorded()
            .iter()
            .any(|r| r.header("authorization").is_some())
    );
}

fn distribution() -> Option<Distribution> {
    if !Distribution::available() {
        eprintln!("SKIP: docker-registry is not installed");
        return None;
    }
    Some(Distribution::start(DistributionOptions::default()).unwrap())
}

fn push_blob(repo: &RemoteRepository, bytes: &[u8], mt: &str) -> Descriptor {
    let desc = Descriptor::new(mt, Digest::sha256_of(bytes), bytes.len() as u64);
    let mut w = repo.writer(Some(&desc)).unwrap();
    w.write_all(bytes).unwrap();
    w.commit().unwrap();
    desc
}

#[test]
fn tags_are_paginated_and_referrers_fall_back_to_the_tag_schema() {
    let Some(reg) = distribution() else { return };
    let dir = tempfile::tempdir().unwrap();
    let client = RegistryClient::new(options(dir.path()));
    let repo = RemoteRepository::new(client.session(&reg.host()).unwrap(), "page/me", true);
    let config = push_blob(&repo, b"{}", media_type::OCI_EMPTY);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": config.media_type, "digest": config.digest.to_string(), "size": config.size},
        "layers": []
    })
    .to_string();
    for t in ["a", "b", "c", "d", "e"] {
        repo.put_manifest(t, media_type::OCI_MANIFEST, manifest.as_bytes())
            .unwrap();
    }
    let mut tags = repo.tags_paged(2).unwrap();
    tags.sort();
    assert_eq!(tags, ["a", "b", "c", "d", "e"]);

    // distribution 2.8 has no referrers API: the sha256-<hex> tag is the fallback.
    let subject = Digest::sha256_of(manifest.as_bytes());
    assert!(repo.referrers(&subject).unwrap().is_empty());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [{
            "mediaType": media_type::OCI_MANIFEST,
            "digest": subject.to_string(),
            "size": manifest.len(),
            "artifactType": "application/vnd.example.sbom"
        }]
    })
    .to_string();
    let tag = format!("sha256-{}", subject.hex());
    repo.put_manifest(&tag, media_type::OCI_INDEX, index.as_bytes())
        .unwrap();
    let found = repo.referrers(&subject).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest, subject);
}

#[test]
fn chunked_uploads_publish_the_same_blob() {
    let Some(reg) = distribution() else { return };
    let dir = tempfile::tempdir().unwrap();
    let client = RegistryClient::new(options(dir.path()));
    let repo = RemoteRepository::new(client.session(&reg.host()).unwrap(), "chunk/me", true);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let desc = Descriptor::new(
        media_type::OCI_LAYER_TAR,
        Digest::sha256_of(&data),
        data.len() as u64,
    );
    let mut w = repo.upload_with(&desc, false, Some(64 * 1024)).unwrap();
    for part in data.chunks(10_000) {
        w.write_all(part).unwrap();
    }
    kasane_store::BlobWriter::commit(Box::new(w)).unwrap();
    assert!(reg.has_blob(&desc.digest.to_string()));
    let mut back = Vec::new();
    repo.open(&desc).unwrap().read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
}
