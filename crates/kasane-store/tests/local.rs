//! LocalStore specifics beyond the conformance suite: ingests, resume, verify, GC helpers.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Duration;

use kasane_oci::{Descriptor, Digest};
use kasane_store::local::{IngestRef, LocalStore};
use kasane_store::{Ingester, Provider, StoreError};

fn desc(bytes: &[u8]) -> Descriptor {
    Descriptor::new(
        "application/octet-stream",
        Digest::sha256_of(bytes),
        bytes.len() as u64,
    )
}

fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn layout_on_disk() {
    let (dir, store) = store();
    let bytes = b"layout".to_vec();
    let d = desc(&bytes);
    let mut w = store.writer(Some(&d)).unwrap();
    w.write_all(&bytes).unwrap();
    let ingest = dir
        .path()
        .join("ingest")
        .join(format!("sha256-{}", d.digest.hex()));
    assert!(ingest.join("data").is_file());
    assert!(ingest.join("meta").is_file());
    w.commit().unwrap();
    assert!(!ingest.exists(), "the ingest is removed after commit");
    let blob = dir.path().join("blobs/sha256").join(d.digest.hex());
    assert_eq!(store.blob_path(&d.digest), blob);
    assert_eq!(std::fs::read(&blob).unwrap(), bytes);
    assert!(dir.path().join("tmp").is_dir());
}

#[test]
fn ingest_is_listed_resumed_and_aborted() {
    let (_dir, store) = store();
    let bytes = vec![7u8; 5000];
    let d = desc(&bytes);
    let mut w = store.writer(Some(&d)).unwrap();
    w.write_all(&bytes[..1000]).unwrap();
    drop(w);

    let ingests = store.list_ingests().unwrap();
    assert_eq!(ingests.len(), 1);
    let ingest = &ingests[0];
    assert_eq!(ingest.reference, IngestRef::for_digest(&d.digest));
    assert_eq!(ingest.reference.digest(), Some(d.digest.clone()));
    assert_eq!(ingest.offset, 1000);
    assert_eq!(ingest.expected.as_ref(), Some(&d));
    assert!(!ingest.active);

    let held = store.writer(Some(&d)).unwrap();
    assert_eq!(held.offset(), 1000, "resumes where the last writer stopped");
    assert!(store.list_ingests().unwrap()[0].active);
    match store.abort_ingest(&ingest.reference) {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("abort of a held ingest: {other:?}"),
    }
    drop(held);
    store.abort_ingest(&ingest.reference).unwrap();
    assert!(store.list_ingests().unwrap().is_empty());
    assert!(matches!(
        store.abort_ingest(&ingest.reference),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn oversized_leftover_ingest_starts_over() {
    let (dir, store) = store();
    let bytes = b"short blob".to_vec();
    let d = desc(&bytes);
    let ingest = dir
        .path()
        .join("ingest")
        .join(IngestRef::for_digest(&d.digest).as_str());
    std::fs::create_dir_all(&ingest).unwrap();
    std::fs::write(ingest.join("data"), vec![0u8; 100]).unwrap();
    let mut w = store.writer(Some(&d)).unwrap();
    assert_eq!(w.offset(), 0);
    w.write_all(&bytes).unwrap();
    w.commit().unwrap();
    assert_eq!(store.contains(&d.digest).unwrap(), Some(bytes.len() as u64));
}

#[test]
fn corrupt_resumed_prefix_fails_at_commit_and_is_dropped() {
    let (dir, store) = store();
    let bytes = vec![1u8; 4096];
    let d = desc(&bytes);
    let ingest = dir
        .path()
        .join("ingest")
        .join(IngestRef::for_digest(&d.digest).as_str());
    std::fs::create_dir_all(&ingest).unwrap();
    std::fs::write(ingest.join("data"), vec![2u8; 100]).unwrap(); // wrong bytes
    let mut w = store.writer(Some(&d)).unwrap();
    assert_eq!(w.offset(), 100);
    w.write_all(&bytes[100..]).unwrap();
    assert!(matches!(w.commit(), Err(StoreError::DigestMismatch { .. })));
    assert!(!ingest.exists());
    assert_eq!(store.contains(&d.digest).unwrap(), None);
}

#[test]
fn named_ingest_survives_drop_without_digest() {
    let (_dir, store) = store();
    let r: IngestRef = "upload-1234".parse().unwrap();
    let mut w = store.writer_with_ref(&r, None).unwrap();
    w.write_all(b"part one, ").unwrap();
    drop(w);
    let mut w = store.writer_with_ref(&r, None).unwrap();
    assert_eq!(w.offset(), 10);
    w.write_all(b"part two").unwrap();
    let (digest, size) = w.commit().unwrap();
    assert_eq!(digest, Digest::sha256_of(b"part one, part two"));
    assert_eq!(size, 18);
    assert!(store.list_ingests().unwrap().is_empty());
}

#[test]
fn random_ingest_is_removed_on_drop() {
    let (_dir, store) = store();
    let mut w = store.writer(None).unwrap();
    w.write_all(b"unknown").unwrap();
    drop(w);
    assert!(store.list_ingests().unwrap().is_empty());
}

#[test]
fn ingest_refs_are_validated() {
    for bad in ["", ".hidden", "a/b", "x y", &"a".repeat(161)] {
        assert!(bad.parse::<IngestRef>().is_err(), "{bad:?} accepted");
    }
    assert!("sha256-abc_1.x".parse::<IngestRef>().is_ok());
}

#[test]
fn second_writer_waits_then_finds_the_blob() {
    let (_dir, store) = store();
    let bytes = vec![9u8; 100_000];
    let d = desc(&bytes);
    let mut first = store.writer(Some(&d)).unwrap();
    first.write_all(&bytes[..50_000]).unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let w = store.writer(Some(&d)).unwrap();
            let offset = w.offset();
            (offset, w.commit().unwrap())
        });
        // Whether the waiter is already blocked or not yet started, it must end up with the
        // committed blob and transfer nothing.
        std::thread::sleep(Duration::from_millis(50));
        first.write_all(&bytes[50_000..]).unwrap();
        first.commit().unwrap();
        let (offset, committed) = waiter.join().unwrap();
        assert_eq!(offset, d.size);
        assert_eq!(committed, (d.digest.clone(), d.size));
    });
}

#[test]
fn second_writer_conflicts_without_wait() {
    let (_dir, store) = store();
    let store = store.with_ingest_wait(Duration::ZERO);
    let d = desc(b"x");
    let _first = store.writer(Some(&d)).unwrap();
    match store.writer(Some(&d)) {
        Err(e @ StoreError::Conflict(_)) => {
            assert_eq!(
                e.to_string(),
                format!(
                    "ingest sha256-{} is being written by another writer",
                    d.digest.hex()
                )
            );
        }
        Err(e) => panic!("expected Conflict, got {e}"),
        Ok(_) => panic!("expected Conflict, got a writer"),
    }
}

#[test]
fn verify_list_and_delete() {
    let (_dir, store) = store();
    let mut committed = Vec::new();
    for i in 0..3u8 {
        let bytes = vec![i; 1000 + usize::from(i)];
        let d = desc(&bytes);
        let mut w = store.writer(Some(&d)).unwrap();
        w.write_all(&bytes).unwrap();
        w.commit().unwrap();
        committed.push((d.digest, d.size));
    }
    let mut listed: Vec<_> = store.list_blobs().unwrap().map(Result::unwrap).collect();
    listed.sort();
    committed.sort();
    assert_eq!(listed, committed);

    let (victim, _) = committed[0].clone();
    store.verify(&victim).unwrap();
    // Corrupt it behind the store's back (blobs are read-only; make it writable first).
    let path = store.blob_path(&victim);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    assert!(perms.readonly(), "committed blobs are read-only");
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    let mut corrupt = std::fs::read(&path).unwrap();
    corrupt[0] ^= 0xff;
    std::fs::write(&path, &corrupt).unwrap();
    match store.verify(&victim) {
        Err(StoreError::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, victim);
            assert_eq!(actual, Digest::sha256_of(&corrupt));
        }
        other => panic!("verify of a corrupt blob: {other:?}"),
    }

    store.delete(&victim).unwrap();
    assert!(matches!(
        store.delete(&victim),
        Err(StoreError::BlobNotFound(_))
    ));
    assert!(matches!(
        store.verify(&victim),
        Err(StoreError::BlobNotFound(_))
    ));
    assert_eq!(store.list_blobs().unwrap().count(), 2);
}

#[test]
fn open_checks_the_size() {
    let (_dir, store) = store();
    let bytes = b"sized".to_vec();
    let d = desc(&bytes);
    let mut w = store.writer(Some(&d)).unwrap();
    w.write_all(&bytes).unwrap();
    w.commit().unwrap();
    let mut wrong = d.clone();
    wrong.size = 4;
    assert!(matches!(
        store.open(&wrong),
        Err(StoreError::SizeMismatch { .. })
    ));
}

/// A witnessed write of unknown digest (`import`): committed under the digest the caller
/// computed, without the store hashing; a dropped one leaves no ingest behind.
#[test]
fn witnessed_unknown_writes_commit_under_the_callers_digest() {
    let (_dir, store) = store();
    let bytes = b"a tarball, hashed by apply".to_vec();
    let mut w = store.witnessed_unknown_writer().unwrap();
    w.write_all(&bytes).unwrap();
    let (digest, size) = w.commit_witnessed(Digest::sha256_of(&bytes)).unwrap();
    assert_eq!(
        (digest, size),
        (Digest::sha256_of(&bytes), bytes.len() as u64)
    );
    assert_eq!(
        kasane_store::read_blob(&store, &desc(&bytes)).unwrap(),
        bytes
    );

    // a plain commit of a witnessed write is refused: the store did not hash it
    let mut w = store.witnessed_unknown_writer().unwrap();
    w.write_all(b"unhashed").unwrap();
    assert!(w.commit().is_err());
    let mut w = store.witnessed_unknown_writer().unwrap();
    w.write_all(b"abandoned").unwrap();
    drop(w);
    let left = store.list_ingests().unwrap();
    assert!(left.is_empty(), "{left:?}");
}
