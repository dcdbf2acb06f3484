//! `save` names images as docker does: `repo:tag` saves that tag, a bare repository saves all
//! its tags, an ID saves the image without names; several images share one archive.
#![allow(clippy::unwrap_used)]

mod common;

use common::Kasane;
use kasane_testsupport::{
    DockerArchive, DockerArchiveFormat, ImageBuilder, LayerBuilder, read_tar_files,
};

fn image(seed: u64) -> kasane_testsupport::Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new(seed)
                .file("f", vec![seed as u8; 100])
                .build(),
            "ADD f",
        )
        .build()
}

fn manifest_json(k: &Kasane, args: &[&str]) -> serde_json::Value {
    let out = k.path("out.tar");
    let _ = std::fs::remove_file(&out);
    let mut full = vec!["save", "-o", out.to_str().unwrap()];
    full.extend_from_slice(args);
    k.ok(&full);
    let files = read_tar_files(&std::fs::read(&out).unwrap()).unwrap();
    serde_json::from_slice(&files["manifest.json"]).unwrap()
}

#[test]
fn save_names_images_like_docker() {
    let k = Kasane::new();
    let a = image(1);
    let b = image(2);
    for (tags, img) in [(&["app:1", "app:2"][..], &a), (&["other:1"][..], &b)] {
        let p = k.path("in.tar");
        DockerArchive::new(DockerArchiveFormat::Oci)
            .image(tags, img)
            .write(&p)
            .unwrap();
        k.ok(&["load", "-i", p.to_str().unwrap()]);
    }
    let m = manifest_json(&k, &["app:1"]);
    assert_eq!(m[0]["RepoTags"], serde_json::json!(["app:1"]));
    let m = manifest_json(&k, &["app"]);
    assert_eq!(m[0]["RepoTags"], serde_json::json!(["app:1", "app:2"]));
    let m = manifest_json(&k, &[&a.id().hex()[..12]]);
    assert_eq!(m[0]["RepoTags"], serde_json::Value::Null);
    let m = manifest_json(&k, &["app:1", "other:1"]);
    assert_eq!(m.as_array().unwrap().len(), 2);
    // Both load back into an empty store under their names.
    let k2 = Kasane::new();
    let out = k2.ok(&["load", "-i", k.path("out.tar").to_str().unwrap()]);
    assert_eq!(out, "Loaded image: app:1\nLoaded image: other:1\n");
    // A name that matches nothing fails before anything is written.
    let missing = k.path("missing.tar");
    let (code, err) = k.fail(&["save", "-o", missing.to_str().unwrap(), "nosuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such image"), "{err}");
    assert!(!missing.exists());
}
