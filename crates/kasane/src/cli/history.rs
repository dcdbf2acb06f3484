//! `kasane history` / `image history` (docker-formats.md §1.6).

use clap::{ArgAction, Args};
use kasane::output::{FormatMode, ago, ellipsis, human_size_with_precision, render_rows, rfc3339};
use serde_json::json;

use super::{GlobalOptions, image_id, now_unix, open_engine};

const DEFAULT: &str =
    "table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}";
const DEFAULT_NOT_HUMAN: &str =
    "table {{.ID}}\\t{{.CreatedAt}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}";
const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// Times at or before 2000-01-01T00:00:00Z print as N/A (docker: unknown dates).
const Y2K: i64 = 946_684_800;

/// `history [OPTIONS] IMAGE`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long = "human", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set, require_equals = true)]
    human: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// The image
    image: String,
}

pub fn run(g: &GlobalOptions, a: HistoryArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let entries = engine.history(&a.image)?;
    let now = now_unix();
    let tz = jiff::tz::TimeZone::system();
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            let id = match &e.id {
                Some(id) => image_id(id, a.no_trunc),
                None => "<missing>".to_owned(),
            };
            let created_since = match e.created {
                Some(c) if c > Y2K => ago(c, now),
                _ => "N/A".to_owned(),
            };
            let created_at = match e.created.and_then(|c| jiff::Timestamp::from_second(c).ok()) {
                Some(ts) if ts.as_second() > Y2K => rfc3339(ts, &tz),
                _ => "N/A".to_owned(),
            };
            let by = e.created_by.replace('\t', " ");
            let by = if a.no_trunc { by } else { ellipsis(&by, 45) };
            let size = if a.human {
                human_size_with_precision(e.size as i64, 3)
            } else {
                e.size.to_string()
            };
            json!({
                "Comment": e.comment,
                "CreatedAt": created_at,
                "CreatedBy": by,
                "CreatedSince": created_since,
                "ID": id,
                "Size": size,
            })
        })
        .collect();
    let format = if a.quiet {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let mode = FormatMode::parse(format, if a.human { DEFAULT } else { DEFAULT_NOT_HUMAN })?;
    print!("{}", render_rows(&mode, HEADERS, &rows)?);
    Ok(0)
}
