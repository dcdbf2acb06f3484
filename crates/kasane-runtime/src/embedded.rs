//! The embedded OCI runtime: youki's `libcontainer` behind runc's command line, run as
//! `kasane runtime [--root D] [--log F] [--log-format json] <create|start|state|kill|delete|exec> …`.
//!
//! libcontainer forks and clones the calling process, which is only sound while that
//! process has one thread. [`main`] must therefore be called by the `kasane` binary before
//! it starts any thread (no async runtime, no worker pools): the binary dispatches
//! `kasane runtime …` first thing in `main`. Everything else in kasane reaches this runtime
//! through [`crate::OciCli`], like `crun` and `runc`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

/// Where runtime state lives when `--root` is not given.
const DEFAULT_ROOT: &str = "/run/kasane/runtime";

#[derive(Debug, Default)]
struct Globals {
    root: Option<PathBuf>,
    log: Option<PathBuf>,
}

/// Runs one `kasane runtime` command line (`args` without the program name and without the
/// word `runtime`) and returns the process exit code. Errors are written to `--log` as JSON
/// lines (`{"level":"error","msg":…}`) and to stderr.
pub fn main(args: Vec<OsString>) -> i32 {
    let mut globals = Globals::default();
    let mut args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    let mut rest = Vec::new();
    let mut command = None;
    while let Some(a) = args.next() {
        if command.is_some() {
            rest.push(a);
            continue;
        }
        match a.as_str() {
            "--root" => globals.root = args.next().map(PathBuf::from),
            "--log" => globals.log = args.next().map(PathBuf::from),
            "--log-format" => {
                args.next();
            }
            "--systemd-cgroup" | "--debug" => {}
            _ if a.starts_with("--root=") => globals.root = Some(PathBuf::from(&a[7..])),
            _ if a.starts_with("--log=") => globals.log = Some(PathBuf::from(&a[6..])),
            _ if a.starts_with("--log-format=") => {}
            _ => command = Some(a),
        }
    }
    let result = match command.as_deref() {
        Some(cmd) => run(cmd, &globals, rest),
        None => Err("usage: kasane runtime [--root DIR] [--log FILE] COMMAND [ARGS]".to_owned()),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            report(&globals, &msg);
            1
        }
    }
}

/// youki's wording of a missing command, in runc's (which docker users and tools match):
/// `exec: "x": executable file not found in $PATH`.
pub(crate) fn docker_wording(msg: &str) -> String {
    const PREFIX: &str = "executable '";
    if let Some(start) = msg.find(PREFIX) {
        let rest = &msg[start + PREFIX.len()..];
        if let Some(end) = rest.find("' not found in $PATH") {
            let name = &rest[..end];
            return format!(
                "{}exec: \"{name}\": executable file not found in $PATH",
                &msg[..start]
            );
        }
    }
    msg.to_owned()
}

fn report(globals: &Globals, msg: &str) {
    let msg = &docker_wording(msg);
    if let Some(log) = &globals.log {
        log_error(log, msg);
    }
    eprintln!("kasane runtime: {msg}");
}

/// Appends `msg` to the runtime log `log` as runc does (`{"level":"error","msg":…}`), where
/// [`crate::OciCli`] reads the errors of a failed call.
pub(crate) fn log_error(log: &Path, msg: &str) {
    let line = serde_json::json!({
        "level": "error",
        "msg": msg,
        "time": jiff_like_now(),
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Seconds since the epoch, as a string: enough for a log line's `time`.
fn jiff_like_now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().to_string())
        .unwrap_or_default()
}

/// The message of an error and every error below it.
fn chain(e: &dyn std::error::Error) -> String {
    crate::runtime::error_chain(e)
}

/// Flags and positional arguments of one command.
#[derive(Debug, Default)]
struct Parsed {
    flags: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

impl Parsed {
    fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }
}

/// Splits `args` into flags (those in `valued` take a value) and positional arguments;
/// everything after the first positional that is not a flag value is positional
/// (so `exec ID cmd --x` keeps `--x` for the command).
fn parse(args: Vec<String>, valued: &[&str]) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if !p.positional.is_empty() || !a.starts_with('-') || a == "-" {
            p.positional.push(a);
            continue;
        }
        let stripped = a.trim_start_matches('-').to_owned();
        if let Some((n, v)) = stripped.split_once('=') {
            p.flags.push((n.to_owned(), Some(v.to_owned())));
        } else if valued.contains(&stripped.as_str()) {
            let v = it
                .next()
                .ok_or_else(|| format!("flag --{stripped} needs a value"))?;
            p.flags.push((stripped, Some(v)));
        } else {
            p.flags.push((stripped, None));
        }
    }
    Ok(p)
}

fn one_id(p: &Parsed, cmd: &str) -> Result<String, String> {
    p.positional
        .first()
        .cloned()
        .ok_or_else(|| format!("{cmd}: container id required"))
}

fn run(cmd: &str, g: &Globals, args: Vec<String>) -> Result<i32, String> {
    let root = g
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
    match cmd {
        "create" => {
            let p = parse(
                args,
                &["bundle", "b", "pid-file", "console-socket", "preserve-fds"],
            )?;
            let id = one_id(&p, cmd)?;
            let bundle = p
                .value("bundle")
                .or(p.value("b"))
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            create(
                &root,
                &id,
                &bundle,
                p.value("pid-file").map(std::path::Path::new),
                p.value("console-socket").map(std::path::Path::new),
            )?;
            Ok(0)
        }
        "start" => {
            let p = parse(args, &[])?;
            start(&root, &one_id(&p, cmd)?)?;
            Ok(0)
        }
        "state" => {
            let p = parse(args, &[])?;
            let id = one_id(&p, cmd)?;
            let (status, pid, bundle) = state(&root, &id)?;
            let state = serde_json::json!({
                "ociVersion": "1.2.0",
                "id": id,
                "pid": pid,
                "status": status,
                "bundle": bundle,
            });
            println!("{state}");
            Ok(0)
        }
        "kill" => {
            let p = parse(args, &[])?;
            let id = one_id(&p, cmd)?;
            let sig = p.positional.get(1).map(String::as_str).unwrap_or("SIGTERM");
            let signal = match sig.parse::<i32>() {
                Ok(n) => Signal::try_from(n).map_err(|e| chain(&e))?,
                Err(_) => Signal::try_from(sig).map_err(|e| chain(&e))?,
            };
            kill(&root, &id, signal, p.has("all") || p.has("a"))?;
            Ok(0)
        }
        "delete" => {
            let p = parse(args, &[])?;
            let id = one_id(&p, cmd)?;
            delete(&root, &id, p.has("force") || p.has("f"))?;
            Ok(0)
        }
        "exec" => {
            let p = parse(args, &["process", "p", "pid-file", "console-socket", "cwd"])?;
            let id = one_id(&p, cmd)?;
            let detach = p.has("detach") || p.has("d");
            // `--tty` without a console socket: like runc, make the pty here and relay it
            // to this process's stdio. youki only hands a pty to a socket in detached mode,
            // so take it through a private socket and wait for the process ourselves.
            let own_console =
                (p.has("tty") || p.has("t")) && !detach && p.value("console-socket").is_none();
            let console = if own_console {
                let path = root.join(format!("exec-{}.sock", std::process::id()));
                Some(
                    crate::console::ConsoleSocket::bind(&path)
                        .map_err(|e| format!("listening on {}: {e}", path.display()))?,
                )
            } else {
                None
            };
            let socket = console
                .as_ref()
                .map(|c| c.path().to_path_buf())
                .or_else(|| p.value("console-socket").map(PathBuf::from));
            if own_console {
                // The process is re-parented here when youki's helpers exit: wait for it.
                let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
            }
            let mut builder = ContainerBuilder::new(id.clone(), SyscallType::default())
                .with_root_path(&root)
                .map_err(|e| chain(&e))?
                .with_console_socket(socket);
            if let Some(pid_file) = p.value("pid-file") {
                builder = builder
                    .with_pid_file(Some(pid_file))
                    .map_err(|e| chain(&e))?;
            }
            let mut process_file = p.value("process").or(p.value("p")).map(PathBuf::from);
            let mut derived_file = None;
            if let Some(file) = &process_file
                && let Some((derived, executor)) = exec_seccomp(&root, &id, file)?
            {
                // youki does not filter exec'd processes; docker's runtimes do.
                builder = builder.with_executor(executor);
                process_file = Some(derived.clone());
                derived_file = Some(derived);
            }
            let mut tenant = builder.as_tenant().with_detach(detach || own_console);
            if let Some(process) = &process_file {
                tenant = tenant.with_process(Some(process));
            } else {
                tenant = tenant.with_container_args(p.positional[1..].to_vec());
            }
            let built = tenant.build();
            if let Some(f) = derived_file {
                let _ = std::fs::remove_file(f);
            }
            let pid = built.map_err(|e| chain(&e))?;
            if detach {
                return Ok(0);
            }
            // From here on threads are fine: libcontainer is done.
            let relay = match &console {
                Some(c) => Some(relay_terminal(c)?),
                None => None,
            };
            let code = wait_exit_code(pid.as_raw());
            if let Some((raw, output)) = relay {
                // The pty hangs up once the process is gone: all its output is out then.
                let _ = output.join();
                drop(raw);
            }
            code
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

/// Runs `f` with libcontainer's logging off. Its messages would otherwise reach the user's
/// terminal (in-process calls) or the container's output (a forked `create`); kasane reports
/// the errors it returns instead.
pub(crate) fn quiet<T>(f: impl FnOnce() -> T) -> T {
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), f)
}

/// Creates container `id` from `bundle` with state under `root`: its init waits for
/// [`start`]. The container's stdio is this process's stdin, stdout and stderr.
///
/// Forks and clones: the calling process must have one thread.
pub(crate) fn create(
    root: &Path,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
) -> Result<(), String> {
    std::fs::create_dir_all(root)
        .map_err(|e| format!("creating runtime root {}: {e}", root.display()))?;
    let mut builder = ContainerBuilder::new(id.to_owned(), SyscallType::default())
        .with_console_socket(console_socket)
        .with_root_path(root)
        .map_err(|e| chain(&e))?;
    if let Some(pid_file) = pid_file {
        builder = builder
            .with_pid_file(Some(pid_file))
            .map_err(|e| chain(&e))?;
    }
    // A seccomp profile compiled once for every container (crate::seccomp_bpf): youki then
    // reads the spec without it from a bundle of its own beside the container's.
    let spec = Spec::load(bundle.join("config.json")).map_err(|e| chain(&e))?;
    let prepared = crate::seccomp_bpf::prepare(&spec, bundle, &root.join("seccomp"))?;
    let youki_bundle = match prepared {
        Some(p) => {
            let dir = bundle.join(EMBEDDED_BUNDLE);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            p.spec
                .save(dir.join("config.json"))
                .map_err(|e| chain(&e))?;
            builder = builder.with_executor(p.executor);
            dir
        }
        None => bundle.to_path_buf(),
    };
    let mut container = builder
        .validate_id()
        .map_err(|e| chain(&e))?
        .as_init(&youki_bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| chain(&e))?;
    if youki_bundle != bundle {
        // `exec` reads the spec of the bundle recorded here: the container's own, with its
        // profile, so youki filters exec'd processes itself.
        container.state.bundle = bundle.to_path_buf();
        container.save().map_err(|e| chain(&e))?;
    }
    Ok(())
}

/// For `exec` of the process described in `process_file` into container `id`: the
/// container's seccomp profile through the cache, as for its init (crate::seccomp_bpf) —
/// the process file to give youki (written beside `process_file`) and the executor.
/// `None` when the container has no profile or one only youki can apply.
fn exec_seccomp(
    root: &Path,
    id: &str,
    process_file: &Path,
) -> Result<Option<(PathBuf, crate::seccomp_bpf::SeccompExecutor)>, String> {
    let bundle = load(root, id)?.bundle().clone();
    let mut spec = Spec::load(bundle.join("config.json")).map_err(|e| chain(&e))?;
    let process: oci_spec::runtime::Process = std::fs::read(process_file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| format!("reading {}: {e}", process_file.display()))?;
    spec.set_process(Some(process));
    let Some(prepared) = crate::seccomp_bpf::prepare(&spec, &bundle, &root.join("seccomp"))? else {
        return Ok(None);
    };
    let derived = process_file.with_extension("embedded.json");
    let process = prepared.spec.process().clone().unwrap_or_default();
    let json = serde_json::to_vec(&process).map_err(|e| format!("exec process: {e}"))?;
    std::fs::write(&derived, json).map_err(|e| format!("writing {}: {e}", derived.display()))?;
    Ok(Some((derived, prepared.executor)))
}

/// The directory inside a container's bundle where the embedded runtime writes the spec
/// youki reads when the seccomp profile is applied from the cache.
pub const EMBEDDED_BUNDLE: &str = "embedded-runtime";

/// Lets created container `id` run its process. Safe in a multi-threaded process.
pub(crate) fn start(root: &Path, id: &str) -> Result<(), String> {
    load(root, id)?.start().map_err(|e| chain(&e))
}

/// Container `id`'s status word (`created`, `running`, …), its init's pid (0 once gone)
/// and its bundle. Safe in a multi-threaded process.
pub(crate) fn state(root: &Path, id: &str) -> Result<(&'static str, i32, PathBuf), String> {
    use libcontainer::container::ContainerStatus;
    let mut c = load(root, id)?;
    c.refresh_status().map_err(|e| chain(&e))?;
    let status = match c.status() {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    };
    let pid = c.pid().map(|p| p.as_raw()).unwrap_or(0);
    Ok((status, pid, c.bundle().to_path_buf()))
}

/// Sends `signal` to container `id`'s init, or with `all` to all its processes. Safe in a
/// multi-threaded process.
pub(crate) fn kill(root: &Path, id: &str, signal: Signal, all: bool) -> Result<(), String> {
    use libcontainer::container::ContainerStatus;
    let mut c = load(root, id)?;
    c.refresh_status().map_err(|e| chain(&e))?;
    let was_paused = c.status() == ContainerStatus::Paused;
    c.kill(signal, all).map_err(|e| chain(&e))?;
    // youki records any container it signalled as stopped; one that was paused and still
    // lives is still frozen, and only a `paused` record lets `resume` thaw it.
    if was_paused {
        c.refresh_status().map_err(|e| chain(&e))?;
        if c.status() != ContainerStatus::Stopped {
            c.set_status(ContainerStatus::Paused)
                .save()
                .map_err(|e| chain(&e))?;
        }
    }
    Ok(())
}

/// Freezes container `id`. Safe in a multi-threaded process.
pub(crate) fn pause(root: &Path, id: &str) -> Result<(), String> {
    load(root, id)?.pause().map_err(|e| chain(&e))
}

/// Thaws container `id`. Safe in a multi-threaded process.
pub(crate) fn resume(root: &Path, id: &str) -> Result<(), String> {
    load(root, id)?.resume().map_err(|e| chain(&e))
}

/// Forgets container `id` (cgroups and state), killing it first with `force`. Safe in a
/// multi-threaded process.
pub(crate) fn delete(root: &Path, id: &str, force: bool) -> Result<(), String> {
    load(root, id)?.delete(force).map_err(|e| chain(&e))
}

/// Receives the pty master and relays it to this process's stdio (raw when stdin is a
/// terminal, restored when the returned guard drops).
type Relay = (
    Option<crate::console::RawTerminal>,
    std::thread::JoinHandle<()>,
);

fn relay_terminal(console: &crate::console::ConsoleSocket) -> Result<Relay, String> {
    use crate::console::{RawTerminal, copy_window_size, pump};
    use std::os::fd::AsFd;
    let master = console
        .receive_master()
        .map_err(|e| format!("receiving the exec terminal: {e}"))?;
    let stdin = std::io::stdin();
    copy_window_size(stdin.as_fd(), master.as_fd());
    let raw = RawTerminal::enable(stdin.as_fd());
    let to_master = master
        .try_clone()
        .map_err(|e| format!("sharing the exec terminal: {e}"))?;
    std::thread::spawn(move || pump(std::io::stdin(), to_master));
    let output = std::thread::spawn(move || pump(master, std::io::stdout()));
    Ok((raw, output))
}

fn load(root: &Path, id: &str) -> Result<Container, String> {
    let dir = root.join(id);
    if !dir.exists() {
        return Err(format!("container {id} does not exist"));
    }
    Container::load(dir).map_err(|e| chain(&e))
}

/// Waits for `pid` and turns its end into a shell-style exit code (128 + signal).
fn wait_exit_code(pid: i32) -> Result<i32, String> {
    use rustix::process::{Pid, WaitOptions, waitpid};
    let Some(pid) = Pid::from_raw(pid) else {
        return Err(format!("exec returned an invalid pid {pid}"));
    };
    loop {
        match waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    return Ok(code);
                }
                if let Some(sig) = status.terminating_signal() {
                    return Ok(128 + sig);
                }
            }
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(format!("waiting for exec'd process {pid:?}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_and_positionals_split_like_runc() {
        let p = parse(
            strings(&[
                "--bundle",
                "/b",
                "--pid-file=/p",
                "--force",
                "id1",
                "--not-a-flag",
            ]),
            &["bundle", "pid-file"],
        )
        .unwrap();
        assert_eq!(p.value("bundle"), Some("/b"));
        assert_eq!(p.value("pid-file"), Some("/p"));
        assert!(p.has("force"));
        assert_eq!(p.positional, strings(&["id1", "--not-a-flag"]));
        assert!(parse(strings(&["--bundle"]), &["bundle"]).is_err());
    }

    #[test]
    fn missing_commands_are_worded_like_runc() {
        assert_eq!(
            docker_wording("error in executing process : executable 'nosuch' not found in $PATH"),
            "error in executing process : exec: \"nosuch\": executable file not found in $PATH"
        );
        assert_eq!(docker_wording("other failure"), "other failure");
    }

    #[test]
    fn unknown_commands_and_missing_ids_are_errors() {
        let g = Globals {
            root: Some(PathBuf::from("/nonexistent-kasane-test")),
            log: None,
        };
        assert!(run("frobnicate", &g, vec![]).is_err());
        assert!(
            run("start", &g, vec![])
                .unwrap_err()
                .contains("container id required")
        );
        assert!(
            run("state", &g, strings(&["nope"]))
                .unwrap_err()
                .contains("does not exist")
        );
    }
}
