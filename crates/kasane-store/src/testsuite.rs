//! The conformance suite every [`Provider`] + [`Ingester`] pair runs (STYLE rule 5).
//!
//! Owns the contract tests of `content.rs`: nothing is visible before commit, commit verifies
//! size and digest, a dropped writer publishes nothing, "already exists" is success, writers
//! honour [`BlobWriter::offset`] (resume), and concurrent writers of one blob end with one
//! correct blob. Implementations call [`run_provider_ingester_suite`] from their tests:
//!
//! ```no_run
//! use kasane_store::{local::LocalStore, testsuite::{Subject, run_provider_ingester_suite}};
//! run_provider_ingester_suite(&|| {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = LocalStore::open(dir.path()).unwrap();
//!     Subject {
//!         provider: Box::new(store.clone()),
//!         ingester: Box::new(store),
//!         resumes: true,
//!         guard: Box::new(dir),
//!     }
//! });
//! ```
//!
//! Failures panic with the case name (this is test code).

use std::any::Any;
use std::io::Write;

use kasane_oci::{Descriptor, Digest};

use crate::content::{BlobWriter, Ingester, Provider, read_blob};
use crate::error::{Result, StoreError};

/// One fresh, empty store under test.
pub struct Subject {
    /// Reads the store.
    pub provider: Box<dyn Provider>,
    /// Writes the same store.
    pub ingester: Box<dyn Ingester>,
    /// Whether a dropped writer of a known digest leaves bytes the next writer resumes from.
    pub resumes: bool,
    /// Kept alive for the duration of the case (a temp dir, a server).
    pub guard: Box<dyn Any>,
}

type Case = fn(&Subject);

const CASES: &[(&str, Case)] = &[
    ("write_commit_read", write_commit_read),
    ("empty_blob", empty_blob),
    ("unknown_digest_writer", unknown_digest_writer),
    (
        "wrong_digest_refused_and_invisible",
        wrong_digest_refused_and_invisible,
    ),
    ("short_write_refused", short_write_refused),
    ("long_write_refused", long_write_refused),
    (
        "dropped_writer_publishes_nothing",
        dropped_writer_publishes_nothing,
    ),
    ("commit_twice_is_success", commit_twice_is_success),
    ("resume_after_partial_write", resume_after_partial_write),
    (
        "concurrent_writers_of_one_blob",
        concurrent_writers_of_one_blob,
    ),
    ("missing_blob_not_found", missing_blob_not_found),
    ("open_at_offset", open_at_offset),
];

/// Runs every case against a fresh subject from `make`; panics naming the first failing case.
pub fn run_provider_ingester_suite(make: &dyn Fn() -> Subject) {
    for (name, case) in CASES {
        let subject = make();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&subject)));
        drop(subject);
        if let Err(panic) = result {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("conformance case {name} failed: {msg}");
        }
    }
}

fn ok<T>(r: Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e} ({e:?})"),
    }
}

/// Deterministic pseudo-random bytes, so cases need no RNG and failures reproduce.
fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn desc_of(bytes: &[u8]) -> Descriptor {
    Descriptor::new(
        "application/octet-stream",
        Digest::sha256_of(bytes),
        bytes.len() as u64,
    )
}

/// Writes `bytes[offset..]` in uneven chunks, honouring the writer's offset.
fn send(w: &mut dyn BlobWriter, bytes: &[u8]) {
    let start = usize::try_from(w.offset())
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    for chunk in bytes[start..].chunks(7919) {
        if let Err(e) = w.write_all(chunk) {
            panic!("writing: {e}");
        }
    }
}

fn assert_absent(s: &Subject, digest: &Digest) {
    assert_eq!(
        ok(s.provider.contains(digest), "contains"),
        None,
        "{digest} is visible but must not be"
    );
    match s.provider.open(&Descriptor::new(
        "application/octet-stream",
        digest.clone(),
        0,
    )) {
        Err(StoreError::BlobNotFound(d)) => assert_eq!(&d, digest),
        Err(e) => panic!("open of absent {digest}: expected BlobNotFound, got {e}"),
        Ok(_) => panic!("open of absent {digest} succeeded"),
    }
}

fn assert_present(s: &Subject, bytes: &[u8]) {
    let desc = desc_of(bytes);
    assert_eq!(
        ok(s.provider.contains(&desc.digest), "contains"),
        Some(desc.size),
        "{} missing after commit",
        desc.digest
    );
    let back = ok(read_blob(s.provider.as_ref(), &desc), "reading back");
    assert!(back == bytes, "{} reads back different bytes", desc.digest);
}

fn write_commit_read(s: &Subject) {
    let bytes = data(300_000, 1);
    let desc = desc_of(&bytes);
    let mut w = ok(s.ingester.writer(Some(&desc)), "writer");
    assert_eq!(w.offset(), 0);
    send(w.as_mut(), &bytes);
    assert_eq!(w.offset(), desc.size);
    assert_absent(s, &desc.digest); // not visible before commit
    let (digest, size) = ok(w.commit(), "commit");
    assert_eq!((digest, size), (desc.digest.clone(), desc.size));
    assert_present(s, &bytes);
}

fn empty_blob(s: &Subject) {
    let desc = desc_of(b"");
    let w = ok(s.ingester.writer(Some(&desc)), "writer");
    assert_eq!(ok(w.commit(), "commit"), (desc.digest.clone(), 0));
    assert_present(s, b"");
}

fn unknown_digest_writer(s: &Subject) {
    let bytes = data(10_000, 2);
    let mut w = match s.ingester.writer(None) {
        Ok(w) => w,
        // Sinks that must know the size up front (tar streams) may refuse; that is allowed.
        Err(StoreError::Invalid { .. }) => return,
        Err(e) => panic!("writer(None): {e}"),
    };
    send(w.as_mut(), &bytes);
    let (digest, size) = ok(w.commit(), "commit");
    assert_eq!(
        (digest, size),
        (Digest::sha256_of(&bytes), bytes.len() as u64)
    );
    assert_present(s, &bytes);
}

fn wrong_digest_refused_and_invisible(s: &Subject) {
    let bytes = data(50_000, 3);
    let mut lie = desc_of(&bytes);
    lie.digest = Digest::sha256_of(b"something else");
    let mut w = ok(s.ingester.writer(Some(&lie)), "writer");
    send(w.as_mut(), &bytes);
    match w.commit() {
        Err(StoreError::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, lie.digest);
            assert_eq!(actual, Digest::sha256_of(&bytes));
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    assert_absent(s, &lie.digest);
    assert_absent(s, &Digest::sha256_of(&bytes));
    // The bad bytes are gone: a correct writer for the announced digest starts from zero.
    let w = ok(s.ingester.writer(Some(&lie)), "writer after mismatch");
    assert_eq!(w.offset(), 0, "a refused ingest must not be resumed");
}

fn short_write_refused(s: &Subject) {
    let bytes = data(20_000, 4);
    let desc = desc_of(&bytes);
    let mut w = ok(s.ingester.writer(Some(&desc)), "writer");
    send(w.as_mut(), &bytes[..10_000]);
    match w.commit() {
        Err(StoreError::SizeMismatch {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (20_000, 10_000)),
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    assert_absent(s, &desc.digest);
}

fn long_write_refused(s: &Subject) {
    let bytes = data(20_000, 5);
    let mut desc = desc_of(&bytes);
    desc.size = 19_999;
    let mut w = ok(s.ingester.writer(Some(&desc)), "writer");
    let refused_early = w.write_all(&bytes).is_err();
    let result = w.commit();
    assert!(
        refused_early || result.is_err(),
        "a write beyond the expected size was accepted"
    );
    assert_absent(s, &desc.digest);
}

fn dropped_writer_publishes_nothing(s: &Subject) {
    let bytes = data(40_000, 6);
    let desc = desc_of(&bytes);
    let mut w = ok(s.ingester.writer(Some(&desc)), "writer");
    send(w.as_mut(), &bytes); // every byte, but no commit
    drop(w);
    assert_absent(s, &desc.digest);
    if let Ok(mut w) = s.ingester.writer(None) {
        send(w.as_mut(), &bytes);
        drop(w);
        assert_absent(s, &desc.digest);
    }
}

fn commit_twice_is_success(s: &Subject) {
    let bytes = data(30_000, 7);
    let desc = desc_of(&bytes);
    for round in 0..2 {
        let mut w = ok(s.ingester.writer(Some(&desc)), "writer");
        if round == 1 {
            assert!(
                w.offset() == 0 || w.offset() == desc.size,
                "writer for an existing blob starts at {}",
                w.offset()
            );
        }
        send(w.as_mut(), &bytes);
        let got = ok(w.commit(), "commit");
        assert_eq!(got, (desc.digest.clone(), desc.size), "round {round}");
    }
    assert_present(s, &bytes);
}

fn resume_after_partial_write(s: &Subject) {
    let bytes = data(2_500_000, 8);
    let desc = desc_of(&bytes);
    let mut w = ok(s.ingester.writer(Some(&desc)), "writer");
    send(w.as_mut(), &bytes[..1_200_000]);
    drop(w);
    assert_absent(s, &desc.digest);
    let mut w = ok(s.ingester.writer(Some(&desc)), "second writer");
    if s.resumes {
        assert_eq!(w.offset(), 1_200_000, "resumed writer offset");
    } else {
        assert_eq!(w.offset(), 0, "non-resuming writer offset");
    }
    send(w.as_mut(), &bytes);
    assert_eq!(ok(w.commit(), "commit"), (desc.digest.clone(), desc.size));
    assert_present(s, &bytes);
}

fn concurrent_writers_of_one_blob(s: &Subject) {
    let bytes = data(3_000_000, 9);
    let desc = desc_of(&bytes);
    let results: Vec<Result<(Digest, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut w = s.ingester.writer(Some(&desc))?;
                    send(w.as_mut(), &bytes);
                    w.commit()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(_) => panic!("writer thread panicked"),
            })
            .collect()
    });
    let mut committed = 0;
    for r in results {
        match r {
            Ok(got) => {
                assert_eq!(got, (desc.digest.clone(), desc.size));
                committed += 1;
            }
            // Allowed by the contract: a writer may refuse while another holds the blob.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("concurrent writer: {e}"),
        }
    }
    assert!(committed >= 1, "no concurrent writer committed");
    assert_present(s, &bytes);
}

fn missing_blob_not_found(s: &Subject) {
    assert_absent(s, &Digest::sha256_of(b"never written"));
}

fn open_at_offset(s: &Subject) {
    let bytes = data(100_000, 10);
    let desc = desc_of(&bytes);
    let mut w = ok(s.ingester.writer(Some(&desc)), "writer");
    send(w.as_mut(), &bytes);
    ok(w.commit(), "commit");
    let mut r = ok(s.provider.open_at(&desc, 60_000), "open_at");
    let mut tail = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut r, &mut tail) {
        panic!("reading: {e}");
    }
    assert!(tail == bytes[60_000..], "open_at returned the wrong bytes");
}
