//! Save/load round trips: store → docker-archive / oci-archive → archive source → store.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::sync::Mutex;

use common::{TestImage, base_layers, build_image, build_index, linux};
use kasane_oci::{Descriptor, Digest, Reference, media_type};
use kasane_store::archive::{
    ArchiveImage, DockerArchive, DockerArchiveWriter, ImageArchive, OciArchive, OciArchiveWriter,
    OciLayoutDir, SaveImage, TarIndex, open_archive, open_archive_file, spool_decompressed,
};
use kasane_store::copy::{CopyOptions, ProgressEvent, copy_graph};
use kasane_store::local::LocalStore;
use kasane_store::{Provider, StoreError, read_blob};

fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    (dir, store)
}

fn has(store: &LocalStore) -> impl Fn(&Digest) -> kasane_store::Result<bool> + Sync + '_ {
    |d| Ok(store.contains(d)?.is_some())
}

fn reference(s: &str) -> Reference {
    s.parse().unwrap()
}

/// Two images sharing their first layer.
fn two_images(store: &LocalStore) -> (TestImage, TestImage) {
    let layers = base_layers();
    let a = build_image(store, &linux("amd64"), &[&layers[0], &layers[1]], true, "a");
    let b = build_image(
        store,
        &linux("amd64"),
        &[&layers[0], &[("b.txt", b"only in b\n")]],
        true,
        "b",
    );
    assert_eq!(a.layers[0], b.layers[0]);
    (a, b)
}

fn assert_image_in(store: &LocalStore, img: &TestImage) {
    for d in img.digests() {
        store.verify(&d).unwrap();
    }
}

/// Reads every entry name of a tar (in order) with the tar crate, an independent reader.
fn tar_entries(path: &std::path::Path) -> Vec<(String, Vec<u8>, u64)> {
    let mut ar = tar::Archive::new(File::open(path).unwrap());
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mtime = e.header().mtime().unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data, mtime)
        })
        .collect()
}

fn save_docker(src: &LocalStore, images: &[SaveImage], path: &std::path::Path) -> Vec<String> {
    let sink = DockerArchiveWriter::new(File::create(path).unwrap());
    let events = Mutex::new(Vec::new());
    let progress = |e: &ProgressEvent<'_>| {
        let tag = match e {
            ProgressEvent::Started { desc, .. } => format!("start {}", desc.digest.short()),
            ProgressEvent::Done { desc } => format!("done {}", desc.digest.short()),
            ProgressEvent::AlreadyExists { desc } => format!("exists {}", desc.digest.short()),
            ProgressEvent::Bytes { .. } => return,
            ProgressEvent::Skipped { desc, .. } => format!("skip {}", desc.digest.short()),
        };
        events.lock().unwrap().push(tag);
    };
    let opts = CopyOptions {
        jobs: 1,
        progress: Some(&progress),
        ..CopyOptions::default()
    };
    for image in images {
        copy_graph(src, &sink, &|d| Ok(sink.has(d)), &image.root, &opts).unwrap();
    }
    let file = sink.finish(images).unwrap();
    file.sync_all().unwrap();
    events.into_inner().unwrap()
}

#[test]
fn docker_archive_round_trip() {
    let (_d1, src) = store();
    let (a, b) = two_images(&src);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("save.tar");
    let images = [
        SaveImage {
            root: a.manifest.clone(),
            names: vec![reference("demo:1"), reference("quay.io/x/demo:latest")],
        },
        SaveImage {
            root: b.manifest.clone(),
            names: vec![],
        },
    ];
    let events = save_docker(&src, &images, &path);
    // The shared layer is written once; the second image reports it as already there.
    let shared = a.layers[0].digest.short().to_owned();
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == format!("done {shared}"))
            .count(),
        1
    );
    assert!(events.contains(&format!("exists {shared}")));

    // The layout, read back with an independent tar reader.
    let entries = tar_entries(&path);
    let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
    let blob = |d: &Descriptor| format!("blobs/sha256/{}", d.digest.hex());
    // Walk order: config, layers, then the manifest; the shared layer only once.
    let mut want: Vec<String> = vec![
        blob(&a.config),
        blob(&a.layers[0]),
        blob(&a.layers[1]),
        blob(&a.manifest),
        blob(&b.config),
        blob(&b.layers[1]),
        blob(&b.manifest),
    ];
    want.extend(["oci-layout", "index.json", "manifest.json", "repositories"].map(String::from));
    assert_eq!(names, want);
    assert!(entries.iter().all(|(_, _, mtime)| *mtime == 0));
    let file = |name: &str| {
        String::from_utf8(
            entries
                .iter()
                .find(|(n, _, _)| n == name)
                .unwrap()
                .1
                .clone(),
        )
        .unwrap()
    };
    assert_eq!(file("oci-layout"), r#"{"imageLayoutVersion": "1.0.0"}"#);
    assert_eq!(
        file("manifest.json"),
        format!(
            "[{{\"Config\":\"{}\",\"RepoTags\":[\"demo:1\",\"quay.io/x/demo:latest\"],\"Layers\":[\"{}\",\"{}\"]}},\
             {{\"Config\":\"{}\",\"RepoTags\":null,\"Layers\":[\"{}\",\"{}\"]}}]\n",
            blob(&a.config),
            blob(&a.layers[0]),
            blob(&a.layers[1]),
            blob(&b.config),
            blob(&b.layers[0]),
            blob(&b.layers[1]),
        )
    );
    assert_eq!(
        file("repositories"),
        format!(
            "{{\"demo\":{{\"1\":\"{top}\"}},\"quay.io/x/demo\":{{\"latest\":\"{top}\"}}}}\n",
            top = a.diff_ids[1].hex()
        )
    );
    let index: serde_json::Value = serde_json::from_str(&file("index.json")).unwrap();
    let roots = index["manifests"].as_array().unwrap();
    assert_eq!(roots.len(), 3);
    assert_eq!(
        roots[0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/demo:1"
    );
    assert_eq!(
        roots[0]["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    assert!(roots[2].get("annotations").is_none());

    // Load it back: docker's rule picks manifest.json.
    let archive = DockerArchive::open(&path).unwrap();
    let loaded: Vec<ArchiveImage> = archive.images().to_vec();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].repo_tags, ["demo:1", "quay.io/x/demo:latest"]);
    assert!(loaded[1].repo_tags.is_empty());
    // The synthesised manifest of an OCI gzip image is byte-identical to the original.
    assert_eq!(loaded[0].manifest, a.manifest);
    assert_eq!(loaded[1].manifest, b.manifest);

    let (_d2, dst) = store();
    for image in &loaded {
        copy_graph(
            &archive,
            &dst,
            &has(&dst),
            &image.manifest,
            &CopyOptions::default(),
        )
        .unwrap();
    }
    assert_image_in(&dst, &a);
    assert_image_in(&dst, &b);

    let sniffed = open_archive(&path).unwrap();
    assert_eq!(sniffed.images(), &loaded[..]);
}

#[test]
fn oci_archive_round_trip_with_index() {
    let (_d1, src) = store();
    let layers = base_layers();
    let amd = build_image(
        &src,
        &linux("amd64"),
        &[&layers[0], &layers[1]],
        true,
        "amd",
    );
    let arm = build_image(&src, &linux("arm64"), &[&layers[0]], false, "arm");
    let index = build_index(&src, &[(&amd, linux("amd64")), (&arm, linux("arm64"))]);

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("oci.tar");
    let sink = OciArchiveWriter::new(File::create(&path).unwrap());
    let report = copy_graph(
        &src,
        &sink,
        &|d| Ok(sink.has(d)),
        &index,
        &CopyOptions::default(),
    )
    .unwrap();
    let digests: Vec<_> = report.manifests.iter().map(|d| d.digest.clone()).collect();
    assert_eq!(
        digests,
        [amd.manifest.digest.clone(), arm.manifest.digest.clone()]
    );
    assert_eq!(
        report.manifests[1].platform,
        Some(linux("arm64")),
        "index children keep their platform"
    );
    assert_eq!(
        report.copied.last(),
        Some(&index),
        "the index is written last"
    );
    let saved = [SaveImage {
        root: index.clone(),
        names: vec![reference("demo:multi")],
    }];
    sink.finish(&saved).unwrap();

    let archive = OciArchive::open(&path).unwrap();
    assert_eq!(
        archive.images(),
        &[ArchiveImage {
            manifest: index.clone(),
            repo_tags: vec!["docker.io/library/demo:multi".into()],
        }]
    );
    let (_d2, dst) = store();
    copy_graph(&archive, &dst, &has(&dst), &index, &CopyOptions::default()).unwrap();
    assert_image_in(&dst, &amd);
    assert_image_in(&dst, &arm);
    store_has(&dst, &index);

    // open_archive picks the OCI reader (no manifest.json).
    let sniffed = open_archive(&path).unwrap();
    assert_eq!(sniffed.images()[0].manifest, index);
}

fn store_has(store: &LocalStore, d: &Descriptor) {
    assert_eq!(read_blob(store, d).unwrap().len() as u64, d.size);
}

#[test]
fn platform_filter_follows_only_matching_manifests() {
    let (_d1, src) = store();
    let layers = base_layers();
    let amd = build_image(&src, &linux("amd64"), &[&layers[1]], true, "amd");
    let arm = build_image(&src, &linux("arm64"), &[&layers[0]], true, "arm");
    let index = build_index(&src, &[(&amd, linux("amd64")), (&arm, linux("arm64"))]);
    let (_d2, dst) = store();
    let opts = CopyOptions {
        platform: Some(linux("arm64")),
        jobs: 4,
        ..CopyOptions::default()
    };
    let report = copy_graph(&src, &dst, &has(&dst), &index, &opts).unwrap();
    assert_eq!(report.manifests.len(), 1);
    assert_eq!(report.manifests[0].digest, arm.manifest.digest);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].digest, amd.manifest.digest);
    assert_image_in(&dst, &arm);
    assert_eq!(dst.contains(&amd.manifest.digest).unwrap(), None);
    assert_eq!(dst.contains(&amd.layers[0].digest).unwrap(), None);

    // Copying again: everything is "already exists", nothing transferred.
    let again = copy_graph(&src, &dst, &has(&dst), &index, &opts).unwrap();
    assert!(again.copied.is_empty());
    assert_eq!(again.bytes, 0);
    assert_eq!(again.existing.len(), 4); // layer, config, manifest, index
}

#[test]
fn copy_refuses_a_lying_source_and_publishes_nothing() {
    // A layout whose layer blob does not match its descriptor.
    let tmp = tempfile::tempdir().unwrap();
    let layout = OciLayoutDir::create(&tmp.path().join("l")).unwrap();
    let img = build_image(&layout, &linux("amd64"), &[&base_layers()[1]], true, "x");
    let path = layout.blob_path(&img.layers[0].digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();

    let (_d, dst) = store();
    let err = copy_graph(
        &layout,
        &dst,
        &has(&dst),
        &img.manifest,
        &CopyOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert_eq!(dst.contains(&img.layers[0].digest).unwrap(), None);
    assert_eq!(
        dst.contains(&img.manifest.digest).unwrap(),
        None,
        "no parent without its children"
    );
}

#[test]
fn oci_layout_dir_index_names() {
    let (_d, src) = store();
    let img = build_image(&src, &linux("amd64"), &[&base_layers()[1]], true, "x");
    let tmp = tempfile::tempdir().unwrap();
    let layout = OciLayoutDir::create(&tmp.path().join("l")).unwrap();
    let to_layout = |d: &Digest| Ok(layout.contains(d)?.is_some());
    copy_graph(
        &src,
        &layout,
        &to_layout,
        &img.manifest,
        &CopyOptions::default(),
    )
    .unwrap();
    layout
        .add_images(&[SaveImage {
            root: img.manifest.clone(),
            names: vec![reference("demo:1"), reference("demo:2")],
        }])
        .unwrap();
    // Re-adding a name replaces its entry instead of duplicating it.
    layout
        .add_images(&[SaveImage {
            root: img.manifest.clone(),
            names: vec![reference("demo:2")],
        }])
        .unwrap();
    let (index, raw) = layout.index().unwrap();
    assert_eq!(
        index.manifests.len(),
        2,
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let images = layout.images().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].manifest, img.manifest);
    assert_eq!(
        images[0].repo_tags,
        ["docker.io/library/demo:1", "docker.io/library/demo:2"]
    );
    // And it reopens.
    let reopened = OciLayoutDir::open(layout.path()).unwrap();
    assert_eq!(reopened.images().unwrap(), images);
    assert!(
        OciLayoutDir::open(tmp.path()).is_err(),
        "a directory without oci-layout"
    );
}

/// Writes a tar from (path, kind, data) entries by hand.
enum E<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

fn write_tar(path: &std::path::Path, entries: &[E<'_>]) {
    let mut b = tar::Builder::new(File::create(path).unwrap());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(0);
        match e {
            E::File(p, data) => {
                h.set_size(data.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, p, *data).unwrap();
            }
            E::Symlink(p, target) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap().sync_all().unwrap();
}

#[test]
fn legacy_docker_archive_with_symlinked_layers() {
    // docker ≤ 24 / containers-image style: <id>/layer.tar (uncompressed), a symlink for a
    // repeated layer, <hex>.json config.
    let l1 = common::layer_tar(&[("a", b"1")]);
    let l2 = common::layer_tar(&[("b", b"2")]);
    let diff_ids = [
        Digest::sha256_of(&l1),
        Digest::sha256_of(&l2),
        Digest::sha256_of(&l1),
    ];
    let config = common::config_json(&linux("amd64"), &diff_ids, "legacy");
    let config_name = format!("{}.json", Digest::sha256_of(&config).hex());
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["legacy:v1"],"Layers":["id1/layer.tar","id2/layer.tar","id3/layer.tar"]}}]"#
    );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("legacy.tar");
    write_tar(
        &path,
        &[
            E::File("id1/layer.tar", &l1),
            E::File("./id2/layer.tar", &l2),
            E::Symlink("id3/layer.tar", "../id1/layer.tar"),
            E::File(&config_name, &config),
            E::File("manifest.json", manifest.as_bytes()),
            E::File("repositories", b"{}"),
        ],
    );
    let archive = DockerArchive::open(&path).unwrap();
    let images = archive.images();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].repo_tags, ["legacy:v1"]);
    let manifest_bytes = read_blob(&archive, &images[0].manifest).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["mediaType"], media_type::OCI_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], media_type::OCI_CONFIG);
    assert_eq!(
        manifest["config"]["digest"],
        Digest::sha256_of(&config).to_string()
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        assert_eq!(layer["mediaType"], media_type::OCI_LAYER_TAR);
        assert_eq!(layer["digest"], diff_id.to_string()); // uncompressed: digest = DiffID
    }
    let (_d, dst) = store();
    let report = copy_graph(
        &archive,
        &dst,
        &has(&dst),
        &images[0].manifest,
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(
        report.copied.len(),
        4,
        "two distinct layers, config, manifest"
    );
}

#[test]
fn docker_archive_detects_layer_compression() {
    let tar = common::layer_tar(&[("z", b"zstd layer")]);
    let layers = [common::gzip(&tar), common::zstd(&tar), tar.clone()];
    let diff_ids = [
        Digest::sha256_of(&tar),
        Digest::sha256_of(&tar),
        Digest::sha256_of(&tar),
    ];
    let config = common::config_json(&linux("amd64"), &diff_ids, "c");
    let manifest = r#"[{"Config":"c.json","RepoTags":null,"Layers":["gz","zst","plain"]}]"#;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c.tar");
    write_tar(
        &path,
        &[
            E::File("gz", &layers[0]),
            E::File("zst", &layers[1]),
            E::File("plain", &layers[2]),
            E::File("c.json", &config),
            E::File("manifest.json", manifest.as_bytes()),
        ],
    );
    let archive = DockerArchive::open(&path).unwrap();
    let bytes = read_blob(&archive, &archive.images()[0].manifest).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let types: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            media_type::OCI_LAYER_TAR_GZIP,
            media_type::OCI_LAYER_TAR_ZSTD,
            media_type::OCI_LAYER_TAR
        ]
    );
    for (l, bytes) in m["layers"].as_array().unwrap().iter().zip(&layers) {
        assert_eq!(l["digest"], Digest::sha256_of(bytes).to_string());
        assert_eq!(l["size"], bytes.len());
    }
}

#[test]
fn docker_errors_match_docker() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("e.tar");
    write_tar(&path, &[E::File("something", b"x")]);
    let err = open_archive(&path).err().unwrap();
    assert_eq!(
        err.to_string(),
        "invalid archive: does not contain a manifest.json"
    );
    let err = DockerArchive::open(&path).err().unwrap();
    assert_eq!(
        err.to_string(),
        "invalid archive: does not contain a manifest.json"
    );

    let config = common::config_json(&linux("amd64"), &[Digest::sha256_of(b"x")], "c");
    write_tar(
        &path,
        &[
            E::File("c.json", &config),
            E::File("l1", b"1"),
            E::File("l2", b"2"),
            E::File(
                "manifest.json",
                br#"[{"Config":"c.json","RepoTags":[],"Layers":["l1","l2"]}]"#,
            ),
        ],
    );
    let err = open_archive(&path).err().unwrap();
    assert_eq!(
        err.to_string(),
        "invalid manifest, layers length mismatch: expected 2, got 1"
    );
}

#[test]
fn hostile_tars_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.tar");

    // Duplicate file entries: readers disagree which wins.
    write_tar(
        &path,
        &[
            E::File("manifest.json", b"[]"),
            E::File("./manifest.json", b"[]"),
        ],
    );
    let err = TarIndex::open(&path).unwrap_err();
    assert!(
        err.to_string().contains("duplicate entry manifest.json"),
        "{err}"
    );

    // A symlink out of the archive resolves to nothing.
    write_tar(&path, &[E::Symlink("manifest.json", "../../etc/passwd")]);
    let idx = TarIndex::open(&path).unwrap();
    assert!(idx.entry("manifest.json").is_none());

    // Symlink loops end.
    write_tar(&path, &[E::Symlink("a", "b"), E::Symlink("b", "a")]);
    assert!(TarIndex::open(&path).unwrap().entry("a").is_none());

    // `..` in an entry name (written raw: the tar crate refuses to create it).
    let mut h = tar::Header::new_ustar();
    h.as_mut_bytes()[..13].copy_from_slice(b"../escape.txt");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut raw = h.as_bytes().to_vec();
    raw.extend_from_slice(&[b'x'; 512]);
    raw.extend_from_slice(&[0; 1024]);
    std::fs::write(&path, &raw).unwrap();
    let err = TarIndex::open(&path).unwrap_err();
    assert!(err.to_string().contains("leaves the archive"), "{err}");

    // Truncated data.
    let mut h = tar::Header::new_ustar();
    h.set_path("ok.txt").unwrap();
    h.set_size(1000);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut truncated = h.as_bytes().to_vec();
    truncated.extend_from_slice(&[b'x'; 600]);
    std::fs::write(&path, &truncated).unwrap();
    let err = TarIndex::open(&path).unwrap_err();
    assert!(err.to_string().contains("runs past the end"), "{err}");

    // Bad checksum.
    raw[0] = b'/';
    std::fs::write(&path, &raw).unwrap();
    let err = TarIndex::open(&path).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
}

#[test]
fn long_names_and_pax_paths() {
    let long = format!("{}/file.txt", "d".repeat(150));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("long.tar");
    // The tar crate writes a GNU long-name entry for names over 100 bytes.
    write_tar(&path, &[E::File(&long, b"long"), E::File("short", b"s")]);
    let idx = TarIndex::open(&path).unwrap();
    let e = idx.entry(&long).unwrap();
    let mut data = String::new();
    idx.reader(e).read_to_string(&mut data).unwrap();
    assert_eq!(data, "long");
    assert_eq!(idx.entry("short").unwrap().size, 1);
}

#[test]
fn spooled_compressed_archives_load() {
    let (_d1, src) = store();
    let (a, _) = two_images(&src);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("save.tar");
    save_docker(
        &src,
        &[SaveImage {
            root: a.manifest.clone(),
            names: vec![reference("demo:1")],
        }],
        &path,
    );
    let plain = std::fs::read(&path).unwrap();
    let (_d2, dst) = store();
    for bytes in [plain.clone(), common::gzip(&plain), common::zstd(&plain)] {
        let file = spool_decompressed(&bytes[..], dst.tmp_dir()).unwrap();
        assert_eq!(
            std::fs::read_dir(dst.tmp_dir()).unwrap().count(),
            0,
            "the spool file has no name"
        );
        let archive = open_archive_file(file).unwrap();
        assert_eq!(archive.images()[0].manifest, a.manifest);
        copy_graph(
            archive.as_provider(),
            &dst,
            &has(&dst),
            &a.manifest,
            &CopyOptions::default(),
        )
        .unwrap();
    }
    assert_image_in(&dst, &a);
    // bzip2 and xz are accepted too; a broken stream is an error, not a short archive.
    let err = spool_decompressed(&b"BZh91AY&SY"[..], dst.tmp_dir()).unwrap_err();
    assert!(err.to_string().contains("decompressing"), "{err}");
}

#[test]
fn tar_sink_needs_descriptors_and_poisons_on_bad_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = DockerArchiveWriter::new(File::create(tmp.path().join("x.tar")).unwrap());
    use kasane_store::Ingester;
    assert!(matches!(sink.writer(None), Err(StoreError::Invalid { .. })));
    let mut lie = Descriptor::new("application/octet-stream", Digest::sha256_of(b"a"), 1);
    lie.digest = Digest::sha256_of(b"b");
    let mut w = sink.writer(Some(&lie)).unwrap();
    w.write_all(b"a").unwrap();
    assert!(matches!(w.commit(), Err(StoreError::DigestMismatch { .. })));
    let err = sink.finish(&[]).unwrap_err();
    assert!(err.to_string().contains("incomplete"), "{err}");
}

#[test]
fn docker_archive_of_an_index_describes_the_copied_platform() {
    let (_d1, src) = store();
    let layers = base_layers();
    let amd = build_image(&src, &linux("amd64"), &[&layers[1]], true, "amd");
    let arm = build_image(&src, &linux("arm64"), &[&layers[0]], true, "arm");
    let index = build_index(&src, &[(&amd, linux("amd64")), (&arm, linux("arm64"))]);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("i.tar");
    let sink = DockerArchiveWriter::new(File::create(&path).unwrap());
    let opts = CopyOptions {
        platform: Some(linux("arm64")),
        ..CopyOptions::default()
    };
    copy_graph(&src, &sink, &|d| Ok(sink.has(d)), &index, &opts).unwrap();
    sink.finish(&[SaveImage {
        root: index.clone(),
        names: vec![reference("multi:1")],
    }])
    .unwrap();
    let archive = DockerArchive::open(&path).unwrap();
    assert_eq!(archive.images()[0].manifest, arm.manifest);
    // index.json in the same archive points at the original index.
    let idx = TarIndex::open(&path).unwrap();
    let raw = idx.read("index.json", 1 << 20).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["manifests"][0]["digest"], index.digest.to_string());
}
