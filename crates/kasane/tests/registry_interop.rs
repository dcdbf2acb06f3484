//! Interop through a real registry (Debian's `docker-registry` on 127.0.0.1) with the real
//! peers, both ways: images pushed by skopeo and podman pull in kasane, and kasane's pushes
//! pull in skopeo and podman, with identical digests; the rootfs kasane unpacks is
//! file-for-file identical (content, mode, owner, xattrs, symlinks, hard links, whiteouts
//! applied) to `umoci unpack` of the same image. Needs root and the peers (installed by
//! scripts/test.sh); skips otherwise.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Kasane, have, is_root};
use kasane_testsupport::entry::Entry;
use kasane_testsupport::registry::{Auth, Distribution, DistributionOptions};
use kasane_testsupport::{CompareOptions, Image, ImageBuilder, LayerBuilder, OciLayout, Rootfs};

fn rich_image() -> Image {
    ImageBuilder::new()
        .created(1_700_000_000)
        .layer(
            LayerBuilder::new(200)
                .dir("etc")
                .entry(Entry::file("etc/owned", b"owned by 1000\n".to_vec()).owner(1000, 1000))
                .entry(Entry::file("etc/secret", b"0600\n".to_vec()).mode(0o600))
                .entry(Entry::file("etc/tagged", b"xattr\n".to_vec()).xattr("user.kasane", "yes"))
                .symlink("etc/link", "owned")
                .file("etc/orig", b"linked\n".to_vec())
                .hardlink("etc/hard", "etc/orig")
                .dir("gone")
                .file("gone/file", b"removed later\n".to_vec())
                .dir("opaque")
                .file("opaque/old", b"hidden by opaque\n".to_vec())
                .random_file("big", 500_000)
                .build(),
            "ADD rootfs /",
        )
        .layer(
            LayerBuilder::new(201)
                .whiteout("gone")
                .opaque("opaque")
                .file("opaque/new", b"new\n".to_vec())
                .file("big", b"replaced\n".to_vec())
                .build(),
            "RUN change",
        )
        .cmd(&["/bin/sh"])
        .build()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn podman(dir: &Path) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .arg("--storage-driver")
        .arg("vfs");
    c
}

/// `umoci unpack` of `target` (an image in a registry), copied with skopeo into a layout.
fn umoci_rootfs(work: &Path, target: &str) -> Rootfs {
    let layout = work.join("umoci-layout");
    let bundle = work.join("umoci-bundle");
    run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        target,
        &format!("oci:{}:img", layout.display()),
    ]));
    run(Command::new("umoci").args([
        "unpack",
        "--image",
        &format!("{}:img", layout.display()),
        bundle.to_str().unwrap(),
    ]));
    Rootfs::scan(&bundle.join("rootfs"), &[]).unwrap()
}

fn peers_ready() -> bool {
    if !is_root() {
        eprintln!("SKIP: needs root (owners, xattrs, podman's store)");
        return false;
    }
    for p in ["skopeo", "podman", "umoci"] {
        if !have(p) {
            eprintln!("SKIP: {p} is not installed");
            return false;
        }
    }
    if !Distribution::available() {
        eprintln!("SKIP: docker-registry is not installed");
        return false;
    }
    true
}

fn compare(expected: &Rootfs, actual: &Rootfs, what: &str) {
    let opts = CompareOptions {
        dir_mtimes: false,
        ..CompareOptions::default()
    };
    let problems = expected.diff(actual, &opts);
    assert!(problems.is_empty(), "{what}: {problems:#?}");
}

#[test]
fn skopeo_pushes_kasane_pulls_same_digest_and_files_as_umoci() {
    if !peers_ready() {
        return;
    }
    let reg = Distribution::start(DistributionOptions {
        auth: Auth::None,
        ..DistributionOptions::default()
    })
    .unwrap();
    let img = rich_image();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("src");
    OciLayout::new()
        .image("rich:1", &img)
        .write(&layout)
        .unwrap();
    let target = format!("docker://{}/interop/rich:1", reg.host());
    run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:rich:1", layout.display()),
        &target,
    ]));
    let digest = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &target,
    ]));

    let k = Kasane::with_driver("native");
    let name = format!("{}/interop/rich:1", reg.host());
    let out = k.ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {}", digest.trim())), "{out}");
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
    let ours = Rootfs::scan(&k.top_dir(&name), &[]).unwrap();
    compare(&img.rootfs(), &ours, "kasane vs the image's own model");
    let theirs = umoci_rootfs(work.path(), &target);
    compare(&theirs, &ours, "kasane vs umoci unpack");
    k.check_clean();
}

#[test]
fn kasane_pushes_skopeo_and_podman_pull_same_digest() {
    if !peers_ready() {
        return;
    }
    let reg = Distribution::start(DistributionOptions {
        auth: Auth::None,
        ..DistributionOptions::default()
    })
    .unwrap();
    let img = rich_image();
    let k = Kasane::new();
    let archive = k.path("in.tar");
    let name = format!("{}/interop/pushed:1", reg.host());
    OciLayout::new()
        .image(&name, &img)
        .write_archive(&archive, kasane_testsupport::Compression::None)
        .unwrap();
    k.ok(&["load", "-i", archive.to_str().unwrap()]);
    let out = k.ok(&["push", &name]);
    let digest = out
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    let target = format!("docker://{name}");
    let seen = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &target,
    ]));
    assert_eq!(seen.trim(), digest);

    let work = tempfile::tempdir().unwrap();
    let pm = work.path().join("podman");
    run(podman(&pm).args(["pull", "--tls-verify=false", &name]));
    let id = run(podman(&pm).args(["image", "inspect", "--format", "{{.Id}}", &name]));
    assert_eq!(id.trim(), img.id().hex());
    let digests = run(podman(&pm).args(["image", "inspect", "--format", "{{.Digest}}", &name]));
    assert_eq!(digests.trim(), digest);

    // podman pushes it elsewhere; kasane pulls podman's push with podman's digest.
    let again = format!("{}/interop/from-podman:1", reg.host());
    run(podman(&pm).args(["tag", &name, &again]));
    run(podman(&pm).args(["push", "--tls-verify=false", &again]));
    let podman_digest = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{again}"),
    ]));
    let k2 = Kasane::with_driver("native");
    let out = k2.ok(&["pull", &again]);
    assert!(
        out.contains(&format!("Digest: {}", podman_digest.trim())),
        "{out}"
    );
    assert_eq!(
        k2.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
    let ours = Rootfs::scan(&k2.top_dir(&again), &[]).unwrap();
    let theirs = umoci_rootfs(work.path(), &format!("docker://{again}"));
    compare(&theirs, &ours, "kasane vs umoci (podman's push)");
    k2.check_clean();
}
