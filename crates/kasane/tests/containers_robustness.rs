//! Robustness of the container commands: many containers leave nothing behind (mounts,
//! processes, state); a SIGKILLed monitor or foreground client is recovered by `ps`, `rm -f`
//! and `system prune`; and paths inside a container (volume `..`, symlinks in a volume,
//! `/proc/self/root`) never reach the host. Published ports: 18200–18299.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;

use common::{CONTAINER_TIMEOUT, Cleanup, Kasane, code, poll, stderr, stdout};
use kasane_testsupport::busybox;

/// Mount points naming the test's directory, as `findmnt -rn -o TARGET` lists them (falls
/// back to `/proc/self/mountinfo` without findmnt).
fn leftover_mounts(k: &Kasane) -> Vec<String> {
    let dir = k.dir.path().display().to_string();
    match std::process::Command::new("findmnt")
        .args(["-rn", "-o", "TARGET"])
        .output()
    {
        Ok(out) if out.status.success() => stdout(&out)
            .lines()
            .filter(|l| l.contains(&dir))
            .map(str::to_owned)
            .collect(),
        _ => common::mounts_under(k.dir.path()),
    }
}

/// No mounts, no processes, no container state; `system check` clean.
fn assert_nothing_left(k: &Kasane) {
    let mut mounts = Vec::new();
    let gone = poll(CONTAINER_TIMEOUT, || {
        mounts = leftover_mounts(k);
        mounts.is_empty()
    });
    assert!(gone, "still mounted: {mounts:#?}");
    let dir = k.dir.path().display().to_string();
    let mut procs = Vec::new();
    let gone = poll(CONTAINER_TIMEOUT, || {
        procs = common::procs_mentioning(&dir);
        procs.is_empty()
    });
    assert!(gone, "processes left: {procs:#?}");
    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
    let containers = k.root.join("containers");
    if containers.exists() {
        let left: Vec<_> = std::fs::read_dir(&containers)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "containers/ still holds {left:?}");
    }
    // Console and attach sockets (the runtimes' own state directories may stay).
    if let Ok(run) = std::fs::read_dir(k.root.join("run")) {
        let socks: Vec<_> = run
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sock"))
            .collect();
        assert!(socks.is_empty(), "run/ still holds {socks:?}");
    }
    k.check_clean();
}

#[test]
fn many_containers_leave_nothing_behind() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let names = ["d1", "d2", "d3", "d4", "d5"];
    let _c = Cleanup::new(&k, &names);

    for i in 0..50 {
        let out = k.run(&["run", "--rm", img, "true"]);
        assert_eq!(code(&out), 0, "run #{i}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "run #{i}");
    }
    for (i, n) in names.iter().enumerate() {
        let port = format!("{}:80", 18201 + i);
        k.ok(&["run", "-d", "--name", n, "-p", &port, img, "sleep", "1000"]);
    }
    for n in names {
        k.wait_status(n, "running");
    }
    assert_eq!(
        k.ok(&["rm", "-f", "d1", "d2", "d3", "d4", "d5"]),
        "d1\nd2\nd3\nd4\nd5\n"
    );
    assert_nothing_left(&k);
    // The published ports are free again.
    for i in 0..names.len() {
        let port = 18201 + i as u16;
        std::net::TcpListener::bind(("0.0.0.0", port))
            .unwrap_or_else(|e| panic!("port {port} still taken: {e}"));
    }
}

/// SIGKILLs the monitor of running container `name` and returns the pid of the container's
/// init. Only ever kills kasane's own process: the binary under test, or one naming our root.
fn kill_monitor_of(k: &Kasane, name: &str) -> i32 {
    k.wait_status(name, "running");
    let pid = k.pid(name);
    let monitor = common::ppid(pid);
    let exe = std::fs::read_link(format!("/proc/{monitor}/exe")).ok();
    let ours = exe.as_deref() == Some(assert_cmd::cargo::cargo_bin("kasane").as_path())
        || common::procs_mentioning(&k.root.display().to_string())
            .iter()
            .any(|(p, _)| *p == monitor);
    assert!(
        monitor > 1 && monitor != std::process::id() as i32 && ours,
        "the parent of the container's init ({monitor}, {exe:?}) is not a kasane monitor"
    );
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(monitor).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    pid
}

#[test]
fn a_killed_monitor_is_recovered() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["mon"]);

    k.ok(&["run", "-d", "--name", "mon", img, "sleep", "1000"]);
    let pid = kill_monitor_of(&k, "mon");

    let mut last = None;
    let exited = poll(CONTAINER_TIMEOUT, || {
        last = common::ps_status(&k, "mon");
        last.as_deref().is_some_and(|s| s.starts_with("Exited"))
    });
    assert!(exited, "ps -a shows {last:?} after the monitor died");
    assert_eq!(k.ok(&["rm", "-f", "mon"]), "mon\n");
    assert!(
        poll(CONTAINER_TIMEOUT, || !common::alive(pid)),
        "the container's process {pid} outlived rm -f"
    );
    assert_nothing_left(&k);
}

#[test]
fn an_rm_container_whose_monitor_died_starts_again() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["mon-rm"]);

    // The first run leaves a mark in its layer and waits; the second finds it and ends.
    let script = "test -e /mark && exit 0; touch /mark; sleep 1000";
    k.ok(&[
        "run", "-d", "--rm", "--name", "mon-rm", img, "sh", "-c", script,
    ]);
    let pid = kill_monitor_of(&k, "mon-rm");
    let exited = poll(CONTAINER_TIMEOUT, || {
        common::ps_status(&k, "mon-rm").is_some_and(|s| s.starts_with("Exited"))
    });
    assert!(exited, "ps -a: {}", k.ok(&["ps", "-a"]));

    // Its volatile overlay left the kernel's mark in the work dir: it mounts again anyway,
    // with the layer it had, and as a --rm container it is gone once it ends.
    let out = k.run(&["start", "-a", "mon-rm"]);
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    assert!(
        poll(CONTAINER_TIMEOUT, || !common::alive(pid)),
        "the first process {pid} outlived the restart"
    );
    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
    assert_nothing_left(&k);
}

#[test]
fn a_killed_foreground_client_is_recovered() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["fg-x"]);

    let mut child = k
        .std_cmd(&["run", "--name", "fg-x", img, "sleep", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    k.wait_status("fg-x", "running");
    let pid = k.pid("fg-x");
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(k.ok(&["rm", "-f", "fg-x"]), "fg-x\n");
    k.ok(&["system", "prune", "-f"]);
    assert!(
        poll(CONTAINER_TIMEOUT, || !common::alive(pid)),
        "the container's process {pid} outlived rm -f"
    );
    assert_nothing_left(&k);
}

#[test]
fn system_prune_removes_stopped_containers() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["p-run", "p-exit", "p-created"]);

    k.ok(&["run", "-d", "--name", "p-run", img, "sleep", "1000"]);
    k.ok(&["run", "--name", "p-exit", img, "true"]);
    k.ok(&["create", "--name", "p-created", img, "true"]);
    k.wait_status("p-run", "running");
    k.ok(&["system", "prune", "-f"]);
    assert_eq!(k.ok(&["ps", "-a", "--format", "{{.Names}}"]), "p-run\n");
    // The image is in use by p-run: it stays.
    assert_eq!(k.ok(&["images", "-q"]).lines().count(), 1);
    assert_eq!(k.ok(&["rm", "-f", "p-run"]), "p-run\n");
    k.ok(&["system", "prune", "-f"]);
    assert_nothing_left(&k);
}

#[test]
fn paths_inside_a_container_do_not_reach_the_host() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &[]);

    // A host file outside the volume, and links in the volume that point at host paths.
    let secret = k.path("outside-secret.txt");
    let secret_s = secret.to_str().unwrap().to_owned();
    let secret_text = format!("host-secret-{}\n", std::process::id());
    std::fs::write(&secret, &secret_text).unwrap();
    let vol = k.path("vol");
    std::fs::create_dir(&vol).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", vol.join("hostname-link")).unwrap();
    std::os::unix::fs::symlink(&secret, vol.join("secret-link")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", vol.join("up")).unwrap();
    let spec = format!("{}:/data", vol.display());
    let host_hostname = std::fs::read("/etc/hostname").ok();

    // Reads: `..` out of the volume, absolute and relative links.
    let script = format!(
        "cat /data/../outside-secret.txt; cat /data/../../outside-secret.txt; \
         cat /data/../../../../../..{secret_s}; cat /data/secret-link; cat /data/up{secret_s}; \
         echo ---; cat /data/../../etc/shadow"
    );
    let out = k.run(&["run", "--rm", "-v", &spec, img, "sh", "-c", &script]);
    let text = stdout(&out);
    assert!(!text.contains("host-secret"), "{text}");
    let (_, shadow) = text.split_once("---\n").unwrap();
    assert_eq!(
        shadow,
        busybox::SHADOW,
        "/data/../../etc/shadow is not the image's"
    );

    // Writes through the same paths.
    let script = format!(
        "echo pwned > /data/secret-link; echo pwned > /data/up{secret_s}; \
         echo pwned > /data/../outside-secret.txt; echo pwned > /data/../../../..{secret_s}"
    );
    k.run(&["run", "--rm", "-v", &spec, img, "sh", "-c", &script]);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), secret_text);

    // A link to /etc/hostname in the volume is the container's /etc/hostname.
    let out = k.run(&[
        "run",
        "--rm",
        "--hostname",
        "escapetest",
        "-v",
        &spec,
        img,
        "sh",
        "-c",
        "cat /data/hostname-link; echo ---; cat /etc/hostname",
    ]);
    let text = stdout(&out);
    let (via_link, direct) = text.split_once("---\n").unwrap();
    assert_eq!(via_link, direct, "{text}");
    if let Some(h) = host_hostname
        .as_ref()
        .filter(|h| h.as_slice() != b"escapetest\n")
    {
        assert_ne!(
            via_link.as_bytes(),
            h.as_slice(),
            "the host's /etc/hostname leaked"
        );
    }
    k.run(&[
        "run",
        "--rm",
        "-v",
        &spec,
        img,
        "sh",
        "-c",
        "echo pwned > /data/hostname-link",
    ]);
    assert_eq!(std::fs::read("/etc/hostname").ok(), host_hostname);
    // The link itself is untouched on the host.
    assert_eq!(
        std::fs::read_link(vol.join("hostname-link")).unwrap(),
        std::path::Path::new("/etc/hostname")
    );

    // /proc/self/root is the container's root: the host's temp dir is not there.
    let tmp_dir = k.dir.path().display().to_string();
    let tmp_name = k
        .dir
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let script = format!(
        "ls -a /proc/self/root/tmp/; echo ---; ls -a /proc/self/root/; echo ---; ls -a /; \
         echo ---; ls -a /proc/self/root{tmp_dir} && echo LEAK"
    );
    let out = k.run(&["run", "--rm", img, "sh", "-c", &script]);
    let text = stdout(&out);
    let parts: Vec<&str> = text.split("---\n").collect();
    assert_eq!(parts.len(), 4, "{text}\n{}", stderr(&out));
    assert!(
        !parts[0].lines().any(|l| l == tmp_name),
        "host temp dir visible: {text}"
    );
    assert_eq!(parts[1], parts[2], "/proc/self/root/ differs from /");
    assert!(parts[1].lines().any(|l| l == "bin"), "{text}");
    assert!(!parts[3].contains("LEAK"), "{text}");

    assert_eq!(std::fs::read_to_string(&secret).unwrap(), secret_text);
}
