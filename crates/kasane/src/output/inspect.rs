//! The `inspect` envelope (`docker-formats.md` §5.1; docker/cli `cli/command/inspect`).
//!
//! | `--format` | output |
//! |---|---|
//! | absent or empty | `[` objects `]` re-indented like Go `json.Indent(…, "", "    ")`, then LF; `[]` + LF when nothing matched |
//! | `json` | the same array compact on one line, then LF |
//! | a template | per object: its output + LF; an object whose execution fails is reported and skipped; an empty line if nothing was printed |
//!
//! Objects keep their key order (serde_json's `preserve_order`) and are written without HTML
//! escaping, but with U+2028/U+2029 escaped, as the daemon's encoder does. Templates are
//! parsed verbatim (docker's `templates.Parse`: no `\t` replacement, no trimming).

use serde_json::Value as Json;

use super::OutputError;
use super::json::{JsonStyle, newline, write_json};
use super::template::Template;
use super::value::{Data, Hints};

/// A parsed `docker inspect --format` value.
#[derive(Debug)]
pub enum InspectFormat {
    /// No format: the indented JSON array.
    Indented,
    /// `json`: the compact JSON array.
    Json,
    /// A Go template, executed per object.
    Template(Template),
}

impl InspectFormat {
    /// Parses the `--format` value (`None` when absent).
    ///
    /// # Errors
    ///
    /// [`OutputError::Parse`] for an unparseable template: docker exits 64 before doing
    /// anything else.
    pub fn parse(format: Option<&str>) -> Result<Self, OutputError> {
        match format {
            None | Some("") => Ok(InspectFormat::Indented),
            Some("json") => Ok(InspectFormat::Json),
            Some(source) => Ok(InspectFormat::Template(Template::parse(source)?)),
        }
    }
}

/// What `docker inspect` prints: stdout, plus the per-object template errors docker reports
/// on stderr (joined by LF) before exiting 1.
#[derive(Debug)]
pub struct InspectOutput {
    /// Everything for stdout, final LF included.
    pub stdout: String,
    /// Template execution errors, one per failed object, in order.
    pub errors: Vec<OutputError>,
}

/// Renders the found objects; `hints` gives templates the Go types of docker's inspect
/// structs (e.g. [`Hints::image_inspect`]).
pub fn render_inspect(format: &InspectFormat, objects: &[Json], hints: &Hints) -> InspectOutput {
    let mut stdout = String::new();
    let mut errors = Vec::new();
    match format {
        InspectFormat::Indented | InspectFormat::Json => {
            let style = match format {
                InspectFormat::Indented => JsonStyle::INDENTED,
                _ => JsonStyle::COMPACT,
            };
            if objects.is_empty() {
                stdout.push_str("[]");
            } else {
                stdout.push('[');
                for (i, object) in objects.iter().enumerate() {
                    if i > 0 {
                        stdout.push(',');
                    }
                    newline(&mut stdout, &style, 1);
                    write_json(&mut stdout, object, &style, 1);
                }
                newline(&mut stdout, &style, 0);
                stdout.push(']');
            }
            stdout.push('\n');
        }
        InspectFormat::Template(template) => {
            for object in objects {
                match template.execute(&Data::from_json(object, hints)) {
                    Ok(text) => {
                        stdout.push_str(&text);
                        stdout.push('\n');
                    }
                    Err(e) => errors.push(e),
                }
            }
            if stdout.is_empty() {
                stdout.push('\n');
            }
        }
    }
    InspectOutput { stdout, errors }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image() -> Json {
        json!({
            "Id": "sha256:4438967ac10e",
            "RepoTags": ["demo:1"],
            "RepoDigests": [],
            "Config": {"Env": ["PATH=/usr/bin"], "ExposedPorts": {"80/tcp": {}}, "Labels": null},
            "Size": 1982307,
            "Comment": "<b> & \u{2028}",
        })
    }

    fn render(format: Option<&str>, objects: &[Json]) -> InspectOutput {
        render_inspect(
            &InspectFormat::parse(format).unwrap(),
            objects,
            &Hints::image_inspect(),
        )
    }

    #[test]
    fn indented() {
        let want = r#"[
    {
        "Id": "sha256:4438967ac10e",
        "RepoTags": [
            "demo:1"
        ],
        "RepoDigests": [],
        "Config": {
            "Env": [
                "PATH=/usr/bin"
            ],
            "ExposedPorts": {
                "80/tcp": {}
            },
            "Labels": null
        },
        "Size": 1982307,
        "Comment": "<b> & \u2028"
    }
]
"#;
        let out = render(None, &[image()]);
        assert_eq!(out.stdout, want);
        assert!(out.errors.is_empty());
    }

    #[test]
    #[rustfmt::skip]
    fn envelopes() {
        let two = [json!({"Id": "a"}), json!({"Id": "b", "X": {}})];
        let cases: [(Option<&str>, &[Json], &str); 7] = [
            (None, &[], "[]\n"),
            (Some(""), &[], "[]\n"),
            (Some("json"), &[], "[]\n"),
            (Some("json"), &two, "[{\"Id\":\"a\"},{\"Id\":\"b\",\"X\":{}}]\n"),
            (None, &two, "[\n    {\n        \"Id\": \"a\"\n    },\n    {\n        \"Id\": \"b\",\n        \"X\": {}\n    }\n]\n"),
            (Some("{{.Id}}"), &two, "a\nb\n"),
            (Some("{{.Id}}"), &[], "\n"),
        ];
        for (format, objects, want) in cases {
            assert_eq!(render(format, objects).stdout, want, "{format:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn template_keeps_backslash_t() {
        assert_eq!(render(Some("{{.Id}}\\t"), &[json!({"Id": "a"})]).stdout, "a\\t\n");
    }

    #[test]
    #[rustfmt::skip]
    fn failed_objects_are_reported_and_skipped() {
        let objects = [json!({"RepoDigests": ["alpine@sha256:x"]}), json!({"RepoDigests": []})];
        let out = render(Some("{{index .RepoDigests 0}}"), &objects);
        assert_eq!(out.stdout, "alpine@sha256:x\n");
        assert_eq!(out.errors.len(), 1);
        assert_eq!(
            out.errors[0].to_string(),
            "template parsing error: template: executing \"\": error calling index: index out of range: 0"
        );
        let none = render(Some("{{index .RepoDigests 0}}"), &objects[1..]);
        assert_eq!((none.stdout.as_str(), none.errors.len()), ("\n", 1));
    }

    #[test]
    #[rustfmt::skip]
    fn unparseable_template() {
        let err = InspectFormat::parse(Some("{{.Id")).unwrap_err();
        assert_eq!(err.kind(), super::super::ErrorKind::TemplateParse);
        assert_eq!(err.to_string(), "template parsing error: template: :1: unclosed action");
        assert_eq!(err.template(), "{{.Id");
    }
}
