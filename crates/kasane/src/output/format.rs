//! `--format` of list commands (`docker-formats.md` §1.1; docker/cli `formatter.go`).
//!
//! | `--format` | mode |
//! |---|---|
//! | absent, empty or `table` | the command's default table template |
//! | `json` (exactly) | one compact JSON object per row (`json.Marshal`: sorted keys, `<>&` escaped) |
//! | `table…` | strip `table`, trim spaces: header row + rows through the tabwriter |
//! | anything else | custom template: rows only, no tabwriter (TABs stay TABs) |
//!
//! In templates the two-character sequences `\t` and `\n` become TAB and LF before parsing,
//! and the result is trimmed of U+0020 at both ends (docker `preFormat`). Each row is the
//! template output plus LF. In table mode the header is the same template run against
//! *field → HEADER* with the formatting functions as identities.

use serde_json::{Map, Value as Json};

use super::OutputError;
use super::tabwriter::tabwrite;
use super::template::Template;
use super::value::{Data, Hints, row_json};

/// A parsed `--format` flag of a list command.
#[derive(Debug)]
pub enum FormatMode {
    /// `table …`: header plus rows, aligned by the tabwriter.
    Table(Template),
    /// `json`: `{{json .}}` per row.
    Json,
    /// A custom template: rows only, no header, no alignment.
    Raw(Template),
}

impl FormatMode {
    /// Parses the `--format` value (`None` when absent) with the command's default table
    /// template (which starts with `table`, e.g. `table {{.Repository}}\t{{.Tag}}`).
    ///
    /// # Errors
    ///
    /// [`OutputError::Parse`] when the template does not parse.
    pub fn parse(flag: Option<&str>, default_table: &str) -> Result<Self, OutputError> {
        let format = match flag {
            None | Some("") | Some("table") => default_table,
            Some(other) => other,
        };
        if format == "json" {
            return Ok(FormatMode::Json);
        }
        match format.strip_prefix("table") {
            Some(rest) => {
                let source = replace_escapes(rest.trim_matches(' '));
                Ok(FormatMode::Table(Template::parse(&source)?))
            }
            None => {
                let source = replace_escapes(format.trim_matches(' '));
                Ok(FormatMode::Raw(Template::parse(&source)?))
            }
        }
    }
}

/// Replaces the two-character sequences `\t` and `\n` with TAB and LF, left to right
/// (Go `strings.NewReplacer(`\t`, "\t", `\n`, "\n")`).
pub fn replace_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('t') => {
                    chars.next();
                    out.push('\t');
                    continue;
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// Renders a list command's rows.
///
/// `header` maps each field to its column title (`("ID", "IMAGE ID")`); `rows` are JSON
/// objects holding every field of docker's row context as already-formatted values (docker's
/// row methods return strings: `"Size": "1.98MB"`). Rows are executed with
/// `missingkey=error`, so `{{.Nope}}` fails like docker's `can't evaluate field Nope`.
///
/// # Errors
///
/// [`OutputError::Execute`] if the template fails on a row; nothing is rendered then.
pub fn render_rows(
    mode: &FormatMode,
    header: &[(&str, &str)],
    rows: &[Json],
) -> Result<String, OutputError> {
    match mode {
        FormatMode::Json => Ok(rows
            .iter()
            .map(|row| {
                let mut line = row_json(row);
                line.push('\n');
                line
            })
            .collect()),
        FormatMode::Raw(template) => execute_rows(template, rows),
        FormatMode::Table(template) => {
            let body = execute_rows(template, rows)?;
            let header_map: Map<String, Json> = header
                .iter()
                .map(|(field, title)| ((*field).to_string(), Json::from(*title)))
                .collect();
            let header_data = Data::from_json(&Json::Object(header_map), &Hints::new());
            let mut text = template.execute_header(&header_data);
            text.push('\n');
            text.push_str(&body);
            Ok(tabwrite(&text))
        }
    }
}

fn execute_rows(template: &Template, rows: &[Json]) -> Result<String, OutputError> {
    let mut out = String::new();
    for row in rows {
        out.push_str(&template.execute_strict(&Data::row(row))?);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const IMAGES: &str = "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\\t{{.Size}}";
    const IMAGES_HEADER: [(&str, &str); 7] = [
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
    ];

    fn rows() -> Vec<Json> {
        vec![
            json!({"Repository": "demo", "Tag": "1", "ID": "4438967ac10e", "Digest": "<none>",
                   "CreatedSince": "About a minute ago", "CreatedAt": "2026-11-22 13:07:22 +0000 UTC", "Size": "1.98MB"}),
            json!({"Repository": "<none>", "Tag": "<none>", "ID": "656d11b0c211", "Digest": "<none>",
                   "CreatedSince": "2 minutes ago", "CreatedAt": "2026-11-22 13:06:22 +0000 UTC", "Size": "1.98MB"}),
        ]
    }

    fn render(flag: Option<&str>, rows: &[Json]) -> String {
        let mode = FormatMode::parse(flag, IMAGES).unwrap();
        render_rows(&mode, &IMAGES_HEADER, rows).unwrap()
    }

    macro_rules! cases {
        ($($name:ident: $flag:expr, $rows:expr => $want:expr;)*) => {
            $(#[test] fn $name() { assert_eq!(render($flag, &$rows), $want); })*
        };
    }

    cases! {
        default_table: None, rows() => "REPOSITORY   TAG       IMAGE ID       CREATED              SIZE\ndemo         1         4438967ac10e   About a minute ago   1.98MB\n<none>       <none>    656d11b0c211   2 minutes ago        1.98MB\n";
        word_table_is_default: Some("table"), rows() => render(None, &rows());
        empty_flag_is_default: Some(""), rows() => render(None, &rows());
        empty_table: None, [] => "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n";
        custom_table: Some("table {{.Repository}}:{{.Tag}}\\t{{.Size}}"), rows()
            => "REPOSITORY:TAG   SIZE\ndemo:1           1.98MB\n<none>:<none>    1.98MB\n";
        table_header_functions: Some("table {{upper .Tag}}\\t{{pad .Size 1 1}}|\\t{{truncate (lower .ID) 3}}"), rows()[..1]
            => "TAG        SIZE |     IMAGE ID\n1          1.98MB |   443\n";
        table_header_json_dot_is_empty: Some("table {{json .}}"), []
            => "\n";
        raw_keeps_tabs: Some("{{.ID}}\\t{{.Size}}"), rows()
            => "4438967ac10e\t1.98MB\n656d11b0c211\t1.98MB\n";
        raw_is_trimmed: Some("  {{.ID}} "), rows() => "4438967ac10e\n656d11b0c211\n";
        raw_quiet: Some("{{.ID}}"), rows() => "4438967ac10e\n656d11b0c211\n";
        raw_json_dot: Some("{{json .}}"), rows()[..1]
            => "{\"CreatedAt\":\"2026-11-22 13:07:22 +0000 UTC\",\"CreatedSince\":\"About a minute ago\",\"Digest\":\"\\u003cnone\\u003e\",\"ID\":\"4438967ac10e\",\"Repository\":\"demo\",\"Size\":\"1.98MB\",\"Tag\":\"1\"}\n";
        raw_json_field_unescaped: Some("{{json .Digest}}"), rows()[..1] => "\"<none>\"\n";
        json_mode: Some("json"), rows()[..1]
            => "{\"CreatedAt\":\"2026-11-22 13:07:22 +0000 UTC\",\"CreatedSince\":\"About a minute ago\",\"Digest\":\"\\u003cnone\\u003e\",\"ID\":\"4438967ac10e\",\"Repository\":\"demo\",\"Size\":\"1.98MB\",\"Tag\":\"1\"}\n";
        json_mode_empty: Some("json"), [] => "";
        raw_newline_escape: Some("{{.ID}}\\n--"), rows()[..1] => "4438967ac10e\n--\n";
        history_trailing_padding: Some("table {{.Size}}\\t{{.Digest}}"), [json!({"Size": "0B", "Digest": ""})]
            => "SIZE      DIGEST\n0B        \n";
    }

    #[test]
    fn unknown_field_is_an_execution_error() {
        let mode = FormatMode::parse(Some("{{.Nope}}"), IMAGES).unwrap();
        let err = render_rows(&mode, &IMAGES_HEADER, &rows()).unwrap_err();
        assert_eq!(err.kind(), super::super::ErrorKind::TemplateExecute);
        assert_eq!(
            err.to_string(),
            "template parsing error: template: executing \"\": map has no entry for key \"Nope\""
        );
    }

    #[test]
    fn unparseable_format() {
        let err = FormatMode::parse(Some("table {{.ID"), IMAGES).unwrap_err();
        assert_eq!(err.kind(), super::super::ErrorKind::TemplateParse);
        assert_eq!(
            err.to_string(),
            "template parsing error: template: :1: unclosed action"
        );
    }

    #[test]
    #[rustfmt::skip]
    fn escapes() {
        let cases = [
            ("a\\tb", "a\tb"),
            ("a\\nb", "a\nb"),
            ("a\\\\tb", "a\\\tb"),
            ("\\x", "\\x"),
            ("end\\", "end\\"),
            ("名\\t前", "名\t前"),
        ];
        for (input, want) in cases {
            assert_eq!(replace_escapes(input), want, "{input}");
        }
    }
}
