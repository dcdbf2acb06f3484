//! `created_by` strings exactly as docker's classic builder writes them into image history.
//!
//! Owns: the text of history entries, so that `history` tests can compare kasane's output
//! with docker's on images that look docker-built.
//!
//! Model (moby `daemon/builder/dockerfile/dispatchers.go`, `internals.go`): the Cmd of the
//! build step is joined with single spaces; metadata steps use `/bin/sh -c #(nop) ` + message
//! where the message itself starts with a space (hence two spaces), WORKDIR/COPY/ADD put the
//! whole instruction in one argument (one space). Spec: `docker-formats.md` §1.6.
//!
//! ```
//! use kasane_testsupport::classic;
//! assert_eq!(classic::cmd(&["echo hello"]), r#"/bin/sh -c #(nop)  CMD ["echo hello"]"#);
//! assert_eq!(classic::workdir("/app"), "/bin/sh -c #(nop) WORKDIR /app");
//! ```

use crate::digest::Digest;

/// Comment docker puts on the single history entry of an imported image (stdin import).
pub const IMPORT_COMMENT: &str = "Imported from -";

/// A metadata-only step: `/bin/sh -c #(nop)  <instruction>`.
pub fn nop(instruction: &str) -> String {
    format!("/bin/sh -c #(nop)  {instruction}")
}

/// `CMD [...]` (Go `%q` of the array).
pub fn cmd(args: &[&str]) -> String {
    nop(&format!("CMD {}", go_quote_list(args)))
}

/// `ENTRYPOINT [...]`.
pub fn entrypoint(args: &[&str]) -> String {
    nop(&format!("ENTRYPOINT {}", go_quote_list(args)))
}

/// `ENV A=b C=d`.
pub fn env(pairs: &[(&str, &str)]) -> String {
    nop(&format!("ENV {}", join_pairs(pairs)))
}

/// `LABEL k=v ...` (quotes removed, as the builder prints them).
pub fn label(pairs: &[(&str, &str)]) -> String {
    nop(&format!("LABEL {}", join_pairs(pairs)))
}

/// `EXPOSE ...` with the port specs sorted as strings.
pub fn expose(ports: &[&str]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    nop(&format!("EXPOSE {}", sorted.join(" ")))
}

/// `VOLUME [/a /b]` (Go `%v` of the slice).
pub fn volume(paths: &[&str]) -> String {
    nop(&format!("VOLUME [{}]", paths.join(" ")))
}

/// `USER u`.
pub fn user(user: &str) -> String {
    nop(&format!("USER {user}"))
}

/// `ARG X=1`.
pub fn arg(arg: &str) -> String {
    nop(&format!("ARG {arg}"))
}

/// `STOPSIGNAL s`.
pub fn stop_signal(signal: &str) -> String {
    nop(&format!("STOPSIGNAL {signal}"))
}

/// `WORKDIR /app` (one space after `#(nop)`).
pub fn workdir(path: &str) -> String {
    format!("/bin/sh -c #(nop) WORKDIR {path}")
}

/// `COPY file:<sha256 hex of content> in <dest> ` (note the trailing space).
pub fn copy_file(content: &[u8], dest: &str) -> String {
    format!(
        "/bin/sh -c #(nop) COPY file:{} in {dest} ",
        Digest::sha256(content).hex()
    )
}

/// `ADD file:<sha256 hex of content> in <dest> `.
pub fn add_file(content: &[u8], dest: &str) -> String {
    format!(
        "/bin/sh -c #(nop) ADD file:{} in {dest} ",
        Digest::sha256(content).hex()
    )
}

/// `RUN <shell command>`: `/bin/sh -c <command>`.
pub fn run(command: &str) -> String {
    format!("/bin/sh -c {command}")
}

fn join_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Go's `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`.
pub fn go_quote_list(args: &[&str]) -> String {
    format!(
        "[{}]",
        args.iter()
            .map(|a| go_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Go's `strconv.Quote`: printable characters verbatim, the usual escapes otherwise.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_formats_table() {
        // The table of docker-formats.md §1.6, row by row.
        assert_eq!(
            cmd(&["echo hello"]),
            r#"/bin/sh -c #(nop)  CMD ["echo hello"]"#
        );
        assert_eq!(
            entrypoint(&["/bin/sh", "-c"]),
            r#"/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c"]"#
        );
        assert_eq!(
            env(&[("A", "b"), ("C", "d")]),
            "/bin/sh -c #(nop)  ENV A=b C=d"
        );
        assert_eq!(
            label(&[("maintainer", "x"), ("a", "b")]),
            "/bin/sh -c #(nop)  LABEL maintainer=x a=b"
        );
        assert_eq!(
            expose(&["80", "443/udp"]),
            "/bin/sh -c #(nop)  EXPOSE 443/udp 80"
        );
        assert_eq!(volume(&["/data"]), "/bin/sh -c #(nop)  VOLUME [/data]");
        assert_eq!(user("0"), "/bin/sh -c #(nop)  USER 0");
        assert_eq!(arg("X=1"), "/bin/sh -c #(nop)  ARG X=1");
        assert_eq!(workdir("/app"), "/bin/sh -c #(nop) WORKDIR /app");
        assert_eq!(
            copy_file(b"hi\n", "/app/"),
            "/bin/sh -c #(nop) COPY file:98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4 in /app/ "
        );
        assert_eq!(run("echo hi > f"), "/bin/sh -c echo hi > f");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n\t\u{1}é"), "\"a\\\"b\\\\c\\n\\t\\x01é\"");
    }
}
