//! Docker's user-visible output formats, byte for byte: pure formatting, no engine knowledge.
//!
//! Owns: everything between "the command has its data as JSON" and "bytes on stdout":
//!
//! ```text
//! output/
//! ├── size.rs        HumanSize, HumanSizeWithPrecision, BytesSize            (§3)
//! ├── duration.rs    HumanDuration, "… ago", Go Time.String(), RFC 3339      (§4)
//! ├── tabwriter.rs   docker's tabwriter, Ellipsis, strconv.Quote              (§1.2, §1.3)
//! ├── template.rs    Go templates + docker's functions, parse vs exec errors (§6, §7)
//! ├── value.rs       JSON → template data that prints like Go's typed values  (§6)
//! ├── format.rs      --format modes of list commands: table, json, raw       (§1.1)
//! ├── inspect.rs     the inspect envelope: indented, json, template          (§5.1)
//! ├── json.rs        Go encoding/json escaping and json.Indent layout
//! ├── rawjson.rs     json.Indent / json.Compact over raw bytes (manifests as served)
//! └── number.rs      Go %g / %v / JSON float formatting
//! ```
//!
//! Lifecycle of a list command (`docker images`):
//!
//! ```
//! use kasane::output::{FormatMode, render_rows};
//! let mode = FormatMode::parse(None, "table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}").unwrap();
//! let rows = [serde_json::json!({"Repository": "demo", "Tag": "1", "Size": "1.98MB"})];
//! let out = render_rows(&mode, &[("Repository", "REPOSITORY"), ("Tag", "TAG"), ("Size", "SIZE")], &rows).unwrap();
//! assert_eq!(out, "REPOSITORY   TAG       SIZE\ndemo         1         1.98MB\n");
//! ```
//!
//! and of `docker inspect`:
//!
//! ```
//! use kasane::output::{Hints, InspectFormat, render_inspect};
//! let format = InspectFormat::parse(Some("{{.Size}}")).unwrap();
//! let out = render_inspect(&format, &[serde_json::json!({"Size": 1982307})], &Hints::image_inspect());
//! assert_eq!(out.stdout, "1982307\n");
//! assert!(out.errors.is_empty());
//! ```
//!
//! Everything here is a pure function of its input (the local time zone is passed in by the
//! caller); nothing does I/O.
//!
//! Spec: `/work/shared/design/docker-formats.md` §1–§7.

mod duration;
mod format;
mod inspect;
mod json;
mod number;
mod rawjson;
mod size;
mod tabwriter;
mod template;
mod value;

pub mod progress;

pub use duration::{
    ago, go_time_string, go_time_string_of_rfc3339, human_duration, human_duration_secs, rfc3339,
    rfc3339_nano,
};
pub use format::{FormatMode, render_rows, replace_escapes};
pub use inspect::{InspectFormat, InspectOutput, render_inspect};
pub use rawjson::{go_compact, go_indent};
pub use size::{bytes_size, human_size, human_size_with_precision};
pub use tabwriter::{TabOptions, ellipsis, go_quote, tabwrite, tabwrite_with};
pub use template::Template;
pub use value::{Data, GoType, Hints};

/// What went wrong while formatting; [`OutputError::kind`] maps it to docker's exit code.
///
/// `Display` is docker's stderr text, e.g.
/// `template parsing error: template: :1: unclosed action`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The template does not parse (docker exits 64 for `inspect`, 1 for list commands).
    #[error("template parsing error: template: :{line}: {message}")]
    Parse {
        /// The template text.
        template: String,
        /// 1-based line of the error in the template.
        line: usize,
        /// Go's message, e.g. `unclosed action`, `function "foo" not defined`.
        message: String,
    },
    /// The template parsed but failed on the data (docker exits 1).
    #[error("template parsing error: template: executing \"\": {message}")]
    Execute {
        /// The template text.
        template: String,
        /// What failed, e.g. `error calling index: index out of range: 5`.
        message: String,
    },
}

/// Classes of [`OutputError`], for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An unparseable template: `docker inspect` exits 64, list commands 1.
    TemplateParse,
    /// A template that failed while executing: exit 1.
    TemplateExecute,
}

impl OutputError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OutputError::Parse { .. } => ErrorKind::TemplateParse,
            OutputError::Execute { .. } => ErrorKind::TemplateExecute,
        }
    }

    /// The template the error is about.
    pub fn template(&self) -> &str {
        match self {
            OutputError::Parse { template, .. } | OutputError::Execute { template, .. } => template,
        }
    }
}
