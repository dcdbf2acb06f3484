//! Images made here rather than copied (`import`, `commit`): their config and manifest are
//! encoded and stored under the operation's lease, then the image row and the tag asked for
//! are written together. One place, so both operations describe and record an image alike.

use kasane_oci::{Descriptor, Digest, Reference};
use kasane_store::metadata::{ImageRecord, LeaseResource};
use serde_json::{Map, Value, json};

use crate::Engine;
use crate::blob_io::write_small_blob;
use crate::error::{EngineError, Result};
use crate::lease::Lease;

impl Engine {
    /// Encodes `config` as the image config (`config_type`), wraps it with `layers` in a
    /// manifest of `manifest_type`, and stores both blobs under `lease`. Returns the config's
    /// and the manifest's descriptors (the image ID is the config's digest).
    ///
    /// # Errors
    /// `InvalidArgument` if a document cannot be encoded; metadata and store errors.
    pub(crate) fn store_image_blobs(
        &mut self,
        lease: &Lease,
        config: Map<String, Value>,
        config_type: &str,
        manifest_type: &str,
        layers: &[Descriptor],
    ) -> Result<(Descriptor, Descriptor)> {
        let config_bytes = serde_json::to_vec(&Value::Object(config))
            .map_err(|e| EngineError::InvalidArgument(format!("encoding image config: {e}")))?;
        let config_desc = Descriptor::new(
            config_type,
            Digest::sha256_of(&config_bytes),
            config_bytes.len() as u64,
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": config_desc,
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest)
            .map_err(|e| EngineError::InvalidArgument(format!("encoding manifest: {e}")))?;
        let manifest_desc = Descriptor::new(
            manifest_type,
            Digest::sha256_of(&manifest_bytes),
            manifest_bytes.len() as u64,
        );
        self.store_leased_blobs(
            lease,
            &[
                (&config_desc, &config_bytes),
                (&manifest_desc, &manifest_bytes),
            ],
        )?;
        Ok((config_desc, manifest_desc))
    }

    /// Stores small blobs made here (an image's config and manifest), each added to `lease`
    /// first so that a concurrent collection keeps them until an image row refers to them.
    fn store_leased_blobs(&mut self, lease: &Lease, blobs: &[(&Descriptor, &[u8])]) -> Result<()> {
        for (d, _) in blobs {
            lease.add(
                &mut self.metadata,
                LeaseResource::Blob,
                &d.digest.to_string(),
            )?;
        }
        for (d, bytes) in blobs {
            write_small_blob(&*self.store, d, bytes)?;
        }
        Ok(())
    }

    /// Writes the row of an image made here and, when `reference` is given, points that tag
    /// at it and records the tag time, all in one transaction (call it under the lease that
    /// protects the image's blobs and snapshots).
    ///
    /// # Errors
    /// Metadata errors; nothing is written then.
    pub(crate) fn insert_image_tagged(
        &mut self,
        record: &ImageRecord,
        reference: Option<&Reference>,
    ) -> Result<()> {
        let tag_time = jiff::Timestamp::now().to_string();
        self.metadata.write(|tx| {
            tx.insert_image(record)?;
            if let Some(r) = reference {
                tx.set_tag(&r.to_string(), &record.id)?;
                tx.set_last_tag_time(&record.id, &tag_time)?;
            }
            Ok(())
        })?;
        Ok(())
    }
}
