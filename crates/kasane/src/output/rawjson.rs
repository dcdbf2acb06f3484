//! Go's `json.Indent` and `json.Compact` over raw JSON bytes: only white space changes (and,
//! for `Compact` with HTML escaping, `<`, `>`, `&`, U+2028, U+2029 inside strings), so key
//! order, number spelling and string escapes stay exactly as the document has them.
//!
//! `docker manifest inspect` prints a registry's manifest through `json.Indent(raw, "", "\t")`,
//! and its `-v` form embeds the manifest via `json.MarshalIndent`, which compacts (with HTML
//! escaping) what a `MarshalJSON` method returns and then indents the whole document.
//!
//! Both functions expect valid JSON (callers parse it first); on anything else they copy
//! bytes through without panicking.

/// Go's `json.Indent(dst, src, prefix, indent)`: leading white space is dropped, white
/// space after the top-level value is kept, empty objects and arrays stay `{}` / `[]`.
pub fn go_indent(src: &[u8], prefix: &str, indent: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len() * 2);
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend_from_slice(prefix.as_bytes());
        for _ in 0..depth {
            out.extend_from_slice(indent.as_bytes());
        }
    };
    let mut in_string = false;
    let mut escaped = false;
    let mut need_indent = false;
    let mut depth = 0usize;
    let mut nesting = 0usize;
    let mut done = false;
    for &c in src {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
                done = nesting == 0;
            }
            continue;
        }
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            if done {
                out.push(c);
            }
            continue;
        }
        if need_indent && c != b'}' && c != b']' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
            }
            b'{' | b'[' => {
                need_indent = true;
                nesting += 1;
                out.push(c);
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'}' | b']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
                nesting = nesting.saturating_sub(1);
                done = nesting == 0;
            }
            c => {
                out.push(c);
                // A top-level literal (`1`, `true`): white space after it is kept.
                done = nesting == 0;
            }
        }
    }
    out
}

/// Go's `json.Compact`, with `escape_html` as `json.Marshal` applies it to the output of a
/// `MarshalJSON` method: all insignificant white space removed.
pub fn go_compact(src: &[u8], escape_html: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        i += 1;
        if escape_html {
            match c {
                b'<' | b'>' | b'&' => {
                    out.extend_from_slice(format!("\\u00{c:02x}").as_bytes());
                    continue;
                }
                0xE2 if src.get(i) == Some(&0x80)
                    && matches!(src.get(i + 1), Some(0xA8 | 0xA9)) =>
                {
                    out.extend_from_slice(if src[i + 1] == 0xA8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_string = true;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn indent(s: &str, unit: &str) -> String {
        String::from_utf8(go_indent(s.as_bytes(), "", unit)).unwrap()
    }

    #[test]
    fn indents_like_go() {
        let raw = r#"{"schemaVersion":2,"config":{"size":1520,"digest":"sha256:ab"},"layers":[{"size":1}],"e":[],"o":{},"s":"a\"{,}:[\\"}"#;
        assert_eq!(
            indent(raw, "\t"),
            "{\n\t\"schemaVersion\": 2,\n\t\"config\": {\n\t\t\"size\": 1520,\n\t\t\"digest\": \"sha256:ab\"\n\t},\n\t\"layers\": [\n\t\t{\n\t\t\t\"size\": 1\n\t\t}\n\t],\n\t\"e\": [],\n\t\"o\": {},\n\t\"s\": \"a\\\"{,}:[\\\\\"\n}"
        );
    }

    #[test]
    fn reindents_an_indented_document_and_keeps_trailing_space() {
        let raw = "  {\n   \"a\": [ 1,\n 2.50, \"\\u00e9\" ] }\n";
        assert_eq!(
            indent(raw, "\t"),
            "{\n\t\"a\": [\n\t\t1,\n\t\t2.50,\n\t\t\"\\u00e9\"\n\t]\n}\n"
        );
    }

    #[test]
    fn compacts_with_html_escaping() {
        let raw = "{\n   \"a\": \"<b> & \u{2028}\",\n   \"n\": [ 1 , 2 ]\n}\n";
        assert_eq!(
            String::from_utf8(go_compact(raw.as_bytes(), true)).unwrap(),
            r#"{"a":"\u003cb\u003e \u0026 \u2028","n":[1,2]}"#
        );
        assert_eq!(
            String::from_utf8(go_compact(raw.as_bytes(), false)).unwrap(),
            "{\"a\":\"<b> & \u{2028}\",\"n\":[1,2]}"
        );
    }
}
