//! The registries configuration (`registries.toml`): mirrors tried in order before the
//! origin, falling back to it, and registries marked insecure. Also: a pull SIGKILLed at many
//! random moments leaves a store that `system check` finds clean and that the next pull
//! completes. Real `docker-registry` instances on 127.0.0.1; skips when not installed.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::Kasane;
use kasane_testsupport::registry::{Auth, Distribution, DistributionOptions, FakeRegistry};
use kasane_testsupport::{Image, ImageBuilder, LayerBuilder};

fn image(seed: u64, size: u64) -> Image {
    let mut b = ImageBuilder::new().created(1_700_000_000);
    for i in 0..3 {
        b = b.layer(
            LayerBuilder::new(seed + i)
                .random_file(&format!("layer{i}"), size)
                .build(),
            "ADD layer /",
        );
    }
    b.build()
}

fn registry() -> Option<Distribution> {
    if !Distribution::available() {
        eprintln!("SKIP: docker-registry is not installed");
        return None;
    }
    Some(Distribution::start(DistributionOptions::default()).unwrap())
}

/// A host:port on 127.0.0.1 where nothing listens.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr.to_string()
}

#[test]
fn mirrors_are_tried_first_and_the_origin_last() {
    let Some(origin) = registry() else { return };
    let img = image(300, 50_000);
    let mirror = FakeRegistry::new().unwrap();
    mirror.add_image("cache/lib/app", "1", &img);
    let dead = closed_port();
    let k = Kasane::new();
    std::fs::write(
        k.registries_conf(),
        format!(
            "[[registry]]\nlocation = \"{origin}\"\n\n\
             [[registry.mirror]]\nlocation = \"{dead}\"\n\n\
             [[registry.mirror]]\nlocation = \"{mirror}/cache\"\n",
            origin = origin.host(),
            mirror = mirror.host(),
        ),
    )
    .unwrap();
    // The origin does not have it: only the second mirror can serve it.
    let name = format!("{}/lib/app:1", origin.host());
    let out = k.ok(&["pull", &name]);
    assert!(out.ends_with(&format!("{name}\n")), "{out}");
    assert!(mirror.count("GET", "/v2/cache/lib/app/manifests/1") >= 1);
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );

    // A mirror without the image falls back to the origin.
    let other = image(310, 50_000);
    origin.seed_image("lib/other", Some("2"), &other).unwrap();
    let out = k.ok(&["pull", &format!("{}/lib/other:2", origin.host())]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(mirror.count("GET", "/v2/cache/lib/other/manifests/2") >= 1);
    k.check_clean();

    // A broken configuration is named.
    std::fs::write(k.registries_conf(), "[[registry]]\nlocation = 5\n").unwrap();
    let (_, err) = k.fail(&["pull", &name]);
    assert!(err.contains("registries.toml"), "{err}");
}

#[test]
fn insecure_registries_skip_certificate_checks() {
    if !Distribution::available() {
        eprintln!("SKIP: docker-registry is not installed");
        return;
    }
    let reg = Distribution::start(DistributionOptions {
        auth: Auth::htpasswd(&[("u", "p")]),
        ..DistributionOptions::default()
    })
    .unwrap();
    let k = Kasane::new();
    let (_, err) = k.fail(&["login", "-u", "u", "-p", "p", &reg.host()]);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    std::fs::write(
        k.registries_conf(),
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            reg.host()
        ),
    )
    .unwrap();
    let out = k.ok(&["login", "-u", "u", "-p", "p", &reg.host()]);
    assert_eq!(out, "Login Succeeded\n");
    // The flag does the same for one command.
    let k2 = Kasane::new();
    let out = k2.ok(&[
        "login",
        "--tls-verify=false",
        "-u",
        "u",
        "-p",
        "p",
        &reg.host(),
    ]);
    assert_eq!(out, "Login Succeeded\n");
}

/// A small deterministic generator for kill moments.
struct Lcg(u64);

impl Lcg {
    fn next_below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn a_pull_killed_at_random_moments_resumes_and_completes() {
    let Some(reg) = registry() else { return };
    let img = image(320, 8_000_000);
    reg.seed_image("crash/img", Some("1"), &img).unwrap();
    let name = format!("{}/crash/img:1", reg.host());

    // How long a whole pull takes here, to spread the kills over it.
    let probe = Kasane::new();
    let started = Instant::now();
    probe.ok(&["pull", "-q", &name]);
    let full = started.elapsed().as_millis().max(50) as u64;

    let k = Kasane::new();
    let mut rng = Lcg(0x6b61_7361_6e65);
    let mut interrupted = 0;
    for round in 0..14 {
        let mut child = k
            .std_cmd(&["pull", "-q", &name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.next_below(full * 6 / 10)));
        let _ = child.kill(); // SIGKILL; it may have finished already
        child.wait().unwrap();
        let check = k.ok(&["system", "check"]);
        assert!(check.contains(" 0 errors"), "round {round}:\n{check}");
        if k.ok(&["images", "-q"]).trim().is_empty() {
            interrupted += 1;
            continue;
        }
        // Finished before the kill: start over from an empty store for the next round.
        k.ok(&["image", "prune", "-a", "-f"]);
    }
    assert!(
        interrupted >= 10,
        "only {interrupted} of 12 kills interrupted the pull"
    );
    k.ok(&["pull", &name]);
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
    k.check_clean();
}

#[test]
fn client_certificates_come_from_certs_d() {
    if !Distribution::available() {
        eprintln!("SKIP: docker-registry is not installed");
        return;
    }
    let reg = Distribution::start(DistributionOptions {
        client_certs: true,
        ..DistributionOptions::default()
    })
    .unwrap();
    let host = reg.host();
    let k = Kasane::new();
    let name = format!("{host}/mtls/app:1");
    let img = image(330, 10_000);
    reg.seed_image("mtls/app", Some("1"), &img).unwrap();
    // The CA alone: the registry wants a client certificate and refuses the handshake.
    let dir = reg.pki().install_certs_d(&k.certs_d(), &host).unwrap();
    std::fs::remove_file(dir.join("client.cert")).unwrap();
    std::fs::remove_file(dir.join("client.key")).unwrap();
    let (_, err) = k.fail(&["pull", &name]);
    assert!(err.contains(&host), "{err}");
    // A key without its certificate is named.
    std::fs::write(dir.join("client.key"), b"x").unwrap();
    let (_, err) = k.fail(&["pull", &name]);
    assert!(err.contains("client.key"), "{err}");
    // The pair: the pull goes through.
    reg.pki().install_certs_d(&k.certs_d(), &host).unwrap();
    k.ok(&["pull", &name]);
    assert_eq!(
        k.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().as_str()
    );
}
