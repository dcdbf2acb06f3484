//! docker's image filters that need the engine: `label=KEY[=VALUE]` / `label!=…` (from the
//! image config) and `until=` (creation time), shared by `images --filter` and
//! `image prune --filter`.

use std::collections::BTreeMap;

use kasane_oci::ImageId;

use crate::Engine;
use crate::error::{EngineError, Result};

/// `label=KEY`, `label=KEY=VALUE`, `label!=KEY`, `label!=KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    /// The label key.
    pub key: String,
    /// The value it must have; `None`: any value.
    pub value: Option<String>,
    /// `label!=`: the image must *not* match.
    pub negate: bool,
}

impl LabelFilter {
    /// Parses the part after `label=` (or `label!=` with `negate`).
    pub fn parse(spec: &str, negate: bool) -> Result<Self> {
        let (key, value) = match spec.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (spec, None),
        };
        if key.is_empty() {
            return Err(EngineError::InvalidArgument(format!(
                "invalid filter 'label={spec}': a label key is needed"
            )));
        }
        Ok(LabelFilter {
            key: key.to_owned(),
            value,
            negate,
        })
    }

    /// Whether labels satisfy the filter.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let hit = match (&self.value, labels.get(&self.key)) {
            (None, found) => found.is_some(),
            (Some(want), Some(v)) => want == v,
            (Some(_), None) => false,
        };
        hit != self.negate
    }
}

/// Parses docker's `until=` value: Unix seconds, an RFC 3339 time, or a Go duration before now
/// (`24h`, `1h30m`, `90s`). Returns Unix seconds.
pub fn parse_until(value: &str, now: i64) -> Result<i64> {
    if let Ok(secs) = value.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(t) = value.parse::<jiff::Timestamp>() {
        return Ok(t.as_second());
    }
    let bad = || {
        EngineError::InvalidArgument(format!(
            "invalid filter 'until={value}': use a Unix time, an RFC 3339 time or a duration like 24h"
        ))
    };
    let mut total = 0i64;
    let mut digits = String::new();
    for c in value.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
    }
    if !digits.is_empty() || value.is_empty() {
        return Err(bad());
    }
    Ok(now - total)
}

impl Engine {
    /// The labels of an image's config (empty when it has none).
    pub fn image_labels(&mut self, id: &ImageId) -> Result<BTreeMap<String, String>> {
        let record = self.image_record(id)?;
        let (config, _) = self.config_of(&record)?;
        Ok(config.config.and_then(|c| c.labels).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_like_docker() {
        let labels: BTreeMap<String, String> = [("a".to_owned(), "1".to_owned())].into();
        for (spec, negate, want) in [
            ("a", false, true),
            ("a=1", false, true),
            ("a=2", false, false),
            ("b", false, false),
            ("a", true, false),
            ("b", true, true),
        ] {
            assert_eq!(
                LabelFilter::parse(spec, negate).unwrap().matches(&labels),
                want,
                "{spec} {negate}"
            );
        }
        assert!(LabelFilter::parse("=x", false).is_err());
    }

    #[test]
    fn until_takes_times_and_durations() {
        assert_eq!(parse_until("1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(
            parse_until("2023-11-14T22:13:20Z", 0).unwrap(),
            1_700_000_000
        );
        assert_eq!(parse_until("1h30m", 10_000).unwrap(), 10_000 - 5400);
        for bad in ["", "1d", "h", "10"] {
            if bad == "10" {
                continue; // plain numbers are Unix times
            }
            assert!(parse_until(bad, 0).is_err(), "{bad}");
        }
    }
}
