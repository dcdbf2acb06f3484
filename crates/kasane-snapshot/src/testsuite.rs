//! The conformance suite every [`Snapshotter`] runs (feature `testsuite`).
//!
//! Each case gets a fresh snapshotter root and a scratch directory. Cases that mount need root
//! and report [`Outcome::Skipped`] with the reason otherwise; callers print it loudly. Use
//! [`crate::snapshotter_tests!`] to turn every case into a named `#[test]`:
//! ```ignore
//! kasane_snapshot::snapshotter_tests!(overlay, |root| kasane_snapshot::Overlay::open(root).unwrap());
//! ```
//!
//! The layer stack used by the cases (nearest layer last):
//! ```text
//! L1 base      bin/sh, etc/{passwd,motd}, lib -> usr/lib, usr/lib/libc.so, hl (hardlink to
//!              etc/passwd), usr/share/doc/{a/README,b}, dev/null (c 1,3), run/fifo
//! L2 modify    etc/motd changed, etc/.wh.passwd, bin/.wh.sh, usr/share/doc/.wh.b, opt/new
//! L3 opaque    usr/share/doc/.wh..wh..opq, usr/share/doc/c
//! ```

use std::path::{Path, PathBuf};

use crate::archive::{self, ApplyOptions, DiffMode, WhiteoutMode};
use crate::snapshotter::{SnapshotId, Snapshotter};
use crate::{SnapshotError, listing, mount_all, unmount};

/// How a case ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was checked.
    Passed,
    /// A precondition is missing (root, overlayfs); the reason says which.
    Skipped(String),
}

/// A case's result: `Err` is a failure with a readable explanation.
pub type CaseResult = Result<Outcome, String>;

/// A conformance case: `(snapshotter, its root, scratch dir)`.
pub type Case = fn(&dyn Snapshotter, &Path, &Path) -> CaseResult;

/// Every case, by name.
pub fn cases() -> Vec<(&'static str, Case)> {
    vec![
        ("layer_stack_merges", layer_stack_merges as Case),
        ("active_snapshot_is_writable", active_snapshot_is_writable),
        ("prepare_twice_fails", prepare_twice_fails),
        ("missing_snapshots", missing_snapshots),
        ("remove_leaves_nothing", remove_leaves_nothing),
        ("usage_counts_the_layer", usage_counts_the_layer),
        ("deep_stacks_mount", deep_stacks_mount),
        (
            "volatile_snapshot_mounts_again",
            volatile_snapshot_mounts_again,
        ),
    ]
}

/// Runs one case with a fresh root and scratch directory below `tmp`, panicking on failure and
/// printing the reason of a skip.
pub fn run_case(case: Case, make: &dyn Fn(&Path) -> Box<dyn Snapshotter>, tmp: &Path, name: &str) {
    let root = tmp.join("snapshots");
    let scratch = tmp.join("scratch");
    std::fs::create_dir_all(&scratch)
        .unwrap_or_else(|e| panic!("creating {}: {e}", scratch.display()));
    let sn = make(&root);
    match case(sn.as_ref(), &root, &scratch) {
        Ok(Outcome::Passed) => {}
        Ok(Outcome::Skipped(why)) => eprintln!("SKIPPED {name}: {why}"),
        Err(e) => panic!("{name} failed: {e}"),
    }
}

/// Generates one `#[test]` per conformance case in a module `$name`, for the snapshotter built
/// by `$make: Fn(&Path) -> impl Snapshotter`. The calling crate needs `tempfile` as a
/// dev-dependency.
#[macro_export]
macro_rules! snapshotter_tests {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn make(root: &::std::path::Path) -> ::std::boxed::Box<dyn $crate::Snapshotter> {
                let f = $make;
                ::std::boxed::Box::new(f(root))
            }
            $crate::snapshotter_tests!(@case layer_stack_merges);
            $crate::snapshotter_tests!(@case active_snapshot_is_writable);
            $crate::snapshotter_tests!(@case prepare_twice_fails);
            $crate::snapshotter_tests!(@case missing_snapshots);
            $crate::snapshotter_tests!(@case remove_leaves_nothing);
            $crate::snapshotter_tests!(@case usage_counts_the_layer);
            $crate::snapshotter_tests!(@case deep_stacks_mount);
            $crate::snapshotter_tests!(@case volatile_snapshot_mounts_again);
        }
    };
    (@case $case:ident) => {
        #[test]
        fn $case() {
            let tmp = ::tempfile::tempdir().expect("tempdir");
            $crate::testsuite::run_case(
                $crate::testsuite::$case,
                &make,
                tmp.path(),
                concat!(module_path!(), "::", stringify!($case)),
            );
        }
    };
}

fn e<E: std::fmt::Display>(ctx: &str) -> impl Fn(E) -> String + '_ {
    move |err| format!("{ctx}: {err}")
}

fn id(s: &str) -> SnapshotId {
    match s.parse() {
        Ok(id) => id,
        Err(err) => unreachable!("test ids are valid: {err}"),
    }
}

/// Why this snapshotter's mounts cannot be tested here, if they cannot.
fn cannot_mount(sn: &dyn Snapshotter, scratch: &Path) -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("mounting needs root".into());
    }
    if sn.whiteout_mode() == WhiteoutMode::Overlay
        && !crate::overlay_supported(&scratch.join("probe"))
    {
        return Some("overlayfs cannot be mounted here".into());
    }
    None
}

/// A tar entry of the test layers.
enum T<'a> {
    Dir(&'a str),
    File(&'a str, &'a str, u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Fifo(&'a str),
}

const MTIME: u64 = 1_600_000_000;

fn tar(entries: &[T<'_>]) -> Vec<u8> {
    use tar::{EntryType, Header};
    let mut b = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut h = Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(0);
        let r = match entry {
            T::Dir(p) => {
                h.set_entry_type(EntryType::Directory);
                h.set_mode(0o755);
                b.append_data(&mut h, p, std::io::empty())
            }
            T::File(p, data, mode) => {
                h.set_entry_type(EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, data.as_bytes())
            }
            T::Symlink(p, target) => {
                h.set_entry_type(EntryType::Symlink);
                h.set_mode(0o777);
                b.append_link(&mut h, p, target)
            }
            T::Hardlink(p, target) => {
                h.set_entry_type(EntryType::Link);
                h.set_mode(0o644);
                b.append_link(&mut h, p, target)
            }
            T::Char(p, major, minor) => {
                h.set_entry_type(EntryType::Char);
                h.set_mode(0o666);
                let _ = h.set_device_major(*major);
                let _ = h.set_device_minor(*minor);
                b.append_data(&mut h, p, std::io::empty())
            }
            T::Fifo(p) => {
                h.set_entry_type(EntryType::Fifo);
                h.set_mode(0o644);
                b.append_data(&mut h, p, std::io::empty())
            }
        };
        if let Err(err) = r {
            unreachable!("building a test tar: {err}");
        }
    }
    match b.into_inner() {
        Ok(v) => v,
        Err(err) => unreachable!("finishing a test tar: {err}"),
    }
}

fn layer1() -> Vec<u8> {
    tar(&[
        T::Dir("bin/"),
        T::File("bin/sh", "#!sh", 0o755),
        T::Dir("dev/"),
        T::Char("dev/null", 1, 3),
        T::Dir("etc/"),
        T::File("etc/motd", "hello", 0o644),
        T::File("etc/passwd", "root:x:0:0", 0o644),
        T::Hardlink("hl", "etc/passwd"),
        T::Symlink("lib", "usr/lib"),
        T::Dir("run/"),
        T::Fifo("run/fifo"),
        T::Dir("usr/"),
        T::Dir("usr/lib/"),
        T::File("usr/lib/libc.so", "libc", 0o755),
        T::Dir("usr/share/"),
        T::Dir("usr/share/doc/"),
        T::Dir("usr/share/doc/a/"),
        T::File("usr/share/doc/a/README", "a", 0o644),
        T::File("usr/share/doc/b", "b", 0o4755),
    ])
}

fn layer2() -> Vec<u8> {
    tar(&[
        T::Dir("bin/"),
        T::File("bin/.wh.sh", "", 0o644),
        T::Dir("etc/"),
        T::File("etc/.wh.passwd", "", 0o644),
        T::File("etc/motd", "bye", 0o600),
        T::Dir("opt/"),
        T::File("opt/new", "new", 0o644),
        T::Dir("usr/"),
        T::Dir("usr/share/"),
        T::Dir("usr/share/doc/"),
        T::File("usr/share/doc/.wh.b", "", 0o644),
    ])
}

fn layer3() -> Vec<u8> {
    tar(&[
        T::Dir("usr/"),
        T::Dir("usr/share/"),
        T::Dir("usr/share/doc/"),
        T::File("usr/share/doc/.wh..wh..opq", "", 0o644),
        T::File("usr/share/doc/c", "c", 0o644),
    ])
}

/// The merged tree of L1..L3, as one layer.
fn merged() -> Vec<u8> {
    tar(&[
        T::Dir("bin/"),
        T::Dir("dev/"),
        T::Char("dev/null", 1, 3),
        T::Dir("etc/"),
        T::File("etc/motd", "bye", 0o600),
        T::File("hl", "root:x:0:0", 0o644),
        T::Symlink("lib", "usr/lib"),
        T::Dir("opt/"),
        T::File("opt/new", "new", 0o644),
        T::Dir("run/"),
        T::Fifo("run/fifo"),
        T::Dir("usr/"),
        T::Dir("usr/lib/"),
        T::File("usr/lib/libc.so", "libc", 0o755),
        T::Dir("usr/share/"),
        T::Dir("usr/share/doc/"),
        T::File("usr/share/doc/c", "c", 0o644),
    ])
}

/// Applies and commits `layers` as snapshots `names`; returns their IDs nearest-first.
fn stack(
    sn: &dyn Snapshotter,
    names: &[&str],
    layers: &[Vec<u8>],
) -> Result<Vec<SnapshotId>, String> {
    let mut parents: Vec<SnapshotId> = Vec::new();
    for (name, layer) in names.iter().zip(layers) {
        let sid = id(name);
        let dir = sn
            .prepare_layer(&sid, &parents)
            .map_err(e(&format!("prepare_layer {name}")))?;
        let opts = ApplyOptions {
            whiteouts: sn.whiteout_mode(),
            ..Default::default()
        };
        archive::apply(&dir, layer.as_slice(), &opts).map_err(e(&format!("apply {name}")))?;
        sn.commit(&sid).map_err(e(&format!("commit {name}")))?;
        parents.insert(0, sid);
    }
    Ok(parents)
}

/// The listing lines of a tree, without the root (whose metadata is the mount's).
fn lines(dir: &Path) -> Result<Vec<String>, String> {
    let l = listing(dir).map_err(e(&format!("listing {}", dir.display())))?;
    Ok(l.iter().skip(1).map(ToString::to_string).collect())
}

fn compare(what: &str, got: &[String], want: &[String]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    Err(format!(
        "{what} differs\n--- want\n{}\n--- got\n{}",
        want.join("\n"),
        got.join("\n")
    ))
}

/// Mounts `mounts` at `scratch/<name>`, runs `f` on it, unmounts (also when `f` fails).
fn mounted<T>(
    mounts: &[crate::Mount],
    scratch: &Path,
    name: &str,
    f: impl FnOnce(&Path) -> Result<T, String>,
) -> Result<T, String> {
    let mnt: PathBuf = scratch.join(name);
    std::fs::create_dir_all(&mnt).map_err(e("creating mount point"))?;
    mount_all(mounts, &mnt).map_err(|err| {
        format!(
            "mounting {mounts:?}: {err} ({:?})",
            std::error::Error::source(&err).map(ToString::to_string)
        )
    })?;
    let r = f(&mnt);
    let u = unmount(&mnt).map_err(e("unmounting"));
    let v = r?;
    u?;
    Ok(v)
}

/// Three layers (base, modify + whiteouts, opaque directory) stacked and mounted read-only
/// give exactly the merged tree.
pub fn layer_stack_merges(sn: &dyn Snapshotter, _root: &Path, scratch: &Path) -> CaseResult {
    let parents = stack(sn, &["l1", "l2", "l3"], &[layer1(), layer2(), layer3()])?;
    let want_dir = scratch.join("want");
    std::fs::create_dir_all(&want_dir).map_err(e("creating dir"))?;
    archive::apply(&want_dir, merged().as_slice(), &ApplyOptions::default())
        .map_err(e("apply merged"))?;
    let want = lines(&want_dir)?;
    if let Some(why) = cannot_mount(sn, scratch) {
        return Ok(Outcome::Skipped(why));
    }
    let mounts = sn.view(&parents[0], &parents[1..]).map_err(e("view"))?;
    let got = mounted(&mounts, scratch, "view", lines)?;
    compare("merged view", &got, &want)?;
    // The view is read-only.
    let ro = mounted(&mounts, scratch, "view", |m| {
        Ok(std::fs::write(m.join("x"), "x").is_err())
    })?;
    if !ro {
        return Err("the view is writable".into());
    }
    Ok(Outcome::Passed)
}

/// A container's snapshot takes writes and deletions without changing the layers below, keeps
/// them across mounts, and (overlay) its upper dir diffs into exactly those changes.
pub fn active_snapshot_is_writable(
    sn: &dyn Snapshotter,
    _root: &Path,
    scratch: &Path,
) -> CaseResult {
    let parents = stack(sn, &["l1", "l2"], &[layer1(), layer2()])?;
    let before: Vec<_> = parents
        .iter()
        .map(|p| crate::fingerprint(&sn.fs_dir(p)).map_err(e("fingerprint")))
        .collect::<Result<_, _>>()?;
    if let Some(why) = cannot_mount(sn, scratch) {
        return Ok(Outcome::Skipped(why));
    }
    let c = id("c1");
    let mounts = sn
        .prepare_active(&c, &parents)
        .map_err(e("prepare_active"))?;
    mounted(&mounts, scratch, "rootfs", |m| {
        std::fs::write(m.join("etc/hostname"), "box").map_err(e("writing"))?;
        std::fs::remove_file(m.join("etc/motd")).map_err(e("removing"))?;
        Ok(())
    })?;
    let again = sn.mounts(&c, &parents).map_err(e("mounts"))?;
    if again != mounts {
        return Err(format!(
            "mounts() {again:?} differ from prepare_active() {mounts:?}"
        ));
    }
    mounted(&again, scratch, "rootfs", |m| {
        let host = std::fs::read_to_string(m.join("etc/hostname")).map_err(e("reading"))?;
        if host != "box" || m.join("etc/motd").exists() {
            return Err("changes did not persist".into());
        }
        Ok(())
    })?;
    let after: Vec<_> = parents
        .iter()
        .map(|p| crate::fingerprint(&sn.fs_dir(p)).map_err(e("fingerprint")))
        .collect::<Result<_, _>>()?;
    if before != after {
        return Err("a committed layer changed under an active snapshot".into());
    }
    if sn.whiteout_mode() == WhiteoutMode::Overlay {
        let mut out = Vec::new();
        archive::diff(&sn.fs_dir(&c), DiffMode::OverlayUpper, &mut out).map_err(e("diff"))?;
        let mut names = Vec::new();
        let mut a = tar::Archive::new(out.as_slice());
        for entry in a.entries().map_err(e("reading diff"))? {
            let entry = entry.map_err(e("reading diff"))?;
            names.push(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        }
        // Siblings in order of their names on disk, whiteouts where the deleted name sorts
        // (as docker's overlay2 diff does).
        let want = ["etc/", "etc/hostname", "etc/.wh.motd"];
        if names != want {
            return Err(format!(
                "diff of the upper dir: want {want:?}, got {names:?}"
            ));
        }
    }
    // A snapshot that was mounted (overlay leaves a mode-000 `work/work`) is removed entirely.
    sn.remove(&c).map_err(e("remove"))?;
    if sn.fs_dir(&c).parent().is_some_and(Path::exists) {
        return Err("remove left the active snapshot's directory".into());
    }
    Ok(Outcome::Passed)
}

/// A container's snapshot mounted volatile (as for `run --rm`) keeps its writes and mounts
/// volatile again although the kernel marked its work dir.
pub fn volatile_snapshot_mounts_again(
    sn: &dyn Snapshotter,
    _root: &Path,
    scratch: &Path,
) -> CaseResult {
    let parents = stack(sn, &["l1"], &[layer1()])?;
    if let Some(why) = cannot_mount(sn, scratch) {
        return Ok(Outcome::Skipped(why));
    }
    let c = id("c1");
    let mut mounts = sn
        .prepare_active(&c, &parents)
        .map_err(e("prepare_active"))?;
    mounts.iter_mut().for_each(crate::Mount::make_volatile);
    if sn.whiteout_mode() == WhiteoutMode::Overlay
        && !mounts
            .iter()
            .any(|m| m.options.iter().any(|o| o == "volatile"))
    {
        return Err(format!("no volatile option in {mounts:?}"));
    }
    mounted(&mounts, scratch, "rootfs", |m| {
        std::fs::write(m.join("etc/hostname"), "box").map_err(e("writing"))
    })?;
    mounted(
        &mounts,
        scratch,
        "rootfs",
        |m| match std::fs::read_to_string(m.join("etc/hostname")) {
            Ok(host) if host == "box" => Ok(()),
            other => Err(format!("the write did not persist: {other:?}")),
        },
    )?;
    sn.remove(&c).map_err(e("remove"))?;
    Ok(Outcome::Passed)
}

/// Preparing an existing ID fails, whatever kind of snapshot it is.
pub fn prepare_twice_fails(sn: &dyn Snapshotter, _root: &Path, _scratch: &Path) -> CaseResult {
    let a = id("a");
    sn.prepare_layer(&a, &[]).map_err(e("prepare_layer"))?;
    for r in [
        sn.prepare_layer(&a, &[]).map(|_| ()),
        sn.prepare_active(&a, &[]).map(|_| ()),
    ] {
        match r {
            Err(SnapshotError::AlreadyExists { .. }) => {}
            other => return Err(format!("second prepare of the same id: {other:?}")),
        }
    }
    Ok(Outcome::Passed)
}

/// Operations on a missing ID report NotFound; removing it succeeds.
pub fn missing_snapshots(sn: &dyn Snapshotter, _root: &Path, _scratch: &Path) -> CaseResult {
    let x = id("missing");
    let checks: Vec<(&str, Result<(), SnapshotError>)> = vec![
        ("commit", sn.commit(&x)),
        ("usage", sn.usage(&x).map(|_| ())),
        ("mounts", sn.mounts(&x, &[]).map(|_| ())),
        ("view", sn.view(&x, &[]).map(|_| ())),
    ];
    for (what, r) in checks {
        match r {
            Err(err) if err.kind() == crate::ErrorKind::NotFound => {}
            other => return Err(format!("{what} of a missing snapshot: {other:?}")),
        }
    }
    sn.remove(&x).map_err(e("remove of a missing snapshot"))?;
    Ok(Outcome::Passed)
}

/// `list` shows what exists; removing everything leaves an empty root.
pub fn remove_leaves_nothing(sn: &dyn Snapshotter, root: &Path, _scratch: &Path) -> CaseResult {
    let parents = stack(sn, &["l1", "l2"], &[layer1(), layer2()])?;
    let c = id("c1");
    sn.prepare_active(&c, &parents)
        .map_err(e("prepare_active"))?;
    let mut listed = sn.list().map_err(e("list"))?;
    listed.sort();
    let mut want = vec![c.clone(), parents[0].clone(), parents[1].clone()];
    want.sort();
    if listed != want {
        return Err(format!("list: want {want:?}, got {listed:?}"));
    }
    for s in &want {
        sn.remove(s).map_err(e("remove"))?;
    }
    let left: Vec<_> = std::fs::read_dir(root)
        .map_err(e("reading root"))?
        .map(|d| d.map(|d| d.file_name()))
        .collect::<Result<_, _>>()
        .map_err(e("reading root"))?;
    if !left.is_empty() {
        return Err(format!("left behind: {left:?}"));
    }
    Ok(Outcome::Passed)
}

/// Usage sees the layer's files.
pub fn usage_counts_the_layer(sn: &dyn Snapshotter, _root: &Path, _scratch: &Path) -> CaseResult {
    let parents = stack(sn, &["l1"], &[layer1()])?;
    let u = sn.usage(&parents[0]).map_err(e("usage"))?;
    // 19 entries in L1 plus the root.
    if u.inodes < 19 || u.size == 0 {
        return Err(format!("usage of the base layer: {u:?}"));
    }
    Ok(Outcome::Passed)
}

/// A stack deeper than one page of `lowerdir=` options (130 layers) still mounts, read-only
/// and with a writable layer on top.
pub fn deep_stacks_mount(sn: &dyn Snapshotter, _root: &Path, scratch: &Path) -> CaseResult {
    const N: usize = 130;
    let names: Vec<String> = (0..N)
        .map(|i| format!("layer-with-a-long-name-{i:03}"))
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let layers: Vec<Vec<u8>> = (0..N)
        .map(|i| tar(&[T::File(&format!("f{i:03}"), "x", 0o644)]))
        .collect();
    let parents = stack(sn, &name_refs, &layers)?;
    if let Some(why) = cannot_mount(sn, scratch) {
        return Ok(Outcome::Skipped(why));
    }
    let count = |m: &Path| -> Result<usize, String> {
        Ok(std::fs::read_dir(m).map_err(e("reading mount"))?.count())
    };
    let view = sn.view(&parents[0], &parents[1..]).map_err(e("view"))?;
    let seen = mounted(&view, scratch, "view", count)?;
    if seen != N {
        return Err(format!("view of {N} layers shows {seen} files"));
    }
    let c = id("c-deep");
    let mounts = sn
        .prepare_active(&c, &parents)
        .map_err(e("prepare_active"))?;
    let seen = mounted(&mounts, scratch, "rootfs", |m| {
        std::fs::write(m.join("new"), "x").map_err(e("writing"))?;
        count(m)
    })?;
    if seen != N + 1 {
        return Err(format!("active snapshot on {N} layers shows {seen} files"));
    }
    Ok(Outcome::Passed)
}
