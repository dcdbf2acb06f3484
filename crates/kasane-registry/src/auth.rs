//! Authentication: anonymous, HTTP Basic, and bearer tokens from a token server.
//!
//! The registry says how it wants to be authenticated in the `WWW-Authenticate` challenge of
//! a 401 (usually on the `/v2/` ping). For `Basic`, every request carries the credentials.
//! For `Bearer`, a token for the request's *scopes* (`repository:library/busybox:pull`,
//! several for a cross-repository mount) is fetched from the challenge's realm — with the
//! credentials as Basic auth (GET, Docker token spec) or, when the credential is an identity
//! token, with an OAuth2 refresh-token grant (POST) — and cached until shortly before it
//! expires.
//!
//! Spec: distribution `docs/spec/auth/token.md`, `oauth.md`, `scope.md`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::blocking::Client;

use crate::challenge::Challenge;
use crate::credentials::Credential;
use crate::error::{RegistryError, Result};
use crate::proto::MAX_TOKEN_BODY;

/// An access scope requested for a token: `repository:<name>:<actions>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// The repository path (`library/busybox`).
    pub repository: String,
    /// `pull`, `push` (push implies pull for docker's clients; both are asked).
    pub actions: Vec<&'static str>,
}

impl Scope {
    /// Read access to `repository`.
    pub fn pull(repository: &str) -> Scope {
        Scope {
            repository: repository.to_owned(),
            actions: vec!["pull"],
        }
    }

    /// Read and write access to `repository`.
    pub fn push(repository: &str) -> Scope {
        Scope {
            repository: repository.to_owned(),
            actions: vec!["pull", "push"],
        }
    }

    /// The scope string of the token request.
    pub fn render(&self) -> String {
        format!("repository:{}:{}", self.repository, self.actions.join(","))
    }
}

/// The authentication state of one registry host: its challenge, credentials, tokens.
pub struct Authenticator {
    registry: String,
    credential: Option<Credential>,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, CachedToken>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("registry", &self.registry)
            .field("has_credential", &self.credential.is_some())
            .finish()
    }
}

#[derive(Clone)]
struct CachedToken {
    value: String,
    expires: Instant,
}

/// A token server's answer (Docker token spec; OAuth2 uses `access_token`).
#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// What `login` learned: the credential works, and maybe an identity token to store instead
/// of the password.
#[derive(Debug, Clone, Default)]
pub struct LoginOutcome {
    /// A refresh token the token server issued (docker stores it as `identitytoken`).
    pub identity_token: Option<String>,
}

/// Tokens are renewed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// The token lifetime when the server does not say (Docker token spec: 60 s).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;
/// The `client_id` sent with OAuth2 requests.
const CLIENT_ID: &str = "kasane";

impl Authenticator {
    /// No challenge seen yet; `credential` is what the credential store holds for the host.
    pub fn new(registry: &str, credential: Option<Credential>) -> Self {
        Authenticator {
            registry: registry.to_owned(),
            credential,
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Whether credentials are configured for the host.
    pub fn has_credential(&self) -> bool {
        self.credential.is_some()
    }

    /// Records the challenges of a 401; the first one we support (bearer before basic) wins.
    /// Returns whether a usable challenge was found.
    pub fn set_challenges(&self, challenges: Vec<Challenge>) -> bool {
        let chosen = challenges
            .iter()
            .find(|c| c.scheme == "bearer" && c.param("realm").is_some())
            .or_else(|| challenges.iter().find(|c| c.scheme == "basic"))
            .cloned();
        let found = chosen.is_some();
        if let Some(c) = chosen {
            *lock(&self.challenge) = Some(c);
        }
        found
    }

    /// Forgets cached tokens for `scopes` (after the registry refused one).
    pub fn invalidate(&self, scopes: &[Scope]) {
        lock(&self.tokens).remove(&scope_key(scopes));
    }

    /// The `Authorization` header value for a request needing `scopes`, fetching a token if
    /// needed; `None` when the registry asked for no authentication (yet).
    ///
    /// # Errors
    /// `Unauthorized` when the token server refuses the credentials; `Transport` when it
    /// cannot be reached.
    pub fn authorization(&self, http: &Client, scopes: &[Scope]) -> Result<Option<String>> {
        let Some(challenge) = lock(&self.challenge).clone() else {
            return Ok(None);
        };
        match challenge.scheme.as_str() {
            "basic" => Ok(self.credential.as_ref().map(basic_header)),
            "bearer" => {
                let key = scope_key(scopes);
                if let Some(t) = lock(&self.tokens).get(&key)
                    && t.expires > Instant::now()
                {
                    return Ok(Some(format!("Bearer {}", t.value)));
                }
                let (token, _) = self.fetch_token(http, &challenge, scopes, false)?;
                let header = format!("Bearer {}", token.value);
                lock(&self.tokens).insert(key, token);
                Ok(Some(header))
            }
            _ => Ok(None),
        }
    }

    /// Checks the credential the way `docker login` does: against the challenge of the
    /// ping, without a repository scope.
    ///
    /// # Errors
    /// `Unauthorized` for wrong credentials.
    pub fn login(&self, http: &Client, ping_url: &str) -> Result<LoginOutcome> {
        let challenge = lock(&self.challenge).clone();
        match challenge {
            None => Ok(LoginOutcome::default()),
            Some(c) if c.scheme == "bearer" => {
                let (_, refresh) = self.fetch_token(http, &c, &[], true)?;
                Ok(LoginOutcome {
                    identity_token: refresh,
                })
            }
            Some(_) => {
                let Some(cred) = &self.credential else {
                    return Err(self.no_credentials("logging in"));
                };
                let resp = http
                    .get(ping_url)
                    .header(reqwest::header::AUTHORIZATION, basic_header(cred))
                    .send()
                    .map_err(|source| RegistryError::Transport {
                        what: format!("GET {ping_url}"),
                        source,
                    })?;
                match resp.status().as_u16() {
                    200..=299 => Ok(LoginOutcome::default()),
                    401 | 403 => Err(RegistryError::Unauthorized {
                        what: format!("logging in to {}", self.registry),
                        reason: "unauthorized: incorrect username or password".into(),
                    }),
                    s => Err(RegistryError::Status {
                        what: format!("logging in to {}", self.registry),
                        status: s,
                        errors: Vec::new(),
                    }),
                }
            }
        }
    }

    fn no_credentials(&self, what: &str) -> RegistryError {
        RegistryError::Unauthorized {
            what: format!("{what} ({})", self.registry),
            reason: format!(
                "authentication required; run `kasane login {}`",
                self.registry
            ),
        }
    }

    /// Asks the challenge's realm for a token covering `scopes`.
    fn fetch_token(
        &self,
        http: &Client,
        challenge: &Challenge,
        scopes: &[Scope],
        offline: bool,
    ) -> Result<(CachedToken, Option<String>)> {
        let realm = challenge.param("realm").unwrap_or_default();
        let realm_url = reqwest::Url::parse(realm).map_err(|e| {
            RegistryError::invalid(
                format!("the authentication challenge of {}", self.registry),
                format!("realm {realm:?} is not a URL: {e}"),
            )
        })?;
        if !matches!(realm_url.scheme(), "http" | "https") {
            return Err(RegistryError::Policy(format!(
                "the token realm {realm} of {} is not http(s)",
                self.registry
            )));
        }
        let service = challenge.param("service").unwrap_or_default().to_owned();
        let mut scope_strings: Vec<String> = scopes.iter().map(Scope::render).collect();
        // The challenge may name a scope the registry wants (e.g. on a 401 mid-operation).
        if let Some(s) = challenge.param("scope") {
            for part in s.split(' ').filter(|p| !p.is_empty()) {
                if !scope_strings.iter().any(|x| x == part) {
                    scope_strings.push(part.to_owned());
                }
            }
        }
        let what = format!("getting a token for {} from {realm}", self.registry);
        let request = match &self.credential {
            Some(Credential {
                identity_token: Some(refresh),
                ..
            }) => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", refresh.clone()),
                    ("service", service.clone()),
                    ("client_id", CLIENT_ID.to_owned()),
                ];
                if !scope_strings.is_empty() {
                    form.push(("scope", scope_strings.join(" ")));
                }
                if offline {
                    form.push(("access_type", "offline".to_owned()));
                }
                http.post(realm_url.clone())
                    .body(form_encode(&form))
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
            }
            cred => {
                let mut url = realm_url.clone();
                {
                    let mut q = url.query_pairs_mut();
                    if !service.is_empty() {
                        q.append_pair("service", &service);
                    }
                    for s in &scope_strings {
                        q.append_pair("scope", s);
                    }
                    if let Some(c) = cred {
                        q.append_pair("account", &c.username);
                    }
                    if offline {
                        q.append_pair("offline_token", "true");
                        q.append_pair("client_id", CLIENT_ID);
                    }
                }
                let mut rb = http.get(url);
                if let Some(c) = cred {
                    rb = rb.header(reqwest::header::AUTHORIZATION, basic_header(c));
                }
                rb
            }
        };
        let resp = request.send().map_err(|source| RegistryError::Transport {
            what: what.clone(),
            source,
        })?;
        let status = resp.status().as_u16();
        let body = read_limited(resp, MAX_TOKEN_BODY).map_err(|source| RegistryError::Io {
            what: what.clone(),
            source,
        })?;
        match status {
            200..=299 => {}
            401 | 403 => {
                let reason = if self.credential.is_some() {
                    "unauthorized: incorrect username or password".to_owned()
                } else {
                    format!(
                        "authentication required; run `kasane login {}`",
                        self.registry
                    )
                };
                return Err(RegistryError::Unauthorized { what, reason });
            }
            s => {
                return Err(RegistryError::Status {
                    what,
                    status: s,
                    errors: crate::proto::parse_errors(&body),
                });
            }
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            RegistryError::invalid(what.clone(), format!("the answer is not a token: {e}"))
        })?;
        let value = if parsed.token.is_empty() {
            parsed.access_token
        } else {
            parsed.token
        };
        if value.is_empty() {
            return Err(RegistryError::invalid(what, "the answer holds no token"));
        }
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME));
        Ok((
            CachedToken {
                value,
                expires: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
            },
            parsed.refresh_token,
        ))
    }
}

/// `Basic base64(user:password)`.
fn basic_header(c: &Credential) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn scope_key(scopes: &[Scope]) -> String {
    let mut v: Vec<String> = scopes.iter().map(Scope::render).collect();
    v.sort();
    v.join(" ")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form_encode(pairs: &[(&str, String)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        if !s.is_empty() {
            s.push('&');
        }
        encode_component(&mut s, k);
        s.push('=');
        encode_component(&mut s, v);
    }
    s
}

fn encode_component(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// Reads at most `limit` bytes of a response body (the rest is dropped unread).
pub(crate) fn read_limited(
    resp: reqwest::blocking::Response,
    limit: u64,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    resp.take(limit).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_render_like_docker() {
        assert_eq!(
            Scope::push("library/x").render(),
            "repository:library/x:pull,push"
        );
        assert_eq!(
            scope_key(&[Scope::pull("b"), Scope::push("a")]),
            "repository:a:pull,push repository:b:pull"
        );
    }

    #[test]
    fn form_encoding() {
        let s = form_encode(&[("scope", "repository:a b:pull".into()), ("x", "é&=".into())]);
        assert_eq!(s, "scope=repository%3Aa+b%3Apull&x=%C3%A9%26%3D");
    }

    #[test]
    fn basic_header_encodes_user_and_password() {
        let c = Credential {
            username: "u".into(),
            password: "p:w".into(),
            identity_token: None,
        };
        assert_eq!(basic_header(&c), "Basic dTpwOnc=");
    }
}
