//! `kasane import FILE|- [REPOSITORY[:TAG]]`: prints the new image ID (`sha256:…`).

use std::path::Path;

use clap::Args;
use kasane_engine::ImportOptions;

use super::{GlobalOptions, open_engine};

/// `import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// The tarball: a file, or - for STDIN
    #[arg(value_name = "file|URL|-")]
    source: String,
    /// Name for the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

pub fn run(g: &GlobalOptions, a: ImportArgs) -> anyhow::Result<u8> {
    if a.source.starts_with("http://") || a.source.starts_with("https://") {
        anyhow::bail!(
            "importing from a URL is not supported yet: download {} first and import the file",
            a.source
        );
    }
    let platform = a.platform.as_deref().map(str::parse).transpose()?;
    let opts = ImportOptions {
        source: a.source.clone(),
        reference: a.reference.clone(),
        changes: a.changes.clone(),
        message: a.message.clone(),
        platform,
    };
    let mut engine = open_engine(g)?;
    let id = if a.source == "-" {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        engine.import(&mut lock, &opts)?
    } else {
        let path = Path::new(&a.source);
        let mut f = std::fs::File::open(path)
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
        engine.import(&mut f, &opts)?
    };
    println!("{id}");
    Ok(0)
}
