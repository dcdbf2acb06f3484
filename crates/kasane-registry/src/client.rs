//! Sessions with registry hosts: transport, scheme, authentication and retries.
//!
//! [`RegistryClient`] hands out one [`Session`] per host (shared by every repository on it,
//! so tokens and connections are reused). A session finds the scheme on its first request
//! (the `/v2/` ping): https always; plain http only for local hosts (`localhost`,
//! `127.0.0.0/8`, `::1`) and registries the user marked insecure, and only when https
//! fails. It adds authentication (see [`crate::auth`]), retries idempotent requests on
//! transient failures with exponential backoff, and maps error answers to
//! [`RegistryError`]s that name what was being done.
//!
//! Spec: distribution-spec "Determining support" (`/v2/`), docker `registry/endpoint_v2.go`
//! (https, then http for insecure registries).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{StatusCode, Url};

use crate::auth::{Authenticator, LoginOutcome, Scope, read_limited};
use crate::challenge::parse_challenges;
use crate::credentials::{Credential, CredentialStore};
use crate::error::{RegistryError, Result};
use crate::proto::{self, MAX_ERROR_BODY};
use crate::registries_conf::{RegistriesConfig, is_local_host};
use crate::tls::HostTls;

/// How the client behaves; [`ClientOptions::from_env`] gives the user's configuration.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Where credentials come from (docker's config.json, helpers, podman's auth.json).
    pub credentials: Arc<CredentialStore>,
    /// Mirrors and insecure registries.
    pub registries: Arc<RegistriesConfig>,
    /// `false` (`--tls-verify=false`): plain http and unverified TLS for every registry.
    pub tls_verify: bool,
    /// How long one read may wait before the request counts as stalled.
    pub read_timeout: Duration,
    /// How many times an idempotent request is retried on a transient failure.
    pub retries: u32,
    /// The first retry's pause; each further one doubles it.
    pub backoff: Duration,
    /// Credentials given on the command line (`login -u`), used instead of the store's.
    pub credential_override: Option<(String, Credential)>,
}

/// How long connecting (TCP and TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the https attempt may take where plain http is the fallback.
const HTTPS_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Environment variable: seconds a read may stall (default 60).
pub const TIMEOUT_ENV: &str = "KASANE_REGISTRY_TIMEOUT";

impl ClientOptions {
    /// The user's credentials and registries configuration, docker's defaults otherwise.
    ///
    /// # Errors
    /// `Config` when the registries configuration cannot be read.
    pub fn from_env() -> Result<ClientOptions> {
        let registries =
            RegistriesConfig::load_default().map_err(|e| RegistryError::Config(e.to_string()))?;
        let read_timeout = std::env::var(TIMEOUT_ENV)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| *v > 0.0)
            .map_or(Duration::from_secs(60), Duration::from_secs_f64);
        Ok(ClientOptions {
            credentials: Arc::new(CredentialStore::from_env()),
            registries: Arc::new(registries),
            tls_verify: true,
            read_timeout,
            retries: 3,
            backoff: Duration::from_millis(500),
            credential_override: None,
        })
    }
}

/// Hands out sessions, one per registry host.
#[derive(Debug)]
pub struct RegistryClient {
    opts: ClientOptions,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl RegistryClient {
    /// A client with `opts`.
    pub fn new(opts: ClientOptions) -> Self {
        RegistryClient {
            opts,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// The session for `host` (a registry as named in references: `docker.io`,
    /// `localhost:5000`), created on first use.
    ///
    /// # Errors
    /// `Config` when its certs.d material or credentials cannot be read.
    pub fn session(&self, host: &str) -> Result<Arc<Session>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = sessions.get(host) {
            return Ok(s.clone());
        }
        let s = Arc::new(Session::new(host, &self.opts)?);
        sessions.insert(host.to_owned(), s.clone());
        Ok(s)
    }
}

/// The API host of a registry name (Docker Hub's API lives on `registry-1.docker.io`).
pub fn api_host(registry: &str) -> &str {
    if registry == "docker.io" || registry == "index.docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// One registry host: its HTTP client, scheme and authentication state.
#[derive(Debug)]
pub struct Session {
    registry: String,
    http: Client,
    /// The client of the first (https) ping.
    probe: Client,
    allow_http: bool,
    base: OnceLock<Url>,
    auth: Authenticator,
    retries: u32,
    backoff: Duration,
}

impl Session {
    fn new(registry: &str, opts: &ClientOptions) -> Result<Session> {
        let host = api_host(registry);
        let insecure = !opts.tls_verify || opts.registries.is_insecure(registry);
        let tls = HostTls::for_host(host).map_err(|e| RegistryError::Config(e.to_string()))?;
        let client = |connect: Duration| -> Result<Client> {
            let builder = Client::builder()
                .user_agent(concat!("kasane/", env!("CARGO_PKG_VERSION")))
                .redirect(crate::redirect::policy())
                .connect_timeout(connect)
                .timeout(opts.read_timeout)
                .tls_danger_accept_invalid_certs(insecure);
            let builder = tls
                .apply(builder)
                .map_err(|e| RegistryError::Config(e.to_string()))?;
            builder.build().map_err(|source| RegistryError::Transport {
                what: format!("setting up the HTTP client for {registry}"),
                source,
            })
        };
        let http = client(CONNECT_TIMEOUT)?;
        let allow_http = insecure || is_local_host(host);
        // Where plain http is the fallback, the https probe must not hang on a server that
        // never answers a TLS handshake (the connect timeout covers the handshake).
        let probe = if allow_http {
            client(HTTPS_PROBE_TIMEOUT)?
        } else {
            http.clone()
        };
        let credential = match &opts.credential_override {
            Some((r, c)) if r == registry => Some(c.clone()),
            _ => opts
                .credentials
                .get(registry)
                .map_err(|e| RegistryError::Config(e.to_string()))?,
        };
        Ok(Session {
            registry: registry.to_owned(),
            http,
            probe,
            allow_http,
            base: OnceLock::new(),
            auth: Authenticator::new(registry, credential),
            retries: opts.retries,
            backoff: opts.backoff,
        })
    }

    /// The registry name (as in references).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The underlying HTTP client (for requests to absolute URLs, e.g. upload locations).
    pub fn http(&self) -> &Client {
        &self.http
    }

    /// Pings `/v2/` (once per session), learning the scheme and the auth challenge.
    ///
    /// # Errors
    /// `Transport` when neither https nor (where allowed) http answers; `Invalid` when the
    /// host answers but is not a v2 registry.
    pub fn base(&self) -> Result<&Url> {
        if let Some(b) = self.base.get() {
            return Ok(b);
        }
        let host = api_host(&self.registry);
        let https = parse_base("https", host)?;
        let base = match self.ping(&self.probe, &https, !self.allow_http) {
            Ok(()) => https,
            Err(e @ RegistryError::Transport { .. }) if self.allow_http => {
                let http = parse_base("http", host)?;
                match self.ping(&self.http, &http, true) {
                    Ok(()) => http,
                    Err(_) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        Ok(self.base.get_or_init(|| base))
    }

    fn ping(&self, client: &Client, base: &Url, retry: bool) -> Result<()> {
        let url = join(base, proto::ping_path())?;
        let what = format!("pinging {}", self.registry);
        let resp = self
            .with_retries(&what, retry, || client.get(url.clone()).send())
            .map_err(|source| RegistryError::Transport {
                what: format!("{what} at {url}"),
                source,
            })?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            401 => {
                let challenges = www_authenticate(&resp);
                self.auth.set_challenges(challenges);
                Ok(())
            }
            404 => Err(RegistryError::invalid(
                what,
                format!("{url} is not an OCI or Docker v2 registry (404 on /v2/)"),
            )),
            status => Err(error_from(resp, what, status)),
        }
    }

    /// Checks the session's credential like `docker login`.
    ///
    /// # Errors
    /// `Unauthorized` when the registry refuses it.
    pub fn login(&self) -> Result<LoginOutcome> {
        let base = self.base()?.clone();
        let url = join(&base, proto::ping_path())?;
        self.auth.login(&self.http, url.as_str())
    }

    /// Sends a request built by `build` (called again for each retry) to `path` under the
    /// registry's base, authenticated for `scopes`; retried when `idempotent`.
    ///
    /// Returns the response whatever its status; see [`Session::check`].
    ///
    /// # Errors
    /// `Transport` when the request cannot be sent; `Unauthorized` when a token cannot be
    /// obtained.
    pub fn send(
        &self,
        what: &str,
        scopes: &[Scope],
        idempotent: bool,
        mut build: impl FnMut(&Client, &Url) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let base = self.base()?.clone();
        let mut reauthenticated = false;
        let mut attempt = 0u32;
        loop {
            let authorization = self.auth.authorization(&self.http, scopes)?;
            let mut rb = build(&self.http, &base)?;
            if let Some(a) = &authorization {
                rb = rb.header(reqwest::header::AUTHORIZATION, a);
            }
            let outcome = rb.send();
            let retryable = idempotent && attempt < self.retries;
            match outcome {
                Err(source) if retryable && is_transient(&source) => {
                    tracing::debug!("{what}: {source}; retrying");
                }
                Err(source) => {
                    return Err(RegistryError::Transport {
                        what: what.to_owned(),
                        source,
                    });
                }
                Ok(resp)
                    if resp.status() == StatusCode::UNAUTHORIZED
                        && !reauthenticated
                        && idempotent =>
                {
                    // A token may have expired or the scope changed: take the new challenge
                    // and send again (a streamed body cannot be replayed: those fail here).
                    reauthenticated = true;
                    if !self.auth.set_challenges(www_authenticate(&resp)) {
                        return Ok(resp);
                    }
                    self.auth.invalidate(scopes);
                    continue;
                }
                Ok(resp) if retryable && is_transient_status(resp.status()) => {
                    tracing::debug!("{what}: {}; retrying", resp.status());
                }
                Ok(resp) => return Ok(resp),
            }
            std::thread::sleep(self.backoff * 2u32.saturating_pow(attempt));
            attempt += 1;
        }
    }

    /// `Ok(resp)` for a 2xx answer; otherwise the error it describes (404 → `NotFound`,
    /// 401/403 → `Unauthorized`, others `Status`), with at most [`MAX_ERROR_BODY`] of the
    /// body read.
    ///
    /// # Errors
    /// As described.
    pub fn check(&self, resp: Response, what: &str) -> Result<Response> {
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        Err(self.error_of(resp, what, status))
    }

    fn error_of(&self, resp: Response, what: &str, status: u16) -> RegistryError {
        let err = error_from(resp, what.to_owned(), status);
        match err {
            RegistryError::Status {
                what,
                status: 401 | 403,
                errors,
            } => {
                let mut reason = errors
                    .first()
                    .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                        (false, false) => format!("{}: {}", e.code.to_lowercase(), e.message),
                        (false, true) => e.code.to_lowercase(),
                        _ => e.message.clone(),
                    })
                    .unwrap_or_else(|| "access denied".into());
                if !self.auth.has_credential() {
                    reason.push_str(&format!(
                        "; authentication required: run `kasane login {}`",
                        self.registry
                    ));
                }
                RegistryError::Unauthorized { what, reason }
            }
            RegistryError::Status {
                what,
                status: 404,
                errors,
            } => RegistryError::NotFound {
                what,
                detail: errors.first().map(|e| e.message.clone()),
            },
            other => other,
        }
    }
}

/// Builds `scheme://host/`.
fn parse_base(scheme: &str, host: &str) -> Result<Url> {
    Url::parse(&format!("{scheme}://{host}/"))
        .map_err(|e| RegistryError::invalid(format!("registry host {host:?}"), e.to_string()))
}

/// Resolves `path` (absolute path, or a full URL from a `Location` header) against `base`.
pub fn join(base: &Url, path: &str) -> Result<Url> {
    base.join(path)
        .map_err(|e| RegistryError::invalid(format!("URL {path:?} from {base}"), e.to_string()))
}

fn www_authenticate(resp: &Response) -> Vec<crate::challenge::Challenge> {
    parse_challenges(
        resp.headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

fn error_from(resp: Response, what: String, status: u16) -> RegistryError {
    let body = read_limited(resp, MAX_ERROR_BODY).unwrap_or_default();
    RegistryError::Status {
        what,
        status,
        errors: proto::parse_errors(&body),
    }
}

fn is_transient(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
}

fn is_transient_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

impl Session {
    fn with_retries(
        &self,
        what: &str,
        idempotent: bool,
        mut f: impl FnMut() -> reqwest::Result<Response>,
    ) -> reqwest::Result<Response> {
        let mut attempt = 0;
        loop {
            match f() {
                Err(e) if idempotent && attempt < self.retries && is_transient(&e) => {
                    // A refused connection will not change: do not wait for it (the http
                    // fallback of local registries depends on failing fast).
                    if e.is_connect() {
                        return Err(e);
                    }
                    tracing::debug!("{what}: {e}; retrying");
                }
                other => return other,
            }
            std::thread::sleep(self.backoff * 2u32.saturating_pow(attempt));
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_api_host() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("localhost:5000"), "localhost:5000");
    }
}
