//! Reference tests: docker's own cases (from `distribution/reference` `normalize_test.go` and
//! `reference_test.go`, checked against the docker 28 CLI where they differ by version), and
//! round-trip properties.

use proptest::prelude::*;

use super::*;

const F64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const HEX: &str = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

/// `input => "fully qualified", "familiar"`: parses, displays, familiarises and round-trips.
macro_rules! ok {
    ($($name:ident: $input:expr => $full:expr, $familiar:expr;)*) => {$(
        #[test]
        fn $name() {
            let input: &str = &$input;
            let r: Reference = input.parse().unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(r.to_string(), $full, "display of {input:?}");
            assert_eq!(r.familiar(), $familiar, "familiar of {input:?}");
            assert_eq!(r.to_string().parse::<Reference>().unwrap(), r, "display round trip");
            assert_eq!(r.familiar().parse::<Reference>().unwrap(), r, "familiar round trip");
        }
    )*};
}

/// `input => reason`: refused with exactly this reason.
macro_rules! err {
    ($($name:ident: $input:expr => $reason:expr;)*) => {$(
        #[test]
        fn $name() {
            let input: &str = &$input;
            match input.parse::<Reference>() {
                Ok(r) => panic!("{input:?} accepted as {r}"),
                Err(OciError::InvalidReference { input: got, reason }) => {
                    assert_eq!(got, input);
                    assert_eq!(reason, $reason, "{input:?}");
                }
                Err(e) => panic!("{input:?}: unexpected error {e:?}"),
            }
        }
    )*};
}

use ReferenceError as E;

ok! {
    // TestValidateReferenceName (valid)
    docker_docker: "docker/docker" => "docker.io/docker/docker", "docker/docker";
    library_debian: "library/debian" => "docker.io/library/debian", "debian";
    debian: "debian" => "docker.io/library/debian", "debian";
    hub_docker_docker: "docker.io/docker/docker" => "docker.io/docker/docker", "docker/docker";
    hub_library_debian: "docker.io/library/debian" => "docker.io/library/debian", "debian";
    hub_debian: "docker.io/debian" => "docker.io/library/debian", "debian";
    index_docker_docker: "index.docker.io/docker/docker" => "docker.io/docker/docker", "docker/docker";
    index_library_debian: "index.docker.io/library/debian" => "docker.io/library/debian", "debian";
    index_debian: "index.docker.io/debian" => "docker.io/library/debian", "debian";
    ip_port_docker_docker: "127.0.0.1:5000/docker/docker" => "127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker";
    ip_port_library_debian: "127.0.0.1:5000/library/debian" => "127.0.0.1:5000/library/debian", "127.0.0.1:5000/library/debian";
    ip_port_debian: "127.0.0.1:5000/debian" => "127.0.0.1:5000/debian", "127.0.0.1:5000/debian";
    bare_ip: "192.168.0.1" => "docker.io/library/192.168.0.1", "192.168.0.1";
    bare_ip_port_is_tag: "192.168.0.1:80" => "docker.io/library/192.168.0.1:80", "192.168.0.1:80";
    ip_short_port: "192.168.0.1:8/debian" => "192.168.0.1:8/debian", "192.168.0.1:8/debian";
    ip_long_port: "192.168.0.2:25000/debian" => "192.168.0.2:25000/debian", "192.168.0.2:25000/debian";
    long_non_hex_name: "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev" => "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev";
    ipv6_port: "[fc00::1]:5000/docker" => "[fc00::1]:5000/docker", "[fc00::1]:5000/docker";
    ipv6_port_two: "[fc00::1]:5000/docker/docker" => "[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker";
    ipv6_full: "[fc00:1:2:3:4:5:6:7]:5000/library/debian" => "[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian";
    hex_with_registry: format!("docker.io/{HEX}") => format!("docker.io/library/{HEX}"), format!("docker.io/library/{HEX}");
    upper_registry: "Docker/docker" => "Docker/docker", "Docker/docker";
    all_upper_registry: "DOCKER/docker" => "DOCKER/docker", "DOCKER/docker";
    // TestValidateRemoteName (valid)
    hyphen: "docker-rules/docker" => "docker.io/docker-rules/docker", "docker-rules/docker";
    hyphens: "docker---rules/docker" => "docker.io/docker---rules/docker", "docker---rules/docker";
    short_namespace: "doc/docker" => "docker.io/doc/docker", "doc/docker";
    one_char_namespace: "d/docker" => "docker.io/d/docker", "d/docker";
    one_char_name: "jess/t" => "docker.io/jess/t", "jess/t";
    double_underscore: "dock__er/docker" => "docker.io/dock__er/docker", "dock__er/docker";
    // TestParseRepositoryInfo
    fooo_bar: "index.docker.io/fooo/bar" => "docker.io/fooo/bar", "fooo/bar";
    nonlibrary: "nonlibrary/ubuntu" => "docker.io/nonlibrary/ubuntu", "nonlibrary/ubuntu";
    other_library: "other/library" => "docker.io/other/library", "other/library";
    private_moonbase: "127.0.0.1:8000/private/moonbase" => "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase";
    privatebase: "127.0.0.1:8000/privatebase" => "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase";
    example_moonbase: "example.com/private/moonbase" => "example.com/private/moonbase", "example.com/private/moonbase";
    example_port: "example.com:8000/privatebasee" => "example.com:8000/privatebasee", "example.com:8000/privatebasee";
    ubuntu_version_name: "index.docker.io/library/ubuntu-12.04-base" => "docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base";
    hub_foo: "docker.io/foo" => "docker.io/library/foo", "foo";
    library_nested: "library/foo/bar" => "docker.io/library/foo/bar", "library/foo/bar";
    store_nested: "store/foo/bar" => "docker.io/store/foo/bar", "store/foo/bar";
    upper_domain_foo: "Foo/bar" => "Foo/bar", "Foo/bar";
    upper_domain_foo2: "FOO/bar" => "FOO/bar", "FOO/bar";
    // TestParseReferenceWithTagAndDigest
    tag_and_digest: format!("busybox:latest@sha256:{F64}") => format!("docker.io/library/busybox:latest@sha256:{F64}"), format!("busybox:latest@sha256:{F64}");
    // TestNormalizedSplitHostname
    test_com: "test.com/foo" => "test.com/foo", "test.com/foo";
    underscore_is_path: "test_com/foo" => "docker.io/test_com/foo", "test_com/foo";
    migrator: "docker/migrator" => "docker.io/docker/migrator", "docker/migrator";
    test_com_port: "test.com:8080/foo" => "test.com:8080/foo", "test.com:8080/foo";
    dash_port: "test-com:8080/foo" => "test-com:8080/foo", "test-com:8080/foo";
    foo: "foo" => "docker.io/library/foo", "foo";
    punycode: "xn--n3h.com/foo" => "xn--n3h.com/foo", "xn--n3h.com/foo";
    punycode_port: "xn--n3h.com:18080/foo" => "xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo";
    hub_library_nested: "docker.io/library/foo/bar" => "docker.io/library/foo/bar", "library/foo/bar";
    // TestParseDockerRef and TestParseAnyReference
    redis_latest: "redis:latest" => "docker.io/library/redis:latest", "redis:latest";
    redis_digest: format!("redis@sha256:{F64}") => format!("docker.io/library/redis@sha256:{F64}"), format!("redis@sha256:{F64}");
    gcr: "gcr.io/library/busybox" => "gcr.io/library/busybox", "gcr.io/library/busybox";
    gcr_tag_digest: format!("gcr.io/library/busybox:latest@sha256:{F64}") => format!("gcr.io/library/busybox:latest@sha256:{F64}"), format!("gcr.io/library/busybox:latest@sha256:{F64}");
    short_hex: "dbcc1" => "docker.io/library/dbcc1", "dbcc1";
    hex_63: &HEX[..63] => format!("docker.io/library/{}", &HEX[..63]), &HEX[..63];
    // TestReferenceParse (through ParseNormalizedNamed)
    bare_underscore: "test_com" => "docker.io/library/test_com", "test_com";
    dotted_tag: "test.com:tag" => "docker.io/library/test.com:tag", "test.com:tag";
    dotted_port_is_tag: "test.com:5000" => "docker.io/library/test.com:5000", "test.com:5000";
    dotted_repo_tag: "test.com/repo:tag" => "test.com/repo:tag", "test.com/repo:tag";
    host_port: "test:5000/repo" => "test:5000/repo", "test:5000/repo";
    host_port_tag: "test:5000/repo:tag" => "test:5000/repo:tag", "test:5000/repo:tag";
    host_port_digest: format!("test:5000/repo@sha256:{F64}") => format!("test:5000/repo@sha256:{F64}"), format!("test:5000/repo@sha256:{F64}");
    host_port_tag_digest: format!("test:5000/repo:tag@sha256:{F64}") => format!("test:5000/repo:tag@sha256:{F64}"), format!("test:5000/repo:tag@sha256:{F64}");
    upper_tag: "lowercase:Uppercase" => "docker.io/library/lowercase:Uppercase", "lowercase:Uppercase";
    subdomain: "sub-dom1.foo.com/bar/baz/quux" => "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux";
    subdomain_tag: "sub-dom1.foo.com/bar/baz/quux:some-long-tag" => "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag";
    dotted_path_and_tag: "b.gcr.io/test.example.com/my-app:test.example.com" => "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com";
    punycode_tag: "xn--n3h.com/myimage:xn--n3h.com" => "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com";
    sha512: format!("xn--7o8h.com/myimage:xn--7o8h.com@sha512:{F64}{F64}") => format!("xn--7o8h.com/myimage:xn--7o8h.com@sha512:{F64}{F64}"), format!("xn--7o8h.com/myimage:xn--7o8h.com@sha512:{F64}{F64}");
    underscore_dot_port_is_tag: "foo_bar.com:8080" => "docker.io/library/foo_bar.com:8080", "foo_bar.com:8080";
    nested_underscore_dot: "foo/foo_bar.com:8080" => "docker.io/foo/foo_bar.com:8080", "foo/foo_bar.com:8080";
    ip_tag: "192.168.1.1:tag" => "docker.io/library/192.168.1.1:tag", "192.168.1.1:tag";
    ip_repo: "192.168.1.1/repo" => "192.168.1.1/repo", "192.168.1.1/repo";
    ip_port_repo_tag: "192.168.1.1:5000/repo:5050" => "192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050";
    ipv6_repo: "[2001:db8::1]/repo" => "[2001:db8::1]/repo", "[2001:db8::1]/repo";
    ipv6_full_tag: "[2001:db8:1:2:3:4:5:6]/repo:tag" => "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag";
    ipv6_port_tag_digest: format!("[2001:db8::1]:5000/repo:tag@sha256:{F64}") => format!("[2001:db8::1]:5000/repo:tag@sha256:{F64}"), format!("[2001:db8::1]:5000/repo:tag@sha256:{F64}");
    ipv6_trailing_colons: "[2001:db8::]:5000/repo" => "[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo";
    ipv6_loopback: "[::1]:5000/repo" => "[::1]:5000/repo", "[::1]:5000/repo";
    // localhost is a registry with or without a port, but not on its own
    localhost_repo: "localhost/x" => "localhost/x", "localhost/x";
    localhost_port: "localhost:5000/x/y:1" => "localhost:5000/x/y:1", "localhost:5000/x/y:1";
    bare_localhost: "localhost" => "docker.io/library/localhost", "localhost";
    bare_localhost_port_is_tag: "localhost:5000" => "docker.io/library/localhost:5000", "localhost:5000";
    // tags
    tag_128: format!("foo:{}", "t".repeat(128)) => format!("docker.io/library/foo:{}", "t".repeat(128)), format!("foo:{}", "t".repeat(128));
    tag_underscore_first: "foo:_x.y-z" => "docker.io/library/foo:_x.y-z", "foo:_x.y-z";
    // kasane's familiar form keeps the registry where docker's would parse differently
    hub_dotted_namespace: "docker.io/foo.bar/baz" => "docker.io/foo.bar/baz", "docker.io/foo.bar/baz";
    hub_localhost_namespace: "docker.io/localhost/x" => "docker.io/localhost/x", "docker.io/localhost/x";
}

err! {
    // TestValidateReferenceName (invalid)
    url: "https://github.com/docker/docker" => E::Registry("https:".into());
    upper_repository: "docker/Docker" => E::Uppercase("docker/Docker".into());
    leading_dash: "-docker" => E::Repository("library/-docker".into());
    leading_dash_namespace: "-docker/docker" => E::Repository("-docker/docker".into());
    leading_dash_registry: "-docker.io/docker/docker" => E::Registry("-docker.io".into());
    empty_components: "docker///docker" => E::Format;
    hub_upper: "docker.io/docker/Docker" => E::Uppercase("docker/Docker".into());
    hub_empty_components: "docker.io/docker///docker" => E::Format;
    ipv6_alone: "[fc00::1]" => E::Repository("library/[fc00:".into());
    ipv6_port_alone: "[fc00::1]:5000" => E::Repository("library/[fc00::1]".into());
    ipv6_no_brackets: "fc00::1:5000/debian" => E::Registry("fc00::1:5000".into());
    ipv6_zone: "[fe80::1%eth0]:5000/debian" => E::Registry("[fe80::1%eth0]:5000".into());
    ipv6_mapped_v4: "[2001:db8:3:4::192.0.2.33]:5000/debian" => E::Registry("[2001:db8:3:4::192.0.2.33]:5000".into());
    hex_id: HEX => E::HexIdentifier(HEX.into());
    // TestValidateRemoteName (invalid)
    trailing_dash: "docker-/docker" => E::Repository("docker-/docker".into());
    dashes_around: "-docker-/docker" => E::Repository("-docker-/docker".into());
    underscores_only: "____/____" => E::Repository("____/____".into());
    leading_underscores: "_docker/_docker" => E::Repository("_docker/_docker".into());
    double_dot: "dock..er/docker" => E::Registry("dock..er".into());
    underscore_dot: "dock_.er/docker" => E::Registry("dock_.er".into());
    dash_dot: "dock-.er/docker" => E::Registry("dock-.er".into());
    triple_underscore: "dock___er/docker" => E::Repository("dock___er/docker".into());
    no_repository: "docker/" => E::Format;
    // TestReferenceParse (invalid)
    empty: "" => E::Empty;
    just_tag: ":justtag" => E::Format;
    just_digest: format!("@sha256:{F64}") => E::Format;
    short_digest: "repo@sha256:ffffffffffffffffffffffffffffffffff" => E::Digest("sha256:ffffffffffffffffffffffffffffffffff".parse::<Digest>().unwrap_err());
    tiny_digest: "repo@sha256:ffff" => E::Format;
    unknown_algorithm: format!("validname@invaliddigest:{F64}") => E::Digest(format!("invaliddigest:{F64}").parse::<Digest>().unwrap_err());
    sha384_unsupported: format!("foo@sha384:{F64}{}", &F64[..32]) => E::Digest(format!("sha384:{F64}{}", &F64[..32]).parse::<Digest>().unwrap_err());
    upper_digest: format!("foo@sha256:{}", F64.to_uppercase()) => E::Digest(format!("sha256:{}", F64.to_uppercase()).parse::<Digest>().unwrap_err());
    upper_name_tag: "Uppercase:tag" => E::Uppercase("library/Uppercase".into());
    upper_after_port: "test:5000/Uppercase/lowercase:tag" => E::Uppercase("Uppercase/lowercase".into());
    nginx_upper: "Nginx" => E::Uppercase("library/Nginx".into());
    upper_before_digest: format!("docker/Docker@sha256:{F64}") => E::Uppercase("docker/Docker@sha256".into());
    too_long: format!("{}a:tag", "a/".repeat(128)) => E::NameTooLong;
    bad_chars: "aa/asdf$$^/aa" => E::Repository("aa/asdf$$^/aa".into());
    ipv6_bare_tag: "[2001:db8::1]:tag" => E::Repository("library/[2001:db8::1]".into());
    ipv6_zone_digest: "[fe80::1%@invalidzone]:5000/repo" => E::Registry("[fe80::1%@invalidzone]:5000".into());
    // tags
    tag_129: format!("foo:{}", "t".repeat(129)) => E::Tag("t".repeat(129));
    tag_leading_dash: "foo:-bar" => E::Tag("-bar".into());
    tag_leading_dot: "foo:.bar" => E::Tag(".bar".into());
    tag_empty: "foo:" => E::Tag(String::new());
    tag_slash: "foo:bar/baz" => E::Registry("foo:bar".into());
    two_ats: "a@b@c" => E::Format;
    // deviation: docker accepts these with an empty registry
    invalid_host_with_dot: "foo_bar.com/x" => E::Registry("foo_bar.com".into());
    upper_invalid_host: "Foo_bar/x" => E::Registry("Foo_bar".into());
    port_without_digits: "localhost:/x" => E::Registry("localhost:".into());
}

#[test]
fn longest_repository_is_accepted() {
    let input = format!("{}a:tag-puts-this-over-max", "a/".repeat(127));
    let r: Reference = input.parse().unwrap();
    assert_eq!(r.registry, "docker.io");
    assert_eq!(r.repository.len(), 255);
    assert_eq!(r.tag.as_deref(), Some("tag-puts-this-over-max"));
}

#[test]
fn library_prefix_counts_towards_the_limit() {
    let name = "a".repeat(248); // "library/" + 248 = 256
    assert!(matches!(
        name.parse::<Reference>(),
        Err(OciError::InvalidReference {
            reason: E::NameTooLong,
            ..
        })
    ));
    assert!(name[..247].parse::<Reference>().is_ok());
}

#[test]
fn error_messages_are_dockers() {
    #[rustfmt::skip]
    let cases = [
        ("Nginx", "invalid reference format: repository name (library/Nginx) must be lowercase".to_owned()),
        (HEX, format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")),
        ("foo:-bar", "invalid reference format: tag (-bar) is not valid".to_owned()),
        ("a@b@c", "invalid reference format".to_owned()),
    ];
    for (input, message) in cases {
        assert_eq!(input.parse::<Reference>().unwrap_err().to_string(), message);
    }
}

#[test]
fn parts_are_split() {
    let r: Reference = format!("localhost:5000/a/b:v1@sha256:{F64}")
        .parse()
        .unwrap();
    assert_eq!(r.registry, "localhost:5000");
    assert_eq!(r.repository, "a/b");
    assert_eq!(r.tag.as_deref(), Some("v1"));
    assert_eq!(r.digest.as_ref().map(Digest::hex), Some(F64));
    assert_eq!(r.name(), "localhost:5000/a/b");
    assert_eq!(r.familiar_name(), "localhost:5000/a/b");
    assert!(!r.is_docker_hub());
}

#[test]
fn builders() {
    let nginx: Reference = "nginx".parse().unwrap();
    assert_eq!(nginx.tag_or_latest(), "latest");
    assert_eq!(
        nginx.clone().with_default_tag().to_string(),
        "docker.io/library/nginx:latest"
    );
    let digest: Digest = format!("sha256:{F64}").parse().unwrap();
    let pinned = nginx.clone().with_digest(digest.clone());
    assert_eq!(
        pinned.clone().with_default_tag(),
        pinned,
        "a digest needs no tag"
    );
    assert_eq!(pinned.familiar(), format!("nginx@sha256:{F64}"));
    let tagged = pinned.with_tag("1.27").unwrap();
    assert_eq!(tagged.familiar(), format!("nginx:1.27@sha256:{F64}"));
    assert_eq!(tagged.tag_or_latest(), "1.27");
    assert_eq!(tagged.without_tag_or_digest(), nginx);
    assert!(matches!(
        nginx.with_tag("-x"),
        Err(OciError::InvalidReference {
            reason: E::Tag(_),
            ..
        })
    ));
}

#[test]
fn serde_is_the_display_string() {
    let r: Reference = "foo/bar:1".parse().unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, r#""docker.io/foo/bar:1""#);
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
    assert!(serde_json::from_str::<Reference>(r#""Foo""#).is_err());
}

fn domain_component() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?"
}

fn registry() -> impl Strategy<Value = String> {
    let port = proptest::option::of("[0-9]{1,5}");
    let with_port = |host: String, port: Option<String>| match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    prop_oneof![
        Just(DOCKER_HUB_REGISTRY.to_owned()),
        port.clone()
            .prop_map(move |p| with_port("localhost".into(), p)),
        (
            prop::collection::vec(domain_component(), 2..4),
            port.clone()
        )
            .prop_map(move |(parts, p)| with_port(parts.join("."), p)),
        (domain_component(), "[0-9]{1,5}").prop_map(|(h, p)| format!("{h}:{p}")),
        ("[a-fA-F0-9:]{1,12}", port).prop_map(move |(ip, p)| with_port(format!("[{ip}]"), p)),
        "[A-Z][a-zA-Z0-9]{0,6}",
    ]
    .prop_filter("docker hub aliases are normalised", |r| {
        r != DOCKER_HUB_LEGACY_REGISTRY && (r == DOCKER_HUB_REGISTRY || looks_like_registry(r))
    })
}

fn path_component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}(([._]|__|-{1,3})[a-z0-9]{1,6}){0,2}"
}

prop_compose! {
    fn reference()(
        registry in registry(),
        components in prop::collection::vec(path_component(), 1..5),
        tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}"),
        digest in proptest::option::of("[a-f0-9]{64}"),
    ) -> Reference {
        let mut repository = components.join("/");
        if registry == DOCKER_HUB_REGISTRY && components.len() == 1 {
            repository = format!("library/{repository}");
        }
        Reference {
            registry,
            repository,
            tag,
            digest: digest.map(|hex| Digest::from_parts(crate::Algorithm::Sha256, &hex).unwrap()),
        }
    }
}

proptest! {
    #[test]
    fn display_and_familiar_parse_back(r in reference()) {
        prop_assert_eq!(r.to_string().parse::<Reference>().unwrap(), r.clone());
        prop_assert_eq!(r.familiar().parse::<Reference>().unwrap(), r);
    }

    #[test]
    fn anything_parsed_round_trips(s in "[a-zA-Z0-9:/@._\\[\\]-]{0,40}") {
        if let Ok(r) = s.parse::<Reference>() {
            prop_assert_eq!(r.to_string().parse::<Reference>().unwrap(), r.clone());
            prop_assert_eq!(r.familiar().parse::<Reference>().unwrap(), r);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,80}") {
        let _ = s.parse::<Reference>();
    }
}
