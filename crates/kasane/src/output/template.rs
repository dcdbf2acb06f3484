//! Go templates with docker's functions (`docker-formats.md` §6; docker/cli `templates`).
//!
//! Owns: parsing (with Go's parse-time checks), the AST rewrite that routes printed values
//! through Go's `%v` rules, docker's function map, its header variant, and execution.
//!
//! Lifecycle: [`Template::parse`] → [`Template::execute`] per object (or
//! [`Template::execute_strict`] for list rows, which are Go structs, so an unknown field is an
//! error). Parsing runs in three steps:
//! 1. gotmpl's lexer and parser (lexical and syntax errors, duplicate `define`s);
//! 2. block structure, which gotmpl accepts loosely: `unexpected EOF` for an unclosed
//!    `if`/`range`/`with`/`define`, `unexpected {{end}}`, `unexpected {{else}}`;
//! 3. the AST: `function "x" not defined`, `undefined variable "$x"`,
//!    `{{break}} outside {{range}}` — Go reports all of these when parsing.
//!
//! Every printing action `{{pipeline}}` becomes `{{pipeline | print-as-Go}}` with a private
//! function, because gotmpl prints values its own way (`map[…]` for structs, `<no value>` for
//! nil pointers); see `value.rs` for the data model behind it.
//!
//! ```
//! use kasane::output::{Data, Hints, Template};
//! let t = Template::parse(r#"{{.Repository}}:{{.Tag}} {{index .Labels "a" | upper}}"#).unwrap();
//! let row = serde_json::json!({"Repository": "demo", "Tag": "1", "Labels": {"a": "x"}});
//! assert_eq!(t.execute(&Data::from_json(&row, &Hints::new())).unwrap(), "demo:1 X");
//! ```

use std::fmt;
use std::sync::Arc;

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, Parser, PipeNode, SmolStr};
use gotmpl::{FuncMap, MissingKey, TemplateError, Value, ValueFunc};

use super::OutputError;
use super::value::{Data, ObjKind, Shape, go_json, go_sprint, install, with_current};

/// Name of the main tree inside gotmpl (NUL keeps it apart from user `define`s).
const MAIN: &str = "\u{0}kasane";
/// The private printing function appended to every printing action.
const PRINT: &str = "\u{0}print";

/// Go `text/template` built-in functions.
const GO_BUILTINS: [&str; 19] = [
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or",
    "print", "printf", "println", "slice", "urlquery",
];
/// docker/cli `templates.basicFunctions`.
const DOCKER_FUNCS: [&str; 8] = [
    "json", "join", "split", "lower", "upper", "title", "pad", "truncate",
];

/// A parsed Go template with docker's functions.
pub struct Template {
    source: String,
    compiled: Box<Compiled>,
}

/// The same trees under the three function maps and options docker uses.
struct Compiled {
    /// Docker's functions, missing keys print `<no value>` (inspect).
    lenient: gotmpl::Template,
    /// Docker's functions, missing keys are errors (list rows are Go structs).
    strict: gotmpl::Template,
    /// docker/cli `HeaderFunctions`: formatting functions are identities.
    header: gotmpl::Template,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Parses `source` as docker's `templates.Parse` does (no `\t` replacement here; see
    /// [`replace_escapes`](super::replace_escapes) for `--format` of list commands).
    ///
    /// # Errors
    ///
    /// [`OutputError::Parse`] with Go's line and message, e.g. `unclosed action`.
    pub fn parse(source: &str) -> Result<Self, OutputError> {
        let parse_error = |line: usize, message: String| OutputError::Parse {
            template: source.to_string(),
            line,
            message,
        };
        gotmpl::Template::new("")
            .parse(source)
            .map_err(|e| from_gotmpl_parse(source, e))?;
        check_structure(source).map_err(|(line, message)| parse_error(line, message))?;
        let (mut tree, defines) = Parser::new(source, "{{", "}}")
            .and_then(Parser::parse)
            .map_err(|e| from_gotmpl_parse(source, e))?;
        let mut bodies: Vec<(String, ListNode)> = Vec::new();
        for define in defines {
            let name = define.name.to_string();
            match bodies.iter_mut().find(|(n, _)| *n == name) {
                // An empty body never replaces a non-empty one (Go `parse.associate`);
                // two non-empty bodies were rejected by gotmpl above.
                Some((_, body)) => {
                    if !define.body.is_empty_tree() {
                        *body = define.body;
                    }
                }
                None => bodies.push((name, define.body)),
            }
        }
        let checker = |list: &ListNode| {
            let mut checker = Checker {
                vars: vec!["$".to_string()],
                range_depth: 0,
            };
            checker.list(list)
        };
        checker(&tree).map_err(|(line, message)| parse_error(line, message))?;
        for (_, body) in &bodies {
            checker(body).map_err(|(line, message)| parse_error(line, message))?;
        }
        rewrite(&mut tree);
        for (_, body) in &mut bodies {
            rewrite(body);
        }
        let build = |funcs: FuncMap, missing: MissingKey| {
            let mut t = gotmpl::Template::new(MAIN)
                .funcs(funcs)
                .missing_key(missing)
                .add_parse_tree(MAIN, tree.clone());
            for (name, body) in &bodies {
                t = t.add_parse_tree(name, body.clone());
            }
            t
        };
        Ok(Template {
            source: source.to_string(),
            compiled: Box::new(Compiled {
                lenient: build(docker_funcs(), MissingKey::Invalid),
                strict: build(docker_funcs(), MissingKey::Error),
                header: build(header_funcs(), MissingKey::Invalid),
            }),
        })
    }

    /// The template text as given to [`Template::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Executes against `data`; a missing map key prints `<no value>`.
    ///
    /// # Errors
    ///
    /// [`OutputError::Execute`] (docker exits 1), e.g. `index` out of range.
    pub fn execute(&self, data: &Data) -> Result<String, OutputError> {
        self.run(&self.compiled.lenient, data)
    }

    /// Executes with Go's `missingkey=error`: `{{.Nope}}` fails, as it does on docker's row
    /// structs (`can't evaluate field Nope`).
    ///
    /// # Errors
    ///
    /// [`OutputError::Execute`] on a missing key or any other execution error.
    pub fn execute_strict(&self, data: &Data) -> Result<String, OutputError> {
        self.run(&self.compiled.strict, data)
    }

    /// Executes the table header: formatting functions are identities (`pad` is kept), and
    /// an execution error is ignored, keeping whatever was written before it (docker/cli
    /// `postFormat`).
    pub(crate) fn execute_header(&self, data: &Data) -> String {
        let _guard = install(Arc::clone(data.registry()));
        let mut out = String::new();
        // Docker ignores the header's error and prints the partial header; see
        // `docker-formats.md` §1.1 ("the header line may be empty, e.g. `table {{json .}}`").
        let _ignored = self
            .compiled
            .header
            .execute_template_fmt(&mut out, MAIN, data.value());
        out
    }

    fn run(&self, template: &gotmpl::Template, data: &Data) -> Result<String, OutputError> {
        let _guard = install(Arc::clone(data.registry()));
        let mut out = String::new();
        template
            .execute_template_fmt(&mut out, MAIN, data.value())
            .map_err(|e| OutputError::Execute {
                template: self.source.clone(),
                message: exec_message(&e),
            })?;
        Ok(out)
    }
}

fn from_gotmpl_parse(source: &str, error: TemplateError) -> OutputError {
    let (line, message) = match error {
        TemplateError::Parse { line, message, .. } | TemplateError::Lex { line, message, .. } => {
            (line, message)
        }
        other => (1, other.to_string()),
    };
    // gotmpl words a few lexer errors differently from Go's text/template/parse.
    let message = match message.as_str() {
        "unterminated string" => "unterminated quoted string".to_string(),
        "unterminated raw string" => "unterminated raw quoted string".to_string(),
        "unterminated character literal" => "unterminated character constant".to_string(),
        "comment not terminated by closing delimiter" => {
            "comment ends before closing delimiter".to_string()
        }
        _ => message,
    };
    OutputError::Parse {
        template: source.to_string(),
        line,
        message,
    }
}

fn exec_message(error: &TemplateError) -> String {
    match error {
        TemplateError::Exec(message) => message.clone(),
        TemplateError::MissingKey { key } => format!("map has no entry for key {key:?}"),
        TemplateError::UndefinedFunction(name) => format!("function {name:?} not defined"),
        other => other.to_string(),
    }
}

/// Go's block structure, which gotmpl's parser does not enforce. Returns (line, message).
fn check_structure(source: &str) -> Result<(), (usize, String)> {
    let bytes = source.as_bytes();
    let mut stack: Vec<&str> = Vec::new();
    let mut pos = 0;
    while let Some(found) = source[pos..].find("{{") {
        let mut i = pos + found + 2;
        // A left trim marker is "-" followed by white space ("{{-3}}" is a number).
        if bytes.get(i) == Some(&b'-') && bytes.get(i + 1).is_some_and(u8::is_ascii_whitespace) {
            i += 2;
        }
        if source[i..].starts_with("/*") {
            // The lexer already validated comments; skip to the closing delimiter.
            let Some(end) = source[i..].find("*/") else {
                return Ok(());
            };
            let after = i + end + 2;
            let Some(close) = source[after..].find("}}") else {
                return Ok(());
            };
            pos = after + close + 2;
            continue;
        }
        let Some(close) = find_action_end(bytes, i) else {
            return Ok(());
        };
        let body = &source[i..close];
        let trimmed = body.trim_start();
        let keyword_at = i + (body.len() - trimmed.len());
        let word = trimmed
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        let line = 1 + source[..keyword_at].matches('\n').count();
        let unexpected = match word {
            "if" | "range" | "with" | "define" | "block" => {
                stack.push(word);
                false
            }
            // `{{else if …}}` chains share the `{{end}}` of their `if`: no push.
            "else" => !matches!(stack.last(), Some(&("if" | "range" | "with"))),
            "end" => stack.pop().is_none(),
            _ => false,
        };
        if unexpected {
            return Err((line, format!("unexpected {{{{{word}}}}}")));
        }
        pos = close + 2;
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err((
            1 + source.matches('\n').count(),
            "unexpected EOF".to_string(),
        ))
    }
}

/// Index of the `}}` closing the action whose body starts at `start`, skipping literals.
fn find_action_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
                i += 1;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Go's parse-time name checks over the AST. Errors are (line, message).
struct Checker {
    vars: Vec<String>,
    range_depth: usize,
}

type Check = Result<(), (usize, String)>;

impl Checker {
    fn list(&mut self, list: &ListNode) -> Check {
        list.nodes.iter().try_for_each(|node| self.node(node))
    }

    fn node(&mut self, node: &Node) -> Check {
        match node {
            Node::Action(action) => self.pipe(&action.pipe),
            Node::If(branch) | Node::With(branch) | Node::Range(branch) => {
                let is_range = matches!(node, Node::Range(_));
                let mark = self.vars.len();
                self.pipe(&branch.pipe)?;
                if is_range {
                    self.range_depth += 1;
                }
                let body = self.list(&branch.body);
                if is_range {
                    self.range_depth -= 1;
                }
                body?;
                if let Some(else_body) = &branch.else_body {
                    self.list(else_body)?;
                }
                self.vars.truncate(mark);
                Ok(())
            }
            Node::Template(call) => match &call.pipe {
                Some(pipe) => self.pipe(pipe),
                None => Ok(()),
            },
            Node::List(list) => self.list(list),
            Node::Define(define) => {
                let mut inner = Checker {
                    vars: vec!["$".to_string()],
                    range_depth: 0,
                };
                inner.list(&define.body)
            }
            Node::Break(pos) if self.range_depth == 0 => {
                Err((pos.line, "{{break}} outside {{range}}".to_string()))
            }
            Node::Continue(pos) if self.range_depth == 0 => {
                Err((pos.line, "{{continue}} outside {{range}}".to_string()))
            }
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => Ok(()),
        }
    }

    fn pipe(&mut self, pipe: &PipeNode) -> Check {
        for name in &pipe.decl {
            if pipe.is_assign {
                if !self.vars.iter().any(|v| v == name.as_str()) {
                    return Err((
                        pipe.pos.line,
                        format!("undefined variable {:?}", name.as_str()),
                    ));
                }
            } else {
                self.vars.push(name.to_string());
            }
        }
        for command in &pipe.commands {
            for arg in &command.args {
                self.expr(arg)?;
            }
        }
        Ok(())
    }

    fn expr(&mut self, expr: &Expr) -> Check {
        match expr {
            Expr::Identifier(pos, name) => {
                let name = name.as_str();
                if GO_BUILTINS.contains(&name) || DOCKER_FUNCS.contains(&name) {
                    Ok(())
                } else {
                    Err((pos.line, format!("function {name:?} not defined")))
                }
            }
            Expr::Variable(pos, name, _) => {
                if self.vars.iter().any(|v| v == name.as_str()) {
                    Ok(())
                } else {
                    Err((pos.line, format!("undefined variable {:?}", name.as_str())))
                }
            }
            Expr::Pipe(_, pipe) => self.pipe(pipe),
            Expr::Chain(_, inner, _) => self.expr(inner),
            _ => Ok(()),
        }
    }
}

/// Appends the printing function to every action that prints (not to declarations).
fn rewrite(list: &mut ListNode) {
    for node in &mut list.nodes {
        match node {
            Node::Action(action) if action.pipe.decl.is_empty() => {
                let pos = action.pipe.pos;
                action.pipe.commands.push(CommandNode {
                    pos,
                    args: vec![Expr::Identifier(pos, SmolStr::new(PRINT))],
                });
            }
            Node::If(branch) | Node::With(branch) | Node::Range(branch) => {
                rewrite(&mut branch.body);
                if let Some(else_body) = &mut branch.else_body {
                    rewrite(else_body);
                }
            }
            Node::List(inner) => rewrite(inner),
            Node::Define(define) => rewrite(&mut define.body),
            _ => {}
        }
    }
}

fn exec_err(message: String) -> TemplateError {
    TemplateError::Exec(message)
}

fn want_args(name: &str, args: &[Value], n: usize) -> gotmpl::Result<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(exec_err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )))
    }
}

fn string_arg(value: &Value) -> gotmpl::Result<&str> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(exec_err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        ))),
    }
}

fn int_arg(value: &Value) -> gotmpl::Result<i64> {
    match value {
        Value::Int(i) => Ok(*i),
        Value::Uint(u) => i64::try_from(*u).map_err(|_| exec_err(format!("{u} overflows int"))),
        other => Err(exec_err(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        ))),
    }
}

fn func(f: impl Fn(&[Value]) -> gotmpl::Result<Value> + Send + Sync + 'static) -> ValueFunc {
    Arc::new(f)
}

/// Go `fmt.Sprint` of a printed action's value.
fn print_fn() -> ValueFunc {
    func(|args| {
        want_args(PRINT, args, 1)?;
        let mut out = String::new();
        with_current(|registry| go_sprint(&args[0], registry, true, &mut out));
        Ok(Value::from(out))
    })
}

/// Go `fmt.Sprint` (`ln`: `Sprintln`) over the Go printer, so nil pointers, structs and
/// floats print as they do in docker.
fn sprint_fn(ln: bool) -> ValueFunc {
    func(move |args| {
        let mut out = String::new();
        with_current(|registry| {
            for (i, arg) in args.iter().enumerate() {
                let is_string = matches!(arg, Value::String(_));
                let previous_string = i > 0 && matches!(args[i - 1], Value::String(_));
                // Sprint separates operands when neither is a string; Sprintln always does.
                if i > 0 && (ln || !(is_string || previous_string)) {
                    out.push(' ');
                }
                go_sprint(arg, registry, false, &mut out);
            }
        });
        if ln {
            out.push('\n');
        }
        Ok(Value::from(out))
    })
}

/// Go `index`, except that a missing key of a `map[string]string` is `""` (its zero value).
fn index_fn() -> ValueFunc {
    func(|args| {
        let Some((first, indices)) = args.split_first() else {
            return Err(exec_err(
                "wrong number of args for index: want at least 1 got 0".to_string(),
            ));
        };
        let mut item = first.clone();
        for index in indices {
            let next = match (&item, index) {
                (Value::Map(map), Value::String(key)) => match map.get(key.as_ref()) {
                    Some(value) => value.clone(),
                    None => with_current(|registry| match registry.and_then(|r| r.shape(&item)) {
                        Some(Shape::Object {
                            kind: ObjKind::StringMap,
                            ..
                        }) => Value::from(""),
                        Some(Shape::Object {
                            kind: ObjKind::Set, ..
                        }) => Value::from("{}"),
                        _ => Value::Nil,
                    }),
                },
                _ => item
                    .index(index)
                    .map_err(|e| exec_err(format!("error calling index: {}", exec_message(&e))))?,
            };
            item = next;
        }
        Ok(item)
    })
}

/// docker/cli `templates.basicFunctions` plus the printing and `index` overrides.
fn docker_funcs() -> FuncMap {
    let mut funcs = FuncMap::new();
    funcs.insert(PRINT.into(), print_fn());
    funcs.insert("index".into(), index_fn());
    funcs.insert("print".into(), sprint_fn(false));
    funcs.insert("println".into(), sprint_fn(true));
    funcs.insert(
        "json".into(),
        func(|args| {
            want_args("json", args, 1)?;
            let mut out = String::new();
            let encoded = with_current(|registry| go_json(&args[0], registry, false, &mut out));
            // Docker ignores the encoder's error, which leaves the output empty.
            if encoded.is_err() {
                out.clear();
            }
            Ok(Value::from(out))
        }),
    );
    funcs.insert(
        "split".into(),
        func(|args| {
            want_args("split", args, 2)?;
            let (s, sep) = (string_arg(&args[0])?, string_arg(&args[1])?);
            Ok(Value::from(
                go_split(s, sep)
                    .into_iter()
                    .map(Value::from)
                    .collect::<Vec<_>>(),
            ))
        }),
    );
    funcs.insert(
        "join".into(),
        func(|args| {
            want_args("join", args, 2)?;
            let sep = string_arg(&args[1])?;
            with_current(|registry| go_join(&args[0], sep, registry))
        }),
    );
    funcs.insert("lower".into(), string_fn("lower", go_lower));
    funcs.insert("upper".into(), string_fn("upper", go_upper));
    funcs.insert("title".into(), string_fn("title", go_title));
    funcs.insert("pad".into(), pad_fn());
    funcs.insert(
        "truncate".into(),
        func(|args| {
            want_args("truncate", args, 2)?;
            let (s, n) = (string_arg(&args[0])?, int_arg(&args[1])?);
            let n = usize::try_from(n)
                .map_err(|_| exec_err(format!("slice bounds out of range [:{n}]")))?;
            if s.len() < n {
                return Ok(Value::from(s));
            }
            // Go slices bytes; back off to a character boundary to stay valid UTF-8.
            let mut end = n;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Ok(Value::from(&s[..end]))
        }),
    );
    funcs
}

/// docker/cli `templates.HeaderFunctions`: identities with the original signatures.
fn header_funcs() -> FuncMap {
    let mut funcs = FuncMap::new();
    funcs.insert(PRINT.into(), print_fn());
    funcs.insert("index".into(), index_fn());
    funcs.insert("print".into(), sprint_fn(false));
    funcs.insert("println".into(), sprint_fn(true));
    funcs.insert("pad".into(), pad_fn());
    for name in ["json", "title", "lower", "upper"] {
        funcs.insert(
            name.into(),
            func(move |args| {
                want_args(name, args, 1)?;
                Ok(Value::from(string_arg(&args[0])?))
            }),
        );
    }
    for name in ["split", "join"] {
        funcs.insert(
            name.into(),
            func(move |args| {
                want_args(name, args, 2)?;
                string_arg(&args[1])?;
                Ok(Value::from(string_arg(&args[0])?))
            }),
        );
    }
    funcs.insert(
        "truncate".into(),
        func(|args| {
            want_args("truncate", args, 2)?;
            int_arg(&args[1])?;
            Ok(Value::from(string_arg(&args[0])?))
        }),
    );
    funcs
}

fn string_fn(name: &'static str, f: fn(&str) -> String) -> ValueFunc {
    func(move |args| {
        want_args(name, args, 1)?;
        Ok(Value::from(f(string_arg(&args[0])?)))
    })
}

/// docker `padWithSpace`: non-empty `s` gets `l` spaces before and `r` after.
fn pad_fn() -> ValueFunc {
    func(|args| {
        want_args("pad", args, 3)?;
        let s = string_arg(&args[0])?;
        let (left, right) = (int_arg(&args[1])?, int_arg(&args[2])?);
        if s.is_empty() {
            return Ok(Value::from(""));
        }
        let count = |n: i64| {
            usize::try_from(n).map_err(|_| exec_err("strings: negative Repeat count".to_string()))
        };
        Ok(Value::from(format!(
            "{}{s}{}",
            " ".repeat(count(left)?),
            " ".repeat(count(right)?)
        )))
    })
}

/// Go `strings.Split`.
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        // Split after each UTF-8 sequence; "" gives no elements at all.
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(String::from).collect()
}

/// `join` as `docker-formats.md` §6 describes it: strings joined; other elements as `%v`;
/// map values as `%v`, sorted; nil → `""`.
fn go_join(
    value: &Value,
    sep: &str,
    registry: Option<&super::value::Registry>,
) -> gotmpl::Result<Value> {
    let sprint = |v: &Value| {
        let mut out = String::new();
        go_sprint(v, registry, false, &mut out);
        out
    };
    let parts: Vec<String> = match value {
        Value::Nil => Vec::new(),
        Value::List(items) => items.iter().map(sprint).collect(),
        Value::Map(map) => {
            let mut values: Vec<String> = map.values().map(sprint).collect();
            values.sort();
            values
        }
        other => {
            return Err(exec_err(format!(
                "wrong type for value; expected []string; got {}",
                other.type_name()
            )));
        }
    };
    Ok(Value::from(parts.join(sep)))
}

/// Go `strings.ToLower`: simple (one-to-one) case mapping per character.
fn go_lower(s: &str) -> String {
    s.chars().map(|c| simple_map(c, c.to_lowercase())).collect()
}

/// Go `strings.ToUpper`: simple (one-to-one) case mapping per character (`ß` stays `ß`).
fn go_upper(s: &str) -> String {
    s.chars().map(|c| simple_map(c, c.to_uppercase())).collect()
}

/// Keeps `c` when Unicode's full mapping expands it, as Go's per-rune mapping does.
fn simple_map(c: char, mut mapped: impl Iterator<Item = char>) -> char {
    match (mapped.next(), mapped.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

/// Go `strings.Title`: upper-case letters that follow a separator (ASCII other than
/// alphanumerics and `_`, or Unicode white space).
fn go_title(s: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphabetic() || c.is_numeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut previous = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(previous) {
                simple_map(c, c.to_uppercase())
            } else {
                c
            };
            previous = c;
            out
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "template_tests.rs"]
mod tests;
