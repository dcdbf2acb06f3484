//! `export` end to end: a container's filesystem as docker exports it (layers plus the
//! container's changes, no mounts or volumes, hard links kept), stopped or running, and
//! back in through `import`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use common::{Cleanup, Kasane};
use kasane_testsupport::busybox;

/// Entry name → (type byte, link target) of a tar stream.
fn entries(tar_bytes: &[u8]) -> BTreeMap<String, (u8, String)> {
    let mut a = tar::Archive::new(tar_bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let kind = e.header().entry_type().as_byte();
            let mut content = String::new();
            if kind == b'0' {
                e.read_to_string(&mut content).unwrap_or_default();
            }
            (name, (kind, if link.is_empty() { content } else { link }))
        })
        .collect()
}

fn export(k: &Kasane, name: &str) -> Vec<u8> {
    let out = k.run(&["export", name]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    out.stdout
}

#[test]
fn export_writes_the_containers_filesystem() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["exp-stopped", "exp-running", "exp-back"]);

    k.ok(&[
        "run",
        "--name",
        "exp-stopped",
        "-v",
        "expvol:/data",
        img,
        "sh",
        "-c",
        "echo hi > /hello && ln /hello /hello2 && echo secret > /data/x && rm /bin/vi",
    ]);
    let e = entries(&export(&k, "exp-stopped"));
    assert_eq!(e["hello"], (b'0', "hi\n".to_owned()));
    assert_eq!(
        e["hello2"],
        (b'1', "hello".to_owned()),
        "a hard link stays a link"
    );
    assert_eq!(e["bin/sh"].0, b'2', "busybox applets are symlinks");
    assert!(
        e.contains_key("etc/"),
        "{:?}",
        e.keys().take(5).collect::<Vec<_>>()
    );
    assert!(!e.contains_key("bin/vi"), "deleted in the container");
    assert!(
        e.contains_key("data/"),
        "the mount point is part of the filesystem"
    );
    assert!(!e.contains_key("data/x"), "volume contents are not");
    assert!(
        e.keys()
            .all(|n| !n.starts_with('/') && !n.starts_with("./"))
    );

    // Running: the container's own files, not /proc or its other mounts.
    k.ok(&[
        "run",
        "-d",
        "--name",
        "exp-running",
        img,
        "sh",
        "-c",
        "echo up > /state && exec sleep 1000",
    ]);
    k.wait_status("exp-running", "running");
    assert!(common::poll(common::CONTAINER_TIMEOUT, || {
        entries(&export(&k, "exp-running")).contains_key("state")
    }));
    let e = entries(&export(&k, "exp-running"));
    assert_eq!(e["state"], (b'0', "up\n".to_owned()));
    assert!(
        e.keys().all(|n| !n.starts_with("proc/") || n == "proc/"),
        "no /proc contents"
    );

    // -o FILE, then import: a working image again.
    let file = k.dir.path().join("exp.tar");
    assert_eq!(
        k.ok(&["export", "-o", file.to_str().unwrap(), "exp-stopped"]),
        ""
    );
    k.ok(&["import", file.to_str().unwrap(), "exported:1"]);
    assert_eq!(
        k.ok(&[
            "run",
            "--name",
            "exp-back",
            "exported:1",
            "/bin/cat",
            "/hello2"
        ]),
        "hi\n"
    );

    let (c, err) = k.fail(&["export", "nope"]);
    assert_eq!(c, 1);
    assert_eq!(err, "Error response from daemon: No such container: nope\n");
    k.ok(&["rm", "-f", "exp-stopped"]);
    k.ok(&["volume", "rm", "expvol"]);
}

#[test]
fn cp_keeps_hard_links() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["cp-links"]);
    k.ok(&[
        "run",
        "--name",
        "cp-links",
        img,
        "sh",
        "-c",
        "mkdir /d && echo x > /d/a && ln /d/a /d/b",
    ]);
    let out = k.run(&["cp", "cp-links:/d", "-"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let e = entries(&out.stdout);
    assert_eq!(e["d/a"], (b'0', "x\n".to_owned()));
    assert_eq!(e["d/b"], (b'1', "d/a".to_owned()));
}
