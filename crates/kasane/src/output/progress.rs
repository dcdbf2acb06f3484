//! docker's pull/push progress stream (docker-formats.md §1.10), in three renderings.
//!
//! - **Plain** (no tty): a line `<id>: <status>` per message, skipping progress-only messages
//!   (those with a current/total), exactly as docker's jsonmessage does without a terminal.
//! - **Tty**: each id owns a line, rewritten in place with cursor movements, with a bar
//!   `[=====>     ]  1.2MB/3.4MB` while bytes move.
//! - **Json** (`--progress=json`): one JSON message per line, `{"status","id",
//!   "progressDetail":{"current","total"}}`, for machines.
//!
//! Messages come from worker threads; a mutex keeps lines whole.

use std::io::Write;
use std::sync::Mutex;

use crate::output::human_size_with_precision;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Cursor-addressed lines with bars.
    Tty,
    /// One line per status change.
    Plain,
    /// JSON messages.
    Json,
    /// Nothing (`-q`).
    Quiet,
}

impl ProgressMode {
    /// `auto|tty|plain|json|quiet` (auto: tty when stdout is a terminal).
    ///
    /// # Errors
    /// A message naming the value.
    pub fn parse(s: &str, stdout_is_tty: bool) -> Result<ProgressMode, String> {
        match s {
            "auto" if stdout_is_tty => Ok(ProgressMode::Tty),
            "auto" | "plain" => Ok(ProgressMode::Plain),
            "tty" => Ok(ProgressMode::Tty),
            "json" | "rawjson" => Ok(ProgressMode::Json),
            "quiet" | "none" => Ok(ProgressMode::Quiet),
            other => Err(format!(
                "invalid progress mode {other:?}: use auto, tty, plain, json or quiet"
            )),
        }
    }
}

/// A progress stream onto a writer (stdout or stderr).
pub struct Progress<W: Write + Send> {
    mode: ProgressMode,
    state: Mutex<State<W>>,
}

struct State<W> {
    out: W,
    /// Ids in the order their lines were printed (tty mode).
    lines: Vec<String>,
    width: usize,
}

impl<W: Write + Send> Progress<W> {
    /// A stream in `mode` onto `out`; `width` is the terminal width (bars need > 110).
    pub fn new(mode: ProgressMode, out: W, width: usize) -> Self {
        Progress {
            mode,
            state: Mutex::new(State {
                out,
                lines: Vec::new(),
                width,
            }),
        }
    }

    /// The mode.
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// A message without an id (`Digest: …`, `Status: …`): ends the block of id lines.
    pub fn line(&self, text: &str) {
        let mut st = self.lock();
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Json => {
                let msg = serde_json::json!({ "status": text });
                let _ = writeln!(st.out, "{msg}");
            }
            ProgressMode::Plain | ProgressMode::Tty => {
                st.lines.clear();
                let _ = writeln!(st.out, "{text}");
            }
        }
        let _ = st.out.flush();
    }

    /// A status for `id`, with `(current, total)` bytes while data moves.
    pub fn update(&self, id: &str, status: &str, detail: Option<(u64, u64)>) {
        let mut st = self.lock();
        match self.mode {
            ProgressMode::Quiet => return,
            ProgressMode::Json => {
                let mut msg = serde_json::json!({ "status": status, "id": id });
                if let Some((current, total)) = detail {
                    msg["progressDetail"] = serde_json::json!({"current": current, "total": total});
                    msg["progress"] = serde_json::Value::String(bar(current, total, 200));
                }
                let _ = writeln!(st.out, "{msg}");
            }
            ProgressMode::Plain => {
                if detail.is_none() {
                    let _ = writeln!(st.out, "{id}: {status}");
                }
            }
            ProgressMode::Tty => {
                let text = match detail {
                    Some((c, t)) => format!("{id}: {status} {}", bar(c, t, st.width)),
                    None => format!("{id}: {status}"),
                };
                match st.lines.iter().position(|l| l == id) {
                    Some(i) => {
                        let up = st.lines.len() - i;
                        let _ = write!(st.out, "\x1b[{up}A\x1b[2K\r{text}\r\x1b[{up}B");
                    }
                    None => {
                        st.lines.push(id.to_owned());
                        let _ = writeln!(st.out, "\x1b[2K\r{text}");
                    }
                }
            }
        }
        let _ = st.out.flush();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<W>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.state
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .out
    }
}

/// docker's progress bar: `[==>   ]   1.2MB/3.4MB` (the box only on wide terminals).
pub fn bar(current: u64, total: u64, width: usize) -> String {
    let size = |n: u64| human_size_with_precision(i64::try_from(n).unwrap_or(i64::MAX), 4);
    let mut out = String::new();
    if total > 0 && width > 110 {
        let percent = (current.min(total) * 100 / total) as usize;
        let bars = percent / 2;
        out.push('[');
        out.push_str(&"=".repeat(bars));
        if bars < 50 {
            out.push('>');
            out.push_str(&" ".repeat(49 - bars));
        }
        out.push_str("] ");
    }
    if total > 0 {
        out.push_str(&format!("{:>8}/{}", size(current), size(total)));
    } else {
        out.push_str(&format!("{:>8}", size(current)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_skips_progress_only_messages() {
        let p = Progress::new(ProgressMode::Plain, Vec::new(), 80);
        p.update("c6a83fedfae6", "Pulling fs layer", None);
        p.update("c6a83fedfae6", "Downloading", Some((10, 100)));
        p.update("c6a83fedfae6", "Pull complete", None);
        p.line("Digest: sha256:ab");
        let out = String::from_utf8(p.into_inner()).unwrap();
        assert_eq!(
            out,
            "c6a83fedfae6: Pulling fs layer\nc6a83fedfae6: Pull complete\nDigest: sha256:ab\n"
        );
    }

    #[test]
    fn tty_rewrites_the_line_of_an_id() {
        let p = Progress::new(ProgressMode::Tty, Vec::new(), 120);
        p.update("a", "Pulling fs layer", None);
        p.update("b", "Pulling fs layer", None);
        p.update("a", "Downloading", Some((50, 100)));
        let out = String::from_utf8(p.into_inner()).unwrap();
        assert!(out.contains("\x1b[2A\x1b[2K\ra: Downloading [=========================>"));
        assert!(out.ends_with("50B/100B\r\x1b[2B"), "{out:?}");
    }

    #[test]
    fn bar_matches_docker() {
        assert_eq!(bar(0, 0, 80), "      0B");
        assert_eq!(bar(1_200_000, 3_400_000, 80), "   1.2MB/3.4MB");
        let full = bar(100, 100, 120);
        assert!(
            full.starts_with(&format!("[{}] ", "=".repeat(50))),
            "{full}"
        );
    }

    #[test]
    fn json_messages() {
        let p = Progress::new(ProgressMode::Json, Vec::new(), 80);
        p.update("a", "Downloading", Some((1, 2)));
        let out = String::from_utf8(p.into_inner()).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["progressDetail"]["total"], 2);
        assert_eq!(v["id"], "a");
    }
}
