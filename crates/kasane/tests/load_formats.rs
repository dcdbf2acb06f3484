//! `load` accepts every archive shape docker and podman write — both docker-archive layouts,
//! oci-archive with a multi-arch index, gzip/zstd-compressed archives, stdin — and several
//! kasane processes can load and prune at once.
#![allow(clippy::unwrap_used)]

mod common;

use common::Kasane;
use kasane_testsupport::{
    Compression, DockerArchive, DockerArchiveFormat, ImageBuilder, IndexBuilder, LayerBuilder,
    ManifestFormat, OciLayout,
};

fn image(seed: u64) -> kasane_testsupport::Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new(seed)
                .dir("x")
                .random_file("x/f", 5_000)
                .build(),
            "ADD x",
        )
        .cmd(&["sh"])
        .build()
}

#[test]
fn legacy_and_current_docker_archives_compressed_or_not_from_file_or_stdin() {
    let img = image(1);
    for format in [DockerArchiveFormat::Legacy, DockerArchiveFormat::Oci] {
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let k = Kasane::new();
            let path = k.path("a.tar");
            DockerArchive::new(format)
                .image(&["demo:1", "demo:latest"], &img)
                .compression(compression)
                .write(&path)
                .unwrap();
            let out = k.ok(&["load", "-i", path.to_str().unwrap()]);
            assert_eq!(
                out, "Loaded image: demo:1\nLoaded image: demo:latest\n",
                "{format:?} {compression:?}"
            );
            assert_eq!(
                k.ok(&["images", "-q", "--no-trunc"])
                    .lines()
                    .next()
                    .unwrap(),
                img.id().as_str()
            );
            // The same archive from stdin.
            let k2 = Kasane::new();
            let out = k2
                .cmd(&["load"])
                .pipe_stdin(&path)
                .unwrap()
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                k2.ok(&["inspect", "--format", "{{.Id}}", "demo:1"]).trim(),
                img.id().as_str()
            );
            k2.check_clean();
        }
    }
}

#[test]
fn an_index_loads_the_host_platform() {
    let k = Kasane::new();
    let amd = ImageBuilder::new()
        .platform("linux", "amd64", None)
        .layer(
            LayerBuilder::new(5)
                .file("arch", b"amd64\n".to_vec())
                .build(),
            "ADD arch",
        )
        .build();
    let arm = ImageBuilder::new()
        .platform("linux", "arm64", Some("v8"))
        .layer(
            LayerBuilder::new(6)
                .file("arch", b"arm64\n".to_vec())
                .build(),
            "ADD arch",
        )
        .build();
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(arm.clone())
        .image(amd.clone())
        .build();
    let path = k.path("multi.tar");
    OciLayout::new()
        .index("docker.io/library/multi:1", &index)
        .write_archive(&path, Compression::None)
        .unwrap();
    assert_eq!(
        k.ok(&["load", "-i", path.to_str().unwrap()]),
        "Loaded image: multi:1\n"
    );
    let host = if cfg!(target_arch = "aarch64") {
        &arm
    } else {
        &amd
    };
    assert_eq!(
        k.ok(&["inspect", "--format", "{{.Id}}", "multi:1"]).trim(),
        host.id().as_str()
    );
    k.check_clean();
    // Saved again, it is the platform image that was loaded.
    let out = k.path("again.tar");
    k.ok(&["save", "-o", out.to_str().unwrap(), "multi:1"]);
    let k2 = Kasane::new();
    k2.ok(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(
        k2.ok(&["inspect", "--format", "{{.Id}}", "multi:1"]).trim(),
        host.id().as_str()
    );
}

#[test]
fn several_processes_load_and_prune_at_once() {
    let k = Kasane::new();
    let images: Vec<_> = (0..4).map(|i| image(100 + i)).collect();
    let paths: Vec<_> = images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let p = k.path(&format!("{i}.tar"));
            DockerArchive::new(DockerArchiveFormat::Oci)
                .image(&[&format!("c{i}:1")], img)
                .write(&p)
                .unwrap();
            p
        })
        .collect();
    // Each archive twice, plus prunes, all at once.
    let mut children = Vec::new();
    for round in 0..2 {
        for p in &paths {
            children.push(
                k.std_cmd(&["load", "-q", "-i", p.to_str().unwrap()])
                    .spawn()
                    .unwrap(),
            );
        }
        if round == 0 {
            children.push(k.std_cmd(&["image", "prune", "-f"]).spawn().unwrap());
            children.push(
                k.std_cmd(&["system", "df"])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            );
        }
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let ids = k.ok(&["images", "-q", "--no-trunc"]);
    for img in &images {
        assert!(ids.contains(img.id().as_str()), "{ids}");
    }
    k.check_clean();
}

#[test]
fn bzip2_and_xz_archives_and_tarballs() {
    require!(
        common::have("xz") && common::have("bzip2"),
        "xz or bzip2 is not installed"
    );
    let img = image(7);
    for tool in ["xz", "bzip2"] {
        let k = Kasane::new();
        let path = k.path("a.tar");
        DockerArchive::new(DockerArchiveFormat::Oci)
            .image(&["comp:1"], &img)
            .write(&path)
            .unwrap();
        let status = std::process::Command::new(tool)
            .arg("-k")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let ext = if tool == "xz" { "xz" } else { "bz2" };
        let compressed = k.path(&format!("a.tar.{ext}"));
        assert_eq!(
            k.ok(&["load", "-i", compressed.to_str().unwrap()]),
            "Loaded image: comp:1\n",
            "{tool}"
        );
        let rootfs = k.path("rootfs.tar");
        img.write_rootfs_tar(&rootfs, false).unwrap();
        assert!(
            std::process::Command::new(tool)
                .arg("-k")
                .arg(&rootfs)
                .status()
                .unwrap()
                .success()
        );
        let tarball = k.path(&format!("rootfs.tar.{ext}"));
        k.ok(&["import", tarball.to_str().unwrap(), "imported:1"]);
        assert_eq!(
            k.ok(&[
                "inspect",
                "--format",
                "{{index .RootFS.Layers 0}}",
                "imported:1"
            ])
            .trim(),
            img.diff_ids()[0].as_str(),
            "{tool}: the imported layer is the uncompressed tarball"
        );
        k.check_clean();
    }
}
