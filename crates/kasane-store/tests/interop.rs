//! Interop with peer tools on this machine: skopeo (and podman) read what kasane writes, and
//! kasane reads what skopeo writes. Each test skips loudly when its tool is missing.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::path::Path;
use std::process::Command;

use common::{TestImage, base_layers, build_image, linux};
use kasane_oci::{Digest, Reference};
use kasane_store::archive::{
    DockerArchive, DockerArchiveWriter, ImageArchive, OciArchiveWriter, OciLayoutDir, SaveImage,
    open_archive,
};
use kasane_store::copy::{CopyOptions, copy_graph};
use kasane_store::local::LocalStore;
use kasane_store::{Provider, read_blob};

const SKOPEO: &str = "/usr/bin/skopeo";
const PODMAN: &str = "/usr/bin/podman";

/// `Some(reason)` when the test cannot run here.
fn missing(tool: &str) -> Option<String> {
    if !Path::new(tool).exists() {
        return Some(format!("{tool} not installed"));
    }
    if !rustix::process::geteuid().is_root() {
        return Some("not running as root".into());
    }
    None
}

macro_rules! require {
    ($tool:expr) => {
        if let Some(reason) = missing($tool) {
            eprintln!("SKIP: {reason}");
            return;
        }
    };
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn skopeo() -> Command {
    let mut c = Command::new(SKOPEO);
    // No registry is ever contacted; keep skopeo from reading user policy and auth files.
    c.args(["--insecure-policy", "--tmpdir", "/tmp"]);
    c
}

fn image(store: &LocalStore) -> TestImage {
    let layers = base_layers();
    build_image(
        store,
        &linux("amd64"),
        &[&layers[0], &layers[1]],
        true,
        "interop",
    )
}

fn has(store: &LocalStore) -> impl Fn(&Digest) -> kasane_store::Result<bool> + Sync + '_ {
    |d| Ok(store.contains(d)?.is_some())
}

fn save_docker(store: &LocalStore, img: &TestImage, name: &str, path: &Path) {
    let sink = DockerArchiveWriter::new(File::create(path).unwrap());
    copy_graph(
        store,
        &sink,
        &|d| Ok(sink.has(d)),
        &img.manifest,
        &CopyOptions::default(),
    )
    .unwrap();
    sink.finish(&[SaveImage {
        root: img.manifest.clone(),
        names: vec![name.parse::<Reference>().unwrap()],
    }])
    .unwrap();
}

#[test]
fn skopeo_inspects_our_docker_archive() {
    require!(SKOPEO);
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("root")).unwrap();
    let img = image(&store);
    let path = dir.path().join("docker.tar");
    save_docker(&store, &img, "demo:1", &path);
    let out = run(skopeo()
        .arg("inspect")
        .arg(format!("docker-archive:{}", path.display())));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Labels"]["test"], "interop");
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    // And its config is ours, byte for byte.
    let raw = run(skopeo()
        .args(["inspect", "--config", "--raw"])
        .arg(format!("docker-archive:{}", path.display())));
    assert_eq!(Digest::sha256_of(raw.as_bytes()), img.config.digest);
}

#[test]
fn skopeo_inspects_our_oci_archive() {
    require!(SKOPEO);
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("root")).unwrap();
    let img = image(&store);
    let path = dir.path().join("oci.tar");
    let sink = OciArchiveWriter::new(File::create(&path).unwrap());
    copy_graph(
        &store,
        &sink,
        &|d| Ok(sink.has(d)),
        &img.manifest,
        &CopyOptions::default(),
    )
    .unwrap();
    sink.finish(&[SaveImage {
        root: img.manifest.clone(),
        names: vec!["demo:1".parse().unwrap()],
    }])
    .unwrap();
    let raw = run(skopeo()
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", path.display())));
    assert_eq!(
        Digest::sha256_of(raw.as_bytes()),
        img.manifest.digest,
        "the manifest is served as stored"
    );
    let out = run(skopeo()
        .arg("inspect")
        .arg(format!("oci-archive:{}", path.display())));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Os"], "linux");
    let layers: Vec<String> = v["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    let ours: Vec<String> = img.layers.iter().map(|l| l.digest.to_string()).collect();
    assert_eq!(layers, ours);
}

#[test]
fn skopeo_docker_archive_loads_with_the_same_config() {
    require!(SKOPEO);
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("root")).unwrap();
    let img = image(&store);
    let layout_dir = dir.path().join("layout");
    let layout = OciLayoutDir::create(&layout_dir).unwrap();
    let to_layout = |d: &Digest| Ok(layout.contains(d)?.is_some());
    copy_graph(
        &store,
        &layout,
        &to_layout,
        &img.manifest,
        &CopyOptions::default(),
    )
    .unwrap();
    // ref.name is the tag: `demo:x` is found by skopeo as `oci:<dir>:x`.
    layout
        .add_images(&[SaveImage {
            root: img.manifest.clone(),
            names: vec!["demo:x".parse().unwrap()],
        }])
        .unwrap();
    let out_tar = dir.path().join("skopeo.tar");
    run(skopeo()
        .arg("copy")
        .arg(format!("oci:{}:x", layout_dir.display()))
        .arg(format!("docker-archive:{}:demo:x", out_tar.display())));

    let archive = DockerArchive::open(&out_tar).unwrap();
    let images = archive.images();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].repo_tags, ["docker.io/library/demo:x"]);
    let manifest: kasane_oci::Manifest =
        serde_json::from_slice(&read_blob(&archive, &images[0].manifest).unwrap()).unwrap();
    assert_eq!(
        manifest.config.digest, img.config.digest,
        "identical config digest"
    );
    // skopeo writes uncompressed layers: their digests are the DiffIDs.
    let layer_digests: Vec<Digest> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(layer_digests, img.diff_ids);

    // Load it into a fresh store.
    let other = LocalStore::open(&dir.path().join("root2")).unwrap();
    let sniffed = open_archive(&out_tar).unwrap();
    copy_graph(
        sniffed.as_provider(),
        &other,
        &has(&other),
        &images[0].manifest,
        &CopyOptions::default(),
    )
    .unwrap();
    other.verify(&img.config.digest).unwrap();
}

#[test]
fn skopeo_reads_our_docker_archive_into_an_oci_layout() {
    require!(SKOPEO);
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("root")).unwrap();
    let img = image(&store);
    let path = dir.path().join("docker.tar");
    save_docker(&store, &img, "demo:1", &path);
    let out = dir.path().join("out");
    run(skopeo()
        .arg("copy")
        .arg(format!("docker-archive:{}", path.display()))
        .arg(format!("oci:{}:copied", out.display())));
    let layout = OciLayoutDir::open(&out).unwrap();
    let images = layout.images().unwrap();
    assert_eq!(images.len(), 1);
    let manifest: kasane_oci::Manifest =
        serde_json::from_slice(&read_blob(&layout, &images[0].manifest).unwrap()).unwrap();
    assert_eq!(manifest.config.digest, img.config.digest);
}

#[test]
fn podman_loads_our_docker_archive() {
    require!(PODMAN);
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("root")).unwrap();
    let img = image(&store);
    let path = dir.path().join("docker.tar");
    save_docker(&store, &img, "demo:1", &path);
    let podman = || {
        let mut c = Command::new(PODMAN);
        c.arg("--root")
            .arg(dir.path().join("podman-root"))
            .arg("--runroot")
            .arg(dir.path().join("podman-run"))
            .args([
                "--storage-driver",
                "vfs",
                "--events-backend",
                "none",
                "--cgroup-manager",
                "cgroupfs",
            ]);
        c
    };
    let out = run(podman().arg("load").arg("-i").arg(&path));
    assert!(out.contains("demo:1"), "{out}");
    let id = run(podman().args(["image", "inspect", "--format", "{{.Id}}", "demo:1"]));
    assert_eq!(
        id.trim(),
        img.config.digest.hex(),
        "podman's image ID is our config digest"
    );
}
