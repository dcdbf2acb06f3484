//! Reading a json-file log back for `logs`: `--tail`, `--since`/`--until`, `-t` and `-f`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};

use super::{Entry, LogError, POLL_INTERVAL, Stream, format_time, parse_entry};

/// What `logs` prints (its flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogReadOptions {
    /// `-f`: keep printing new entries until the container stops.
    pub follow: bool,
    /// `--tail N`: only the last `N` entries of the file (then new ones, with `follow`).
    pub tail: Option<usize>,
    /// `--since`: only entries at or after this time.
    pub since: Option<Timestamp>,
    /// `--until`: only entries at or before this time; `follow` ends once it has passed.
    pub until: Option<Timestamp>,
    /// `-t`: prefix each entry with its time and a space.
    pub timestamps: bool,
}

/// Reads a log file incrementally: whole lines only, the torn tail kept for the next read.
struct LogReader {
    path: PathBuf,
    file: Option<File>,
    pending: Vec<u8>,
    buf: Vec<u8>,
    /// Opened in the middle of a line: drop everything up to its end.
    skip_partial: bool,
}

impl LogReader {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            file: None,
            pending: Vec::new(),
            buf: vec![0; 64 * 1024],
            skip_partial: false,
        }
    }

    /// A reader that starts at byte `offset` of the file, from the first line that begins
    /// there or after. A missing file reads as empty.
    fn at(path: &Path, offset: u64) -> Result<Self, LogError> {
        use std::io::{Seek, SeekFrom};
        use std::os::unix::fs::FileExt;
        let mut r = Self::new(path);
        let read_err = |source| LogError::Read {
            path: path.to_owned(),
            source,
        };
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(r),
            Err(source) => return Err(read_err(source)),
        };
        if offset > 0 {
            let mut before = [0u8; 1];
            file.read_exact_at(&mut before, offset - 1)
                .map_err(read_err)?;
            r.skip_partial = before[0] != b'\n';
            file.seek(SeekFrom::Start(offset)).map_err(read_err)?;
        }
        r.file = Some(file);
        Ok(r)
    }

    /// Calls `each` for every complete, well-formed entry appended since the last call;
    /// returns whether anything was read. A missing file has no entries (yet).
    fn read_available(
        &mut self,
        each: &mut dyn FnMut(Entry) -> Result<(), LogError>,
    ) -> Result<bool, LogError> {
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(f) => self.file = Some(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(source) => {
                    return Err(LogError::Read {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(false);
        };
        let mut any = false;
        loop {
            let n = match file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(LogError::Read {
                        path: self.path.clone(),
                        source,
                    });
                }
            };
            any = true;
            self.pending.extend_from_slice(&self.buf[..n]);
            if self.skip_partial {
                match self.pending.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        self.pending.drain(..=end);
                        self.skip_partial = false;
                    }
                    None => {
                        self.pending.clear();
                        continue;
                    }
                }
            }
            let Some(last_nl) = self.pending.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let complete: Vec<u8> = self.pending.drain(..=last_nl).collect();
            for line in complete.split(|&b| b == b'\n') {
                // Malformed lines (a crash mid-write, someone else's junk) are skipped.
                if let Some(entry) = parse_entry(line) {
                    each(entry)?;
                }
            }
        }
        Ok(any)
    }

    /// The last, unterminated line, if it is a whole entry (the writer died before `\n`).
    fn finish(
        &mut self,
        each: &mut dyn FnMut(Entry) -> Result<(), LogError>,
    ) -> Result<(), LogError> {
        let rest = std::mem::take(&mut self.pending);
        match parse_entry(&rest) {
            Some(entry) => each(entry),
            None => Ok(()),
        }
    }
}

/// Prints a container's log: each entry's raw text to `stdout` or `stderr` by its stream,
/// filtered and tailed by `opts`.
///
/// With `opts.follow`, keeps polling the file for new entries until `still_running()` is
/// false and everything written before that is printed (or `until` has passed). A missing log
/// file prints nothing; malformed lines are skipped.
///
/// # Errors
///
/// [`LogError::Read`] when the file cannot be read, [`LogError::Output`] when writing to
/// `stdout` or `stderr` fails.
pub fn read_logs(
    path: &Path,
    opts: &LogReadOptions,
    still_running: &dyn Fn() -> bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), LogError> {
    let mut reader;
    let mut printer = Printer {
        stdout,
        stderr,
        timestamps: opts.timestamps,
        since: opts.since,
        until: opts.until,
    };

    // What is in the file now: docker takes the last N entries, then filters them by time.
    let mut running = opts.follow && still_running();
    match opts.tail {
        Some(n) => {
            let (last, at_end) = tail(path, n, !running)?;
            reader = at_end;
            for e in last {
                printer.print_in_window(e)?;
            }
        }
        None => {
            reader = LogReader::new(path);
            let mut each = |e: Entry| printer.print_in_window(e);
            reader.read_available(&mut each)?;
            if !running {
                reader.finish(&mut each)?;
            }
        }
    }
    printer.flush()?;

    while running {
        if opts.until.is_some_and(|u| Timestamp::now() > u) {
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
        // Checked before reading: whatever the container wrote before it stopped is in the
        // file by now, so this read drains it.
        running = still_running();
        let mut each = |e: Entry| printer.print_in_window(e);
        reader.read_available(&mut each)?;
        if !running {
            reader.finish(&mut each)?;
        }
        printer.flush()?;
    }
    Ok(())
}

/// Bytes from the end of the log that `--tail` reads first.
const TAIL_WINDOW: u64 = 64 * 1024;

/// The last `n` entries of the log at `path` (the torn last line too when `finished`), and
/// the reader, now at the end, for `-f`. Reads only the end of the file: a window from the
/// end, grown until it holds `n` entries or is the whole file, so `--tail` of a large log
/// costs what the tail costs.
fn tail(path: &Path, n: usize, finished: bool) -> Result<(VecDeque<Entry>, LogReader), LogError> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(source) => {
            return Err(LogError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut window = if n == 0 {
        0
    } else {
        TAIL_WINDOW.max(u64::try_from(n).unwrap_or(u64::MAX).saturating_mul(256))
    };
    loop {
        let offset = len.saturating_sub(window);
        let mut reader = LogReader::at(path, offset)?;
        let mut last: VecDeque<Entry> = VecDeque::with_capacity(n.min(4096));
        let mut keep = |e: Entry| -> Result<(), LogError> {
            if n > 0 {
                if last.len() == n {
                    last.pop_front();
                }
                last.push_back(e);
            }
            Ok(())
        };
        reader.read_available(&mut keep)?;
        if finished {
            reader.finish(&mut keep)?;
        }
        if last.len() >= n || offset == 0 {
            return Ok((last, reader));
        }
        window = window.saturating_mul(4);
    }
}

/// Where [`read_logs`] prints entries.
struct Printer<'a> {
    stdout: &'a mut dyn Write,
    stderr: &'a mut dyn Write,
    timestamps: bool,
    /// `--since`: entries before it are skipped.
    since: Option<Timestamp>,
    /// `--until`: entries after it are skipped.
    until: Option<Timestamp>,
}

impl Printer<'_> {
    /// Prints `e` if its time is within `--since`/`--until` (both inclusive); the one filter
    /// for what is in the file and what follows.
    fn print_in_window(&mut self, e: Entry) -> Result<(), LogError> {
        let in_window =
            self.since.is_none_or(|s| e.time >= s) && self.until.is_none_or(|u| e.time <= u);
        if in_window { self.print(e) } else { Ok(()) }
    }

    fn print(&mut self, e: Entry) -> Result<(), LogError> {
        let out: &mut dyn Write = match e.stream {
            Stream::Stdout => &mut *self.stdout,
            Stream::Stderr => &mut *self.stderr,
        };
        if self.timestamps {
            write!(out, "{} ", format_time(e.time)).map_err(LogError::Output)?;
        }
        out.write_all(e.log.as_bytes()).map_err(LogError::Output)
    }

    fn flush(&mut self) -> Result<(), LogError> {
        self.stdout.flush().map_err(LogError::Output)?;
        self.stderr.flush().map_err(LogError::Output)
    }
}

/// Parses `logs --since`/`--until` as docker does, relative to `now`:
/// - RFC 3339 with `Z` or an offset, with or without fractional seconds
///   (`2026-11-22T19:24:47.5Z`, `2026-11-22T20:24:47+01:00`);
/// - a local date and time without zone (`2026-11-22T19:24:47`, `2026-11-22T19:24`,
///   `2026-11-22T19`) or a date (`2026-11-22`, midnight), in the system time zone;
/// - Unix seconds, optionally with a fraction (`1700000000`, `1700000000.123`);
/// - a Go duration (`10m`, `1h30m`, `42s`, `1.5h`, `250ms`): `now` minus it.
///
/// # Errors
///
/// [`LogError::InvalidTime`] for anything else, or a time out of range.
pub fn parse_since(s: &str, now: Timestamp) -> Result<Timestamp, LogError> {
    let bad = || LogError::InvalidTime(s.to_owned());
    let v = s.trim();
    if v.is_empty() {
        return Err(bad());
    }
    if let Some(nanos) = parse_go_duration(v) {
        let d = SignedDuration::from_nanos_i128(nanos);
        return now.checked_sub(d).map_err(|_| bad());
    }
    if let Some(t) = parse_unix(v) {
        return t.ok_or_else(bad);
    }
    if let Ok(t) = v.parse::<Timestamp>() {
        return Ok(t);
    }
    // Docker also accepts `YYYY-MM-DDTHH`; jiff wants at least the minutes.
    let padded;
    let civil_text = if v.len() == 13 && v.as_bytes().get(10) == Some(&b'T') {
        padded = format!("{v}:00");
        padded.as_str()
    } else {
        v
    };
    let civil: jiff::civil::DateTime = civil_text.parse().map_err(|_| bad())?;
    civil
        .to_zoned(jiff::tz::TimeZone::system())
        .map(|z| z.timestamp())
        .map_err(|_| bad())
}

/// `1700000000` or `1700000000.123`: `None` when `v` is not of that shape, `Some(None)` when
/// it is but out of range.
fn parse_unix(v: &str) -> Option<Option<Timestamp>> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (v.contains('.') && frac.is_empty())
    {
        return None;
    }
    let Ok(secs) = secs.parse::<i64>() else {
        return Some(None);
    };
    let digits = &frac[..frac.len().min(9)];
    let nanos = if digits.is_empty() {
        0
    } else {
        // At most nine digits: fits an i32 and scales to nanoseconds.
        let scale = 10i32.pow(9 - digits.len() as u32);
        digits.parse::<i32>().ok()? * scale
    };
    Some(Timestamp::new(secs, nanos).ok())
}

/// A Go duration (`time.ParseDuration`) in nanoseconds: an optional sign, then one or more
/// decimal numbers each with a unit `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`; `0` alone is zero.
pub(super) fn parse_go_duration(v: &str) -> Option<i128> {
    let (neg, mut rest) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            frac = &after[..n];
            rest = &after[n..];
        }
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: i128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        if int.len() > 30 {
            return None;
        }
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        total = total.checked_add(whole.checked_mul(scale)?)?;
        let frac = &frac[..frac.len().min(18)];
        if !frac.is_empty() {
            let f: i128 = frac.parse().ok()?;
            total = total.checked_add(f * scale / 10i128.pow(frac.len() as u32))?;
        }
    }
    // Go durations are an i64 of nanoseconds.
    if total > i128::from(i64::MAX) {
        return None;
    }
    Some(if neg { -total } else { total })
}
