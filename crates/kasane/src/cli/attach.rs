//! `attach CONTAINER`: the terminal joins a running container through its monitor's attach
//! socket: the container's output from now on, the user's input (`-i` containers), window
//! sizes (`-t`), signals (`--sig-proxy`), and the detach keys to leave it running.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use clap::Args;
use kasane_engine::Engine;
use kasane_runtime::attach::{
    self, DEFAULT_DETACH_KEYS, DetachKeys, FRAME_EXIT, FRAME_RESIZE, FRAME_STDERR, FRAME_STDOUT,
};
use kasane_runtime::console::RawTerminal;
use kasane_runtime::signals::SignalForwarder;

use super::{GlobalOptions, open_engine};

/// `attach [--no-stdin] [--sig-proxy=BOOL] [--detach-keys KEYS] CONTAINER`
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    /// Container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// The client's half of the connection that its threads write to (input and window sizes),
/// one whole frame at a time.
type SharedWriter = Arc<Mutex<UnixStream>>;

/// `kasane attach`.
pub fn run(g: &GlobalOptions, a: AttachArgs) -> anyhow::Result<u8> {
    let keys = DetachKeys::parse(a.detach_keys.as_deref().unwrap_or(DEFAULT_DETACH_KEYS))
        .map_err(anyhow::Error::msg)?;
    let mut engine = open_engine(g)?;
    let how = How {
        no_stdin: a.no_stdin,
        sig_proxy: a.sig_proxy,
        keys,
    };
    attach_to(&mut engine, &a.container, how)
}

/// How a client attaches: `--no-stdin`, `--sig-proxy`, `--detach-keys`.
pub struct How {
    /// Leave the container's stdin alone.
    pub no_stdin: bool,
    /// Forward this process's signals to the container (without `-t`).
    pub sig_proxy: bool,
    /// The keys that detach.
    pub keys: DetachKeys,
}

impl How {
    /// `start -a [-i]` of a container that already runs: attach as docker does.
    pub fn for_start(interactive: bool) -> How {
        How {
            no_stdin: !interactive,
            sig_proxy: true,
            keys: DetachKeys::default(),
        }
    }
}

/// Attaches this process's terminal to the running container `name` until it ends (its
/// exit code) or the user detaches (0).
pub fn attach_to(engine: &mut Engine, name: &str, how: How) -> anyhow::Result<u8> {
    let How {
        no_stdin,
        sig_proxy,
        mut keys,
    } = how;
    let target = match engine.attach_target(name) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "Error response from daemon: {}",
                kasane_engine::containers::monitor::full_message(&e)
            );
            return Ok(1);
        }
    };
    let stdin = std::io::stdin();
    let with_input = target.open_stdin && !no_stdin;
    if target.tty && with_input && !stdin.is_terminal() {
        eprintln!("the input device is not a TTY");
        return Ok(1);
    }
    let conn = match UnixStream::connect(&target.socket) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "Error response from daemon: cannot attach to container {}: its monitor does \
                 not answer at {} ({e}); it may have just ended",
                name,
                target.socket.display()
            );
            return Ok(1);
        }
    };
    let writer: SharedWriter = Arc::new(Mutex::new(conn.try_clone()?));

    // Signal masks first: threads started below inherit them.
    let forwarder = (sig_proxy && !target.tty).then(SignalForwarder::install);
    let resizes = target.tty.then(WindowSizes::install);
    let raw = if target.tty && with_input {
        RawTerminal::enable(stdin.as_fd())
    } else {
        None
    };
    if let Some(f) = &forwarder {
        f.set_target(target.pid);
    }
    if let Some(r) = resizes {
        r.start(writer.clone());
    }
    let detached = Arc::new(AtomicBool::new(false));
    if with_input {
        let (writer, detached, conn) = (writer.clone(), detached.clone(), conn.try_clone()?);
        std::thread::spawn(move || {
            let mut out = LockedWriter(writer);
            if let Ok(true) = attach::send_input(std::io::stdin(), &mut out, &mut keys) {
                detached.store(true, Ordering::SeqCst);
                // Ends the output loop below; the container runs on.
                let _ = conn.shutdown(std::net::Shutdown::Both);
            }
        });
    }

    let code = show_output(conn);
    drop(raw);
    if detached.load(Ordering::SeqCst) {
        eprintln!("read escape sequence");
        return Ok(0);
    }
    let code = match code {
        Some(c) => c,
        // The monitor went without saying (killed, say): the state knows how it ended.
        None => engine.wait_container(&target.id).unwrap_or(0),
    };
    Ok(code.clamp(0, 255) as u8)
}

/// Writes the container's output frames to stdout and stderr until the exit frame (its
/// code) or the end of the connection (`None`).
fn show_output(mut conn: UnixStream) -> Option<i32> {
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    loop {
        let (kind, payload) = attach::read_frame(&mut conn).ok()??;
        match kind {
            FRAME_STDOUT => {
                let _ = stdout.write_all(&payload).and_then(|()| stdout.flush());
            }
            FRAME_STDERR => {
                let _ = stderr.write_all(&payload);
            }
            FRAME_EXIT => {
                let bytes: [u8; 4] = payload.as_slice().try_into().ok()?;
                return Some(i32::from_be_bytes(bytes));
            }
            _ => {}
        }
    }
}

/// A [`Write`] for [`attach::send_input`] that writes each frame under the shared lock.
struct LockedWriter(SharedWriter);

impl Write for LockedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut conn = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        conn.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut conn = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        conn.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The user's terminal size, sent now and after every SIGWINCH (a `-t` container).
struct WindowSizes {
    set: nix::sys::signal::SigSet,
}

impl WindowSizes {
    /// Blocks SIGWINCH in this thread (and the threads it starts), to be waited for.
    fn install() -> WindowSizes {
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGWINCH);
        let _ = set.thread_block();
        WindowSizes { set }
    }

    fn start(self, to: SharedWriter) {
        let send_size = move || {
            let size = rustix::termios::tcgetwinsize(std::io::stdout().as_fd())
                .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin().as_fd()));
            match size {
                Ok(s) => attach::write_frame(
                    &mut LockedWriter(to.clone()),
                    FRAME_RESIZE,
                    &attach::resize_payload(s.ws_row, s.ws_col),
                ),
                Err(_) => Ok(()),
            }
        };
        if send_size().is_err() {
            return;
        }
        std::thread::spawn(move || {
            while self.set.wait().is_ok() {
                if send_size().is_err() {
                    return;
                }
            }
        });
    }
}
