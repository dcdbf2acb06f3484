//! Round trip property: a random tree → `diff` → `apply` into an empty directory gives the same
//! tree (type, mode, owner, mtime, size, content, link target, hardlinks, devices, xattrs), and
//! the DiffIDs of both sides agree. Plain trees, and overlay upper dirs with whiteouts and
//! opaque directories.
#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};

use kasane_snapshot::archive::{self, DiffMode};
use kasane_snapshot::{ApplyOptions, WhiteoutMode, listing};
use proptest::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps};

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    /// A hardlink to the n-th regular file created so far (modulo their count).
    Hardlink(usize),
    Fifo,
    Char(u32, u32),
    /// Overlay upper dirs only: a `0/0` character device.
    Whiteout,
    /// Overlay upper dirs only: a directory with `trusted.overlay.opaque=y`.
    OpaqueDir,
}

#[derive(Debug, Clone)]
struct Spec {
    path: Vec<Vec<u8>>,
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattr: Option<(String, Vec<u8>)>,
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"a".to_vec()),
        Just(b"b".to_vec()),
        Just(b"c.d".to_vec()),
        Just(b"x".repeat(120)),
        Just(vec![b'n', 0xff, b'z']),
        "[a-z]{1,8}".prop_map(String::into_bytes),
    ]
}

fn kind(overlay: bool) -> impl Strategy<Value = Kind> {
    let base = prop_oneof![
        3 => Just(Kind::Dir),
        4 => prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            proptest::collection::vec(any::<u8>(), 70_000..70_100),
        ].prop_map(Kind::File),
        2 => prop_oneof![
            "[a-z/.]{1,20}".prop_map(String::into_bytes),
            Just(format!("/{}", "t/".repeat(70)).into_bytes()),
        ].prop_map(Kind::Symlink),
        1 => any::<usize>().prop_map(Kind::Hardlink),
        1 => Just(Kind::Fifo),
        1 => (1u32..300, 0u32..300).prop_map(|(a, b)| Kind::Char(a, b)),
    ];
    if overlay {
        prop_oneof![6 => base, 1 => Just(Kind::Whiteout), 1 => Just(Kind::OpaqueDir)].boxed()
    } else {
        base.boxed()
    }
}

fn spec(overlay: bool) -> impl Strategy<Value = Spec> {
    (
        proptest::collection::vec(name(), 1..4),
        kind(overlay),
        prop_oneof![
            Just(0o644u32),
            Just(0o755),
            Just(0o4755),
            Just(0o2750),
            Just(0o1777),
            Just(0o600),
            Just(0o000)
        ],
        prop_oneof![Just(0u32), Just(1000), Just(3_000_000)],
        prop_oneof![Just(0u32), Just(50), Just(2_500_000)],
        0i64..2_000_000_000,
        proptest::option::of(("[a-z]{1,5}", proptest::collection::vec(any::<u8>(), 0..40))),
    )
        .prop_map(|(path, kind, mode, uid, gid, mtime, xattr)| Spec {
            path,
            kind,
            mode,
            uid,
            gid,
            mtime,
            xattr: xattr.map(|(k, v)| (format!("user.{k}"), v)),
        })
}

fn times(secs: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn set_time(p: &Path, secs: i64) {
    rustix::fs::utimensat(rustix::fs::CWD, p, &times(secs), AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

/// Creates the nodes of `specs` below `root` (skipping ones that collide), directory mtimes last.
fn build(root: &Path, specs: &[Spec]) {
    let mut dirs: Vec<(PathBuf, i64)> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    'spec: for s in specs {
        let mut p = root.to_path_buf();
        for (i, comp) in s.path.iter().enumerate() {
            p.push(OsStr::from_bytes(comp));
            let last = i + 1 == s.path.len();
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() && !last => continue,
                Ok(_) => continue 'spec,
                Err(_) if !last => {
                    std::fs::create_dir(&p).unwrap();
                    std::fs::set_permissions(&p, PermissionsExt::from_mode(0o755)).unwrap();
                    dirs.push((p.clone(), 1));
                }
                Err(_) => {}
            }
        }
        let mut perms = true;
        match &s.kind {
            Kind::Dir | Kind::OpaqueDir => {
                std::fs::create_dir(&p).unwrap();
                dirs.push((p.clone(), s.mtime));
                if matches!(s.kind, Kind::OpaqueDir) {
                    rustix::fs::lsetxattr(
                        &p,
                        "trusted.overlay.opaque",
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .unwrap();
                }
            }
            Kind::File(data) => {
                std::fs::write(&p, data).unwrap();
                files.push(p.clone());
            }
            Kind::Symlink(target) => {
                symlink(OsStr::from_bytes(target), &p).unwrap();
                perms = false;
            }
            Kind::Hardlink(n) => {
                if files.is_empty() {
                    continue;
                }
                std::fs::hard_link(&files[n % files.len()], &p).unwrap();
                continue;
            }
            Kind::Fifo => {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &p,
                    FileType::Fifo,
                    Mode::from_raw_mode(0o600),
                    0,
                )
                .unwrap();
            }
            Kind::Char(a, b) => {
                let dev = rustix::fs::makedev(*a, *b);
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &p,
                    FileType::CharacterDevice,
                    Mode::from_raw_mode(0o600),
                    dev,
                )
                .unwrap();
            }
            Kind::Whiteout => {
                let dev = rustix::fs::makedev(0, 0);
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &p,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    dev,
                )
                .unwrap();
            }
        }
        lchown(&p, Some(s.uid), Some(s.gid)).unwrap();
        if perms {
            let mode = if matches!(s.kind, Kind::Whiteout) {
                0
            } else {
                s.mode
            };
            std::fs::set_permissions(&p, PermissionsExt::from_mode(mode)).unwrap();
        }
        if let Some((k, v)) = &s.xattr
            && matches!(s.kind, Kind::File(_) | Kind::Dir | Kind::OpaqueDir)
        {
            rustix::fs::lsetxattr(&p, k.as_str(), v, rustix::fs::XattrFlags::empty()).unwrap();
        }
        if !matches!(s.kind, Kind::Dir | Kind::OpaqueDir) {
            set_time(&p, s.mtime);
        }
    }
    for (d, t) in dirs {
        set_time(&d, t);
    }
}

fn lines(dir: &Path) -> Vec<String> {
    listing(dir)
        .unwrap()
        .iter()
        .skip(1)
        .map(ToString::to_string)
        .collect()
}

fn round_trip(specs: &[Spec], mode: DiffMode, whiteouts: WhiteoutMode) {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    std::fs::create_dir(&src).unwrap();
    std::fs::create_dir(&dst).unwrap();
    build(&src, specs);

    let mut tar = Vec::new();
    let stats = archive::diff(&src, mode, &mut tar).unwrap();
    assert_eq!(stats.size, tar.len() as u64);
    let mut again = Vec::new();
    archive::diff(&src, mode, &mut again).unwrap();
    assert!(tar == again, "diff is not deterministic");

    let opts = ApplyOptions {
        whiteouts,
        ..Default::default()
    };
    let applied = archive::apply(&dst, tar.as_slice(), &opts).unwrap();
    assert_eq!(applied.diff_id, stats.diff_id);
    assert_eq!(applied.content_size, stats.content_size);
    similar_asserts::assert_eq!(lines(&dst), lines(&src));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn plain_trees_round_trip(specs in proptest::collection::vec(spec(false), 0..24)) {
        round_trip(&specs, DiffMode::Plain, WhiteoutMode::Overlay);
        round_trip(&specs, DiffMode::Plain, WhiteoutMode::Delete);
    }

    #[test]
    fn overlay_upper_dirs_round_trip(specs in proptest::collection::vec(spec(true), 0..24)) {
        round_trip(&specs, DiffMode::OverlayUpper, WhiteoutMode::Overlay);
    }
}
