//! `version` and `info`: docker's layout and the `--format` fields scripts read.
#![allow(clippy::unwrap_used)]

mod common;

use common::Kasane;

#[test]
fn version_prints_client_and_server() {
    let k = Kasane::new();
    let out = k.ok(&["version"]);
    assert!(
        out.starts_with("Client: kasane\n Version:           "),
        "{out}"
    );
    assert!(
        out.contains("\nServer: kasane (daemonless)\n Engine:\n  Version:"),
        "{out}"
    );
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(
        k.ok(&[
            "version",
            "--format",
            "{{.Client.Version}} {{.Server.Version}}"
        ]),
        format!("{v} {v}\n")
    );
    let doc: serde_json::Value = serde_json::from_str(&k.ok(&["version", "-f", "json"])).unwrap();
    assert_eq!(doc["Client"]["Os"], "linux");
    // `version` never makes a state root.
    assert!(!k.root.exists());
}

#[test]
fn info_counts_images_and_describes_the_host() {
    let k = Kasane::new();
    let img = kasane_testsupport::ImageBuilder::new()
        .layer(
            kasane_testsupport::LayerBuilder::new(1)
                .file("hello", b"hi\n".to_vec())
                .build(),
            "ADD hello",
        )
        .build();
    k.load_image("tiny:1", &img);
    let out = k.ok(&["info"]);
    for line in [
        "Server:\n Containers: 0\n  Running: 0\n  Paused: 0\n  Stopped: 0\n Images: 1\n",
        " Logging Driver: json-file\n",
        " Default Runtime: kasane\n",
        &format!(" Docker Root Dir: {}\n", k.root.display()),
        " Insecure Registries:\n  ::1/128\n  127.0.0.0/8\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    assert_eq!(
        k.ok(&[
            "info",
            "--format",
            "{{.Images}} {{.Containers}} {{.OSType}} {{.DefaultRuntime}}"
        ]),
        "1 0 linux kasane\n"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&k.ok(&["system", "info", "-f", "json"])).unwrap();
    assert!(doc["NCPU"].as_u64().unwrap() >= 1);
    assert!(doc["MemTotal"].as_u64().unwrap() > 0);
    assert_eq!(doc["DockerRootDir"], k.root.display().to_string());
    let (c, err) = k.fail(&["info", "--format", "{{.Nope"]);
    assert_eq!(c, 64, "{err}");
}
