use std::collections::BTreeMap;
use std::io::Read;

use super::*;
use crate::check::check_docker_archive;
use crate::image::ImageBuilder;
use crate::layer::LayerBuilder;

fn image() -> Image {
    let base = LayerBuilder::new(1)
        .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
        .build();
    let top = LayerBuilder::new(2).text_file("app/log", 10_000).build();
    ImageBuilder::new()
        .layer(base, "base")
        .layer(top, "top")
        .cmd(&["sh"])
        .created(1_700_000_000)
        .build()
}

/// name → (mtime, content) of every entry (directories with empty content).
fn entries(bytes: &[u8]) -> BTreeMap<String, (u64, Vec<u8>)> {
    let tar = crate::archive::decompress(bytes).unwrap();
    let mut ar = tar::Archive::new(tar.as_slice());
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(
            e.path().unwrap().to_string_lossy().into_owned(),
            (e.header().mtime().unwrap(), data),
        );
    }
    out
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn legacy_layout() {
    let img = image();
    let bytes = DockerArchive::new(DockerArchiveFormat::Legacy)
        .image(&["demo:1"], &img)
        .to_bytes();
    let e = entries(&bytes);
    let manifest = &e["manifest.json"].1;
    assert_eq!(manifest.last(), Some(&b'\n'));
    let text = String::from_utf8(manifest.clone()).unwrap();
    assert!(
        text.starts_with(&format!(
            r#"[{{"Config":"{}.json","RepoTags":["demo:1"],"Layers":["#,
            img.config_digest.hex()
        )),
        "{text}"
    );
    let m = json(manifest);
    let layers: Vec<&str> = m[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(layers.len(), 2);
    let mut parent = None;
    for (i, path) in layers.iter().enumerate() {
        let id = path.strip_suffix("/layer.tar").unwrap();
        assert_eq!(e[&format!("{id}/VERSION")].1, b"1.0");
        let v1 = json(&e[&format!("{id}/json")].1);
        assert_eq!(v1["id"], id);
        assert_eq!(v1.get("parent").and_then(Value::as_str), parent);
        assert_eq!(
            v1["created"],
            if i == 0 {
                "1970-01-01T00:00:00Z"
            } else {
                "2023-11-14T22:13:20Z"
            }
        );
        assert_eq!(Digest::sha256(&e[*path].1), img.diff_ids()[i]);
        parent = Some(id);
    }
    assert!(
        e.contains_key(&format!("{}/", parent.unwrap())),
        "layer directories are entries"
    );
    assert_eq!(
        e[&format!("{}.json", img.config_digest.hex())].1,
        img.config
    );
    let repos = String::from_utf8(e["repositories"].1.clone()).unwrap();
    assert_eq!(
        repos,
        format!("{{\"demo\":{{\"1\":\"{}\"}}}}\n", parent.unwrap())
    );
    assert!(
        e.values().all(|(mtime, _)| *mtime == 1_700_000_000),
        "entries carry the image's created time"
    );
    assert_eq!(check_docker_archive_bytes(&bytes), Vec::<String>::new());
}

#[test]
fn oci_layout() {
    let img = image();
    let archive =
        DockerArchive::new(DockerArchiveFormat::Oci).image(&["demo:1", "example.com/x/y:2"], &img);
    let e = entries(&archive.to_bytes());
    let m = json(&e["manifest.json"].1);
    let layer_paths: Vec<String> = img
        .diff_ids()
        .iter()
        .map(|d| format!("blobs/sha256/{}", d.hex()))
        .collect();
    assert_eq!(
        m,
        json!([{"Config": format!("blobs/sha256/{}", img.config_digest.hex()), "RepoTags": ["demo:1", "example.com/x/y:2"], "Layers": layer_paths}])
    );
    for (p, d) in layer_paths.iter().zip(img.diff_ids()) {
        assert_eq!(
            Digest::sha256(&e[p].1),
            d,
            "layers are uncompressed and named by DiffID"
        );
    }
    assert_eq!(e["oci-layout"].1, br#"{"imageLayoutVersion": "1.0.0"}"#);
    let index_bytes = &e["index.json"].1;
    assert_ne!(index_bytes.last(), Some(&b'\n'));
    let index = json(index_bytes);
    let generated = &archive.oci_manifest_digests()[0];
    assert_eq!(index["manifests"][0]["digest"], generated.as_str());
    assert_eq!(
        index["manifests"][0]["annotations"],
        json!({consts::ANNOTATION_IMAGE_NAME: "docker.io/library/demo:1", consts::ANNOTATION_REF_NAME: "1"})
    );
    assert_eq!(
        index["manifests"][1]["annotations"][consts::ANNOTATION_IMAGE_NAME],
        "example.com/x/y:2"
    );
    let manifest = json(&e[&format!("blobs/sha256/{}", generated.hex())].1);
    assert_eq!(manifest["layers"][0]["mediaType"], consts::OCI_LAYER);
    assert_eq!(manifest["config"]["mediaType"], consts::OCI_CONFIG);
    let repos = json(&e["repositories"].1);
    assert_eq!(
        repos,
        json!({"demo": {"1": img.diff_ids()[1].hex()}, "example.com/x/y": {"2": img.diff_ids()[1].hex()}})
    );
    assert!(
        e.values().all(|(mtime, _)| *mtime == 0),
        "entries are at the epoch"
    );
    assert_eq!(
        check_docker_archive_bytes(&archive.to_bytes()),
        Vec::<String>::new()
    );
}

#[test]
fn untagged_images_have_null_repo_tags_and_no_repositories() {
    for format in [DockerArchiveFormat::Legacy, DockerArchiveFormat::Oci] {
        let e = entries(&DockerArchive::new(format).image(&[], &image()).to_bytes());
        assert_eq!(json(&e["manifest.json"].1)[0]["RepoTags"], Value::Null);
        assert!(!e.contains_key("repositories"));
        if format == DockerArchiveFormat::Oci {
            assert!(
                json(&e["index.json"].1)["manifests"][0]
                    .get("annotations")
                    .is_none()
            );
        }
    }
}

#[test]
fn compressed_archives_check_clean() {
    let dir = tempfile::tempdir().unwrap();
    for format in [DockerArchiveFormat::Legacy, DockerArchiveFormat::Oci] {
        for (c, magic) in [
            (Compression::Gzip, &[0x1f, 0x8b][..]),
            (Compression::Zstd, &[0x28, 0xb5, 0x2f, 0xfd][..]),
        ] {
            let path = dir.path().join("a.tar");
            DockerArchive::new(format)
                .image(&["demo"], &image())
                .compression(c)
                .write(&path)
                .unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert!(bytes.starts_with(magic));
            assert_eq!(
                check_docker_archive(&path).unwrap(),
                Vec::<String>::new(),
                "{format:?} {c:?}"
            );
        }
    }
}

#[test]
fn corruptions_are_detected_like_docker_load_would() {
    let good = image();
    for format in [DockerArchiveFormat::Legacy, DockerArchiveFormat::Oci] {
        let check = |img: &Image| {
            check_docker_archive_bytes(&DockerArchive::new(format).image(&["x:1"], img).to_bytes())
        };
        let p = check(&good.with_wrong_diff_id(1));
        assert!(
            p.iter().any(|p| p.contains("config says")),
            "{format:?} {p:?}"
        );
        let p = check(&good.truncate_gzip_layer(0));
        assert!(
            p.iter().any(|p| p.contains("decompressing")),
            "{format:?} {p:?}"
        );
        let p = check(&good.with_wrong_blob_digest(0));
        let p2 = check(&good.with_wrong_blob_size(0));
        if format == DockerArchiveFormat::Legacy {
            assert!(
                p.is_empty() && p2.is_empty(),
                "legacy archives have no descriptors: {p:?} {p2:?}"
            );
        } else {
            assert_eq!(p.len(), 1, "{p:?}");
            assert_eq!(p2.len(), 1, "{p2:?}");
        }
    }
}

fn check_docker_archive_bytes(bytes: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, bytes).unwrap();
    check_docker_archive(&path).unwrap()
}

#[test]
fn tag_splitting_and_qualifying() {
    for (input, repo, tag, full) in [
        ("demo:1", "demo", "1", "docker.io/library/demo"),
        ("demo", "demo", "latest", "docker.io/library/demo"),
        ("user/app:v2", "user/app", "v2", "docker.io/user/app"),
        (
            "localhost:5000/x",
            "localhost:5000/x",
            "latest",
            "localhost:5000/x",
        ),
        (
            "example.com/a/b:c",
            "example.com/a/b",
            "c",
            "example.com/a/b",
        ),
    ] {
        assert_eq!(
            split_tag(input),
            (repo.to_string(), tag.to_string()),
            "{input}"
        );
        assert_eq!(qualify(repo), full, "{input}");
    }
}
