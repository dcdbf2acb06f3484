//! `stats` end to end: docker's table and fields from the containers' cgroups.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cleanup, Kasane};
use kasane_testsupport::busybox;

fn percent(s: &str) -> f64 {
    s.trim_end_matches('%').parse().unwrap()
}

#[test]
fn stats_reads_the_containers_cgroups() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["st-busy", "st-idle", "st-new"]);
    k.ok(&[
        "run",
        "-d",
        "--name",
        "st-busy",
        "--memory",
        "64m",
        img,
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    k.ok(&[
        "run",
        "-d",
        "--name",
        "st-idle",
        img,
        "sh",
        "-c",
        "sleep 1000 & sleep 1000 & wait",
    ]);
    k.ok(&["create", "--name", "st-new", img]);
    k.wait_status("st-busy", "running");
    k.wait_status("st-idle", "running");

    let out = k.ok(&["stats", "--no-stream"]);
    let mut lines = out.lines();
    assert_eq!(
        lines
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS"
    );
    assert_eq!(lines.count(), 2, "running containers only:\n{out}");

    let out = k.ok(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.PIDs}}",
    ]);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    let by_name = |n: &str| {
        rows.iter()
            .find(|r| r[0] == n)
            .unwrap_or_else(|| panic!("{n}:\n{out}"))
    };
    let busy = by_name("st-busy");
    assert!(percent(busy[1]) > 5.0, "a busy loop uses CPU: {out}");
    assert!(busy[2].ends_with(" / 64MiB"), "the memory limit: {out}");
    assert!(percent(busy[3]) > 0.0 && percent(busy[3]) < 100.0, "{out}");
    assert_eq!(busy[4], "0B / 0B", "no interface but lo: {out}");
    assert_eq!(busy[5], "1");
    let idle = by_name("st-idle");
    assert!(percent(idle[1]) < 50.0, "{out}");
    assert_eq!(idle[5], "3", "sh and two sleeps: {out}");
    assert_eq!(
        &by_name("st-new")[1..],
        ["0.00%", "0B / 0B", "0.00%", "0B / 0B", "0"]
    );

    let id = k.field("st-idle", "{{.Id}}");
    assert_eq!(
        k.ok(&[
            "stats",
            "--no-stream",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Container}}",
            "st-idle"
        ]),
        format!("{id} st-idle\n")
    );
    let (c, err) = k.fail(&["stats", "--no-stream", "nope"]);
    assert_eq!(c, 1);
    assert!(err.contains("No such container: nope"), "{err}");
}
