//! Corrupt and hostile input is always refused with an error naming what is wrong, and
//! nothing of it stays in the store.
#![allow(clippy::unwrap_used)]

mod common;

use common::Kasane;
use kasane_testsupport::hostile::{Expect, corpus};
use kasane_testsupport::{
    Compression, DockerArchive, DockerArchiveFormat, ImageBuilder, LayerBuilder, OciLayout,
};

fn good_image(seed: u64) -> kasane_testsupport::Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new(seed)
                .dir("a")
                .random_file("a/f", 10_000)
                .build(),
            "ADD a",
        )
        .layer(
            LayerBuilder::new(seed + 1)
                .dir("b")
                .random_file("b/g", 20_000)
                .build(),
            "ADD b",
        )
        .compression(Compression::Gzip)
        .build()
}

#[test]
fn corrupt_images_are_refused_and_leave_nothing() {
    let base = good_image(1);
    let cases = [
        ("wrong DiffID", base.with_wrong_diff_id(1), "diff"),
        ("wrong blob size", base.with_wrong_blob_size(0), "size"),
        (
            "wrong blob digest",
            base.with_wrong_blob_digest(1),
            "digest",
        ),
        ("truncated gzip", base.truncate_gzip_layer(0), ""),
    ];
    for (name, image, word) in cases {
        for format in ["oci", "docker"] {
            let k = Kasane::new();
            let path = k.path("bad.tar");
            if format == "oci" {
                OciLayout::new()
                    .image("docker.io/library/bad:1", &image)
                    .write_archive(&path, Compression::None)
                    .unwrap();
            } else {
                DockerArchive::new(DockerArchiveFormat::Oci)
                    .image(&["bad:1"], &image)
                    .write(&path)
                    .unwrap();
            }
            let out = k.run(&["load", "-i", path.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&out.stderr);
            // A docker archive carries no layer digests, so a wrong blob digest there is a
            // different (but still valid) layer file: only its DiffID can catch it.
            if format == "docker" && (name == "wrong blob digest" || name == "wrong blob size") {
                continue;
            }
            assert!(!out.status.success(), "{name} ({format}) was accepted");
            assert!(
                err.to_lowercase().contains(word),
                "{name} ({format}): {err}"
            );
            assert_eq!(k.ok(&["images", "-q"]), "", "{name} ({format})");
            let left: Vec<String> = k
                .store_files()
                .into_iter()
                .filter(|f| !matches!(f.as_str(), "blobs/sha256" | "blobs" | "ingest"))
                .filter(|f| f != "snapshots/driver")
                .collect();
            assert!(left.is_empty(), "{name} ({format}) left {left:?}");
            k.check_clean();
            // The good image still loads afterwards.
            let good = k.path("good.tar");
            DockerArchive::new(DockerArchiveFormat::Oci)
                .image(&["good:1"], &base)
                .write(&good)
                .unwrap();
            k.ok(&["load", "-i", good.to_str().unwrap()]);
        }
    }
}

#[test]
fn garbage_archives_get_a_clear_error() {
    let k = Kasane::new();
    let path = k.path("junk.tar");
    std::fs::write(&path, b"this is not a tar file at all").unwrap();
    let (code, err) = k.fail(&["load", "-i", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.starts_with("Error: "), "{err}");
    let (_, err) = k.fail(&["load", "-i", "/nonexistent/x.tar"]);
    assert!(err.contains("/nonexistent/x.tar"), "{err}");
}

#[test]
fn hostile_rootfs_tarballs_are_refused_or_confined_by_import() {
    let k = Kasane::new();
    for case in corpus() {
        let path = k.path("hostile.tar");
        std::fs::write(&path, &case.tar).unwrap();
        let out = k.run(&["import", path.to_str().unwrap(), "hostile:1"]);
        match case.expect {
            Expect::Reject => assert!(!out.status.success(), "{} was accepted", case.name),
            Expect::Confined => {}
        }
        // Nothing escaped the snapshot tree: the test dir holds only the root, the tar and
        // the isolated environment (HOME, registry configuration).
        let mut top: Vec<String> = std::fs::read_dir(k.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(top, ["env", "hostile.tar", "root"], "{}", case.name);
        let mut root: Vec<String> = std::fs::read_dir(&k.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("kasane.db"))
            .collect();
        root.sort();
        assert_eq!(
            root,
            ["blobs", "gc.lock", "ingest", "snapshots", "tmp"],
            "{}",
            case.name
        );
        k.check_clean();
        let _ = k.run(&["rmi", "hostile:1"]);
    }
}
