//! `kasane save [-o FILE] [--format docker-archive|oci-archive] IMAGE...`

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use kasane_engine::ArchiveFormat;

use super::{GlobalOptions, open_engine};

/// `save [OPTIONS] IMAGE [IMAGE...]`
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Archive format: docker-archive (default) or oci-archive
    #[arg(long, default_value = "docker-archive")]
    format: String,
    /// Images to save
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn run(g: &GlobalOptions, a: SaveArgs) -> anyhow::Result<u8> {
    let format = match a.format.as_str() {
        "docker-archive" | "docker" => ArchiveFormat::DockerArchive,
        "oci-archive" | "oci" => ArchiveFormat::OciArchive,
        other => {
            anyhow::bail!("unknown archive format {other:?}: use docker-archive or oci-archive")
        }
    };
    let mut engine = open_engine(g)?;
    write_archive(a.output.as_deref(), |w| {
        engine.save(&a.images, format, w)?;
        Ok(())
    })?;
    Ok(0)
}

/// Writes an archive made by `write` to `output`, or to stdout when `None` (never to a
/// terminal, as docker). A file is written beside its target and renamed into place once
/// complete and synced, so a failure leaves no half file.
pub fn write_archive(
    output: Option<&Path>,
    write: impl FnOnce(&mut (dyn Write + Send)) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
                anyhow::anyhow!("creating a temporary file in {}: {e}", dir.display())
            })?;
            {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
                write(&mut w)?;
                w.flush()
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            }
            tmp.as_file().sync_all()?;
            tmp.persist(path)
                .map_err(|e| anyhow::anyhow!("writing {}: {}", path.display(), e.error))?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout);
            write(&mut w)?;
            w.flush()
                .map_err(|e| anyhow::anyhow!("writing to standard output: {e}"))?;
        }
    }
    Ok(())
}
