//! The monitor's terminal: creating a `-t` container whose pty master the runtime sends
//! over a console socket, and wiring it to the log, the user's terminal and attached clients.

use kasane_runtime::attach::AttachInput;
use kasane_runtime::logs::Stream;
use kasane_runtime::{CreateRequest, OciCli, ProcessIo, Runtime};
use kasane_store::metadata::ContainerRecord;

use super::super::{ContainerOptions, ContainerPaths};
use super::{ContainerIo, Running, spawn_copier};
use crate::Engine;
use crate::error::{EngineError, Result};

impl Engine {
    /// `-t`: the runtime makes a pty and sends its master over a console socket; its output
    /// is logged (and shown, in the foreground), the user's keys go to it with `-i`.
    pub(super) fn create_with_terminal(
        &mut self,
        record: &ContainerRecord,
        opts: &ContainerOptions,
        run: &kasane_runtime::RunOptions,
        paths: &ContainerPaths,
        runtime: &OciCli,
        io: &ContainerIo,
    ) -> Result<Running> {
        use kasane_runtime::console::{ConsoleSocket, RawTerminal, copy_window_size, pump};
        use std::os::fd::AsFd;
        let sock_path = self.run_root().join(format!("c-{}.sock", &record.id[..12]));
        super::super::mkdir(&self.run_root())?;
        let sock = ConsoleSocket::bind(&sock_path)
            .map_err(|e| EngineError::io(format!("listening on {}", sock_path.display()), e))?;
        let _ = std::fs::remove_file(paths.pid_file());
        // The runtime connects and sends the master during `create`; the connection waits
        // in the socket's backlog until taken here, so no thread has to accept meanwhile
        // (the embedded runtime forks this process, which must then have a single thread).
        runtime.create(CreateRequest {
            id: &record.id,
            bundle: &paths.dir,
            pid_file: &paths.pid_file(),
            io: ProcessIo {
                console_socket: Some(sock_path.clone()),
                ..Default::default()
            },
        })?;
        let master = match sock.receive_master() {
            Ok(m) => m,
            Err(e) => {
                let _ = runtime.kill(&record.id, 9, true);
                return Err(EngineError::io("receiving the container's terminal", e));
            }
        };
        let pid = self.after_create(record, run, paths, runtime)?;
        let stdin = std::io::stdin();
        copy_window_size(stdin.as_fd(), master.as_fd());
        let mut raw = None;
        if io.fg.is_some_and(|fg| fg.stdin) {
            raw = RawTerminal::enable(stdin.as_fd());
            if let Ok(to_master) = master.try_clone() {
                std::thread::spawn(move || pump(std::io::stdin(), to_master));
            }
        }
        let share = |m: &std::fs::File| {
            m.try_clone()
                .map_err(|e| EngineError::io("sharing the container's terminal", e))
        };
        // Attached clients resize the terminal, and with `-i` type into it.
        io.hub.set_input(Some(AttachInput::Terminal {
            master: share(&master)?,
            keys: opts.interactive,
        }));
        let copier = spawn_copier(share(&master)?, Stream::Stdout, io);
        // Keep our copy of the master open until the copier ends (it holds another).
        drop(master);
        self.start_created(record, runtime, pid, vec![copier], raw)
    }
}
