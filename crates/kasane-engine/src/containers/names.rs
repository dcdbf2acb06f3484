//! Container ids and names: a random 64-hex id, and for containers without `--name` a
//! random `adjective_noun` name as docker gives (our own word lists).

use rand::Rng;

use crate::error::{EngineError, Result};

const ADJECTIVES: &[&str] = &[
    "agile", "brave", "calm", "clever", "cosmic", "crisp", "daring", "eager", "elated", "fervent",
    "gentle", "happy", "hopeful", "jolly", "keen", "kind", "lucid", "merry", "modest", "nimble",
    "noble", "patient", "placid", "quiet", "quirky", "serene", "sharp", "steady", "sunny", "swift",
    "tender", "upbeat", "vivid", "wise", "witty", "zealous",
];

const NOUNS: &[&str] = &[
    "akari", "basho", "carp", "crane", "fuji", "ginkgo", "hakone", "hokusai", "ikebana", "kaede",
    "kairo", "kite", "koi", "kumo", "maple", "matcha", "mochi", "nami", "origami", "sakura",
    "shiba", "sora", "sumi", "tanuki", "tengu", "tsuru", "umi", "washi", "yama", "yuzu",
];

/// A fresh container id: 32 random bytes as 64 lowercase hex digits.
pub(crate) fn new_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// A random `adjective_noun` name; `taken` says whether a candidate is in use.
pub(crate) fn random_name(taken: impl Fn(&str) -> bool) -> String {
    let mut rng = rand::rng();
    for attempt in 0..64 {
        let a = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
        let n = NOUNS[rng.random_range(0..NOUNS.len())];
        let name = if attempt < 8 {
            format!("{a}_{n}")
        } else {
            format!("{a}_{n}{}", rng.random_range(0..100))
        };
        if !taken(&name) {
            return name;
        }
    }
    format!("kasane_{}", &new_id()[..12])
}

/// Checks a `--name`: docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`; a leading `/` is dropped.
pub(crate) fn validate_name(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = n.bytes();
    let ok = n.len() >= 2
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(n.to_owned())
    } else {
        Err(EngineError::InvalidArgument(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn names_follow_docker_rules() {
        assert_eq!(validate_name("/web1").unwrap(), "web1");
        assert!(validate_name("a").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("web_1.x-y").is_ok());
        let n = random_name(|_| false);
        assert!(n.contains('_'));
        let taken = random_name(|c| !c.starts_with("kasane_"));
        assert!(taken.starts_with("kasane_"));
    }
}
