use super::*;
use crate::classic;
use crate::consts;
use crate::index::IndexBuilder;
use crate::layer::LayerBuilder;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn two_layer(format: ManifestFormat, c: Compression) -> Image {
    let base = LayerBuilder::new(1)
        .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
        .file("a/old", "o")
        .build();
    let top = LayerBuilder::new(2)
        .whiteout("a/old")
        .text_file("a/new", 5000)
        .build();
    ImageBuilder::new()
        .layer(base, "/bin/sh -c #(nop) ADD file:x in / ")
        .history(History::empty(classic::env(&[("A", "b")])))
        .layer(top, "/bin/sh -c echo hi")
        .env("A=b")
        .cmd(&["sh", "-c", "echo"])
        .entrypoint(&["/init"])
        .expose("80")
        .expose("53/udp")
        .label("org.example", "yes")
        .workdir("/app")
        .user("1000:1000")
        .volume("/data")
        .stop_signal("SIGQUIT")
        .healthcheck(Healthcheck {
            test: strings(&["CMD", "true"]),
            interval: Some(Duration::from_secs(5)),
            retries: Some(3),
            ..Healthcheck::default()
        })
        .format(format)
        .compression(c)
        .build()
}

#[test]
fn config_has_every_field() {
    let img = two_layer(ManifestFormat::Oci, Compression::Gzip);
    let cfg = img.config_json();
    assert_eq!(cfg["architecture"], "amd64");
    assert_eq!(cfg["os"], "linux");
    assert_eq!(cfg["created"], "2024-01-01T00:00:00Z");
    let c = &cfg["config"];
    assert_eq!(c["Env"], json!(["A=b"]));
    assert_eq!(c["Cmd"], json!(["sh", "-c", "echo"]));
    assert_eq!(c["Entrypoint"], json!(["/init"]));
    assert_eq!(c["ExposedPorts"], json!({"53/udp": {}, "80/tcp": {}}));
    assert_eq!(c["Labels"], json!({"org.example": "yes"}));
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["Volumes"], json!({"/data": {}}));
    assert_eq!(c["StopSignal"], "SIGQUIT");
    assert_eq!(
        c["Healthcheck"],
        json!({"Test": ["CMD", "true"], "Interval": 5_000_000_000u64, "Retries": 3})
    );
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    let h = cfg["history"].as_array().unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(
        h[1],
        json!({"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop)  ENV A=b", "empty_layer": true})
    );
    assert_eq!(img.id(), &Digest::sha256(&img.config));
}

#[test]
fn manifests_reference_config_and_blobs() {
    for (format, c, mt, lt) in [
        (
            ManifestFormat::Oci,
            Compression::Gzip,
            consts::OCI_MANIFEST,
            consts::OCI_LAYER_GZIP,
        ),
        (
            ManifestFormat::Oci,
            Compression::Zstd,
            consts::OCI_MANIFEST,
            consts::OCI_LAYER_ZSTD,
        ),
        (
            ManifestFormat::Oci,
            Compression::None,
            consts::OCI_MANIFEST,
            consts::OCI_LAYER,
        ),
        (
            ManifestFormat::Docker,
            Compression::Gzip,
            consts::DOCKER_MANIFEST,
            consts::DOCKER_LAYER_GZIP,
        ),
        (
            ManifestFormat::Docker,
            Compression::None,
            consts::DOCKER_MANIFEST,
            consts::DOCKER_LAYER,
        ),
    ] {
        let img = two_layer(format, c);
        let m = json(&img.manifest);
        assert_eq!(m["mediaType"], mt);
        assert_eq!(m["config"]["digest"], img.config_digest.as_str());
        assert_eq!(m["config"]["size"], img.config.len());
        for (d, l) in m["layers"].as_array().unwrap().iter().zip(&img.layers) {
            assert_eq!(d["mediaType"], lt);
            assert_eq!(d["digest"], Digest::sha256(l.blob.data()).as_str());
            assert_eq!(d["size"], l.blob.data().len());
        }
        assert_eq!(img.manifest_digest, Digest::sha256(&img.manifest));
    }
}

#[test]
fn rootfs_applies_whiteouts() {
    let img = two_layer(ManifestFormat::Oci, Compression::Gzip);
    assert_eq!(img.rootfs().paths(), ["a", "a/new", "etc", "etc/passwd"]);
}

#[test]
fn each_corruption_changes_exactly_one_fact() {
    let good = two_layer(ManifestFormat::Oci, Compression::Zstd);
    let bad = good.with_wrong_diff_id(1);
    assert_ne!(bad.diff_ids()[1], good.diff_ids()[1]);
    assert_eq!(bad.diff_ids()[0], good.diff_ids()[0]);
    assert_eq!(bad.layer_digests(), good.layer_digests());
    assert_eq!(
        json(&bad.manifest)["config"]["digest"],
        bad.config_digest.as_str()
    );

    let bad = good.with_wrong_blob_size(0);
    assert_eq!(bad.layers[0].size, good.layers[0].size + 1);
    assert_eq!(bad.config, good.config);

    let bad = good.with_wrong_blob_digest(0);
    assert_ne!(bad.layers[0].digest, bad.layers[0].blob.digest);
    assert_eq!(bad.config, good.config);

    let bad = good.truncate_gzip_layer(1);
    let l = &bad.layers[1];
    assert_eq!(l.media_type, consts::OCI_LAYER_GZIP);
    assert_eq!(
        (l.digest.clone(), l.size),
        (Digest::sha256(l.blob.data()), l.blob.data().len() as u64)
    );
    let mut out = Vec::new();
    let err = io::Read::read_to_end(&mut flate2::read::GzDecoder::new(l.blob.data()), &mut out)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(bad.config, good.config);
}

#[test]
#[should_panic(expected = "out of range")]
fn corruption_index_is_checked() {
    let _ = two_layer(ManifestFormat::Oci, Compression::Gzip).with_wrong_diff_id(5);
}

#[test]
fn chain_ids_follow_the_spec() {
    let d = [Digest::sha256(b"a"), Digest::sha256(b"b")];
    let c = chain_ids(&d);
    assert_eq!(c[0], d[0]);
    assert_eq!(
        c[1],
        Digest::sha256(format!("{} {}", d[0], d[1]).as_bytes())
    );
}

#[test]
fn index_lists_platforms() {
    let l = Arc::new(LayerBuilder::new(1).file("f", "x").build());
    let amd = ImageBuilder::new().layer(Arc::clone(&l), "x").build();
    let arm = ImageBuilder::new()
        .platform("linux", "arm64", Some("v8"))
        .layer(l, "x")
        .build();
    for format in [ManifestFormat::Oci, ManifestFormat::Docker] {
        let idx = IndexBuilder::new(format)
            .image(amd.clone())
            .image(arm.clone())
            .build();
        let v = json(&idx.manifest);
        assert_eq!(
            v["manifests"][1]["platform"],
            json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
        );
        assert_eq!(v["manifests"][0]["digest"], amd.manifest_digest.as_str());
        assert_eq!(idx.digest, Digest::sha256(&idx.manifest));
    }
    assert_ne!(amd.id(), arm.id());
}
