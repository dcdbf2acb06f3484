//! `kasane tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`: prints nothing, like docker.

use clap::Args;

use super::{GlobalOptions, open_engine};

/// `tag SOURCE TARGET`
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image to tag (name, ID or digest)
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    /// The new name
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

pub fn run(g: &GlobalOptions, a: TagArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    engine.tag(&a.source, &a.target)?;
    Ok(0)
}
