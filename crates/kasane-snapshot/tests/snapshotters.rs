//! Both snapshotters run the conformance suite (`kasane_snapshot::testsuite`).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use kasane_snapshot::{Native, Overlay};

kasane_snapshot::snapshotter_tests!(overlay, |root: &Path| {
    Overlay::open(root).expect("opening overlay snapshotter")
});
kasane_snapshot::snapshotter_tests!(native, |root: &Path| {
    Native::open(root).expect("opening native snapshotter")
});
