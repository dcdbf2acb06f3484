//! Crash safety: `kasane load` SIGKILLed at 24 moments spread over a whole load. After each
//! kill `images` works and `system check` finds no corruption; the load then succeeds, and
//! `system check --repair` leaves nothing behind.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::Kasane;
use kasane_testsupport::{
    Compression, DockerArchive, DockerArchiveFormat, ImageBuilder, LayerBuilder,
};

const KILLS: u64 = 24;

#[test]
fn sigkilled_loads_leave_a_consistent_store() {
    let k = Kasane::new();
    let img = ImageBuilder::new()
        .layer(LayerBuilder::many_small_files(1500, 1).build(), "ADD small")
        .layer(LayerBuilder::one_large_file(12 << 20, 2).build(), "ADD big")
        .layer(LayerBuilder::random_tree(3, 400).build(), "ADD tree")
        .compression(Compression::Gzip)
        .build();
    let archive = k.path("image.tar");
    DockerArchive::new(DockerArchiveFormat::Oci)
        .image(&["crash:1"], &img)
        .write(&archive)
        .unwrap();
    let archive = archive.to_str().unwrap().to_owned();

    // How long an uninterrupted load takes, on a scratch root.
    let scratch = Kasane::new();
    let start = Instant::now();
    scratch.ok(&["load", "-i", &archive]);
    let full = start.elapsed().max(Duration::from_millis(50));

    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..KILLS {
        // Spread the kills over the whole load: a jittered slot per attempt.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = (seed >> 33) % 1000;
        let at = full.mul_f64((i as f64 + jitter as f64 / 1000.0) / KILLS as f64);
        let mut child = k.std_cmd(&["load", "-q", "-i", &archive]).spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL; it may have finished already
        let _ = child.wait();
        k.ok(&["images"]);
        k.check_clean();
        // A load that completed before the kill is fine too; start over then, so every
        // attempt really races a load.
        if k.ok(&["images", "-q"]).contains(&img.id().hex()[..12]) {
            k.ok(&["rmi", "crash:1"]);
            k.check_clean();
        }
    }
    let out = k.ok(&["load", "-i", &archive]);
    assert_eq!(out, "Loaded image: crash:1\n");
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
    let repaired = k.ok(&["system", "check", "--repair"]);
    assert!(repaired.contains(" 0 errors"), "{repaired}");
    let after = k.check_clean();
    assert!(after.contains(" 0 leftovers"), "{after}");
}
