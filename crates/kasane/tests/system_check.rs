//! `system check` finds corruption of blobs and snapshots, and `--repair` removes it (with the
//! images that need it) so that the image can be loaded again whole.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::Kasane;
use kasane_testsupport::{DockerArchive, DockerArchiveFormat, ImageBuilder, LayerBuilder};

fn setup() -> (Kasane, kasane_testsupport::Image, std::path::PathBuf) {
    let k = Kasane::new();
    let img = ImageBuilder::new()
        .layer(
            LayerBuilder::new(1)
                .dir("d")
                .random_file("d/f", 10_000)
                .build(),
            "ADD d",
        )
        .build();
    let path = k.path("img.tar");
    DockerArchive::new(DockerArchiveFormat::Oci)
        .image(&["chk:1"], &img)
        .write(&path)
        .unwrap();
    k.ok(&["load", "-i", path.to_str().unwrap()]);
    k.check_clean();
    (k, img, path)
}

fn flip_a_byte(path: &std::path::Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

fn repair_and_reload(k: &Kasane, path: &std::path::Path) {
    let out = k.ok(&["system", "check", "--repair"]);
    assert!(out.contains("repaired: deleted image"), "{out}");
    k.check_clean();
    assert_eq!(k.ok(&["images", "-q"]), "");
    k.ok(&["load", "-i", path.to_str().unwrap()]);
    k.check_clean();
}

#[test]
fn a_corrupt_blob_is_found_and_repaired() {
    let (k, img, path) = setup();
    // A docker archive carries layers uncompressed: the stored blob is named by the DiffID.
    let blob = k.root.join("blobs/sha256").join(img.diff_ids()[0].hex());
    flip_a_byte(&blob);
    let out = k.run(&["system", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("error: blob {}", img.diff_ids()[0].as_str())),
        "{text}"
    );
    repair_and_reload(&k, &path);
}

#[test]
fn a_changed_snapshot_is_found_and_repaired() {
    let (k, _img, path) = setup();
    let top = k.top_dir("chk:1");
    flip_a_byte(&top.join("d/f"));
    let out = k.run(&["system", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("files changed since it was unpacked"),
        "{text}"
    );
    repair_and_reload(&k, &path);
}
