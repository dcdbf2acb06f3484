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
    let platform = a.platform.as_deref().map(str::parse).transpose()?;
    let opts = ImportOptions {
        source: a.source.clone(),
        reference: a.reference.clone(),
        changes: a.changes.clone(),
        message: a.message.clone(),
        platform,
    };
    let mut engine = open_engine(g)?;
    let id = if a.source.starts_with("http://") || a.source.starts_with("https://") {
        let mut body = download(&a.source)?;
        engine.import(&mut body, &opts)?
    } else if a.source == "-" {
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

/// Streams a tarball from an http(s) URL (docker's `import URL`).
fn download(url: &str) -> anyhow::Result<reqwest::blocking::Response> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        // A rootfs can be large: no limit on the whole transfer, only on connecting.
        .timeout(None)
        .build()
        .map_err(|e| anyhow::anyhow!("starting an HTTP client: {e}"))?;
    let response = client
        .get(url)
        .send()
        .map_err(|e| anyhow::anyhow!("downloading {url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("downloading {url}: the server answered {status}");
    }
    Ok(response)
}
