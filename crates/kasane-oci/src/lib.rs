//! Pure OCI and Docker image types and parsers: no I/O, no async.
//!
//! Owns the vocabulary every other kasane crate speaks: [`Digest`] and its role newtypes
//! ([`DiffId`], [`ChainId`], [`ImageId`]), [`Descriptor`], media types, [`Platform`],
//! [`Reference`] (docker's normalisation), manifests, indexes and the image config.
//!
//! Raw bytes are kept wherever a digest is computed: parsed types are for reading; the bytes
//! that were hashed are what gets stored and served.
//!
//! Modules:
//! - [`digest`]: `Digest`, `DiffId`, `ChainId`, `ImageId`, `chain_ids`, streaming hashing (long
//!   streams share one multi-lane SHA-256 thread, see `Digester::for_stream`);
//! - [`descriptor`]: `Descriptor`, the typed pointer to a blob;
//! - [`media_type`]: OCI and Docker media types, layer compression, v2s2 <-> OCI mapping;
//! - [`platform`]: `Platform`, containerd's normalisation and `--platform` syntax;
//! - [`reference`](mod@reference): `Reference`, docker's `ParseNormalizedNamed` and familiar names;
//! - [`manifest`]: `Manifest`, `Index`, `ManifestKind::parse`, platform selection;
//! - [`config`]: `ImageConfig`, a lossless superset of OCI's and docker's image config;
//! - [`error`]: `OciError`, the one error type.
//!
//! Everything here is pure: no file system, no network, no async (the one thread, the SHA-256
//! lane hasher, only computes); parsers never panic on input (each has a fuzz target in
//! `fuzz/`).

// House rule: no unwrap outside tests; tests unwrap freely (there is no workspace clippy.toml
// with `allow-unwrap-in-tests`).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod descriptor;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod media_type;
pub mod platform;
pub mod reference;

pub use config::{ContainerConfig, Healthcheck, History, ImageConfig, RootFs};
pub use descriptor::Descriptor;
pub use digest::{
    Algorithm, ChainId, DiffId, Digest, DigestError, Digester, DigestingReader, ImageId, chain_ids,
};
pub use error::{OciError, ReferenceError};
pub use manifest::{Index, Manifest, ManifestKind};
pub use media_type::Compression;
pub use platform::Platform;
pub use reference::Reference;
