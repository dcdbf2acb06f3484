//! One small container suite, run once per OCI runtime `--runtime` can choose: the embedded
//! one (no flag), `crun` and `runc` by name (each skipped when not installed), and a runtime
//! given by path. The suite: `run -d`, `exec` (output and exit code), `logs`, `stop` (the
//! process's own exit code after SIGTERM), `ps -a`, a foreground `run` with its exit code,
//! seccomp in the init and in exec'd processes, `rm`. Published ports: 18300–18399.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Cleanup, Kasane, code, http_get, is_id, stderr, stdout};
use kasane_testsupport::busybox;

/// The suite; `runtime` is the `--runtime` value (`None`: the default) and `port` a host port
/// of its own.
fn suite(runtime: Option<&str>, port: u16) {
    let k = Kasane::new();
    let img = k.load_busybox();
    let nginx = k.load_nginx();
    let _c = Cleanup::new(&k, &["rt", "rt-web"]);
    let with_runtime = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![args[0].to_owned()];
        if let Some(r) = runtime {
            v.push("--runtime".into());
            v.push(r.into());
        }
        v.extend(args[1..].iter().map(|s| (*s).to_owned()));
        v
    };
    let run = |args: &[&str]| {
        let v = with_runtime(args);
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        k.run(&refs)
    };

    // run -d
    let out = run(&[
        "run",
        "-d",
        "--name",
        "rt",
        img,
        "sh",
        "-c",
        "echo started; trap 'exit 3' TERM; while :; do sleep 0.1; done",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&out);
    assert!(is_id(id.trim()), "run -d printed {id:?}");
    k.wait_status("rt", "running");
    if let Some(r) = runtime {
        let recorded = k.field("rt", "{{.HostConfig.Runtime}}");
        // docker records the name given; a path may be recorded as given or by its name
        assert!(
            recorded == r || (!recorded.is_empty() && r.ends_with(&format!("/{recorded}"))),
            "HostConfig.Runtime is {recorded:?}, not {r:?}"
        );
    }

    // exec: output, exit code, environment
    assert_eq!(k.ok(&["exec", "rt", "sh", "-c", "echo $((6*7))"]), "42\n");
    let out = k.run(&["exec", "rt", "sh", "-c", "exit 9"]);
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert_eq!(
        k.ok(&[
            "exec",
            "-e",
            "X=y",
            "-u",
            "nobody",
            "rt",
            "sh",
            "-c",
            "echo $X $(id -u)"
        ]),
        "y 65534\n"
    );

    // seccomp: docker's profile, in the init and in exec'd processes alike; it refuses new
    // user namespaces to a container without CAP_SYS_ADMIN
    let probe = "grep '^Seccomp:' /proc/self/status | tr -d '\t '; \
                 unshare -U true 2>/dev/null && echo allowed || echo refused";
    assert_eq!(
        k.ok(&["exec", "rt", "sh", "-c", probe]),
        "Seccomp:2\nrefused\n"
    );
    let out = run(&["run", "--rm", img, "sh", "-c", probe]);
    assert_eq!(stdout(&out), "Seccomp:2\nrefused\n", "{}", stderr(&out));
    let out = run(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        img,
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status | tr -d '\t '",
    ]);
    assert_eq!(stdout(&out), "Seccomp:0\n", "{}", stderr(&out));

    // logs
    k.wait_logs("rt", "started");
    assert_eq!(k.ok(&["logs", "rt"]), "started\n");

    // stop: the trap's exit code
    assert_eq!(k.ok(&["stop", "rt"]), "rt\n");
    assert_eq!(k.field("rt", "{{.State.ExitCode}}"), "3");
    let status = common::ps_status(&k, "rt").unwrap();
    assert!(status.starts_with("Exited (3) "), "{status}");

    // foreground run: output and exit code
    let out = run(&["run", "--rm", img, "sh", "-c", "echo fg; exit 6"]);
    assert_eq!(stdout(&out), "fg\n", "{}", stderr(&out));
    assert_eq!(code(&out), 6);

    // a published port
    let out = run(&[
        "run",
        "-d",
        "--name",
        "rt-web",
        "-p",
        &format!("{port}:80"),
        nginx,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(http_get(port), busybox::WELCOME_HTML);

    // rm
    assert_eq!(k.ok(&["rm", "rt"]), "rt\n");
    assert_eq!(k.ok(&["rm", "-f", "rt-web"]), "rt-web\n");
    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
}

/// The full path of a program on PATH.
fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(program))
            .find(|f| f.is_file())
    })
}

#[test]
fn default_runtime() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    suite(None, 18301);
}

#[test]
fn crun_runtime() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    require!(common::have("crun"), "crun is not installed");
    suite(Some("crun"), 18302);
}

#[test]
fn runc_runtime() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    require!(common::have("runc"), "runc is not installed");
    suite(Some("runc"), 18303);
}

#[test]
fn runtime_by_path() {
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let path = which("crun").or_else(|| which("runc"));
    require!(path.is_some(), "neither crun nor runc is installed");
    suite(Some(path.unwrap().to_str().unwrap()), 18304);
}

/// A state root given as a relative path still gets the runtime's own error text back: the
/// monitor runs from `/`, so the runtime's `--log` must not be relative to the caller's
/// directory.
#[test]
fn a_runtime_error_reaches_the_user_with_a_relative_root() {
    use std::os::unix::fs::PermissionsExt;
    require!(
        common::is_root(),
        "containers need root (overlay, namespaces)"
    );
    require!(busybox::available(), "needs busybox-static");
    let k = Kasane::new();
    let img = k.load_busybox();
    // A runtime that refuses every container, saying why in its JSON log, after changing to
    // the bundle directory as crun and runc do.
    let fake = k.path("refusing-runtime");
    std::fs::write(
        &fake,
        "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  case $1 in\n    --log) log=$2 ;;\n    \
         --bundle) cd \"$2\" || exit 2 ;;\n  esac\n  shift\ndone\n\
         echo '{\"level\":\"error\",\"msg\":\"no containers today\"}' >> \"$log\"\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("kasane"));
    cmd.current_dir(k.dir.path())
        .envs(k.env.iter().map(|(a, b)| (a, b)))
        .args(["--root", "root", "run", "--rm", "--runtime"])
        .arg(&fake)
        .args([img, "true"]);
    let out = cmd.output().unwrap();
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no containers today"),
        "the runtime's error is lost: {}",
        stderr(&out)
    );
}
