//! Resolving what a user typed — `nginx`, `nginx:1.27`, `localhost:5000/a/b@sha256:…`,
//! `4438967ac10e`, `sha256:4438…` — to one image, the way docker's daemon does.
//!
//! Order: a `sha256:` ID (full or prefix); then the name as a normalised reference (tag, or
//! repository digest); then, if the text is hex, an ID prefix. A prefix that matches several
//! images is an error rather than a guess.

use kasane_oci::{ImageId, Reference};
use kasane_store::metadata::ImageRecord;

use crate::Engine;
use crate::error::{EngineError, Result};

/// How a name matched an image (rmi needs to know whether the user named a tag or an ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// By tag: the full reference (`docker.io/library/nginx:latest`).
    Tag(Reference),
    /// By `repository@digest`.
    Digest(Reference),
    /// By ID or ID prefix.
    Id,
}

/// The name to show in "No such image" errors: familiar form with the default tag, as docker.
pub fn display_name(name: &str) -> String {
    match name.parse::<Reference>() {
        Ok(r) if !is_hex(name) || name.len() == 64 => r.with_default_tag().familiar(),
        _ => name.to_owned(),
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Engine {
    /// Resolves `name` to an image and says how it matched.
    ///
    /// # Errors
    /// `NoSuchImage` when nothing matches; `AmbiguousId` when an ID prefix matches several.
    pub fn resolve_image(&mut self, name: &str) -> Result<(ImageRecord, Matched)> {
        if let Some(hex) = name.strip_prefix("sha256:") {
            return self.by_prefix(hex, name).map(|r| (r, Matched::Id));
        }
        if let Ok(reference) = name.parse::<Reference>() {
            let found = self.metadata.read(|tx| {
                let reference = &reference;
                if let Some(digest) = &reference.digest {
                    let repo = reference.name();
                    Ok(tx.repo_digest(&repo, digest)?.map(|id| (id, true)))
                } else {
                    let tagged = reference.clone().with_default_tag();
                    Ok(tx.tag(&tagged.to_string())?.map(|id| (id, false)))
                }
            })?;
            if let Some((id, by_digest)) = found {
                let record = self.image_record(&id)?;
                let how = if by_digest {
                    Matched::Digest(reference)
                } else {
                    Matched::Tag(reference.with_default_tag())
                };
                return Ok((record, how));
            }
        }
        if is_hex(name) && name.len() <= 64 {
            return self.by_prefix(name, name).map(|r| (r, Matched::Id));
        }
        Err(EngineError::NoSuchImage(display_name(name)))
    }

    /// The record of an image known to exist.
    pub(crate) fn image_record(&mut self, id: &ImageId) -> Result<ImageRecord> {
        self.metadata
            .read(|tx| tx.image(id))?
            .ok_or_else(|| EngineError::NoSuchImage(id.to_string()))
    }

    fn by_prefix(&mut self, hex: &str, shown: &str) -> Result<ImageRecord> {
        if !is_hex(hex) || hex.len() > 64 {
            return Err(EngineError::NoSuchImage(shown.to_owned()));
        }
        let ids = self.metadata.read(|tx| tx.images_by_prefix(hex))?;
        match ids.as_slice() {
            [] => Err(EngineError::NoSuchImage(display_name(shown))),
            [one] => self.image_record(one),
            _ => Err(EngineError::AmbiguousId(shown.to_owned())),
        }
    }
}
