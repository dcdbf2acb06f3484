//! The monitor's side of the container's stdio: the copier threads that put its output into
//! the log, onto the foreground terminal and to attached clients, and the attach socket.

use std::io::Write;
use std::path::Path;
use std::thread::JoinHandle;

use kasane_runtime::attach::{self, AttachHub};
use kasane_runtime::logs::{SharedLogWriter, Stream, copy_stream};
use kasane_runtime::socket_file::SocketFile;

use super::MonitorIo;

/// Where a container's stdio goes: the log, attached clients, and in the foreground the
/// terminal of the process running the monitor.
pub(super) struct ContainerIo {
    pub(super) fg: Option<MonitorIo>,
    pub(super) log: SharedLogWriter,
    pub(super) hub: AttachHub,
}

/// Copies one of the container's output streams into the log and to attached clients (and,
/// in the foreground, to this process's own stdout or stderr).
pub(super) fn spawn_copier(
    src: impl std::io::Read + Send + 'static,
    stream: Stream,
    io: &ContainerIo,
) -> JoinHandle<()> {
    let log = io.log.clone();
    let mut out = Echo {
        terminal: io.fg.is_some().then(|| -> Box<dyn Write + Send> {
            match stream {
                Stream::Stdout => Box::new(std::io::stdout()),
                Stream::Stderr => Box::new(std::io::stderr()),
            }
        }),
        hub: io.hub.writer(stream),
    };
    std::thread::spawn(move || {
        if let Err(e) = copy_stream(src, stream, &log, Some(&mut out)) {
            tracing::warn!("copying container {stream:?}: {e}");
        }
    })
}

/// Where a copier shows the container's output besides the log: this process's terminal
/// (a foreground container) until that fails, and every attached client.
struct Echo {
    terminal: Option<Box<dyn Write + Send>>,
    hub: attach::HubWriter,
}

impl Write for Echo {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(t) = &mut self.terminal
            && t.write_all(buf).and_then(|()| t.flush()).is_err()
        {
            // The terminal is gone; the container keeps running and keeps being logged.
            self.terminal = None;
        }
        self.hub.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Listens for `kasane attach` at the container's attach socket (removed when dropped);
/// `None`, the container then running unattachable, when it cannot.
pub(super) fn bind_attach_socket(run_root: &Path, id: &str) -> Option<SocketFile> {
    let path = attach::socket_path(run_root, id);
    let bound = super::super::mkdir(run_root)
        .map_err(|e| e.to_string())
        .and_then(|()| SocketFile::bind(&path).map_err(|e| e.to_string()));
    match bound {
        Ok(socket) => Some(socket),
        Err(e) => {
            tracing::warn!("listening on {} for attach: {e}", path.display());
            None
        }
    }
}
