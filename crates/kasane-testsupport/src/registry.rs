//! Registry test harness: servers that integration tests of kasane's registry client
//! (`pull`, `push`, `login`) drive the real `kasane` binary against.
//!
//! Owns:
//! - [`tls`]: [`TestPki`], a throw-away CA with server, client and token-signing certificates;
//! - [`http`]: [`HttpServer`], a tiny threaded HTTP/1.1 server with hostile [`Body`] variants;
//! - [`token`]: [`TokenServer`], Docker token auth (GET and OAuth2 POST, RS256 JWTs);
//! - [`distribution`]: [`Distribution`], Debian's `docker-registry` 2.8 started privately
//!   (no auth, htpasswd + TLS, or token auth), with storage seeding helpers;
//! - [`fake`]: [`FakeRegistry`], an in-memory read-only registry with per-blob/per-manifest
//!   [`Fault`] injection and request counting.
//!
//! Everything listens on `127.0.0.1` only and stops when dropped.

pub mod distribution;
pub mod fake;
pub mod http;
pub mod tls;
pub mod token;

pub use distribution::{Auth, Distribution, DistributionOptions};
pub use fake::{FakeRegistry, Fault};
pub use http::{Body, HttpServer, Request, Response};
pub use tls::TestPki;
pub use token::TokenServer;
