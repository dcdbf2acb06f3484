//! `diff`, `cp`, `commit` and `top`: a container's files and processes.

use std::io::{IsTerminal, Write};
use std::path::Path;

use clap::{ArgAction, Args};
use kasane::output::{TabOptions, human_size, tabwrite_with};
use kasane_engine::EngineError;
use kasane_engine::containers::{CommitOptions, CopyOptions};

use super::{GlobalOptions, open_engine};

/// `diff CONTAINER`
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-` and `cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if
    /// no terminal is attached
    #[arg(short = 'q', long)]
    quiet: bool,
    /// The source: CONTAINER:SRC_PATH, a local path, or - for a tar stream on STDIN
    #[arg(value_name = "SRC_PATH", allow_hyphen_values = true)]
    src: String,
    /// The destination: CONTAINER:DEST_PATH, a local path, or - for a tar stream on STDOUT
    #[arg(value_name = "DEST_PATH", allow_hyphen_values = true)]
    dest: String,
}

/// `commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    changes: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(
        short = 'p',
        long,
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pause: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Name for the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

/// `top CONTAINER [ps OPTIONS]`
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Options for ps (default -ef)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps OPTIONS"
    )]
    ps_args: Vec<String>,
}

/// `export [-o FILE] CONTAINER`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub fn export(g: &GlobalOptions, a: ExportArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let mut failed = None;
    super::save::write_archive(a.output.as_deref(), |w| {
        if let Err(e) = engine.export_container(&a.container, w) {
            failed = Some(e);
        }
        Ok(())
    })
    .or_else(|e| if failed.is_some() { Ok(()) } else { Err(e) })?;
    Ok(match failed {
        Some(e) => daemon_error(&e),
        None => 0,
    })
}

/// Prints an engine error as docker's CLI prints a daemon error; exit code 1.
fn daemon_error(e: &EngineError) -> u8 {
    let msg = kasane_engine::containers::monitor::full_message(e);
    eprintln!("Error response from daemon: {msg}");
    1
}

pub fn diff(g: &GlobalOptions, a: DiffArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let changes = match engine.container_changes(&a.container) {
        Ok(c) => c,
        Err(e) => return Ok(daemon_error(&e)),
    };
    let mut out = std::io::stdout().lock();
    for (kind, path) in changes {
        writeln!(out, "{kind} {path}")?;
    }
    out.flush()?;
    Ok(0)
}

/// docker's `splitCpArg`: `CONTAINER:PATH`, unless the argument is an absolute path or an
/// explicit relative one (`./a:b`).
fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((container, path)) if !container.starts_with('.') => (Some(container), path),
        _ => (None, arg),
    }
}

pub fn cp(g: &GlobalOptions, a: CpArgs) -> anyhow::Result<u8> {
    let (src_container, src_path) = split_cp_arg(&a.src);
    let (dest_container, dest_path) = split_cp_arg(&a.dest);
    let opts = CopyOptions {
        follow_link: a.follow_link,
        archive: a.archive,
    };
    let mut engine = open_engine(g)?;
    let (result, shown) = match (src_container, dest_container) {
        (None, None) => anyhow::bail!("must specify at least one container source"),
        (Some(_), Some(_)) => anyhow::bail!("copying between containers is not supported"),
        (Some(c), None) => {
            if src_path.is_empty() {
                anyhow::bail!("source path must not be empty");
            }
            if dest_path == "-" {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                let r = engine.copy_from_container_tar(c, src_path, &mut out, &opts);
                out.flush()?;
                // A tar on STDOUT is the output: no message.
                return Ok(match r {
                    Ok(_) => 0,
                    Err(e) => daemon_error(&e),
                });
            }
            (
                engine.copy_from_container(c, src_path, Path::new(dest_path), &opts),
                dest_path.to_owned(),
            )
        }
        (None, Some(c)) => {
            if dest_path.is_empty() {
                anyhow::bail!("destination path must not be empty");
            }
            if src_path == "-" {
                let stdin = std::io::stdin();
                let mut input = stdin.lock();
                (
                    engine.copy_tar_to_container(c, &mut input, dest_path),
                    a.dest.clone(),
                )
            } else {
                (
                    engine.copy_to_container(c, Path::new(src_path), dest_path, &opts),
                    a.dest.clone(),
                )
            }
        }
    };
    match result {
        Ok(size) => {
            if !a.quiet && std::io::stderr().is_terminal() {
                let size = i64::try_from(size).unwrap_or(i64::MAX);
                eprintln!("Successfully copied {} to {shown}", human_size(size));
            }
            Ok(0)
        }
        Err(e) => Ok(daemon_error(&e)),
    }
}

pub fn commit(g: &GlobalOptions, a: CommitArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let opts = CommitOptions {
        reference: a.reference,
        message: a.message,
        author: a.author,
        changes: a.changes,
        pause: a.pause,
    };
    match engine.commit_container(&a.container, &opts) {
        Ok(id) => {
            println!("{id}");
            Ok(0)
        }
        Err(e) => Ok(daemon_error(&e)),
    }
}

pub fn top(g: &GlobalOptions, a: TopArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let list = match engine.container_top(&a.container, &a.ps_args) {
        Ok(l) => l,
        Err(e) => return Ok(daemon_error(&e)),
    };
    // docker: a tabwriter with minwidth 20, padding 3.
    let mut text = list.titles.join("\t");
    text.push('\n');
    for p in &list.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    let table = tabwrite_with(
        &text,
        &TabOptions {
            min_width: 20,
            padding: 3,
        },
    );
    let mut out = std::io::stdout().lock();
    out.write_all(table.as_bytes())?;
    out.flush()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_arguments_split_like_docker() {
        assert_eq!(split_cp_arg("cpc:/tmp/x"), (Some("cpc"), "/tmp/x"));
        assert_eq!(split_cp_arg("/abs:path"), (None, "/abs:path"));
        assert_eq!(split_cp_arg("./file:name"), (None, "./file:name"));
        assert_eq!(split_cp_arg("local"), (None, "local"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
    }
}
