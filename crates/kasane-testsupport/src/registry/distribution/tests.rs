//! Unit tests of the parent module.

use super::*;
use crate::registry::http::form_encode;
use crate::{ImageBuilder, LayerBuilder};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

fn skip() -> bool {
    if Distribution::available() {
        return false;
    }
    eprintln!("SKIP: docker-registry is not installed (apt-get install docker-registry)");
    true
}

fn client(ca: Option<&[u8]>) -> Client {
    let mut b = Client::builder().no_proxy();
    if let Some(ca) = ca {
        b = b.tls_certs_only([reqwest::Certificate::from_pem(ca).unwrap()]);
    }
    b.build().unwrap()
}

/// Monolithic push of `data` as a blob of `repo`: POST, then PUT `?digest=` with the
/// bytes. `auth` decorates every request. Returns the final status.
fn push_blob(
    c: &Client,
    base: &str,
    repo: &str,
    data: &[u8],
    auth: &dyn Fn(RequestBuilder) -> RequestBuilder,
) -> u16 {
    let resp = auth(c.post(format!("{base}/v2/{repo}/blobs/uploads/")))
        .send()
        .unwrap();
    if resp.status() != 202 {
        return resp.status().as_u16();
    }
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let digest = Digest::sha256(data);
    let resp = auth(c.put(format!("{location}{sep}digest={digest}")))
        .header("Content-Type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .unwrap();
    resp.status().as_u16()
}

#[test]
fn no_auth_push_pull_and_seeded_images() {
    if skip() {
        return;
    }
    let reg = Distribution::start(DistributionOptions::default()).unwrap();
    assert!(reg.url().starts_with("http://127.0.0.1:"));
    let c = client(None);
    let resp = c.get(format!("{}/v2/", reg.url())).send().unwrap();
    assert_eq!(resp.status(), 200);

    let data = b"hello kasane".to_vec();
    assert_eq!(
        push_blob(&c, &reg.url(), "test/tiny", &data, &|r| r),
        201,
        "{}",
        reg.logs()
    );
    let digest = Digest::sha256(&data);
    assert!(reg.has_blob(digest.as_str()));
    let got = c
        .get(format!("{}/v2/test/tiny/blobs/{digest}", reg.url()))
        .send()
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().unwrap().as_ref(), data.as_slice());

    // Seeded straight into storage, served as if pushed.
    let image = ImageBuilder::new()
        .layer(
            LayerBuilder::new(7).file("hello.txt", "hi").build(),
            "COPY hello.txt /",
        )
        .build();
    let mdigest = reg
        .seed_image("library/seeded", Some("v1"), &image)
        .unwrap();
    assert_eq!(mdigest, image.manifest_digest.to_string());
    let resp = c
            .get(format!("{}/v2/library/seeded/manifests/v1", reg.url()))
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .unwrap();
    assert_eq!(resp.status(), 200, "{}", reg.logs());
    assert_eq!(resp.headers()["docker-content-digest"], mdigest.as_str());
    assert_eq!(resp.bytes().unwrap().as_ref(), image.manifest.as_slice());
    let layer = &image.layers[0];
    let resp = c
        .get(format!(
            "{}/v2/library/seeded/blobs/{}",
            reg.url(),
            layer.digest
        ))
        .send()
        .unwrap();
    assert_eq!(resp.bytes().unwrap().as_ref(), layer.blob.data());
    let tags: Value = serde_json::from_slice(
        &c.get(format!("{}/v2/library/seeded/tags/list", reg.url()))
            .send()
            .unwrap()
            .bytes()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));

    // Deleting is enabled.
    let resp = c
        .delete(format!("{}/v2/test/tiny/blobs/{digest}", reg.url()))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", reg.logs());

    let host = reg.host();
    drop(reg);
    // Killed and reaped: nothing listens there any more.
    assert!(TcpStream::connect(&host).is_err());
}

#[test]
fn htpasswd_with_tls() {
    if skip() {
        return;
    }
    let reg = Distribution::start(DistributionOptions {
        auth: Auth::htpasswd(&[("alice", "s3cret")]),
        ..Default::default()
    })
    .unwrap();
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    let c = client(Some(reg.pki().ca_pem()));
    let resp = c.get(format!("{}/v2/", reg.url())).send().unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        format!("Basic realm=\"{HTPASSWD_REALM}\"").as_str()
    );
    let resp = c
        .get(format!("{}/v2/", reg.url()))
        .basic_auth("alice", Some("nope"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = c
        .get(format!("{}/v2/", reg.url()))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", reg.logs());
    let auth = |r: RequestBuilder| r.basic_auth("alice", Some("s3cret"));
    assert_eq!(
        push_blob(&c, &reg.url(), "private/x", b"secret layer", &auth),
        201
    );

    // A client that does not trust the CA cannot connect at all.
    let untrusting = client(Some(
        TestPki::generate(&reg.dir().join("other-pki"))
            .unwrap()
            .ca_pem(),
    ));
    assert!(untrusting.get(format!("{}/v2/", reg.url())).send().is_err());
}

#[test]
fn token_auth_accepts_tokens_from_token_server() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let ts = TokenServer::start("kasane-registry", &[("alice", "s3cret")], &pki).unwrap();
    let reg = Distribution::start(DistributionOptions {
        auth: Auth::token(&ts),
        pki: Some(pki.clone()),
        ..Default::default()
    })
    .unwrap();
    let c = client(None);
    let resp = c.get(format!("{}/v2/", reg.url())).send().unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!("realm=\"{}\"", ts.realm())),
        "{challenge}"
    );
    assert!(
        challenge.contains("service=\"kasane-registry\""),
        "{challenge}"
    );

    let token = |user: Option<(&str, &str)>, scope: &str| -> String {
        let q = form_encode(&[("service", "kasane-registry"), ("scope", scope)]);
        let mut req = c.get(format!("{}?{q}", ts.realm()));
        if let Some((u, p)) = user {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
        v["token"].as_str().unwrap().to_string()
    };

    let push = token(Some(("alice", "s3cret")), "repository:test/tiny:pull,push");
    let bearer = |t: &str| {
        let t = t.to_string();
        move |r: RequestBuilder| r.bearer_auth(&t)
    };
    let data = b"tiny token-pushed blob".to_vec();
    assert_eq!(
        push_blob(&c, &reg.url(), "test/tiny", &data, &bearer(&push)),
        201,
        "{}",
        reg.logs()
    );
    let digest = Digest::sha256(&data);
    let resp = c
        .get(format!("{}/v2/test/tiny/blobs/{digest}", reg.url()))
        .bearer_auth(&push)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", reg.logs());
    assert_eq!(resp.bytes().unwrap().as_ref(), data.as_slice());

    // Anonymous: pull works, push is refused; a token for another repository is refused.
    let anon = token(None, "repository:test/tiny:pull,push");
    let resp = c
        .get(format!("{}/v2/test/tiny/blobs/{digest}", reg.url()))
        .bearer_auth(&anon)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        push_blob(&c, &reg.url(), "test/tiny", b"x", &bearer(&anon)),
        401
    );
    let other = token(Some(("alice", "s3cret")), "repository:test/other:pull");
    let resp = c
        .get(format!("{}/v2/test/tiny/blobs/{digest}", reg.url()))
        .bearer_auth(&other)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Tokens from an issuer the registry does not trust are refused.
    let rogue =
        TokenServer::start_with_issuer("kasane-registry", "rogue", &[("alice", "s3cret")], &pki)
            .unwrap();
    let q = form_encode(&[
        ("service", "kasane-registry"),
        ("scope", "repository:test/tiny:pull"),
    ]);
    let v: Value = serde_json::from_slice(
        &c.get(format!("{}?{q}", rogue.realm()))
            .send()
            .unwrap()
            .bytes()
            .unwrap(),
    )
    .unwrap();
    let resp = c
        .get(format!("{}/v2/test/tiny/blobs/{digest}", reg.url()))
        .bearer_auth(v["token"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(ts.tokens_issued(), 3);
}

#[test]
fn token_auth_with_tls_shares_one_pki() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let ts = TokenServer::start("svc", &[("bob", "pw")], &pki).unwrap();
    let reg = Distribution::start(DistributionOptions {
        auth: Auth::token(&ts),
        tls: true,
        pki: Some(pki.clone()),
        client_certs: false,
    })
    .unwrap();
    let c = client(Some(pki.ca_pem()));
    let q = form_encode(&[("service", "svc"), ("scope", "repository:a/b:pull,push")]);
    let v: Value = serde_json::from_slice(
        &c.get(format!("{}?{q}", ts.realm()))
            .basic_auth("bob", Some("pw"))
            .send()
            .unwrap()
            .bytes()
            .unwrap(),
    )
    .unwrap();
    let t = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        push_blob(&c, &reg.url(), "a/b", b"abc", &|r| r.bearer_auth(&t)),
        201
    );
}
