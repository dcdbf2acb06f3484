//! Container commands other than `run`/`create`/`ps`: start, stop, kill, restart, rm, wait,
//! exec, logs, port, and the hidden `__monitor`.

use std::io::Write;

use clap::Args;
use kasane_engine::EngineError;
use kasane_engine::containers::{ExecOptions, MonitorIo, StartMode};

use super::{GlobalOptions, open_engine};

/// `start [-a] CONTAINER...`
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `stop [-t N] CONTAINER...`
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "timeout", alias = "time")]
    timeout: Option<u32>,
    /// Signal to send
    #[arg(short = 's', long)]
    signal: Option<String>,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `kill [-s SIGNAL] CONTAINER...`
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    signal: String,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `rm [-f] [-v] CONTAINER...`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `wait CONTAINER...`
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `rename CONTAINER NEW_NAME`
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Its new name
    #[arg(value_name = "NEW_NAME")]
    new_name: String,
}

/// `pause CONTAINER...` / `unpause CONTAINER...`
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `exec [OPTIONS] CONTAINER COMMAND [ARG...]`
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// The command and its arguments
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// `logs [OPTIONS] CONTAINER`
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    until: Option<String>,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Show extra details (accepted, nothing extra to show)
    #[arg(long)]
    details: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`
#[derive(Debug, Args)]
pub struct PortArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Only this private port
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    port: Option<String>,
}

/// `__monitor ID` (internal): the container's monitor process.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The container id
    id: String,
}

/// Runs `f` for each name, printing the name on success and `Error response from daemon:`
/// lines on failure, as docker's multi-container commands do; exit 1 if any failed.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<(), EngineError>) -> u8 {
    let mut failed = false;
    for n in names {
        match f(n) {
            Ok(()) => println!("{n}"),
            Err(e) => {
                failed = true;
                eprintln!("Error response from daemon: {}", full(&e));
            }
        }
    }
    u8::from(failed)
}

fn full(e: &dyn std::error::Error) -> String {
    kasane_engine::containers::monitor::full_message(e)
}

pub fn start(g: &GlobalOptions, a: StartArgs) -> anyhow::Result<u8> {
    // First thing, while this process is single-threaded (kasane_runtime::cgroup_warmup).
    kasane_runtime::cgroup_warmup::start();
    let mut engine = open_engine(g)?;
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        }
        let io = MonitorIo {
            stdin: a.interactive,
            sig_proxy: true,
        };
        return match engine.start_container(&a.containers[0], StartMode::Foreground(io)) {
            Ok(Some(code)) => Ok(code.clamp(0, 255) as u8),
            // Already running: `start -a` attaches to it, as docker's does.
            Ok(None) => super::attach::attach_to(
                &mut engine,
                &a.containers[0],
                super::attach::How::for_start(a.interactive),
            ),
            Err(e) => {
                eprintln!("Error response from daemon: {}", full(&e));
                Ok(1)
            }
        };
    }
    Ok(each(&a.containers, |n| {
        engine.start_container(n, StartMode::Detached).map(drop)
    }))
}

pub fn stop(g: &GlobalOptions, a: StopArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    Ok(each(&a.containers, |n| {
        if let Some(sig) = &a.signal {
            engine.kill_container(n, sig).or_else(|e| match e {
                EngineError::ContainerState(_) => Ok(()),
                e => Err(e),
            })?;
        }
        engine.stop_container(n, a.timeout)
    }))
}

pub fn kill(g: &GlobalOptions, a: KillArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    Ok(each(&a.containers, |n| engine.kill_container(n, &a.signal)))
}

pub fn restart(g: &GlobalOptions, a: StopArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    Ok(each(&a.containers, |n| {
        engine.stop_container(n, a.timeout)?;
        engine.start_container(n, StartMode::Detached).map(drop)
    }))
}

pub fn rm(g: &GlobalOptions, a: RmArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    Ok(each(&a.containers, |n| {
        engine.remove_container(n, a.force, a.volumes).map(drop)
    }))
}

pub fn rename(g: &GlobalOptions, a: RenameArgs) -> anyhow::Result<u8> {
    match open_engine(g)?.rename_container(&a.container, &a.new_name) {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("Error response from daemon: {}", full(&e));
            Ok(1)
        }
    }
}

pub fn pause(g: &GlobalOptions, a: PauseArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    Ok(each(&a.containers, |n| engine.pause_container(n)))
}

pub fn unpause(g: &GlobalOptions, a: PauseArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    Ok(each(&a.containers, |n| engine.unpause_container(n)))
}

pub fn wait(g: &GlobalOptions, a: WaitArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let mut failed = false;
    for n in &a.containers {
        match engine.wait_container(n) {
            Ok(code) => println!("{code}"),
            Err(e) => {
                failed = true;
                eprintln!("Error response from daemon: {}", full(&e));
            }
        }
    }
    Ok(u8::from(failed))
}

pub fn exec(g: &GlobalOptions, a: ExecArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let opts = ExecOptions {
        tty: a.tty,
        cmd: a.command,
        env: a.env,
        workdir: a.workdir,
        user: a.user,
        interactive: a.interactive,
        detach: a.detach,
    };
    match engine.exec_container(&a.container, &opts) {
        Ok(code) => Ok(code.clamp(0, 255) as u8),
        Err(e) => {
            let code = match &e {
                EngineError::Runtime(r) => r.exit_code() as u8,
                EngineError::NoSuchContainer(_) | EngineError::ContainerState(_) => 1,
                _ => 126,
            };
            eprintln!("Error response from daemon: {}", full(&e));
            Ok(code)
        }
    }
}

pub fn logs(g: &GlobalOptions, a: LogsArgs) -> anyhow::Result<u8> {
    use kasane_runtime::logs::{LogReadOptions, parse_since, read_logs};
    let mut engine = open_engine(g)?;
    let record = engine.find_container(&a.container)?;
    let paths = engine.container_paths(&record.id);
    let now = jiff::Timestamp::now();
    let _ = a.details;
    let opts = LogReadOptions {
        follow: a.follow,
        tail: match a.tail.as_str() {
            "all" | "" => None,
            n => Some(
                n.parse::<i64>()
                    .map_err(|_| anyhow::anyhow!("invalid value for \"tail\": {n}"))?
                    .max(0) as usize,
            ),
        },
        since: a
            .since
            .as_deref()
            .map(|s| parse_since(s, now))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|s| parse_since(s, now))
            .transpose()?,
        timestamps: a.timestamps,
    };
    let lock = paths.lock();
    let still_running = move || kasane_engine::containers::monitor_alive(&lock);
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    read_logs(
        &paths.log(&record.id),
        &opts,
        &still_running,
        &mut out,
        &mut err,
    )?;
    out.flush()?;
    Ok(0)
}

pub fn port(g: &GlobalOptions, a: PortArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let record = engine.find_container(&a.container)?;
    let state = engine.container_state(&record)?;
    let mut lines = Vec::new();
    let mut ports = state.ports.clone();
    ports.sort_by_key(|m| (m.container_port, m.protocol.to_string()));
    for m in &ports {
        let key = format!("{}/{}", m.container_port, m.protocol);
        if let Some(want) = &a.port {
            let want = if want.contains('/') {
                want.clone()
            } else {
                format!("{want}/tcp")
            };
            if want != key {
                continue;
            }
        }
        let ip = m
            .host_ip
            .map(|ip| match ip {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            })
            .unwrap_or_else(|| "0.0.0.0".into());
        let host = format!("{ip}:{}", m.host_port);
        lines.push(if a.port.is_some() {
            host
        } else {
            format!("{key} -> {host}")
        });
    }
    if let (true, Some(p)) = (lines.is_empty(), &a.port) {
        let p = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        eprintln!("Error: No public port '{p}' published for {}", a.container);
        return Ok(1);
    }
    for l in lines {
        println!("{l}");
    }
    Ok(0)
}

/// The monitor process: reports `ok` or `error MESSAGE` on stdout once the container runs
/// (or failed to), then lives until the container ends for good.
pub fn monitor(g: &GlobalOptions, a: MonitorArgs) -> anyhow::Result<u8> {
    // A new session: no controlling terminal, not killed with the starting shell.
    let _ = rustix::process::setsid();
    let mut engine = open_engine(g)?;
    let mut reported = false;
    let mut ready = |r: Result<(), String>| {
        if reported {
            return;
        }
        reported = true;
        let line = match r {
            Ok(()) => "ok".to_owned(),
            Err(m) => format!("error {}", m.replace('\n', " ")),
        };
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let code = engine.run_monitor(&a.id, None, &mut ready);
    Ok(match code {
        Ok(c) => c.clamp(0, 255) as u8,
        Err(_) => 125,
    })
}
