//! Fuzzes layer application: arbitrary bytes applied as a layer tar (both whiteout modes)
//! never panic, and nothing appears beside the root they are applied into.
#![no_main]

use kasane_snapshot::archive::{ApplyOptions, apply};
use kasane_snapshot::WhiteoutMode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sandbox) = tempfile::tempdir() else { return };
    let root = sandbox.path().join("root");
    if std::fs::create_dir(&root).is_err() {
        return;
    }
    for whiteouts in [WhiteoutMode::Overlay, WhiteoutMode::Delete] {
        let opts = ApplyOptions {
            whiteouts,
            preserve_owners: false,
            ..ApplyOptions::default()
        };
        let _ = apply(&root, data, &opts);
        let beside: Vec<_> = std::fs::read_dir(sandbox.path())
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(beside, vec![std::ffi::OsString::from("root")], "a layer wrote outside its root");
    }
});
