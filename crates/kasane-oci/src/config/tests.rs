//! Image config tests over hand-written configs in the formats docker and buildkit write.

use serde_json::json;

use super::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A config as docker's classic builder writes it: alphabetical top level, `container_config`,
/// explicit `null`s, empty strings and `{}`, unknown top-level and nested fields.
const DOCKER_CLASSIC: &str = r##"{"architecture":"amd64","config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["nginx","-g","daemon off;"],"Healthcheck":{"Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"],"Interval":30000000000,"Timeout":5000000000,"StartPeriod":0,"Retries":3},"ArgsEscaped":true,"Image":"sha256:1111111111111111111111111111111111111111111111111111111111111111","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"StopSignal":"SIGQUIT","Shell":["/bin/bash","-c"],"Memory":0},"container":"3f4e5d","container_config":{"Hostname":"3f4e5d","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":[],"Cmd":["/bin/sh","-c","#(nop) ","STOPSIGNAL SIGQUIT"],"Image":"sha256:1111111111111111111111111111111111111111111111111111111111111111","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":[],"Labels":null},"created":"2024-05-14T01:28:41.518372412Z","docker_version":"20.10.23","history":[{"created":"2024-05-14T01:28:40.1Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "},{"created":"2024-05-14T01:28:40.5Z","created_by":"/bin/sh -c #(nop)  CMD [\"bash\"]","empty_layer":true},{"created":"2024-05-14T01:28:41.5Z","created_by":"/bin/sh -c apt-get update","comment":"x","author":"me"}],"id":"abc","os":"linux","parent":"sha256:1111111111111111111111111111111111111111111111111111111111111111","rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111","sha256:2222222222222222222222222222222222222222222222222222222222222222"]}}"##;

/// A config as buildkit writes it (OCI field order, `os.version`, unknown buildkit field).
const BUILDKIT_OCI: &str = r##"{"created":"2024-05-14T01:28:41Z","author":"someone","architecture":"arm64","os":"linux","os.features":["x"],"variant":"v8","config":{"User":"app","ExposedPorts":{"443/tcp":{},"80/tcp":{}},"Env":["A=1"],"Entrypoint":["/app"],"Cmd":[],"Volumes":{"/data":{}},"WorkingDir":"/srv","Labels":{"org.opencontainers.image.title":"t"},"StopSignal":"SIGTERM","ArgsEscaped":true,"OnBuild":null},"rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]},"history":[{"created":"2024-05-14T01:28:41Z","created_by":"COPY app /app # buildkit","comment":"buildkit.dockerfile.v0"},{"created":"2024-05-14T01:28:41Z","created_by":"WORKDIR /srv","comment":"buildkit.dockerfile.v0","empty_layer":true}],"moby.buildkit.buildinfo.v1":"eyJmcm9udGVuZCI6ImRvY2tlcmZpbGUudjAifQ=="}"##;

/// A minimal OCI config: no `config`, no `history`.
const MINIMAL_OCI: &str =
    r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

macro_rules! round_trip {
    ($($name:ident: $fixture:expr;)*) => {$(
        #[test]
        fn $name() {
            let config = ImageConfig::from_slice($fixture.as_bytes()).unwrap();
            let out = config.to_json();
            assert_eq!(value(&out), value($fixture.as_bytes()), "value changed in round trip");
            assert_eq!(ImageConfig::from_slice(&out).unwrap(), config);
            assert_eq!(ImageConfig::from_slice(&out).unwrap().to_json(), out, "not stable");
        }
    )*};
}

round_trip! {
    round_trip_docker_classic: DOCKER_CLASSIC;
    round_trip_buildkit_oci: BUILDKIT_OCI;
    round_trip_minimal_oci: MINIMAL_OCI;
    round_trip_all_nulls: r#"{"architecture":"amd64","os":"linux","config":{"User":null,"Env":null,"Cmd":null,"ExposedPorts":null,"Healthcheck":null,"Labels":null,"Shell":null,"StopTimeout":null},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    round_trip_healthcheck_extra: r#"{"architecture":"amd64","os":"linux","config":{"Healthcheck":{"Test":["NONE"],"StartInterval":1,"Future":true}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
}

#[test]
fn docker_container_config_keeps_dockers_key_order() {
    let config = ImageConfig::from_slice(DOCKER_CLASSIC.as_bytes()).unwrap();
    let out = serde_json::to_string(&config.container_config).unwrap();
    let start =
        DOCKER_CLASSIC.find(r#""container_config":"#).unwrap() + r#""container_config":"#.len();
    let end = DOCKER_CLASSIC.find(r#","created""#).unwrap();
    assert_eq!(out, DOCKER_CLASSIC[start..end]);
}

#[test]
fn docker_fields_are_typed() {
    let config = ImageConfig::from_slice(DOCKER_CLASSIC.as_bytes()).unwrap();
    assert_eq!(config.platform().to_string(), "linux/amd64");
    assert_eq!(config.docker_version.as_deref(), Some("20.10.23"));
    assert_eq!(config.container.as_deref(), Some("3f4e5d"));
    assert_eq!(config.parent.as_deref(), Some(D1));
    assert_eq!(
        config.created.as_deref(),
        Some("2024-05-14T01:28:41.518372412Z")
    );
    assert_eq!(
        config.extra,
        json!({"id": "abc"}).as_object().unwrap().clone()
    );
    let run = config.config.as_ref().unwrap();
    assert_eq!(
        run.cmd,
        Some(vec!["nginx".into(), "-g".into(), "daemon off;".into()])
    );
    assert_eq!(run.entrypoint, None);
    assert_eq!(
        run.null_fields,
        BTreeSet::from(["Entrypoint", "OnBuild", "Volumes"])
    );
    assert_eq!(run.labels, Some(BTreeMap::new()));
    assert_eq!(run.working_dir.as_deref(), Some(""));
    assert_eq!(run.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(run.shell, Some(vec!["/bin/bash".into(), "-c".into()]));
    assert_eq!(
        run.exposed_ports
            .as_ref()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["80/tcp"]
    );
    assert_eq!(run.extra, json!({"Memory": 0}).as_object().unwrap().clone());
    let health = run.healthcheck.as_ref().unwrap();
    assert_eq!(health.interval, Some(30_000_000_000));
    assert_eq!(health.start_period, Some(0));
    assert_eq!(health.retries, Some(3));
    assert_eq!(health.start_interval, None);
    let build = config.container_config.as_ref().unwrap();
    assert_eq!(build.env, Some(vec![]));
    assert_eq!(build.on_build, Some(vec![]));
    assert_eq!(
        build.null_fields,
        BTreeSet::from(["Entrypoint", "Labels", "Volumes"])
    );
    assert_eq!(config.diff_ids().len(), 2);
    assert_eq!(config.chain_ids().len(), 2);
    assert_eq!(config.chain_ids()[0].0, config.diff_ids()[0].0);
}

#[test]
fn oci_fields_are_typed() {
    let config = ImageConfig::from_slice(BUILDKIT_OCI.as_bytes()).unwrap();
    assert_eq!(config.platform().to_string(), "linux/arm64/v8");
    assert_eq!(config.author.as_deref(), Some("someone"));
    assert_eq!(config.os_features, Some(vec!["x".to_owned()]));
    assert!(config.extra.contains_key("moby.buildkit.buildinfo.v1"));
    let run = config.config.as_ref().unwrap();
    assert_eq!(run.cmd, Some(vec![]), "[] is not absent");
    assert_eq!(run.user.as_deref(), Some("app"));
    assert_eq!(run.args_escaped, Some(true));
    assert_eq!(run.null_fields, BTreeSet::from(["OnBuild"]));
    assert_eq!(config.history.len(), 2);
    assert_eq!(
        config.history[0].comment.as_deref(),
        Some("buildkit.dockerfile.v0")
    );
}

#[test]
fn empty_or_null_history_is_omitted() {
    for history in ["[]", "null"] {
        let json = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":null}},"history":{history}}}"#
        );
        let config = ImageConfig::from_slice(json.as_bytes()).unwrap();
        assert!(config.history.is_empty() && config.rootfs.diff_ids.is_empty());
        assert_eq!(value(&config.to_json()), value(MINIMAL_OCI.as_bytes()));
    }
}

#[test]
fn setting_a_null_field_wins() {
    let mut config = ImageConfig::from_slice(DOCKER_CLASSIC.as_bytes()).unwrap();
    let run = config.config.as_mut().unwrap();
    run.entrypoint = Some(vec!["/init".into()]);
    let out = value(&config.to_json());
    assert_eq!(out["config"]["Entrypoint"], json!(["/init"]));
    assert_eq!(out["config"]["OnBuild"], Value::Null);
    assert!(out["config"].as_object().unwrap().contains_key("OnBuild"));
}

#[test]
fn new_config_serialises_minimally() {
    let mut config = ImageConfig::new(&"linux/arm64".parse().unwrap());
    config.rootfs.diff_ids.push(D2.parse().unwrap());
    config.config = Some(ContainerConfig {
        cmd: Some(vec!["sh".into()]),
        ..ContainerConfig::default()
    });
    assert_eq!(
        String::from_utf8(config.to_json()).unwrap(),
        format!(
            r#"{{"architecture":"arm64","os":"linux","variant":"v8","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{D2}"]}}}}"#
        )
    );
}

#[test]
fn layer_history_pairs_entries_with_layers() {
    let config = ImageConfig::from_slice(DOCKER_CLASSIC.as_bytes()).unwrap();
    let pairs: Vec<Option<usize>> = config.layer_history().iter().map(|(_, i)| *i).collect();
    assert_eq!(pairs, [Some(0), None, Some(1)]);

    let mut short = config.clone();
    short.rootfs.diff_ids.truncate(1);
    let pairs: Vec<Option<usize>> = short.layer_history().iter().map(|(_, i)| *i).collect();
    assert_eq!(
        pairs,
        [Some(0), None, None],
        "entries beyond the layers get no index"
    );

    let none = ImageConfig::from_slice(MINIMAL_OCI.as_bytes()).unwrap();
    assert!(none.layer_history().is_empty());
}

macro_rules! invalid {
    ($($name:ident: $json:expr;)*) => {$(
        #[test]
        fn $name() {
            let err = ImageConfig::from_slice($json.as_bytes()).unwrap_err();
            assert!(matches!(err, OciError::InvalidConfig { .. }), "{err:?}");
            assert_eq!(err.to_string(), "invalid image config JSON");
        }
    )*};
}

invalid! {
    invalid_not_json: "nope";
    invalid_empty: "";
    invalid_no_rootfs: r#"{"architecture":"amd64","os":"linux"}"#;
    invalid_bad_diff_id: r#"{"rootfs":{"type":"layers","diff_ids":["sha256:abc"]}}"#;
    invalid_cmd_type: r#"{"config":{"Cmd":"sh"},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    invalid_array: "[]";
}
