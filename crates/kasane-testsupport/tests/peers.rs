//! Real tools accept what this crate generates: `skopeo inspect`/`copy` read every layout and
//! archive, and `umoci unpack` (root only) produces exactly the expected merged rootfs.
//! Each test skips loudly (`SKIP: <reason>`) when its tool or privilege is missing.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use kasane_testsupport::{
    CompareOptions, Compression, DockerArchive, DockerArchiveFormat, Entry, History, Image,
    ImageBuilder, IndexBuilder, LayerBuilder, ManifestFormat, OciLayout, Rootfs, classic,
};
use serde_json::Value;

fn tool(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
}

fn is_root() -> bool {
    // /proc/self belongs to the effective uid of the process reading it.
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Runs a command; returns (success, stdout, stderr).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn skopeo(args: &[&str]) -> (bool, String, String) {
    // --insecure-policy: no /etc/containers/policy.json is needed for local transports.
    run(Command::new("skopeo").arg("--insecure-policy").args(args))
}

fn inspect(target: &str) -> Value {
    let (ok, out, err) = skopeo(&["inspect", target]);
    assert!(ok, "skopeo inspect {target}: {err}");
    serde_json::from_str(&out).unwrap()
}

fn raw(target: &str, config: bool) -> Vec<u8> {
    let mut args = vec!["inspect", "--raw"];
    if config {
        args.push("--config");
    }
    args.push(target);
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Base with every portable kind of entry, and a top layer with whiteouts, an opaque dir,
/// a replaced file, xattrs and a setuid binary.
fn rich_image(format: ManifestFormat, c: Compression) -> Image {
    let base = LayerBuilder::random_tree(11, 150)
        .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        .entry(Entry::dir("var/lib/app").owner(1000, 1000).mode(0o750))
        .file("var/lib/app/state", "old")
        .file("var/lib/app/more", "old")
        .file("opt/gone", "bye")
        .build();
    let top = LayerBuilder::new(12)
        .whiteout("opt/gone")
        .opaque("var/lib/app")
        .entry(Entry::dir("var/lib/app").owner(1000, 1000).mode(0o750))
        .file("var/lib/app/fresh", "new")
        .entry(Entry::random_file("usr/bin/suid", 2000).mode(0o4755))
        .entry(
            Entry::file(
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n",
            )
            .xattr("user.kasane", "1"),
        )
        .hardlink("usr/bin/suid-link", "usr/bin/suid")
        .build();
    ImageBuilder::new()
        .layer(base, &classic::add_file(b"rootfs", "/"))
        .history(History::empty(classic::env(&[("PATH", "/usr/bin:/bin")])))
        .layer(top, &classic::run("adduser app"))
        .env("PATH=/usr/bin:/bin")
        .label("org.example.k", "v")
        .cmd(&["sh"])
        .format(format)
        .compression(c)
        .build()
}

#[test]
fn skopeo_reads_oci_layouts() {
    if tool("skopeo").is_none() {
        println!("SKIP: skopeo not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayout::new();
    let mut images = Vec::new();
    for (name, format, c) in [
        ("oci-gzip", ManifestFormat::Oci, Compression::Gzip),
        ("oci-zstd", ManifestFormat::Oci, Compression::Zstd),
        ("oci-none", ManifestFormat::Oci, Compression::None),
    ] {
        let img = rich_image(format, c);
        layout = layout.image(name, &img);
        images.push((name, img));
    }
    let layout_dir = dir.path().join("layout");
    layout.write(&layout_dir).unwrap();
    for (name, img) in &images {
        let target = format!("oci:{}:{name}", layout_dir.display());
        let v = inspect(&target);
        assert_eq!(v["Digest"], img.manifest_digest.as_str(), "{name}");
        let layers: Vec<&str> = v["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let want: Vec<String> = img
            .layer_digests()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(layers, want, "{name}");
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Env"], serde_json::json!(["PATH=/usr/bin:/bin"]));
        assert_eq!(v["Labels"]["org.example.k"], "v");
        assert_eq!(raw(&target, false), img.manifest, "{name}: manifest bytes");
        assert_eq!(raw(&target, true), img.config, "{name}: config bytes");
        // `copy` reads and verifies every blob.
        let out = dir.path().join(format!("copy-{name}"));
        let (ok, _, err) = skopeo(&["copy", "-q", &target, &format!("dir:{}", out.display())]);
        assert!(ok, "{name}: skopeo copy: {err}");
    }

    // skopeo 1.9 skips index.json descriptors with non-OCI media types when matching a ref
    // (containers/image `oci/layout` `getManifestDescriptor`), but takes the only manifest of
    // a layout when no ref is given: that is how a Docker v2s2 image is checked.
    let docker = rich_image(ManifestFormat::Docker, Compression::Gzip);
    let docker_dir = dir.path().join("layout-docker");
    OciLayout::new()
        .untagged_image(&docker)
        .write(&docker_dir)
        .unwrap();
    let target = format!("oci:{}", docker_dir.display());
    assert_eq!(inspect(&target)["Digest"], docker.manifest_digest.as_str());
    assert_eq!(raw(&target, false), docker.manifest);
    let out = dir.path().join("copy-docker");
    let (ok, _, err) = skopeo(&["copy", "-q", &target, &format!("dir:{}", out.display())]);
    assert!(ok, "docker v2s2: skopeo copy: {err}");
}

#[test]
fn skopeo_reads_multi_platform_indexes_and_oci_archives() {
    if tool("skopeo").is_none() {
        println!("SKIP: skopeo not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let l = Arc::new(LayerBuilder::new(1).file("f", "x").build());
    let amd = ImageBuilder::new().layer(Arc::clone(&l), "x").build();
    let arm = ImageBuilder::new()
        .platform("linux", "arm64", Some("v8"))
        .layer(l, "x")
        .build();
    let idx = IndexBuilder::new(ManifestFormat::Oci)
        .image(amd.clone())
        .image(arm.clone())
        .build();
    let layout = OciLayout::new().index("multi", &idx).image("single", &amd);
    let layout_dir = dir.path().join("layout");
    layout.write(&layout_dir).unwrap();
    let target = format!("oci:{}:multi", layout_dir.display());
    assert_eq!(raw(&target, false), idx.manifest, "index bytes");
    for (arch, img) in [("amd64", &amd), ("arm64", &arm)] {
        let (ok, out, err) = skopeo(&[
            "--override-arch",
            arch,
            "inspect",
            "--config",
            "--raw",
            &target,
        ]);
        assert!(ok, "{arch}: {err}");
        assert_eq!(out.as_bytes(), img.config, "{arch}");
    }
    for c in [Compression::None, Compression::Gzip] {
        let archive = dir.path().join("oci.tar");
        layout.write_archive(&archive, c).unwrap();
        let (ok, out, err) = skopeo(&[
            "inspect",
            &format!("oci-archive:{}:single", archive.display()),
        ]);
        assert!(ok, "{c:?}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Digest"], amd.manifest_digest.as_str());
    }
}

#[test]
fn skopeo_reads_docker_archives() {
    if tool("skopeo").is_none() {
        println!("SKIP: skopeo not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = rich_image(ManifestFormat::Oci, Compression::Gzip);
    for format in [DockerArchiveFormat::Legacy, DockerArchiveFormat::Oci] {
        // skopeo 1.9 reads docker archives as plain tars only (docker load also takes gzip and
        // zstd; the compressed variants are covered by `check_docker_archive`).
        let c = Compression::None;
        let path = dir.path().join(format!("{format:?}-{c:?}.tar"));
        DockerArchive::new(format)
            .image(&["demo:1"], &img)
            .compression(c)
            .write(&path)
            .unwrap();
        let target = format!("docker-archive:{}", path.display());
        let v = inspect(&target);
        // skopeo reports the uncompressed layers of a docker archive: their DiffIDs.
        let layers: Vec<&str> = v["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let want: Vec<String> = img.diff_ids().iter().map(ToString::to_string).collect();
        assert_eq!(layers, want, "{format:?} {c:?}");
        assert_eq!(
            raw(&target, true),
            img.config,
            "{format:?} {c:?}: config bytes"
        );
        let out = dir.path().join(format!("copy-{format:?}-{c:?}"));
        let (ok, _, err) = skopeo(&["copy", "-q", &target, &format!("oci:{}:x", out.display())]);
        assert!(ok, "{format:?} {c:?}: skopeo copy: {err}");
    }
}

#[test]
fn skopeo_copy_rejects_corrupt_blobs() {
    if tool("skopeo").is_none() {
        println!("SKIP: skopeo not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = rich_image(ManifestFormat::Oci, Compression::Gzip);
    for (name, bad) in [
        ("digest", good.with_wrong_blob_digest(1)),
        ("size", good.with_wrong_blob_size(1)),
    ] {
        let layout = dir.path().join(name);
        OciLayout::new().image("bad", &bad).write(&layout).unwrap();
        let out = dir.path().join(format!("copy-{name}"));
        let (ok, _, err) = skopeo(&[
            "copy",
            "-q",
            &format!("oci:{}:bad", layout.display()),
            &format!("dir:{}", out.display()),
        ]);
        if name == "size" && ok {
            // containers/image 5.2x trusts a descriptor's size when copying to `dir:`; only the
            // digest is verified. The fault is still there for stricter readers (and kasane).
            println!("note: skopeo copy does not verify descriptor sizes");
            continue;
        }
        assert!(!ok, "{name}: skopeo copy accepted a corrupt blob");
        println!("{name}: skopeo says: {}", err.trim());
    }
}

#[test]
fn umoci_unpacks_to_the_expected_rootfs() {
    if tool("umoci").is_none() {
        println!("SKIP: umoci not on PATH");
        return;
    }
    if !is_root() {
        println!("SKIP: umoci unpack needs root to reproduce owners and devices");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let devices = ImageBuilder::new()
        .layer(
            LayerBuilder::new(5)
                .char_device("dev/null", 1, 3)
                .block_device("dev/loop9", 7, 9)
                .fifo("dev/initctl")
                .build(),
            "devices",
        )
        .build();
    for (name, img) in [
        ("gzip", rich_image(ManifestFormat::Oci, Compression::Gzip)),
        ("none", rich_image(ManifestFormat::Oci, Compression::None)),
        ("devices", devices),
    ] {
        let layout = dir.path().join(format!("layout-{name}"));
        OciLayout::new().image("v1", &img).write(&layout).unwrap();
        let bundle = dir.path().join(format!("bundle-{name}"));
        let (ok, _, err) = run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:v1", layout.display()))
            .arg(&bundle));
        assert!(ok, "{name}: umoci unpack: {err}");
        let actual = Rootfs::scan(&bundle.join("rootfs"), &[]).unwrap();
        let expected = img.rootfs();
        let diff = expected.diff(&actual, &CompareOptions::default());
        assert!(
            diff.is_empty(),
            "{name}: umoci's rootfs differs from the model:\n{}",
            diff.join("\n")
        );
        assert!(name == "devices" || bundle.join("rootfs/etc/passwd").exists());
        assert!(!Path::new(&bundle.join("rootfs/opt/gone")).exists());
    }
}

#[test]
fn umoci_rejects_corrupt_layers() {
    if tool("umoci").is_none() {
        println!("SKIP: umoci not on PATH");
        return;
    }
    if !is_root() {
        println!("SKIP: umoci unpack needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = rich_image(ManifestFormat::Oci, Compression::Gzip);
    for (name, bad) in [
        ("truncated", good.truncate_gzip_layer(1)),
        ("diff-id", good.with_wrong_diff_id(1)),
        ("digest", good.with_wrong_blob_digest(0)),
    ] {
        let layout = dir.path().join(name);
        OciLayout::new().image("bad", &bad).write(&layout).unwrap();
        let bundle = dir.path().join(format!("bundle-{name}"));
        let (ok, _, err) = run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:bad", layout.display()))
            .arg(&bundle));
        assert!(!ok, "{name}: umoci accepted a corrupt image");
        println!(
            "{name}: umoci says: {}",
            err.lines().last().unwrap_or_default()
        );
    }
}

#[test]
fn docker_archives_unpack_to_the_expected_rootfs() {
    if tool("skopeo").is_none() || tool("umoci").is_none() {
        println!("SKIP: needs both skopeo and umoci on PATH");
        return;
    }
    if !is_root() {
        println!("SKIP: umoci unpack needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = rich_image(ManifestFormat::Oci, Compression::Gzip);
    for format in [DockerArchiveFormat::Legacy, DockerArchiveFormat::Oci] {
        let archive = dir.path().join(format!("{format:?}.tar"));
        DockerArchive::new(format)
            .image(&["demo:1"], &img)
            .write(&archive)
            .unwrap();
        let layout = dir.path().join(format!("{format:?}-layout"));
        let (ok, _, err) = skopeo(&[
            "copy",
            "-q",
            &format!("docker-archive:{}", archive.display()),
            &format!("oci:{}:x", layout.display()),
        ]);
        assert!(ok, "{format:?}: skopeo copy: {err}");
        let bundle = dir.path().join(format!("{format:?}-bundle"));
        let (ok, _, err) = run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:x", layout.display()))
            .arg(&bundle));
        assert!(ok, "{format:?}: umoci unpack: {err}");
        let diff = img.rootfs().diff(
            &Rootfs::scan(&bundle.join("rootfs"), &[]).unwrap(),
            &CompareOptions::default(),
        );
        assert!(diff.is_empty(), "{format:?}:\n{}", diff.join("\n"));
    }
}

#[test]
fn gnu_tar_extracts_the_flattened_rootfs() {
    if tool("tar").is_none() {
        println!("SKIP: tar not on PATH");
        return;
    }
    let root = is_root();
    let dir = tempfile::tempdir().unwrap();
    let img = rich_image(ManifestFormat::Oci, Compression::Gzip);
    let tarball = dir.path().join("rootfs.tar.gz");
    img.write_rootfs_tar(&tarball, true).unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let mut cmd = Command::new("tar");
    cmd.arg("-xzpf").arg(&tarball).arg("-C").arg(&out).args([
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=user.*",
    ]);
    if root {
        cmd.arg("--same-owner");
    }
    let (ok, _, err) = run(&mut cmd);
    assert!(ok, "tar -x: {err}");
    let opts = CompareOptions {
        owners: root,
        ..CompareOptions::default()
    };
    let diff = img.rootfs().diff(&Rootfs::scan(&out, &[]).unwrap(), &opts);
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}
