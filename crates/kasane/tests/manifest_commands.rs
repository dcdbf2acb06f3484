//! `kasane manifest create|annotate|inspect|push|rm` end to end against the real CNCF
//! distribution registry (Debian's `docker-registry`) on 127.0.0.1: two single-layer images
//! for amd64 and arm64 are pushed, listed, annotated, the list pushed, inspected from the
//! registry and pulled per platform. Skips when the registry is not installed.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Kasane, have};
use kasane_testsupport::registry::{Auth, Distribution, DistributionOptions};
use kasane_testsupport::{Image, ImageBuilder, LayerBuilder, ManifestFormat, OciLayout};
use sha2::Digest as _;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn start() -> Option<Distribution> {
    if !Distribution::available() {
        eprintln!("SKIP: docker-registry (Debian's CNCF distribution) is not installed");
        return None;
    }
    Some(
        Distribution::start(DistributionOptions {
            auth: Auth::None,
            ..DistributionOptions::default()
        })
        .unwrap(),
    )
}

fn image(arch: &str, seed: u64, format: ManifestFormat) -> Image {
    ImageBuilder::new()
        .platform("linux", arch, None)
        .format(format)
        .created(1_700_000_000)
        .layer(
            LayerBuilder::new(seed)
                .file("arch", format!("{arch}\n").into_bytes())
                .build(),
            "ADD arch /",
        )
        .build()
}

/// Loads `img` as `name` and pushes it; returns the manifest digest the push printed.
fn load_and_push(k: &Kasane, name: &str, img: &Image) -> String {
    let archive = k.path(&format!("load-{}.tar", img.id().hex()));
    OciLayout::new()
        .image(name, img)
        .write_archive(&archive, kasane_testsupport::Compression::None)
        .unwrap();
    k.ok(&["load", "-i", archive.to_str().unwrap()]);
    let out = k.ok(&["push", name]);
    let last = out.lines().last().unwrap();
    assert!(last.contains(": digest: sha256:"), "{out}");
    last.split_whitespace().nth(2).unwrap().to_owned()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}

#[test]
fn create_annotate_inspect_push_pull() {
    let Some(reg) = start() else { return };
    let host = reg.host();
    let k = Kasane::with_driver("native");
    let amd = image("amd64", 61, ManifestFormat::Oci);
    let arm = image("arm64", 62, ManifestFormat::Oci);
    let amd_ref = format!("{host}/x/img:amd64");
    let arm_ref = format!("{host}/x/img:arm64");
    let amd_digest = load_and_push(&k, &amd_ref, &amd);
    let arm_digest = load_and_push(&k, &arm_ref, &arm);
    let list = format!("{host}/x/list:1");

    // create
    let out = k.ok(&["manifest", "create", &list, &amd_ref, &arm_ref]);
    assert_eq!(out, format!("Created manifest list {list}\n"));
    assert!(
        k.root
            .join("manifests")
            .join(format!("{}_x_list-1", host.replace(':', "-")))
            .is_dir()
    );
    let (code, err) = k.fail(&["manifest", "create", &list, &amd_ref]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refusing to amend an existing manifest list with no --amend flag"),
        "{err}"
    );
    // --amend with an image already there keeps one entry per image.
    k.ok(&["manifest", "create", "--amend", &list, &arm_ref]);

    // annotate
    k.ok(&["manifest", "annotate", "--variant", "v8", &list, &arm_ref]);
    let (_, err) = k.fail(&["manifest", "annotate", "--arch", "nope", &list, &arm_ref]);
    assert!(err.contains("unsupported os/arch combination"), "{err}");
    let (_, err) = k.fail(&["manifest", "annotate", "--variant", "v8", &list, "busybox"]);
    assert!(
        err.contains(&format!(
            "manifest for image busybox does not exist in {list}"
        )),
        "{err}"
    );

    // inspect the local list: docker's three-space manifest list, entries in file order.
    let local = k.ok(&["manifest", "inspect", &list]);
    assert!(
        local.starts_with("{\n   \"schemaVersion\": 2,\n   \"mediaType\": "),
        "{local}"
    );
    assert!(local.ends_with("\n   ]\n}\n"), "{local}");
    let v = json(&local);
    assert_eq!(v["mediaType"], OCI_INDEX);
    let m = v["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0]["digest"], amd_digest.as_str());
    assert_eq!(m[0]["mediaType"], OCI_MANIFEST);
    assert_eq!(
        m[0]["platform"],
        serde_json::json!({"architecture": "amd64", "os": "linux"})
    );
    assert_eq!(m[1]["digest"], arm_digest.as_str());
    assert_eq!(
        m[1]["platform"],
        serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
    );
    let keys: Vec<&String> = m[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["mediaType", "size", "digest", "platform"]);

    // One image of the local list: the manifest re-indented with tabs.
    let one = k.ok(&["manifest", "inspect", &list, &arm_ref]);
    assert!(one.starts_with("{\n\t\"schemaVersion\": 2,\n"), "{one}");
    assert!(one.ends_with("\n}\n"), "{one}");
    assert_eq!(
        json(&one)["layers"][0]["digest"],
        arm.layer_digests()[0].as_str()
    );

    // Verbose: docker's ImageManifest array.
    let verbose = k.ok(&["manifest", "inspect", "-v", &list]);
    assert!(verbose.starts_with("[\n\t{\n\t\t\"Ref\": "), "{verbose}");
    let v = json(&verbose);
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["Ref"], arm_ref.as_str());
    assert_eq!(items[1]["Descriptor"]["digest"], arm_digest.as_str());
    assert_eq!(items[1]["Descriptor"]["platform"]["variant"], "v8");
    let keys: Vec<&String> = items[1].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Ref", "Descriptor", "Raw", "OCIManifest"]);
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(items[1]["Raw"].as_str().unwrap())
        .unwrap();
    assert_eq!(sha256(&raw), arm_digest);
    assert_eq!(
        items[1]["OCIManifest"],
        json(std::str::from_utf8(&raw).unwrap())
    );

    // push: both images are copied into x/list by digest, then the index goes up.
    let out = k.ok(&["manifest", "push", &list]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        lines[0],
        format!("Pushed ref {host}/x/list@{amd_digest} with digest: {amd_digest}")
    );
    assert_eq!(
        lines[1],
        format!("Pushed ref {host}/x/list@{arm_digest} with digest: {arm_digest}")
    );
    let list_digest = lines[2].to_owned();
    // The digest is that of the document `inspect` showed (without print's newline).
    assert_eq!(list_digest, sha256(local.trim_end_matches('\n').as_bytes()));
    // Still local after a push without --purge.
    assert_eq!(k.ok(&["manifest", "inspect", &list]), local);

    // From the registry: docker rebuilds the same document from the index.
    k.ok(&["manifest", "rm", &list]);
    let (_, err) = k.fail(&["manifest", "rm", &list]);
    assert!(err.contains(&format!("No such manifest: {list}")), "{err}");
    let remote = k.ok(&["manifest", "inspect", &list]);
    assert_eq!(remote, local);
    let remote_v = json(&k.ok(&["manifest", "inspect", "--verbose", &list]));
    assert_eq!(
        remote_v[0]["Ref"],
        format!("{host}/x/list:1@{amd_digest}").as_str()
    );
    assert_eq!(
        remote_v[1]["Descriptor"]["platform"]["architecture"],
        "arm64"
    );
    // An image in the list's repository, by digest.
    let by_digest = k.ok(&[
        "manifest",
        "inspect",
        &format!("{host}/x/list@{arm_digest}"),
    ]);
    assert_eq!(by_digest, one);
    // A remote image: its config gives the platform.
    let img_v = json(&k.ok(&["manifest", "inspect", "-v", &amd_ref]));
    assert_eq!(img_v["Ref"], amd_ref.as_str());
    assert_eq!(
        img_v["Descriptor"]["platform"],
        serde_json::json!({"architecture": "amd64", "os": "linux"})
    );
    // A list is not an image of a list.
    let (_, err) = k.fail(&["manifest", "create", &format!("{host}/x/other:1"), &list]);
    assert!(err.contains(&format!("{list} is a manifest list")), "{err}");

    // Pull by platform from a fresh store.
    let k2 = Kasane::with_driver("native");
    let out = k2.ok(&["pull", "--platform", "linux/arm64", &list]);
    assert!(out.contains(&format!("Digest: {list_digest}")), "{out}");
    let arch = k2.ok(&["inspect", "--format", "{{.Architecture}}", &list]);
    assert_eq!(arch.trim(), "arm64");
    assert_eq!(
        k2.ok(&["images", "-q", "--no-trunc"]).trim(),
        arm.id().as_str()
    );

    if have("skopeo") {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{list}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sha256(&out.stdout), list_digest);
        assert_eq!(format!("{}\n", String::from_utf8_lossy(&out.stdout)), local);
    } else {
        eprintln!("SKIP (part): skopeo is not installed");
    }
}

#[test]
fn docker_images_make_a_docker_manifest_list_and_purge_removes_it() {
    let Some(reg) = start() else { return };
    let host = reg.host();
    let k = Kasane::with_driver("native");
    let amd = image("amd64", 71, ManifestFormat::Docker);
    let arm = image("arm64", 72, ManifestFormat::Docker);
    // Both in the list's own repository: nothing to copy, only the list is put.
    let amd_ref = format!("{host}/y/app:amd64");
    let arm_ref = format!("{host}/y/app:arm64");
    let amd_digest = load_and_push(&k, &amd_ref, &amd);
    load_and_push(&k, &arm_ref, &arm);
    let list = format!("{host}/y/app:latest");

    let out = k.ok(&[
        "manifest",
        "create",
        "--insecure",
        &format!("{host}/y/app"),
        &arm_ref,
        &amd_ref,
    ]);
    assert_eq!(out, format!("Created manifest list {list}\n"));
    let local = k.ok(&["manifest", "inspect", &list]);
    let v = json(&local);
    assert_eq!(v["mediaType"], DOCKER_LIST);
    assert_eq!(v["manifests"][0]["mediaType"], DOCKER_MANIFEST);
    assert_eq!(v["manifests"][0]["digest"], amd_digest.as_str());

    let verbose = json(&k.ok(&["manifest", "inspect", "-v", &list, &amd_ref]));
    let keys: Vec<&String> = verbose.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Ref", "Descriptor", "Raw", "SchemaV2Manifest"]);

    let out = k.ok(&[
        "manifest",
        "push",
        "--purge",
        "--insecure",
        &format!("{host}/y/app"),
    ]);
    assert_eq!(out, format!("{}\n", sha256(local.trim_end().as_bytes())));
    let (_, err) = k.fail(&["manifest", "inspect", &list, &amd_ref]);
    assert!(
        err.contains(&format!("No such manifest: {amd_ref}")),
        "{err}"
    );
    assert_eq!(k.ok(&["manifest", "inspect", &list]), local);
    assert_eq!(
        k.ok(&["manifest", "inspect", "--tls-verify=false", &amd_ref]),
        k.ok(&["manifest", "inspect", &format!("{host}/y/app@{amd_digest}")])
    );
}
