//! `kasane login [-u USER] [-p PASS | --password-stdin] [SERVER]` and `kasane logout
//! [SERVER]`: docker's flow and messages; credentials go to docker's config.json (or its
//! credential helper), so docker, podman and kasane share one login.

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::Context;
use clap::Args;
use kasane_registry::credentials::{Credential, CredentialStore};
use kasane_registry::{ClientOptions, RegistryClient};

use super::GlobalOptions;
use super::registry::{RegistryArgs, server_name};

/// `login [SERVER]`
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password (insecure: prefer --password-stdin)
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The registry (default: Docker Hub)
    server: Option<String>,
}

/// `logout [SERVER]`
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (default: Docker Hub)
    server: Option<String>,
}

/// The name docker shows for a server (Docker Hub's is its legacy index URL).
fn display_server(server: &str) -> String {
    if server == "docker.io" {
        "https://index.docker.io/v1/".to_owned()
    } else {
        server.to_owned()
    }
}

pub fn login(_g: &GlobalOptions, a: LoginArgs) -> anyhow::Result<u8> {
    let server = server_name(a.server.as_deref());
    let store = CredentialStore::from_env();
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let mut password = a.password.clone();
    if a.password_stdin {
        if a.password.is_some() {
            anyhow::bail!("--password and --password-stdin are mutually exclusive");
        }
        if a.username.is_none() {
            anyhow::bail!("Must provide --username with --password-stdin");
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the password from stdin")?;
        password = Some(s.trim_end_matches(['\n', '\r']).to_owned());
    }

    // Without flags, docker first tries the credentials it has.
    if a.username.is_none()
        && password.is_none()
        && let Some(existing) = store.get(&server)?
    {
        println!("Authenticating with existing credentials...");
        if verify(&a.registry, &server, &existing).is_ok() {
            println!("Login Succeeded");
            return Ok(0);
        }
    }

    let username = match a.username {
        Some(u) => u,
        None => prompt("Username: ")?,
    };
    if username.trim().is_empty() {
        anyhow::bail!("Username is required");
    }
    let password = match password {
        Some(p) => p,
        None => prompt_hidden("Password: ")?,
    };
    if password.is_empty() {
        anyhow::bail!("Password is required");
    }
    let mut credential = Credential {
        username: username.trim().to_owned(),
        password,
        identity_token: None,
    };
    let outcome = verify(&a.registry, &server, &credential)
        .with_context(|| format!("Error response from registry {server}: login attempt failed"))?;
    if let Some(token) = outcome.identity_token {
        credential.identity_token = Some(token);
        credential.password = String::new();
    }
    store
        .store(&server, &credential)
        .with_context(|| format!("saving the credentials for {server}"))?;
    if store.stores_plaintext(&server) {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.\n\
             Configure a credential helper to remove this warning. See\n\
             https://docs.docker.com/engine/reference/commandline/login/#credential-stores\n",
            store.config_path().display()
        );
    }
    println!("Login Succeeded");
    Ok(0)
}

/// Checks `credential` against `server` the way docker login does.
fn verify(
    args: &RegistryArgs,
    server: &str,
    credential: &Credential,
) -> anyhow::Result<kasane_registry::auth::LoginOutcome> {
    let mut opts = ClientOptions::from_env()?;
    opts.tls_verify = args.tls_verify;
    opts.credential_override = Some((server.to_owned(), credential.clone()));
    let client = RegistryClient::new(opts);
    let session = client.session(server)?;
    Ok(session.login()?)
}

pub fn logout(_g: &GlobalOptions, a: LogoutArgs) -> anyhow::Result<u8> {
    let server = server_name(a.server.as_deref());
    let store = CredentialStore::from_env();
    let shown = display_server(&server);
    if store.erase(&server)? {
        println!("Removing login credentials for {shown}");
    } else {
        println!("Not logged in to {shown}");
    }
    Ok(0)
}

fn prompt(label: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("Cannot perform an interactive login from a non TTY device");
    }
    print!("{label}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Reads a line from the terminal with echo off.
fn prompt_hidden(label: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("Cannot perform an interactive login from a non TTY device");
    }
    let saved = tcgetattr(&stdin).context("reading the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning echo off")?;
    print!("{label}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    println!();
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
