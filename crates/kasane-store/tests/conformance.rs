//! Every Provider + Ingester implementation runs the conformance suite (STYLE rule 5).
#![allow(clippy::unwrap_used)]

use kasane_store::archive::OciLayoutDir;
use kasane_store::local::LocalStore;
use kasane_store::testsuite::{Subject, run_provider_ingester_suite};

#[test]
fn local_store_conforms() {
    run_provider_ingester_suite(&|| {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        Subject {
            provider: Box::new(store.clone()),
            ingester: Box::new(store),
            resumes: true,
            guard: Box::new(dir),
        }
    });
}

#[test]
fn local_store_without_waiting_conforms() {
    // Writers of one blob refuse (Conflict) instead of waiting: still correct.
    run_provider_ingester_suite(&|| {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path())
            .unwrap()
            .with_ingest_wait(std::time::Duration::ZERO);
        Subject {
            provider: Box::new(store.clone()),
            ingester: Box::new(store),
            resumes: true,
            guard: Box::new(dir),
        }
    });
}

#[test]
fn oci_layout_dir_conforms() {
    run_provider_ingester_suite(&|| {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayoutDir::create(&dir.path().join("layout")).unwrap();
        Subject {
            provider: Box::new(layout.clone()),
            ingester: Box::new(layout),
            resumes: false,
            guard: Box::new(dir),
        }
    });
}
