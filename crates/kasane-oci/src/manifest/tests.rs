//! Manifest and index tests over hand-written documents in docker's and OCI's formats.

use super::*;
use crate::Digest;
use crate::media_type::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

/// A Docker v2s2 manifest as `docker push` writes it (indented, as the registry serves it).
const DOCKER_V2S2: &str = r#"{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1472,
      "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 3623807,
         "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222"
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
         "size": 1000,
         "digest": "sha256:3333333333333333333333333333333333333333333333333333333333333333",
         "urls": ["https://example.com/layer"]
      }
   ]
}"#;

/// An OCI manifest in kasane's canonical form (compact, field order, sorted annotations).
const OCI_CANONICAL: &str = concat!(
    r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
    r#""config":{"mediaType":"application/vnd.oci.image.config.v1+json","#,
    r#""digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1472},"#,
    r#""layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","#,
    r#""digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":3623807,"#,
    r#""annotations":{"a":"1","b":"2"}}],"#,
    r#""annotations":{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}"#
);

/// A Docker manifest list with two platforms.
const DOCKER_LIST: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
  "manifests": [
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 525,
     "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
     "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 525,
     "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222",
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
  ]
}"#;

/// A buildkit-style OCI index without `mediaType`, with an attestation manifest.
const OCI_INDEX_NO_MT: &str = r#"{"schemaVersion":2,"manifests":[
  {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","platform":{"architecture":"amd64","os":"linux"}},
  {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","platform":{"architecture":"unknown","os":"unknown"},
   "annotations":{"vnd.docker.reference.digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","vnd.docker.reference.type":"attestation-manifest"}}]}"#;

/// A signed schema 1 manifest (truncated: only the fields that identify it).
const SCHEMA1: &str = r#"{"schemaVersion":1,"name":"library/busybox","tag":"latest","architecture":"amd64",
  "fsLayers":[{"blobSum":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}],
  "history":[{"v1Compatibility":"{}"}],"signatures":[]}"#;

/// What `ManifestKind::parse` should make of a document.
#[derive(Debug, PartialEq)]
enum Want {
    Image(&'static str),
    Index(&'static str),
    Schema1,
    UnknownMediaType,
    SchemaVersion(u64),
    NotAManifest,
    InvalidManifest,
    InvalidIndex,
}

fn classify(bytes: &str, content_type: Option<&str>) -> Want {
    match ManifestKind::parse(bytes.as_bytes(), content_type) {
        Ok(ManifestKind::Image(m)) => Want::Image(str_static(m.media_type())),
        Ok(ManifestKind::Index(i)) => Want::Index(str_static(i.media_type())),
        Err(OciError::UnsupportedSchema1 { .. }) => Want::Schema1,
        Err(OciError::UnknownMediaType { .. }) => Want::UnknownMediaType,
        Err(OciError::UnsupportedSchemaVersion { version }) => Want::SchemaVersion(version),
        Err(OciError::NotAManifest) => Want::NotAManifest,
        Err(OciError::InvalidManifest { .. }) => Want::InvalidManifest,
        Err(OciError::InvalidIndex { .. }) => Want::InvalidIndex,
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

fn str_static(s: &str) -> &'static str {
    [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
    ]
    .into_iter()
    .find(|k| *k == s)
    .unwrap_or_else(|| panic!("unexpected media type {s}"))
}

macro_rules! kind {
    ($($name:ident: $doc:expr, $ct:expr => $want:expr;)*) => {$(
        #[test]
        fn $name() {
            assert_eq!(classify($doc, $ct), $want);
        }
    )*};
}

const BARE_MANIFEST: &str = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":2},"layers":[]}"#;
const BARE_INDEX: &str = r#"{"schemaVersion":2,"manifests":[]}"#;

kind! {
    docker_v2s2: DOCKER_V2S2, None => Want::Image(DOCKER_MANIFEST);
    docker_v2s2_body_wins: DOCKER_V2S2, Some(OCI_INDEX) => Want::Image(DOCKER_MANIFEST);
    oci_canonical: OCI_CANONICAL, None => Want::Image(OCI_MANIFEST);
    docker_list: DOCKER_LIST, None => Want::Index(DOCKER_MANIFEST_LIST);
    oci_index_by_shape: OCI_INDEX_NO_MT, None => Want::Index(OCI_INDEX);
    oci_index_by_content_type: BARE_INDEX, Some("application/vnd.oci.image.index.v1+json; charset=utf-8") => Want::Index(OCI_INDEX);
    manifest_by_shape: BARE_MANIFEST, None => Want::Image(OCI_MANIFEST);
    manifest_by_content_type: BARE_MANIFEST, Some(OCI_MANIFEST) => Want::Image(OCI_MANIFEST);
    generic_content_type_uses_shape: BARE_MANIFEST, Some("application/json") => Want::Image(OCI_MANIFEST);
    content_type_says_index_but_is_manifest: BARE_MANIFEST, Some(OCI_INDEX) => Want::InvalidIndex;
    schema1_body: SCHEMA1, None => Want::Schema1;
    schema1_body_v2_content_type: SCHEMA1, Some(DOCKER_MANIFEST) => Want::Schema1;
    schema1_media_type: r#"{"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#, None => Want::Schema1;
    schema1_content_type: r#"{"name":"x"}"#, Some(DOCKER_SCHEMA1_SIGNED_MANIFEST) => Want::Schema1;
    schema1_content_type_v2_body: BARE_MANIFEST, Some(DOCKER_SCHEMA1_MANIFEST) => Want::Image(OCI_MANIFEST);
    unknown_media_type: r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}"#, None => Want::UnknownMediaType;
    schema_version_3: r#"{"schemaVersion":3,"manifests":[]}"#, None => Want::SchemaVersion(3);
    empty_object: "{}", None => Want::NotAManifest;
    empty_object_octet_stream: "{}", Some("application/octet-stream") => Want::NotAManifest;
    not_json: "not json", None => Want::InvalidManifest;
    array: "[]", None => Want::InvalidManifest;
    empty: "", None => Want::InvalidManifest;
    schema_version_string: r#"{"schemaVersion":"2"}"#, None => Want::InvalidManifest;
    manifest_without_config: r#"{"schemaVersion":2,"layers":[]}"#, None => Want::InvalidManifest;
    index_with_bad_digest: r#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:abc","size":1}]}"#, None => Want::InvalidIndex;
    missing_schema_version: r#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#, None => Want::InvalidIndex;
}

#[test]
fn schema1_error_says_what_to_do() {
    let err = ManifestKind::parse(SCHEMA1.as_bytes(), Some(DOCKER_SCHEMA1_SIGNED_MANIFEST))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "docker image manifest v2 schema 1 (schemaVersion 1) is not supported: \
         re-push the image with a current client to convert it to schema 2 or OCI"
    );
}

#[test]
fn docker_v2s2_fields() {
    let m = ManifestKind::parse(DOCKER_V2S2.as_bytes(), None).unwrap();
    let m = m.as_image().unwrap();
    assert_eq!(m.format(), Format::DockerV2S2);
    assert_eq!(m.config.digest, D1.parse::<Digest>().unwrap());
    assert_eq!(m.config.size, 1472);
    assert_eq!(m.layers.len(), 2);
    assert_eq!(
        m.layers[1].urls.as_deref(),
        Some(&["https://example.com/layer".to_owned()][..])
    );
    assert!(is_foreign_layer(&m.layers[1].media_type));
}

#[test]
fn canonical_json_round_trips_byte_for_byte() {
    let kind = ManifestKind::parse(OCI_CANONICAL.as_bytes(), None).unwrap();
    assert_eq!(String::from_utf8(kind.to_json()).unwrap(), OCI_CANONICAL);
    let list = Index::from_slice(DOCKER_LIST.as_bytes()).unwrap();
    let again = Index::from_slice(&list.to_json()).unwrap();
    assert_eq!(again, list);
}

#[test]
fn new_documents_serialise_compactly() {
    let config = Descriptor::new(OCI_CONFIG, D1.parse().unwrap(), 2);
    let m = Manifest::new(OCI_MANIFEST, config, vec![]);
    assert_eq!(
        String::from_utf8(m.to_json()).unwrap(),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{D1}","size":2}},"layers":[]}}"#
        )
    );
    let i = Index::new(OCI_INDEX, vec![]);
    assert_eq!(
        String::from_utf8(i.to_json()).unwrap(),
        format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#)
    );
}

fn entry(digest: &str, platform: Option<&str>) -> Descriptor {
    let mut d = Descriptor::new(OCI_MANIFEST, digest.parse().unwrap(), 1);
    d.platform = platform.map(|p| {
        let mut parts = p.split('/');
        let mut platform = Platform::new(parts.next().unwrap(), parts.next().unwrap());
        platform.variant = parts.next().map(str::to_owned);
        platform
    });
    d
}

macro_rules! select {
    ($($name:ident: [$($d:expr => $p:expr),*], $want:expr => $got:expr;)*) => {$(
        #[test]
        fn $name() {
            let index = Index::new(OCI_INDEX, vec![$(entry($d, $p)),*]);
            let wanted: Platform = $want.parse().unwrap();
            let got = index.select_platform(&wanted).map(|d| d.digest.to_string());
            assert_eq!(got.as_deref(), $got);
        }
    )*};
}

select! {
    select_amd64: [D1 => Some("linux/amd64"), D2 => Some("linux/arm64/v8")], "linux/amd64" => Some(D1);
    select_arm64: [D1 => Some("linux/amd64"), D2 => Some("linux/arm64/v8")], "linux/arm64" => Some(D2);
    select_arm64_no_variant_in_index: [D1 => Some("linux/amd64"), D2 => Some("linux/arm64")], "linux/arm64/v8" => Some(D2);
    select_prefers_exact_variant: [D1 => Some("linux/arm64"), D2 => Some("linux/arm64/v8")], "linux/arm64/v8" => Some(D2);
    select_first_of_equals: [D1 => Some("linux/amd64"), D2 => Some("linux/amd64")], "linux/amd64" => Some(D1);
    select_arm_v7_default: [D1 => Some("linux/arm/v6"), D2 => Some("linux/arm")], "linux/arm/v7" => Some(D2);
    select_arm_v6: [D1 => Some("linux/arm/v6"), D2 => Some("linux/arm/v7")], "linux/arm/v6" => Some(D1);
    select_none: [D1 => Some("linux/amd64")], "linux/s390x" => None;
    select_skips_unknown_and_missing: [D3 => Some("unknown/unknown"), D2 => None, D1 => Some("linux/amd64")], "linux/amd64" => Some(D1);
    select_skips_wrong_os: [D1 => Some("windows/amd64"), D2 => Some("linux/amd64")], "linux/amd64" => Some(D2);
    select_x86_64_alias: [D1 => Some("linux/x86_64")], "linux/amd64" => Some(D1);
    select_empty: [], "linux/amd64" => None;
}

#[test]
fn buildkit_index_selects_the_image_not_the_attestation() {
    let index = Index::from_slice(OCI_INDEX_NO_MT.as_bytes()).unwrap();
    let wanted: Platform = "linux/amd64".parse().unwrap();
    assert_eq!(
        index.select_platform(&wanted).unwrap().digest.to_string(),
        D1
    );
}

#[test]
fn docker_to_oci_and_back() {
    let docker = Manifest::from_slice(DOCKER_V2S2.as_bytes()).unwrap();
    let oci = docker.convert(Format::Oci).unwrap();
    assert_eq!(oci.format(), Format::Oci);
    assert_eq!(oci.media_type.as_deref(), Some(OCI_MANIFEST));
    assert_eq!(oci.config.media_type, OCI_CONFIG);
    assert_eq!(oci.layers[0].media_type, OCI_LAYER_TAR_GZIP);
    assert_eq!(
        oci.layers[1].media_type,
        OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP
    );
    assert_eq!(oci.layers[1].urls, docker.layers[1].urls);
    assert_eq!(oci.config.digest, docker.config.digest);
    assert_eq!(oci.convert(Format::DockerV2S2).unwrap(), docker);
    assert_eq!(docker.convert(Format::DockerV2S2).unwrap(), docker);
}

#[test]
fn unconvertible_manifests() {
    let mut m = Manifest::from_slice(OCI_CANONICAL.as_bytes()).unwrap();
    m.layers[0].media_type = OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD.to_owned();
    assert!(matches!(
        m.convert(Format::DockerV2S2),
        Err(OciError::Unconvertible { .. })
    ));

    let mut m = Manifest::from_slice(OCI_CANONICAL.as_bytes()).unwrap();
    m.subject = Some(m.config.clone());
    let err = m.convert(Format::DockerV2S2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot convert a manifest with subject to docker v2 schema 2"
    );
    assert!(m.convert(Format::Oci).is_ok(), "OCI keeps subject");

    let mut m = Manifest::from_slice(OCI_CANONICAL.as_bytes()).unwrap();
    m.config.media_type = "application/vnd.example.config+json".to_owned();
    assert!(matches!(
        m.convert(Format::Oci),
        Err(OciError::Unconvertible { .. })
    ));
}
