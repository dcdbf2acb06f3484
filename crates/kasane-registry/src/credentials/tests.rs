//! Unit tests of the parent module.

use super::keys::{docker_key_host, podman_key_host};
use super::*;
use std::os::unix::fs::PermissionsExt as _;

struct Env {
    _tmp: tempfile::TempDir,
    docker: PathBuf,
    podman: PathBuf,
    bin: PathBuf,
    state: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let docker = tmp.path().join("docker");
        let podman = tmp.path().join("auth.json");
        let bin = tmp.path().join("bin");
        let state = tmp.path().join("state");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        Env {
            _tmp: tmp,
            docker,
            podman,
            bin,
            state,
        }
    }

    fn store(&self) -> CredentialStore {
        CredentialStore::with_paths(&self.docker, vec![self.podman.clone()]).with_helper_path(
            std::env::join_paths([self.bin.as_path(), Path::new("/usr/bin"), Path::new("/bin")])
                .unwrap(),
        )
    }

    fn config(&self) -> PathBuf {
        self.docker.join("config.json")
    }

    fn write_config(&self, v: &Value) {
        std::fs::create_dir_all(&self.docker).unwrap();
        std::fs::write(self.config(), serde_json::to_vec_pretty(v).unwrap()).unwrap();
    }

    fn read_config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.config()).unwrap()).unwrap()
    }

    /// A fake `docker-credential-test`: `get` answers from `state/get-<hex url>`,
    /// `store` appends its input to `state/store.log`, `erase` removes the get file;
    /// every call is logged to `state/calls`.
    fn install_helper(&self) {
        let script = format!(
            r#"#!/bin/sh
state='{state}'
input=$(cat)
printf '%s %s\n' "$1" "$input" >> "$state/calls"
hex=$(printf '%s' "$input" | od -An -tx1 | tr -d ' \n')
case "$1" in
  get)
    if [ -f "$state/get-$hex" ]; then cat "$state/get-$hex"; exit 0; fi
    echo "credentials not found in native keychain"; exit 1 ;;
  store)
    printf '%s\n' "$input" >> "$state/store.log"; exit 0 ;;
  erase)
    if [ -f "$state/get-$hex" ]; then rm "$state/get-$hex"; exit 0; fi
    echo "credentials not found in native keychain"; exit 1 ;;
  *) echo "unknown action" >&2; exit 2 ;;
esac
"#,
            state = self.state.display()
        );
        let path = self.bin.join("docker-credential-test");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn helper_has(&self, server: &str, user: &str, secret: &str) {
        let hex: String = server.bytes().map(|b| format!("{b:02x}")).collect();
        let body = serde_json::json!({"ServerURL": server, "Username": user, "Secret": secret});
        std::fs::write(self.state.join(format!("get-{hex}")), body.to_string()).unwrap();
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.state.join("calls")).unwrap_or_default()
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn missing_files_mean_no_credentials() {
    let env = Env::new();
    let s = env.store();
    assert_eq!(s.get("docker.io").unwrap(), None);
    assert!(!s.erase("docker.io").unwrap());
    assert!(s.stores_plaintext("docker.io"));
    assert_eq!(s.config_path(), env.docker.join("config.json"));
}

#[test]
fn round_trip_in_the_config_file() {
    let env = Env::new();
    let s = env.store();
    s.store(
        "localhost:5000",
        &Credential::basic("alice", "s3cret:with:colons"),
    )
    .unwrap();
    let got = s.get("localhost:5000").unwrap().unwrap();
    assert_eq!(got, Credential::basic("alice", "s3cret:with:colons"));
    let v = env.read_config();
    assert_eq!(
        v["auths"]["localhost:5000"]["auth"],
        b64("alice:s3cret:with:colons")
    );
    assert!(v["auths"]["localhost:5000"].get("password").is_none());

    // Modes: directory 0700, file 0600; docker's tab indentation; no temp files left.
    let dmode = std::fs::metadata(&env.docker).unwrap().permissions().mode() & 0o777;
    let fmode = std::fs::metadata(env.config())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!((dmode, fmode), (0o700, 0o600));
    let text = std::fs::read_to_string(env.config()).unwrap();
    assert!(text.contains("\n\t\"auths\""), "{text}");
    let names: Vec<_> = std::fs::read_dir(&env.docker)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("config.json")]);

    // Identity tokens are kept alongside.
    let tok = Credential {
        username: "bob".into(),
        password: String::new(),
        identity_token: Some("refresh-123".into()),
    };
    s.store("docker.io", &tok).unwrap();
    assert_eq!(s.get("docker.io").unwrap().unwrap(), tok);
    let v = env.read_config();
    assert_eq!(v["auths"][DOCKER_HUB_KEY]["identitytoken"], "refresh-123");
    assert_eq!(v["auths"][DOCKER_HUB_KEY]["auth"], b64("bob:"));

    assert!(s.erase("localhost:5000").unwrap());
    assert_eq!(s.get("localhost:5000").unwrap(), None);
    assert!(!s.erase("localhost:5000").unwrap());
    assert!(s.get("docker.io").unwrap().is_some());
}

#[test]
fn unknown_keys_and_order_are_preserved() {
    let env = Env::new();
    env.write_config(&serde_json::json!({
        "psFormat": "table {{.ID}}",
        "auths": {
            "other.example": {"auth": b64("o:p"), "email": "o@example.com"}
        },
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        "zzz-unknown": [1, 2, {"x": null}],
    }));
    std::fs::set_permissions(env.config(), std::fs::Permissions::from_mode(0o640)).unwrap();
    let s = env.store();
    s.store("reg.example", &Credential::basic("u", "p"))
        .unwrap();
    let v = env.read_config();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["psFormat", "auths", "proxies", "zzz-unknown"]);
    assert_eq!(v["zzz-unknown"], serde_json::json!([1, 2, {"x": null}]));
    assert_eq!(v["proxies"]["default"]["httpProxy"], "http://proxy:3128");
    assert_eq!(v["auths"]["other.example"]["email"], "o@example.com");
    assert_eq!(v["auths"]["reg.example"]["auth"], b64("u:p"));
    // An existing file keeps its mode, as docker does.
    let fmode = std::fs::metadata(env.config())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(fmode, 0o640);

    // Re-login keeps other fields of the entry but replaces the secrets.
    s.store("other.example", &Credential::basic("o2", "p2"))
        .unwrap();
    let v = env.read_config();
    assert_eq!(v["auths"]["other.example"]["email"], "o@example.com");
    assert_eq!(v["auths"]["other.example"]["auth"], b64("o2:p2"));
}

#[test]
fn docker_hub_keys_are_normalised() {
    let env = Env::new();
    env.write_config(&serde_json::json!({
        "auths": {DOCKER_HUB_KEY: {"auth": b64("hubuser:hubpass")}}
    }));
    let s = env.store();
    for name in [
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "https://index.docker.io/v1/",
        "DOCKER.IO",
    ] {
        assert_eq!(
            s.get(name).unwrap(),
            Some(Credential::basic("hubuser", "hubpass")),
            "{name}"
        );
    }
    assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
    assert_eq!(config_key("index.docker.io"), DOCKER_HUB_KEY);
    assert_eq!(
        config_key("https://Reg.Example:5000/v2/"),
        "reg.example:5000"
    );

    // A login to docker.io writes the canonical key, not "docker.io".
    s.store("docker.io", &Credential::basic("new", "pw"))
        .unwrap();
    let v = env.read_config();
    assert_eq!(v["auths"].as_object().unwrap().len(), 1);
    assert_eq!(v["auths"][DOCKER_HUB_KEY]["auth"], b64("new:pw"));
}

#[test]
fn hosts_match_with_scheme_and_path_variants() {
    let env = Env::new();
    env.write_config(&serde_json::json!({
        "auths": {
            "https://a.example": {"auth": b64("a:1")},
            "http://b.example:5000/v2/": {"username": "b", "password": "2"},
            "c.example/some/path": {"auth": b64("c:3")},
            "d.example": {},
        }
    }));
    let s = env.store();
    assert_eq!(
        s.get("a.example").unwrap(),
        Some(Credential::basic("a", "1"))
    );
    assert_eq!(
        s.get("b.example:5000").unwrap(),
        Some(Credential::basic("b", "2"))
    );
    assert_eq!(s.get("b.example").unwrap(), None);
    assert_eq!(
        s.get("c.example").unwrap(),
        Some(Credential::basic("c", "3"))
    );
    assert_eq!(s.get("d.example").unwrap(), None);

    // The canonical key wins over legacy variants.
    s.store("a.example", &Credential::basic("a", "new"))
        .unwrap();
    assert_eq!(
        s.get("a.example").unwrap(),
        Some(Credential::basic("a", "new"))
    );

    // Logout removes every variant.
    assert!(s.erase("a.example").unwrap());
    let v = env.read_config();
    let keys: Vec<&String> = v["auths"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "http://b.example:5000/v2/",
            "c.example/some/path",
            "d.example"
        ]
    );
}

#[test]
fn podman_auth_file_is_a_fallback() {
    let env = Env::new();
    std::fs::write(
        &env.podman,
        serde_json::json!({
            "auths": {
                "quay.io": {"auth": b64("pq:pw")},
                "quay.io/scoped-org": {"auth": b64("scoped:pw")},
                "ghcr.io/only-org": {"auth": b64("g:pw")},
                "docker.io": {"auth": b64("pd:pw")},
            }
        })
        .to_string(),
    )
    .unwrap();
    let s = env.store();
    assert_eq!(
        s.get("quay.io").unwrap(),
        Some(Credential::basic("pq", "pw"))
    );
    // Repository-scoped keys do not apply to the whole registry.
    assert_eq!(s.get("ghcr.io").unwrap(), None);
    assert_eq!(
        s.get("docker.io").unwrap(),
        Some(Credential::basic("pd", "pw"))
    );

    // Docker's config comes first.
    env.write_config(&serde_json::json!({"auths": {DOCKER_HUB_KEY: {"auth": b64("dd:pw")}}}));
    assert_eq!(
        s.get("docker.io").unwrap(),
        Some(Credential::basic("dd", "pw"))
    );

    // Logout leaves podman's file alone.
    assert!(s.erase("docker.io").unwrap());
    assert_eq!(
        s.get("docker.io").unwrap(),
        Some(Credential::basic("pd", "pw"))
    );
    assert!(!s.erase("quay.io").unwrap());
    assert_eq!(
        s.get("quay.io").unwrap(),
        Some(Credential::basic("pq", "pw"))
    );
}

#[test]
fn creds_store_helper_get_store_erase() {
    let env = Env::new();
    env.install_helper();
    env.write_config(&serde_json::json!({"credsStore": "test", "auths": {}}));
    let s = env.store();
    assert!(!s.stores_plaintext("reg.example"));

    // Not found in the helper: none, and the config's auths are not consulted.
    assert_eq!(s.get("reg.example").unwrap(), None);

    s.store("reg.example", &Credential::basic("u", "p"))
        .unwrap();
    let log = std::fs::read_to_string(env.state.join("store.log")).unwrap();
    let stored: Value = serde_json::from_str(log.trim()).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"ServerURL": "reg.example", "Username": "u", "Secret": "p"})
    );
    let v = env.read_config();
    assert_eq!(v["auths"]["reg.example"], serde_json::json!({}));
    assert_eq!(v["credsStore"], "test");

    env.helper_has("reg.example", "u", "p");
    assert_eq!(
        s.get("reg.example").unwrap(),
        Some(Credential::basic("u", "p"))
    );

    // Docker Hub goes to the helper under its canonical key; <token> means identity token.
    env.helper_has(DOCKER_HUB_KEY, "<token>", "refresh-xyz");
    assert_eq!(
        s.get("docker.io").unwrap(),
        Some(Credential {
            username: String::new(),
            password: String::new(),
            identity_token: Some("refresh-xyz".into()),
        })
    );

    assert!(s.erase("reg.example").unwrap());
    assert_eq!(s.get("reg.example").unwrap(), None);
    assert!(env.read_config()["auths"].get("reg.example").is_none());
    assert!(env.calls().contains("erase reg.example"), "{}", env.calls());
    assert!(!s.erase("reg.example").unwrap());
}

#[test]
fn cred_helpers_per_registry_and_token_store() {
    let env = Env::new();
    env.install_helper();
    env.write_config(&serde_json::json!({
        "credHelpers": {"helped.example": "test"},
        "auths": {"plain.example": {"auth": b64("pl:pw")}}
    }));
    let s = env.store();
    assert!(!s.stores_plaintext("helped.example"));
    assert!(s.stores_plaintext("plain.example"));
    assert_eq!(
        s.get("plain.example").unwrap(),
        Some(Credential::basic("pl", "pw"))
    );

    let tok = Credential {
        username: "ignored".into(),
        password: String::new(),
        identity_token: Some("tok".into()),
    };
    s.store("helped.example", &tok).unwrap();
    let log = std::fs::read_to_string(env.state.join("store.log")).unwrap();
    let stored: Value = serde_json::from_str(log.trim()).unwrap();
    assert_eq!(stored["Username"], "<token>");
    assert_eq!(stored["Secret"], "tok");
    assert_eq!(
        env.read_config()["auths"]["helped.example"],
        serde_json::json!({})
    );
    // Nothing else went through the helper.
    assert!(!env.calls().contains("plain.example"), "{}", env.calls());
}

#[test]
fn podman_cred_helpers_are_used() {
    let env = Env::new();
    env.install_helper();
    std::fs::write(
        &env.podman,
        serde_json::json!({"credHelpers": {"p.example": "test"}}).to_string(),
    )
    .unwrap();
    env.helper_has("p.example", "pu", "pp");
    let s = env.store();
    assert_eq!(
        s.get("p.example").unwrap(),
        Some(Credential::basic("pu", "pp"))
    );
}

#[test]
fn missing_and_failing_helpers_are_clear_errors() {
    let env = Env::new();
    env.write_config(&serde_json::json!({"credsStore": "desktop"}));
    let s = env.store();
    let e = s.get("reg.example").unwrap_err();
    assert!(matches!(e, CredentialError::HelperNotFound { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("docker-credential-desktop"), "{msg}");
    assert!(msg.contains("credsStore"), "{msg}");
    assert!(msg.contains(&env.config().display().to_string()), "{msg}");

    let failing = env.bin.join("docker-credential-broken");
    std::fs::write(
        &failing,
        "#!/bin/sh\ncat >/dev/null\necho 'keychain locked' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.write_config(&serde_json::json!({"credHelpers": {"reg.example": "broken"}}));
    let e = s.get("reg.example").unwrap_err();
    assert!(matches!(e, CredentialError::HelperFailed { .. }), "{e:?}");
    assert!(e.to_string().contains("keychain locked"), "{e}");
    assert!(
        s.store("reg.example", &Credential::basic("u", "p"))
            .is_err()
    );

    env.write_config(&serde_json::json!({"credsStore": "../evil"}));
    let e = s.get("reg.example").unwrap_err();
    assert!(
        matches!(e, CredentialError::InvalidHelperName { .. }),
        "{e:?}"
    );
}

#[test]
fn corrupted_config_names_the_file() {
    let env = Env::new();
    std::fs::create_dir_all(&env.docker).unwrap();
    std::fs::write(env.config(), "{\"auths\": {").unwrap();
    let s = env.store();
    let e = s.get("docker.io").unwrap_err();
    assert!(matches!(e, CredentialError::Parse { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&env.config().display().to_string()),
        "{e}"
    );
    // store refuses rather than overwriting the broken file.
    assert!(s.store("docker.io", &Credential::basic("u", "p")).is_err());
    assert_eq!(
        std::fs::read_to_string(env.config()).unwrap(),
        "{\"auths\": {"
    );

    std::fs::write(
        env.config(),
        "{\"auths\": {\"x.example\": {\"auth\": \"!!!\"}}}",
    )
    .unwrap();
    let e = s.get("x.example").unwrap_err();
    assert!(e.to_string().contains("auths[\"x.example\"].auth"), "{e}");

    std::fs::write(env.config(), "{\"auths\": []}").unwrap();
    let e = s.get("x.example").unwrap_err();
    assert!(matches!(e, CredentialError::Malformed { .. }), "{e:?}");

    // An empty file is an empty config, as docker treats it.
    std::fs::write(env.config(), "").unwrap();
    assert_eq!(s.get("x.example").unwrap(), None);
    s.store("x.example", &Credential::basic("u", "p")).unwrap();
    assert!(s.get("x.example").unwrap().is_some());
}

#[test]
fn symlinked_config_stays_a_symlink() {
    let env = Env::new();
    std::fs::create_dir_all(&env.docker).unwrap();
    let real_dir = env.state.join("real");
    std::fs::create_dir_all(&real_dir).unwrap();
    let real = real_dir.join("docker-config.json");
    std::fs::write(&real, "{\"auths\": {}}").unwrap();
    std::os::unix::fs::symlink(&real, env.config()).unwrap();
    let s = env.store();
    s.store("reg.example", &Credential::basic("u", "p"))
        .unwrap();
    assert!(
        std::fs::symlink_metadata(env.config())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
    assert_eq!(v["auths"]["reg.example"]["auth"], b64("u:p"));
}

#[test]
fn invalid_input_is_refused() {
    let env = Env::new();
    let s = env.store();
    assert!(matches!(
        s.get(""),
        Err(CredentialError::InvalidRegistry { .. })
    ));
    assert!(matches!(
        s.store("r.example", &Credential::basic("", "p")),
        Err(CredentialError::InvalidCredential { .. })
    ));
    assert!(matches!(
        s.store("r.example", &Credential::basic("a:b", "p")),
        Err(CredentialError::InvalidCredential { .. })
    ));
}

#[test]
fn debug_does_not_print_secrets() {
    let c = Credential {
        username: "alice".into(),
        password: "hunter2".into(),
        identity_token: Some("tok-secret".into()),
    };
    let d = format!("{c:?}");
    assert!(d.contains("alice"), "{d}");
    assert!(!d.contains("hunter2") && !d.contains("tok-secret"), "{d}");
}

#[test]
fn key_host_normalisation() {
    assert_eq!(docker_key_host("https://index.docker.io/v1/"), "docker.io");
    assert_eq!(docker_key_host("http://Reg:5000/v2/"), "reg:5000");
    assert_eq!(docker_key_host("reg:5000/x"), "reg:5000");
    assert_eq!(docker_key_host("[::1]:5000"), "[::1]:5000");
    assert_eq!(podman_key_host("quay.io/org"), None);
    assert_eq!(
        podman_key_host("https://quay.io/v2/"),
        Some("quay.io".into())
    );
    assert_eq!(podman_key_host("index.docker.io"), Some("docker.io".into()));
}
