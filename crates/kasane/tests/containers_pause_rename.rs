//! `pause`/`unpause` end to end with the embedded runtime and crun: the container's
//! processes freeze and thaw, `ps`/`inspect` show it as docker does, `exec` is refused while
//! paused, `stop` of a paused container delivers its signal, and `commit` pauses a running
//! container for the read and leaves it running. And `rename`, with docker's errors.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Cleanup, Kasane};
use kasane_testsupport::busybox;

/// Lines the container has logged so far.
fn lines(k: &Kasane, name: &str) -> usize {
    k.ok(&["logs", name]).lines().count()
}

fn pause_and_unpause(runtime: &str) {
    let k = Kasane::new();
    let img = k.load_busybox();
    let name = format!("pz-{runtime}");
    let _c = Cleanup::new(&k, &[&name]);
    // Prints a line every 50 ms; exits 3 on SIGTERM.
    k.ok(&[
        "run",
        "-d",
        "--runtime",
        runtime,
        "--name",
        &name,
        img,
        "sh",
        "-c",
        "trap 'exit 3' TERM; while :; do echo tick; sleep 0.05; done",
    ]);
    k.wait_logs(&name, "tick");
    let id = k.field(&name, "{{.Id}}");

    assert_eq!(k.ok(&["pause", &name]), format!("{name}\n"));
    assert_eq!(
        k.field(
            &name,
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"
        ),
        "paused true true"
    );
    let status = k.ok(&[
        "ps",
        "--format",
        "{{.Status}}|{{.State}}",
        "-f",
        "status=paused",
    ]);
    assert!(status.ends_with("(Paused)|paused\n"), "{status}");
    let before = lines(&k, &name);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(lines(&k, &name), before, "a paused container kept running");

    let (c, err) = k.fail(&["pause", &name]);
    assert_eq!(c, 1);
    assert_eq!(
        err,
        format!("Error response from daemon: container {id} is already paused\n")
    );
    let (c, err) = k.fail(&["exec", &name, "true"]);
    assert_eq!(c, 1);
    assert_eq!(
        err,
        format!(
            "Error response from daemon: Container {id} is paused, unpause the container before exec\n"
        )
    );

    assert_eq!(k.ok(&["unpause", &name]), format!("{name}\n"));
    assert!(
        common::poll(common::CONTAINER_TIMEOUT, || lines(&k, &name) > before),
        "the container did not run again after unpause"
    );
    assert_eq!(k.field(&name, "{{.State.Status}}"), "running");
    let (c, err) = k.fail(&["unpause", &name]);
    assert_eq!(c, 1);
    assert_eq!(
        err,
        format!("Error response from daemon: Container {id} is not paused\n")
    );

    // `commit` pauses and resumes on its own; a container paused by the user stays paused.
    k.ok(&["exec", &name, "sh", "-c", "echo committed > /state"]);
    k.ok(&["commit", &name, &format!("snap-{runtime}")]);
    assert_eq!(k.field(&name, "{{.State.Status}}"), "running");
    k.ok(&["pause", &name]);
    k.ok(&["commit", &name, &format!("snap2-{runtime}")]);
    assert_eq!(k.field(&name, "{{.State.Status}}"), "paused");
    assert_eq!(
        k.ok(&["run", "--rm", &format!("snap2-{runtime}"), "cat", "/state"]),
        "committed\n"
    );

    // `stop` of a paused container: the signal is delivered once thawed (exit 3, not the
    // SIGKILL after the timeout).
    k.ok(&["stop", "-t", "20", &name]);
    assert_eq!(
        k.field(&name, "{{.State.ExitCode}} {{.State.Paused}}"),
        "3 false"
    );
    let (c, err) = k.fail(&["pause", &name]);
    assert_eq!(c, 1);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn pause_and_unpause_embedded() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    pause_and_unpause("kasane");
}

#[test]
fn pause_and_unpause_crun() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    require!(common::have("crun"), "needs crun");
    pause_and_unpause("crun");
}

#[test]
fn rename_like_docker() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["rn-old", "rn-new", "rn-other"]);
    k.ok(&["run", "-d", "--name", "rn-old", img, "sleep", "1000"]);
    k.ok(&["create", "--name", "rn-other", img]);
    let other = k.field("rn-other", "{{.Id}}");

    let cases: [(&[&str], String); 4] = [
        (
            &["rename", "rn-old", "rn-other"],
            format!(
                "Error when allocating new name: Conflict. The container name \"/rn-other\" is \
                 already in use by container \"{other}\". You have to remove (or rename) that \
                 container to be able to reuse that name."
            ),
        ),
        (
            &["rename", "rn-old", "rn-old"],
            "Renaming a container with the same name as its current name".into(),
        ),
        (
            &["rename", "rn-old", "a b"],
            "Invalid container name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed".into(),
        ),
        (&["rename", "nope", "x1"], "No such container: nope".into()),
    ];
    for (args, msg) in cases {
        let (c, err) = k.fail(args);
        assert_eq!(c, 1, "{args:?}");
        assert_eq!(
            err,
            format!("Error response from daemon: {msg}\n"),
            "{args:?}"
        );
    }

    // A running container keeps running under its new name; the old name is free.
    assert_eq!(k.ok(&["rename", "rn-old", "rn-new"]), "");
    assert_eq!(
        k.field("rn-new", "{{.Name}} {{.State.Status}}"),
        "/rn-new running"
    );
    assert_eq!(k.ok(&["exec", "rn-new", "echo", "hi"]), "hi\n");
    k.ok(&["create", "--name", "rn-old", img]);
    let names = k.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["rn-new", "rn-old", "rn-other"]);
}
