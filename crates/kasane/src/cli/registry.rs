//! What the registry commands share: the `--tls-verify` flag, the client, reference parsing
//! and the server names `login`/`logout` accept.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Args;
use kasane::output::progress::{Progress, ProgressMode};
use kasane_oci::Reference;
use kasane_registry::{ClientOptions, RegistryClient};

/// Flags of every command that talks to a registry.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Require HTTPS and verify certificates (false: allow plain http and any certificate)
    #[arg(long = "tls-verify", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
}

impl RegistryArgs {
    /// A client with the user's configuration and these flags.
    pub fn client(&self) -> anyhow::Result<RegistryClient> {
        let mut opts = ClientOptions::from_env()?;
        opts.tls_verify = self.tls_verify;
        Ok(RegistryClient::new(opts))
    }
}

/// The progress stream of `pull`/`push` on stdout: quiet for `-q`, else the `--progress`
/// mode (auto: bars on a terminal).
pub fn progress_stream(quiet: bool, mode: &str) -> anyhow::Result<Progress<std::io::Stdout>> {
    let mode = if quiet {
        ProgressMode::Quiet
    } else {
        ProgressMode::parse(mode, std::io::stdout().is_terminal()).map_err(anyhow::Error::msg)?
    };
    Ok(Progress::new(mode, std::io::stdout(), terminal_width()))
}

/// The terminal's width (docker draws bars only above 110 columns).
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(|| {
            rustix::termios::tcgetwinsize(std::io::stdout())
                .ok()
                .map(|w| usize::from(w.ws_col))
        })
        .filter(|w| *w > 0)
        .unwrap_or(80)
}

/// Parses an image reference as docker does, with docker's message for bad ones.
pub fn parse_reference(name: &str) -> anyhow::Result<Reference> {
    name.parse::<Reference>()
        .with_context(|| format!("invalid reference format: {name:?}"))
}

/// The registry a `login`/`logout` argument names: `docker.io` for none or any of Docker
/// Hub's names; otherwise the host[:port], with any scheme or path removed.
pub fn server_name(arg: Option<&str>) -> String {
    let Some(raw) = arg.filter(|s| !s.is_empty()) else {
        return "docker.io".to_owned();
    };
    let s = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .unwrap_or(raw);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        h => h.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert_eq!(server_name(None), "docker.io");
        assert_eq!(
            server_name(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(server_name(Some("localhost:5000")), "localhost:5000");
        assert_eq!(
            server_name(Some("http://127.0.0.1:5000/v2/")),
            "127.0.0.1:5000"
        );
    }
}
