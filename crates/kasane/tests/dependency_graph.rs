//! The crate dependency graph points down only (ARCHITECTURE.md): each crate may depend on
//! the kasane crates below it and no others, `kasane-oci` stays free of async and I/O
//! frameworks, and only the binary uses clap and anyhow. Read from the manifests themselves.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

/// Each crate and the kasane crates it may use (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("kasane-oci", &[]),
    ("kasane-store", &["kasane-oci"]),
    ("kasane-snapshot", &["kasane-oci"]),
    // The registry needs no mount code: the server (later) builds without it.
    ("kasane-registry", &["kasane-oci", "kasane-store"]),
    // The OCI runtime bundle side of containers: image config in, runtime spec out.
    ("kasane-runtime", &["kasane-oci"]),
    (
        "kasane-engine",
        &[
            "kasane-oci",
            "kasane-store",
            "kasane-snapshot",
            "kasane-registry",
            "kasane-runtime",
        ],
    ),
    ("kasane-testsupport", &[]),
    (
        "kasane",
        &[
            "kasane-oci",
            "kasane-store",
            "kasane-snapshot",
            "kasane-registry",
            "kasane-runtime",
            "kasane-engine",
        ],
    ),
];

/// Dependencies no library crate may have.
const BINARY_ONLY: &[&str] = &["clap", "anyhow"];
/// Dependencies kasane-oci (pure types and parsers) may not have.
const NOT_IN_OCI: &[&str] = &["tokio", "reqwest", "rusqlite", "rustix", "nix", "tar"];

fn dependencies(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut out = BTreeSet::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap().trim();
            out.insert(name.to_owned());
        }
    }
    out
}

#[test]
fn crates_depend_only_on_crates_below_them() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(crates).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let (_, allowed) = ALLOWED
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("crate {name} is not in the layering table of this test"));
        let deps = dependencies(&manifest);
        for d in deps.iter().filter(|d| d.starts_with("kasane")) {
            assert!(
                allowed.contains(&d.as_str()),
                "{name} must not depend on {d}"
            );
        }
        if name != "kasane" {
            for d in BINARY_ONLY {
                assert!(
                    !deps.contains(*d),
                    "{name} must not depend on {d} (binary only)"
                );
            }
        }
        if name == "kasane-oci" {
            for d in NOT_IN_OCI {
                assert!(!deps.contains(*d), "kasane-oci must not depend on {d}");
            }
        }
        seen.insert(name);
    }
    assert_eq!(seen.len(), ALLOWED.len(), "crates found: {seen:?}");
}
