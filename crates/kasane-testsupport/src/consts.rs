//! Media types, annotation keys and file names, each written by this crate's generators and
//! read by whatever consumes the images (kasane, skopeo, umoci, docker).
//!
//! Spec: OCI image-spec `media-types.md`, `annotations.md`, `image-layout.md`; Docker image
//! manifest v2 schema 2 (`distribution/docs/spec/manifest-v2-2.md`); moby `image/tarexport`.

/// OCI image manifest; the manifest writer emits it, every manifest reader matches on it.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (also the `mediaType` of `index.json`).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer (also what docker ≥ 25 `save` writes).
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-arch).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker zstd layer (containerd's name; docker itself pushes zstd as the OCI type).
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";

/// Tag of a manifest in an OCI layout's `index.json` (OCI `annotations.md`); skopeo's and
/// umoci's `<dir>:<ref>` select by it.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Fully qualified image name, written by docker ≥ 25 `save` next to the ref name
/// (containerd `images.AnnotationImageName`).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// Content of the `oci-layout` file, byte for byte as docker and skopeo write it (note the
/// space after the colon and no trailing LF).
pub const OCI_LAYOUT_FILE: &str = r#"{"imageLayoutVersion": "1.0.0"}"#;

/// Default mtime of every generated tar entry and default image `created`: 2024-01-01T00:00:00Z.
/// Fixed so that digests are stable; tests compare against it.
pub const DEFAULT_MTIME: i64 = 1_704_067_200;

/// Basename prefix that marks a whiteout (OCI `layer.md` "Whiteouts"); written by layer
/// producers, read by every unpacker.
pub const WHITEOUT_PREFIX: &str = ".wh.";

/// Basename of the opaque-directory marker (OCI `layer.md` "Opaque Whiteout").
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
