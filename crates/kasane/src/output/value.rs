//! Template data: `serde_json::Value` → `gotmpl::Value`, keeping what Go's types would print.
//!
//! Owns: [`Data`] (template input), [`Hints`]/[`GoType`] (what Go type docker's CLI decodes a
//! JSON path into), and the Go `%v` printer and `json` encoder for template values.
//!
//! Model: gotmpl's `Value` is a closed enum (nil, scalars, list, sorted map), but docker
//! executes templates against typed Go structs, and Go prints types differently
//! (`docker-formats.md` §6):
//!
//! | Go value | prints | `json` | gotmpl representation |
//! |---|---|---|---|
//! | `[]string` nil | `[]` | `null` | empty list, registered *nil slice* |
//! | `map[string]string` nil | `map[]` | `null` | empty map, registered *nil map* |
//! | `*T` nil (`.Config.Healthcheck`) | `<nil>` | `null` | empty map, registered *nil pointer* |
//! | `struct{}` (`ExposedPorts` values) | `{}` | `{}` | the string `{}`, registered *empty struct* |
//! | struct (`.State`) | `{v1 v2 …}` | fields in order | map, registered *struct* with key order |
//! | `time.Time` | `2026-… +0000 UTC` | RFC 3339 | Go-form string, registered with its JSON text |
//! | missing map key | `<no value>` | — | nil |
//!
//! The registrations live in a side table keyed by the address of the value's `Arc`
//! allocation: gotmpl clones values by bumping reference counts, so a value reached through
//! `.Field`, `index`, `range` or a variable is still the same allocation, and all of them stay
//! alive as long as the [`Data`]. The empty stand-ins keep Go's truthiness (`{{if}}`, `{{with}}`
//! see nil slices, maps and pointers as false). The template installs the table for the
//! duration of one execution (see `template.rs`) so its functions (`json`, `index`, printing)
//! can consult it.
//!
//! Known gaps: a struct prints only the fields present in the JSON (Go also prints omitted
//! zero fields); nested pointers print as their struct rather than as an address; `printf`
//! and `print` use gotmpl's formatting (a nil pointer prints `map[]` there).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gotmpl::Value;
use serde_json::Value as Json;

use super::duration::go_time_string_of_rfc3339;
use super::json::{JsonStyle, write_string};
use super::number::{format_json, format_v};

/// The Go type that docker's CLI decodes a JSON value into, which decides how it prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GoType {
    /// A struct (usually behind a pointer): prints `{v1 v2 …}`; null/absent → `<nil>`.
    Struct,
    /// Any other pointer (`*int64`): prints its value; null/absent → `<nil>`.
    Pointer,
    /// `map[string]T`: prints `map[k:v …]` sorted; null/absent → `map[]`, JSON `null`.
    Map,
    /// `map[string]string` (labels): like [`GoType::Map`], and `index` of a missing key is `""`.
    StringMap,
    /// `map[string]struct{}` (exposed ports, volumes): values print `{}`.
    Set,
    /// A slice: prints `[a b]`; null/absent → `[]`, JSON `null`.
    Slice,
    /// `time.Time`: the RFC 3339 JSON string prints as Go `Time.String()`.
    Time,
    /// A string: absent → `""`.
    String,
    /// An integer: absent → `0`.
    Int,
    /// A boolean: absent → `false`.
    Bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Any,
    Key(String),
}

/// Path → [`GoType`] rules for one kind of object (`Config.Env` → [`GoType::Slice`]).
///
/// Paths are dot-separated keys relative to the object; `*` matches any key or list index.
/// A rule whose last segment is a literal also fills that key in when the JSON omits it
/// (Go's `omitempty` fields still exist in the typed struct). Unhinted values use defaults:
/// null → nil (`<no value>`), objects → maps, and `{}` values of objects whose keys are not
/// Go field names and whose values are all `{}` (a set like `ExposedPorts`) → `{}`.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    rules: Vec<(Vec<Segment>, GoType)>,
}

impl Hints {
    /// No rules: defaults only.
    pub fn new() -> Self {
        Hints::default()
    }

    /// Adds a rule; later rules win over earlier ones for the same path. The empty path is
    /// the object itself.
    #[must_use]
    pub fn with(mut self, path: &str, ty: GoType) -> Self {
        let segments = path
            .split('.')
            .filter(|s| !s.is_empty())
            .map(|s| match s {
                "*" => Segment::Any,
                key => Segment::Key(key.to_string()),
            })
            .collect();
        self.rules.push((segments, ty));
        self
    }

    fn lookup(&self, path: &[String]) -> Option<GoType> {
        self.rules
            .iter()
            .rev()
            .find(|(pattern, _)| matches_path(pattern, path))
            .map(|(_, ty)| *ty)
    }

    /// Literal child keys that rules declare under `path`, for filling absent fields.
    fn declared_children(&self, path: &[String]) -> Vec<(&str, GoType)> {
        let mut out: Vec<(&str, GoType)> = Vec::new();
        for (pattern, ty) in self.rules.iter().rev() {
            let Some((Segment::Key(last), parent)) = pattern.split_last() else {
                continue;
            };
            if matches_path(parent, path) && !out.iter().any(|(k, _)| k == last) {
                out.push((last.as_str(), *ty));
            }
        }
        // Rules were scanned last-first so later rules win; report them in rule order.
        out.reverse();
        out
    }

    /// `docker image inspect` (classic layout, `docker-formats.md` §5.2).
    pub fn image_inspect() -> Self {
        let mut hints = Hints::new()
            .with("", GoType::Struct)
            .with("RepoTags", GoType::Slice)
            .with("RepoDigests", GoType::Slice)
            .with("Parent", GoType::String)
            .with("Comment", GoType::String)
            .with("Created", GoType::String)
            .with("DockerVersion", GoType::String)
            .with("Author", GoType::String)
            .with("Variant", GoType::String)
            .with("OsVersion", GoType::String)
            .with("GraphDriver", GoType::Struct)
            .with("GraphDriver.Data", GoType::StringMap)
            .with("RootFS", GoType::Struct)
            .with("RootFS.Layers", GoType::Slice)
            .with("Metadata", GoType::Struct)
            .with("Metadata.LastTagTime", GoType::Time);
        for config in ["Config", "ContainerConfig"] {
            hints = hints.with_container_config(config);
        }
        hints
    }

    /// `docker container inspect` (classic, `docker-formats.md` §5.3).
    pub fn container_inspect() -> Self {
        Hints::new()
            .with("", GoType::Struct)
            .with("Args", GoType::Slice)
            .with("State", GoType::Struct)
            .with("State.Health", GoType::Struct)
            .with("State.Health.Log", GoType::Slice)
            .with("State.Health.Log.*", GoType::Struct)
            .with("ExecIDs", GoType::Slice)
            .with("HostConfig", GoType::Struct)
            .with("HostConfig.Binds", GoType::Slice)
            .with("HostConfig.LogConfig", GoType::Struct)
            .with("HostConfig.LogConfig.Config", GoType::StringMap)
            .with("HostConfig.PortBindings", GoType::Map)
            .with("HostConfig.RestartPolicy", GoType::Struct)
            .with("HostConfig.Dns", GoType::Slice)
            .with("HostConfig.DnsOptions", GoType::Slice)
            .with("HostConfig.DnsSearch", GoType::Slice)
            .with("HostConfig.ExtraHosts", GoType::Slice)
            .with("HostConfig.CapAdd", GoType::Slice)
            .with("HostConfig.CapDrop", GoType::Slice)
            .with("HostConfig.SecurityOpt", GoType::Slice)
            .with("HostConfig.Tmpfs", GoType::StringMap)
            .with("GraphDriver", GoType::Struct)
            .with("GraphDriver.Data", GoType::StringMap)
            .with("SizeRw", GoType::Pointer)
            .with("SizeRootFs", GoType::Pointer)
            .with("Mounts", GoType::Slice)
            .with("Mounts.*", GoType::Struct)
            .with_container_config("Config")
            .with("NetworkSettings", GoType::Struct)
            .with("NetworkSettings.Networks", GoType::Map)
            .with("NetworkSettings.Networks.*", GoType::Struct)
            .with("NetworkSettings.Ports", GoType::Map)
            .with("NetworkSettings.Ports.*", GoType::Slice)
    }

    /// moby `container.Config` under `prefix`.
    fn with_container_config(self, prefix: &str) -> Self {
        let fields = [
            ("", GoType::Struct),
            ("ExposedPorts", GoType::Set),
            ("Env", GoType::Slice),
            ("Cmd", GoType::Slice),
            ("Healthcheck", GoType::Struct),
            ("Healthcheck.Test", GoType::Slice),
            ("ArgsEscaped", GoType::Bool),
            ("Volumes", GoType::Set),
            ("Entrypoint", GoType::Slice),
            ("NetworkDisabled", GoType::Bool),
            ("MacAddress", GoType::String),
            ("OnBuild", GoType::Slice),
            ("Labels", GoType::StringMap),
            ("StopSignal", GoType::String),
            ("StopTimeout", GoType::Pointer),
            ("Shell", GoType::Slice),
        ];
        fields.into_iter().fold(self, |hints, (field, ty)| {
            if field.is_empty() {
                hints.with(prefix, ty)
            } else {
                hints.with(&format!("{prefix}.{field}"), ty)
            }
        })
    }
}

fn matches_path(pattern: &[Segment], path: &[String]) -> bool {
    pattern.len() == path.len()
        && pattern.iter().zip(path).all(|(seg, key)| match seg {
            Segment::Any => true,
            Segment::Key(k) => k == key,
        })
}

/// How an object prints and encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjKind {
    /// Unhinted object: prints as a map; JSON keeps the source key order.
    Generic,
    /// Go struct: prints `{…}` in source order; JSON in source order.
    Struct,
    /// Go map: sorted everywhere.
    Map,
    /// `map[string]string`: `index` of a missing key is `""`.
    StringMap,
    /// `map[string]struct{}`: `index` of a missing key is `{}`.
    Set,
    /// A list command's row: `{{json .}}` sorts keys and escapes HTML (`json.Marshal`).
    Row,
}

/// What the side table knows about one allocation.
#[derive(Debug)]
pub(crate) enum Shape {
    Object {
        kind: ObjKind,
        /// Keys in source order (JSON output of structs).
        order: Vec<Arc<str>>,
        /// Declared fields the source omitted; printed after `order` (Go prints every field
        /// of a struct; their true position is unknown, and the common case, `State.Health`,
        /// is last).
        filled: Vec<Arc<str>>,
        nil: bool,
    },
    NilSlice,
    NilPointer,
    EmptyStruct,
    Time {
        json: String,
    },
}

/// Side table: allocation address → [`Shape`]. Valid while the owning [`Data`] lives.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    shapes: HashMap<usize, Shape>,
}

impl Registry {
    pub(crate) fn shape(&self, value: &Value) -> Option<&Shape> {
        address(value).and_then(|a| self.shapes.get(&a))
    }

    fn register(&mut self, value: &Value, shape: Shape) {
        if let Some(a) = address(value) {
            self.shapes.insert(a, shape);
        }
    }
}

fn address(value: &Value) -> Option<usize> {
    match value {
        Value::Map(m) => Some(Arc::as_ptr(m).cast::<()>().addr()),
        Value::List(l) => Some(Arc::as_ptr(l).cast::<()>().addr()),
        Value::String(s) => Some(Arc::as_ptr(s).cast::<()>().addr()),
        _ => None,
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Registry>>> = const { RefCell::new(None) };
}

/// Restores the previously installed registry on drop.
pub(crate) struct RegistryGuard {
    previous: Option<Arc<Registry>>,
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Makes `registry` visible to template functions on this thread until the guard drops.
pub(crate) fn install(registry: Arc<Registry>) -> RegistryGuard {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(registry));
    RegistryGuard { previous }
}

/// Runs `f` with the registry of the data being executed, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Registry>) -> R) -> R {
    let registry = CURRENT.with(|c| c.borrow().clone());
    f(registry.as_deref())
}

/// Template input: a converted JSON value plus the Go type information it needs.
///
/// ```
/// use kasane::output::{Data, Hints, Template};
/// let image = serde_json::json!({"Config": {"Env": ["A=b"], "Entrypoint": null}});
/// let data = Data::from_json(&image, &Hints::image_inspect());
/// let t = Template::parse("{{.Config.Env}} {{.Config.Entrypoint}} {{json .Config.Entrypoint}}").unwrap();
/// assert_eq!(t.execute(&data).unwrap(), "[A=b] [] null");
/// ```
#[derive(Debug, Clone)]
pub struct Data {
    value: Value,
    registry: Arc<Registry>,
}

impl Data {
    /// Converts `json` using `hints` for the Go types of its paths.
    pub fn from_json(json: &Json, hints: &Hints) -> Self {
        let mut converter = Converter {
            hints,
            registry: Registry::default(),
            path: Vec::new(),
        };
        let root_hint = hints.lookup(&[]);
        let value = converter.convert(json, root_hint, false);
        Data {
            value,
            registry: Arc::new(converter.registry),
        }
    }

    /// Converts one row of a list command (`docker images`, `ps`, …): `{{json .}}` of the row
    /// sorts keys and escapes `<>&`, as docker's `json.Marshal` of the row context does.
    pub fn row(json: &Json) -> Self {
        let mut data = Data::from_json(json, &Hints::new());
        if let Some(registry) = Arc::get_mut(&mut data.registry) {
            let order = match registry.shape(&data.value) {
                Some(Shape::Object { order, .. }) => order.clone(),
                _ => Vec::new(),
            };
            if matches!(data.value, Value::Map(_)) {
                let shape = Shape::Object {
                    kind: ObjKind::Row,
                    order,
                    filled: Vec::new(),
                    nil: false,
                };
                registry.register(&data.value, shape);
            }
        }
        data
    }

    /// The converted value (dot of the template).
    pub fn value(&self) -> &Value {
        &self.value
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}

struct Converter<'h> {
    hints: &'h Hints,
    registry: Registry,
    path: Vec<String>,
}

impl Converter<'_> {
    fn convert(&mut self, json: &Json, hint: Option<GoType>, set_member: bool) -> Value {
        match json {
            Json::Null => self.zero(hint),
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::Uint(u)
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Json::String(s) => {
                if hint == Some(GoType::Time)
                    && let Some(go) = go_time_string_of_rfc3339(s)
                {
                    let value = Value::from(go);
                    self.registry
                        .register(&value, Shape::Time { json: s.clone() });
                    return value;
                }
                Value::from(s.as_str())
            }
            Json::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    self.path.push(i.to_string());
                    let child_hint = self.hints.lookup(&self.path);
                    list.push(self.convert(item, child_hint, false));
                    self.path.pop();
                }
                Value::List(Arc::from(list))
            }
            Json::Object(map) => {
                if map.is_empty() && set_member && hint.is_none() {
                    return self.empty_struct();
                }
                let kind = match hint {
                    Some(GoType::Struct) => ObjKind::Struct,
                    Some(GoType::Map) => ObjKind::Map,
                    Some(GoType::StringMap) => ObjKind::StringMap,
                    Some(GoType::Set) => ObjKind::Set,
                    _ => ObjKind::Generic,
                };
                let members_are_set =
                    kind == ObjKind::Set || (kind == ObjKind::Generic && looks_like_set(map));
                let mut entries: BTreeMap<Arc<str>, Value> = BTreeMap::new();
                let mut order = Vec::with_capacity(map.len());
                for (key, item) in map {
                    self.path.push(key.clone());
                    let child_hint = self.hints.lookup(&self.path);
                    let child = self.convert(item, child_hint, members_are_set);
                    self.path.pop();
                    let key: Arc<str> = Arc::from(key.as_str());
                    order.push(Arc::clone(&key));
                    entries.insert(key, child);
                }
                let declared: Vec<(String, GoType)> = self
                    .hints
                    .declared_children(&self.path)
                    .into_iter()
                    .map(|(k, ty)| (k.to_string(), ty))
                    .collect();
                let mut filled = Vec::new();
                for (key, ty) in declared {
                    if !map.contains_key(&key) {
                        let zero = self.zero(Some(ty));
                        let key: Arc<str> = Arc::from(key.as_str());
                        filled.push(Arc::clone(&key));
                        entries.insert(key, zero);
                    }
                }
                let value = Value::Map(Arc::new(entries));
                let shape = Shape::Object {
                    kind,
                    order,
                    filled,
                    nil: false,
                };
                self.registry.register(&value, shape);
                value
            }
        }
    }

    /// The zero value of `hint`, for JSON null or a declared field the JSON omits.
    fn zero(&mut self, hint: Option<GoType>) -> Value {
        match hint {
            None => Value::Nil,
            Some(GoType::Struct | GoType::Pointer) => {
                let value = Value::Map(Arc::new(BTreeMap::new()));
                self.registry.register(&value, Shape::NilPointer);
                value
            }
            Some(GoType::Map | GoType::StringMap | GoType::Set) => {
                let kind = match hint {
                    Some(GoType::StringMap) => ObjKind::StringMap,
                    Some(GoType::Set) => ObjKind::Set,
                    _ => ObjKind::Map,
                };
                let value = Value::Map(Arc::new(BTreeMap::new()));
                let shape = Shape::Object {
                    kind,
                    order: Vec::new(),
                    filled: Vec::new(),
                    nil: true,
                };
                self.registry.register(&value, shape);
                value
            }
            Some(GoType::Slice) => {
                let value = Value::List(Arc::from(Vec::new()));
                self.registry.register(&value, Shape::NilSlice);
                value
            }
            Some(GoType::Time) => {
                let zero = Json::String("0001-01-01T00:00:00Z".to_string());
                self.convert(&zero, Some(GoType::Time), false)
            }
            Some(GoType::String) => Value::from(""),
            Some(GoType::Int) => Value::Int(0),
            Some(GoType::Bool) => Value::Bool(false),
        }
    }

    fn empty_struct(&mut self) -> Value {
        let value = Value::from("{}");
        self.registry.register(&value, Shape::EmptyStruct);
        value
    }
}

/// A set-like object (`{"80/tcp": {}, "443/udp": {}}`): every value is `{}` and no key looks
/// like a Go field name (which start with an upper-case letter).
fn looks_like_set(map: &serde_json::Map<String, Json>) -> bool {
    !map.is_empty()
        && map.iter().all(|(key, value)| {
            !key.starts_with(|c: char| c.is_ascii_uppercase())
                && matches!(value, Json::Object(o) if o.is_empty())
        })
}

/// Go `fmt.Sprint` of a template value (`top`: the value of an action, where a missing value
/// prints `<no value>`; nested nils print `<nil>`).
pub(crate) fn go_sprint(value: &Value, registry: Option<&Registry>, top: bool, out: &mut String) {
    match value {
        Value::Nil => out.push_str(if top { "<no value>" } else { "<nil>" }),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Float(f) => out.push_str(&format_v(*f)),
        Value::String(s) => out.push_str(s),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_sprint(item, registry, false, out);
            }
            out.push(']');
        }
        Value::Map(map) => match registry.and_then(|r| r.shape(value)) {
            Some(Shape::NilPointer) => out.push_str("<nil>"),
            Some(Shape::Object {
                kind: ObjKind::Struct,
                order,
                filled,
                ..
            }) => {
                out.push('{');
                for (i, key) in order.iter().chain(filled).enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    if let Some(item) = map.get(key) {
                        go_sprint(item, registry, false, out);
                    }
                }
                out.push('}');
            }
            _ => {
                out.push_str("map[");
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(key);
                    out.push(':');
                    go_sprint(item, registry, false, out);
                }
                out.push(']');
            }
        },
        // Go prints a func value as its address; there is nothing better to show.
        Value::Function(_) => out.push_str("<func>"),
    }
}

/// Docker's `json` template function: Go `json.Encoder` with HTML escaping off (a row object
/// is marshalled with escaping on and sorted keys). `Err` for values Go cannot encode.
pub(crate) fn go_json(
    value: &Value,
    registry: Option<&Registry>,
    escape_html: bool,
    out: &mut String,
) -> Result<(), String> {
    match value {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Float(f) => match format_json(*f) {
            Some(text) => out.push_str(&text),
            None => return Err(format!("json: unsupported value: {}", format_v(*f))),
        },
        Value::String(s) => match registry.and_then(|r| r.shape(value)) {
            Some(Shape::EmptyStruct) => out.push_str("{}"),
            Some(Shape::Time { json }) => write_string(out, json, escape_html),
            _ => write_string(out, s, escape_html),
        },
        Value::List(items) => {
            if matches!(registry.and_then(|r| r.shape(value)), Some(Shape::NilSlice)) {
                out.push_str("null");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, registry, escape_html, out)?;
            }
            out.push(']');
        }
        Value::Map(map) => {
            let shape = registry.and_then(|r| r.shape(value));
            let (keys, escape_html): (Vec<&Arc<str>>, bool) = match shape {
                Some(Shape::NilPointer | Shape::Object { nil: true, .. }) => {
                    out.push_str("null");
                    return Ok(());
                }
                Some(Shape::Object {
                    kind: ObjKind::Row, ..
                }) => (map.keys().collect(), true),
                Some(Shape::Object {
                    kind: ObjKind::Struct | ObjKind::Generic,
                    order,
                    ..
                }) => (order.iter().collect(), escape_html),
                _ => (map.keys().collect(), escape_html),
            };
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                let Some(item) = map.get(key) else { continue };
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key, escape_html);
                out.push(':');
                go_json(item, registry, escape_html, out)?;
            }
            out.push('}');
        }
        Value::Function(_) => return Err("json: unsupported type: func".to_string()),
    }
    Ok(())
}

/// A row object as `json.Marshal` prints it: the `--format json` line of list commands.
pub(crate) fn row_json(json: &Json) -> String {
    super::json::to_string(json, &JsonStyle::MARSHAL_MAP)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sprint(data: &Data, v: &Value) -> String {
        let mut out = String::new();
        go_sprint(v, Some(data.registry()), true, &mut out);
        out
    }

    fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
        path.split('.')
            .fold(v, |v, k| v.field(k).unwrap_or(&Value::Nil))
    }

    #[test]
    fn empty_stand_ins_are_distinct_allocations() {
        // The side table relies on every stand-in being its own allocation.
        let a: Arc<[Value]> = Arc::from(Vec::new());
        let b: Arc<[Value]> = Arc::from(Vec::new());
        assert_ne!(Arc::as_ptr(&a).cast::<()>(), Arc::as_ptr(&b).cast::<()>());
        let data = Data::from_json(
            &json!({"A": null, "B": []}),
            &Hints::new()
                .with("A", GoType::Slice)
                .with("B", GoType::Slice),
        );
        let root = data.value();
        assert!(matches!(
            data.registry().shape(field(root, "A")),
            Some(Shape::NilSlice)
        ));
        assert!(data.registry().shape(field(root, "B")).is_none());
    }

    #[test]
    #[rustfmt::skip]
    fn prints() {
        let hints = Hints::image_inspect().with("State", GoType::Struct);
        let data = Data::from_json(
            &json!({
                "Config": {"Env": ["A=b"], "ExposedPorts": {"80/tcp": {}}, "Labels": null},
                "State": {"Status": "running", "Running": true, "Pid": 12, "Error": "", "Health": null},
                "Ratio": 0.5,
                "Big": 1e6,
                "Nested": {"x": null},
            }),
            &hints,
        );
        let root = data.value();
        let cases = [
            ("Config.Env", "[A=b]"),
            ("Config.ExposedPorts", "map[80/tcp:{}]"),
            ("Config.Labels", "map[]"),
            ("Config.Volumes", "map[]"),
            ("Config.Healthcheck", "<nil>"),
            ("Config.Entrypoint", "[]"),
            ("Config.ArgsEscaped", "false"),
            ("State", "{running true 12  <nil>}"),
            ("Ratio", "0.5"),
            ("Big", "1e+06"),
            ("Nested", "map[x:<nil>]"),
            ("Missing", "<no value>"),
            ("Metadata", "<nil>"),
            ("RepoTags", "[]"),
        ];
        for (path, want) in cases {
            assert_eq!(sprint(&data, field(root, path)), want, "{path}");
        }
    }

    #[test]
    fn row_json_is_marshalled() {
        assert_eq!(
            row_json(&json!({"Tag": "<none>", "ID": "a&b"})),
            r#"{"ID":"a\u0026b","Tag":"\u003cnone\u003e"}"#
        );
    }
}
