//! The [`Runtime`] trait: the low-level create/start/kill/delete/exec of one container from an
//! OCI bundle, and [`OciCli`], which drives any runtime that speaks the `runc` command line:
//! `crun`, `runc`, or kasane's own embedded youki (`kasane runtime …`, see [`crate::embedded`]).
//!
//! Why a command line for the embedded runtime too: youki's `libcontainer` forks the calling
//! process and is only safe in a single-threaded one. A short-lived `kasane runtime` process
//! is single-threaded by construction, and all three runtimes then pass through one code path
//! and one test suite. Two shortcuts keep the embedded runtime fast (each exec of the kasane
//! binary costs milliseconds): `start`, `state`, `kill` and `delete`, which never fork, run
//! in this process; `create` forks this process instead of executing a new one when this
//! process has a single thread.
//!
//! Stdio: `create` hands its own stdin/stdout/stderr to the container's process (runc's
//! "pass-through" mode), so the caller gives the pipes it wants the container to write to;
//! the runtime's own messages go to a log file (`--log`), read back for errors.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crate::embedded;

/// What went wrong in a runtime call; the message carries the runtime's own words.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime binary could not be started.
    #[error("starting OCI runtime {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime ran and failed.
    #[error("OCI runtime {op} failed: {message}")]
    Failed {
        /// `create`, `start`, `kill`, …
        op: &'static str,
        /// The runtime's error text (its log, else its stderr), or its exit status.
        message: String,
    },
    /// `state` printed something that is not an OCI state.
    #[error("OCI runtime state of {id}: {reason}")]
    BadState {
        /// The container.
        id: String,
        /// What was wrong.
        reason: String,
    },
    /// The runtime name given to `--runtime` is neither built in nor on `PATH`.
    #[error("unknown runtime {0:?}: not \"kasane\", \"crun\", \"runc\" or an executable path")]
    Unknown(String),
    /// Host I/O around the call (log file, pid file).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl RuntimeError {
    /// Docker's `run` exit code for this failure: 127 when the command does not exist, 126
    /// when it cannot be invoked, else 125.
    pub fn exit_code(&self) -> i32 {
        let text = self.to_string();
        exit_code_for_message(&text)
    }
}

/// The message of an error and of every error below it, joined by `: ` (a source whose text
/// the message already contains is skipped).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        src = s.source();
    }
    msg
}

/// Docker's classification of a start error by its text (`cli/command/container/run.go`).
pub fn exit_code_for_message(text: &str) -> i32 {
    let t = text.to_ascii_lowercase();
    if t.contains("executable file not found")
        || t.contains("no such file or directory")
        || t.contains("not found in $path")
    {
        127
    } else if t.contains("permission denied")
        || t.contains("is a directory")
        || t.contains("does not have correct permissions")
    {
        126
    } else {
        125
    }
}

/// The status of a container as the runtime sees it (`runc state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeStatus {
    /// Being created.
    Creating,
    /// Created, its process waits for `start`.
    Created,
    /// Its process runs.
    Running,
    /// Paused (frozen).
    Paused,
    /// Its process has exited.
    Stopped,
}

/// `runc state` output, the fields kasane uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeState {
    /// Container status.
    pub status: RuntimeStatus,
    /// Host pid of the container's init (0 once stopped).
    pub pid: i32,
}

/// Where one standard stream of a new process comes from or goes to.
#[derive(Debug)]
pub enum StdioSource {
    /// This process's own stream.
    Inherit,
    /// This descriptor (a pipe end, a file).
    Fd(OwnedFd),
}

impl From<StdioSource> for Stdio {
    fn from(s: StdioSource) -> Stdio {
        match s {
            StdioSource::Inherit => Stdio::inherit(),
            StdioSource::Fd(fd) => Stdio::from(fd),
        }
    }
}

/// The stdio a new process gets.
#[derive(Debug, Default)]
pub struct ProcessIo {
    /// Standard input (`None`: `/dev/null`).
    pub stdin: Option<StdioSource>,
    /// Standard output (`None`: `/dev/null`).
    pub stdout: Option<StdioSource>,
    /// Standard error (`None`: `/dev/null`).
    pub stderr: Option<StdioSource>,
    /// With a terminal: the unix socket the runtime sends the pty master to.
    pub console_socket: Option<PathBuf>,
}

/// A `create` call.
#[derive(Debug)]
pub struct CreateRequest<'a> {
    /// Container id (runtime-unique).
    pub id: &'a str,
    /// Bundle directory holding `config.json`.
    pub bundle: &'a Path,
    /// Where the runtime writes the init's host pid.
    pub pid_file: &'a Path,
    /// The container's stdio.
    pub io: ProcessIo,
}

/// An `exec` call: a new process in a running container.
#[derive(Debug)]
pub struct ExecRequest<'a> {
    /// Container id.
    pub id: &'a str,
    /// A `process.json` (OCI `process` object) describing the new process.
    pub process: &'a Path,
    /// Return once started instead of waiting for the exit.
    pub detach: bool,
    /// Give the process a terminal. Without a console socket the runtime creates the pty
    /// and relays it to the stdio given here (which should be the user's terminal).
    pub tty: bool,
    /// Where the runtime writes the new process's host pid.
    pub pid_file: Option<&'a Path>,
    /// Its stdio.
    pub io: ProcessIo,
}

/// The low-level operations on one container, keyed by id, given an OCI bundle.
///
/// Implementations must be callable from a multi-threaded process (the embedded youki's
/// `create` forks only a single-threaded caller, and otherwise runs as `kasane runtime`).
pub trait Runtime: Send + Sync {
    /// Short name for messages and `inspect` (`kasane`, `crun`, `runc`, or the path).
    fn name(&self) -> &str;
    /// Creates the container: namespaces, mounts, cgroup; its process waits for `start`.
    fn create(&self, req: CreateRequest<'_>) -> Result<(), RuntimeError>;
    /// Lets the created container's process run its command.
    fn start(&self, id: &str) -> Result<(), RuntimeError>;
    /// The runtime's view of the container; `None` if it does not know the id.
    fn state(&self, id: &str) -> Result<Option<RuntimeState>, RuntimeError>;
    /// Sends `signal` (a number) to the init, or to every process with `all`.
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError>;
    /// Forgets the container (cgroup and state); `force` kills it first if it still runs.
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
    /// Freezes every process of the container (the cgroup freezer).
    fn pause(&self, id: &str) -> Result<(), RuntimeError>;
    /// Thaws a paused container.
    fn resume(&self, id: &str) -> Result<(), RuntimeError>;
    /// Runs a new process in the container and, unless detached, waits for its exit.
    fn exec(&self, req: ExecRequest<'_>) -> Result<ExitStatus, RuntimeError>;
}

/// Which runtime `--runtime` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// kasane's embedded youki (the default).
    Embedded,
    /// An external runtime binary with runc's command line.
    External(PathBuf),
}

impl RuntimeChoice {
    /// Resolves `--runtime NAME|PATH`: empty or `kasane`/`youki` is the embedded runtime;
    /// a path is used as is; a name is looked up on `PATH`.
    pub fn resolve(name: &str) -> Result<RuntimeChoice, RuntimeError> {
        if name.is_empty() || name == "kasane" || name == "youki" {
            return Ok(RuntimeChoice::Embedded);
        }
        if name.contains('/') {
            let p = PathBuf::from(name);
            return if p.is_file() {
                Ok(RuntimeChoice::External(p))
            } else {
                Err(RuntimeError::Unknown(name.to_owned()))
            };
        }
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .map(RuntimeChoice::External)
            .ok_or_else(|| RuntimeError::Unknown(name.to_owned()))
    }

    /// The name recorded for the container (`kasane` for the embedded runtime).
    pub fn name(&self) -> String {
        match self {
            RuntimeChoice::Embedded => "kasane".to_owned(),
            RuntimeChoice::External(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
        }
    }
}

/// A runtime driven through runc's command line.
#[derive(Debug, Clone)]
pub struct OciCli {
    name: String,
    /// kasane's embedded youki: calls may run in this process (see the module docs).
    embedded: bool,
    program: PathBuf,
    /// Arguments before the global options (`["runtime"]` for the embedded one).
    prefix: Vec<OsString>,
    /// The runtime's state directory (`--root`).
    root: PathBuf,
    /// Where the runtime logs its errors (`--log`).
    log: PathBuf,
}

impl OciCli {
    /// Whether the runtime has state for container `id` (its directory under `--root`; the
    /// same layout for crun, runc and youki). Cheaper than a `state` call when the answer
    /// is usually "no".
    pub fn has_state(&self, id: &str) -> bool {
        self.root.join(id).exists()
    }

    /// The runtime `choice`, keeping its state under `state_root` (one directory per runtime
    /// name) and logging to `log`. `self_exe` is the kasane binary, for the embedded runtime.
    pub fn new(choice: &RuntimeChoice, self_exe: &Path, state_root: &Path, log: &Path) -> OciCli {
        let name = choice.name();
        let (program, prefix) = match choice {
            RuntimeChoice::Embedded => (self_exe.to_path_buf(), vec![OsString::from("runtime")]),
            RuntimeChoice::External(p) => (p.clone(), Vec::new()),
        };
        OciCli {
            root: state_root.join(&name),
            embedded: *choice == RuntimeChoice::Embedded,
            name,
            program,
            prefix,
            log: log.to_path_buf(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.prefix)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json");
        c
    }

    /// Runs a command that does not touch the container's stdio, capturing its errors.
    fn run(&self, op: &'static str, mut cmd: Command) -> Result<Vec<u8>, RuntimeError> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = self.log_len();
        let out = cmd.output().map_err(|source| RuntimeError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(self.failure(op, start, &out.stderr, out.status))
    }

    /// Runs a command whose stdio the caller set up, waiting for it.
    fn spawn_wait(&self, mut cmd: Command) -> Result<ExitStatus, RuntimeError> {
        cmd.spawn()
            .and_then(|mut c| c.wait())
            .map_err(|source| RuntimeError::Spawn {
                program: self.program.clone(),
                source,
            })
    }

    fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    /// The error for a failed call: the error lines the runtime logged since `start`, else
    /// its stderr, else its exit status.
    fn failure(
        &self,
        op: &'static str,
        start: u64,
        stderr: &[u8],
        status: ExitStatus,
    ) -> RuntimeError {
        let logged = read_log_errors(&self.log, start);
        let message = if !logged.is_empty() {
            logged
        } else {
            let e = String::from_utf8_lossy(stderr).trim().to_owned();
            if e.is_empty() {
                format!("{} exited with {status}", self.name)
            } else {
                e
            }
        };
        let message = match hybrid_cgroup_hint(&message) {
            Some(hint) => format!("{message}: {hint}"),
            None => message,
        };
        RuntimeError::Failed { op, message }
    }

    fn apply_io(cmd: &mut Command, io: ProcessIo) {
        let stdio = |s: Option<StdioSource>| s.map(Stdio::from).unwrap_or_else(Stdio::null);
        cmd.stdin(stdio(io.stdin))
            .stdout(stdio(io.stdout))
            .stderr(stdio(io.stderr));
        if let Some(sock) = io.console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
    }

    /// The embedded runtime's `create` in a fork of this (single-threaded) process: the
    /// child takes the container's stdio as its own, creates, and reports errors to the log
    /// as `kasane runtime create` would.
    fn create_forked(&self, req: CreateRequest<'_>) -> Result<(), RuntimeError> {
        let start = self.log_len();
        let CreateRequest {
            id,
            bundle,
            pid_file,
            io,
        } = req;
        let (root, log) = (&self.root, &self.log);
        let child = move || {
            let ProcessIo {
                stdin,
                stdout,
                stderr,
                console_socket,
            } = io;
            if let Err(e) = crate::sys::take_as_stdio([stdin, stdout, stderr])
                .and_then(|()| crate::sys::close_inherited_fds())
            {
                embedded::log_error(log, &format!("setting up the container's stdio: {e}"));
                return 1;
            }
            let created = embedded::quiet(|| {
                embedded::create(root, id, bundle, Some(pid_file), console_socket.as_deref())
            });
            match created {
                Ok(()) => 0,
                Err(msg) => {
                    embedded::log_error(log, &embedded::docker_wording(&msg));
                    1
                }
            }
        };
        let spawn_error = |source| RuntimeError::Spawn {
            program: self.program.clone(),
            source,
        };
        let pid = crate::sys::fork_single_threaded(child).map_err(spawn_error)?;
        let status = crate::sys::wait_child(pid).map_err(spawn_error)?;
        if status.success() {
            Ok(())
        } else {
            Err(self.failure("create", start, b"", status))
        }
    }

    /// The result of an in-process call of the embedded runtime as a [`RuntimeError`].
    fn embedded_call<T>(
        &self,
        op: &'static str,
        call: impl FnOnce() -> Result<T, String>,
    ) -> Result<T, RuntimeError> {
        embedded::quiet(call).map_err(|msg| RuntimeError::Failed {
            op,
            message: embedded::docker_wording(&msg),
        })
    }
}

/// What to do when a runtime (crun) refuses a hybrid cgroup host: cgroup v1 in use while the
/// v2 hierarchy at `/sys/fs/cgroup/unified` still holds controllers.
fn hybrid_cgroup_hint(message: &str) -> Option<String> {
    if !message.contains("hybrid mode") {
        return None;
    }
    let controllers =
        std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").unwrap_or_default();
    let controllers: Vec<&str> = controllers.split_whitespace().collect();
    let mounts = controllers
        .iter()
        .map(|c| {
            format!(
                "mkdir -p /sys/fs/cgroup/{c} && mount -t cgroup -o {c} cgroup /sys/fs/cgroup/{c}"
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(format!(
        "this host mixes cgroup v1 with a cgroup v2 hierarchy that still has controllers ({}); \
         mount them as v1 hierarchies ({mounts}), or use kasane's embedded runtime or runc",
        controllers.join(", ")
    ))
}

/// The `msg` of every error-level entry of a runtime's JSON log after byte `start`, one per
/// line; plain-text lines are taken as they are.
fn read_log_errors(log: &Path, start: u64) -> String {
    let Ok(mut f) = std::fs::File::open(log) else {
        return String::new();
    };
    let mut buf = Vec::new();
    if std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start)).is_err()
        || f.take(1 << 20).read_to_end(&mut buf).is_err()
    {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let mut msgs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => {
                let level = v.get("level").and_then(|l| l.as_str()).unwrap_or("error");
                if matches!(level, "error" | "fatal" | "panic")
                    && let Some(m) = v.get("msg").and_then(|m| m.as_str())
                {
                    msgs.push(m.trim().to_owned());
                }
            }
            Err(_) => msgs.push(line.to_owned()),
        }
    }
    msgs.join("; ")
}

impl Runtime for OciCli {
    fn name(&self) -> &str {
        &self.name
    }

    fn create(&self, req: CreateRequest<'_>) -> Result<(), RuntimeError> {
        if self.embedded && crate::sys::single_threaded() {
            return self.create_forked(req);
        }
        let mut cmd = self.command();
        cmd.arg("create")
            .arg("--bundle")
            .arg(req.bundle)
            .arg("--pid-file")
            .arg(req.pid_file);
        Self::apply_io(&mut cmd, req.io);
        cmd.arg(req.id);
        let start = self.log_len();
        let status = self.spawn_wait(cmd)?;
        if status.success() {
            Ok(())
        } else {
            Err(self.failure("create", start, b"", status))
        }
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        if self.embedded {
            return self.embedded_call("start", || embedded::start(&self.root, id));
        }
        let mut cmd = self.command();
        cmd.arg("start").arg(id);
        self.run("start", cmd).map(drop)
    }

    fn state(&self, id: &str) -> Result<Option<RuntimeState>, RuntimeError> {
        if self.embedded {
            if !self.has_state(id) {
                return Ok(None);
            }
            let (word, pid, _) = self.embedded_call("state", || embedded::state(&self.root, id))?;
            let status = status_from_word(word).ok_or_else(|| RuntimeError::BadState {
                id: id.to_owned(),
                reason: format!("unknown status {word:?}"),
            })?;
            return Ok(Some(RuntimeState { status, pid }));
        }
        let mut cmd = self.command();
        cmd.arg("state").arg(id);
        let out = match self.run("state", cmd) {
            Ok(out) => out,
            Err(RuntimeError::Failed { message, .. })
                if message.contains("does not exist")
                    || message.contains("not exist")
                    || message.contains("No such file") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        parse_state(id, &out).map(Some)
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        if self.embedded {
            return self.embedded_call("kill", || {
                let signal =
                    libcontainer::signal::Signal::try_from(signal).map_err(|e| error_chain(&e))?;
                embedded::kill(&self.root, id, signal, all)
            });
        }
        let mut cmd = self.command();
        cmd.arg("kill");
        if all {
            cmd.arg("--all");
        }
        cmd.arg(id).arg(signal.to_string());
        self.run("kill", cmd).map(drop)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        if self.embedded {
            return self.embedded_call("delete", || embedded::delete(&self.root, id, force));
        }
        let mut cmd = self.command();
        cmd.arg("delete");
        if force {
            cmd.arg("--force");
        }
        cmd.arg(id);
        self.run("delete", cmd).map(drop)
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        if self.embedded {
            return self.embedded_call("pause", || embedded::pause(&self.root, id));
        }
        let mut cmd = self.command();
        cmd.arg("pause").arg(id);
        self.run("pause", cmd).map(drop)
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        if self.embedded {
            return self.embedded_call("resume", || embedded::resume(&self.root, id));
        }
        let mut cmd = self.command();
        cmd.arg("resume").arg(id);
        self.run("resume", cmd).map(drop)
    }

    fn exec(&self, req: ExecRequest<'_>) -> Result<ExitStatus, RuntimeError> {
        let mut cmd = self.command();
        cmd.arg("exec").arg("--process").arg(req.process);
        if req.tty || req.io.console_socket.is_some() {
            cmd.arg("--tty");
        }
        if req.detach {
            cmd.arg("--detach");
        }
        if let Some(p) = req.pid_file {
            cmd.arg("--pid-file").arg(p);
        }
        Self::apply_io(&mut cmd, req.io);
        cmd.arg(req.id);
        let start = self.log_len();
        let status = self.spawn_wait(cmd)?;
        // A runtime that failed to exec logs an error; a command that ran and failed did not.
        if !status.success() {
            let logged = read_log_errors(&self.log, start);
            if !logged.is_empty() {
                return Err(RuntimeError::Failed {
                    op: "exec",
                    message: logged,
                });
            }
        }
        Ok(status)
    }
}

/// The status a runtime's `state` names with `word`.
fn status_from_word(word: &str) -> Option<RuntimeStatus> {
    Some(match word {
        "creating" => RuntimeStatus::Creating,
        "created" => RuntimeStatus::Created,
        "running" => RuntimeStatus::Running,
        "paused" => RuntimeStatus::Paused,
        "stopped" => RuntimeStatus::Stopped,
        _ => return None,
    })
}

/// Parses `runc state` JSON.
pub fn parse_state(id: &str, out: &[u8]) -> Result<RuntimeState, RuntimeError> {
    let bad = |reason: String| RuntimeError::BadState {
        id: id.to_owned(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_slice(out).map_err(|e| bad(e.to_string()))?;
    let word = v.get("status").and_then(|s| s.as_str());
    let Some(status) = word.and_then(status_from_word) else {
        return Err(bad(format!("unknown status {word:?}")));
    };
    let pid = v
        .get("pid")
        .and_then(|p| p.as_i64())
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0);
    Ok(RuntimeState { status, pid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_docker() {
        assert_eq!(
            exit_code_for_message("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            exit_code_for_message("open /x: No such file or directory"),
            127
        );
        assert_eq!(exit_code_for_message("exec /etc: permission denied"), 126);
        assert_eq!(exit_code_for_message("cgroup: something else"), 125);
    }

    #[test]
    fn state_parses_runc_and_crun_output() {
        let s = parse_state(
            "c",
            br#"{"ociVersion":"1.0.2","id":"c","pid":42,"status":"running","bundle":"/b"}"#,
        )
        .unwrap();
        assert_eq!(
            s,
            RuntimeState {
                status: RuntimeStatus::Running,
                pid: 42
            }
        );
        let s = parse_state("c", br#"{"id":"c","status":"stopped"}"#).unwrap();
        assert_eq!(s.status, RuntimeStatus::Stopped);
        assert!(parse_state("c", b"{}").is_err());
        assert!(parse_state("c", b"nope").is_err());
    }

    #[test]
    fn log_errors_are_read_from_json_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(
            &log,
            "{\"level\":\"info\",\"msg\":\"hi\"}\n{\"level\":\"error\",\"msg\":\"boom\"}\nplain failure\n",
        )
        .unwrap();
        assert_eq!(read_log_errors(&log, 0), "boom; plain failure");
        let len = std::fs::metadata(&log).unwrap().len();
        assert_eq!(read_log_errors(&log, len), "");
    }

    #[test]
    fn choice_resolves_names() {
        assert_eq!(RuntimeChoice::resolve("").unwrap(), RuntimeChoice::Embedded);
        assert_eq!(
            RuntimeChoice::resolve("kasane").unwrap(),
            RuntimeChoice::Embedded
        );
        assert!(RuntimeChoice::resolve("no-such-runtime-xyz").is_err());
        assert!(RuntimeChoice::resolve("/no/such/path").is_err());
        assert_eq!(
            RuntimeChoice::External("/usr/bin/crun".into()).name(),
            "crun"
        );
    }
}
