//! Fuzzes what a registry sends that the client parses before trusting anything: the
//! `WWW-Authenticate` challenges, `Link` pagination, `Content-Range`, error bodies, and the
//! registries configuration. None may panic; a parsed challenge names a lower-cased scheme.
#![no_main]

use kasane_registry::challenge::parse_challenges;
use kasane_registry::proto::{content_range_start, parse_errors, parse_link_next};
use kasane_registry::registries_conf::RegistriesConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    for c in parse_challenges([text.as_ref()]) {
        assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
    }
    let _ = parse_link_next(&text);
    let _ = content_range_start(&text);
    let _ = parse_errors(input);
    if let Ok(conf) = RegistriesConfig::parse(&text, "fuzz.toml".as_ref()) {
        if let Ok(eps) = conf.endpoints("docker.io", "library/busybox") {
            assert!(eps.last().is_some_and(|e| !e.mirror), "the origin comes last");
        }
    }
});
