//! docker's credential helpers: `docker-credential-<name>` programs that `get`, `store`
//! and `erase` credentials over stdin/stdout JSON, and which one applies to a registry.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

use super::*;

impl CredentialStore {
    pub(super) fn helper_get(
        &self,
        helper: &Helper,
        server: &str,
        registry: &str,
    ) -> Result<Option<Credential>, CredentialError> {
        let out = match self.run_helper(helper, "get", server.as_bytes(), registry)? {
            HelperAnswer::Output(o) => o,
            HelperAnswer::NotFound => return Ok(None),
        };
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let a: Answer =
            serde_json::from_slice(&out).map_err(|e| CredentialError::HelperOutput {
                program: helper.program(),
                registry: registry.to_owned(),
                source: e,
            })?;
        let c = if a.username == TOKEN_USERNAME {
            Credential {
                username: String::new(),
                password: String::new(),
                identity_token: Some(a.secret).filter(|s| !s.is_empty()),
            }
        } else {
            Credential::basic(a.username, a.secret)
        };
        Ok((!c.is_empty()).then_some(c))
    }

    pub(super) fn run_helper(
        &self,
        helper: &Helper,
        action: &str,
        input: &[u8],
        registry: &str,
    ) -> Result<HelperAnswer, CredentialError> {
        let program_name = helper.program();
        let search = self
            .helper_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let program = find_program(&program_name, &search).ok_or_else(|| {
            CredentialError::HelperNotFound {
                program: program_name.clone(),
                registry: registry.to_owned(),
                setting: helper.setting.clone(),
                path: helper.file.clone(),
            }
        })?;
        tracing::debug!(program = %program.display(), action, registry, "running credential helper");
        let mut cmd = Command::new(&program);
        cmd.arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = &self.helper_path {
            cmd.env("PATH", p);
        }
        let mut child = spawn_retrying(&mut cmd).map_err(|e| CredentialError::HelperSpawn {
            program: program.clone(),
            source: e,
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            match stdin.write_all(input) {
                Ok(()) => {}
                // The helper may exit without reading (e.g. a usage error): its output says why.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(CredentialError::HelperSpawn { program, source: e });
                }
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|e| CredentialError::HelperSpawn {
                program: program.clone(),
                source: e,
            })?;
        if out.status.success() {
            return Ok(HelperAnswer::Output(out.stdout));
        }
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if [&stdout, &stderr]
            .iter()
            .any(|s| s.to_ascii_lowercase().contains(NOT_FOUND_MESSAGE))
        {
            return Ok(HelperAnswer::NotFound);
        }
        let mut output = if !stdout.is_empty() {
            stdout
        } else if !stderr.is_empty() {
            stderr
        } else {
            format!("it exited with {}", out.status)
        };
        if output.len() > 500 {
            let mut cut = 500;
            while !output.is_char_boundary(cut) {
                cut -= 1;
            }
            output.truncate(cut);
            output.push('…');
        }
        Err(CredentialError::HelperFailed {
            program: program_name,
            action: action.to_owned(),
            registry: registry.to_owned(),
            output,
        })
    }
}

pub(super) enum HelperAnswer {
    Output(Vec<u8>),
    NotFound,
}

impl Helper {
    pub(super) fn program(&self) -> String {
        format!("{HELPER_PREFIX}{}", self.name)
    }
}

/// The credential helper that applies to `host` in `root`, if any.
pub(super) fn helper_for(
    root: &Map<String, Value>,
    file: &Path,
    host: &str,
    allow_store: bool,
) -> Result<Option<Helper>, CredentialError> {
    let check = |name: &str, setting: String| -> Result<Helper, CredentialError> {
        if name.is_empty() || name.contains('/') || name.contains('\0') || name == ".." {
            return Err(CredentialError::InvalidHelperName {
                name: name.to_owned(),
                setting,
                path: file.to_owned(),
            });
        }
        Ok(Helper {
            name: name.to_owned(),
            setting,
            file: file.to_owned(),
        })
    };
    match root.get("credHelpers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(helpers)) => {
            // Podman's credHelpers keys are hosts too; docker's style covers both.
            if let Some(key) = matching_keys(helpers, host, KeyStyle::Docker).first() {
                let Some(name) = helpers.get(key).and_then(Value::as_str) else {
                    return Err(malformed(
                        file,
                        format!("credHelpers[{key:?}] is not a string"),
                    ));
                };
                return check(name, format!("credHelpers[{key:?}]")).map(Some);
            }
        }
        Some(_) => {
            return Err(malformed(
                file,
                "\"credHelpers\" is not an object".to_owned(),
            ));
        }
    }
    if !allow_store {
        return Ok(None);
    }
    match root.get("credsStore") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => check(s, "\"credsStore\"".to_owned()).map(Some),
        Some(_) => Err(malformed(file, "\"credsStore\" is not a string".to_owned())),
    }
}

pub(super) fn find_program(name: &str, search: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(search)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Spawns `cmd`, retrying briefly on ETXTBSY (a helper that was just written, or a fork in
/// another thread still holding it open for writing).
pub(super) fn spawn_retrying(cmd: &mut Command) -> io::Result<std::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10 * tries));
            }
            other => return other,
        }
    }
}
