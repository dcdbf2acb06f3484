//! Attaching to a running container (`kasane attach`): its monitor serves the container's
//! output, and takes input for it, on a unix socket; any number of clients may attach at once
//! and each sees what the container writes from then on, as with docker.
//!
//! Wire format, both ways: frames of a kind byte, a 4-byte big-endian length and the payload.
//! Monitor to client: [`FRAME_STDOUT`], [`FRAME_STDERR`], then [`FRAME_EXIT`] (an `i32`) when
//! the container's process ends. Client to monitor: [`FRAME_STDIN`] and [`FRAME_RESIZE`]
//! (rows and columns, two `u16`). Closing the connection detaches.
//!
//! Detach keys ([`DetachKeys`]) are docker's: `ctrl-p,ctrl-q` unless the user names others;
//! the client watches its own input for them.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::logs::Stream;

/// Monitor to client: bytes the container wrote to its stdout (or its terminal).
pub const FRAME_STDOUT: u8 = 1;
/// Monitor to client: bytes the container wrote to its stderr.
pub const FRAME_STDERR: u8 = 2;
/// Monitor to client: the container's process ended with this code (4 bytes, big-endian).
pub const FRAME_EXIT: u8 = 3;
/// Client to monitor: bytes for the container's stdin.
pub const FRAME_STDIN: u8 = 4;
/// Client to monitor: the client's terminal size (rows, then columns; big-endian `u16`s).
pub const FRAME_RESIZE: u8 = 5;

/// The largest payload a frame may carry; a bigger length means a broken peer.
const MAX_FRAME: usize = 1 << 20;

/// How long a write to one attached client may block before that client is dropped: a
/// client that stops reading must not stall the container's output for long.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes one frame.
///
/// # Errors
/// The payload is over 1 MiB; I/O errors.
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("an attach frame of {} bytes is too big", payload.len()),
        ));
    }
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    // One write for small frames keeps a frame from being split between two writers' bytes.
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.extend_from_slice(&head);
    frame.extend_from_slice(payload);
    w.write_all(&frame)
}

/// Reads one frame: `None` when the peer closed the connection between frames.
///
/// # Errors
/// A length over 1 MiB, or a connection closed inside a frame (`InvalidData`); I/O errors.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(truncated()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("an attach frame claims {len} bytes (at most {MAX_FRAME})"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => truncated(),
        _ => e,
    })?;
    Ok(Some((head[0], payload)))
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the attach connection closed inside a frame",
    )
}

/// Where input from attached clients goes, for the container's current run.
#[derive(Debug)]
pub enum AttachInput {
    /// The write end of the container's stdin pipe (`-i` without `-t`).
    Pipe(File),
    /// The container's terminal master (`-t`): keys with `-i`, and window sizes always.
    Terminal {
        /// The pty master.
        master: File,
        /// Whether keys go to it (`-i`); without, only window sizes do.
        keys: bool,
    },
}

#[derive(Debug, Default)]
struct Shared {
    clients: Mutex<Vec<UnixStream>>,
    input: Mutex<Option<AttachInput>>,
}

/// The monitor's side: the set of attached clients and where their input goes.
#[derive(Debug, Clone, Default)]
pub struct AttachHub {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AttachHub {
    /// A hub with no clients and nowhere for input to go.
    pub fn new() -> AttachHub {
        AttachHub::default()
    }

    /// Sets where client input goes for the run that starts now (`None`: dropped).
    pub fn set_input(&self, input: Option<AttachInput>) {
        *lock(&self.shared.input) = input;
    }

    /// Sends bytes the container wrote to every attached client; a client whose connection
    /// fails (or stays full for 5 s) is dropped.
    pub fn broadcast(&self, stream: Stream, data: &[u8]) {
        let kind = match stream {
            Stream::Stdout => FRAME_STDOUT,
            Stream::Stderr => FRAME_STDERR,
        };
        let mut clients = lock(&self.shared.clients);
        if clients.is_empty() {
            return;
        }
        clients.retain(|c| write_frame(&mut NoSignal(c), kind, data).is_ok());
    }

    /// A writer that broadcasts on `stream` and never fails (see [`AttachHub::broadcast`]).
    pub fn writer(&self, stream: Stream) -> HubWriter {
        HubWriter {
            hub: self.clone(),
            stream,
        }
    }

    /// The container's process ended with `code`: tells every client and lets them go.
    pub fn finish(&self, code: i32) {
        let mut clients = lock(&self.shared.clients);
        for c in clients.drain(..) {
            let _ = write_frame(&mut NoSignal(&c), FRAME_EXIT, &code.to_be_bytes());
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        drop(clients);
        self.set_input(None);
    }

    /// Accepts clients on `listener` in a thread of its own, for the rest of this process's
    /// life. Only root and this process's own user may attach.
    pub fn serve(&self, listener: UnixListener) {
        let hub = self.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(conn) => hub.add_client(conn),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::warn!("accepting an attach connection: {e}");
                        return;
                    }
                }
            }
        });
    }

    fn add_client(&self, conn: UnixStream) {
        let allowed = rustix::net::sockopt::socket_peercred(&conn).is_ok_and(|cred| {
            let uid = cred.uid.as_raw();
            uid == 0 || uid == rustix::process::geteuid().as_raw()
        });
        if !allowed {
            tracing::warn!("refused an attach connection from another user");
            return;
        }
        let (Ok(reader), Ok(())) = (
            conn.try_clone(),
            conn.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT)),
        ) else {
            return;
        };
        // Listed before its input is read, so a reply to its first keys reaches it.
        lock(&self.shared.clients).push(conn);
        let hub = self.clone();
        std::thread::spawn(move || hub.take_input(reader));
    }

    /// Passes one client's frames to the container until the client goes.
    fn take_input(&self, mut conn: UnixStream) {
        while let Ok(Some((kind, payload))) = read_frame(&mut conn) {
            let mut input = lock(&self.shared.input);
            match (kind, input.as_mut()) {
                (FRAME_STDIN, Some(AttachInput::Pipe(w)))
                | (
                    FRAME_STDIN,
                    Some(AttachInput::Terminal {
                        master: w,
                        keys: true,
                    }),
                ) => {
                    if let Err(e) = w.write_all(&payload) {
                        tracing::debug!("writing attached input to the container: {e}");
                    }
                }
                (FRAME_RESIZE, Some(AttachInput::Terminal { master, .. })) => {
                    if let Some((rows, cols)) = parse_resize(&payload) {
                        set_window_size(master.as_fd(), rows, cols);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Writes to a client without SIGPIPE: a client that went away is an error, never a signal
/// that could end the monitor.
struct NoSignal<'a>(&'a UnixStream);

impl Write for NoSignal<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::net::send(
            self.0,
            buf,
            rustix::net::SendFlags::NOSIGNAL,
        )?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`Write`] into an [`AttachHub`] for one stream.
#[derive(Debug, Clone)]
pub struct HubWriter {
    hub: AttachHub,
    stream: Stream,
}

impl Write for HubWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hub.broadcast(self.stream, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The payload of a [`FRAME_RESIZE`].
pub fn resize_payload(rows: u16, cols: u16) -> [u8; 4] {
    let [r0, r1] = rows.to_be_bytes();
    let [c0, c1] = cols.to_be_bytes();
    [r0, r1, c0, c1]
}

fn parse_resize(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [r0, r1, c0, c1] => Some((
            u16::from_be_bytes([*r0, *r1]),
            u16::from_be_bytes([*c0, *c1]),
        )),
        _ => None,
    }
}

fn set_window_size(fd: std::os::fd::BorrowedFd<'_>, rows: u16, cols: u16) {
    if rows == 0 || cols == 0 {
        return;
    }
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let _ = rustix::termios::tcsetwinsize(fd, size);
}

/// The attach socket of a container: `<run root>/a-<short id>.sock` (short, as unix socket
/// paths must be).
pub fn socket_path(run_root: &Path, id: &str) -> PathBuf {
    run_root.join(format!("a-{}.sock", &id[..id.len().min(12)]))
}

/// Bytes from the client's input, or the user's request to detach.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyEvent {
    /// Input for the container.
    Input(Vec<u8>),
    /// The whole detach sequence was typed.
    Detach,
}

/// A detach key sequence (`--detach-keys`) and how much of it has been typed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys {
    keys: Vec<u8>,
    matched: usize,
}

/// docker's default detach sequence.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

impl Default for DetachKeys {
    /// docker's `ctrl-p,ctrl-q` ([`DEFAULT_DETACH_KEYS`]).
    fn default() -> DetachKeys {
        DetachKeys {
            keys: vec![0x10, 0x11],
            matched: 0,
        }
    }
}

impl DetachKeys {
    /// Parses docker's format: comma-separated keys, each a single character or `ctrl-`
    /// followed by one of `a`–`z`, `@`, `[`, `\`, `]`, `^` or `_`. An empty string turns
    /// detaching off.
    ///
    /// # Errors
    /// A key that is neither, named in the message.
    pub fn parse(spec: &str) -> Result<DetachKeys, String> {
        let mut keys = Vec::new();
        if !spec.is_empty() {
            for part in spec.split(',') {
                keys.push(parse_key(part).ok_or_else(|| {
                    format!(
                        "invalid detach keys ({part:?}): use a single character or ctrl- \
                         with one of a-z @ [ \\ ] ^ _, separated by commas"
                    )
                })?);
            }
        }
        Ok(DetachKeys { keys, matched: 0 })
    }

    /// Feeds bytes the user typed: what should go on to the container (a partly typed
    /// sequence is held back until it either completes or is broken), then `Detach` when
    /// the sequence completes (bytes after it are dropped).
    pub fn feed(&mut self, input: &[u8]) -> Vec<KeyEvent> {
        if self.keys.is_empty() {
            return vec![KeyEvent::Input(input.to_vec())];
        }
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b != self.keys[self.matched] {
                // A broken sequence: what was held back goes on, and this byte may start anew.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b != self.keys[0] {
                    out.push(b);
                    continue;
                }
            }
            self.matched += 1;
            if self.matched == self.keys.len() {
                self.matched = 0;
                let mut events: Vec<KeyEvent> = (!out.is_empty())
                    .then_some(KeyEvent::Input(out))
                    .into_iter()
                    .collect();
                events.push(KeyEvent::Detach);
                return events;
            }
        }
        if out.is_empty() {
            Vec::new()
        } else {
            vec![KeyEvent::Input(out)]
        }
    }
}

fn parse_key(part: &str) -> Option<u8> {
    if let Some(name) = part.strip_prefix("ctrl-") {
        return match name.as_bytes() {
            [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
            [b'@'] => Some(0),
            [c @ (b'[' | b'\\' | b']' | b'^' | b'_')] => Some(c - b'@'),
            _ => None,
        };
    }
    match part.as_bytes() {
        [c] if c.is_ascii() && !c.is_ascii_control() => Some(*c),
        _ => None,
    }
}

/// Sends `from` (the client's stdin) as [`FRAME_STDIN`] frames on `to` until it ends or the
/// detach keys are typed; returns whether the user detached.
///
/// # Errors
/// Reading `from` or writing `to` failed.
pub fn send_input(
    mut from: impl Read,
    to: &mut impl Write,
    keys: &mut DetachKeys,
) -> io::Result<bool> {
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for event in keys.feed(&buf[..n]) {
            match event {
                KeyEvent::Input(bytes) => write_frame(to, FRAME_STDIN, &bytes)?,
                KeyEvent::Detach => return Ok(true),
            }
        }
    }
}

#[cfg(test)]
mod tests;
