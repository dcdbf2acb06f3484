//! `kasane images` / `image ls` (docker-formats.md §1.4).

use std::collections::BTreeMap;

use clap::Args;
use kasane::output::{
    FormatMode, ago, go_time_string_of_rfc3339, human_size, human_size_with_precision, render_rows,
};
use kasane_engine::ImageSummary;
use kasane_engine::filter::LabelFilter;
use serde_json::{Value, json};

use super::{GlobalOptions, image_id, now_unix, open_engine};

const DEFAULT: &str = "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\\t{{.Size}}";
const DEFAULT_DIGESTS: &str = "table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\\t{{.Size}}";

const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// `images [OPTIONS] [REPOSITORY[:TAG]]`
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Filter output based on conditions provided (dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE, label=KEY[=VALUE])
    #[arg(short, long = "filter", value_name = "FILTER")]
    filters: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Repository (and tag) to list
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

/// One filter condition.
enum Filter {
    Dangling(bool),
    Reference(String),
    Before(i64),
    Since(i64),
    Label(LabelFilter),
}

pub fn run(g: &GlobalOptions, a: ImagesArgs) -> anyhow::Result<u8> {
    let mut engine = open_engine(g)?;
    let mut filters = Vec::new();
    for f in &a.filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value): {f}"))?;
        filters.push(match k {
            "dangling" => match v {
                "true" | "1" => Filter::Dangling(true),
                "false" | "0" => Filter::Dangling(false),
                _ => anyhow::bail!("invalid filter 'dangling={v}'"),
            },
            "reference" => Filter::Reference(v.to_owned()),
            "before" | "since" => {
                let (img, _) = engine.resolve_image(v)?;
                let created = img
                    .created
                    .as_deref()
                    .and_then(kasane_engine::images::parse_time)
                    .unwrap_or(0);
                if k == "before" {
                    Filter::Before(created)
                } else {
                    Filter::Since(created)
                }
            }
            "label" => Filter::Label(LabelFilter::parse(v, false)?),
            _ => anyhow::bail!("invalid filter '{k}'"),
        });
    }
    if let Some(r) = &a.reference {
        filters.push(Filter::Reference(r.clone()));
    }
    let images = engine.images()?;
    let show_digests = a.digests || a.format.as_deref().is_some_and(|f| f.contains(".Digest"));
    let now = now_unix();
    let mut rows = Vec::new();
    let wants_labels = filters.iter().any(|f| matches!(f, Filter::Label(_)));
    for img in &images {
        if !keep(img, &filters) {
            continue;
        }
        if wants_labels {
            let labels = engine.image_labels(&img.id)?;
            let ok = filters.iter().all(|f| match f {
                Filter::Label(l) => l.matches(&labels),
                _ => true,
            });
            if !ok {
                continue;
            }
        }
        rows.extend(image_rows(img, &filters, show_digests, a.no_trunc, now));
    }
    let format = if a.quiet {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let default = if a.digests { DEFAULT_DIGESTS } else { DEFAULT };
    let mode = FormatMode::parse(format, default)?;
    let _ = a.all; // no intermediate (parent-chained) images exist without the classic builder
    print!("{}", render_rows(&mode, HEADERS, &rows)?);
    Ok(0)
}

fn keep(img: &ImageSummary, filters: &[Filter]) -> bool {
    let created = img.created.unwrap_or(0);
    filters.iter().all(|f| match f {
        Filter::Dangling(d) => img.dangling == *d,
        Filter::Reference(_) | Filter::Label(_) => true, // applied per row / with the config
        Filter::Before(t) => created < *t,
        Filter::Since(t) => created > *t,
    })
}

/// docker's reference filter: a glob on the familiar name, optionally `:tag`.
fn reference_matches(pattern: &str, repo: &str, tag: Option<&str>) -> bool {
    let (pat_repo, pat_tag) = match pattern.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (pattern, None),
    };
    if !glob(pat_repo, repo) {
        return false;
    }
    match (pat_tag, tag) {
        (None, _) => true,
        (Some(pt), Some(t)) => glob(pt, t),
        (Some(_), None) => false,
    }
}

/// Go `path.Match`-style glob: `*` and `?` do not cross `/`; `[...]` classes.
fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != '/')
                .any(|i| go(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && s[0] != '/' && go(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return false;
                };
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let Some(&c) = s.first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[end + 1..], &s[1..])
            }
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && go(&p[2..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    go(&p, &s)
}

fn image_rows(
    img: &ImageSummary,
    filters: &[Filter],
    digests: bool,
    no_trunc: bool,
    now: i64,
) -> Vec<Value> {
    let ref_patterns: Vec<&str> = filters
        .iter()
        .filter_map(|f| match f {
            Filter::Reference(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    let row = |repo: &str, tag: &str, digest: &str| {
        json!({
            "Containers": "N/A",
            "CreatedAt": img.created_raw.as_deref().and_then(go_time_string_of_rfc3339).unwrap_or_default(),
            "CreatedSince": img.created.map(|c| ago(c, now)).unwrap_or_default(),
            "Digest": digest,
            "ID": image_id(&img.id, no_trunc),
            "Repository": repo,
            "SharedSize": "N/A",
            "Size": human_size_with_precision(img.size as i64, 3),
            "Tag": tag,
            "UniqueSize": "N/A",
            "VirtualSize": human_size(img.size as i64),
        })
    };
    if img.dangling {
        if !ref_patterns.is_empty() {
            return Vec::new();
        }
        return vec![row("<none>", "<none>", if digests { "<none>" } else { "" })];
    }
    // Group by familiar repository; BTreeMap gives a stable order.
    let mut repos: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for t in &img.tags {
        repos
            .entry(t.familiar_name())
            .or_default()
            .0
            .push(t.tag_or_latest().to_owned());
    }
    for d in &img.digests {
        if let Some(dg) = &d.digest {
            repos
                .entry(d.familiar_name())
                .or_default()
                .1
                .push(dg.to_string());
        }
    }
    let mut rows = Vec::new();
    for (repo, (tags, dgs)) in repos {
        if tags.is_empty() {
            if !ref_patterns
                .iter()
                .all(|p| reference_matches(p, &repo, None))
            {
                continue;
            }
            if digests {
                for d in &dgs {
                    rows.push(row(&repo, "<none>", d));
                }
            } else {
                rows.push(row(&repo, "<none>", ""));
            }
            continue;
        }
        for tag in &tags {
            if !ref_patterns
                .iter()
                .all(|p| reference_matches(p, &repo, Some(tag)))
            {
                continue;
            }
            if digests {
                if dgs.is_empty() {
                    rows.push(row(&repo, tag, "<none>"));
                }
                for d in &dgs {
                    rows.push(row(&repo, tag, d));
                }
            } else {
                rows.push(row(&repo, tag, ""));
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs_like_docker() {
        for (pattern, repo, tag, want) in [
            ("nginx", "nginx", Some("latest"), true),
            ("nginx:1.*", "nginx", Some("1.27"), true),
            ("nginx:1.*", "nginx", Some("latest"), false),
            ("ngi*", "nginx", Some("latest"), true),
            ("*", "foo/bar", Some("x"), false),
            ("*/*", "foo/bar", Some("x"), true),
            ("localhost:5000/x", "localhost:5000/x", Some("1"), true),
        ] {
            assert_eq!(
                reference_matches(pattern, repo, tag),
                want,
                "{pattern} {repo} {tag:?}"
            );
        }
    }
}
