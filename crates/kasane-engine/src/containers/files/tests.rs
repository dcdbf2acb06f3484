//! Unit tests of the container file operations: diff, confined resolution, cp, top and
//! commit.

use std::os::unix::fs::MetadataExt;

use rustix::io::Errno;
use serde_json::{Map, Value, json};

use super::commit::{commit_config, container_cmd};
use super::confined::{clean_components, open_in, resolve_in_root};
use super::copy::{
    ContainerSource, ContainerTarget, HostTarAcc, HostTarget, HostWriter, apply_tar,
    container_target, host_tar, host_target,
};
use super::diff::{Change, OPAQUE_XATTR, overlay_changes, tree_changes};
use super::top::{parent_pid, parse_ps};
use super::*;
use crate::containers::ContainerOptions;
use crate::error::EngineError;

fn mknod_whiteout(path: &Path) -> bool {
    rfs::mknodat(rfs::CWD, path, FileType::CharacterDevice, Mode::empty(), 0).is_ok()
}

fn set_opaque(path: &Path) -> bool {
    rfs::setxattr(path, OPAQUE_XATTR, b"y", rfs::XattrFlags::empty()).is_ok()
}

fn lines(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|(k, p)| format!("{k} {}", String::from_utf8_lossy(p)))
        .collect()
}

#[test]
fn upper_dir_changes_are_classified_against_the_layers() {
    let t = tempfile::tempdir().unwrap();
    let (upper, low1, low2) = (t.path().join("u"), t.path().join("l1"), t.path().join("l2"));
    // l2 is the bottom layer, l1 above it.
    for d in ["etc", "usr/share", "var/cache/x", "opt/old"] {
        std::fs::create_dir_all(low2.join(d)).unwrap();
    }
    std::fs::write(low2.join("etc/passwd"), "root").unwrap();
    std::fs::write(low2.join("etc/group"), "root").unwrap();
    std::fs::write(low2.join("etc/gone-below"), "x").unwrap();
    std::fs::write(low2.join("var/cache/x/a"), "a").unwrap();
    std::fs::write(low2.join("var/cache/b"), "b").unwrap();
    std::fs::write(low2.join("opt/old/f"), "f").unwrap();
    std::fs::create_dir_all(low1.join("etc")).unwrap();
    let whiteouts = mknod_whiteout(&low1.join("etc/gone-below"));

    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::create_dir_all(upper.join("newdir/sub")).unwrap();
    std::fs::create_dir_all(upper.join("tmp")).unwrap();
    std::fs::write(upper.join("etc/passwd"), "root\nextra").unwrap();
    std::fs::write(upper.join("tmp/new"), "x").unwrap();
    std::fs::write(upper.join("newdir/sub/f"), "x").unwrap();
    let mut want = vec![
        "C /etc",
        "C /etc/passwd",
        "A /newdir",
        "A /newdir/sub",
        "A /newdir/sub/f",
        "A /tmp",
        "A /tmp/new",
    ];
    if whiteouts {
        // Whited out by a higher lower layer: recreating it is an addition.
        std::fs::write(upper.join("etc/gone-below"), "again").unwrap();
        assert!(mknod_whiteout(&upper.join("etc/group")));
        want.extend(["A /etc/gone-below", "D /etc/group"]);
        // An opaque directory hides what the layers had below it.
        std::fs::create_dir_all(upper.join("var/cache")).unwrap();
        std::fs::write(upper.join("var/cache/b"), "new b").unwrap();
        if set_opaque(&upper.join("var/cache")) {
            want.extend(["C /var", "C /var/cache", "A /var/cache/b", "D /var/cache/x"]);
            // Below an opaque directory nothing of the layers exists.
            std::fs::create_dir_all(upper.join("opt")).unwrap();
            assert!(set_opaque(&upper.join("opt")));
            std::fs::create_dir_all(upper.join("opt/old")).unwrap();
            want.extend(["C /opt", "A /opt/old"]);
        } else {
            want.extend(["C /var", "C /var/cache", "C /var/cache/b"]);
        }
    }
    let got = overlay_changes(&upper, &[low1, low2]).unwrap();
    let mut got = lines(&got);
    let pos = |p: &str| got.iter().position(|l| l == p);
    if let (Some(a), Some(b)) = (pos("C /etc"), pos("C /etc/passwd")) {
        assert!(a < b, "{got:?}");
    }
    got.sort();
    want.sort();
    assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<Vec<_>>());
}

#[test]
fn native_trees_compare_like_docker() {
    let t = tempfile::tempdir().unwrap();
    let (new, old) = (t.path().join("new"), t.path().join("old"));
    for d in [&new, &old] {
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(d.join("etc/same"), "s").unwrap();
    }
    let same = std::fs::metadata(old.join("etc/same"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(new.join("etc/same"))
        .unwrap()
        .set_modified(same)
        .unwrap();
    std::fs::write(old.join("etc/group"), "g").unwrap();
    std::fs::write(old.join("etc/passwd"), "p").unwrap();
    std::fs::write(new.join("etc/passwd"), "p2").unwrap();
    std::fs::create_dir(new.join("added")).unwrap();
    std::fs::write(new.join("added/f"), "f").unwrap();
    let got = lines(&tree_changes(&new, Some(&old)).unwrap());
    assert_eq!(
        got,
        [
            "A /added",
            "A /added/f",
            "C /etc",
            "D /etc/group",
            "C /etc/passwd"
        ]
    );
    let all = lines(&tree_changes(&new, None).unwrap());
    assert!(all.iter().all(|l| l.starts_with("A /")), "{all:?}");
}

#[test]
fn symlinks_resolve_inside_the_root() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("etc/hostname"), "inside\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("etc/x")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/hostname", root.join("data/up")).unwrap();
    std::os::unix::fs::symlink("/", root.join("data/top")).unwrap();
    std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
    let fd = rfs::open(&root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();

    for p in ["/etc/x", "data/up", "/data/top/etc/x", "/data/top/./etc/x"] {
        let (real, exists) =
            resolve_in_root(fd.as_fd(), &clean_components(p.as_bytes()), true).unwrap();
        assert!(exists, "{p}");
        assert_eq!(join(&real), b"etc/hostname", "{p}");
        let f = open_in(fd.as_fd(), &join(&real), OFlags::RDONLY).unwrap();
        let mut s = String::new();
        File::from(f).read_to_string(&mut s).unwrap();
        assert_eq!(s, "inside\n", "{p}");
    }
    // Not following the last component keeps the link itself.
    let (real, _) = resolve_in_root(fd.as_fd(), &clean_components(b"/etc/x"), false).unwrap();
    assert_eq!(join(&real), b"etc/x");
    // A missing last component is reported, a missing parent is an error.
    let (real, exists) =
        resolve_in_root(fd.as_fd(), &clean_components(b"/data/top/new"), true).unwrap();
    assert!(!exists);
    assert_eq!(join(&real), b"new");
    assert!(resolve_in_root(fd.as_fd(), &clean_components(b"/nope/x"), true).is_err());
    assert_eq!(
        resolve_in_root(fd.as_fd(), &clean_components(b"/loop"), true).unwrap_err(),
        Errno::LOOP
    );
    // `..` in the user's path is lexical and stops at the root.
    assert_eq!(
        clean_components(b"/../../etc/./x/"),
        vec![b"etc".to_vec(), b"x".to_vec()]
    );
}

#[test]
fn copies_in_and_out_stay_in_the_root() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::write(root.join("etc/hostname"), "inside\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("etc/x")).unwrap();
    std::os::unix::fs::symlink("/", root.join("tmp/escape")).unwrap();
    let fd = rfs::open(&root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();

    // Out: a link to an absolute path is read inside the root.
    let src = ContainerSource::open(fd.as_fd(), "/etc/x", true, "c").unwrap();
    let out = t.path().join("out");
    let mut w = HostWriter::default();
    w.node(src.parent.as_fd(), &src.name, &out).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "inside\n");
    // Without -L the link itself is copied.
    let src = ContainerSource::open(fd.as_fd(), "/etc/x", false, "c").unwrap();
    let link = t.path().join("link");
    w.node(src.parent.as_fd(), &src.name, &link).unwrap();
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("/etc/hostname")
    );

    // In: through a link to `/`, into a directory of the root, mode kept.
    let host = t.path().join("in.txt");
    std::fs::write(&host, "payload").unwrap();
    std::fs::set_permissions(&host, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    let plan =
        container_target(fd.as_fd(), "/tmp/escape/etc/", false, false, b"in.txt", "c").unwrap();
    assert_eq!(plan, ContainerTarget::At(b"etc/in.txt".to_vec()));
    let ContainerTarget::At(name) = plan else {
        unreachable!()
    };
    let stats = apply_tar(fd.as_fd(), |b| {
        let mut acc = HostTarAcc::default();
        host_tar(b, &host, &name, false, None, &mut acc)?;
        Ok(acc.copied)
    })
    .unwrap();
    assert_eq!(stats.content_size, 7);
    let meta = std::fs::metadata(root.join("etc/in.txt")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o750);
    // Onto an existing link to a file: the link's target inside the root is written.
    let plan = container_target(fd.as_fd(), "/etc/x", false, false, b"in.txt", "c").unwrap();
    assert_eq!(plan, ContainerTarget::At(b"etc/hostname".to_vec()));
    // A directory is not replaced by a file.
    assert!(container_target(fd.as_fd(), "/etc", false, false, b"tmp", "c").is_ok());
    assert!(container_target(fd.as_fd(), "/", false, false, b"tmp", "c").is_err());
    assert!(matches!(
        container_target(fd.as_fd(), "/nope/x", false, false, b"f", "c"),
        Err(EngineError::NotFound(_))
    ));
    assert!(container_target(fd.as_fd(), "/tmp/.wh.x", false, false, b"f", "c").is_err());
}

#[test]
fn host_targets_follow_docker() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let file = t.path().join("f");
    std::fs::write(&file, "x").unwrap();
    assert_eq!(
        host_target(&dir, false, false, b"passwd").unwrap(),
        HostTarget::At(dir.join("passwd"))
    );
    assert_eq!(
        host_target(&dir, true, true, b"tree").unwrap(),
        HostTarget::Into(dir.clone())
    );
    assert_eq!(
        host_target(&file, false, false, b"passwd").unwrap(),
        HostTarget::At(file.clone())
    );
    assert!(host_target(&file, true, false, b"tree").is_err());
    let new = t.path().join("new");
    assert_eq!(
        host_target(&new, true, false, b"tree").unwrap(),
        HostTarget::At(new.clone())
    );
    assert!(host_target(&t.path().join("no/such"), false, false, b"x").is_err());
}

#[test]
fn ps_output_is_filtered_like_docker() {
    let out = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                   root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                   root        4242    4200  0 10:01 ?        00:00:00 sleep 1000\n";
    let list = parse_ps(out, &[4242]).unwrap();
    assert_eq!(list.titles.len(), 8);
    assert_eq!(
        list.processes,
        vec![vec![
            "root",
            "4242",
            "4200",
            "0",
            "10:01",
            "?",
            "00:00:00",
            "sleep 1000"
        ]]
    );
    assert!(parse_ps("USER CMD\n", &[1]).is_err());
    assert_eq!(parent_pid("12 (a b) c) S 7 12 12"), Some(7));
}

#[test]
fn commit_config_merges_the_container_options() {
    let image: Map<String, Value> = serde_json::from_value(json!({
        "Env": ["PATH=/bin", "A=1"],
        "Cmd": ["sh"],
    }))
    .unwrap();
    let copts = ContainerOptions {
        cmd: vec!["sleep".into(), "1".into()],
        env: vec!["A=2".into(), "B=3".into()],
        workdir: Some("/w".into()),
        ..Default::default()
    };
    assert_eq!(container_cmd(&copts, &image), ["sleep", "1"]);
    let cfg = commit_config(image.clone(), &copts);
    assert_eq!(cfg["Env"], json!(["PATH=/bin", "A=2", "B=3"]));
    assert_eq!(cfg["Cmd"], json!(["sleep", "1"]));
    assert_eq!(cfg["WorkingDir"], json!("/w"));
    assert_eq!(container_cmd(&ContainerOptions::default(), &image), ["sh"]);
}

/// `security.capability` granting cap_net_raw (revision 2, effective).
const NET_RAW_CAP: [u8; 20] = [
    0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn cap_of(path: &Path) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    let n = rfs::getxattr(path, "security.capability", &mut buf[..]).ok()?;
    Some(buf[..n].to_vec())
}

#[test]
fn copies_keep_hard_links_and_file_capabilities() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("bin/a"), "shared").unwrap();
    std::fs::hard_link(root.join("bin/a"), root.join("bin/b")).unwrap();
    std::fs::write(root.join("bin/ping"), "elf").unwrap();
    // Setting file capabilities needs CAP_SETFCAP: as root only.
    let caps = rfs::setxattr(
        root.join("bin/ping"),
        "security.capability",
        &NET_RAW_CAP,
        rfs::XattrFlags::empty(),
    )
    .is_ok();
    let fd = rfs::open(&root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();

    // Out of the container.
    let out = t.path().join("out");
    let mut w = HostWriter::default();
    w.node(fd.as_fd(), b"bin", &out).unwrap();
    let (a, b) = (
        std::fs::metadata(out.join("a")).unwrap(),
        std::fs::metadata(out.join("b")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2), "b is a hard link of a");
    assert_eq!(std::fs::read_to_string(out.join("b")).unwrap(), "shared");
    if caps {
        assert_eq!(cap_of(&out.join("ping")).as_deref(), Some(&NET_RAW_CAP[..]));
    }

    // Into another container, from the host copy.
    let root2 = t.path().join("rootfs2");
    std::fs::create_dir_all(&root2).unwrap();
    let fd2 = rfs::open(&root2, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
    apply_tar(fd2.as_fd(), |b| {
        let mut acc = HostTarAcc::default();
        host_tar(b, &out, b"bin", false, None, &mut acc)?;
        Ok(acc.copied)
    })
    .unwrap();
    let (a, b) = (
        std::fs::metadata(root2.join("bin/a")).unwrap(),
        std::fs::metadata(root2.join("bin/b")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "the link survives the way in too");
    if caps {
        assert_eq!(
            cap_of(&root2.join("bin/ping")).as_deref(),
            Some(&NET_RAW_CAP[..])
        );
    }
}
