//! Container logs in docker's `json-file` format: writing them as the container runs and
//! reading them back for `logs`.
//!
//! Owns: the log file of one container, `<container dir>/<id>-json.log`, written only by that
//! container's monitor through a [`LogWriter`] and read by any number of [`read_logs`] calls.
//!
//! Format: one JSON object per line, one line per entry, exactly as docker writes them:
//!
//! ```text
//! {"log":"hello\n","stream":"stdout","time":"2026-11-22T19:24:47.123456789Z"}
//! {"log":"no newline yet","stream":"stderr","time":"2026-11-22T19:24:47.200000000Z"}
//! ```
//!
//! `log` is one line of output including its `\n`; a line longer than [`MAX_ENTRY`] bytes, or
//! one still unterminated when the stream ends, is written in pieces without `\n` (docker's
//! "partial" entries); `docker logs` simply concatenates them. `time` is RFC 3339 in UTC with
//! nine fractional digits.
//!
//! Lifecycle: the monitor opens a [`SharedLogWriter`], runs [`copy_stream`] on one thread for
//! the container's stdout and another for its stderr (each also echoing to the terminal for a
//! foreground `run`), and both end at EOF, writing out what is left of an unterminated line.
//! `logs -f` calls [`read_logs`] with `follow`, which polls the file until the container has
//! stopped and everything written is printed.
//!
//! Concurrency and durability: each entry is one `write(2)` of a whole line to a file opened
//! with `O_APPEND`, so a reader sees whole entries, or a torn last line it leaves for the next
//! poll; the file is not fsynced (logs are best effort, as in docker).
//!
//! Writing is here; reading (`logs` and its flags) is in [`read`].

mod read;

pub use read::{LogReadOptions, parse_since, read_logs};

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;
use serde::{Deserialize, Serialize};

/// The largest `log` value of one entry, in bytes (docker's 16 KiB copy buffer): longer lines
/// are split into several partial entries.
pub const MAX_ENTRY: usize = 16 * 1024;

/// How often `read_logs` with `follow` looks for new entries.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Errors from writing or reading a container's log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log file could not be opened or created.
    #[error("opening log file {path}")]
    Open {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Appending an entry to the log file failed.
    #[error("writing log file {path}")]
    Write {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Reading the log file failed.
    #[error("reading log file {path}")]
    Read {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Reading the container's output stream failed.
    #[error("reading container {stream}")]
    Source {
        /// Which stream.
        stream: Stream,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing entries to the caller's stdout or stderr failed (a closed pipe, say).
    #[error("writing log output")]
    Output(#[source] io::Error),
    /// `--since`/`--until` is none of the accepted time forms (docker's wording).
    #[error("failed to parse value as time or duration: {0:?}")]
    InvalidTime(String),
}

/// Which of the container's output streams an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The `stream` value in the log file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Stdout => 0,
            Self::Stderr => 1,
        }
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `time` as docker writes and prints it: RFC 3339, UTC, nine fractional digits.
pub fn format_time(time: Timestamp) -> String {
    DateTimePrinter::new()
        .precision(Some(9))
        .timestamp_to_string(&time)
}

/// One line of the log file, as written.
#[derive(Serialize)]
struct EntryOut<'a> {
    log: &'a str,
    stream: Stream,
    time: &'a str,
}

/// One line of the log file, as read.
#[derive(Deserialize)]
struct EntryIn {
    log: String,
    stream: Stream,
    time: String,
}

/// A decoded log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    log: String,
    stream: Stream,
    time: Timestamp,
}

/// Decodes one line; `None` for anything that is not a well-formed entry.
fn parse_entry(line: &[u8]) -> Option<Entry> {
    let raw: EntryIn = serde_json::from_slice(line).ok()?;
    Some(Entry {
        log: raw.log,
        stream: raw.stream,
        time: raw.time.parse().ok()?,
    })
}

/// Where to cut `buf` (at most `buf.len()`) so the cut does not split a UTF-8 sequence;
/// returns `buf.len()` when the end is already a boundary or the bytes are not UTF-8 there.
fn utf8_cut(buf: &[u8]) -> usize {
    let end = buf.len();
    // Look at the last three bytes for the lead byte of a sequence that runs past the end.
    for back in 1..=3.min(end) {
        let b = buf[end - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte
        }
        let len = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if len > back && end - back > 0 {
            end - back
        } else {
            end
        };
    }
    end
}

/// Appends a container's output to its log file as json-file entries.
///
/// Not synchronised itself: one writer serves both streams, so the two copier threads share
/// it through a [`SharedLogWriter`].
#[derive(Debug)]
pub struct LogWriter {
    file: File,
    path: PathBuf,
    /// Bytes of an unterminated line, per stream (indexed by [`Stream::index`]).
    pending: [Vec<u8>; 2],
}

impl LogWriter {
    /// Opens `path` for appending, creating it with mode `0640` when absent.
    ///
    /// # Errors
    ///
    /// [`LogError::Open`] when the file cannot be opened or created.
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| LogError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            file,
            path: path.to_owned(),
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Logs `data` from `stream`: every complete line becomes an entry now; an unterminated
    /// tail waits for its newline, or is written as a partial entry once it reaches
    /// [`MAX_ENTRY`] bytes.
    ///
    /// # Errors
    ///
    /// [`LogError::Write`] when appending fails; the entries before it are written.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<(), LogError> {
        let mut pending = std::mem::take(&mut self.pending[stream.index()]);
        pending.extend_from_slice(data);
        let mut start = 0;
        let result = loop {
            let rest = &pending[start..];
            let window = &rest[..rest.len().min(MAX_ENTRY)];
            let cut = if let Some(nl) = window.iter().position(|&b| b == b'\n') {
                nl + 1
            } else if rest.len() >= MAX_ENTRY {
                utf8_cut(window)
            } else {
                break Ok(());
            };
            if let Err(e) = self.append(stream, &rest[..cut], Timestamp::now()) {
                break Err(e);
            }
            start += cut;
        };
        // Keep what was not written, so a failed write loses nothing.
        pending.drain(..start);
        self.pending[stream.index()] = pending;
        result
    }

    /// Writes out any unterminated line of `stream` as a partial entry.
    ///
    /// # Errors
    ///
    /// [`LogError::Write`] when appending fails; the line stays buffered.
    pub fn flush_stream(&mut self, stream: Stream) -> Result<(), LogError> {
        if self.pending[stream.index()].is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending[stream.index()]);
        let result = self.append(stream, &pending, Timestamp::now());
        if result.is_err() {
            self.pending[stream.index()] = pending;
        }
        result
    }

    /// Writes out the unterminated lines of both streams (call when the container exits).
    ///
    /// # Errors
    ///
    /// [`LogError::Write`] when appending fails.
    pub fn flush_partial(&mut self) -> Result<(), LogError> {
        self.flush_stream(Stream::Stdout)?;
        self.flush_stream(Stream::Stderr)
    }

    /// Appends one entry with one `write(2)` of the whole line.
    fn append(&mut self, stream: Stream, log: &[u8], time: Timestamp) -> Result<(), LogError> {
        let text = String::from_utf8_lossy(log);
        let time = format_time(time);
        let mut line = serde_json::to_vec(&EntryOut {
            log: &text,
            stream,
            time: &time,
        })
        .map_err(|e| LogError::Write {
            path: self.path.clone(),
            source: io::Error::other(e),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|source| LogError::Write {
                path: self.path.clone(),
                source,
            })
    }
}

/// A [`LogWriter`] shared by the stdout and stderr copier threads.
#[derive(Debug, Clone)]
pub struct SharedLogWriter(Arc<Mutex<LogWriter>>);

impl SharedLogWriter {
    /// Shares `writer`.
    pub fn new(writer: LogWriter) -> Self {
        Self(Arc::new(Mutex::new(writer)))
    }

    /// Opens `path` as [`LogWriter::open`] does, shared.
    ///
    /// # Errors
    ///
    /// As [`LogWriter::open`].
    pub fn open(path: &Path) -> Result<Self, LogError> {
        LogWriter::open(path).map(Self::new)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogWriter> {
        // A copier that panicked mid-write leaves at worst a buffered partial line; the writer
        // is still usable, so poisoning is ignored.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// As [`LogWriter::write`].
    ///
    /// # Errors
    ///
    /// As [`LogWriter::write`].
    pub fn write(&self, stream: Stream, data: &[u8]) -> Result<(), LogError> {
        self.lock().write(stream, data)
    }

    /// As [`LogWriter::flush_stream`].
    ///
    /// # Errors
    ///
    /// As [`LogWriter::flush_stream`].
    pub fn flush_stream(&self, stream: Stream) -> Result<(), LogError> {
        self.lock().flush_stream(stream)
    }

    /// As [`LogWriter::flush_partial`].
    ///
    /// # Errors
    ///
    /// As [`LogWriter::flush_partial`].
    pub fn flush_partial(&self) -> Result<(), LogError> {
        self.lock().flush_partial()
    }
}

/// Copies one of the container's output streams until EOF: logs everything and, for a
/// foreground `run`, echoes the raw bytes to `echo` as they arrive. Returns the bytes copied.
///
/// The stream is always drained to EOF, so the container never blocks on a full pipe:
/// a failing log write or echo does not stop the copy. Echo errors (the terminal went away)
/// only end the echo; the first log error is returned at the end. `EIO`, which a terminal's
/// master side returns once the container's side is closed, counts as EOF. At EOF the
/// stream's unterminated line is written as a partial entry.
///
/// # Errors
///
/// [`LogError::Source`] when reading `src` fails; otherwise the first [`LogError::Write`].
pub fn copy_stream(
    mut src: impl Read,
    stream: Stream,
    log: &SharedLogWriter,
    mut echo: Option<&mut dyn Write>,
) -> Result<u64, LogError> {
    let mut buf = vec![0u8; MAX_ENTRY];
    let mut total = 0u64;
    let mut first_err = None;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(source) => {
                // Keep what is buffered; the read error is what the caller needs to see.
                let _ = log.flush_stream(stream);
                return Err(LogError::Source { stream, source });
            }
        };
        total += n as u64;
        if let Some(out) = echo.as_deref_mut()
            && out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err()
        {
            // The terminal is gone; the container keeps running and keeps being logged.
            echo = None;
        }
        if let Err(e) = log.write(stream, &buf[..n]) {
            first_err.get_or_insert(e);
        }
    }
    if let Err(e) = log.flush_stream(stream) {
        first_err.get_or_insert(e);
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

#[cfg(test)]
mod tests;
