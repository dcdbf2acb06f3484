//! `attach`: where a running container's monitor serves its output and takes its input.

use std::path::PathBuf;

use super::state::Status;
use crate::Engine;
use crate::error::{EngineError, Result};

/// What `kasane attach` needs to know about a running container.
#[derive(Debug, Clone)]
pub struct AttachTarget {
    /// The container's full id.
    pub id: String,
    /// Its monitor's attach socket.
    pub socket: PathBuf,
    /// `-t`: its output is a terminal's, and the client's terminal goes raw.
    pub tty: bool,
    /// `-i`: it reads input from attached clients.
    pub open_stdin: bool,
    /// Its init's pid (for signals with `--sig-proxy`).
    pub pid: i32,
}

impl Engine {
    /// The running container `name`, ready to attach to.
    ///
    /// # Errors
    /// `NoSuchContainer`; a container that is not running or is paused (`Conflict`, in
    /// docker's words).
    pub fn attach_target(&mut self, name: &str) -> Result<AttachTarget> {
        let record = self.find_container(name)?;
        let state = self.container_state(&record)?;
        if state.status != Status::Running {
            return Err(EngineError::ContainerState(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        if state.paused {
            return Err(EngineError::ContainerState(
                "You cannot attach to a paused container, unpause it first".into(),
            ));
        }
        let opts = self.container_options(&record)?;
        Ok(AttachTarget {
            socket: kasane_runtime::attach::socket_path(&self.run_root(), &record.id),
            id: record.id,
            tty: opts.tty,
            open_stdin: opts.interactive,
            pid: state.pid,
        })
    }
}
