//! Fuzzes the JSON documents of an image: `ManifestKind::parse` (with and without a content
//! type), `ImageConfig::from_slice` and `Platform::from_str` never panic, and what parses
//! re-serialises to something that parses back to the same value.
#![no_main]

use kasane_oci::{ImageConfig, ManifestKind, Platform, media_type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for content_type in [None, Some(media_type::OCI_INDEX), Some(media_type::DOCKER_MANIFEST)] {
        if let Ok(kind) = ManifestKind::parse(data, content_type) {
            let again = ManifestKind::parse(&kind.to_json(), content_type);
            assert_eq!(again.ok().as_ref(), Some(&kind));
        }
    }
    if let Ok(config) = ImageConfig::from_slice(data) {
        let again = ImageConfig::from_slice(&config.to_json());
        assert_eq!(again.ok().as_ref(), Some(&config));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<Platform>();
    }
});
