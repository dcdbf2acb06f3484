//! Interop with the real peers, both directions: kasane's archives load in podman and pass
//! skopeo; podman's archives load in kasane with the same image ID, digests and files.
//! Needs root and Debian's podman and skopeo (installed by scripts/test.sh); skips otherwise.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Kasane, have, is_root};
use kasane_testsupport::{CompareOptions, ImageBuilder, LayerBuilder, OciLayout, Rootfs};

/// podman with a private store in `dir` (never the machine's).
fn podman(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("podman")
        .arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .arg("--storage-driver")
        .arg("vfs")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn skopeo_inspect(target: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args(["inspect", target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sample_image() -> kasane_testsupport::Image {
    ImageBuilder::new()
        .created(1_700_000_000)
        .layer(
            LayerBuilder::new(1)
                .dir("etc")
                .file("etc/hostname", b"kasane\n".to_vec())
                .symlink("etc/link", "hostname")
                .random_file("big", 100_000)
                .build(),
            "ADD rootfs /",
        )
        .layer(
            LayerBuilder::new(2)
                .dir("app")
                .file("app/run.sh", b"#!/bin/sh\necho hi\n".to_vec())
                .whiteout("big")
                .build(),
            "COPY app /app",
        )
        .env("PATH=/usr/bin:/bin")
        .cmd(&["/app/run.sh"])
        .expose("8080/tcp")
        .build()
}

#[test]
fn kasane_archives_load_in_podman_and_pass_skopeo() {
    require!(is_root(), "needs root (podman's store, overlay whiteouts)");
    require!(
        have("podman") && have("skopeo"),
        "podman and skopeo are not installed"
    );
    let k = Kasane::new();
    let img = sample_image();
    let layout = k.path("layout");
    OciLayout::new()
        .image("docker.io/library/sample:1", &img)
        .write(&layout)
        .unwrap();
    let archive = k.path("in.tar");
    OciLayout::new()
        .image("docker.io/library/sample:1", &img)
        .write_archive(&archive, kasane_testsupport::Compression::None)
        .unwrap();
    k.ok(&["load", "-i", archive.to_str().unwrap()]);
    for format in ["docker-archive", "oci-archive"] {
        let out = k.path(&format!("{format}.tar"));
        k.ok(&[
            "save",
            "--format",
            format,
            "-o",
            out.to_str().unwrap(),
            "sample:1",
        ]);
        let inspected = skopeo_inspect(&format!("{format}:{}", out.display()));
        assert_eq!(
            inspected["Layers"].as_array().unwrap().len(),
            2,
            "{format}: {inspected}"
        );
        let pm = k.path(&format!("podman-{format}"));
        let loaded = podman(&pm, &["load", "-i", out.to_str().unwrap()]);
        assert!(loaded.contains("Loaded image"), "{loaded}");
        let id = podman(
            &pm,
            &["image", "inspect", "--format", "{{.Id}}", "sample:1"],
        );
        assert_eq!(
            id.trim(),
            img.id().hex(),
            "{format}: podman sees another image ID"
        );
        let diffs = podman(
            &pm,
            &[
                "image",
                "inspect",
                "--format",
                "{{json .RootFS.Layers}}",
                "sample:1",
            ],
        );
        let diffs: Vec<String> = serde_json::from_str(diffs.trim()).unwrap();
        let want: Vec<String> = img
            .diff_ids()
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect();
        assert_eq!(diffs, want);
    }
}

#[test]
fn podman_archives_load_in_kasane_with_same_id_digests_and_files() {
    require!(is_root(), "needs root (podman's store, owners and devices)");
    require!(have("podman"), "podman is not installed");
    let img = sample_image();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src.tar");
    OciLayout::new()
        .image("docker.io/library/sample:1", &img)
        .write_archive(&src, kasane_testsupport::Compression::None)
        .unwrap();
    let pm = work.path().join("podman");
    podman(&pm, &["load", "-i", src.to_str().unwrap()]);
    for (format, driver) in [
        ("docker-archive", "native"),
        ("oci-archive", "native"),
        ("docker-archive", "overlay"),
    ] {
        let saved = work.path().join(format!("podman-{format}.tar"));
        let _ = std::fs::remove_file(&saved);
        podman(
            &pm,
            &[
                "save",
                "--format",
                format,
                "-o",
                saved.to_str().unwrap(),
                "sample:1",
            ],
        );
        let k = Kasane::with_driver(driver);
        let out = k.ok(&["load", "-i", saved.to_str().unwrap()]);
        assert_eq!(out, "Loaded image: sample:1\n", "{format}");
        assert_eq!(
            k.ok(&["images", "-q", "--no-trunc"]).trim(),
            img.id().as_str(),
            "{format}: image ID differs"
        );
        let layers = k.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", "sample:1"]);
        let layers: Vec<String> = serde_json::from_str(layers.trim()).unwrap();
        let want: Vec<String> = img
            .diff_ids()
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect();
        assert_eq!(layers, want, "{format}: diff IDs differ");
        if driver == "native" {
            // The native snapshot of the top layer is the whole root filesystem.
            let actual = Rootfs::scan(&k.top_dir("sample:1"), &[]).unwrap();
            let problems = img.rootfs().diff(&actual, &CompareOptions::default());
            assert!(problems.is_empty(), "{format}: files differ: {problems:#?}");
        }
        k.check_clean();
    }
}
