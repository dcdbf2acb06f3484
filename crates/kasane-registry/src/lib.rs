//! The registry client: OCI Distribution v1.1 / Docker Registry HTTP API v2.
//!
//! [`RemoteRepository`] is a [`kasane_store::Provider`] + [`kasane_store::Ingester`], so pull
//! and push are unpack/`copy_graph` between a registry and the local store (ARCHITECTURE.md
//! principle 3). Around it: authentication (anonymous, basic, bearer tokens from the
//! `WWW-Authenticate` challenge), docker's credential files and helpers, a registries
//! configuration with mirrors and insecure registries, and per-host TLS from `certs.d`.
//!
//! ```text
//! RegistryClient ── session(host) ──► Session (HTTP client, scheme, Authenticator, retries)
//!                                        │
//!                   RemoteRepository(session, "library/busybox") : Provider + Ingester
//! ```

pub mod auth;
pub mod challenge;
pub mod client;
pub mod credentials;
pub mod error;
pub mod proto;
pub mod redirect;
pub mod registries_conf;
pub mod remote;
pub mod tls;

pub use client::{ClientOptions, RegistryClient, Session};
pub use error::{ErrorKind, RegistryError, Result};
pub use remote::{MountOutcome, RemoteRepository};
