//! Putting single blobs into the store: copied verified from a provider, or written from
//! bytes the caller has already verified (manifests, configs).

use std::io::Write;

use kasane_oci::{Descriptor, Digest};
use kasane_store::{Ingester, Provider};

/// Copies one blob, verified, from `src` into `dst` (resuming a partial ingest; nothing to
/// do when `dst` has it).
pub(crate) fn copy_blob(
    src: &dyn Provider,
    dst: &dyn Ingester,
    desc: &Descriptor,
) -> kasane_store::Result<()> {
    let never = |_: &Digest| Ok(false);
    kasane_store::copy::copy_blob(src, dst, &never, desc, &Default::default()).map(drop)
}

/// Writes bytes already verified against `desc` (a manifest or config) into `dst`.
pub(crate) fn write_small_blob(
    dst: &dyn Ingester,
    desc: &Descriptor,
    bytes: &[u8],
) -> kasane_store::Result<()> {
    let mut w = dst.writer(Some(desc))?;
    let resumed = usize::try_from(w.offset())
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    w.write_all(&bytes[resumed..])
        .map_err(|source| kasane_store::StoreError::Stream {
            what: format!("writing blob {}", desc.digest),
            source,
        })?;
    w.commit()?;
    Ok(())
}
