//! Media types of OCI and Docker image content, and how they relate.
//!
//! Owns: the media type constants kasane reads and writes, classification
//! ([`is_manifest`], [`is_index`], [`is_config`], [`is_layer`], [`is_foreign_layer`],
//! [`is_schema1`]), the compression of a layer type ([`layer_compression`]) and the mapping
//! between Docker image manifest v2 schema 2 and OCI types ([`to_docker`], [`to_oci`]).
//!
//! Model: media types are kept as `String`s in descriptors (unknown types must survive a
//! copy untouched); the functions here take `&str` and ignore media type parameters
//! (`; charset=utf-8`) and surrounding white space, as HTTP `Content-Type` values carry them.
//!
//! Docker v2s2 and OCI share one JSON shape, so converting a manifest is a matter of
//! relabelling media types; the blobs themselves do not change.
//!
//! Spec: OCI image-spec `media-types.md`; Docker "Image Manifest V2, Schema 2"
//! (`distribution/docs/spec/manifest-v2-2.md`).

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI empty descriptor content (`{}`), the config of artifacts (OCI 1.1).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// OCI uncompressed tar layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI uncompressed tar layer under image-spec's Go name (`MediaTypeImageLayer`).
pub const OCI_LAYER: &str = OCI_LAYER_TAR;
/// OCI gzip-compressed tar layer.
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd-compressed tar layer.
pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable uncompressed tar layer (deprecated by the spec, still read).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable gzip tar layer (deprecated by the spec, still read).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable zstd tar layer (deprecated by the spec, still read).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

/// Docker image manifest v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (the Docker counterpart of an OCI index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker container image configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip-compressed layer, the layer type of every docker-pushed image.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer (written by containerd; not in the v2s2 document).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker zstd layer (written by containerd and buildkit; not in the v2s2 document).
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Docker foreign layer: fetched from its `urls`, never pushed (Windows base layers).
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Docker image manifest v2 schema 1, unsigned. Not supported; recognised to say so.
pub const DOCKER_SCHEMA1_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker image manifest v2 schema 1, signed. Not supported; recognised to say so.
pub const DOCKER_SCHEMA1_SIGNED_MANIFEST: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Zstandard (RFC 8878).
    Zstd,
}

/// Which family of media types a manifest uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// OCI image-spec types (`application/vnd.oci.*`).
    Oci,
    /// Docker image manifest v2 schema 2 types (`application/vnd.docker.*`).
    DockerV2S2,
}

impl Format {
    /// A short human name, used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Oci => "OCI",
            Format::DockerV2S2 => "docker v2 schema 2",
        }
    }
}

/// The media type without parameters and surrounding white space.
///
/// `"application/vnd.oci.image.manifest.v1+json; charset=utf-8"` becomes the bare type.
pub fn essence(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or_default().trim()
}

/// Whether `media_type` is an image manifest (OCI or Docker v2s2).
pub fn is_manifest(media_type: &str) -> bool {
    matches!(essence(media_type), OCI_MANIFEST | DOCKER_MANIFEST)
}

/// Whether `media_type` is an index of manifests (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    matches!(essence(media_type), OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// Whether `media_type` is an image configuration (OCI or Docker).
pub fn is_config(media_type: &str) -> bool {
    matches!(essence(media_type), OCI_CONFIG | DOCKER_CONFIG)
}

/// Whether `media_type` is a layer kasane can unpack (any OCI or Docker layer type).
pub fn is_layer(media_type: &str) -> bool {
    layer_compression(media_type).is_some()
}

/// Whether `media_type` is a layer that registries do not serve (Docker foreign or OCI
/// non-distributable): it is fetched from its descriptor's `urls` and never pushed.
pub fn is_foreign_layer(media_type: &str) -> bool {
    matches!(
        essence(media_type),
        DOCKER_FOREIGN_LAYER_GZIP
            | OCI_LAYER_NONDISTRIBUTABLE_TAR
            | OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP
            | OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD
    )
}

/// Whether `media_type` is a Docker schema 1 manifest (signed or not).
pub fn is_schema1(media_type: &str) -> bool {
    matches!(
        essence(media_type),
        DOCKER_SCHEMA1_MANIFEST | DOCKER_SCHEMA1_SIGNED_MANIFEST
    )
}

/// The compression of a layer media type, or `None` when `media_type` is not a layer.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    match essence(media_type) {
        OCI_LAYER_TAR | OCI_LAYER_NONDISTRIBUTABLE_TAR | DOCKER_LAYER_TAR => {
            Some(Compression::None)
        }
        OCI_LAYER_TAR_GZIP
        | OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP
        | DOCKER_LAYER_GZIP
        | DOCKER_FOREIGN_LAYER_GZIP => Some(Compression::Gzip),
        OCI_LAYER_TAR_ZSTD | OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD | DOCKER_LAYER_ZSTD => {
            Some(Compression::Zstd)
        }
        _ => None,
    }
}

/// The media type for a new, distributable layer in `format` compressed with `compression`.
pub fn layer_media_type(format: Format, compression: Compression) -> &'static str {
    match (format, compression) {
        (Format::Oci, Compression::None) => OCI_LAYER_TAR,
        (Format::Oci, Compression::Gzip) => OCI_LAYER_TAR_GZIP,
        (Format::Oci, Compression::Zstd) => OCI_LAYER_TAR_ZSTD,
        (Format::DockerV2S2, Compression::None) => DOCKER_LAYER_TAR,
        (Format::DockerV2S2, Compression::Gzip) => DOCKER_LAYER_GZIP,
        (Format::DockerV2S2, Compression::Zstd) => DOCKER_LAYER_ZSTD,
    }
}

/// The Docker v2s2 equivalent of a manifest, index, config or layer type (Docker types map
/// to themselves); `None` when Docker has no such type (e.g. a non-distributable zstd layer,
/// an artifact config).
pub fn to_docker(media_type: &str) -> Option<&'static str> {
    Some(match essence(media_type) {
        OCI_MANIFEST | DOCKER_MANIFEST => DOCKER_MANIFEST,
        OCI_INDEX | DOCKER_MANIFEST_LIST => DOCKER_MANIFEST_LIST,
        OCI_CONFIG | DOCKER_CONFIG => DOCKER_CONFIG,
        OCI_LAYER_TAR | DOCKER_LAYER_TAR => DOCKER_LAYER_TAR,
        OCI_LAYER_TAR_GZIP | DOCKER_LAYER_GZIP => DOCKER_LAYER_GZIP,
        OCI_LAYER_TAR_ZSTD | DOCKER_LAYER_ZSTD => DOCKER_LAYER_ZSTD,
        OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP | DOCKER_FOREIGN_LAYER_GZIP => {
            DOCKER_FOREIGN_LAYER_GZIP
        }
        _ => return None,
    })
}

/// The OCI equivalent of a manifest, index, config or layer type (OCI types map to
/// themselves); `None` for types OCI does not define.
pub fn to_oci(media_type: &str) -> Option<&'static str> {
    Some(match essence(media_type) {
        OCI_MANIFEST | DOCKER_MANIFEST => OCI_MANIFEST,
        OCI_INDEX | DOCKER_MANIFEST_LIST => OCI_INDEX,
        OCI_CONFIG | DOCKER_CONFIG => OCI_CONFIG,
        OCI_EMPTY => OCI_EMPTY,
        OCI_LAYER_TAR | DOCKER_LAYER_TAR => OCI_LAYER_TAR,
        OCI_LAYER_TAR_GZIP | DOCKER_LAYER_GZIP => OCI_LAYER_TAR_GZIP,
        OCI_LAYER_TAR_ZSTD | DOCKER_LAYER_ZSTD => OCI_LAYER_TAR_ZSTD,
        OCI_LAYER_NONDISTRIBUTABLE_TAR => OCI_LAYER_NONDISTRIBUTABLE_TAR,
        OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP | DOCKER_FOREIGN_LAYER_GZIP => {
            OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP
        }
        OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD => OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
        _ => return None,
    })
}

/// The equivalent of `media_type` in `format` (see [`to_oci`] and [`to_docker`]).
pub fn convert(media_type: &str, format: Format) -> Option<&'static str> {
    match format {
        Format::Oci => to_oci(media_type),
        Format::DockerV2S2 => to_docker(media_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! classify {
        ($($name:ident: $mt:expr => $man:expr, $idx:expr, $cfg:expr, $comp:expr, $foreign:expr;)*) => {$(
            #[test]
            fn $name() {
                let mt: &str = $mt;
                assert_eq!(
                    (is_manifest(mt), is_index(mt), is_config(mt), layer_compression(mt), is_foreign_layer(mt)),
                    ($man, $idx, $cfg, $comp, $foreign),
                    "{mt}"
                );
                assert_eq!(is_layer(mt), $comp.is_some());
            }
        )*};
    }

    use Compression::{Gzip, Zstd};
    const NOLAYER: Option<Compression> = None;

    classify! {
        oci_manifest: OCI_MANIFEST => true, false, false, NOLAYER, false;
        oci_index: OCI_INDEX => false, true, false, NOLAYER, false;
        oci_config: OCI_CONFIG => false, false, true, NOLAYER, false;
        oci_tar: OCI_LAYER_TAR => false, false, false, Some(Compression::None), false;
        oci_gzip: OCI_LAYER_TAR_GZIP => false, false, false, Some(Gzip), false;
        oci_zstd: OCI_LAYER_TAR_ZSTD => false, false, false, Some(Zstd), false;
        oci_nd_tar: OCI_LAYER_NONDISTRIBUTABLE_TAR => false, false, false, Some(Compression::None), true;
        oci_nd_gzip: OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP => false, false, false, Some(Gzip), true;
        oci_nd_zstd: OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD => false, false, false, Some(Zstd), true;
        docker_manifest: DOCKER_MANIFEST => true, false, false, NOLAYER, false;
        docker_list: DOCKER_MANIFEST_LIST => false, true, false, NOLAYER, false;
        docker_config: DOCKER_CONFIG => false, false, true, NOLAYER, false;
        docker_gzip: DOCKER_LAYER_GZIP => false, false, false, Some(Gzip), false;
        docker_tar: DOCKER_LAYER_TAR => false, false, false, Some(Compression::None), false;
        docker_zstd: DOCKER_LAYER_ZSTD => false, false, false, Some(Zstd), false;
        docker_foreign: DOCKER_FOREIGN_LAYER_GZIP => false, false, false, Some(Gzip), true;
        schema1: DOCKER_SCHEMA1_SIGNED_MANIFEST => false, false, false, NOLAYER, false;
        with_params: "application/vnd.oci.image.manifest.v1+json; charset=utf-8" => true, false, false, NOLAYER, false;
        with_space: " application/vnd.oci.image.layer.v1.tar+gzip " => false, false, false, Some(Gzip), false;
        unknown: "application/vnd.in-toto+json" => false, false, false, NOLAYER, false;
        empty: "" => false, false, false, NOLAYER, false;
    }

    #[test]
    fn docker_and_oci_map_both_ways() {
        #[rustfmt::skip]
        let pairs = [
            (OCI_MANIFEST, DOCKER_MANIFEST),
            (OCI_INDEX, DOCKER_MANIFEST_LIST),
            (OCI_CONFIG, DOCKER_CONFIG),
            (OCI_LAYER_TAR, DOCKER_LAYER_TAR),
            (OCI_LAYER_TAR_GZIP, DOCKER_LAYER_GZIP),
            (OCI_LAYER_TAR_ZSTD, DOCKER_LAYER_ZSTD),
            (OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP, DOCKER_FOREIGN_LAYER_GZIP),
        ];
        for (oci, docker) in pairs {
            assert_eq!(to_docker(oci), Some(docker), "{oci}");
            assert_eq!(to_docker(docker), Some(docker), "{docker}");
            assert_eq!(to_oci(docker), Some(oci), "{docker}");
            assert_eq!(to_oci(oci), Some(oci), "{oci}");
        }
    }

    #[test]
    fn types_without_equivalent() {
        assert_eq!(to_docker(OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD), None);
        assert_eq!(to_docker(OCI_EMPTY), None);
        assert_eq!(to_oci("application/vnd.in-toto+json"), None);
        assert_eq!(to_oci(DOCKER_SCHEMA1_MANIFEST), None);
    }

    #[test]
    fn new_layer_types_round_trip_their_compression() {
        for format in [Format::Oci, Format::DockerV2S2] {
            for c in [Compression::None, Gzip, Zstd] {
                let mt = layer_media_type(format, c);
                assert_eq!(layer_compression(mt), Some(c), "{mt}");
                assert!(!is_foreign_layer(mt));
            }
        }
    }
}
