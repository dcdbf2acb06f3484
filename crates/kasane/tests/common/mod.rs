//! Shared helpers for the end-to-end tests: each test drives the real `kasane` binary
//! against its own state root in a temp dir.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// A state root of its own and the binary to drive.
pub struct Kasane {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub driver: Option<&'static str>,
    /// Extra environment for every command (on top of the isolated defaults).
    pub env: Vec<(String, String)>,
}

impl Kasane {
    /// A fresh state root (default snapshotter).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        // Registry configuration of its own: never the user's logins, mirrors or CAs.
        let envdir = dir.path().join("env");
        let home = envdir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let conf = envdir.join("registries.toml");
        std::fs::write(&conf, "").unwrap();
        let env = vec![
            ("HOME".to_owned(), home.display().to_string()),
            (
                "DOCKER_CONFIG".to_owned(),
                envdir.join("docker").display().to_string(),
            ),
            (
                "REGISTRY_AUTH_FILE".to_owned(),
                envdir.join("auth.json").display().to_string(),
            ),
            ("XDG_RUNTIME_DIR".to_owned(), home.display().to_string()),
            ("XDG_CONFIG_HOME".to_owned(), home.display().to_string()),
            (
                "KASANE_REGISTRIES_CONF".to_owned(),
                conf.display().to_string(),
            ),
            (
                "KASANE_CERTS_DIRS".to_owned(),
                envdir.join("certs.d").display().to_string(),
            ),
        ];
        Kasane {
            dir,
            root,
            driver: None,
            env,
        }
    }

    /// Sets an environment variable for every later command.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// The registries.toml this state root uses (empty at first).
    pub fn registries_conf(&self) -> PathBuf {
        self.dir.path().join("env").join("registries.toml")
    }

    /// The certs.d base directory this state root uses.
    pub fn certs_d(&self) -> PathBuf {
        self.dir.path().join("env").join("certs.d")
    }

    /// The docker config.json this state root uses.
    pub fn docker_config(&self) -> PathBuf {
        self.dir
            .path()
            .join("env")
            .join("docker")
            .join("config.json")
    }

    /// A fresh state root with the given snapshotter (`overlay` or `native`).
    pub fn with_driver(driver: &'static str) -> Self {
        let mut k = Kasane::new();
        k.driver = Some(driver);
        k
    }

    /// A path inside the test's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command, with `--root` set.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("kasane").unwrap();
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c.arg("--root").arg(&self.root);
        if let Some(d) = self.driver {
            c.arg("--storage-driver").arg(d);
        }
        c.args(args);
        c
    }

    /// The same command as a `std::process::Command` (to spawn and kill).
    pub fn std_cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("kasane"));
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c.arg("--root").arg(&self.root);
        if let Some(d) = self.driver {
            c.arg("--storage-driver").arg(d);
        }
        c.args(args);
        c
    }

    /// Runs and returns the output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kasane {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs, asserts failure, returns (exit code, stderr).
    pub fn fail(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kasane {args:?} succeeded but should fail:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// `system check` reports no corruption; returns its output.
    pub fn check_clean(&self) -> String {
        let out = self.ok(&["system", "check"]);
        assert!(
            out.contains(" 0 errors"),
            "system check found errors:\n{out}"
        );
        out
    }

    /// The on-disk snapshot directory of an image's top layer (native: the whole rootfs).
    pub fn top_dir(&self, image: &str) -> PathBuf {
        let out = self.ok(&["inspect", "--format", "{{json .GraphDriver.Data}}", image]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let dir = v
            .get("Dir")
            .or_else(|| v.get("UpperDir"))
            .and_then(|d| d.as_str())
            .unwrap();
        PathBuf::from(dir)
    }

    /// Every file under the state root's blob and snapshot trees (for "nothing stays").
    pub fn store_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["blobs", "snapshots", "ingest"] {
            let base = self.root.join(sub);
            if !base.exists() {
                continue;
            }
            for e in walkdir(&base) {
                out.push(e.strip_prefix(&self.root).unwrap().display().to_string());
            }
        }
        out.sort();
        out
    }
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Whether the tests run as root (overlay whiteouts, owners and devices need it).
pub fn is_root() -> bool {
    rustix_is_root()
}

fn rustix_is_root() -> bool {
    // SAFETY-free: read the effective uid from /proc rather than linking libc here.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Skips the test (returns from it) with a printed reason unless the condition holds.
#[macro_export]
macro_rules! require {
    ($cond:expr, $why:expr) => {
        if !$cond {
            eprintln!("SKIP: {}", $why);
            return;
        }
    };
}

/// The table rows of a tabular output, split on runs of 3+ spaces (docker pads cells by 3).
pub fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Containers: images to run, cleanup, polling, HTTP, processes and mounts.
// ---------------------------------------------------------------------------------------------

/// How long a container-side condition may take (a start, an exit, a log line, a listener).
pub const CONTAINER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// How long [`http_get`] waits for a published port to serve.
pub const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Kasane {
    /// Writes `image` as a `docker save` archive tagged `tag` and `load`s it.
    pub fn load_image(&self, tag: &str, image: &kasane_testsupport::Image) {
        let file: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = self.path(&format!("{file}.tar"));
        kasane_testsupport::busybox::write_archive(&path, tag, image).unwrap();
        let out = self.ok(&["load", "-i", path.to_str().unwrap()]);
        assert!(out.contains(&format!("Loaded image: {tag}")), "{out}");
    }

    /// Loads the busybox test image as `busybox:latest`; returns `"busybox"`.
    pub fn load_busybox(&self) -> &'static str {
        self.load_image(
            "busybox:latest",
            &kasane_testsupport::busybox::busybox_image(),
        );
        "busybox"
    }

    /// Loads the nginx-like test image as `nginx:latest`; returns `"nginx"`.
    pub fn load_nginx(&self) -> &'static str {
        self.load_image(
            "nginx:latest",
            &kasane_testsupport::busybox::nginx_like_image(),
        );
        "nginx"
    }

    /// `inspect C` parsed: the first (only) object of the array.
    pub fn inspect_json(&self, name: &str) -> serde_json::Value {
        let out = self.ok(&["inspect", name]);
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("inspect {name} is not JSON ({e}):\n{out}"));
        let arr = v
            .as_array()
            .unwrap_or_else(|| panic!("not an array:\n{out}"));
        assert_eq!(arr.len(), 1, "{out}");
        arr[0].clone()
    }

    /// `inspect --format TEMPLATE C`, trimmed.
    pub fn field(&self, name: &str, template: &str) -> String {
        self.ok(&["inspect", "--format", template, name])
            .trim()
            .to_owned()
    }

    /// Polls `.State.Status` until it equals `status` (panics after [`CONTAINER_TIMEOUT`]).
    pub fn wait_status(&self, name: &str, status: &str) {
        let mut last = String::new();
        let ok = poll(CONTAINER_TIMEOUT, || {
            let out = self.run(&["inspect", "--format", "{{.State.Status}}", name]);
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            out.status.success() && last.trim() == status
        });
        assert!(ok, "container {name} never became {status:?}; last: {last}");
    }

    /// Polls until `logs C` (stdout and stderr) contains `needle`; returns the stdout.
    pub fn wait_logs(&self, name: &str, needle: &str) -> String {
        let mut last = String::new();
        let ok = poll(CONTAINER_TIMEOUT, || {
            let out = self.run(&["logs", name]);
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            last.contains(needle)
        });
        assert!(ok, "logs of {name} never showed {needle:?}; last:\n{last}");
        last
    }

    /// `.State.Pid` of a running container.
    pub fn pid(&self, name: &str) -> i32 {
        let pid: i32 = self.field(name, "{{.State.Pid}}").parse().unwrap();
        assert!(pid > 0, "{name} has no pid");
        pid
    }

    /// `ps -a -q --no-trunc`: every container id of this state root.
    pub fn all_container_ids(&self) -> Vec<String> {
        let out = self.std_cmd(&["ps", "-a", "-q", "--no-trunc"]).output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Removes containers when dropped, even when the test panicked: `rm -f` of every name it
/// was given and then of every container `ps -a` still lists; then, as a last resort, kills
/// kasane processes still naming this state root and lazily unmounts what is left under
/// the test's temp dir, so the temp dir can go.
pub struct Cleanup<'a> {
    k: &'a Kasane,
    names: Vec<String>,
}

impl<'a> Cleanup<'a> {
    /// Guards the given container names (more can be added with [`Cleanup::add`]).
    pub fn new(k: &'a Kasane, names: &[&str]) -> Self {
        Cleanup {
            k,
            names: names.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Guards one more container.
    pub fn add(&mut self, name: &str) {
        self.names.push(name.to_owned());
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let rm = |name: &str| {
            let _ = self
                .k
                .std_cmd(&["rm", "-f", name])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        };
        for n in &self.names {
            rm(n);
        }
        for id in self.k.all_container_ids() {
            rm(&id);
        }
        let root = self.k.root.display().to_string();
        for (pid, _) in procs_mentioning(&root) {
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
        let mut mounts = mounts_under(self.k.dir.path());
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = rustix::mount::unmount(m.as_str(), rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// Calls `f` every 50 ms until it returns true or `timeout` passes; returns the last result.
pub fn poll(timeout: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A full 64-digit lowercase hex container/image id.
pub fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The exit code (or -1 when killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One HTTP/1.0 `GET path` to 127.0.0.1:`port`: (status, body).
pub fn try_http(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
    s.set_write_timeout(Some(std::time::Duration::from_secs(3)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kasane-tests\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}

/// `GET path` until it answers at all (a port proxy may accept before the server listens),
/// for up to [`HTTP_TIMEOUT`]: (status, body).
pub fn http_get_path(port: u16, path: &str) -> (u16, String) {
    let end = std::time::Instant::now() + HTTP_TIMEOUT;
    loop {
        match try_http(port, path) {
            Ok(r) => return r,
            Err(e) if std::time::Instant::now() >= end => {
                panic!("GET http://127.0.0.1:{port}{path} never answered: {e}")
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

/// The body of `GET /` on 127.0.0.1:`port`, retrying for up to [`HTTP_TIMEOUT`] until the
/// server answers 200.
pub fn http_get(port: u16) -> String {
    let end = std::time::Instant::now() + HTTP_TIMEOUT;
    loop {
        let r = try_http(port, "/");
        match r {
            Ok((200, body)) => return body,
            _ if std::time::Instant::now() >= end => {
                panic!("GET http://127.0.0.1:{port}/ never answered 200: {r:?}")
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

/// Runs `cmd` to completion with piped stdout/stderr (stdin null); panics (after killing
/// it) if it takes longer than `timeout`.
pub fn output_within(mut cmd: std::process::Command, timeout: std::time::Duration) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let end = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            let out = t_out.join().unwrap_or_default();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; stdout so far:\n{}",
                String::from_utf8_lossy(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Processes (pid, cmdline with spaces) whose command line contains `needle`, except this
/// test process.
pub fn procs_mentioning(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            out.push((pid, cmdline.trim_end().to_owned()));
        }
    }
    out
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            // state is the field after the parenthesised comm
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|st| st != "Z" && st != "X")
        })
        .unwrap_or(false)
}

/// `PPid` of a process, from `/proc/<pid>/status`.
pub fn ppid(pid: i32) -> i32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Mount points (from `/proc/self/mountinfo`, octal escapes decoded) at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|m| m == &dir || m.starts_with(&format!("{dir}/")))
        .collect()
}

fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let n = u8::from_str_radix(&s[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lines of `ps -a --format '{{.Names}} {{.Status}}'` as (name, status).
pub fn ps_statuses(k: &Kasane) -> Vec<(String, String)> {
    k.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, s)| (n.to_owned(), s.to_owned()))
        .collect()
}

/// The status `ps -a` shows for one container name.
pub fn ps_status(k: &Kasane, name: &str) -> Option<String> {
    ps_statuses(k)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s)
}
