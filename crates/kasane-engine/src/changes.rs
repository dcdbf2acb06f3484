//! `--change` for `import` (and later `commit`): Dockerfile instructions that edit an image
//! config without running anything — CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER,
//! VOLUME, WORKDIR, STOPSIGNAL, as docker's `import --change` accepts them.
//!
//! The config is edited as JSON (docker's PascalCase keys) so that fields kasane does not
//! model survive untouched.

use serde_json::{Map, Value, json};

use crate::error::{EngineError, Result};

/// Applies one `--change` line to a container config object.
///
/// # Errors
/// `InvalidArgument` naming the instruction when it is unknown, not allowed, or malformed.
pub fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let change = change.trim();
    let (word, rest) = match change.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (change, ""),
    };
    let bad =
        |why: &str| EngineError::InvalidArgument(format!("invalid --change {change:?}: {why}"));
    if rest.is_empty() {
        return Err(bad("missing arguments"));
    }
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), command_form(rest));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), command_form(rest));
        }
        "ENV" => {
            let pairs = key_values(rest).map_err(|e| bad(&e))?;
            let env = config
                .entry("Env")
                .or_insert_with(|| Value::Array(Vec::new()));
            if !env.is_array() {
                *env = Value::Array(Vec::new());
            }
            if let Value::Array(list) = env {
                for (k, v) in pairs {
                    let entry = Value::String(format!("{k}={v}"));
                    let prefix = format!("{k}=");
                    match list
                        .iter_mut()
                        .find(|e| e.as_str().is_some_and(|s| s.starts_with(&prefix) || s == k))
                    {
                        Some(slot) => *slot = entry,
                        None => list.push(entry),
                    }
                }
            }
        }
        "LABEL" => {
            let pairs = key_values(rest).map_err(|e| bad(&e))?;
            let labels = object_entry(config, "Labels");
            for (k, v) in pairs {
                labels.insert(k, Value::String(v));
            }
        }
        "EXPOSE" => {
            let ports = object_entry(config, "ExposedPorts");
            for p in rest.split_whitespace() {
                let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let valid = !port.is_empty()
                    && port.split('-').all(|n| n.parse::<u16>().is_ok())
                    && matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp");
                if !valid {
                    return Err(bad(&format!("invalid port {p:?}")));
                }
                ports.insert(format!("{port}/{}", proto.to_ascii_lowercase()), json!({}));
            }
        }
        "VOLUME" => {
            let list = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(v) => v,
                Err(_) => rest.split_whitespace().map(str::to_owned).collect(),
            };
            let vols = object_entry(config, "Volumes");
            for v in list {
                vols.insert(v, json!({}));
            }
        }
        "USER" => {
            config.insert("User".into(), Value::String(rest.to_owned()));
        }
        "WORKDIR" => {
            let current = config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("/");
            let dir = if rest.starts_with('/') {
                rest.to_owned()
            } else {
                format!("{}/{}", current.trim_end_matches('/'), rest)
            };
            config.insert("WorkingDir".into(), Value::String(dir));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), Value::String(rest.to_owned()));
        }
        "ONBUILD" => {
            let list = config
                .entry("OnBuild")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(l) = list {
                l.push(Value::String(rest.to_owned()));
            }
        }
        other => {
            return Err(EngineError::InvalidArgument(format!(
                "{other} is not a valid change command"
            )));
        }
    }
    Ok(())
}

fn object_entry<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = config
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        // Just made an object above.
        _ => unreachable!("entry was set to an object"),
    }
}

/// JSON exec form `["a","b"]`, else shell form `["/bin/sh","-c","…"]`.
fn command_form(rest: &str) -> Value {
    if rest.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(rest)
    {
        return json!(list);
    }
    json!(["/bin/sh", "-c", rest])
}

/// `k=v k2="v 2"` pairs, or the legacy single `k v` form.
fn key_values(rest: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let words = split_words(rest)?;
    if !words.iter().any(|w| w.contains('=')) || !words[0].contains('=') {
        let mut it = rest.splitn(2, char::is_whitespace);
        let k = it.next().unwrap_or_default().to_owned();
        let v = it.next().unwrap_or_default().trim().to_owned();
        if v.is_empty() {
            return Err(format!("{k} needs a value"));
        }
        return Ok(vec![(k, v)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("{w:?} is not of the form key=value")),
        })
        .collect()
}

/// Splits on whitespace honouring double and single quotes and backslash escapes.
fn split_words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".to_owned());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Value {
        let mut m = Map::new();
        for c in changes {
            apply_change(&mut m, c).unwrap();
        }
        Value::Object(m)
    }

    #[test]
    fn changes_edit_the_config() {
        let cases: &[(&[&str], Value)] = &[
            (&["CMD [\"httpd\",\"-f\"]"], json!({"Cmd": ["httpd", "-f"]})),
            (
                &["CMD echo hi"],
                json!({"Cmd": ["/bin/sh", "-c", "echo hi"]}),
            ),
            (&["ENV A=b C=\"d e\""], json!({"Env": ["A=b", "C=d e"]})),
            (&["ENV A b c", "ENV A=z"], json!({"Env": ["A=z"]})),
            (
                &["EXPOSE 80 443/udp"],
                json!({"ExposedPorts": {"80/tcp": {}, "443/udp": {}}}),
            ),
            (&["LABEL a=b"], json!({"Labels": {"a": "b"}})),
            (
                &["WORKDIR /app", "WORKDIR sub"],
                json!({"WorkingDir": "/app/sub"}),
            ),
            (&["VOLUME [\"/data\"]"], json!({"Volumes": {"/data": {}}})),
            (&["USER nobody"], json!({"User": "nobody"})),
        ];
        for (changes, want) in cases {
            assert_eq!(&apply(changes), want, "{changes:?}");
        }
    }

    #[test]
    fn bad_changes_are_refused() {
        for bad in ["RUN true", "EXPOSE http", "CMD", "ENV A=\"b"] {
            assert!(apply_change(&mut Map::new(), bad).is_err(), "{bad}");
        }
    }
}
