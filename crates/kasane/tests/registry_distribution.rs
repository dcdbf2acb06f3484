//! pull, push, login and logout against the real CNCF distribution registry (Debian's
//! `docker-registry`), started privately on 127.0.0.1 by the test support code: (a) without
//! auth, (b) htpasswd basic auth over TLS with a test CA in certs.d, (c) bearer tokens from a
//! token server that follows the Docker token spec. Skips when the registry is not installed.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Kasane, table};
use kasane_testsupport::registry::{Auth, Distribution, DistributionOptions, TestPki, TokenServer};
use kasane_testsupport::{
    CompareOptions, Image, ImageBuilder, IndexBuilder, LayerBuilder, ManifestFormat, OciLayout,
    Rootfs,
};

fn sample_image(seed: u64) -> Image {
    ImageBuilder::new()
        .created(1_700_000_000)
        .layer(
            LayerBuilder::new(seed)
                .dir("etc")
                .file("etc/hostname", b"kasane\n".to_vec())
                .symlink("etc/link", "hostname")
                .random_file("big", 300_000)
                .build(),
            "ADD rootfs /",
        )
        .layer(
            LayerBuilder::new(seed + 1)
                .dir("app")
                .file("app/run.sh", b"#!/bin/sh\necho hi\n".to_vec())
                .whiteout("big")
                .build(),
            "COPY app /app",
        )
        .cmd(&["/app/run.sh"])
        .build()
}

/// Loads `img` into `k` under `name`.
fn load(k: &Kasane, name: &str, img: &Image) {
    let archive = k.path(&format!("load-{}.tar", img.id().hex()));
    OciLayout::new()
        .image(name, img)
        .write_archive(&archive, kasane_testsupport::Compression::None)
        .unwrap();
    k.ok(&["load", "-i", archive.to_str().unwrap()]);
}

fn start(auth: Auth) -> Option<Distribution> {
    if !Distribution::available() {
        eprintln!("SKIP: docker-registry (Debian's CNCF distribution) is not installed");
        return None;
    }
    Some(
        Distribution::start(DistributionOptions {
            auth,
            ..DistributionOptions::default()
        })
        .unwrap(),
    )
}

/// The layer ids docker prints (first 12 hex of a digest).
fn short(d: &kasane_testsupport::Digest) -> String {
    d.hex()[..12].to_owned()
}

#[test]
fn push_then_pull_round_trip_without_auth() {
    let Some(reg) = start(Auth::None) else { return };
    let host = reg.host();
    let img = sample_image(10);
    let name = format!("{host}/test/sample:1");

    let k = Kasane::with_driver("native");
    load(&k, &name, &img);
    let out = k.ok(&["push", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("The push refers to repository [{host}/test/sample]")
    );
    for diff in img.diff_ids() {
        assert!(out.contains(&format!("{}: Pushed", short(&diff))), "{out}");
    }
    let last = lines.last().unwrap();
    assert!(last.starts_with("1: digest: sha256:"), "{out}");
    assert!(last.contains(" size: "), "{out}");
    let pushed_digest = last.split_whitespace().nth(2).unwrap().to_owned();

    // Again: every layer is there already.
    let again = k.ok(&["push", &name]);
    for diff in img.diff_ids() {
        assert!(
            again.contains(&format!("{}: Layer already exists", short(&diff))),
            "{again}"
        );
    }
    // Another repository of the same registry: mounted, not uploaded.
    let other = format!("{host}/other/copy:2");
    k.ok(&["tag", &name, &other]);
    let mounted = k.ok(&["push", &other]);
    assert!(mounted.contains("Mounted from test/sample"), "{mounted}");
    assert!(!mounted.contains(": Pushed"), "{mounted}");

    // A second store pulls it: docker's lines, same image, same files.
    let k2 = Kasane::with_driver("native");
    let out = k2.ok(&["pull", &name]);
    let want_head = "1: Pulling from test/sample\n";
    assert!(out.starts_with(want_head), "{out}");
    for layer in img.layer_digests() {
        assert!(
            out.contains(&format!("{}: Pull complete", short(&layer))),
            "{out}"
        );
    }
    assert!(out.contains(&format!("Digest: {pushed_digest}\n")), "{out}");
    assert!(
        out.ends_with(&format!(
            "Status: Downloaded newer image for {name}\n{name}\n"
        )),
        "{out}"
    );
    assert_eq!(
        k2.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
    let actual = Rootfs::scan(&k2.top_dir(&name), &[]).unwrap();
    let problems = img.rootfs().diff(&actual, &CompareOptions::default());
    assert!(problems.is_empty(), "files differ: {problems:#?}");
    let digests = k2.ok(&["inspect", "--format", "{{json .RepoDigests}}", &name]);
    assert_eq!(
        digests.trim(),
        format!("[\"{host}/test/sample@{pushed_digest}\"]")
    );
    let rows = table(&k2.ok(&["images", "--digests"]));
    assert_eq!(rows[1][2], pushed_digest, "{rows:?}");

    // Up to date, by tag and by digest.
    let again = k2.ok(&["pull", &name]);
    assert!(
        again.contains(&format!("Status: Image is up to date for {name}")),
        "{again}"
    );
    let by_digest = format!("{host}/test/sample@{pushed_digest}");
    let out = k2.ok(&["pull", &by_digest]);
    assert!(
        out.starts_with(&format!("{pushed_digest}: Pulling from test/sample")),
        "{out}"
    );
    assert!(out.ends_with(&format!("{by_digest}\n")), "{out}");

    // The untagged form gets docker's default-tag line.
    k.ok(&["tag", &name, &format!("{host}/test/sample:latest")]);
    k.ok(&["push", &format!("{host}/test/sample")]);
    let k3 = Kasane::new();
    let out = k3.ok(&["pull", "-q", &format!("{host}/test/sample")]);
    assert_eq!(out, format!("{host}/test/sample:latest\n"));
    k2.check_clean();
    k3.check_clean();
}

#[test]
fn pull_errors_name_what_is_missing() {
    let Some(reg) = start(Auth::None) else { return };
    let k = Kasane::new();
    let (code, err) = k.fail(&["pull", &format!("{}/nothing/here:1", reg.host())]);
    assert_eq!(code, 1);
    assert!(err.contains("nothing/here"), "{err}");
    assert!(
        err.contains("not found") || err.contains("unknown"),
        "{err}"
    );
    let (_, err) = k.fail(&["pull", "Bad:Name"]);
    assert!(err.contains("invalid reference format"), "{err}");
    let (_, err) = k.fail(&["push", &format!("{}/not/local:1", reg.host())]);
    assert!(err.contains("does not exist locally"), "{err}");
    let left: Vec<String> = k
        .store_files()
        .into_iter()
        .filter(|f| f.starts_with("blobs/sha256/") || f.starts_with("ingest/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn multi_arch_index_pulls_the_host_or_the_asked_platform() {
    let Some(reg) = start(Auth::None) else { return };
    let amd = ImageBuilder::new()
        .platform("linux", "amd64", None)
        .layer(
            LayerBuilder::new(31)
                .file("arch", b"amd64\n".to_vec())
                .build(),
            "ADD arch /",
        )
        .build();
    let arm = ImageBuilder::new()
        .platform("linux", "arm64", Some("v8"))
        .layer(
            LayerBuilder::new(32)
                .file("arch", b"arm64\n".to_vec())
                .build(),
            "ADD arch /",
        )
        .build();
    let index = IndexBuilder::new(ManifestFormat::Oci)
        .image(amd.clone())
        .image(arm.clone())
        .build();
    let index_digest = reg.seed_index("multi/arch", Some("1"), &index).unwrap();
    let name = format!("{}/multi/arch:1", reg.host());

    let k = Kasane::new();
    let out = k.ok(&["pull", "--platform", "linux/arm64", &name]);
    assert!(out.contains(&format!("Digest: {index_digest}")), "{out}");
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        arm.id().as_str()
    );
    let arch = k.ok(&["inspect", "--format", "{{.Architecture}}", &name]);
    assert_eq!(arch.trim(), "arm64");

    if kasane_oci_host_is_amd64() {
        let k2 = Kasane::new();
        k2.ok(&["pull", &name]);
        assert_eq!(
            k2.ok(&["images", "-q", "--no-trunc"]).trim(),
            amd.id().as_str()
        );
    }
    let (_, err) = Kasane::new().fail(&["pull", "--platform", "linux/s390x", &name]);
    assert!(
        err.contains("no matching manifest for linux/s390x"),
        "{err}"
    );
}

fn kasane_oci_host_is_amd64() -> bool {
    std::env::consts::ARCH == "x86_64"
}

#[test]
fn all_tags_pulls_every_tag() {
    let Some(reg) = start(Auth::None) else { return };
    let a = sample_image(40);
    let b = sample_image(50);
    reg.seed_image("many/tags", Some("a"), &a).unwrap();
    reg.seed_image("many/tags", Some("b"), &b).unwrap();
    let k = Kasane::new();
    let out = k.ok(&["pull", "-a", &format!("{}/many/tags", reg.host())]);
    assert!(out.contains("a: Pulling from many/tags"), "{out}");
    assert!(out.contains("b: Pulling from many/tags"), "{out}");
    let rows = table(&k.ok(&["images", "--format", "{{.Tag}}"]));
    let mut tags: Vec<String> = rows.into_iter().map(|r| r[0].clone()).collect();
    tags.sort();
    assert_eq!(tags, ["a", "b"]);
}

#[test]
fn htpasswd_over_tls_login_push_pull_logout() {
    let Some(reg) = start(Auth::htpasswd(&[("alice", "s3cret")])) else {
        return;
    };
    let host = reg.host();
    let k = Kasane::new();
    let name = format!("{host}/private/app:1");
    load(&k, &name, &sample_image(60));

    // Without the CA, TLS fails and says so.
    let (_, err) = k.fail(&["push", &name]);
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("tls") || err.contains("TLS"),
        "{err}"
    );
    reg.pki().install_certs_d(&k.certs_d(), &host).unwrap();

    // Without credentials: a clear request to log in.
    let (_, err) = k.fail(&["push", &name]);
    assert!(err.contains(&format!("kasane login {host}")), "{err}");
    let (_, err) = k.fail(&["login", "-u", "alice", "-p", "wrong", &host]);
    assert!(err.contains("incorrect username or password"), "{err}");
    assert!(!k.docker_config().exists());

    let out = k
        .cmd(&["login", "-u", "alice", "--password-stdin", &host])
        .write_stdin("s3cret\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded\n");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(k.docker_config()).unwrap()).unwrap();
    assert_eq!(config["auths"][&host]["auth"], "YWxpY2U6czNjcmV0"); // alice:s3cret

    k.ok(&["push", &name]);
    let k2 = Kasane::new();
    reg.pki().install_certs_d(&k2.certs_d(), &host).unwrap();
    let (_, err) = k2.fail(&["pull", &name]);
    assert!(err.contains("login"), "{err}");
    std::fs::create_dir_all(k2.docker_config().parent().unwrap()).unwrap();
    std::fs::copy(k.docker_config(), k2.docker_config()).unwrap();
    k2.ok(&["pull", &name]);

    assert_eq!(
        k.ok(&["logout", &host]),
        format!("Removing login credentials for {host}\n")
    );
    assert_eq!(
        k.ok(&["logout", &host]),
        format!("Not logged in to {host}\n")
    );
    let (_, err) = k.fail(&["push", &name]);
    assert!(err.contains("login"), "{err}");
}

#[test]
fn bearer_tokens_from_a_token_server() {
    if !Distribution::available() {
        eprintln!("SKIP: docker-registry is not installed");
        return;
    }
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(pki_dir.path()).unwrap();
    let tokens = TokenServer::start("kasane-test", &[("bob", "hunter2")], &pki).unwrap();
    let reg = Distribution::start(DistributionOptions {
        auth: Auth::token(&tokens),
        ..DistributionOptions::default()
    })
    .unwrap();
    let host = reg.host();
    let name = format!("{host}/team/app:1");
    let k = Kasane::new();
    load(&k, &name, &sample_image(70));

    let (_, err) = k.fail(&["push", &name]);
    assert!(err.contains("login"), "{err}");
    let (_, err) = k.fail(&["login", "-u", "bob", "-p", "nope", &host]);
    assert!(err.contains("incorrect username or password"), "{err}");
    k.ok(&["login", "-u", "bob", "-p", "hunter2", &host]);
    let out = k.ok(&["push", &name]);
    assert!(out.contains("1: digest: sha256:"), "{out}");
    let scopes = tokens.scope_log();
    assert!(
        scopes
            .iter()
            .any(|s| s.contains("repository:team/app:pull,push")),
        "{scopes:?}"
    );

    // A mount asks for one token covering both repositories.
    let other = format!("{host}/team/copy:1");
    k.ok(&["tag", &name, &other]);
    let out = k.ok(&["push", &other]);
    assert!(out.contains("Mounted from team/app"), "{out}");

    // Anonymous pulls get a pull-only token; the registry grants it.
    let k2 = Kasane::new();
    let out = k2.ok(&["pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    k2.check_clean();
}

#[test]
fn layers_already_here_are_not_fetched_again() {
    let Some(reg) = start(Auth::None) else { return };
    let img = sample_image(80);
    reg.seed_image("same/img", Some("1"), &img).unwrap();
    let k = Kasane::new();
    load(&k, "local/img:1", &img);
    let name = format!("{}/same/img:1", reg.host());
    let out = k.ok(&["pull", &name]);
    for layer in img.layer_digests() {
        assert!(
            out.contains(&format!("{}: Already exists", short(&layer))),
            "{out}"
        );
    }
    assert!(out.contains("Status: Downloaded newer image for"), "{out}");
    // One image under two names.
    let ids = k.ok(&["images", "-q", "--no-trunc"]);
    assert_eq!(ids, format!("{0}\n{0}\n", img.id().as_str()));
    let again = k.ok(&["pull", &name]);
    assert!(again.contains("Status: Image is up to date for"), "{again}");
    k.check_clean();
}
