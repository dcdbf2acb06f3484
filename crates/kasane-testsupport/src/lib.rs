//! Test support: generates images and layer tars for tests and benchmarks, so that no test
//! ever downloads an image. Depends on no kasane crate on purpose: the images it makes are an
//! independent witness of what kasane must accept.
//!
//! Owns:
//! - [`layer`]: [`LayerBuilder`] → [`Layer`] (deterministic PAX tars: every [`entry`] kind,
//!   owners, modes, mtimes, xattrs, whiteouts) and the [`presets`];
//! - [`image`]: [`ImageBuilder`] → [`Image`] (config + manifest, OCI or Docker media types,
//!   gzip/zstd/none) with corruption helpers for negative tests; [`config`] holds its
//!   vocabulary ([`History`], [`Healthcheck`], [`Platform`]); [`index`]: [`IndexBuilder`] →
//!   [`Index`] for multi-platform images;
//! - writers: [`OciLayout`] (directory or `oci-archive`), [`DockerArchive`] (both
//!   `docker save` layouts), rootfs tarballs for `import`;
//! - [`rootfs`]: the merged tree an image must unpack to, [`Rootfs::scan`] to read an unpacked
//!   tree back and [`Rootfs::diff`] to compare;
//! - [`check`]: consistency checks of layouts and archives (for kasane's `save` output);
//! - [`classic`]: docker classic-builder `created_by` strings;
//! - [`hostile`]: malicious layer tars (owned by the snapshot work);
//! - [`registry`]: servers for registry-client tests (a test PKI, a token server, a private
//!   `docker-registry`, an in-memory registry with fault injection).
//!
//! Determinism: nothing depends on the clock, the host or iteration order; the same calls give
//! byte-identical tars, digests and archives (random content comes from a fixed SplitMix64).
//!
//! ```
//! use kasane_testsupport::{DockerArchive, DockerArchiveFormat, ImageBuilder, LayerBuilder, OciLayout};
//! let image = ImageBuilder::new()
//!     .layer(LayerBuilder::many_small_files(20, 1).build(), "COPY small/ /small/")
//!     .cmd(&["sh"])
//!     .build();
//! let dir = tempfile::tempdir().unwrap();
//! OciLayout::new().image("v1", &image).write(&dir.path().join("layout")).unwrap();
//! DockerArchive::new(DockerArchiveFormat::Oci).image(&["demo:1"], &image).write(&dir.path().join("demo.tar")).unwrap();
//! assert!(kasane_testsupport::check::check_oci_layout(&dir.path().join("layout")).unwrap().is_empty());
//! assert_eq!(image.rootfs().paths().len(), 20 + 1 + 1); // files, small/, small/d000/
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod archive;
pub mod busybox;
pub mod check;
pub mod classic;
pub mod config;
pub mod consts;
pub mod digest;
pub mod docker_archive;
pub mod entry;
pub mod hostile;
pub mod image;
pub mod index;
pub mod layer;
pub mod layout;
pub mod presets;
pub mod registry;
mod rng;
pub mod rootfs;
mod tarw;
pub mod time;

pub use archive::{decompress, read_tar_files};
pub use config::{Healthcheck, History, ManifestFormat, Platform};
pub use consts::DEFAULT_MTIME;
pub use digest::Digest;
pub use docker_archive::{DockerArchive, DockerArchiveFormat, write_docker_archive};
pub use entry::{Content, Entry, EntryKind};
pub use image::{Image, ImageBuilder, ImageLayer, chain_ids};
pub use index::{Index, IndexBuilder};
pub use layer::{Blob, Compression, Layer, LayerBuilder};
pub use layout::{OciLayout, write_oci_archive, write_oci_layout};
pub use rootfs::{CompareOptions, Rootfs, RootfsEntry, RootfsKind};
