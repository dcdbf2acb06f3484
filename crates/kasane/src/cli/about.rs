//! `kasane version` and `kasane info`: docker's two "what is installed here" commands, with
//! docker's layout and `--format` fields. kasane has no daemon: the "Server" is this process,
//! reporting the state root it would use.

use clap::Args;
use kasane::output::{Hints, InspectFormat, bytes_size, render_inspect};
use serde_json::{Value, json};

use super::{GlobalOptions, open_engine};

/// The docker API version whose commands and formats kasane follows (docker 27).
const API_VERSION: &str = "1.47";

/// `version [--format]`
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short, long)]
    format: Option<String>,
}

/// `info [--format]`
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short, long)]
    format: Option<String>,
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Prints `doc` through `--format` (docker: `json` is the object itself, a template runs
/// once); `None` when there is no `--format`.
fn formatted(format: Option<&str>, doc: &Value) -> anyhow::Result<Option<u8>> {
    let Some(f) = format.filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    if f == "json" {
        println!("{doc}");
        return Ok(Some(0));
    }
    let format: InspectFormat = match super::inspect::inspect_format(Some(f))? {
        Ok(format) => format,
        Err(code) => return Ok(Some(code)),
    };
    let out = render_inspect(&format, std::slice::from_ref(doc), &Hints::new());
    print!("{}", out.stdout);
    for e in &out.errors {
        eprintln!("{e}");
    }
    Ok(Some(u8::from(!out.errors.is_empty())))
}

/// Aligns `key: value` lines as docker's version template does (tabwriter, min width 20).
fn align(lines: &[(usize, &str, String)]) -> String {
    let mut out = String::new();
    for (indent, key, value) in lines {
        let label = format!("{}{key}:", " ".repeat(*indent));
        out.push_str(&format!("{label:<20}{value}\n"));
    }
    out
}

/// The runtimes `--runtime` can name here: the embedded one, and crun/runc when installed.
fn runtimes() -> Vec<&'static str> {
    let mut out = vec!["kasane"];
    for name in ["crun", "runc"] {
        if kasane_runtime::RuntimeChoice::resolve(name).is_ok() {
            out.push(name);
        }
    }
    out.sort_unstable();
    out
}

pub fn version(_g: &GlobalOptions, a: VersionArgs) -> anyhow::Result<u8> {
    let version = env!("CARGO_PKG_VERSION");
    let doc = json!({
        "Client": {
            "Platform": {"Name": "kasane"},
            "Version": version,
            "ApiVersion": API_VERSION,
            "DefaultAPIVersion": API_VERSION,
            "GoVersion": "",
            "GitCommit": "",
            "BuildTime": "",
            "Os": std::env::consts::OS,
            "Arch": arch(),
            "Context": "default",
        },
        "Server": {
            "Platform": {"Name": "kasane (daemonless)"},
            "Components": [
                {"Name": "Engine", "Version": version, "Details": {
                    "ApiVersion": API_VERSION, "Os": std::env::consts::OS, "Arch": arch(),
                }},
                {"Name": "youki (embedded runtime)", "Version": "0.7.0", "Details": {}},
            ],
            "Version": version,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": API_VERSION,
            "Os": std::env::consts::OS,
            "Arch": arch(),
            "KernelVersion": kernel_version(),
        },
    });
    if let Some(code) = formatted(a.format.as_deref(), &doc)? {
        return Ok(code);
    }
    let os_arch = format!("{}/{}", std::env::consts::OS, arch());
    let mut text = String::from("Client: kasane\n");
    text.push_str(&align(&[
        (1, "Version", version.to_owned()),
        (1, "API version", API_VERSION.to_owned()),
        (1, "OS/Arch", os_arch.clone()),
        (1, "Context", "default".to_owned()),
    ]));
    text.push_str("\nServer: kasane (daemonless)\n Engine:\n");
    text.push_str(&align(&[
        (2, "Version", version.to_owned()),
        (2, "API version", API_VERSION.to_owned()),
        (2, "OS/Arch", os_arch),
    ]));
    text.push_str(" youki (embedded runtime):\n");
    text.push_str(&align(&[(2, "Version", "0.7.0".to_owned())]));
    print!("{text}");
    Ok(0)
}

fn kernel_version() -> String {
    let u = rustix::system::uname();
    u.release().to_string_lossy().into_owned()
}

/// `PRETTY_NAME` of `/etc/os-release`.
fn operating_system() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| "Linux".to_owned())
}

/// docker's name for the filesystem holding `path` (`extfs`, `xfs`, `btrfs`, …).
fn backing_filesystem(path: &std::path::Path) -> String {
    let Ok(st) = rustix::fs::statfs(path) else {
        return "<unknown>".into();
    };
    match st.f_type as u64 {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        _ => "<unknown>",
    }
    .into()
}

fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

pub fn info(g: &GlobalOptions, a: InfoArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let containers = engine.list_containers(true, false)?;
    let running = containers
        .iter()
        .filter(|c| c.state.is_running() && !c.state.paused)
        .count();
    let paused = containers.iter().filter(|c| c.state.paused).count();
    let images = engine.images()?.len();
    let root = engine.root().to_path_buf();
    let driver = match engine.snapshotter_name() {
        "overlay" => "overlay2",
        _ => "vfs",
    };
    let registries = kasane_registry::registries_conf::RegistriesConfig::load_default()
        .map(|c| c.entries().to_vec())
        .unwrap_or_default();
    let mut insecure: Vec<String> = vec!["::1/128".into(), "127.0.0.0/8".into()];
    let mut mirrors = Vec::new();
    for r in &registries {
        if r.insecure {
            insecure.push(r.location.clone());
        }
        for m in &r.mirrors {
            mirrors.push(format!("https://{}/", m.location));
        }
    }
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Each host fact is read once, for the JSON and the text alike.
    let backing = backing_filesystem(&root);
    let runtimes = runtimes();
    let kernel = kernel_version();
    let os = operating_system();
    let memory = kasane_engine::containers::stats::host_memory();
    let cgroups = cgroup_version();
    let doc = json!({
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": images,
        "Driver": driver,
        "DriverStatus": [["Backing Filesystem", backing]],
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroups,
        "Plugins": {"Volume": ["local"], "Network": ["host", "none", "private"], "Log": ["json-file"]},
        "Runtimes": runtimes
            .iter()
            .map(|r| (r.to_string(), json!({"path": if *r == "kasane" { "embedded youki" } else { r }})))
            .collect::<serde_json::Map<String, Value>>(),
        "DefaultRuntime": "kasane",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "KernelVersion": kernel,
        "OperatingSystem": os,
        "OSType": std::env::consts::OS,
        "Architecture": std::env::consts::ARCH,
        "NCPU": ncpu,
        "MemTotal": memory,
        "Name": hostname,
        "DockerRootDir": root.display().to_string(),
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "RegistryConfig": {
            "InsecureRegistryCIDRs": insecure,
            "Mirrors": mirrors,
        },
    });
    if let Some(code) = formatted(a.format.as_deref(), &doc)? {
        return Ok(code);
    }
    let mut s = String::new();
    s.push_str("Client: kasane\n");
    s.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    s.push_str(" Context:    default\n");
    s.push_str(&format!(" Debug Mode: {}\n\n", g.debug));
    s.push_str("Server:\n");
    s.push_str(&format!(" Containers: {}\n", containers.len()));
    s.push_str(&format!("  Running: {running}\n"));
    s.push_str(&format!("  Paused: {paused}\n"));
    s.push_str(&format!(
        "  Stopped: {}\n",
        containers.len() - running - paused
    ));
    s.push_str(&format!(" Images: {images}\n"));
    s.push_str(&format!(" Server Version: {}\n", env!("CARGO_PKG_VERSION")));
    s.push_str(&format!(" Storage Driver: {driver}\n"));
    s.push_str(&format!("  Backing Filesystem: {}\n", backing));
    s.push_str(" Logging Driver: json-file\n");
    s.push_str(" Cgroup Driver: cgroupfs\n");
    s.push_str(&format!(" Cgroup Version: {cgroups}\n"));
    s.push_str(" Plugins:\n  Volume: local\n  Network: host none private\n  Log: json-file\n");
    s.push_str(&format!(" Runtimes: {}\n", runtimes.join(" ")));
    s.push_str(" Default Runtime: kasane\n");
    s.push_str(" Security Options:\n  seccomp\n   Profile: builtin\n");
    s.push_str(&format!(" Kernel Version: {kernel}\n"));
    s.push_str(&format!(" Operating System: {os}\n"));
    s.push_str(&format!(" OSType: {}\n", std::env::consts::OS));
    s.push_str(&format!(" Architecture: {}\n", std::env::consts::ARCH));
    s.push_str(&format!(" CPUs: {ncpu}\n"));
    s.push_str(&format!(
        " Total Memory: {}\n",
        bytes_size(i64::try_from(memory).unwrap_or(i64::MAX))
    ));
    s.push_str(&format!(
        " Name: {}\n",
        doc["Name"].as_str().unwrap_or_default()
    ));
    s.push_str(&format!(" Docker Root Dir: {}\n", root.display()));
    s.push_str(&format!(" Debug Mode: {}\n", g.debug));
    s.push_str(" Experimental: false\n");
    s.push_str(" Insecure Registries:\n");
    for i in &insecure {
        s.push_str(&format!("  {i}\n"));
    }
    if !mirrors.is_empty() {
        s.push_str(" Registry Mirrors:\n");
        for m in &mirrors {
            s.push_str(&format!("  {m}\n"));
        }
    }
    s.push_str(" Live Restore Enabled: false\n");
    print!("{s}");
    Ok(0)
}
