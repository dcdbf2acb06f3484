//! Argument definitions (docker's syntax) and dispatch: one module per command.

mod about;
mod attach;
mod container;
mod container_files;
mod history;
mod images;
mod import;
mod inspect;
mod inspect_view;
mod load;
mod login;
mod manifest;
mod prune;
mod ps;
mod pull;
mod push;
mod registry;
mod rmi;
mod run;
mod save;
mod stats;
mod system;
mod tag;
mod volume;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use kasane_engine::{Engine, EngineOptions, SnapshotterKind};

/// A daemonless, Docker-compatible container image engine.
#[derive(Debug, Parser)]
#[command(name = "kasane", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalOptions,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options before the command (`kasane --root DIR images`).
#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// State root (default /var/lib/kasane as root, $XDG_DATA_HOME/kasane otherwise)
    #[arg(long, global = true, env = "KASANE_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Log level: debug, info, warn, error, fatal
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
    /// Enable debug output
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
    /// Snapshotter for a new state root: overlay, native (vfs), or auto
    #[arg(long = "storage-driver", global = true, value_name = "DRIVER")]
    pub storage_driver: Option<String>,
}

/// docker's commands (and their `image …`/`system …` forms).
///
/// Each command's flags are defined only when it is the one invoked (`defer`): building all
/// of them cost about a millisecond at every start of kasane.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// List images
    #[command(visible_alias = "image-ls")]
    Images(images::ImagesArgs),
    /// Return low-level information on containers, images and volumes
    Inspect(inspect::InspectArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Remove one or more images
    Rmi(rmi::RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
    /// Manage Docker image manifests and manifest lists
    #[command(subcommand)]
    Manifest(manifest::ManifestCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage kasane
    #[command(subcommand)]
    System(SystemCommand),
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Start one or more stopped containers
    Start(container::StartArgs),
    /// Stop one or more running containers
    Stop(container::StopArgs),
    /// Kill one or more running containers
    Kill(container::KillArgs),
    /// Restart one or more containers
    Restart(container::StopArgs),
    /// Rename a container
    Rename(container::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(container::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(container::PauseArgs),
    /// Remove one or more containers
    Rm(container::RmArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Execute a command in a running container
    Exec(container::ExecArgs),
    /// Fetch the logs of a container
    Logs(container::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container::WaitArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::PortArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(container_files::DiffArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(container_files::CpArgs),
    /// Create a new image from a container's changes
    Commit(container_files::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(container_files::ExportArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Display the running processes of a container
    Top(container_files::TopArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Show the kasane version information
    Version(about::VersionArgs),
    /// Display system-wide information
    Info(about::InfoArgs),
    /// The container monitor (internal)
    #[command(name = "__monitor", hide = true)]
    Monitor(container::MonitorArgs),
}

/// `kasane container …`
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Start one or more stopped containers
    Start(container::StartArgs),
    /// Stop one or more running containers
    Stop(container::StopArgs),
    /// Kill one or more running containers
    Kill(container::KillArgs),
    /// Restart one or more containers
    Restart(container::StopArgs),
    /// Rename a container
    Rename(container::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(container::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(container::PauseArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(container::RmArgs),
    /// List containers
    #[command(alias = "list", alias = "ps")]
    Ls(ps::PsArgs),
    /// Execute a command in a running container
    Exec(container::ExecArgs),
    /// Fetch the logs of a container
    Logs(container::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container::WaitArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::PortArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(container_files::DiffArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(container_files::CpArgs),
    /// Create a new image from a container's changes
    Commit(container_files::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(container_files::ExportArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Display the running processes of a container
    Top(container_files::TopArgs),
    /// Remove all stopped containers
    Prune(prune::ContainerPruneArgs),
}

/// `kasane image …`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(images::ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(inspect::InspectArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(rmi::RmiArgs),
    /// Remove unused images
    Prune(prune::ImagePruneArgs),
    /// Save one or more images to a tar archive
    Save(save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
}

/// `kasane system …`
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage
    Df(system::DfArgs),
    /// Remove unused data
    Prune(system::SystemPruneArgs),
    /// Verify every blob, snapshot and metadata row; repair with --repair
    Check(system::CheckArgs),
    /// Display system-wide information
    Info(about::InfoArgs),
}

/// Sets up `tracing` from `--log-level`/`-D` (stderr).
pub fn init_logging(g: &GlobalOptions) {
    let level = if g.debug {
        "debug"
    } else {
        match g.log_level.as_str() {
            "fatal" => "error",
            l => l,
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A second initialisation can only happen in tests; ignoring it is correct.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Opens the engine with the global options.
pub fn open_engine(g: &GlobalOptions) -> anyhow::Result<Engine> {
    let snapshotter = match g.storage_driver.as_deref() {
        None | Some("auto") => SnapshotterKind::Auto,
        Some("overlay") | Some("overlay2") => SnapshotterKind::Overlay,
        Some("native") | Some("vfs") => SnapshotterKind::Native,
        Some(other) => {
            anyhow::bail!("unknown storage driver {other:?}: use overlay, native (vfs) or auto")
        }
    };
    let engine = Engine::open(&EngineOptions {
        root: g.root.clone().unwrap_or_default(),
        snapshotter,
    })?;
    Ok(engine)
}

/// Runs the command; returns the exit code for non-error exits.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match cli.command {
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::run(g, a),
        Command::Inspect(a) | Command::Image(ImageCommand::Inspect(a)) => inspect::run(g, a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => history::run(g, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => tag::run(g, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => rmi::run(g, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => save::run(g, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => load::run(g, a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => import::run(g, a),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::run(g, a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => push::run(g, a),
        Command::Login(a) => login::login(g, a),
        Command::Logout(a) => login::logout(g, a),
        Command::Manifest(c) => manifest::run(g, c),
        Command::Image(ImageCommand::Prune(a)) => prune::run(g, a),
        Command::System(SystemCommand::Df(a)) => system::df(g, a),
        Command::System(SystemCommand::Prune(a)) => system::prune(g, a),
        Command::System(SystemCommand::Check(a)) => system::check(g, a),
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => run::run(g, a),
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => {
            run::create_cmd(g, a)
        }
        Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => {
            container::start(g, a)
        }
        Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => container::stop(g, a),
        Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => container::kill(g, a),
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => {
            container::restart(g, a)
        }
        Command::Rename(a) | Command::Container(ContainerCommand::Rename(a)) => {
            container::rename(g, a)
        }
        Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => {
            container::pause(g, a)
        }
        Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => {
            container::unpause(g, a)
        }
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => container::rm(g, a),
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => ps::run(g, a),
        Command::Attach(a) | Command::Container(ContainerCommand::Attach(a)) => attach::run(g, a),
        Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => container::exec(g, a),
        Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => container::logs(g, a),
        Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => container::wait(g, a),
        Command::Port(a) | Command::Container(ContainerCommand::Port(a)) => container::port(g, a),
        Command::Diff(a) | Command::Container(ContainerCommand::Diff(a)) => {
            container_files::diff(g, a)
        }
        Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => container_files::cp(g, a),
        Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => {
            container_files::commit(g, a)
        }
        Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => {
            container_files::export(g, a)
        }
        Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => stats::run(g, a),
        Command::Top(a) | Command::Container(ContainerCommand::Top(a)) => {
            container_files::top(g, a)
        }
        Command::Container(ContainerCommand::Prune(a)) => prune::containers(g, a),
        Command::Volume(c) => volume::run(g, c),
        Command::Version(a) => about::version(g, a),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => about::info(g, a),
        Command::Monitor(a) => container::monitor(g, a),
    }
}

/// Seconds since the epoch, for "… ago" columns.
pub fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Asks docker's `[y/N]` question on stderr/stdin; only `y`/`Y` confirms.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    let mut out = std::io::stdout();
    write!(out, "{warning} [y/N] ")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y"))
}

/// `12-hex` or `sha256:<64 hex>` form of an image ID.
pub fn image_id(id: &kasane_oci::ImageId, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.0.short().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_command_definition_is_consistent() {
        // Builds the deferred commands too, so a clash of flags shows here, not in use.
        super::Cli::command().debug_assert();
    }
}
