//! Metadata unit tests: rows round-trip, cascade, and are seen by a second connection.
use super::*;

fn d(s: &str) -> Digest {
    Digest::sha256_of(s.as_bytes())
}

fn image(name: &str) -> ImageRecord {
    ImageRecord {
        id: ImageId(d(name)),
        target: TargetDescriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: d(&format!("{name}-manifest")),
            size: 10,
        },
        manifest_digest: d(&format!("{name}-manifest")),
        created: Some("2026-01-01T00:00:00Z".into()),
        size: 42,
        added_at: 1,
        last_tag_time: None,
        parent: None,
        layers: vec![ImageLayer {
            chain_id: ChainId(d("l1")),
            diff_id: DiffId(d("l1")),
            blob_digest: d("b1"),
            blob_media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            blob_size: 5,
        }],
    }
}

#[test]
fn images_tags_and_cascade() {
    let dir = tempfile::tempdir().unwrap();
    let mut md = Metadata::open(&dir.path().join("kasane.db")).unwrap();
    let img = image("a");
    md.write(|tx| {
        assert!(tx.insert_image(&img)?);
        assert!(!tx.insert_image(&img)?);
        assert_eq!(tx.set_tag("docker.io/library/a:latest", &img.id)?, None);
        tx.add_repo_digest("docker.io/library/a", &img.manifest_digest, &img.id)?;
        Ok(())
    })
    .unwrap();
    // A second connection sees the committed rows (WAL, several processes).
    let mut other = Metadata::open(&dir.path().join("kasane.db")).unwrap();
    let got = other.read(|tx| tx.image(&img.id)).unwrap().unwrap();
    assert_eq!(got, img);
    let prefix = &img.id.0.hex()[..12];
    assert_eq!(
        other.read(|tx| tx.images_by_prefix(prefix)).unwrap(),
        vec![img.id.clone()]
    );
    md.write(|tx| tx.delete_image(&img.id)).unwrap();
    assert_eq!(
        md.read(|tx| tx.tag("docker.io/library/a:latest")).unwrap(),
        None
    );
    assert!(
        md.read(|tx| tx.repo_digests_of(&img.id))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn snapshot_ids_are_unique_and_layers_insert_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut md = Metadata::open(&dir.path().join("kasane.db")).unwrap();
    let a = md.write(|tx| tx.next_snapshot_id()).unwrap();
    let b = md.write(|tx| tx.next_snapshot_id()).unwrap();
    assert_ne!(a, b);
    let layer = LayerRecord {
        chain_id: ChainId(d("c")),
        parent: None,
        diff_id: DiffId(d("c")),
        snapshot_id: a,
        size: 1,
        fingerprint: d("fp"),
        created_at: 0,
    };
    assert!(md.write(|tx| tx.insert_layer(&layer)).unwrap());
    assert!(!md.write(|tx| tx.insert_layer(&layer)).unwrap());
    assert_eq!(
        md.read(|tx| tx.layer(&layer.chain_id)).unwrap(),
        Some(layer)
    );
}

#[test]
fn closing_keeps_the_log_and_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kasane.db");
    let img = image("a");
    let mut md = Metadata::open(&path).unwrap();
    md.write(|tx| {
        tx.insert_image(&img)?;
        tx.set_tag("docker.io/library/a:latest", &img.id)
    })
    .unwrap();
    drop(md);
    // No checkpoint at close: the next command finds the log instead of creating it again.
    assert!(dir.path().join("kasane.db-wal").exists());
    let mut md = Metadata::open(&path).unwrap();
    let tag = md.read(|tx| tx.tag("docker.io/library/a:latest")).unwrap();
    assert_eq!(tag, Some(img.id));
}
