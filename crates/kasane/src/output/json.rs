//! Go `encoding/json` output for `serde_json::Value`: escaping, key order, `json.Indent` layout.
//!
//! Go escapes `"`, `\`, control characters (`\b \f \n \r \t` short, others `\u00XX`) and always
//! U+2028/U+2029; `json.Marshal` also escapes `<`, `>`, `&` (HTML escaping), while the daemon
//! and docker's `json` template function turn that off. `json.Indent` keeps empty arrays and
//! objects compact (`[]`, `{}`) and writes `": "` after keys.

use serde_json::Value as Json;

use super::number::format_json;

/// How to lay out and escape JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonStyle {
    /// `Some(unit)` for `json.Indent(prefix "", indent unit)`, `None` for compact.
    pub indent: Option<&'static str>,
    /// Escape `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026` (`json.Marshal`).
    pub escape_html: bool,
    /// Sort object keys (Go maps); otherwise keep the value's order (Go structs).
    pub sort_keys: bool,
}

impl JsonStyle {
    /// Compact, no HTML escaping, keys as given (the daemon's encoder, docker's `json`).
    pub const COMPACT: JsonStyle = JsonStyle {
        indent: None,
        escape_html: false,
        sort_keys: false,
    };
    /// `json.Indent(…, "", "    ")` over the daemon's bodies (`docker inspect`).
    pub const INDENTED: JsonStyle = JsonStyle {
        indent: Some("    "),
        escape_html: false,
        sort_keys: false,
    };
    /// `json.Marshal` of a map: sorted keys, HTML escaping (list commands' `{{json .}}`).
    pub const MARSHAL_MAP: JsonStyle = JsonStyle {
        indent: None,
        escape_html: true,
        sort_keys: true,
    };
}

/// Writes `s` as a JSON string literal the way Go's encoder does.
pub(crate) fn write_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a JSON number as Go prints it (integers verbatim, floats per `encoding/json`).
pub(crate) fn write_number(out: &mut String, n: &serde_json::Number) {
    if n.is_i64() || n.is_u64() {
        out.push_str(&n.to_string());
    } else {
        // serde_json never holds NaN or infinities; `null` is what Go would refuse to write.
        match n.as_f64().and_then(format_json) {
            Some(text) => out.push_str(&text),
            None => out.push_str("null"),
        }
    }
}

/// Writes `value` with `style`, starting at nesting `depth` (for indentation).
pub(crate) fn write_json(out: &mut String, value: &Json, style: &JsonStyle, depth: usize) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => write_number(out, n),
        Json::String(s) => write_string(out, s, style.escape_html),
        Json::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, style, depth + 1);
                write_json(out, item, style, depth + 1);
            }
            newline(out, style, depth);
            out.push(']');
        }
        Json::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, style, depth + 1);
                write_string(out, key, style.escape_html);
                out.push(':');
                if style.indent.is_some() {
                    out.push(' ');
                }
                write_json(out, item, style, depth + 1);
            }
            newline(out, style, depth);
            out.push('}');
        }
    }
}

/// With indentation on: a line break, then `depth` indent units.
pub(crate) fn newline(out: &mut String, style: &JsonStyle, depth: usize) {
    if let Some(unit) = style.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    }
}

/// `value` as one string with `style`.
pub(crate) fn to_string(value: &Json, style: &JsonStyle) -> String {
    let mut out = String::new();
    write_json(&mut out, value, style, 0);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    macro_rules! cases {
        ($($name:ident: $style:expr, $value:expr => $want:expr;)*) => {
            $(#[test] fn $name() { assert_eq!(to_string(&$value, &$style), $want); })*
        };
    }

    cases! {
        compact_keeps_order: JsonStyle::COMPACT, json!({"b": 1, "a": [1, 2]}) => r#"{"b":1,"a":[1,2]}"#;
        compact_no_html_escape: JsonStyle::COMPACT, json!("<none> & co") => r#""<none> & co""#;
        marshal_escapes_html: JsonStyle::MARSHAL_MAP, json!({"b": "<none>", "a": "x&y"}) => r#"{"a":"x\u0026y","b":"\u003cnone\u003e"}"#;
        line_separators_always: JsonStyle::COMPACT, json!("a\u{2028}b\u{2029}") => r#""a\u2028b\u2029""#;
        controls: JsonStyle::COMPACT, json!("\u{8}\u{c}\n\r\t\u{1}\u{1b}\u{7f}") => "\"\\b\\f\\n\\r\\t\\u0001\\u001b\u{7f}\"";
        quotes: JsonStyle::COMPACT, json!("a\"b\\c/") => r#""a\"b\\c/""#;
        floats: JsonStyle::COMPACT, json!([1.5, 1e21, 1e-7, -0.25]) => "[1.5,1e+21,1e-7,-0.25]";
        big_ints: JsonStyle::COMPACT, json!([u64::MAX, i64::MIN]) => "[18446744073709551615,-9223372036854775808]";
        indented_empty: JsonStyle::INDENTED, json!({"a": [], "b": {}, "c": null}) => "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": null\n}";
        indented_nested: JsonStyle::INDENTED, json!([{"RepoTags": ["demo:1"], "Size": 1}])
            => "[\n    {\n        \"RepoTags\": [\n            \"demo:1\"\n        ],\n        \"Size\": 1\n    }\n]";
        indented_empty_top: JsonStyle::INDENTED, json!([]) => "[]";
    }
}
