//! `export`: a container's filesystem as one tar stream, as docker exports it: the image's
//! layers merged with the container's changes, without its mounts or volumes; names
//! relative to the root (`bin/sh`), directories first, hard links kept as links.

use std::io::Write;
use std::os::fd::AsFd;

use super::{TarOut, list_names};
use crate::Engine;
use crate::error::{EngineError, Result};

impl Engine {
    /// Writes container `name`'s filesystem to `out` as a tar stream; returns the bytes of
    /// file content written.
    ///
    /// # Errors
    /// `NoSuchContainer`; `Io` when a file cannot be read or `out` written.
    pub fn export_container(&mut self, name: &str, out: &mut dyn Write) -> Result<u64> {
        let record = self.find_container(name)?;
        self.with_layers_root(&record, |root| {
            let what = |e: std::io::Error| {
                EngineError::io(format!("exporting container {}", record.name), e)
            };
            let mut t = TarOut::new(&mut *out);
            for n in list_names(root.as_fd()).map_err(what)? {
                t.tree(root, &n, &n).map_err(what)?;
            }
            let written = t.content;
            t.finish().map_err(what)?;
            Ok(written)
        })
    }
}
