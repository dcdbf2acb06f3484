//! Pure OCI and Docker image types and parsers: no I/O, no async.
//!
//! Owns the vocabulary every other kasane crate speaks: [`Digest`] and its role newtypes
//! ([`DiffId`], [`ChainId`], [`ImageId`]), [`Descriptor`], media types, [`Platform`],
//! [`Reference`] (docker's normalisation), manifests, indexes and the image config.
//!
//! Raw bytes are kept wherever a digest is computed: parsed types are for reading; the bytes
//! that were hashed are what gets stored and served.

pub mod config;
pub mod descriptor;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod media_type;
pub mod platform;
pub mod reference;

pub use config::{ContainerConfig, History, ImageConfig, RootFs};
pub use descriptor::Descriptor;
pub use digest::{chain_ids, Algorithm, ChainId, DiffId, Digest, DigestError, Digester, DigestingReader, ImageId};
pub use error::OciError;
pub use manifest::{Index, Manifest, ManifestKind};
pub use platform::Platform;
pub use reference::Reference;
