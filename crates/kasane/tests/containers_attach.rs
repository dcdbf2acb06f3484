//! `attach` end to end: input reaches a detached `-i` container and its exit code comes back,
//! several clients see the same output, the detach keys (docker's and the user's own) leave
//! the container running, a `-t` container gets the client's window size and keys, and
//! attaching to a container that does not run is refused in docker's words.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Cleanup, Kasane, code, output_within, stderr, stdout};
use kasane_testsupport::busybox;

const LIMIT: Duration = Duration::from_secs(30);

macro_rules! require_containers {
    () => {
        require!(
            common::is_root(),
            "containers need root (overlay, namespaces)"
        );
        require!(busybox::available(), "needs busybox-static");
    };
}

/// Everything a child writes to stdout, read on a thread, so a test can wait for a part.
struct Output {
    rx: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Output {
    fn of(mut out: ChildStdout) -> Output {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Output {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits until `needle` has been written (panics after 30 s with what was).
    fn wait_for(&mut self, needle: &str) {
        let end = std::time::Instant::now() + LIMIT;
        while !String::from_utf8_lossy(&self.seen).contains(needle) {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.seen.extend_from_slice(&b),
                Err(_) => panic!(
                    "no {needle:?} in the output: {:?}",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }
}

/// `kasane ARGS…` with stdin, stdout and stderr piped.
fn spawn(k: &Kasane, args: &[&str]) -> Child {
    k.std_cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The exit code and stderr of a child, killed if it takes over 30 s.
fn finish(mut child: Child) -> (i32, String) {
    let end = std::time::Instant::now() + LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!("attach did not end within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn attach_passes_input_and_returns_the_exit_code() {
    require_containers!();
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["at-in"]);
    k.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "at-in",
        img,
        "sh",
        "-c",
        "read l; echo \"got $l\"; echo oops >&2; exit 4",
    ]);
    let mut child = spawn(&k, &["attach", "at-in"]);
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child_output(child);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(stdout(&out), "got hello\n");
    assert_eq!(stderr(&out), "oops\n");
    // attach ends once the container has: it can go at once
    assert_eq!(k.ok(&["rm", "at-in"]), "at-in\n");
}

fn child_output(child: Child) -> std::process::Output {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    rx.recv_timeout(LIMIT)
        .expect("attach did not end within 30 s")
        .unwrap()
}

/// Each client is listed before its own input is read, and the container answers only after
/// reading both: so both see the answer and the exit code.
#[test]
fn two_clients_see_the_same_output() {
    require_containers!();
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["at-two"]);
    k.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "at-two",
        img,
        "sh",
        "-c",
        "read x; read y; echo \"both $x$y\"; exit 3",
    ]);
    let mut clients: Vec<Child> = (0..2).map(|_| spawn(&k, &["attach", "at-two"])).collect();
    for (c, line) in clients.iter_mut().zip(["1\n", "2\n"]) {
        c.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
    }
    for c in clients {
        let out = child_output(c);
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        let s = stdout(&out);
        assert!(s == "both 12\n" || s == "both 21\n", "{s:?}");
    }
}

#[test]
fn detach_keys_leave_the_container_running() {
    require_containers!();
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["at-cat"]);
    k.ok(&["run", "-d", "-i", "--name", "at-cat", img, "cat"]);

    // docker's ctrl-p ctrl-q, typed after the container echoed a line
    let mut child = spawn(&k, &["attach", "at-cat"]);
    let mut input = child.stdin.take().unwrap();
    let mut out = Output::of(child.stdout.take().unwrap());
    input.write_all(b"one\n").unwrap();
    out.wait_for("one\n");
    input.write_all(&[0x10, 0x11]).unwrap();
    let (c, err) = finish(child);
    assert_eq!((c, err.as_str()), (0, "read escape sequence\n"));
    assert_eq!(k.field("at-cat", "{{.State.Status}}"), "running");

    // the user's own keys; docker's are then plain input
    let mut child = spawn(&k, &["attach", "--detach-keys", "ctrl-x,q", "at-cat"]);
    let mut input = child.stdin.take().unwrap();
    let mut out = Output::of(child.stdout.take().unwrap());
    input.write_all(b"two\x10\n").unwrap();
    out.wait_for("two\x10\n");
    input.write_all(b"\x18q").unwrap();
    let (c, err) = finish(child);
    assert_eq!((c, err.as_str()), (0, "read escape sequence\n"));
    assert_eq!(k.field("at-cat", "{{.State.Status}}"), "running");
    let logs = k.ok(&["logs", "at-cat"]);
    assert_eq!(logs, "one\ntwo\x10\n");
}

/// A `-it` container through a real terminal (`script` makes one): the container sees the
/// client's window size, takes its keys and its exit code comes back.
#[test]
fn a_terminal_container_gets_the_window_size_and_the_keys() {
    require_containers!();
    require!(common::have("script"), "needs script (util-linux)");
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["at-tty"]);
    k.ok(&["run", "-d", "-i", "-t", "--name", "at-tty", img, "sh"]);
    let bin = assert_cmd::cargo::cargo_bin("kasane");
    let inner = format!(
        "stty rows 31 cols 97; exec {} --root {} attach at-tty",
        bin.display(),
        k.root.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .envs(k.env.iter().map(|(a, b)| (a, b)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut out = Output::of(child.stdout.take().unwrap());
    input.write_all(b"stty size\n").unwrap();
    out.wait_for("31 97");
    input.write_all(b"exit 5\n").unwrap();
    let (c, err) = finish(child);
    assert_eq!(c, 5, "{err}");
    assert_eq!(k.field("at-tty", "{{.State.ExitCode}}"), "5");
}

#[test]
fn attaching_to_a_container_that_does_not_run_is_refused() {
    require_containers!();
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["at-made"]);
    k.ok(&["create", "--name", "at-made", img, "true"]);
    let out = output_within(k.std_cmd(&["attach", "at-made"]), LIMIT);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        "Error response from daemon: You cannot attach to a stopped container, start it first\n"
    );
    let out = output_within(k.std_cmd(&["attach", "at-none"]), LIMIT);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("No such container: at-none"),
        "{}",
        stderr(&out)
    );
    let (c, err) = k.fail(&["attach", "--detach-keys", "ctrl-1", "at-made"]);
    assert_ne!(c, 0);
    assert!(err.contains("invalid detach keys (\"ctrl-1\")"), "{err}");
}

/// `start -a -i` of a container that already runs attaches to it, as docker's does.
#[test]
fn start_attach_of_a_running_container_attaches() {
    require_containers!();
    let k = Kasane::new();
    let img = k.load_busybox();
    let _c = Cleanup::new(&k, &["at-start"]);
    k.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "at-start",
        img,
        "sh",
        "-c",
        "read l; echo \"got $l\"; exit 6",
    ]);
    let mut child = spawn(&k, &["start", "-a", "-i", "at-start"]);
    child.stdin.take().unwrap().write_all(b"again\n").unwrap();
    let out = child_output(child);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert_eq!(stdout(&out), "got again\n");
}
