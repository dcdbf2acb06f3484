//! Every hostile layer of `kasane_testsupport::hostile` is refused with an error naming the
//! entry, or confined to the root, in both whiteout modes, and never changes anything outside
//! the root.
//!
//! Each case is applied into `<sandbox>/root`; `<sandbox>` also holds sentinel files,
//! directories and symlinks outside the root. The whole sandbox except the root is described
//! before and after (type, mode, owner, size, mtime, content, link target) and must not change.
//! System state the corpus could hit if confinement broke (`/etc/passwd`'s link count and
//! times, the absolute marker directory) is checked too; the corpus never writes there.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use kasane_snapshot::archive;
use kasane_snapshot::{ApplyOptions, WhiteoutMode};
use kasane_testsupport::hostile::{self, ABSOLUTE_MARKER, Expect};

fn describe(root: &Path, path: &Path, out: &mut BTreeMap<String, String>) {
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let m = std::fs::symlink_metadata(path).unwrap();
    let ft = m.file_type();
    let what = if ft.is_symlink() {
        format!("-> {}", std::fs::read_link(path).unwrap().display())
    } else if ft.is_file() {
        format!("data {:?}", std::fs::read(path).unwrap())
    } else if ft.is_dir() {
        "dir".to_owned()
    } else {
        format!("special rdev={}", m.rdev())
    };
    out.insert(
        rel,
        format!(
            "mode={:o} owner={}:{} size={} mtime={}.{} nlink={} {what}",
            m.mode(),
            m.uid(),
            m.gid(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.nlink()
        ),
    );
    if ft.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            let p = entry.unwrap().path();
            if p == root.join("root") {
                continue;
            }
            describe(root, &p, out);
        }
    }
}

fn sandbox_state(sandbox: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    describe(sandbox, sandbox, &mut out);
    out
}

fn system_state() -> String {
    let passwd = std::fs::symlink_metadata("/etc/passwd")
        .map(|m| format!("{} {} {} {}", m.ino(), m.nlink(), m.size(), m.mtime()))
        .unwrap_or_default();
    let marker = Path::new("/").join(ABSOLUTE_MARKER).exists();
    format!("passwd={passwd} marker_exists={marker}")
}

fn make_sandbox() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let s = t.path();
    for d in ["root", hostile::SANDBOX_DIR, hostile::SANDBOX_TARGET, "etc"] {
        std::fs::create_dir_all(s.join(d)).unwrap();
    }
    std::fs::write(s.join(hostile::SANDBOX_FILE), "sentinel").unwrap();
    std::fs::write(s.join(hostile::SANDBOX_DIR).join("keep"), "keep").unwrap();
    std::fs::write(s.join(hostile::SANDBOX_TARGET).join("keep"), "keep").unwrap();
    std::fs::write(s.join("etc/passwd"), "root:x:0:0:sandbox").unwrap();
    symlink(s.join("outside"), s.join("link-to-outside")).unwrap();
    t
}

fn diff_states(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => out.push(format!("removed {k}")),
            Some(w) if w != v => out.push(format!("changed {k}: {v} => {w}")),
            Some(_) => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            out.push(format!("created {k}"));
        }
    }
    out
}

#[test]
fn hostile_layers_are_refused_or_confined() {
    assert!(
        !Path::new("/").join(ABSOLUTE_MARKER).exists(),
        "/{ABSOLUTE_MARKER} exists before the test; remove it"
    );
    let mut failures = Vec::new();
    let corpus = hostile::corpus();
    assert!(corpus.len() >= 40, "the corpus shrank to {}", corpus.len());
    for mode in [WhiteoutMode::Overlay, WhiteoutMode::Delete] {
        for case in &corpus {
            let label = format!("{} ({mode:?})", case.name);
            let sandbox = make_sandbox();
            let root = sandbox.path().join("root");
            let before = sandbox_state(sandbox.path());
            let sys_before = system_state();
            let opts = ApplyOptions {
                whiteouts: mode,
                ..Default::default()
            };
            let result = archive::apply(&root, case.tar.as_slice(), &opts);
            let changes = diff_states(&before, &sandbox_state(sandbox.path()));
            if !changes.is_empty() {
                failures.push(format!("{label}: changed outside the root: {changes:#?}"));
            }
            let sys_after = system_state();
            if sys_after != sys_before {
                failures.push(format!(
                    "{label}: system state changed: {sys_before} => {sys_after}"
                ));
            }
            match (case.expect, &result) {
                (Expect::Reject, Ok(stats)) => {
                    failures.push(format!("{label}: accepted ({stats:?}), must be refused"));
                }
                (Expect::Reject, Err(e)) => {
                    let msg = e.to_string();
                    if !msg.contains(case.entry) {
                        failures.push(format!(
                            "{label}: error {msg:?} does not name entry {:?}",
                            case.entry
                        ));
                    }
                }
                (Expect::Confined, Err(e)) => {
                    failures.push(format!(
                        "{label}: refused ({e}; {:?}), must be confined",
                        std::error::Error::source(e).map(ToString::to_string)
                    ));
                }
                (Expect::Confined, Ok(_)) => {
                    for p in case.lands {
                        if std::fs::symlink_metadata(root.join(p)).is_err() {
                            failures.push(format!("{label}: {p} missing below the root"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Corrupted hostile layers (bytes overwritten, stream cut) never panic and never change
    /// anything outside the root, whatever the outcome.
    #[test]
    fn mutated_hostile_layers_stay_confined(
        pick in 0usize..1000,
        flips in proptest::collection::vec((0usize..1 << 20, proptest::prelude::any::<u8>()), 0..8),
        cut in proptest::option::of(0usize..1 << 20),
        delete in proptest::prelude::any::<bool>(),
    ) {
        let corpus = hostile::corpus();
        let case = &corpus[pick % corpus.len()];
        let mut tar = case.tar.clone();
        for (pos, byte) in flips {
            let n = tar.len();
            tar[pos % n] = byte;
        }
        if let Some(c) = cut {
            let n = tar.len();
            tar.truncate(c % (n + 1));
        }
        let sandbox = make_sandbox();
        let before = sandbox_state(sandbox.path());
        let sys_before = system_state();
        let opts = ApplyOptions {
            whiteouts: if delete { WhiteoutMode::Delete } else { WhiteoutMode::Overlay },
            ..Default::default()
        };
        let _ = archive::apply(&sandbox.path().join("root"), tar.as_slice(), &opts);
        let changes = diff_states(&before, &sandbox_state(sandbox.path()));
        proptest::prop_assert!(changes.is_empty(), "{}: {changes:#?}", case.name);
        proptest::prop_assert_eq!(system_state(), sys_before);
    }
}
