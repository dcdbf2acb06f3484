//! docker's image inspect object (classic layout, engine 26–27: docker-formats.md §5.2),
//! built from the engine's [`ImageDetails`]. Key order and null/[]/{} choices are docker's.

use kasane_engine::ImageDetails;
use serde_json::{Map, Value, json};

/// Config keys in docker's order; `true` = omitted when empty/false/null.
const CONFIG_KEYS: &[(&str, bool)] = &[
    ("Hostname", false),
    ("Domainname", false),
    ("User", false),
    ("AttachStdin", false),
    ("AttachStdout", false),
    ("AttachStderr", false),
    ("ExposedPorts", true),
    ("Tty", false),
    ("OpenStdin", false),
    ("StdinOnce", false),
    ("Env", false),
    ("Cmd", false),
    ("Healthcheck", true),
    ("ArgsEscaped", true),
    ("Image", false),
    ("Volumes", false),
    ("WorkingDir", false),
    ("Entrypoint", false),
    ("NetworkDisabled", true),
    ("MacAddress", true),
    ("OnBuild", false),
    ("Labels", false),
    ("StopSignal", true),
    ("StopTimeout", true),
    ("Shell", true),
];

fn default_for(key: &str) -> Value {
    match key {
        "Hostname" | "Domainname" | "User" | "Image" | "WorkingDir" => json!(""),
        "AttachStdin" | "AttachStdout" | "AttachStderr" | "Tty" | "OpenStdin" | "StdinOnce" => {
            json!(false)
        }
        _ => Value::Null,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// docker's `Config` object from the raw image config's `config` (or `null`).
fn config_object(raw: &Value) -> Value {
    let Some(Value::Object(cfg)) = raw.get("config") else {
        return Value::Null;
    };
    let mut out = Map::new();
    for (key, omit_empty) in CONFIG_KEYS {
        let v = cfg.get(*key).cloned().unwrap_or_else(|| default_for(key));
        // Env/Cmd/Entrypoint/OnBuild are arrays or null; an empty array stays as written.
        if *omit_empty && is_empty(&v) {
            continue;
        }
        out.insert((*key).to_owned(), v);
    }
    Value::Object(out)
}

/// Normalises an RFC 3339 time to docker's RFC3339Nano in UTC (trailing zeros dropped).
pub fn rfc3339_nano(s: &str) -> Option<String> {
    let t: jiff::Timestamp = s.parse().ok()?;
    Some(t.to_string())
}

/// The inspect object of one image.
pub fn image_inspect(d: &ImageDetails) -> Value {
    let raw: Value = serde_json::from_slice(&d.config_raw).unwrap_or(Value::Null);
    let str_field = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let comment = {
        let c = str_field("comment");
        if c.is_empty() {
            d.config
                .history
                .last()
                .and_then(|h| h.comment.clone())
                .unwrap_or_default()
        } else {
            c
        }
    };
    let mut o = Map::new();
    o.insert("Id".into(), json!(d.record.id.to_string()));
    o.insert(
        "RepoTags".into(),
        json!(d.tags.iter().map(|t| t.familiar()).collect::<Vec<_>>()),
    );
    o.insert(
        "RepoDigests".into(),
        json!(d.digests.iter().map(|t| t.familiar()).collect::<Vec<_>>()),
    );
    o.insert(
        "Parent".into(),
        json!(
            d.record
                .parent
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default()
        ),
    );
    o.insert("Comment".into(), json!(comment));
    if let Some(created) = raw.get("created").and_then(Value::as_str)
        && let Some(c) = rfc3339_nano(created)
    {
        o.insert("Created".into(), json!(c));
    }
    o.insert("DockerVersion".into(), json!(str_field("docker_version")));
    o.insert("Author".into(), json!(str_field("author")));
    o.insert("Config".into(), config_object(&raw));
    o.insert("Architecture".into(), json!(str_field("architecture")));
    let variant = str_field("variant");
    if !variant.is_empty() {
        o.insert("Variant".into(), json!(variant));
    }
    o.insert("Os".into(), json!(str_field("os")));
    let os_version = str_field("os.version");
    if !os_version.is_empty() {
        o.insert("OsVersion".into(), json!(os_version));
    }
    o.insert("Size".into(), json!(d.record.size));
    let data: Map<String, Value> = d
        .graph_driver
        .data
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    o.insert(
        "GraphDriver".into(),
        json!({
            "Data": if data.is_empty() { Value::Null } else { Value::Object(data) },
            "Name": d.graph_driver.name,
        }),
    );
    let layers: Vec<String> = d
        .record
        .layers
        .iter()
        .map(|l| l.diff_id.to_string())
        .collect();
    let mut rootfs = Map::new();
    rootfs.insert("Type".into(), json!("layers"));
    if !layers.is_empty() {
        rootfs.insert("Layers".into(), json!(layers));
    }
    o.insert("RootFS".into(), Value::Object(rootfs));
    o.insert(
        "Metadata".into(),
        json!({
            "LastTagTime": d
                .record
                .last_tag_time
                .as_deref()
                .and_then(rfc3339_nano)
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned())
        }),
    );
    Value::Object(o)
}
