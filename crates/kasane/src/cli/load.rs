//! `kasane load [-i FILE] [-q]`: `Loaded image: …` lines like docker (docker-formats §1.9).

use std::path::PathBuf;

use clap::Args;

use super::{GlobalOptions, open_engine};

/// `load [OPTIONS]`
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(g: &GlobalOptions, a: LoadArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let report = match &a.input {
        Some(p) => engine.load_path(p)?,
        None => {
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            engine.load_reader(&mut lock)?
        }
    };
    if a.quiet {
        return Ok(0);
    }
    for (tag, old) in &report.renamed {
        println!(
            "The image {} already exists, renaming the old one with ID {old} to empty string",
            tag.familiar()
        );
    }
    for img in &report.images {
        for t in &img.tags {
            println!("Loaded image: {}", t.familiar());
        }
    }
    if report.images.last().is_some_and(|i| i.tags.is_empty()) {
        for img in &report.images {
            println!("Loaded image ID: {}", img.id);
        }
    }
    Ok(0)
}
