//! `exec`: a new process in a running container, with the container's spec as the base.

use kasane_runtime::{ExecRequest, ProcessIo, Runtime, StdioSource, resolve_user};
use oci_spec::runtime::{Spec, UserBuilder};

use super::state::Status;
use crate::Engine;
use crate::error::{EngineError, Result};

/// `exec` flags.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// `-e KEY=value`, overriding the container's by key.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u user[:group]`.
    pub user: Option<String>,
    /// `-i`: the process reads this process's stdin.
    pub interactive: bool,
    /// `-d`: start it and return.
    pub detach: bool,
    /// `-t`: a terminal.
    pub tty: bool,
}

impl Engine {
    /// Runs `opts.cmd` in the running container `name` with this process's stdout and
    /// stderr; returns its exit code (0 for `-d`).
    ///
    /// # Errors
    /// `NoSuchContainer`; not running (`Conflict`); the runtime failing to start it (with
    /// docker's 126/127 classification in [`kasane_runtime::RuntimeError::exit_code`]).
    pub fn exec_container(&mut self, name: &str, opts: &ExecOptions) -> Result<i32> {
        if opts.cmd.is_empty() {
            return Err(EngineError::InvalidArgument(
                "exec needs a command to run".into(),
            ));
        }
        let record = self.find_container(name)?;
        let state = self.container_state(&record)?;
        if state.status != Status::Running {
            return Err(EngineError::ContainerState(format!(
                "container {} is not running",
                record.id
            )));
        }
        if state.paused {
            return Err(EngineError::ContainerState(format!(
                "Container {} is paused, unpause the container before exec",
                record.id
            )));
        }
        let paths = self.container_paths(&record.id);
        let copts = self.container_options(&record)?;
        let spec = Spec::load(paths.spec()).map_err(|e| {
            EngineError::InvalidArgument(format!("{}: {e}", paths.spec().display()))
        })?;
        let mut process = spec.process().clone().ok_or_else(|| {
            EngineError::InvalidArgument(format!("{}: no process", paths.spec().display()))
        })?;
        process.set_args(Some(opts.cmd.clone()));
        // With -t the runtime makes the pty and relays it to our stdio itself; a detached
        // process has nobody to talk to, so it gets none.
        let tty = opts.tty && !opts.detach;
        process.set_terminal(Some(tty));
        let mut env = process.env().clone().unwrap_or_default();
        for e in &opts.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        process.set_env(Some(env));
        if let Some(w) = opts.workdir.as_deref().filter(|w| !w.is_empty()) {
            process.set_cwd(w.into());
        }
        if let Some(u) = &opts.user {
            let user = resolve_user(&paths.rootfs(), u)?;
            let mut gids = vec![user.gid];
            gids.extend(&user.additional_gids);
            process.set_user(
                UserBuilder::default()
                    .uid(user.uid)
                    .gid(user.gid)
                    .additional_gids(gids)
                    .build()
                    .map_err(|e| EngineError::InvalidArgument(format!("exec user: {e}")))?,
            );
        }
        let file = paths
            .dir
            .join(format!("exec-{}.json", &super::names::new_id()[..16]));
        let json = serde_json::to_vec(&process)
            .map_err(|e| EngineError::InvalidArgument(format!("exec process: {e}")))?;
        kasane_store::atomic::write_atomic(&file, &json)?;
        let runtime = self.runtime_for(&copts, &paths)?;
        let result = runtime.exec(ExecRequest {
            id: &record.id,
            process: &file,
            detach: opts.detach,
            tty,
            pid_file: None,
            io: ProcessIo {
                stdin: (opts.interactive || tty).then_some(StdioSource::Inherit),
                stdout: (!opts.detach).then_some(StdioSource::Inherit),
                stderr: (!opts.detach).then_some(StdioSource::Inherit),
                console_socket: None,
            },
        });
        let _ = std::fs::remove_file(&file);
        let status = result?;
        Ok(exit_code(status))
    }
}

/// A shell-style exit code from a process status (128 + signal).
pub(crate) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}
