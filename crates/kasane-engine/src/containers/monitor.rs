//! The monitor: the process that owns one running container.
//!
//! It holds the container's `monitor.lock` for its whole life (so any kasane command can
//! tell a live container from one whose monitor died), is the child subreaper of the
//! container's init (so it collects the exit code), copies the init's stdout/stderr into
//! the json-file log, serves published ports and attached clients (`kasane attach`, through
//! [`kasane_runtime::attach`]), applies the restart policy, and unmounts and (with `--rm`)
//! removes the container at the end.
//!
//! `run -d` and `start` spawn it as `kasane __monitor ID` in a new session; a foreground
//! `run` (or `start -a`) runs it in its own process, echoing the output to the terminal and
//! forwarding signals to the container. Runtime calls are child processes (see
//! [`kasane_runtime::OciCli`]), so the monitor may use threads.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use kasane_runtime::attach::{AttachHub, AttachInput};
use kasane_runtime::logs::{SharedLogWriter, Stream};
use kasane_runtime::ports::{PortMapping, PortProxy, parse_expose};
use kasane_runtime::signals::SignalForwarder;
use kasane_runtime::{
    CreateRequest, HostLimits, NetworkMode, OciCli, ProcessIo, Runtime, RuntimeChoice, StdioSource,
    netns, spec_for,
};
use kasane_store::metadata::ContainerRecord;

use super::state::{RunState, Status, monitor_alive, open_lock, wait_monitor_gone};
use super::{ContainerOptions, ContainerPaths, now_rfc3339};
use crate::error::{EngineError, Result};
use crate::{Engine, snap_id};

mod stdio;
mod terminal;

use stdio::{ContainerIo, bind_attach_socket, spawn_copier};

/// How a foreground monitor connects the container to the terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorIo {
    /// `-i`: the container reads this process's stdin.
    pub stdin: bool,
    /// Forward SIGINT/SIGTERM/… to the container (docker's `--sig-proxy`, on by default).
    pub sig_proxy: bool,
}

/// How `start` runs the monitor.
#[derive(Debug, Clone, Copy)]
pub enum StartMode {
    /// In a new session, in the background (`run -d`, `start`).
    Detached,
    /// In this process, attached to the terminal (`run`, `start -a`).
    Foreground(MonitorIo),
}

/// A started container's process and the threads copying its output.
struct Running {
    pid: i32,
    copiers: Vec<JoinHandle<()>>,
    /// The user's terminal, raw while a foreground `-it` container runs.
    _raw: Option<kasane_runtime::console::RawTerminal>,
}

/// The file that tells the monitor a `stop`/`kill` ended the process (no restart).
pub(crate) fn stop_marker(paths: &ContainerPaths) -> PathBuf {
    paths.dir.join("stop-requested")
}

impl Engine {
    /// The runtime a container uses, logging to its directory.
    pub(crate) fn runtime_for(
        &self,
        opts: &ContainerOptions,
        paths: &ContainerPaths,
    ) -> Result<OciCli> {
        let choice = RuntimeChoice::resolve(&opts.runtime)?;
        let exe =
            std::env::current_exe().map_err(|e| EngineError::io("finding the kasane binary", e))?;
        Ok(OciCli::new(
            &choice,
            &exe,
            &self.run_root(),
            &paths.runtime_log(),
        ))
    }

    /// Starts container `name`: detached (spawning its monitor, returning once it runs) or
    /// in the foreground (returning its exit code when it ends).
    ///
    /// # Errors
    /// `NoSuchContainer`; already running (`Conflict`); the runtime's failure to create or
    /// start it (see [`kasane_runtime::RuntimeError::exit_code`] for docker's 125/126/127).
    pub fn start_container(&mut self, name: &str, mode: StartMode) -> Result<Option<i32>> {
        let record = self.find_container(name)?;
        let paths = self.container_paths(&record.id);
        if monitor_alive(&paths.lock()) {
            // Running: nothing to do, as docker. A monitor whose container has exited is
            // finishing up; the container can start again once it is gone.
            let exited = RunState::load(&paths.state()).is_ok_and(|s| s.status == Status::Exited);
            if !exited || !wait_monitor_gone(&paths, super::state::MONITOR_EXIT_GRACE) {
                return Ok(None);
            }
        }
        match mode {
            StartMode::Foreground(io) => self
                .run_monitor(&record.id, Some(io), &mut |_| {})
                .map(Some),
            StartMode::Detached => {
                self.spawn_monitor(&record, &paths)?;
                Ok(None)
            }
        }
    }

    /// Spawns `kasane __monitor ID` in the background and waits for its first report.
    fn spawn_monitor(&mut self, record: &ContainerRecord, paths: &ContainerPaths) -> Result<()> {
        let exe =
            std::env::current_exe().map_err(|e| EngineError::io("finding the kasane binary", e))?;
        let log = File::create(paths.monitor_log()).map_err(|e| {
            EngineError::io(format!("creating {}", paths.monitor_log().display()), e)
        })?;
        let mut child = Command::new(exe)
            .arg("--root")
            .arg(&self.root)
            .arg("__monitor")
            .arg(&record.id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| EngineError::io("starting the container monitor", e))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let line = line.trim_end();
        if line == "ok" {
            // The monitor lives on in its own session; it is reaped by init.
            return Ok(());
        }
        let _ = child.wait();
        let message = line.strip_prefix("error ").unwrap_or(line);
        if message.is_empty() {
            let diag = std::fs::read_to_string(paths.monitor_log()).unwrap_or_default();
            return Err(EngineError::InvalidArgument(format!(
                "the container monitor ended before starting {}: {}",
                record.name,
                diag.trim()
            )));
        }
        let code = kasane_runtime::runtime::exit_code_for_message(message);
        Err(kasane_runtime::RuntimeError::Failed {
            op: if code == 125 { "start" } else { "create" },
            message: message.to_owned(),
        }
        .into())
    }

    /// Runs the monitor of container `id` in this process until the container ends for good
    /// (restarts included); returns its last exit code. `ready` is told once whether the
    /// first start worked.
    ///
    /// # Errors
    /// Already running; the first start failing.
    pub fn run_monitor(
        &mut self,
        id: &str,
        fg: Option<MonitorIo>,
        ready: &mut dyn FnMut(std::result::Result<(), String>),
    ) -> Result<i32> {
        let record = self.find_container(id)?;
        let paths = self.container_paths(&record.id);
        let opts = self.container_options(&record)?;
        let lock = open_lock(&paths.lock())?;
        if lock.try_lock().is_err() {
            let msg = format!("container {} is already running", record.name);
            ready(Err(msg.clone()));
            return Err(EngineError::ContainerState(msg));
        }
        match self.monitor_locked(&record, &opts, &paths, fg, ready) {
            Ok(code) => {
                if opts.auto_remove {
                    self.remove_container_files(&record, &paths)?;
                    self.remove_anonymous_volumes(&record)?;
                }
                drop(lock);
                Ok(code)
            }
            Err(e) => {
                if opts.auto_remove {
                    let _ = self.remove_container_files(&record, &paths);
                    let _ = self.remove_anonymous_volumes(&record);
                }
                drop(lock);
                Err(e)
            }
        }
    }

    fn monitor_locked(
        &mut self,
        record: &ContainerRecord,
        opts: &ContainerOptions,
        paths: &ContainerPaths,
        fg: Option<MonitorIo>,
        ready: &mut dyn FnMut(std::result::Result<(), String>),
    ) -> Result<i32> {
        let _ = std::fs::remove_file(stop_marker(paths));
        netns::set_child_subreaper()
            .map_err(|e| EngineError::io("becoming the container's subreaper", e))?;
        let runtime = self.runtime_for(opts, paths)?;
        let network = opts.network_mode()?;
        let mut state = RunState::load(&paths.state())?;
        state.restart_count = 0;
        state.stop_requested = false;
        state.monitor_pid = std::process::id() as i32;
        state.runtime = runtime.name().to_owned();

        let fail = |state: &mut RunState,
                    e: EngineError,
                    ready: &mut dyn FnMut(std::result::Result<(), String>)| {
            let msg = e.to_string();
            state.error = msg.clone();
            state.exit_code = match &e {
                EngineError::Runtime(r) => r.exit_code(),
                _ => 125,
            };
            state.monitor_pid = 0;
            state.pid = 0;
            if state.status != Status::Created {
                state.status = Status::Exited;
                state.finished_at = Some(now_rfc3339());
            }
            let _ = state.save(&paths.state());
            ready(Err(full_message(&e)));
            e
        };

        let mappings = match self.port_mappings(record, opts) {
            Ok(m) => m,
            Err(e) => return Err(fail(&mut state, e, ready)),
        };
        let mut proxy = if mappings.is_empty() || network == NetworkMode::Host {
            None
        } else {
            match PortProxy::bind(&mappings) {
                Ok(p) => Some(p),
                Err(e) => {
                    return Err(fail(
                        &mut state,
                        EngineError::InvalidArgument(e.to_string()),
                        ready,
                    ));
                }
            }
        };
        state.ports = proxy.as_ref().map(|p| p.bound()).unwrap_or_default();
        let log = SharedLogWriter::open(&paths.log(&record.id))
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        let signals = fg
            .filter(|io| io.sig_proxy)
            .map(|_| SignalForwarder::install());
        let io = ContainerIo {
            fg,
            log,
            hub: AttachHub::new(),
        };
        let attach_socket = bind_attach_socket(&self.run_root(), &record.id);
        let mut attach_listener = attach_socket
            .as_ref()
            .and_then(|s| s.listener().try_clone().ok());

        let mut first = true;
        let mut proxy_handle = None;
        let mut files_removed = false;
        let code = loop {
            let t = std::time::Instant::now();
            let running = match self.start_once(record, opts, paths, &runtime, &io) {
                Ok(r) => r,
                Err(e) => {
                    self.cleanup_run(&record.id, paths, &runtime);
                    if first {
                        return Err(fail(&mut state, e, ready));
                    }
                    // A restart that cannot start ends the policy.
                    let _ = fail(&mut state, e, &mut |_| {});
                    break state.exit_code;
                }
            };
            state.status = Status::Running;
            state.pid = running.pid;
            state.started_at = Some(now_rfc3339());
            state.exit_code = 0;
            state.oom_killed = false;
            state.error.clear();
            // Needs no fsync: after a crash the monitor lock, not this, says it is not running.
            state.save_unsynced(&paths.state())?;
            if let Some(s) = &signals {
                s.set_target(running.pid);
            }
            if let Some(p) = proxy.take() {
                match File::open(format!("/proc/{}/ns/net", running.pid)) {
                    Ok(ns) => match p.serve(ns) {
                        Ok(h) => proxy_handle = Some(h),
                        Err(e) => tracing::warn!("ports of {}: {e}", record.name),
                    },
                    Err(e) => tracing::warn!("ports of {}: opening its netns: {e}", record.name),
                }
            }
            // Served from the first start on (a thread before `create` would make the
            // embedded runtime start a fresh process instead of forking this one).
            if let Some(l) = attach_listener.take() {
                io.hub.serve(l);
            }
            if first {
                ready(Ok(()));
                first = false;
            }

            tracing::debug!("container {} started in {:?}", record.name, t.elapsed());
            let code = wait_exit(running.pid);
            let t = std::time::Instant::now();
            for c in running.copiers {
                let _ = c.join();
            }
            let _ = io.log.flush_partial();
            state.oom_killed = oom_killed(&record.id);
            // A --rm container cannot restart (`run` refuses the pair): its files go now.
            if opts.auto_remove && opts.restart.name == "no" {
                files_removed = self.cleanup_and_remove_files(record, paths, &runtime);
            } else {
                self.cleanup_run(&record.id, paths, &runtime);
            }
            tracing::debug!("container {} cleaned up in {:?}", record.name, t.elapsed());
            state.status = Status::Exited;
            state.pid = 0;
            state.exit_code = code;
            state.finished_at = Some(now_rfc3339());
            state.stop_requested = stop_marker(paths).exists();
            if !state.stop_requested && opts.restart.should_restart(code, state.restart_count) {
                state.restart_count += 1;
                state.status = Status::Restarting;
                state.save(&paths.state())?;
                // Attached clients go once the state says how the process ended, as docker's.
                io.hub.finish(code);
                let backoff = 100u64 << state.restart_count.min(6);
                std::thread::sleep(Duration::from_millis(backoff.min(5_000)));
                if stop_marker(paths).exists() {
                    state.status = Status::Exited;
                    state.stop_requested = true;
                    break code;
                }
                continue;
            }
            break code;
        };
        if let Some(h) = proxy_handle {
            h.stop();
        }
        drop(attach_socket);
        state.monitor_pid = 0;
        match (opts.auto_remove, files_removed) {
            (false, _) => state.save(&paths.state())?,
            // Removed in a moment: a crash before that leaves a container to remove anyway.
            (true, false) => state.save_unsynced(&paths.state())?,
            // Only the row is left, which the caller removes.
            (true, true) => {}
        }
        io.hub.finish(code);
        Ok(code)
    }

    /// The ports to publish: `-p` as given, and with `-P` every port the image exposes on
    /// an ephemeral host port.
    fn port_mappings(
        &mut self,
        record: &ContainerRecord,
        opts: &ContainerOptions,
    ) -> Result<Vec<PortMapping>> {
        let mut out = opts.publish.clone();
        if opts.publish_all {
            let image = self.image_record(&record.image)?;
            let (config, _) = self.config_of(&image)?;
            let exposed = config
                .config
                .as_ref()
                .and_then(|c| c.exposed_ports.as_ref())
                .map(|p| p.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default();
            for key in exposed {
                let (port, protocol) =
                    parse_expose(&key).map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
                if !out
                    .iter()
                    .any(|m| m.container_port == port && m.protocol == protocol)
                {
                    out.push(PortMapping {
                        host_ip: None,
                        host_port: 0,
                        container_port: port,
                        protocol,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Mounts the rootfs, writes the bundle, creates and starts the container.
    fn start_once(
        &mut self,
        record: &ContainerRecord,
        opts: &ContainerOptions,
        paths: &ContainerPaths,
        runtime: &OciCli,
        io: &ContainerIo,
    ) -> Result<Running> {
        self.cleanup_run(&record.id, paths, runtime);
        // The runtime's cgroup write waits less when this starts now (see the module);
        // `run` and `start` started one already unless this is a restart or `run -d`.
        if kasane_runtime::cgroup_warmup::start().is_none() {
            tracing::debug!("no new cgroup warm-up (one is under way, or none is possible)");
        }
        let image = self.image_record(&record.image)?;
        let parents = self.layer_snapshots(&image)?;
        let mut mounts = self
            .snapshots
            .mounts(&snap_id(&record.snapshot_id)?, &parents)?;
        if opts.auto_remove {
            // Its layer goes with it: unmounting need not flush the upper file system.
            mounts
                .iter_mut()
                .for_each(kasane_snapshot::Mount::make_volatile);
        }
        let rootfs = paths.rootfs();
        super::mkdir(&rootfs)?;
        kasane_snapshot::mount_all(&mounts, &rootfs)?;

        let (config, _) = self.config_of(&image)?;
        let run = opts.run_options(&record.id, &self.volumes_dir())?;
        for m in &run.mounts {
            if let kasane_runtime::MountSpec::Bind { source, .. }
            | kasane_runtime::MountSpec::Volume { source, .. } = m
                && !source.exists()
            {
                super::mkdir(source)?;
            }
        }
        let mut spec = spec_for(&config, &run, &rootfs, &HostLimits::current())?;
        self.add_etc_files(&record.id, &run.hostname, run.network, paths, &mut spec)?;
        if run.init {
            add_init_mount(&mut spec)?;
        }
        if let Some(cwd) = spec.process().as_ref().map(|p| p.cwd().clone()) {
            // docker creates a missing working directory.
            if let Err(e) = super::rootfs::mkdir_in_root(&rootfs, &cwd) {
                tracing::debug!("creating working directory {}: {e}", cwd.display());
            }
        }
        for v in &opts.volumes {
            if v.kind == "volume" {
                let data = self.volumes_dir().join(&v.source).join("_data");
                super::rootfs::populate_volume(&rootfs, Path::new(&v.destination), &data)?;
            }
        }
        let json = serde_json::to_vec_pretty(&spec)
            .map_err(|e| EngineError::InvalidArgument(format!("runtime spec: {e}")))?;
        super::write_replace(&paths.spec(), &json)?;

        if opts.tty {
            return self.create_with_terminal(record, opts, &run, paths, runtime, io);
        }
        let (out_r, out_w) = std::io::pipe().map_err(|e| EngineError::io("creating a pipe", e))?;
        let (err_r, err_w) = std::io::pipe().map_err(|e| EngineError::io("creating a pipe", e))?;
        // `-i`: a foreground container reads the terminal; a detached one a pipe that
        // attached clients write into (held open here, as docker keeps stdin open).
        let stdin = match io.fg {
            Some(io) if io.stdin => Some(StdioSource::Inherit),
            Some(_) => None,
            None if opts.interactive => {
                let (r, w) = std::io::pipe().map_err(|e| EngineError::io("creating a pipe", e))?;
                io.hub.set_input(Some(AttachInput::Pipe(File::from(
                    std::os::fd::OwnedFd::from(w),
                ))));
                Some(StdioSource::Fd(r.into()))
            }
            None => None,
        };
        let _ = std::fs::remove_file(paths.pid_file());
        let t = std::time::Instant::now();
        runtime.create(CreateRequest {
            id: &record.id,
            bundle: &paths.dir,
            pid_file: &paths.pid_file(),
            io: ProcessIo {
                stdin,
                stdout: Some(StdioSource::Fd(out_w.into())),
                stderr: Some(StdioSource::Fd(err_w.into())),
                console_socket: None,
            },
        })?;
        tracing::debug!("runtime create took {:?}", t.elapsed());
        let pid = self.after_create(record, &run, paths, runtime)?;
        let copiers = vec![
            spawn_copier(out_r, Stream::Stdout, io),
            spawn_copier(err_r, Stream::Stderr, io),
        ];
        self.start_created(record, runtime, pid, copiers, None)
    }

    /// After `create`: the init's pid, and its loopback up in a private network.
    fn after_create(
        &mut self,
        record: &ContainerRecord,
        run: &kasane_runtime::RunOptions,
        paths: &ContainerPaths,
        runtime: &OciCli,
    ) -> Result<i32> {
        let pid = read_pid(&paths.pid_file())?;
        if run.network != NetworkMode::Host {
            let ns =
                File::open(format!("/proc/{pid}/ns/net")).and_then(|ns| netns::loopback_up(&ns));
            if let Err(e) = ns {
                let _ = runtime.kill(&record.id, 9, true);
                return Err(EngineError::io("bringing up the container's loopback", e));
            }
        }
        Ok(pid)
    }

    /// `start`s a created container; on failure kills it and collects its copiers.
    fn start_created(
        &mut self,
        record: &ContainerRecord,
        runtime: &OciCli,
        pid: i32,
        copiers: Vec<JoinHandle<()>>,
        raw: Option<kasane_runtime::console::RawTerminal>,
    ) -> Result<Running> {
        if let Err(e) = runtime.start(&record.id) {
            let _ = runtime.kill(&record.id, 9, true);
            let _ = wait_exit(pid);
            for c in copiers {
                let _ = c.join();
            }
            return Err(e.into());
        }
        Ok(Running {
            pid,
            copiers,
            _raw: raw,
        })
    }

    /// Writes `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` for the container and
    /// bind-mounts them, as docker does.
    fn add_etc_files(
        &self,
        id: &str,
        hostname: &str,
        network: NetworkMode,
        paths: &ContainerPaths,
        spec: &mut oci_spec::runtime::Spec,
    ) -> Result<()> {
        let _ = id;
        let write = |name: &str, content: &str| -> Result<PathBuf> {
            let p = paths.dir.join(name);
            super::write_replace(&p, content.as_bytes())?;
            Ok(p)
        };
        let hosts = if network == NetworkMode::Host {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            format!(
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
            )
        };
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let files = [
            (
                "/etc/hostname",
                write("hostname", &format!("{hostname}\n"))?,
            ),
            ("/etc/hosts", write("hosts", &hosts)?),
            ("/etc/resolv.conf", write("resolv.conf", &resolv)?),
        ];
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        for (dest, src) in files {
            if mounts.iter().any(|m| m.destination() == Path::new(dest)) {
                continue;
            }
            let m = oci_spec::runtime::MountBuilder::default()
                .destination(dest)
                .typ("bind")
                .source(src)
                .options(vec!["rbind".to_owned(), "rprivate".to_owned()])
                .build()
                .map_err(|e| EngineError::InvalidArgument(format!("mount {dest}: {e}")))?;
            mounts.push(m);
        }
        spec.set_mounts(Some(mounts));
        Ok(())
    }

    /// Forgets the runtime's container and unmounts the rootfs; safe to repeat. Both at
    /// once: each mostly waits on the kernel (cgroup removal, the unmount's RCU grace
    /// period), and `run --rm` waits for both.
    pub(crate) fn cleanup_run(&self, id: &str, paths: &ContainerPaths, runtime: &OciCli) {
        self.cleanup_run_then(id, paths, runtime, || Ok(()))
            .unwrap_or_else(|e: EngineError| tracing::warn!("cleaning up {id}: {e}"));
    }

    /// [`Self::cleanup_run`], running `after_unmount` beside the runtime's delete once the
    /// rootfs is unmounted: `run --rm` removes the container's files there instead of after
    /// both (the delete, which removes its cgroups, is the longer of the two).
    fn cleanup_run_then(
        &self,
        id: &str,
        paths: &ContainerPaths,
        runtime: &OciCli,
        after_unmount: impl FnOnce() -> Result<()> + Send,
    ) -> Result<()> {
        super::pause::remove_marker(paths);
        std::thread::scope(|scope| {
            let unmount = scope.spawn(|| {
                unmount_all(&paths.rootfs());
                after_unmount()
            });
            if runtime.has_state(id)
                && let Err(e) = runtime.delete(id, true)
            {
                tracing::warn!("deleting runtime container {id}: {e}");
            }
            unmount.join().unwrap_or_else(|_| {
                Err(EngineError::InvalidArgument(format!(
                    "unmounting {} panicked",
                    paths.rootfs().display()
                )))
            })
        })
    }

    /// After the last run of a `--rm` container: the runtime's delete and, beside it, the
    /// removal of the container's directory and writable layer (the row goes afterwards,
    /// in [`Self::remove_container_files`]). Whether the files are gone.
    fn cleanup_and_remove_files(
        &self,
        record: &ContainerRecord,
        paths: &ContainerPaths,
        runtime: &OciCli,
    ) -> bool {
        let Ok(snapshot) = snap_id(&record.snapshot_id) else {
            self.cleanup_run(&record.id, paths, runtime);
            return false;
        };
        let snapshots = &*self.snapshots;
        let remove = || super::lifecycle::remove_dir_and_layer(snapshots, paths, &snapshot);
        match self.cleanup_run_then(&record.id, paths, runtime, remove) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("removing container {}: {e}", record.name);
                false
            }
        }
    }
}

/// Host binaries `--init` can bind-mount as the container's init (docker's is tini).
const INIT_CANDIDATES: &[&str] = &[
    "/usr/bin/tini-static",
    "/usr/libexec/docker/docker-init",
    "/usr/bin/docker-init",
    "/sbin/tini-static",
];

/// Bind-mounts a static tini at [`kasane_runtime::INIT_PATH`] for `--init`.
fn add_init_mount(spec: &mut oci_spec::runtime::Spec) -> Result<()> {
    let Some(init) = INIT_CANDIDATES.iter().find(|p| Path::new(p).is_file()) else {
        return Err(EngineError::InvalidArgument(format!(
            "--init needs a static init on the host ({}); install Debian's tini package",
            INIT_CANDIDATES.join(", ")
        )));
    };
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(
        oci_spec::runtime::MountBuilder::default()
            .destination(kasane_runtime::INIT_PATH)
            .typ("bind")
            .source(init)
            .options(vec![
                "bind".to_owned(),
                "ro".to_owned(),
                "rprivate".to_owned(),
            ])
            .build()
            .map_err(|e| EngineError::InvalidArgument(format!("init mount: {e}")))?,
    );
    spec.set_mounts(Some(mounts));
    Ok(())
}

/// The message of an error and its sources.
pub fn full_message(e: &dyn std::error::Error) -> String {
    kasane_runtime::runtime::error_chain(e)
}

/// Unmounts whatever is mounted at `target` (overlay, possibly stacked), ignoring "not
/// mounted".
pub(crate) fn unmount_all(target: &Path) {
    for _ in 0..4 {
        if kasane_snapshot::unmount(target).is_err() {
            break;
        }
    }
}

fn read_pid(path: &Path) -> Result<i32> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| EngineError::io(format!("reading {}", path.display()), e))?;
    s.trim()
        .parse()
        .map_err(|_| EngineError::InvalidArgument(format!("{}: not a pid: {s:?}", path.display())))
}

/// Waits for the container's init (this process is its subreaper), reaping any other
/// orphan on the way; returns a shell-style exit code (128 + signal).
pub(crate) fn wait_exit(pid: i32) -> i32 {
    use rustix::process::{WaitOptions, wait};
    loop {
        // `wait` is "any child"; `waitpid(None)` would be only this process group's.
        match wait(WaitOptions::empty()) {
            Ok(Some((p, status))) if p.as_raw_nonzero().get() == pid => {
                if let Some(code) = status.exit_status() {
                    return code;
                }
                if let Some(sig) = status.terminating_signal() {
                    return 128 + sig;
                }
            }
            Ok(_) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            // No children left: the init was reaped elsewhere or never was ours.
            Err(e) => {
                tracing::warn!("waiting for the container process {pid}: {e}");
                return 255;
            }
        }
    }
}

/// Whether the memory cgroup of container `id` (kasane's `/kasane/<id>`) killed a process.
fn oom_killed(id: &str) -> bool {
    let candidates = [
        format!("/sys/fs/cgroup/memory/kasane/{id}/memory.oom_control"),
        format!("/sys/fs/cgroup/kasane/{id}/memory.events"),
    ];
    candidates.iter().any(|p| {
        std::fs::read_to_string(p).is_ok_and(|s| {
            s.lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    })
}

#[cfg(test)]
mod tests;
