//! kasane-testsupport as an independent witness: archives it writes load, and archives kasane
//! writes pass its consistency checks.
#![allow(clippy::unwrap_used)]

use std::fs::File;

use kasane_oci::{Descriptor, Digest, Manifest, Reference, media_type};
use kasane_store::archive::{
    DockerArchive, DockerArchiveWriter, ImageArchive, OciArchiveWriter, OciLayoutDir, SaveImage,
    open_archive, open_archive_file, spool_decompressed,
};
use kasane_store::copy::{CopyOptions, copy_graph};
use kasane_store::local::LocalStore;
use kasane_store::{Provider, read_blob};
use kasane_testsupport as ts;

fn digest(d: &ts::Digest) -> Digest {
    d.to_string().parse().unwrap()
}

fn witness_image(compression: ts::Compression) -> ts::Image {
    ts::ImageBuilder::new()
        .layer(
            ts::LayerBuilder::new(1)
                .file("etc/hostname", "witness\n")
                .build(),
            "ADD hostname",
        )
        .layer(
            ts::LayerBuilder::new(2)
                .random_file("data/blob.bin", 300_000)
                .build(),
            "ADD blob",
        )
        .cmd(&["sh"])
        .compression(compression)
        .build()
}

fn load_all(archive: &dyn ImageArchive) -> LocalStore {
    let dir = tempfile::tempdir().unwrap().keep();
    let store = LocalStore::open(&dir).unwrap();
    for image in archive.images() {
        copy_graph(
            archive.as_provider(),
            &store,
            &|d| Ok(store.contains(d)?.is_some()),
            &image.manifest,
            &CopyOptions::default(),
        )
        .unwrap();
    }
    store
}

#[test]
fn loads_both_docker_save_layouts() {
    let image = witness_image(ts::Compression::Gzip);
    for format in [
        ts::DockerArchiveFormat::Legacy,
        ts::DockerArchiveFormat::Oci,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("save.tar");
        ts::DockerArchive::new(format)
            .image(&["demo:1", "demo:latest"], &image)
            .write(&path)
            .unwrap();
        let archive = DockerArchive::open(&path).unwrap();
        let images = archive.images();
        assert_eq!(images.len(), 1, "{format:?}");
        assert_eq!(images[0].repo_tags, ["demo:1", "demo:latest"]);
        let manifest: Manifest =
            serde_json::from_slice(&read_blob(&archive, &images[0].manifest).unwrap()).unwrap();
        assert_eq!(
            manifest.config.digest,
            digest(&image.config_digest),
            "{format:?}"
        );
        assert_eq!(manifest.layers.len(), 2);
        let store = load_all(&archive);
        store.verify(&manifest.config.digest).unwrap();
        for layer in &manifest.layers {
            store.verify(&layer.digest).unwrap();
        }
        let _ = std::fs::remove_dir_all(store.root());
    }
}

#[test]
fn loads_compressed_oci_archives() {
    let image = witness_image(ts::Compression::Zstd);
    let dir = tempfile::tempdir().unwrap();
    for c in [
        ts::Compression::None,
        ts::Compression::Gzip,
        ts::Compression::Zstd,
    ] {
        let path = dir.path().join(format!("oci-{c:?}.tar"));
        ts::OciLayout::new()
            .image("v1", &image)
            .write_archive(&path, c)
            .unwrap();
        let archive = match c {
            ts::Compression::None => open_archive(&path).unwrap(),
            _ => open_archive_file(
                spool_decompressed(File::open(&path).unwrap(), dir.path()).unwrap(),
            )
            .unwrap(),
        };
        let images = archive.images();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].manifest.digest, digest(&image.manifest_digest));
        assert_eq!(images[0].repo_tags, ["v1"]);
        let store = load_all(&*archive);
        store.verify(&images[0].manifest.digest).unwrap();
        let _ = std::fs::remove_dir_all(store.root());
    }
}

/// Puts a testsupport image into a LocalStore blob by blob.
fn import(store: &LocalStore, image: &ts::Image) -> Descriptor {
    use kasane_store::Ingester;
    use std::io::Write;
    let put = |mt: &str, bytes: &[u8]| {
        let d = Descriptor::new(mt, Digest::sha256_of(bytes), bytes.len() as u64);
        let mut w = store.writer(Some(&d)).unwrap();
        let offset = w.offset() as usize; // blobs shared by both images exist already
        w.write_all(&bytes[offset..]).unwrap();
        w.commit().unwrap();
        d
    };
    for layer in &image.layers {
        put(layer.media_type, layer.blob.data());
    }
    put(image.config_media_type, &image.config);
    put(image.manifest_media_type, &image.manifest)
}

#[test]
fn our_archives_pass_the_witness_checks() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("root")).unwrap();
    let a = import(&store, &witness_image(ts::Compression::Gzip));
    let b = import(&store, &witness_image(ts::Compression::Zstd));
    assert_eq!(a.media_type, media_type::OCI_MANIFEST);
    let images = [
        SaveImage {
            root: a.clone(),
            names: vec!["demo:gzip".parse::<Reference>().unwrap()],
        },
        SaveImage {
            root: b.clone(),
            names: vec![],
        },
    ];

    let docker = dir.path().join("docker.tar");
    let sink = DockerArchiveWriter::new(File::create(&docker).unwrap());
    for i in &images {
        copy_graph(
            &store,
            &sink,
            &|d| Ok(sink.has(d)),
            &i.root,
            &CopyOptions::default(),
        )
        .unwrap();
    }
    sink.finish(&images).unwrap();
    let problems = ts::check::check_docker_archive(&docker).unwrap();
    assert!(
        problems.is_empty(),
        "docker-archive problems: {problems:#?}"
    );

    let oci = dir.path().join("oci.tar");
    let sink = OciArchiveWriter::new(File::create(&oci).unwrap());
    for i in &images {
        copy_graph(
            &store,
            &sink,
            &|d| Ok(sink.has(d)),
            &i.root,
            &CopyOptions::default(),
        )
        .unwrap();
    }
    sink.finish(&images).unwrap();
    let problems = ts::check::check_oci_archive(&oci).unwrap();
    assert!(problems.is_empty(), "oci-archive problems: {problems:#?}");

    let layout_dir = dir.path().join("layout");
    let layout = OciLayoutDir::create(&layout_dir).unwrap();
    for i in &images {
        copy_graph(
            &store,
            &layout,
            &|d| Ok(layout.contains(d)?.is_some()),
            &i.root,
            &CopyOptions::default(),
        )
        .unwrap();
    }
    layout.add_images(&images).unwrap();
    let problems = ts::check::check_oci_layout(&layout_dir).unwrap();
    assert!(problems.is_empty(), "OCI layout problems: {problems:#?}");
}
