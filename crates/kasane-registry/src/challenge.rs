//! `WWW-Authenticate` challenges (RFC 7235), as registries send them on 401.
//!
//! A header may carry several challenges: `Bearer realm="https://auth/token",service="reg",
//! scope="repository:x:pull", Basic realm="reg"`. Parameter values are tokens or quoted
//! strings with `\` escapes. Parsing never panics on hostile input (a property test checks).
//!
//! Spec: RFC 7235 §4.1; Docker token spec ("How to authenticate").

/// One authentication challenge: the scheme (lower-cased) and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// `bearer` or `basic` (lower-cased; schemes are case-insensitive).
    pub scheme: String,
    /// Parameters in order, names lower-cased.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge of one or more `WWW-Authenticate` header values.
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for h in headers {
        parse_into(h, &mut out);
    }
    out
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/:".contains(c)
}

fn parse_into(header: &str, out: &mut Vec<Challenge>) {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    loop {
        p.skip_ws_commas();
        let scheme = p.token();
        if scheme.is_empty() {
            // Not a token where a scheme should be: skip one byte and try again.
            if p.i >= p.s.len() {
                return;
            }
            p.i += 1;
            continue;
        }
        let mut ch = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
        };
        // Parameters: name=value, separated by commas, until a token not followed by '='
        // (the next challenge's scheme) or the end.
        loop {
            p.skip_ws_commas();
            let save = p.i;
            let name = p.token();
            if name.is_empty() {
                break;
            }
            p.skip_ws();
            if p.peek() != Some(b'=') {
                p.i = save; // a new challenge
                break;
            }
            p.i += 1;
            p.skip_ws();
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token().to_owned()
            };
            ch.params.push((name.to_ascii_lowercase(), value));
        }
        out.push(ch);
        if p.i >= p.s.len() {
            return;
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(|c| is_tchar(c as char)) {
            self.i += 1;
        }
        // Only ASCII bytes were consumed, so this is valid UTF-8.
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }

    fn quoted(&mut self) -> String {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_from_docker_hub() {
        let c = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        ]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/busybox:pull"));
    }

    #[test]
    fn several_challenges_and_escapes() {
        let c = parse_challenges([
            r#"Basic realm="a \"quoted\" realm", Bearer realm=https://t/token ,service=x"#,
        ]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some(r#"a "quoted" realm"#));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("https://t/token"));
        assert_eq!(c[1].param("SERVICE"), Some("x"));
    }

    #[test]
    fn scheme_without_params() {
        let c = parse_challenges(["Basic", "Negotiate abc"]);
        assert_eq!(c[0].scheme, "basic");
        assert!(c[0].params.is_empty());
        assert_eq!(c[1].scheme, "negotiate");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = parse_challenges([s.as_str()]);
        }
    }
}
