//! A Docker token-auth server (the `realm` of `WWW-Authenticate: Bearer`), for pull/push/login
//! tests against a real registry in token mode ([`super::distribution::Auth::Token`]).
//!
//! Owns: [`TokenServer`]. Spec: distribution's "Token Authentication Specification",
//! "OAuth2 Token Authentication", "Token Scope Documentation" and "Token Authentication
//! Implementation" (the JWT it issues).
//!
//! - `GET /token?service=S&scope=T:NAME:A,B&scope=…[&account=U][&offline_token=true]` with
//!   optional HTTP Basic credentials: no credentials is anonymous and gets `pull` on
//!   repositories only; wrong credentials get `401`; a known user gets what it asked for among
//!   `pull`, `push`, `delete` and `*` (and `*` on `registry:catalog`). Answer:
//!   `{"token", "access_token", "expires_in", "issued_at"}` (+ `refresh_token` with
//!   `offline_token=true` for a user).
//! - `POST /token`, form-encoded OAuth2: `grant_type=password` (`username`, `password`) or
//!   `grant_type=refresh_token` (`refresh_token`), plus `service`, `client_id` (required) and
//!   `scope` (space-separated); `access_type=offline` adds a `refresh_token`. Answer:
//!   `{"access_token", "scope", "expires_in", "issued_at"[, "refresh_token"]}`.
//!
//! Tokens are RS256 JWTs whose header carries the signing certificate in `x5c`; the claims are
//! `iss`, `sub`, `aud` (a string: docker-registry 2.8 rejects an array), `exp`, `nbf`, `iat`,
//! `jti` and `access`. A scope's name is what lies between its first and last colon, so
//! `repository:127.0.0.1:5000/a:pull` names `127.0.0.1:5000/a`; a resource class
//! (`repository(plugin)`) is split off into `class`.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::{Value, json};

use super::http::{HttpServer, Request, Response};
use super::tls::{TestPki, ossl};

/// The issuer used by [`TokenServer::start`] (the registry's `auth.token.issuer`).
pub const DEFAULT_ISSUER: &str = "kasane-test-token-issuer";
/// Default token lifetime in seconds (`expires_in`).
pub const DEFAULT_EXPIRES_IN: i64 = 300;

struct State {
    service: String,
    issuer: String,
    users: Vec<(String, String)>,
    key: PKey<Private>,
    x5c: String,
    expires_in: AtomicI64,
    issued: AtomicUsize,
    scopes: Mutex<Vec<String>>,
    refresh: Mutex<HashMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A token server on its own [`HttpServer`]; counts the tokens it issued and logs the scopes
/// asked for, so tests can assert how a client authenticated.
pub struct TokenServer {
    http: HttpServer,
    state: Arc<State>,
    root_cert: PathBuf,
}

impl TokenServer {
    /// Starts a token server for registry `service` with these `(user, password)` pairs,
    /// signing with `pki`'s token key; the issuer is [`DEFAULT_ISSUER`].
    pub fn start(service: &str, users: &[(&str, &str)], pki: &TestPki) -> io::Result<Self> {
        Self::start_with_issuer(service, DEFAULT_ISSUER, users, pki)
    }

    /// [`TokenServer::start`] with an explicit `iss` claim (to test issuer mismatches).
    pub fn start_with_issuer(
        service: &str,
        issuer: &str,
        users: &[(&str, &str)],
        pki: &TestPki,
    ) -> io::Result<Self> {
        let state = Arc::new(State {
            service: service.to_string(),
            issuer: issuer.to_string(),
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            key: pki.token_signing_key()?,
            x5c: STANDARD.encode(pki.token_cert_der()),
            expires_in: AtomicI64::new(DEFAULT_EXPIRES_IN),
            issued: AtomicUsize::new(0),
            scopes: Mutex::new(Vec::new()),
            refresh: Mutex::new(HashMap::new()),
        });
        let handler_state = Arc::clone(&state);
        let http = HttpServer::start(move |r: &Request| handle(&handler_state, r))?;
        Ok(Self {
            http,
            state,
            root_cert: pki.token_cert(),
        })
    }

    /// The realm URL, `http://127.0.0.1:PORT/token` (the registry's `auth.token.realm`).
    pub fn realm(&self) -> String {
        format!("{}/token", self.http.url())
    }

    /// The service name tokens are issued for (their `aud`).
    pub fn service(&self) -> &str {
        &self.state.service
    }

    /// The `iss` claim of issued tokens.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The signing certificate file (the registry's `auth.token.rootcertbundle`).
    pub fn root_cert(&self) -> PathBuf {
        self.root_cert.clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.http.url()
    }

    /// The underlying server, for its request log.
    pub fn http(&self) -> &HttpServer {
        &self.http
    }

    /// How many tokens were issued (successful answers, GET and POST).
    pub fn tokens_issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Every scope string asked for, in order, as sent (after URL decoding).
    pub fn scope_log(&self) -> Vec<String> {
        lock(&self.state.scopes).clone()
    }

    /// Sets the lifetime of tokens issued from now on (`exp` = now + `secs`, and
    /// `expires_in`); negative values issue already-expired tokens (mind the registry's 60 s
    /// leeway).
    pub fn set_expires_in(&self, secs: i64) {
        self.state.expires_in.store(secs, Ordering::SeqCst);
    }
}

/// One entry of a token's `access` claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceActions {
    /// Resource type: `repository`, `registry`, ….
    pub resource_type: String,
    /// Resource class from `type(class)`, if any.
    pub class: Option<String>,
    /// Resource name: everything between the first and the last colon.
    pub name: String,
    /// Requested (or granted) actions.
    pub actions: Vec<String>,
}

/// Parses one scope `type[(class)]:name:action,action`; `None` when it has fewer than two
/// colons.
pub fn parse_scope(scope: &str) -> Option<ResourceActions> {
    let first = scope.find(':')?;
    let last = scope.rfind(':')?;
    if first == last {
        return None;
    }
    let ty = &scope[..first];
    let (resource_type, class) = match ty.split_once('(') {
        Some((t, c)) if c.ends_with(')') => (t, Some(c.trim_end_matches(')').to_string())),
        _ => (ty, None),
    };
    Some(ResourceActions {
        resource_type: resource_type.to_string(),
        class,
        name: scope[first + 1..last].to_string(),
        actions: scope[last + 1..]
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({
            "errors": [{"code": code, "message": message, "detail": null}],
            "error": code.to_ascii_lowercase(),
            "error_description": message,
        }),
    )
}

fn handle(st: &State, r: &Request) -> Response {
    if r.path != "/token" {
        return error(
            404,
            "NOT_FOUND",
            "no such endpoint; the token endpoint is /token",
        );
    }
    let result = match r.method.as_str() {
        "GET" => get_token(st, r),
        "POST" => post_token(st, r),
        _ => Err(error(405, "UNSUPPORTED", "use GET or POST")),
    };
    result.unwrap_or_else(|e| e)
}

/// Checks `(user, password)`; `Err` is the 401 answer.
fn authenticate(st: &State, user: &str, password: &str) -> Result<String, Response> {
    if st.users.iter().any(|(u, p)| u == user && p == password) {
        Ok(user.to_string())
    } else {
        Err(unauthorized("incorrect username or password"))
    }
}

fn unauthorized(message: &str) -> Response {
    error(401, "UNAUTHORIZED", message)
        .with_header("WWW-Authenticate", "Basic realm=\"kasane-test-token\"")
}

fn check_service(st: &State, service: Option<&str>) -> Result<(), Response> {
    match service {
        Some(s) if !s.is_empty() && s != st.service => Err(error(
            400,
            "INVALID_REQUEST",
            &format!(
                "unknown service {s:?}; this server issues tokens for {:?}",
                st.service
            ),
        )),
        _ => Ok(()),
    }
}

fn get_token(st: &State, r: &Request) -> Result<Response, Response> {
    check_service(st, r.query_param("service").as_deref())?;
    let user = match r.header("authorization") {
        None => None,
        Some(auth) => {
            let (scheme, cred) = auth.split_once(' ').unwrap_or((auth, ""));
            let decoded = if scheme.eq_ignore_ascii_case("basic") {
                STANDARD
                    .decode(cred.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
            } else {
                None
            };
            let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Err(unauthorized("malformed credentials"));
            };
            Some(authenticate(st, u, p)?)
        }
    };
    let scopes: Vec<String> = r
        .query_params("scope")
        .iter()
        .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let offline = user.is_some()
        && r.query_param("offline_token")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let issued = issue(st, user.as_deref(), &scopes)?;
    let mut body = json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    });
    if offline && let Some(u) = &user {
        body["refresh_token"] = Value::String(new_refresh_token(st, u)?);
    }
    Ok(Response::json(200, &body))
}

fn post_token(st: &State, r: &Request) -> Result<Response, Response> {
    let form = r.form();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    check_service(st, field("service"))?;
    if field("client_id").is_none_or(str::is_empty) {
        return Err(error(400, "INVALID_REQUEST", "client_id is required"));
    }
    let (user, refresh) = match field("grant_type") {
        Some("password") => {
            let user = authenticate(
                st,
                field("username").unwrap_or(""),
                field("password").unwrap_or(""),
            )?;
            let refresh = if field("access_type") == Some("offline") {
                Some(new_refresh_token(st, &user)?)
            } else {
                None
            };
            (user, refresh)
        }
        Some("refresh_token") => {
            let token = field("refresh_token").unwrap_or("");
            let user = lock(&st.refresh).get(token).cloned();
            match user {
                Some(u) => (u, Some(token.to_string())),
                None => return Err(unauthorized("unknown refresh token")),
            }
        }
        other => {
            return Err(error(
                400,
                "UNSUPPORTED_GRANT_TYPE",
                &format!("unsupported grant_type {other:?}"),
            ));
        }
    };
    let scopes: Vec<String> = field("scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let issued = issue(st, Some(&user), &scopes)?;
    let mut body = json!({
        "access_token": issued.token,
        "scope": issued.granted_scopes.join(" "),
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    });
    if let Some(t) = refresh {
        body["refresh_token"] = Value::String(t);
    }
    Ok(Response::json(200, &body))
}

fn random_hex(n: usize) -> Result<String, Response> {
    let mut buf = vec![0u8; n];
    openssl::rand::rand_bytes(&mut buf)
        .map_err(|e| error(500, "UNKNOWN", &format!("rand: {e}")))?;
    Ok(hex::encode(buf))
}

fn new_refresh_token(st: &State, user: &str) -> Result<String, Response> {
    let token = random_hex(24)?;
    lock(&st.refresh).insert(token.clone(), user.to_string());
    Ok(token)
}

/// What the policy grants `user` (`None`: anonymous) of one requested scope.
fn grant(user: Option<&str>, requested: &ResourceActions) -> Vec<String> {
    let allowed: &[&str] = match (user, requested.resource_type.as_str()) {
        (None, "repository") => &["pull"],
        (Some(_), "repository") => &["pull", "push", "delete", "*"],
        (Some(_), "registry") if requested.name == "catalog" => &["*"],
        _ => &[],
    };
    let mut granted: Vec<String> = Vec::new();
    for a in &requested.actions {
        if allowed.contains(&a.as_str()) && !granted.contains(a) {
            granted.push(a.clone());
        }
    }
    granted
}

struct Issued {
    token: String,
    granted_scopes: Vec<String>,
    expires_in: i64,
    issued_at: String,
}

fn issue(st: &State, user: Option<&str>, scopes: &[String]) -> Result<Issued, Response> {
    lock(&st.scopes).extend(scopes.iter().cloned());
    let mut access = Vec::new();
    let mut granted_scopes = Vec::new();
    for s in scopes {
        let Some(req) = parse_scope(s) else {
            return Err(error(
                400,
                "INVALID_REQUEST",
                &format!("malformed scope {s:?}"),
            ));
        };
        let actions = grant(user, &req);
        if actions.is_empty() {
            continue;
        }
        let ty = match &req.class {
            Some(c) => format!("{}({c})", req.resource_type),
            None => req.resource_type.clone(),
        };
        granted_scopes.push(format!("{ty}:{}:{}", req.name, actions.join(",")));
        let mut entry = json!({"type": req.resource_type, "name": req.name, "actions": actions});
        if let Some(c) = &req.class {
            entry["class"] = Value::String(c.clone());
        }
        access.push(entry);
    }
    let now = now();
    let expires_in = st.expires_in.load(Ordering::SeqCst);
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [st.x5c]});
    let claims = json!({
        "iss": st.issuer,
        "sub": user.unwrap_or(""),
        "aud": st.service,
        "exp": now + expires_in,
        "nbf": now,
        "iat": now,
        "jti": random_hex(16)?,
        "access": access,
    });
    let token = sign_jwt(&st.key, &header, &claims)
        .map_err(|e| error(500, "UNKNOWN", &format!("signing failed: {e}")))?;
    st.issued.fetch_add(1, Ordering::SeqCst);
    Ok(Issued {
        token,
        granted_scopes,
        expires_in,
        issued_at: crate::time::format_rfc3339(now),
    })
}

/// Compact JWS: base64url(header) `.` base64url(claims) `.` base64url(RS256 signature).
fn sign_jwt(key: &PKey<Private>, header: &Value, claims: &Value) -> io::Result<String> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(ossl)?;
    signer.update(input.as_bytes()).map_err(ossl)?;
    let sig = signer.sign_to_vec().map_err(ossl)?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Decodes the claims of a JWT without verifying it (for tests that inspect tokens).
pub fn jwt_claims(token: &str) -> Option<Value> {
    let claims = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::http::form_encode;
    use openssl::sign::Verifier;
    use openssl::x509::X509;

    fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
    }

    fn setup() -> (tempfile::TempDir, TestPki, TokenServer) {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate(dir.path()).unwrap();
        let ts = TokenServer::start("reg.test", &[("alice", "s3cret")], &pki).unwrap();
        (dir, pki, ts)
    }

    fn verify(pki: &TestPki, token: &str) -> Value {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        let der = STANDARD.decode(header["x5c"][0].as_str().unwrap()).unwrap();
        assert_eq!(der, pki.token_cert_der());
        let cert = X509::from_der(&der).unwrap();
        let key = cert.public_key().unwrap();
        let mut v = Verifier::new(MessageDigest::sha256(), &key).unwrap();
        v.update(format!("{}.{}", parts[0], parts[1]).as_bytes())
            .unwrap();
        assert!(
            v.verify(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
                .unwrap()
        );
        jwt_claims(token).unwrap()
    }

    #[test]
    fn scopes_parse_between_first_and_last_colon() {
        let s = parse_scope("repository:127.0.0.1:5000/a/b:pull,push").unwrap();
        assert_eq!(s.resource_type, "repository");
        assert_eq!(s.name, "127.0.0.1:5000/a/b");
        assert_eq!(s.actions, ["pull", "push"]);
        let s = parse_scope("repository(plugin):x:pull").unwrap();
        assert_eq!(
            (s.resource_type.as_str(), s.class.as_deref()),
            ("repository", Some("plugin"))
        );
        assert_eq!(parse_scope("registry:catalog:*").unwrap().actions, ["*"]);
        assert!(parse_scope("repository:nope").is_none());
    }

    #[test]
    fn get_grants_by_identity() {
        let (_d, pki, ts) = setup();
        let q = form_encode(&[
            ("service", "reg.test"),
            ("scope", "repository:library/busybox:pull,push"),
            ("scope", "repository:other:delete"),
        ]);
        let url = format!("{}?{q}", ts.realm());

        // Anonymous: pull only.
        let body: Value =
            serde_json::from_slice(&client().get(&url).send().unwrap().bytes().unwrap()).unwrap();
        assert_eq!(body["token"], body["access_token"]);
        assert_eq!(body["expires_in"], 300);
        assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
        let claims = verify(&pki, body["token"].as_str().unwrap());
        assert_eq!(claims["iss"], DEFAULT_ISSUER);
        assert_eq!(claims["aud"], "reg.test");
        assert_eq!(claims["sub"], "");
        assert_eq!(
            claims["access"],
            json!([{"type": "repository", "name": "library/busybox", "actions": ["pull"]}])
        );
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            300
        );

        // Authenticated: everything asked for, and a refresh token when offline.
        let resp = client()
            .get(format!("{url}&offline_token=true&client_id=t"))
            .basic_auth("alice", Some("s3cret"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
        assert!(body["refresh_token"].is_string());
        let claims = verify(&pki, body["token"].as_str().unwrap());
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["access"][0]["actions"], json!(["pull", "push"]));
        assert_eq!(claims["access"][1]["actions"], json!(["delete"]));

        // Wrong password, wrong service.
        let resp = client()
            .get(&url)
            .basic_auth("alice", Some("nope"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 401);
        let resp = client()
            .get(format!("{}?service=other", ts.realm()))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 400);

        assert_eq!(ts.tokens_issued(), 2);
        assert_eq!(
            ts.scope_log()[..2],
            [
                "repository:library/busybox:pull,push",
                "repository:other:delete"
            ]
        );
    }

    #[test]
    fn post_oauth2_password_and_refresh() {
        let (_d, pki, ts) = setup();
        let post = |form: &[(&str, &str)]| {
            let resp = client()
                .post(ts.realm())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_encode(form))
                .send()
                .unwrap();
            let status = resp.status().as_u16();
            (
                status,
                serde_json::from_slice::<Value>(&resp.bytes().unwrap()).unwrap(),
            )
        };
        let (status, body) = post(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "s3cret"),
            ("service", "reg.test"),
            ("client_id", "kasane"),
            ("access_type", "offline"),
            ("scope", "repository:a:pull,push repository:b:pull"),
        ]);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "repository:a:pull,push repository:b:pull");
        let claims = verify(&pki, body["access_token"].as_str().unwrap());
        assert_eq!(claims["access"].as_array().unwrap().len(), 2);
        let refresh = body["refresh_token"].as_str().unwrap().to_string();

        let (status, body) = post(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("service", "reg.test"),
            ("client_id", "kasane"),
            ("scope", "repository:c:push"),
        ]);
        assert_eq!(status, 200, "{body}");
        let claims = verify(&pki, body["access_token"].as_str().unwrap());
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["access"][0]["name"], "c");

        let bad = [
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", "k"),
            ],
            vec![
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "no"),
                ("client_id", "k"),
            ],
        ];
        for form in bad {
            assert_eq!(post(&form).0, 401);
        }
        assert_eq!(
            post(&[("grant_type", "password"), ("username", "alice")]).0,
            400
        );
        assert_eq!(ts.tokens_issued(), 2);
    }
}
