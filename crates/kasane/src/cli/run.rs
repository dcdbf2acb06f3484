//! `kasane run` and `kasane create`: docker's flags turned into [`ContainerOptions`].
//!
//! Exit codes (docker-formats.md §7): a foreground `run` exits with the container's code;
//! errors before the container runs are 125, a command that cannot be invoked 126, one that
//! does not exist 127; `run -d` prints the id and exits 0.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use clap::Args;
use kasane_engine::containers::{
    ContainerOptions, MonitorIo, RestartPolicy, StartMode, VolumeSpec,
};
use kasane_engine::{Engine, EngineError, ErrorKind};

use super::{GlobalOptions, open_engine};

/// The flags `run` and `create` share.
#[derive(Debug, Args, Default)]
pub struct ContainerArgs {
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Bind mount a volume (host:ctr[:ro], name:ctr, or ctr)
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=…,target=…[,readonly])
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs directory (/path[:options])
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Network: private (default, loopback only), host or none
    #[arg(long = "network", alias = "net", default_value = "private")]
    network: String,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Memory limit (e.g. 64m, 1g)
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<f64>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    read_only: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Restart policy: no, on-failure[:max-retries], always, unless-stopped
    #[arg(long, default_value = "no")]
    restart: String,
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Runtime to use: kasane (embedded youki, default), crun, runc or a path
    #[arg(long, default_value = "")]
    runtime: String,
    /// Set meta data on a container
    #[arg(long = "label")]
    label: Vec<String>,
    /// Security options (seccomp=unconfined)
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<u32>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    ulimit: Vec<String>,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// The image
    #[arg(value_name = "IMAGE")]
    image: String,
    /// The command and its arguments
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// `run [OPTIONS] IMAGE [COMMAND] [ARG...]`
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    #[command(flatten)]
    container: ContainerArgs,
}

/// `create [OPTIONS] IMAGE [COMMAND] [ARG...]`
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    container: ContainerArgs,
}

/// Prints a `run`/`create` failure as docker does and returns its exit code.
fn report(cmd: &str, e: &anyhow::Error) -> u8 {
    let code = e
        .downcast_ref::<EngineError>()
        .map(|ee| match ee {
            EngineError::Runtime(r) => r.exit_code(),
            _ => 125,
        })
        .unwrap_or(125);
    let msg = format!("{e:#}");
    let prefix = match e.downcast_ref::<EngineError>() {
        Some(ee)
            if ee.kind() != ErrorKind::InvalidArgument || matches!(ee, EngineError::Runtime(_)) =>
        {
            "Error response from daemon: "
        }
        _ => "",
    };
    eprintln!("kasane: {prefix}{msg}\n\nRun 'kasane {cmd} --help' for more information");
    code as u8
}

pub fn run(g: &GlobalOptions, a: RunArgs) -> anyhow::Result<u8> {
    // First thing, while this process is single-threaded: the runtime's cgroup write comes
    // some 10 ms later and waits less the earlier this starts (kasane_runtime::cgroup_warmup).
    kasane_runtime::cgroup_warmup::start();
    let mut engine = match open_engine(g) {
        Ok(e) => e,
        Err(e) => return Ok(report("run", &e)),
    };
    let record = match create(&mut engine, g, &a.container) {
        Ok(r) => r,
        Err(e) => return Ok(report("run", &e)),
    };
    if a.detach {
        match engine.start_container(&record.id, StartMode::Detached) {
            Ok(_) => {
                println!("{}", record.id);
                Ok(0)
            }
            Err(e) => {
                if a.container.rm {
                    let _ = engine.remove_container(&record.id, true, true);
                }
                Ok(report("run", &e.into()))
            }
        }
    } else {
        let io = MonitorIo {
            stdin: a.container.interactive,
            sig_proxy: a.sig_proxy,
        };
        match engine.start_container(&record.id, StartMode::Foreground(io)) {
            Ok(code) => Ok(code.unwrap_or(0).clamp(0, 255) as u8),
            Err(e) => Ok(report("run", &e.into())),
        }
    }
}

pub fn create_cmd(g: &GlobalOptions, a: CreateArgs) -> anyhow::Result<u8> {
    let mut engine = match open_engine(g) {
        Ok(e) => e,
        Err(e) => return Ok(report("create", &e)),
    };
    match create(&mut engine, g, &a.container) {
        Ok(r) => {
            println!("{}", r.id);
            Ok(0)
        }
        Err(e) => Ok(report("create", &e)),
    }
}

/// Creates the container, pulling the image first when it is not local.
fn create(
    engine: &mut Engine,
    g: &GlobalOptions,
    a: &ContainerArgs,
) -> anyhow::Result<kasane_store::metadata::ContainerRecord> {
    let opts = options(a)?;
    if let Err(EngineError::NoSuchImage(_)) = engine.resolve_image(&a.image) {
        eprintln!(
            "Unable to find image '{}' locally",
            kasane_engine::display_name(&a.image)
        );
        super::pull::pull_quietly(engine, g, &a.image)?;
    }
    Ok(engine.create_container(&opts)?)
}

/// The engine's options from the flags.
fn options(a: &ContainerArgs) -> anyhow::Result<ContainerOptions> {
    let restart = RestartPolicy::parse(&a.restart)?;
    if a.rm && restart.name != "no" {
        // A removed container has nothing left to restart; docker refuses the pair too.
        anyhow::bail!("conflicting options: cannot specify both --restart and --rm");
    }
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("open {f}"))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            push_env(&mut env, line);
        }
    }
    for e in &a.env {
        push_env(&mut env, e);
    }
    let mut volumes = Vec::new();
    for v in &a.volume {
        volumes.push(parse_volume(v)?);
    }
    for m in &a.mount {
        volumes.push(parse_mount(m)?);
    }
    for t in &a.tmpfs {
        let (dest, opts) = t.split_once(':').unwrap_or((t, ""));
        volumes.push(VolumeSpec {
            kind: "tmpfs".into(),
            source: String::new(),
            destination: dest.to_owned(),
            read_only: false,
            options: opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
            anonymous: false,
        });
    }
    let mut publish = Vec::new();
    for p in &a.publish {
        publish.extend(kasane_runtime::ports::parse_publish(p)?);
    }
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_owned(), v.to_owned());
    }
    let mut seccomp_unconfined = false;
    for s in &a.security_opt {
        match s.as_str() {
            "seccomp=unconfined" | "seccomp:unconfined" => seccomp_unconfined = true,
            "no-new-privileges" | "no-new-privileges:false" | "no-new-privileges=false" => {}
            other => {
                anyhow::bail!("invalid --security-opt: {other:?} (kasane knows seccomp=unconfined)")
            }
        }
    }
    let mut ulimits = Vec::new();
    for u in &a.ulimit {
        let (name, vals) = u
            .split_once('=')
            .with_context(|| format!("invalid ulimit argument: {u}"))?;
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        let num = |s: &str| -> anyhow::Result<u64> {
            if s == "-1" || s == "unlimited" {
                Ok(u64::MAX)
            } else {
                s.parse()
                    .with_context(|| format!("invalid ulimit argument: {u}"))
            }
        };
        ulimits.push((name.to_owned(), num(soft)?, num(hard)?));
    }
    Ok(ContainerOptions {
        image: a.image.clone(),
        name: a.name.clone(),
        cmd: a.command.clone(),
        entrypoint: a.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                Vec::new()
            } else {
                vec![e.clone()]
            }
        }),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        tty: a.tty,
        interactive: a.interactive,
        read_only: a.read_only,
        privileged: a.privileged,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        network: a.network.clone(),
        memory: a.memory.as_deref().map(parse_bytes).transpose()?,
        cpus: a.cpus,
        pids_limit: a.pids_limit,
        volumes,
        init: a.init,
        publish,
        publish_all: a.publish_all,
        restart,
        auto_remove: a.rm,
        runtime: a.runtime.clone(),
        labels,
        seccomp_unconfined,
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        ulimits,
    })
}

/// `-e KEY=value` as given; bare `-e KEY` takes the host's value, or nothing (docker).
fn push_env(env: &mut Vec<String>, e: &str) {
    if e.contains('=') {
        env.push(e.to_owned());
    } else if let Ok(v) = std::env::var(e) {
        env.push(format!("{e}={v}"));
    }
}

/// `-v host:ctr[:ro]`, `-v name:ctr[:ro]`, `-v ctr` (an anonymous volume).
fn parse_volume(v: &str) -> anyhow::Result<VolumeSpec> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, dest, mode) = match parts.as_slice() {
        [dest] => ("", *dest, ""),
        [src, dest] => (*src, *dest, ""),
        [src, dest, mode] => (*src, *dest, *mode),
        _ => anyhow::bail!("invalid volume specification: '{v}'"),
    };
    let mut read_only = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" | "z" | "Z" | "rprivate" | "private" | "rshared" | "shared" | "rslave"
            | "slave" => {}
            _ => anyhow::bail!("invalid mode: {m}"),
        }
    }
    if !dest.starts_with('/') {
        anyhow::bail!("invalid volume specification: '{v}': mount path must be absolute");
    }
    if source.is_empty() {
        return Ok(VolumeSpec {
            kind: "volume".into(),
            source: String::new(),
            destination: dest.to_owned(),
            read_only,
            options: Vec::new(),
            anonymous: true,
        });
    }
    if source.starts_with('/') || source.starts_with('.') || source.starts_with('~') {
        let abs = std::path::absolute(Path::new(source))
            .with_context(|| format!("invalid volume source {source:?}"))?;
        return Ok(VolumeSpec {
            kind: "bind".into(),
            source: abs.display().to_string(),
            destination: dest.to_owned(),
            read_only,
            options: Vec::new(),
            anonymous: false,
        });
    }
    kasane_engine::volumes::validate_volume_name(source)?;
    Ok(VolumeSpec {
        kind: "volume".into(),
        source: source.to_owned(),
        destination: dest.to_owned(),
        read_only,
        options: Vec::new(),
        anonymous: false,
    })
}

/// `--mount type=bind,source=/a,target=/b[,readonly]`.
fn parse_mount(m: &str) -> anyhow::Result<VolumeSpec> {
    let mut kind = "volume".to_owned();
    let mut source = String::new();
    let mut dest = String::new();
    let mut read_only = false;
    let mut options = Vec::new();
    for field in m.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => kind = v.to_owned(),
            "source" | "src" => source = v.to_owned(),
            "target" | "destination" | "dst" => dest = v.to_owned(),
            "readonly" | "ro" => read_only = v.is_empty() || v == "true" || v == "1",
            "tmpfs-size" => options.push(format!("size={v}")),
            "tmpfs-mode" => options.push(format!("mode={v}")),
            "bind-propagation" | "consistency" | "volume-nocopy" => {}
            _ => anyhow::bail!("invalid field '{k}' in --mount {m}"),
        }
    }
    if dest.is_empty() {
        anyhow::bail!("invalid argument \"{m}\" for \"--mount\" flag: target is required");
    }
    match kind.as_str() {
        "bind" => {
            if source.is_empty() {
                anyhow::bail!("invalid argument \"{m}\" for \"--mount\" flag: source is required");
            }
            let abs = std::path::absolute(&source)?;
            if !abs.exists() {
                anyhow::bail!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    abs.display()
                );
            }
            source = abs.display().to_string();
        }
        "volume" => {} // an empty source: an anonymous volume, named at create
        "tmpfs" => {}
        other => anyhow::bail!("invalid mount type {other:?}: bind, volume or tmpfs"),
    }
    Ok(VolumeSpec {
        anonymous: kind == "volume" && source.is_empty(),
        kind,
        source,
        destination: dest,
        read_only,
        options,
    })
}

/// `64m`, `1g`, `512k`, `1024b`, `1024` → bytes (binary units, as docker).
pub fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|r| !r.is_empty() && r.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid size: '{s}'"))?;
    if !n.is_finite() || n < 0.0 {
        anyhow::bail!("invalid size: '{s}'");
    }
    Ok((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("64mb").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn volumes_parse_like_docker() {
        let v = parse_volume("/tmp:/data:ro").unwrap();
        assert_eq!(
            (v.kind.as_str(), v.source.as_str(), v.read_only),
            ("bind", "/tmp", true)
        );
        let v = parse_volume("cache:/cache").unwrap();
        assert_eq!((v.kind.as_str(), v.source.as_str()), ("volume", "cache"));
        let v = parse_volume("/anon").unwrap();
        // Anonymous: create names it.
        assert_eq!(
            (v.kind.as_str(), v.source.as_str(), v.anonymous),
            ("volume", "", true)
        );
        let m = parse_mount("type=volume,target=/t").unwrap();
        assert_eq!((m.source.as_str(), m.anonymous), ("", true));
        assert!(
            !parse_mount("type=volume,src=named,target=/t")
                .unwrap()
                .anonymous
        );
        assert!(parse_volume("a/b:/c").is_err());
        assert!(parse_volume("/a:rel").is_err());
        assert!(parse_volume("/a:/b:bogus").is_err());
        assert!(parse_volume("a:b:c:d").is_err());
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(m.options, vec!["size=1m"]);
        assert!(parse_mount("type=bind,target=/t").is_err());
    }
}
