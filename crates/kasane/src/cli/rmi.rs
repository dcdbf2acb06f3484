//! `kasane rmi` / `image rm`: `Untagged:`/`Deleted:` lines like docker; continues past
//! names that fail and exits 1 if any did.

use clap::Args;
use kasane_engine::RemoveEvent;

use super::{GlobalOptions, open_engine};

/// `rmi [OPTIONS] IMAGE [IMAGE...]`
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    /// Images to remove
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub fn run(g: &GlobalOptions, a: RmiArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let _ = a.no_prune; // images have no local parents to prune until the builder exists
    let mut failed = false;
    for result in engine.remove_images(&a.images, a.force) {
        match result {
            Ok(events) => {
                for e in events {
                    match e {
                        RemoveEvent::Untagged(r) => println!("Untagged: {r}"),
                        RemoveEvent::Deleted(d) => println!("Deleted: {d}"),
                    }
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("Error: {e}");
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
