//! Hostile and broken registries (in-process test servers on 127.0.0.1): wrong bytes, wrong
//! sizes, a manifest whose digest does not match, endless bodies, huge error bodies, a server
//! that stalls mid-blob. Each gives a clear error, commits nothing and leaves the store clean.
//! Also: transient errors are retried, an interrupted pull resumes with `Range`, and two
//! concurrent pulls fetch each blob once.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::Kasane;
use kasane_testsupport::registry::{FakeRegistry, Fault};
use kasane_testsupport::{Image, ImageBuilder, LayerBuilder};

fn image(seed: u64, big: u64) -> Image {
    ImageBuilder::new()
        .created(1_700_000_000)
        .layer(
            LayerBuilder::new(seed)
                .dir("data")
                .random_file("data/blob", big)
                .build(),
            "ADD data /data",
        )
        .layer(
            LayerBuilder::new(seed + 1)
                .file("hello", b"hello\n".to_vec())
                .build(),
            "ADD hello /",
        )
        .layer(
            LayerBuilder::new(seed + 2)
                .random_file("more", big / 2)
                .build(),
            "ADD more /",
        )
        .build()
}

fn serve(img: &Image) -> (FakeRegistry, String) {
    let reg = FakeRegistry::new().unwrap();
    reg.add_image("hostile/img", "1", img);
    let name = format!("{}/hostile/img:1", reg.host());
    (reg, name)
}

/// Nothing but the empty skeleton is left: no blob, no ingest, no snapshot.
fn assert_nothing_kept(k: &Kasane) {
    k.check_clean();
    let left: Vec<String> = k
        .store_files()
        .into_iter()
        .filter(|f| {
            f.starts_with("blobs/sha256/")
                || f.starts_with("ingest/")
                || (f.starts_with("snapshots/") && f != "snapshots/driver")
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(k.ok(&["images", "-q"]), "");
}

fn fails_cleanly(fault_on: &str, fault: Fault, expect: &[&str]) {
    let img = image(100, 200_000);
    let (reg, name) = serve(&img);
    let key = match fault_on {
        "layer" => img.layer_digests()[0].to_string(),
        "config" => img.config_digest.to_string(),
        _ => "1".to_owned(),
    };
    reg.set_fault(&key, fault.clone());
    let mut k = Kasane::new();
    k.set_env("KASANE_REGISTRY_TIMEOUT", "1");
    let started = Instant::now();
    let (code, err) = k.fail(&["pull", &name]);
    assert_eq!(code, 1, "{fault:?}: {err}");
    assert!(
        expect
            .iter()
            .any(|e| err.to_lowercase().contains(&e.to_lowercase())),
        "{fault:?}: expected one of {expect:?} in:\n{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{fault:?} took {:?}",
        started.elapsed()
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_nothing_kept(&k);
}

#[test]
fn wrong_blob_bytes_are_refused() {
    fails_cleanly(
        "layer",
        Fault::WrongBytes,
        &["digest mismatch", "unpacking layer"],
    );
}

#[test]
fn wrong_blob_size_is_refused() {
    fails_cleanly(
        "layer",
        Fault::WrongLength,
        &["bytes, the manifest says", "size mismatch"],
    );
}

#[test]
fn endless_blob_body_is_cut_off() {
    fails_cleanly(
        "layer",
        Fault::Endless,
        &["size mismatch", "unpacking layer"],
    );
}

#[test]
fn wrong_config_bytes_are_refused() {
    fails_cleanly("config", Fault::WrongBytes, &["digest mismatch"]);
}

#[test]
fn manifest_with_a_wrong_digest_is_refused() {
    fails_cleanly("manifest", Fault::WrongDigestHeader, &["digest mismatch"]);
}

#[test]
fn huge_error_bodies_are_not_read() {
    fails_cleanly(
        "layer",
        Fault::HugeErrorBody,
        &["500 Internal Server Error"],
    );
}

#[test]
fn a_stalled_blob_times_out() {
    fails_cleanly(
        "layer",
        Fault::Stall { after: 1000 },
        &["timed out", "timeout"],
    );
}

#[test]
fn denied_manifest_says_so() {
    fails_cleanly("manifest", Fault::Status(403), &["denied", "403"]);
}

#[test]
fn schema1_manifests_are_refused_clearly() {
    let reg = FakeRegistry::new().unwrap();
    reg.add_manifest(
        "old/img",
        "1",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        br#"{"schemaVersion":1,"name":"old/img","tag":"1","fsLayers":[],"history":[]}"#.to_vec(),
    );
    let k = Kasane::new();
    let (_, err) = k.fail(&["pull", &format!("{}/old/img:1", reg.host())]);
    assert!(err.contains("schema 1"), "{err}");
    assert_nothing_kept(&k);
}

#[test]
fn transient_errors_are_retried() {
    let img = image(110, 100_000);
    let (reg, name) = serve(&img);
    let layer = img.layer_digests()[0].to_string();
    reg.set_fault(&layer, Fault::FailTimes { n: 2, status: 503 });
    reg.set_fault("1", Fault::FailTimes { n: 1, status: 502 });
    let k = Kasane::new();
    k.ok(&["pull", &name]);
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
    k.check_clean();
}

#[test]
fn a_broken_connection_is_resumed_with_range() {
    let img = image(120, 3_000_000);
    let (reg, name) = serve(&img);
    let layer = img.layer_digests()[0].to_string();
    reg.set_fault(&layer, Fault::Truncated { send: 1_000_000 });
    let k = Kasane::new();
    k.ok(&["pull", &name]);
    let ranged = reg
        .http()
        .recorded()
        .into_iter()
        .filter(|r| r.path.ends_with(&layer))
        .filter_map(|r| r.header("range").map(str::to_owned))
        .collect::<Vec<_>>();
    assert!(!ranged.is_empty(), "no Range request after the break");
    k.check_clean();
}

/// The data file of the ingest of `digest` (sha256), if any.
fn ingest_len(k: &Kasane, digest: &str) -> u64 {
    let hex = digest.trim_start_matches("sha256:");
    std::fs::metadata(
        k.root
            .join("ingest")
            .join(format!("sha256-{hex}"))
            .join("data"),
    )
    .map(|m| m.len())
    .unwrap_or(0)
}

#[test]
fn a_killed_pull_resumes_from_its_partial_ingest() {
    let img = image(130, 12_000_000);
    let (reg, name) = serve(&img);
    let layer = img.layer_digests()[0].to_string();
    reg.set_fault(&layer, Fault::Stall { after: 9_000_000 });
    let mut k = Kasane::new();
    k.set_env("KASANE_REGISTRY_TIMEOUT", "60");
    let mut child = k.std_cmd(&["pull", &name]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ingest_len(&k, &layer) < 4_000_000 {
        assert!(Instant::now() < deadline, "the pull never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let kept = ingest_len(&k, &layer);
    assert!(kept >= 4_000_000, "{kept}");

    reg.clear_fault(&layer);
    reg.http().clear_log();
    k.ok(&["pull", &name]);
    let ranges: Vec<String> = reg
        .http()
        .recorded()
        .into_iter()
        .filter(|r| r.path.ends_with(&layer) && r.method == "GET")
        .map(|r| r.header("range").unwrap_or("").to_owned())
        .collect();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    let start: u64 = ranges[0]
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(start >= 4_000_000, "resumed at {start}");
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
    k.check_clean();
}

#[test]
fn concurrent_pulls_fetch_each_blob_once() {
    let img = image(140, 4_000_000);
    let (reg, name) = serve(&img);
    let k = Kasane::new();
    k.ok(&["images"]); // create the store before the race
    let children: Vec<_> = (0..2)
        .map(|_| {
            k.std_cmd(&["pull", "-q", &name])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = img.config_digest.to_string();
    for blob in img
        .layer_digests()
        .iter()
        .map(ToString::to_string)
        .chain([config])
    {
        let gets = reg
            .requests()
            .iter()
            .filter(|(m, p)| m == "GET" && p.ends_with(blob.as_str()))
            .count();
        assert_eq!(gets, 1, "blob {blob} fetched {gets} times");
    }
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
    k.check_clean();
}

#[test]
fn partial_and_complete_ingests_are_resumed_not_refetched() {
    let img = image(150, 2_000_000);
    let (reg, name) = serve(&img);
    let k = Kasane::new();
    k.ok(&["images"]); // create the store
    let blob = |i: usize| img.layers[i].blob.data().to_vec();
    let digest = |i: usize| img.layer_digests()[i].to_string();
    let plant = |i: usize, bytes: &[u8]| {
        let dir = k.root.join("ingest").join(format!(
            "sha256-{}",
            digest(i).trim_start_matches("sha256:")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("data"), bytes).unwrap();
    };
    // Layer 0: every byte is there (killed between the last write and the commit).
    plant(0, &blob(0));
    // Layer 2: half of it.
    let half = blob(2).len() / 2;
    plant(2, &blob(2)[..half]);
    k.ok(&["pull", &name]);
    let gets = |i: usize| -> Vec<String> {
        reg.http()
            .recorded()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&digest(i)))
            .map(|r| r.header("range").unwrap_or("").to_owned())
            .collect()
    };
    assert!(gets(0).is_empty(), "layer 0 fetched again: {:?}", gets(0));
    assert_eq!(gets(2), [format!("bytes={half}-")]);
    assert_eq!(gets(1), [""]);
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
    k.check_clean();
}
