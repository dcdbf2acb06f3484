//! Unit tests of the parent module.

use super::*;
use proptest::prelude::*;

const EXAMPLE: &str = r#"
[[registry]]
location = "docker.io"
insecure = false
blocked = false
[[registry.mirror]]
location = "mirror.example:5000"
insecure = true
[[registry.mirror]]
location = "127.0.0.1:5001/cache"

[[registry]]
location = "docker.io/library/special"
[[registry.mirror]]
location = "special.example/lib"
[[registry.mirror]]
location = "bare.example"

[[registry]]
location = "quay.io/blocked-org"
blocked = true

[[registry]]
location = "insecure.example:8080"
insecure = true
"#;

fn example() -> RegistriesConfig {
    RegistriesConfig::parse(EXAMPLE, Path::new("/etc/kasane/registries.toml")).unwrap()
}

fn ep(host: &str, repo: &str, insecure: bool, mirror: bool) -> Endpoint {
    Endpoint {
        host: host.into(),
        repository: repo.into(),
        insecure,
        mirror,
    }
}

#[test]
fn mirrors_come_first_with_rewritten_names() {
    let c = example();
    assert_eq!(
        c.endpoints("docker.io", "library/busybox").unwrap(),
        vec![
            ep("mirror.example:5000", "library/busybox", true, true),
            ep("127.0.0.1:5001", "cache/library/busybox", false, true),
            ep("docker.io", "library/busybox", false, false),
        ]
    );
}

#[test]
fn longest_prefix_wins_and_rewrites_the_rest() {
    let c = example();
    assert_eq!(
        c.endpoints("docker.io", "library/special/sub").unwrap(),
        vec![
            ep("special.example", "lib/sub", false, true),
            ep("bare.example", "sub", false, true),
            ep("docker.io", "library/special/sub", false, false),
        ]
    );
    // An exact match of a mirror without a path leaves nothing: the mirror is skipped, but
    // one with a path gets that path as the repository.
    assert_eq!(
        c.endpoints("docker.io", "library/special").unwrap(),
        vec![
            ep("special.example", "lib", false, true),
            ep("docker.io", "library/special", false, false),
        ]
    );
    // "library/specialist" is not under "library/special".
    let e = c.endpoints("docker.io", "library/specialist").unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(e[0].repository, "library/specialist");
}

#[test]
fn hub_aliases_and_case_match() {
    let c = example();
    for reg in ["index.docker.io", "registry-1.docker.io", "Docker.IO"] {
        let e = c.endpoints(reg, "library/alpine").unwrap();
        assert_eq!(e.len(), 3, "{reg}");
        assert_eq!(e[2], ep(reg, "library/alpine", false, false));
    }
}

#[test]
fn unconfigured_registries_have_only_the_origin() {
    let c = example();
    assert_eq!(
        c.endpoints("ghcr.io", "o/r").unwrap(),
        vec![ep("ghcr.io", "o/r", false, false)]
    );
    assert_eq!(
        c.origin_endpoint("docker.io", "library/busybox").unwrap(),
        ep("docker.io", "library/busybox", false, false)
    );
}

#[test]
fn blocked_is_refused_for_pull_and_push() {
    let c = example();
    let e = c.endpoints("quay.io", "blocked-org/x").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("quay.io/blocked-org/x"), "{msg}");
    assert!(msg.contains("/etc/kasane/registries.toml"), "{msg}");
    assert!(c.origin_endpoint("quay.io", "blocked-org").is_err());
    assert!(c.endpoints("quay.io", "other-org/x").is_ok());
}

#[test]
fn insecure_hosts() {
    let c = example();
    assert!(c.is_insecure("insecure.example:8080"));
    assert!(c.is_insecure("INSECURE.example:8080"));
    assert!(!c.is_insecure("insecure.example"));
    assert!(c.is_insecure("mirror.example:5000"));
    assert!(!c.is_insecure("docker.io"));
    let e = c.endpoints("insecure.example:8080", "a/b").unwrap();
    assert_eq!(e, vec![ep("insecure.example:8080", "a/b", true, false)]);
    assert!(e[0].allows_plain_http());
    assert!(!ep("docker.io", "x", false, false).allows_plain_http());
    assert!(ep("localhost:5000", "x", false, false).allows_plain_http());
}

#[test]
fn local_hosts() {
    for h in [
        "localhost",
        "localhost:5000",
        "LOCALHOST:1",
        "127.0.0.1",
        "127.0.0.1:5000",
        "127.1.2.3:80",
        "::1",
        "[::1]",
        "[::1]:5000",
        "[::ffff:127.0.0.1]:5000",
    ] {
        assert!(is_local_host(h), "{h}");
    }
    for h in [
        "",
        "example.com",
        "localhost.example.com",
        "10.0.0.1:5000",
        "128.0.0.1",
        "[::2]:5000",
        "[::1",
        "[::1]x",
        "::1:5000x",
        "localhost:abc",
    ] {
        assert!(!is_local_host(h), "{h}");
    }
}

#[test]
fn user_file_overrides_system_entries() {
    let t = tempfile::tempdir().unwrap();
    let sys = t.path().join("sys.toml");
    let user = t.path().join("user.toml");
    std::fs::write(&sys, EXAMPLE).unwrap();
    std::fs::write(
            &user,
            "[[registry]]\nlocation = \"docker.io/\"\n[[registry.mirror]]\nlocation = \"mine.example\"\n",
        )
        .unwrap();
    let c =
        RegistriesConfig::load_files(&[sys.clone(), t.path().join("missing.toml"), user.clone()])
            .unwrap();
    assert_eq!(c.registries().len(), 4);
    let e = c.endpoints("docker.io", "library/busybox").unwrap();
    assert_eq!(
        e,
        vec![
            ep("mine.example", "library/busybox", false, true),
            ep("docker.io", "library/busybox", false, false),
        ]
    );
    assert_eq!(c.find("docker.io", "x").unwrap().origin, user);
    assert_eq!(c.find("quay.io", "blocked-org").unwrap().origin, sys);
}

#[test]
fn bad_files_name_the_file_and_position() {
    let p = Path::new("/x/registries.toml");
    let e = RegistriesConfig::parse("[[registry]]\nlocation = \n", p).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("/x/registries.toml"), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");

    let e =
        RegistriesConfig::parse("[[registry]]\nlocation = \"a\"\nmirrors = []\n", p).unwrap_err();
    assert!(e.to_string().contains("mirrors"), "{e}");

    for (loc, what) in [
        ("https://a.example", "scheme"),
        ("*.example.com", "wildcard"),
        ("", "empty"),
        ("a.example//x", "empty component"),
        ("a.example/x:tag", "tag"),
        ("user@a.example", "credentials"),
        ("a b", "whitespace"),
    ] {
        let text = format!("[[registry]]\nlocation = {loc:?}\n");
        let e = RegistriesConfig::parse(&text, p).unwrap_err();
        assert!(
            matches!(e, ConfigError::InvalidLocation { .. }),
            "{loc}: {e:?}"
        );
        assert!(e.to_string().contains(what), "{loc}: {e}");
    }

    let e = RegistriesConfig::parse(
        "[[registry]]\nlocation = \"a\"\n[[registry]]\nlocation = \"A/\"\n",
        p,
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Duplicate { .. }), "{e:?}");
}

#[test]
fn missing_and_empty_files() {
    let t = tempfile::tempdir().unwrap();
    let c = RegistriesConfig::load_files(&[t.path().join("nope.toml")]).unwrap();
    assert_eq!(c, RegistriesConfig::default());
    let c = RegistriesConfig::parse("", Path::new("x")).unwrap();
    assert!(c.registries().is_empty());
    // A directory in place of the file is a read error naming it.
    let e = RegistriesConfig::load_files(&[t.path().to_owned()]).unwrap_err();
    assert!(
        e.to_string().contains(&t.path().display().to_string()),
        "{e}"
    );
}

proptest! {
    #[test]
    fn endpoints_end_with_the_origin(registry in ".{0,40}", repository in ".{0,60}") {
        let c = example();
        match c.endpoints(&registry, &repository) {
            Ok(eps) => {
                let last = eps.last().unwrap();
                prop_assert_eq!(&last.host, &registry);
                prop_assert_eq!(&last.repository, &repository);
                prop_assert!(!last.mirror);
                prop_assert!(eps[..eps.len() - 1].iter().all(|e| e.mirror));
            }
            Err(ConfigError::Blocked { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn endpoints_for_hub_like_names(
        registry in prop::sample::select(vec!["docker.io", "quay.io", "localhost:5000", "insecure.example:8080"]),
        repository in "[a-z0-9/._-]{0,30}",
    ) {
        let c = example();
        if let Ok(eps) = c.endpoints(registry, &repository) {
            let last = eps.last().unwrap();
            prop_assert_eq!(&last.host, registry);
            prop_assert_eq!(&last.repository, &repository);
            prop_assert!(eps.iter().all(|e| !e.host.is_empty()));
        }
    }

    #[test]
    fn parse_never_panics(text in ".{0,200}") {
        let _ = RegistriesConfig::parse(&text, Path::new("p"));
    }

    #[test]
    fn local_host_never_panics(host in ".{0,40}") {
        let _ = is_local_host(&host);
    }
}
