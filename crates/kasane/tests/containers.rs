//! Container commands end to end, one docker behaviour per test: `run` (flags, exit codes,
//! mounts, limits, networking), `create`/`start`, `exec`, `logs`, `wait`, `cp`, `diff`,
//! `commit`, `stop`/`kill`/`restart`, `ps`, `inspect`, `top`, `port`, `rm`, prunes and `rmi`
//! conflicts. The expected outputs are docker's.
//!
//! Each test has its own state root, loads the busybox test images
//! (`kasane_testsupport::busybox`) and removes its containers on the way out, also when it
//! fails ([`Cleanup`]). Tests run in parallel threads: every container name is unique within
//! its state root and every published host port is unique in this file (18100–18199).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{Cleanup, Kasane, code, http_get, is_id, stderr, stdout};
use kasane_testsupport::busybox;

/// `grep Cap<kind> /proc/self/status` inside a container → the hex mask.
fn cap_line(out: &str, kind: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("Cap{kind}:")))
        .unwrap_or_else(|| panic!("no Cap{kind} in {out:?}"))
        .trim()
        .to_owned()
}

/// Interface names of a `/proc/net/dev` listing.
fn interfaces(proc_net_dev: &str) -> BTreeSet<String> {
    proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, _)| n.trim().to_owned())
        .collect()
}

/// IPv4 addresses of an `ip addr` listing.
fn inet_addrs(ip_addr: &str) -> Vec<std::net::Ipv4Addr> {
    ip_addr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("inet "))
        .filter_map(|rest| rest.split('/').next())
        .map(|a| a.parse().unwrap())
        .collect()
}

/// A host-side cgroup value of a process: v2 `<v2_file>` or v1 `<controller>/<v1_file>`.
fn cgroup_value(pid: i32, controller: &str, v1_file: &str, v2_file: &str) -> Option<String> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let unified = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    for line in cg.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if unified && ctrls.is_empty() {
            return std::fs::read_to_string(format!("/sys/fs/cgroup{path}/{v2_file}"))
                .ok()
                .map(|s| s.trim().to_owned());
        }
        if !unified && ctrls.split(',').any(|c| c == controller) {
            for dir in [controller, ctrls] {
                if let Ok(s) =
                    std::fs::read_to_string(format!("/sys/fs/cgroup/{dir}{path}/{v1_file}"))
                {
                    return Some(s.trim().to_owned());
                }
            }
        }
    }
    None
}

// ------------------------------------------------------------------------------------------
// run: output, exit codes, stdin
// ------------------------------------------------------------------------------------------

#[test]
fn foreground_run_prints_the_output_and_exits_with_the_code() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let out = k.run(&["run", "--rm", img, "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(stdout(&out), "hi\n", "stderr: {}", stderr(&out));
    assert_eq!(code(&out), 3, "stderr: {}", stderr(&out));

    let out = k.run(&["run", "--rm", img, "sh", "-c", "echo oops >&2"]);
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "oops\n");

    // The image's Cmd (`sh`) with stdin not attached reads EOF and exits 0.
    let out = k.run(&["run", "--rm", img]);
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "");

    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn stdin_is_attached_only_with_i() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let out = k
        .cmd(&["run", "--rm", "-i", img, "cat"])
        .write_stdin("piped\n")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "piped\n");

    let out = k
        .cmd(&["run", "--rm", "-i", img, "sh"])
        .write_stdin("echo $((2+3))\nexit 4\n")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "5\n", "stderr: {}", stderr(&out));
    assert_eq!(code(&out), 4);

    // Without -i the container's stdin is not the client's.
    let out = k
        .cmd(&["run", "--rm", img, "cat"])
        .write_stdin("not for the container\n")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn run_exit_codes_125_126_127() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    // 125: the error is kasane's own (docker's documented `docker run --foo busybox`).
    let (c, err) = k.fail(&["run", "--rm", "--foo", img, "true"]);
    assert_eq!(c, 125, "{err}");
    assert!(err.contains("--foo"), "{err}");
    // 125: no such image (a registry that refuses connections at once).
    let (c, err) = k.fail(&["run", "--rm", "127.0.0.1:9/no/such:image", "true"]);
    assert_eq!(c, 125, "{err}");

    // 126: the command cannot be invoked.
    let (c, err) = k.fail(&["run", "--rm", img, "/etc"]);
    assert_eq!(c, 126, "{err}");
    let (c, err) = k.fail(&["run", "--rm", img, "/etc/passwd"]);
    assert_eq!(c, 126, "{err}");

    // 127: the command cannot be found.
    let (c, err) = k.fail(&["run", "--rm", img, "nosuchcmd"]);
    assert_eq!(c, 127, "{err}");
    assert!(err.contains("nosuchcmd"), "{err}");
    assert!(err.contains("executable file not found"), "{err}");
    let (c, err) = k.fail(&["run", "--rm", img, "/no/such/binary"]);
    assert_eq!(c, 127, "{err}");

    // 125: docker's refusal of a restart policy for a container that is removed at exit.
    let (c, err) = k.fail(&["run", "--rm", "--restart", "always", img, "true"]);
    assert_eq!(c, 125, "{err}");
    assert!(
        err.contains("cannot specify both --restart and --rm"),
        "{err}"
    );
    assert_eq!(
        k.ok(&["run", "--rm", "--restart", "no", img, "echo", "ok"]),
        "ok\n"
    );

    // --rm removed even the containers that never started.
    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
}

// ------------------------------------------------------------------------------------------
// run: process environment
// ------------------------------------------------------------------------------------------

#[test]
fn env_flags_and_env_file() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let out = k.ok(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-e",
        "EMPTY=",
        "-e",
        "SPACED=a b",
        img,
        "sh",
        "-c",
        "echo \"$FOO|$EMPTY|$SPACED\"; env",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("bar||a b"));
    let env: Vec<&str> = lines.collect();
    assert!(env.contains(&busybox::PATH_ENV), "{env:?}");
    assert!(env.contains(&"HOME=/root"), "{env:?}");
    assert!(env.contains(&"FOO=bar"), "{env:?}");
    assert!(env.iter().any(|l| l.starts_with("HOSTNAME=")), "{env:?}");

    // -e overrides the image's Env by key.
    let out = k.ok(&[
        "run",
        "--rm",
        "-e",
        "PATH=/bin",
        img,
        "sh",
        "-c",
        "echo $PATH",
    ]);
    assert_eq!(out, "/bin\n");

    // --env-file: comments and blank lines skipped, no quote processing, a bare name takes
    // the client's value.
    let file = k.path("app.env");
    std::fs::write(
        &file,
        "# a comment\nA=1\n\nB=two words\nC=\"quoted\"\nPASSTHRU\n",
    )
    .unwrap();
    let out = k
        .cmd(&[
            "run",
            "--rm",
            "--env-file",
            file.to_str().unwrap(),
            img,
            "sh",
            "-c",
            "echo \"$A|$B|$C|$PASSTHRU\"",
        ])
        .env("PASSTHRU", "from-client")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "1|two words|\"quoted\"|from-client\n");
}

#[test]
fn workdir_flag() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    assert_eq!(k.ok(&["run", "--rm", "-w", "/tmp", img, "pwd"]), "/tmp\n");
    // A missing working directory is created.
    assert_eq!(
        k.ok(&["run", "--rm", "-w", "/made/by/run", img, "pwd"]),
        "/made/by/run\n"
    );
    // Default: /
    assert_eq!(k.ok(&["run", "--rm", img, "pwd"]), "/\n");
}

#[test]
fn user_flag() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let script = "id -u; id -g; echo $HOME";
    assert_eq!(
        k.ok(&["run", "--rm", "-u", "nobody", img, "sh", "-c", script]),
        "65534\n65534\n/nonexistent\n"
    );
    assert_eq!(
        k.ok(&[
            "run",
            "--rm",
            "-u",
            "1000:1000",
            img,
            "sh",
            "-c",
            "id -u; id -g"
        ]),
        "1000\n1000\n"
    );
    assert_eq!(
        k.ok(&["run", "--rm", "-u", "www-data", img, "sh", "-c", script]),
        "33\n33\n/var/www\n"
    );
    assert_eq!(
        k.ok(&["run", "--rm", "-u", "33", img, "id", "-un"]),
        "www-data\n"
    );
    assert_eq!(k.ok(&["run", "--rm", img, "id", "-u"]), "0\n");
    // A name the image's passwd does not know.
    let (c, err) = k.fail(&["run", "--rm", "-u", "nosuchuser", img, "true"]);
    assert_eq!(c, 125, "{err}");
    assert!(err.contains("unable to find user nosuchuser"), "{err}");
}

#[test]
fn entrypoint_flag() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let nginx = k.load_nginx();
    let _c = Cleanup::new(&k, &[]);

    assert_eq!(
        k.ok(&["run", "--rm", "--entrypoint", "echo", img, "hello", "world"]),
        "hello world\n"
    );
    assert_eq!(
        k.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            img,
            "-c",
            "echo via-sh"
        ]),
        "via-sh\n"
    );
    // --entrypoint drops the image's Cmd.
    assert_eq!(k.ok(&["run", "--rm", "--entrypoint", "echo", nginx]), "\n");
    assert_eq!(
        k.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "cat",
            nginx,
            "/usr/share/nginx/html/index.html"
        ]),
        busybox::WELCOME_HTML
    );
}

// ------------------------------------------------------------------------------------------
// run: storage
// ------------------------------------------------------------------------------------------

#[test]
fn bind_mounts_rw_ro_and_mount_flag() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let vol = k.path("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(vol.join("hostfile"), "from-host\n").unwrap();
    let vol_s = vol.to_str().unwrap();

    let rw = format!("{vol_s}:/data");
    let out = k.ok(&[
        "run",
        "--rm",
        "-v",
        &rw,
        img,
        "sh",
        "-c",
        "cat /data/hostfile; echo from-ctr > /data/ctrfile",
    ]);
    assert_eq!(out, "from-host\n");
    assert_eq!(
        std::fs::read_to_string(vol.join("ctrfile")).unwrap(),
        "from-ctr\n"
    );

    let ro = format!("{vol_s}:/data:ro");
    let out = k.run(&[
        "run",
        "--rm",
        "-v",
        &ro,
        img,
        "sh",
        "-c",
        "cat /data/hostfile; touch /data/x",
    ]);
    assert_eq!(stdout(&out), "from-host\n");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!vol.join("x").exists());

    let mount = format!("type=bind,src={vol_s},dst=/m");
    assert_eq!(
        k.ok(&["run", "--rm", "--mount", &mount, img, "cat", "/m/hostfile"]),
        "from-host\n"
    );
    let mount_ro = format!("type=bind,src={vol_s},dst=/m,readonly");
    let out = k.run(&["run", "--rm", "--mount", &mount_ro, img, "touch", "/m/y"]);
    assert_ne!(code(&out), 0);
    assert!(!vol.join("y").exists());

    // A single file.
    let file = format!("{}:/etc/motd:ro", vol.join("hostfile").display());
    assert_eq!(
        k.ok(&["run", "--rm", "-v", &file, img, "cat", "/etc/motd"]),
        "from-host\n"
    );
    // The host side is unchanged by all of this.
    assert_eq!(
        std::fs::read_to_string(vol.join("hostfile")).unwrap(),
        "from-host\n"
    );
}

#[test]
fn named_volume_persists_across_containers() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    k.ok(&[
        "run",
        "--rm",
        "-v",
        "kvol:/v",
        img,
        "sh",
        "-c",
        "echo persist > /v/f",
    ]);
    assert_eq!(
        k.ok(&["run", "--rm", "-v", "kvol:/v", img, "cat", "/v/f"]),
        "persist\n"
    );
    // Another volume is another directory.
    assert_eq!(
        k.ok(&["run", "--rm", "-v", "other:/v", img, "ls", "-A", "/v"]),
        ""
    );
    // A new volume mounted over image content starts as a copy of it.
    assert_eq!(
        k.ok(&[
            "run",
            "--rm",
            "-v",
            "etcvol:/etc",
            img,
            "cat",
            "/etc/passwd"
        ]),
        busybox::PASSWD
    );
}

#[test]
fn read_only_rootfs_and_tmpfs() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let out = k.run(&["run", "--rm", "--read-only", img, "touch", "/x"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );

    assert_eq!(
        k.ok(&[
            "run",
            "--rm",
            "--read-only",
            "--tmpfs",
            "/tmp",
            img,
            "sh",
            "-c",
            "touch /tmp/x && echo ok"
        ]),
        "ok\n"
    );

    let out = k.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/scratch",
        img,
        "grep",
        " /scratch ",
        "/proc/mounts",
    ]);
    assert!(out.starts_with("tmpfs /scratch tmpfs "), "{out}");
}

// ------------------------------------------------------------------------------------------
// run: limits and privileges
// ------------------------------------------------------------------------------------------

#[test]
fn memory_limit_kills_with_137() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["oom"]);

    // busybox `tail` keeps everything after the last 10 newlines: 200 MB of zeros in a
    // pipe make it grow far past 16 MB (plus docker's equal swap allowance). Bounded by
    // `head`, so a missing limit ends the test instead of the host.
    let out = k.run(&[
        "run",
        "--name",
        "oom",
        "--memory",
        "16m",
        img,
        "sh",
        "-c",
        "head -c 200000000 /dev/zero | tail > /dev/null",
    ]);
    assert_eq!(code(&out), 137, "stderr: {}", stderr(&out));
    assert_eq!(k.field("oom", "{{.State.ExitCode}}"), "137");
    assert_eq!(k.field("oom", "{{.HostConfig.Memory}}"), "16777216");
    let oom = k.field("oom", "{{.State.OOMKilled}}");
    if oom != "true" {
        // The memory cgroup's oom_kill event is not visible everywhere (cgroup v1 nested
        // hierarchies); the exit code is the contract.
        eprintln!("note: .State.OOMKilled is {oom:?}, not true");
    }
}

#[test]
fn resource_limits_reach_the_cgroup() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["lim"]);

    let id = k.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--memory",
        "32m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        img,
        "sleep",
        "1000",
    ]);
    assert!(is_id(id.trim()), "{id}");
    let hc = &k.inspect_json("lim")["HostConfig"];
    assert_eq!(hc["Memory"], 33554432);
    assert_eq!(hc["NanoCpus"], 500000000);
    assert_eq!(hc["PidsLimit"], 50);

    let pid = k.pid("lim");
    let checks = [
        (
            "memory",
            "memory.limit_in_bytes",
            "memory.max",
            "33554432",
            "33554432",
        ),
        ("pids", "pids.max", "pids.max", "50", "50"),
        (
            "cpu",
            "cpu.cfs_quota_us",
            "cpu.max",
            "50000",
            "50000 100000",
        ),
    ];
    let unified = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    for (ctrl, v1, v2, want_v1, want_v2) in checks {
        match cgroup_value(pid, ctrl, v1, v2) {
            Some(v) => assert_eq!(v, if unified { want_v2 } else { want_v1 }, "{ctrl}"),
            None => eprintln!("note: no {ctrl} cgroup file found for pid {pid}"),
        }
    }
}

#[test]
fn capabilities_default_drop_add_privileged() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);
    let caps = |extra: &[&str]| -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[img, "cat", "/proc/self/status"]);
        cap_line(&k.ok(&args), "Eff")
    };
    // docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
    // NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
    assert_eq!(caps(&[]), "00000000a80425fb");
    assert_eq!(caps(&["--cap-drop", "ALL"]), "0000000000000000");
    assert_eq!(caps(&["--cap-add", "NET_ADMIN"]), "00000000a80435fb");
    assert_eq!(caps(&["--cap-drop", "CHOWN"]), "00000000a80425fa");
    assert_eq!(caps(&["--cap-drop", "cap_chown"]), "00000000a80425fa");
    assert_eq!(caps(&["-u", "nobody"]), "0000000000000000");
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(caps(&["--privileged"]), cap_line(&host, "Bnd"));
}

#[test]
fn init_flag_runs_an_init_as_pid_1() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    assert_eq!(k.ok(&["run", "--rm", img, "cat", "/proc/1/comm"]), "cat\n");
    let out = k.ok(&["run", "--rm", "--init", img, "cat", "/proc/1/comm"]);
    assert_ne!(out, "cat\n");
    let out = k.run(&["run", "--rm", "--init", img, "sh", "-c", "echo $$; exit 6"]);
    assert_eq!(
        stdout(&out).trim().parse::<u32>().map(|p| p > 1),
        Ok(true),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&out), 6, "{}", stderr(&out));
}

// ------------------------------------------------------------------------------------------
// container lifecycle
// ------------------------------------------------------------------------------------------

#[test]
fn rm_flag_leaves_nothing() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["gone", "gone-d"]);

    assert_eq!(
        k.ok(&["run", "--rm", "--name", "gone", img, "echo", "x"]),
        "x\n"
    );
    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
    let (_, err) = k.fail(&["inspect", "gone"]);
    assert!(err.contains("No such object: gone"), "{err}");

    // Its layer goes with it, so its overlay skips syncing the upper dir; a kept one syncs.
    let root_mount = "grep ' / overlay ' /proc/mounts";
    let throwaway = k.ok(&["run", "--rm", img, "sh", "-c", root_mount]);
    assert!(throwaway.contains("volatile"), "{throwaway}");
    let kept = k.ok(&["run", "--name", "gone", img, "sh", "-c", root_mount]);
    assert!(
        kept.contains(" / overlay ") && !kept.contains("volatile"),
        "{kept}"
    );
    k.ok(&["rm", "gone"]);

    // -d --rm: removed when it exits by itself.
    let id = k.ok(&["run", "-d", "--rm", "--name", "gone-d", img, "sleep", "0.3"]);
    assert!(is_id(id.trim()), "{id}");
    assert!(
        common::poll(common::CONTAINER_TIMEOUT, || k
            .ok(&["ps", "-a", "-q"])
            .is_empty()),
        "run -d --rm left {}",
        k.ok(&["ps", "-a"])
    );
    let dir = k.root.join("containers");
    if dir.exists() {
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn create_then_start() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["cs"]);

    let id = k.ok(&[
        "create",
        "--name",
        "cs",
        img,
        "echo",
        "created-then-started",
    ]);
    assert!(is_id(id.trim()), "{id}");
    assert_eq!(common::ps_status(&k, "cs").as_deref(), Some("Created"));
    assert_eq!(k.field("cs", "{{.State.Status}}"), "created");
    assert_eq!(k.ok(&["ps", "-q"]), "");

    assert_eq!(k.ok(&["start", "-a", "cs"]), "created-then-started\n");
    assert_eq!(k.field("cs", "{{.State.Status}}"), "exited");
    assert_eq!(k.field("cs", "{{.State.ExitCode}}"), "0");

    // Without -a, start prints the name as given.
    assert_eq!(k.ok(&["start", "cs"]), "cs\n");
    assert_eq!(k.ok(&["wait", "cs"]), "0\n");
    assert_eq!(
        k.ok(&["logs", "cs"]),
        "created-then-started\ncreated-then-started\n"
    );
    // By id prefix too.
    assert_eq!(
        k.ok(&["start", &id.trim()[..12]]),
        format!("{}\n", &id.trim()[..12])
    );
    assert_eq!(k.ok(&["wait", "cs"]), "0\n");
}

#[test]
fn exec_runs_in_the_container() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["ex"]);

    k.ok(&["run", "-d", "--name", "ex", img, "sleep", "1000"]);
    k.wait_status("ex", "running");

    let out = k.run(&["exec", "ex", "sh", "-c", "echo out; exit 4"]);
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(
        k.ok(&["exec", "-e", "FOO=bar", "ex", "sh", "-c", "echo $FOO"]),
        "bar\n"
    );
    assert_eq!(k.ok(&["exec", "-w", "/tmp", "ex", "pwd"]), "/tmp\n");
    assert_eq!(k.ok(&["exec", "-u", "nobody", "ex", "id", "-u"]), "65534\n");
    assert_eq!(k.ok(&["exec", "ex", "id", "-u"]), "0\n");
    // The container's environment.
    let env = k.ok(&["exec", "ex", "env"]);
    assert!(env.lines().any(|l| l == busybox::PATH_ENV), "{env}");
    // Same PID namespace as the container's main process.
    assert_eq!(k.ok(&["exec", "ex", "cat", "/proc/1/comm"]), "sleep\n");

    let out = k
        .cmd(&["exec", "-i", "ex", "cat"])
        .write_stdin("through exec\n")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "through exec\n", "{}", stderr(&out));

    // -d: detached; its effect shows up.
    k.ok(&["exec", "-d", "ex", "sh", "-c", "echo bg > /tmp/bg"]);
    assert!(common::poll(common::CONTAINER_TIMEOUT, || {
        k.run(&["exec", "ex", "cat", "/tmp/bg"]).stdout == b"bg\n"
    }));

    let (_, err) = k.fail(&["exec", "ex", "nosuchcmd"]);
    assert!(err.contains("nosuchcmd"), "{err}");

    k.ok(&["kill", "ex"]);
    k.wait_status("ex", "exited");
    let (_, err) = k.fail(&["exec", "ex", "true"]);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn logs_stdout_stderr_tail_timestamps_since() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["lg"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "lg",
        img,
        "sh",
        "-c",
        "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2",
    ]);
    assert_eq!(k.ok(&["wait", "lg"]), "0\n");

    let out = k.run(&["logs", "lg"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), "out1\nout2\n");
    assert_eq!(stderr(&out), "err1\n");

    let out = k.run(&["logs", "--tail", "1", "lg"]);
    assert_eq!(stdout(&out), "out2\n");
    assert_eq!(stderr(&out), "");
    let out = k.run(&["logs", "--tail", "2", "lg"]);
    assert_eq!(stdout(&out), "out2\n");
    assert_eq!(stderr(&out), "err1\n");
    let out = k.run(&["logs", "--tail", "0", "lg"]);
    assert_eq!(stdout(&out), "");

    // -t: an RFC 3339 (nano) UTC timestamp and one space before each line.
    let out = k.run(&["logs", "-t", "lg"]);
    let lines: Vec<(String, String)> = stdout(&out)
        .lines()
        .map(|l| {
            let (ts, rest) = l.split_once(' ').unwrap();
            (ts.to_owned(), rest.to_owned())
        })
        .collect();
    assert_eq!(
        lines.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(),
        ["out1", "out2"]
    );
    for (ts, _) in &lines {
        assert!(
            ts.len() >= 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z'),
            "{ts}"
        );
    }
    assert!(lines[0].0 <= lines[1].0);

    // --since: a relative time keeps everything, a future Unix time keeps nothing.
    let out = k.run(&["logs", "--since", "1h", "lg"]);
    assert_eq!(stdout(&out), "out1\nout2\n");
    let out = k.run(&["logs", "--since", "4102444800", "lg"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "");
}

#[test]
fn logs_follow_ends_when_the_container_exits() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["fl"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "fl",
        img,
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo line$i; sleep 0.2; done",
    ]);
    let start = Instant::now();
    let out = common::output_within(k.std_cmd(&["logs", "-f", "fl"]), Duration::from_secs(30));
    let took = start.elapsed();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want: String = (1..=10).map(|i| format!("line{i}\n")).collect();
    assert_eq!(stdout(&out), want);
    // It followed: the container needs 2 s, and -f was started right after `run -d`.
    assert!(took >= Duration::from_millis(500), "logs -f took {took:?}");
    k.wait_status("fl", "exited");
}

#[test]
fn wait_prints_exit_codes() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["w1", "w2"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "w1",
        img,
        "sh",
        "-c",
        "sleep 0.5; exit 5",
    ]);
    k.ok(&["run", "-d", "--name", "w2", img, "sh", "-c", "exit 0"]);
    assert_eq!(k.ok(&["wait", "w1", "w2"]), "5\n0\n");
    // Already exited: the same code at once.
    assert_eq!(k.ok(&["wait", "w1"]), "5\n");
    assert_eq!(k.field("w1", "{{.State.ExitCode}}"), "5");
}

#[test]
fn cp_both_ways_keeps_content_and_mode() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["cpc"]);

    k.ok(&["run", "-d", "--name", "cpc", img, "sleep", "1000"]);
    k.wait_status("cpc", "running");

    // host → container
    let input = k.path("in.txt");
    std::fs::write(&input, "payload\n").unwrap();
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o750)).unwrap();
    k.ok(&["cp", input.to_str().unwrap(), "cpc:/tmp/in.txt"]);
    assert_eq!(
        k.ok(&["exec", "cpc", "stat", "-c", "%a %s", "/tmp/in.txt"]),
        "750 8\n"
    );
    assert_eq!(k.ok(&["exec", "cpc", "cat", "/tmp/in.txt"]), "payload\n");

    // a directory into an existing directory
    let tree = k.path("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), "A").unwrap();
    std::fs::write(tree.join("sub/b.txt"), "B").unwrap();
    k.ok(&["cp", tree.to_str().unwrap(), "cpc:/tmp/"]);
    assert_eq!(
        k.ok(&[
            "exec",
            "cpc",
            "cat",
            "/tmp/tree/a.txt",
            "/tmp/tree/sub/b.txt"
        ]),
        "AB"
    );

    // container → host
    let passwd = k.path("passwd.out");
    k.ok(&["cp", "cpc:/etc/passwd", passwd.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&passwd).unwrap(), busybox::PASSWD);
    let mode = std::fs::metadata(&passwd).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644);

    let bb = k.path("busybox.out");
    k.ok(&["cp", "cpc:/bin/busybox", bb.to_str().unwrap()]);
    assert!(std::fs::read(&bb).unwrap() == std::fs::read(busybox::BUSYBOX_PATH).unwrap());
    let mode = std::fs::metadata(&bb).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);

    k.ok(&[
        "exec",
        "cpc",
        "sh",
        "-c",
        "echo made-inside > /tmp/made; chmod 600 /tmp/made",
    ]);
    let made = k.path("made.out");
    k.ok(&["cp", "cpc:/tmp/made", made.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&made).unwrap(), "made-inside\n");
    let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);

    // a directory out, to a new name
    let back = k.path("tree.back");
    k.ok(&["cp", "cpc:/tmp/tree", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(back.join("sub/b.txt")).unwrap(),
        "B"
    );
}

#[test]
fn diff_shows_added_changed_deleted() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["df"]);

    k.ok(&[
        "run",
        "--name",
        "df",
        img,
        "sh",
        "-c",
        "echo x > /tmp/new; echo extra >> /etc/passwd; rm /etc/group; mkdir /newdir",
    ]);
    let out = k.ok(&["diff", "df"]);
    let lines: BTreeSet<&str> = out.lines().collect();
    for want in [
        "C /tmp",
        "A /tmp/new",
        "C /etc",
        "C /etc/passwd",
        "D /etc/group",
        "A /newdir",
    ] {
        assert!(lines.contains(want), "no {want:?} in:\n{out}");
    }
    for l in &lines {
        let ok = (l.starts_with("A /") || l.starts_with("C /") || l.starts_with("D /"))
            && !l.starts_with("C /bin");
        assert!(ok, "unexpected line {l:?} in:\n{out}");
    }
}

#[test]
fn commit_makes_a_runnable_image() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["src"]);

    k.ok(&[
        "run",
        "--name",
        "src",
        img,
        "sh",
        "-c",
        "echo committed > /hello.txt",
    ]);
    let out = k.ok(&["commit", "src", "mine:v1"]);
    let id = out.trim();
    assert!(
        id.strip_prefix("sha256:").is_some_and(is_id),
        "commit printed {out:?}"
    );
    assert_eq!(
        k.ok(&["inspect", "--format", "{{.Id}}", "mine:v1"]).trim(),
        id
    );
    assert_eq!(
        k.ok(&["run", "--rm", "mine:v1", "cat", "/hello.txt"]),
        "committed\n"
    );
    // The base image is unchanged.
    let out = k.run(&["run", "--rm", img, "cat", "/hello.txt"]);
    assert_eq!(code(&out), 1);
    let rows = common::table(&k.ok(&["images"]));
    assert!(
        rows.iter()
            .any(|r| r.len() > 2 && r[0] == "mine" && r[1] == "v1"),
        "{rows:?}"
    );
}

#[test]
fn stop_kills_after_the_timeout_when_term_is_ignored() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["stubborn"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        img,
        "sh",
        "-c",
        "trap '' TERM; echo ready; sleep 100",
    ]);
    k.wait_logs("stubborn", "ready");
    let start = Instant::now();
    assert_eq!(k.ok(&["stop", "-t", "1", "stubborn"]), "stubborn\n");
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(1), "stop took {took:?}");
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    assert_eq!(k.field("stubborn", "{{.State.Status}}"), "exited");
    assert_eq!(k.field("stubborn", "{{.State.ExitCode}}"), "137");
    let status = common::ps_status(&k, "stubborn").unwrap();
    assert!(
        status.starts_with("Exited (137) ") && status.ends_with(" ago"),
        "{status}"
    );
}

#[test]
fn stop_sends_term_first() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["polite"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        img,
        "sh",
        "-c",
        "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    k.wait_logs("polite", "ready");
    let start = Instant::now();
    assert_eq!(k.ok(&["stop", "polite"]), "polite\n");
    assert!(start.elapsed() < Duration::from_secs(8));
    assert_eq!(k.field("polite", "{{.State.ExitCode}}"), "7");
    assert_eq!(k.field("polite", "{{.State.Running}}"), "false");
    // Stopping a stopped container succeeds and prints the name.
    assert_eq!(k.ok(&["stop", "polite"]), "polite\n");
}

#[test]
fn kill_with_a_signal() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["sig"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "sig",
        img,
        "sh",
        "-c",
        "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done",
    ]);
    k.wait_logs("sig", "ready");
    assert_eq!(k.ok(&["kill", "-s", "USR1", "sig"]), "sig\n");
    k.wait_logs("sig", "got-usr1");
    assert_eq!(k.ok(&["kill", "--signal", "SIGUSR1", "sig"]), "sig\n");
    assert!(common::poll(common::CONTAINER_TIMEOUT, || {
        k.ok(&["logs", "sig"]).matches("got-usr1").count() == 2
    }));
    assert_eq!(k.field("sig", "{{.State.Running}}"), "true");

    // Default signal: KILL.
    assert_eq!(k.ok(&["kill", "sig"]), "sig\n");
    k.wait_status("sig", "exited");
    assert_eq!(k.field("sig", "{{.State.ExitCode}}"), "137");
    assert_eq!(k.field("sig", "{{.State.Pid}}"), "0");
    // Killing a stopped container is an error.
    let (_, err) = k.fail(&["kill", "sig"]);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn restart_running_and_exited() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["rs", "rs-once"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "rs",
        img,
        "sh",
        "-c",
        "echo started; trap 'exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    k.wait_logs("rs", "started");
    let pid1 = k.pid("rs");
    assert_eq!(k.ok(&["restart", "-t", "5", "rs"]), "rs\n");
    k.wait_status("rs", "running");
    let pid2 = k.pid("rs");
    assert_ne!(pid1, pid2);
    assert!(common::poll(common::CONTAINER_TIMEOUT, || {
        k.ok(&["logs", "rs"]) == "started\nstarted\n"
    }));

    assert_eq!(
        k.ok(&["run", "--name", "rs-once", img, "echo", "once"]),
        "once\n"
    );
    assert_eq!(k.ok(&["restart", "rs-once"]), "rs-once\n");
    assert_eq!(k.ok(&["wait", "rs-once"]), "0\n");
    assert_eq!(k.ok(&["logs", "rs-once"]), "once\nonce\n");
}

#[test]
fn restart_policy_on_failure_retries_twice() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["rf"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "rf",
        "--restart",
        "on-failure:2",
        img,
        "sh",
        "-c",
        "echo attempt; exit 1",
    ]);
    let mut last = String::new();
    let done = common::poll(Duration::from_secs(60), || {
        last = k.field("rf", "{{.RestartCount}} {{.State.Status}}");
        last == "2 exited"
    });
    assert!(done, "last: {last}");
    let policy = &k.inspect_json("rf")["HostConfig"]["RestartPolicy"];
    assert_eq!(policy["Name"], "on-failure");
    assert_eq!(policy["MaximumRetryCount"], 2);
    // No third restart.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        k.field(
            "rf",
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}"
        ),
        "2 exited 1"
    );
    assert_eq!(k.ok(&["logs", "rf"]), "attempt\nattempt\nattempt\n");
}

#[test]
fn rm_refuses_a_running_container_unless_forced() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["busy", "anon"]);

    k.ok(&["run", "-d", "--name", "busy", img, "sleep", "1000"]);
    k.wait_status("busy", "running");
    let (c, err) = k.fail(&["rm", "busy"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("running"), "{err}");
    assert_eq!(k.field("busy", "{{.State.Running}}"), "true");
    assert_eq!(k.ok(&["rm", "-f", "busy"]), "busy\n");

    k.ok(&["run", "--name", "anon", "-v", "/anon", img, "true"]);
    assert_eq!(k.ok(&["rm", "-v", "anon"]), "anon\n");
    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn no_such_container_errors() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let _img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let cases: [&[&str]; 11] = [
        &["stop", "nope"],
        &["start", "nope"],
        &["restart", "nope"],
        &["kill", "nope"],
        &["rm", "nope"],
        &["logs", "nope"],
        &["wait", "nope"],
        &["top", "nope"],
        &["port", "nope"],
        &["diff", "nope"],
        &["exec", "nope", "true"],
    ];
    for args in cases {
        let (c, err) = k.fail(args);
        assert_eq!(c, 1, "{args:?}: {err}");
        assert!(err.contains("No such container: nope"), "{args:?}: {err}");
    }
    let (c, err) = k.fail(&["inspect", "nope"]);
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("No such object: nope"), "{err}");
}

// ------------------------------------------------------------------------------------------
// ps, inspect, top, port
// ------------------------------------------------------------------------------------------

#[test]
fn ps_formats_filters_and_limits() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["ps-run", "ps-exit", "ps-created"]);

    let id_run = k.ok(&["run", "-d", "--name", "ps-run", img, "sleep", "1000"]);
    let id_run = id_run.trim();
    let id_exit = k.ok(&["run", "-d", "--name", "ps-exit", img, "sh", "-c", "exit 2"]);
    let id_exit = id_exit.trim();
    assert_eq!(k.ok(&["wait", "ps-exit"]), "2\n");
    let id_created = k.ok(&["create", "--name", "ps-created", img, "true"]);
    let id_created = id_created.trim();
    for id in [id_run, id_exit, id_created] {
        assert!(is_id(id), "{id}");
    }
    k.wait_status("ps-run", "running");

    // -q: running only, short ids; --no-trunc: full ids; -a: newest first.
    assert_eq!(k.ok(&["ps", "-q"]), format!("{}\n", &id_run[..12]));
    assert_eq!(k.ok(&["ps", "-q", "--no-trunc"]), format!("{id_run}\n"));
    assert_eq!(
        k.ok(&["ps", "-a", "-q"]),
        format!(
            "{}\n{}\n{}\n",
            &id_created[..12],
            &id_exit[..12],
            &id_run[..12]
        )
    );

    // --format with Names and Status.
    let statuses = common::ps_statuses(&k);
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    let get = |n: &str| statuses.iter().find(|(m, _)| m == n).unwrap().1.clone();
    assert!(get("ps-run").starts_with("Up "), "{statuses:?}");
    let exited = get("ps-exit");
    assert!(
        exited.starts_with("Exited (2) ") && exited.ends_with(" ago"),
        "{exited}"
    );
    assert_eq!(get("ps-created"), "Created");

    // Filters: a status filter lists non-running containers without -a.
    assert_eq!(
        k.ok(&["ps", "--filter", "status=exited", "--format", "{{.Names}}"]),
        "ps-exit\n"
    );
    assert_eq!(
        k.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=created",
            "--format",
            "{{.Names}}"
        ]),
        "ps-created\n"
    );
    assert_eq!(
        k.ok(&[
            "ps",
            "-a",
            "--filter",
            "name=ps-ex",
            "--format",
            "{{.Names}}"
        ]),
        "ps-exit\n"
    );
    assert_eq!(
        k.ok(&["ps", "-a", "--filter", "ancestor=busybox", "-q"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        k.ok(&["ps", "-a", "--filter", "ancestor=nosuchimage", "-q"]),
        ""
    );

    // -n / -l: the newest, whatever its state.
    assert_eq!(
        k.ok(&["ps", "-n", "1", "--format", "{{.Names}}"]),
        "ps-created\n"
    );
    assert_eq!(
        k.ok(&["ps", "-n", "2", "--format", "{{.Names}}"]),
        "ps-created\nps-exit\n"
    );
    assert_eq!(
        k.ok(&["ps", "-l", "--format", "{{.Names}}"]),
        "ps-created\n"
    );
    assert_eq!(
        k.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Image}}"]),
        format!("{id_created} busybox\n{id_exit} busybox\n{id_run} busybox\n")
    );

    // The table.
    let rows = common::table(&k.ok(&["ps"]));
    assert_eq!(
        rows[0],
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    let r = &rows[1];
    assert_eq!(r.len(), 6, "{r:?}"); // PORTS is empty
    assert_eq!(r[0], &id_run[..12]);
    assert_eq!(r[1], "busybox");
    assert_eq!(r[2], "\"sleep 1000\"");
    assert!(r[3].ends_with(" ago"), "{r:?}");
    assert!(r[4].starts_with("Up "), "{r:?}");
    assert_eq!(r[5], "ps-run");

    let rows = common::table(&k.ok(&["ps", "-a", "-s"]));
    assert_eq!(rows[0].last().map(String::as_str), Some("SIZE"), "{rows:?}");
    assert_eq!(rows.len(), 4, "{rows:?}");
}

#[test]
fn inspect_container_json() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let nginx = k.load_nginx();
    let _c = Cleanup::new(&k, &["insp"]);

    let vol = k.path("insp-vol");
    std::fs::create_dir(&vol).unwrap();
    let bind = format!("{}:/data:ro", vol.display());
    let id = k.ok(&[
        "run", "-d", "--name", "insp", "-p", "18101:80", "--memory", "32m", "-e", "FOO=bar", "-v",
        &bind, nginx,
    ]);
    let id = id.trim();
    assert!(is_id(id), "{id}");
    assert_eq!(http_get(18101), busybox::WELCOME_HTML);

    let v = k.inspect_json("insp");
    assert_eq!(v["Id"], id);
    assert_eq!(v["Name"], "/insp");
    assert_eq!(
        v["Image"],
        busybox::nginx_like_image().id().as_str(),
        "{v:#}"
    );
    let st = &v["State"];
    assert_eq!(st["Status"], "running");
    assert_eq!(st["Running"], true);
    assert_eq!(st["ExitCode"], 0);
    let pid = st["Pid"].as_i64().unwrap();
    assert!(pid > 0 && common::alive(pid as i32), "{st}");

    let cfg = &v["Config"];
    assert_eq!(cfg["Image"], "nginx");
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!([
            "httpd",
            "-f",
            "-v",
            "-p",
            "80",
            "-h",
            "/usr/share/nginx/html"
        ])
    );
    let env: Vec<&str> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"FOO=bar") && env.contains(&busybox::PATH_ENV),
        "{env:?}"
    );
    assert!(cfg["ExposedPorts"].get("80/tcp").is_some(), "{cfg}");
    assert_eq!(cfg["StopSignal"], "SIGTERM");

    let hc = &v["HostConfig"];
    assert_eq!(hc["Memory"], 33554432);
    assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostPort"], "18101", "{hc}");
    assert_eq!(hc["RestartPolicy"]["Name"], "no", "{hc}");

    let mounts = v["Mounts"].as_array().unwrap();
    let m = mounts
        .iter()
        .find(|m| m["Destination"] == "/data")
        .unwrap_or_else(|| panic!("{mounts:?}"));
    assert_eq!(m["Type"], "bind");
    assert_eq!(m["Source"], vol.to_str().unwrap());
    assert_eq!(m["RW"], false);

    let ports = v["NetworkSettings"]["Ports"]["80/tcp"].as_array().unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p["HostIp"] == "0.0.0.0" && p["HostPort"] == "18101"),
        "{ports:?}"
    );

    let gd = &v["GraphDriver"];
    assert_eq!(gd["Name"], "overlay");
    for key in ["UpperDir", "WorkDir", "MergedDir"] {
        let p = gd["Data"][key].as_str().unwrap();
        assert!(std::path::Path::new(p).is_dir(), "{key} {p}");
    }
    let lowers: Vec<&str> = gd["Data"]["LowerDir"]
        .as_str()
        .unwrap()
        .split(':')
        .collect();
    assert!(
        lowers.iter().all(|l| std::path::Path::new(l).is_dir()),
        "{lowers:?}"
    );
    assert!(
        lowers.iter().any(|l| std::path::Path::new(l)
            .join("usr/share/nginx/html/index.html")
            .is_file()),
        "{lowers:?}"
    );

    assert_eq!(k.field("insp", "{{.State.Running}}"), "true");
    assert_eq!(k.field("insp", "{{.Name}}"), "/insp");
    assert_eq!(k.field("insp", "{{.Id}}"), id);

    k.ok(&["kill", "insp"]);
    k.wait_status("insp", "exited");
    let st = &k.inspect_json("insp")["State"];
    assert_eq!(st["Running"], false);
    assert_eq!(st["ExitCode"], 137);
    assert_eq!(st["Pid"], 0);
}

#[test]
fn top_lists_the_processes() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["topc"]);

    k.ok(&["run", "-d", "--name", "topc", img, "sleep", "1000"]);
    k.wait_status("topc", "running");
    let pid = k.pid("topc");
    let out = k.ok(&["top", "topc"]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let col = header
        .iter()
        .position(|h| *h == "PID")
        .unwrap_or_else(|| panic!("{out}"));
    let row = lines
        .find(|l| l.contains("sleep 1000"))
        .unwrap_or_else(|| panic!("no sleep in:\n{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[col], pid.to_string(), "{out}");
}

#[test]
fn port_lists_published_ports() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["portc"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "portc",
        "-p",
        "18111:80",
        "-p",
        "127.0.0.1:18112:81",
        img,
        "sleep",
        "1000",
    ]);
    let out = k.ok(&["port", "portc"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"80/tcp -> 0.0.0.0:18111"), "{out}");
    assert!(lines.contains(&"81/tcp -> 127.0.0.1:18112"), "{out}");
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        // Without an address, docker binds IPv6 too; both answer.
        assert!(lines.contains(&"80/tcp -> [::]:18111"), "{out}");
        assert!(std::net::TcpStream::connect("[::1]:18111").is_ok());
    }
    for l in &lines {
        assert!(
            [
                "80/tcp -> 0.0.0.0:18111",
                "80/tcp -> [::]:18111",
                "81/tcp -> 127.0.0.1:18112"
            ]
            .contains(l),
            "{out}"
        );
    }
    assert_eq!(
        k.ok(&["port", "portc", "80"]).lines().next(),
        Some("0.0.0.0:18111")
    );
    assert_eq!(k.ok(&["port", "portc", "81/tcp"]), "127.0.0.1:18112\n");
    let (_, err) = k.fail(&["port", "portc", "82"]);
    assert!(
        err.contains("No public port '82/tcp' published for portc"),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------------
// networking
// ------------------------------------------------------------------------------------------

#[test]
fn published_port_serves_and_logs() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let nginx = k.load_nginx();
    let _c = Cleanup::new(&k, &["pub"]);

    k.ok(&[
        "run",
        "-d",
        "--name",
        "pub",
        "-p",
        "127.0.0.1:18131:80",
        nginx,
    ]);
    assert_eq!(http_get(18131), busybox::WELCOME_HTML);
    let (status, _) = common::http_get_path(18131, "/missing.html");
    assert_eq!(status, 404);
    // httpd -v logs each request to stderr.
    k.wait_logs("pub", "response:200");
    assert_eq!(k.ok(&["port", "pub", "80"]), "127.0.0.1:18131\n");
}

#[test]
fn publish_all_picks_host_ports() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let nginx = k.load_nginx();
    let _c = Cleanup::new(&k, &["pall"]);

    k.ok(&["run", "-d", "--name", "pall", "-P", nginx]);
    let out = k.ok(&["port", "pall", "80"]);
    let first = out.lines().next().unwrap_or_else(|| panic!("{out:?}"));
    let (ip, port) = first.rsplit_once(':').unwrap();
    assert_eq!(ip, "0.0.0.0");
    let port: u16 = port.parse().unwrap();
    assert_ne!(port, 0);
    assert_eq!(http_get(port), busybox::WELCOME_HTML);
}

#[test]
fn busy_host_port_fails_clearly() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let nginx = k.load_nginx();
    let _c = Cleanup::new(&k, &["busy1", "holder", "busy2"]);

    // Held by a host process.
    let listener = std::net::TcpListener::bind("0.0.0.0:18121").unwrap();
    let (c, err) = k.fail(&["run", "-d", "--name", "busy1", "-p", "18121:80", nginx]);
    assert_eq!(c, 125, "{err}");
    assert!(err.contains("18121"), "{err}");
    assert!(
        err.contains("address already in use") || err.contains("port is already allocated"),
        "{err}"
    );

    // Held by another container.
    k.ok(&["run", "-d", "--name", "holder", "-p", "18122:80", nginx]);
    assert_eq!(http_get(18122), busybox::WELCOME_HTML);
    let (c, err) = k.fail(&["run", "-d", "--name", "busy2", "-p", "18122:80", nginx]);
    assert_eq!(c, 125, "{err}");
    assert!(err.contains("18122"), "{err}");
    assert_eq!(http_get(18122), busybox::WELCOME_HTML);
    drop(listener);
}

#[test]
fn network_none_has_only_loopback() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let out = k.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        img,
        "cat",
        "/proc/net/dev",
    ]);
    assert_eq!(interfaces(&out), BTreeSet::from(["lo".to_owned()]), "{out}");
    let out = k.ok(&["run", "--rm", "--network", "none", img, "ip", "addr"]);
    assert_eq!(inet_addrs(&out), [std::net::Ipv4Addr::LOCALHOST], "{out}");
}

#[test]
fn default_network_is_private_loopback_only() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let out = k.ok(&["run", "--rm", img, "cat", "/proc/net/dev"]);
    assert_eq!(interfaces(&out), BTreeSet::from(["lo".to_owned()]), "{out}");
    let out = k.ok(&["run", "--rm", img, "ip", "addr"]);
    let addrs = inet_addrs(&out);
    assert!(addrs.contains(&std::net::Ipv4Addr::LOCALHOST), "{out}");
    assert!(!addrs.iter().any(|a| a.is_private()), "{out}");
    assert!(addrs.iter().all(|a| a.is_loopback()), "{out}");
    // And the host's interfaces are not there.
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    for name in interfaces(&host) {
        if name != "lo" {
            assert!(!out.contains(&format!(" {name}:")), "{name} in:\n{out}");
        }
    }
}

#[test]
fn network_host_sees_the_host() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    let out = k.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        img,
        "cat",
        "/proc/net/dev",
    ]);
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    assert_eq!(interfaces(&out), interfaces(&host), "{out}");
    // docker: a host-network container has the host's name.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        k.ok(&["run", "--rm", "--network", "host", img, "hostname"]),
        hostname
    );
}

#[test]
fn hostname_flag_and_default() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["hn"]);

    assert_eq!(
        k.ok(&["run", "--rm", "--hostname", "myhost", img, "hostname"]),
        "myhost\n"
    );
    assert_eq!(
        k.ok(&[
            "run",
            "--rm",
            "--hostname",
            "myhost",
            img,
            "sh",
            "-c",
            "echo $HOSTNAME"
        ]),
        "myhost\n"
    );
    // Default: the short container id.
    let id = k.ok(&["run", "-d", "--name", "hn", img, "sleep", "1000"]);
    k.wait_status("hn", "running");
    assert_eq!(
        k.ok(&["exec", "hn", "hostname"]),
        format!("{}\n", &id.trim()[..12])
    );
}

// ------------------------------------------------------------------------------------------
// images, disk usage, pruning
// ------------------------------------------------------------------------------------------

#[test]
fn rmi_of_an_image_in_use_is_a_conflict() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["user1"]);

    assert_eq!(k.ok(&["run", "--name", "user1", img, "echo", "hi"]), "hi\n");
    let cid = k.field("user1", "{{.Id}}");
    let image_id = busybox::busybox_image().id().hex().to_owned();

    let (c, err) = k.fail(&["rmi", "busybox"]);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains(&format!(
            "conflict: unable to remove repository reference \"busybox\" (must force) - container {} is using its referenced image {}",
            &cid[..12],
            &image_id[..12]
        )),
        "{err}"
    );
    let (_, err) = k.fail(&["rmi", &image_id[..12]]);
    assert!(
        err.contains(&format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
            &image_id[..12],
            &cid[..12]
        )),
        "{err}"
    );
    assert!(k.ok(&["images", "-q"]).contains(&image_id[..12]));

    // -f untags; the container keeps its image.
    let out = k.ok(&["rmi", "-f", "busybox"]);
    assert!(out.contains("Untagged: busybox:latest"), "{out}");
    assert_eq!(k.ok(&["start", "-a", "user1"]), "hi\n");
}

#[test]
fn images_show_one_image_for_many_containers() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let names = ["many1", "many2", "many3", "many4"];
    let _c = Cleanup::new(&k, &names);

    for n in names {
        k.ok(&["run", "-d", "--name", n, img, "sleep", "1000"]);
    }
    let rows = common::table(&k.ok(&["images"]));
    assert_eq!(
        rows.iter().filter(|r| r[0] == "busybox").count(),
        1,
        "{rows:?}"
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(k.ok(&["ps", "-q"]).lines().count(), 4);
}

#[test]
fn system_df_counts_containers() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["df-run", "df-exit"]);

    k.ok(&["run", "-d", "--name", "df-run", img, "sleep", "1000"]);
    k.ok(&["run", "--name", "df-exit", img, "true"]);
    k.wait_status("df-run", "running");
    let rows = common::table(&k.ok(&["system", "df"]));
    assert_eq!(&rows[0][..3], ["TYPE", "TOTAL", "ACTIVE"], "{rows:?}");
    let row = |t: &str| {
        rows.iter()
            .find(|r| r[0] == t)
            .unwrap_or_else(|| panic!("no {t} row: {rows:?}"))
            .clone()
    };
    assert_eq!(&row("Containers")[1..3], ["2", "1"]);
    assert_eq!(&row("Images")[1..3], ["1", "1"]);
}

#[test]
fn container_prune_removes_stopped_containers() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["keep", "gone1", "gone2"]);

    let keep = k.ok(&["run", "-d", "--name", "keep", img, "sleep", "1000"]);
    k.ok(&["run", "--name", "gone1", img, "true"]);
    let gone1 = k.field("gone1", "{{.Id}}");
    let gone2 = k.ok(&["create", "--name", "gone2", img, "true"]);
    k.wait_status("keep", "running");

    let out = k.ok(&["container", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains(&format!("\n{gone1}\n")), "{out}");
    assert!(out.contains(&format!("\n{}\n", gone2.trim())), "{out}");
    assert!(!out.contains(keep.trim()), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(k.ok(&["ps", "-a", "--format", "{{.Names}}"]), "keep\n");
    // Nothing left to prune.
    let out = k.ok(&["container", "prune", "-f"]);
    assert!(!out.contains("Deleted Containers:"), "{out}");
}
