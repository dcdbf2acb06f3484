//! Behaviour of `apply`: entry types, metadata, replacement, whiteouts, limits, DiffIDs.
//! Hostile input has its own corpus in `tests/hostile.rs`.

use std::path::Path;

use kasane_oci::Digest;
use tar::{EntryType, Header};

use super::*;
use crate::archive::Limits;
use crate::{ErrorKind, listing};

#[test]
fn clean_confines_names_to_the_root() {
    for (raw, want) in [
        ("a/b", "a/b"),
        ("./a//b/", "a/b"),
        ("/etc/passwd", "etc/passwd"),
        ("../../x", "x"),
        ("a/../../b", "b"),
        ("a/b/../c", "a/c"),
        ("./", ""),
        ("..", ""),
        ("/", ""),
    ] {
        let mut out = Vec::new();
        clean(raw.as_bytes(), &mut out).unwrap();
        assert_eq!(lossy(&out), want, "{raw}");
    }
    assert!(clean(b"a/\0b", &mut Vec::new()).is_err());
}

#[test]
fn split_parent_and_name() {
    assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
    assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
}

/// A well-formed layer tar, built with the tar crate.
struct Layer(tar::Builder<Vec<u8>>);

const T: u64 = 1_600_000_000;

fn header(kind: EntryType, mode: u32) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(T);
    h.set_size(0);
    h
}

impl Layer {
    fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }
    fn add(&mut self, mut h: Header, path: &str, data: &[u8]) -> &mut Self {
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }
    fn file(&mut self, path: &str, data: &str) -> &mut Self {
        self.add(header(EntryType::Regular, 0o644), path, data.as_bytes())
    }
    fn dir(&mut self, path: &str) -> &mut Self {
        self.add(header(EntryType::Directory, 0o755), path, b"")
    }
    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Symlink, 0o777);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }
    fn link(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Link, 0o644);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.0
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }
    fn bytes(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

fn apply_in(dir: &Path, tar: &[u8], whiteouts: WhiteoutMode) -> Result<ApplyStats, SnapshotError> {
    let opts = ApplyOptions {
        whiteouts,
        ..Default::default()
    };
    apply(dir, tar, &opts)
}

/// The listing without the root's own line.
fn lines(dir: &Path) -> Vec<String> {
    listing(dir)
        .unwrap()
        .iter()
        .skip(1)
        .map(ToString::to_string)
        .collect()
}

/// The content summary a listing shows for a file holding `s`.
fn sha(s: &str) -> String {
    crate::tree::content_id(s.as_bytes())
}

#[test]
fn applies_every_entry_type_with_metadata() {
    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    let mut h = header(EntryType::Directory, 0o1777);
    h.set_mtime(T + 1);
    l.add(h, "d/", b"");
    let mut h = header(EntryType::Regular, 0o4755);
    h.set_uid(1000);
    h.set_gid(1001);
    l.pax(&[
        ("mtime", b"1600000002.5"),
        ("SCHILY.xattr.user.test", b"v1"),
        // A valid VFS_CAP_REVISION_2 capability (cap_net_bind_service, effective).
        (
            "SCHILY.xattr.security.capability",
            &[1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
    l.add(h, "d/suid", b"data");
    l.link("d/hard", "d/suid");
    let mut h = header(EntryType::Symlink, 0o777);
    h.set_uid(7);
    h.set_gid(8);
    h.set_mtime(T + 3);
    l.0.append_link(&mut h, "d/sym", "suid").unwrap();
    let mut h = header(EntryType::Char, 0o620);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    l.add(h, "d/null", b"");
    let mut h = header(EntryType::Block, 0o660);
    h.set_device_major(7).unwrap();
    h.set_device_minor(0).unwrap();
    l.add(h, "d/loop0", b"");
    l.add(header(EntryType::Fifo, 0o600), "d/fifo", b"");
    l.pax(&[("SCHILY.xattr.user.dir", b"yes")]);
    l.add(header(EntryType::Directory, 0o700), "d/sub/", b"");
    l.file("d/sub/f", "x");
    let tar = l.bytes();
    let stats = apply_in(t.path(), &tar, WhiteoutMode::Overlay).unwrap();
    assert_eq!(stats.entries, 9);
    assert_eq!(stats.content_size, 5);
    assert_eq!(stats.tar_size, tar.len() as u64);
    assert_eq!(stats.diff_id.0, Digest::sha256_of(&tar));
    assert_eq!(
        lines(t.path()),
        [
            "d 1777 0:0 1600000001.000000000 0 d".to_owned(),
            "p 0600 0:0 1600000000.000000000 0 d/fifo".to_owned(),
            "f 4755 1000:1001 1600000002.500000000 4 d/hard".to_owned()
                + &format!(" {} xattr:security.capability=\\x01\\x00\\x00\\x02\\x00\\x04\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00 xattr:user.test=v1", sha("data")),
            "b 0660 0:0 1600000000.000000000 0 d/loop0 dev=7,0".to_owned(),
            "c 0620 0:0 1600000000.000000000 0 d/null dev=1,3".to_owned(),
            "d 0700 0:0 1600000000.000000000 0 d/sub xattr:user.dir=yes".to_owned(),
            format!("f 0644 0:0 1600000000.000000000 1 d/sub/f {}", sha("x")),
            "f 4755 1000:1001 1600000002.500000000 4 d/suid => d/hard xattr:security.capability=\\x01\\x00\\x00\\x02\\x00\\x04\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00 xattr:user.test=v1".to_owned(),
            "l 0777 7:8 1600000003.000000000 0 d/sym -> suid".to_owned(),
        ]
    );
}

#[test]
fn root_entry_sets_the_roots_metadata() {
    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    l.add(header(EntryType::Directory, 0o751), "./", b"");
    l.file("./a", "a");
    apply_in(t.path(), &l.bytes(), WhiteoutMode::Overlay).unwrap();
    let root = &listing(t.path()).unwrap()[0];
    assert_eq!((root.mode, root.mtime), (0o751, T as i64));
}

#[test]
fn later_entries_replace_earlier_nodes() {
    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    l.dir("d/")
        .file("d/old", "old")
        .file("f", "file")
        .dir("e/")
        .file("e/x", "x");
    l.file("s", "s");
    apply_in(t.path(), &l.bytes(), WhiteoutMode::Delete).unwrap();
    // A second layer over the first, as the native snapshotter applies it.
    let mut l = Layer::new();
    l.add(header(EntryType::Directory, 0o700), "d/", b""); // keeps d/old, new mode
    l.dir("f/"); // a directory over a file
    l.file("e", "now a file"); // a file over a directory tree
    l.symlink("s", "d/old"); // a symlink over a file
    l.file("d/old", "new"); // a file over a file
    apply_in(t.path(), &l.bytes(), WhiteoutMode::Delete).unwrap();
    assert_eq!(
        lines(t.path()),
        [
            "d 0700 0:0 1600000000.000000000 0 d".to_owned(),
            format!("f 0644 0:0 1600000000.000000000 3 d/old {}", sha("new")),
            format!("f 0644 0:0 1600000000.000000000 10 e {}", sha("now a file")),
            "d 0755 0:0 1600000000.000000000 0 f".to_owned(),
            "l 0777 0:0 1600000000.000000000 0 s -> d/old".to_owned(),
        ]
    );
}

#[test]
fn overlay_whiteouts_become_devices_and_opaque_xattrs() {
    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    l.dir("a/").file("a/.wh.gone", "");
    l.dir("o/").file("o/.wh..wh..opq", "").file("o/kept", "k");
    l.file(".wh..wh.plnk", "").file("a/.wh..wh.aufs", "");
    // A whiteout of this layer's own directory makes it opaque, in either order.
    l.dir("own/").file(".wh.own", "");
    l.file(".wh.later", "").dir("later/");
    // A whiteout of this layer's own file leaves the file.
    l.file("mine", "m").file(".wh.mine", "");
    apply_in(t.path(), &l.bytes(), WhiteoutMode::Overlay).unwrap();
    let opq = " xattr:trusted.overlay.opaque=y";
    assert_eq!(
        lines(t.path()),
        [
            "d 0755 0:0 1600000000.000000000 0 a".to_owned(),
            "c 0000 0:0 1600000000.000000000 0 a/gone dev=0,0".to_owned(),
            format!("d 0755 0:0 1600000000.000000000 0 later{opq}"),
            format!("f 0644 0:0 1600000000.000000000 1 mine {}", sha("m")),
            format!("d 0755 0:0 1600000000.000000000 0 o{opq}"),
            format!("f 0644 0:0 1600000000.000000000 1 o/kept {}", sha("k")),
            format!("d 0755 0:0 1600000000.000000000 0 own{opq}"),
        ]
    );
}

#[test]
fn delete_whiteouts_remove_lower_content_only() {
    let t = tempfile::tempdir().unwrap();
    let mut lower = Layer::new();
    lower.dir("gone/").file("gone/deep", "x");
    lower
        .dir("o/")
        .file("o/lower", "l")
        .dir("o/sub/")
        .file("o/sub/lower", "l");
    lower.dir("p/").file("p/lower", "l");
    apply_in(t.path(), &lower.bytes(), WhiteoutMode::Delete).unwrap();
    let mut l = Layer::new();
    l.file(".wh.gone", "");
    // Marker first, then this layer's children (what docker writes).
    l.dir("o/")
        .file("o/.wh..wh..opq", "")
        .dir("o/sub/")
        .file("o/sub/new", "n");
    // Marker after this layer's children.
    l.dir("p/").file("p/new", "n").file("p/.wh..wh..opq", "");
    // A whiteout of this layer's own file is ignored.
    l.file("mine", "m").file(".wh.mine", "");
    l.file(".wh.never-existed", "");
    apply_in(t.path(), &l.bytes(), WhiteoutMode::Delete).unwrap();
    assert_eq!(
        lines(t.path()),
        [
            format!("f 0644 0:0 1600000000.000000000 1 mine {}", sha("m")),
            "d 0755 0:0 1600000000.000000000 0 o".to_owned(),
            "d 0755 0:0 1600000000.000000000 0 o/sub".to_owned(),
            format!("f 0644 0:0 1600000000.000000000 1 o/sub/new {}", sha("n")),
            "d 0755 0:0 1600000000.000000000 0 p".to_owned(),
            format!("f 0644 0:0 1600000000.000000000 1 p/new {}", sha("n")),
        ]
    );
}

#[test]
fn diff_id_covers_the_whole_stream() {
    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    l.file("a", "12345").link("b", "a");
    let mut tar = l.bytes();
    // GNU tar pads to 10 KiB records: the padding is part of the DiffID.
    tar.resize(10240, 0);
    let stats = apply_in(t.path(), &tar, WhiteoutMode::Overlay).unwrap();
    assert_eq!(stats.diff_id.0, Digest::sha256_of(&tar));
    assert_eq!(
        (stats.tar_size, stats.content_size, stats.entries),
        (10240, 5, 2)
    );

    let t = tempfile::tempdir().unwrap();
    let wrong = DiffId(Digest::sha256_of(b"other"));
    let opts = ApplyOptions {
        expected_diff_id: Some(wrong.clone()),
        ..Default::default()
    };
    let err = apply(t.path(), tar.as_slice(), &opts).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::DiffIdMismatch { expected, actual } if *expected == wrong && actual.0 == Digest::sha256_of(&tar)),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn empty_streams_are_empty_layers() {
    for tar in [vec![], vec![0u8; 1024]] {
        let t = tempfile::tempdir().unwrap();
        let stats = apply_in(t.path(), &tar, WhiteoutMode::Overlay).unwrap();
        assert_eq!(stats.entries, 0);
        assert_eq!(stats.diff_id.0, Digest::sha256_of(&tar));
    }
}

#[test]
fn limits_are_enforced() {
    let cases: Vec<(&str, Limits, Vec<u8>)> = vec![
        (
            "entries",
            Limits {
                max_entries: 2,
                ..Limits::default()
            },
            {
                Layer::new()
                    .file("a", "")
                    .file("b", "")
                    .file("c", "")
                    .bytes()
            },
        ),
        (
            "name",
            Limits {
                max_path: 10,
                ..Limits::default()
            },
            { Layer::new().file("0123456789a", "").bytes() },
        ),
        (
            "pax",
            Limits {
                max_pax_size: 1000,
                ..Limits::default()
            },
            {
                Layer::new()
                    .file("before", "")
                    .pax(&[("comment", &[b'x'; 50_000])])
                    .file("after", "")
                    .bytes()
            },
        ),
    ];
    for (what, limits, tar) in cases {
        let t = tempfile::tempdir().unwrap();
        let opts = ApplyOptions {
            limits,
            ..Default::default()
        };
        let err = apply(t.path(), tar.as_slice(), &opts).unwrap_err();
        assert!(
            matches!(err, SnapshotError::LimitExceeded { .. }),
            "{what}: {err:?}"
        );
    }
}

#[test]
fn refused_xattrs_name_the_entry_and_overlay_xattrs_are_never_taken() {
    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    l.pax(&[
        ("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
        ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
    ]);
    l.dir("d/");
    apply_in(t.path(), &l.bytes(), WhiteoutMode::Overlay).unwrap();
    assert_eq!(lines(t.path()), ["d 0755 0:0 1600000000.000000000 0 d"]);

    // user.* xattrs are not allowed on symlinks.
    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    l.pax(&[("SCHILY.xattr.user.x", b"1")]);
    l.symlink("sym", "target");
    let err = apply_in(t.path(), &l.bytes(), WhiteoutMode::Overlay).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::Xattr { entry, name, .. } if entry == "sym" && name == "user.x"),
        "{err:?}"
    );
}

#[test]
fn unsupported_types_and_owners_off() {
    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    l.add(header(EntryType::new(b'V'), 0o644), "volume", b"");
    let err = apply_in(t.path(), &l.bytes(), WhiteoutMode::Overlay).unwrap_err();
    assert!(
        matches!(err, SnapshotError::UnsupportedEntry { typeflag: 'V', .. }),
        "{err:?}"
    );

    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    let mut h = header(EntryType::Regular, 0o644);
    h.set_uid(4242);
    l.add(h, "f", b"x");
    let opts = ApplyOptions {
        preserve_owners: false,
        ..Default::default()
    };
    apply(t.path(), l.bytes().as_slice(), &opts).unwrap();
    let me = rustix::process::geteuid().as_raw();
    assert_eq!(listing(t.path()).unwrap()[1].uid, me);
}

#[test]
fn missing_parents_are_created_0755_and_symlinked_parents_resolve_inside() {
    let t = tempfile::tempdir().unwrap();
    let mut l = Layer::new();
    l.file("a/b/c", "x");
    l.dir("real/")
        .symlink("abs", "/real")
        .symlink("rel", "../../real");
    l.file("abs/one", "1").file("rel/two", "2");
    apply_in(t.path(), &l.bytes(), WhiteoutMode::Overlay).unwrap();
    let got = lines(t.path());
    assert!(
        got[0].starts_with("d 0755 0:0 ") && got[0].ends_with(" a"),
        "{got:?}"
    );
    assert!(t.path().join("real/one").is_file() && t.path().join("real/two").is_file());
}

#[test]
fn the_fingerprint_from_recorded_contents_equals_the_one_read_back() {
    for whiteouts in [WhiteoutMode::Overlay, WhiteoutMode::Delete] {
        let t = tempfile::tempdir().unwrap();
        let mut l = Layer::new();
        l.dir("d/")
            .file("d/a", "first")
            .link("d/a2", "d/a")
            .file("d/b", "replaced later")
            .file("d/b", "the second b, longer")
            .file("d/empty", "")
            .file("top", "x");
        l.symlink("d/s", "a");
        let stats = apply_in(t.path(), &l.bytes(), whiteouts).unwrap();
        // One per inode written (the replaced `d/b` may have left its inode number to the new one).
        assert!((4..=5).contains(&stats.contents.len()));
        assert_eq!(
            crate::fingerprint_with(t.path(), &stats.contents).unwrap(),
            crate::fingerprint(t.path()).unwrap()
        );
        // A file changed behind the applier's back is read again: its size differs.
        std::fs::write(t.path().join("top"), "changed").unwrap();
        assert_eq!(
            crate::fingerprint_with(t.path(), &stats.contents).unwrap(),
            crate::fingerprint(t.path()).unwrap()
        );
    }
}
