//! Volumes: directories that outlive containers, docker's `local` driver.
//!
//! A volume is `<root>/volumes/<name>/` holding `_data/` (what containers mount) and
//! `volume.json` (creation time, labels, whether it is anonymous), written atomically after
//! the directories. A directory without `volume.json` (an older kasane, or a crash between
//! the two steps) is still a volume: created at the directory's mtime, without labels,
//! anonymous when its name is 64 hex digits as generated names are.
//!
//! Containers refer to volumes by name in their options; a volume is *in use* while any
//! container (running or not) names it. `volumes/.lock` serialises creating containers
//! that name volumes against removing volumes, so `volume rm` and `prune` never take a
//! volume away from a container being created.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::error::{EngineError, Result};
use crate::filter::LabelFilter;

/// The label docker puts on volumes it generated for `-v /path` and image `VOLUME`s.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume as `volume ls` and `volume inspect` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The volume's name (64 hex digits for an anonymous one).
    pub name: String,
    /// Creation time as docker shows it: RFC 3339 in seconds, in the local time zone.
    pub created: String,
    /// User labels (`--label`), plus [`ANONYMOUS_LABEL`] on anonymous volumes.
    pub labels: BTreeMap<String, String>,
    /// Generated for a container rather than created by name: `rm -v`, `--rm` and a plain
    /// `volume prune` remove it.
    pub anonymous: bool,
    /// The host directory containers mount (`<root>/volumes/<name>/_data`).
    pub mountpoint: PathBuf,
}

/// What `volume.json` records.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct VolumeMeta {
    created: String,
    labels: BTreeMap<String, String>,
    anonymous: bool,
}

/// Checks a volume name against docker's rule for the local driver.
///
/// # Errors
/// `InvalidArgument` with docker's message.
pub fn validate_volume_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    if b.len() < 2 && b.first().is_none_or(u8::is_ascii_alphanumeric) {
        return Err(EngineError::InvalidArgument(format!(
            "create {name}: volume name is too short, names should be at least two \
             alphanumeric characters"
        )));
    }
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::InvalidArgument(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, \
             only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host \
             directory, use absolute path"
        )))
    }
}

/// `t` as docker's `CreatedAt` of volumes: RFC 3339 without fractions, local zone (`Z` in
/// UTC, as Go writes it).
fn docker_time(t: jiff::Timestamp) -> String {
    let z = t.to_zoned(jiff::tz::TimeZone::system());
    if z.offset().seconds() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// A fresh name for an anonymous volume: 64 random hex digits, as docker makes them.
pub fn anonymous_volume_name() -> String {
    crate::containers::new_id()
}

fn looks_generated(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Engine {
    /// Where volumes live.
    pub(crate) fn volumes_dir(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// Takes the volumes lock (see the module docs) until the returned file is dropped.
    pub(crate) fn lock_volumes(&self) -> Result<File> {
        let dir = self.volumes_dir();
        crate::containers::mkdir(&dir)?;
        let path = dir.join(".lock");
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| EngineError::io(format!("opening {}", path.display()), e))?;
        f.lock()
            .map_err(|e| EngineError::io(format!("locking {}", path.display()), e))?;
        Ok(f)
    }

    /// Creates volume `name` (a generated name when `None`), or returns it when it exists:
    /// docker's `volume create` of an existing name succeeds and changes nothing.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name; `Io` when the directories cannot be made.
    pub fn create_volume(
        &mut self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let _lock = self.lock_volumes()?;
        match name {
            Some(n) => self.ensure_volume(n, labels, false),
            // docker labels a volume it named itself as anonymous: `prune` removes it.
            None => self.ensure_volume(&anonymous_volume_name(), labels, true),
        }
    }

    /// Makes volume `name` exist; the caller holds the volumes lock.
    pub(crate) fn ensure_volume(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        validate_volume_name(name)?;
        let dir = self.volumes_dir().join(name);
        if dir.join("_data").is_dir() {
            return self.read_volume(name);
        }
        crate::containers::mkdir(&dir.join("_data"))?;
        let meta = VolumeMeta {
            created: docker_time(jiff::Timestamp::now()),
            labels,
            anonymous,
        };
        let json = serde_json::to_vec(&meta)
            .map_err(|e| EngineError::InvalidArgument(format!("volume {name}: {e}")))?;
        kasane_store::atomic::write_atomic(&dir.join("volume.json"), &json)?;
        self.read_volume(name)
    }

    fn read_volume(&self, name: &str) -> Result<Volume> {
        let dir = self.volumes_dir().join(name);
        let data = dir.join("_data");
        let st = std::fs::metadata(&data).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                EngineError::NoSuchVolume(name.to_owned())
            } else {
                EngineError::io(format!("reading {}", data.display()), e)
            }
        })?;
        let meta: Option<VolumeMeta> = std::fs::read(dir.join("volume.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let (created, mut labels, anonymous) = match meta {
            Some(m) if !m.created.is_empty() => (m.created, m.labels, m.anonymous),
            other => {
                let created = jiff::Timestamp::from_second(st.ctime())
                    .map(docker_time)
                    .unwrap_or_default();
                let m = other.unwrap_or_default();
                (created, m.labels, m.anonymous || looks_generated(name))
            }
        };
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.to_owned(), String::new());
        }
        Ok(Volume {
            name: name.to_owned(),
            created,
            labels,
            anonymous,
            mountpoint: data,
        })
    }

    /// A volume named by an older kasane for one container: no `volume.json`, a
    /// generated name.
    pub(crate) fn is_legacy_generated_volume(&self, name: &str) -> bool {
        let dir = self.volumes_dir().join(name);
        looks_generated(name) && dir.is_dir() && !dir.join("volume.json").exists()
    }

    /// Volume `name`.
    ///
    /// # Errors
    /// `NoSuchVolume`.
    pub fn volume(&self, name: &str) -> Result<Volume> {
        if validate_volume_name(name).is_err() {
            return Err(EngineError::NoSuchVolume(name.to_owned()));
        }
        self.read_volume(name)
    }

    /// Every volume, by name.
    ///
    /// # Errors
    /// `Io` when the volumes directory cannot be read.
    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let dir = self.volumes_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(EngineError::io(format!("reading {}", dir.display()), e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(|e| EngineError::io(format!("reading {}", dir.display()), e))?;
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_volume_name(&name).is_err() {
                continue; // `.lock`, temp files
            }
            match self.read_volume(&name) {
                Ok(v) => out.push(v),
                Err(EngineError::NoSuchVolume(_)) => {} // removed meanwhile, or half made
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        Ok(out)
    }

    /// For each volume that containers name: the ids of those containers.
    ///
    /// # Errors
    /// The metadata cannot be read.
    pub fn volume_users(&mut self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in self.container_records()? {
            let Ok(opts) = self.container_options(&c) else {
                continue;
            };
            let mut seen = HashSet::new();
            for v in opts.volumes.iter().filter(|v| v.kind == "volume") {
                if seen.insert(v.source.clone()) {
                    users
                        .entry(v.source.clone())
                        .or_default()
                        .push(c.id.clone());
                }
            }
        }
        Ok(users)
    }

    /// Removes volume `name` and its data.
    ///
    /// # Errors
    /// `NoSuchVolume`; `VolumeInUse` while a container names it.
    pub fn remove_volume(&mut self, name: &str) -> Result<()> {
        let _lock = self.lock_volumes()?;
        let v = self.volume(name)?;
        if let Some(ids) = self.volume_users()?.remove(&v.name) {
            return Err(EngineError::VolumeInUse {
                name: v.name,
                containers: ids,
            });
        }
        self.delete_volume_dir(&v.name)
    }

    pub(crate) fn delete_volume_dir(&self, name: &str) -> Result<()> {
        let dir = self.volumes_dir().join(name);
        // Renamed out of the way first, so a crash never leaves a half-deleted volume that
        // still looks whole.
        let trash = self
            .volumes_dir()
            .join(format!(".removing-{name}-{}", std::process::id()));
        match std::fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(EngineError::io(format!("removing {}", dir.display()), e)),
        }
        std::fs::remove_dir_all(&trash)
            .map_err(|e| EngineError::io(format!("removing {}", trash.display()), e))
    }

    /// Removes the volumes no container names: only anonymous ones unless `all`, and only
    /// those whose labels pass every filter. Returns their names and the bytes freed.
    ///
    /// # Errors
    /// As [`Engine::remove_volume`].
    pub fn prune_volumes(
        &mut self,
        all: bool,
        filters: &[LabelFilter],
    ) -> Result<(Vec<String>, u64)> {
        let _lock = self.lock_volumes()?;
        let users = self.volume_users()?;
        let mut names = Vec::new();
        let mut reclaimed = 0;
        for v in self.volumes()? {
            if users.contains_key(&v.name)
                || !(all || v.anonymous)
                || !filters.iter().all(|f| f.matches(&v.labels))
            {
                continue;
            }
            reclaimed += volume_size(&v.mountpoint);
            self.delete_volume_dir(&v.name)?;
            names.push(v.name);
        }
        Ok((names, reclaimed))
    }

    /// What crashed volume removals left (`.removing-*`): `system check` reports them and
    /// `--repair` deletes them.
    pub(crate) fn volume_leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.volumes_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".removing-"))
            .map(|e| e.path())
            .collect()
    }
}

/// Orders names as docker lists volumes: runs of digits by their value (`v2` < `v10`),
/// everything else byte by byte.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (x, y) = (trim_zeros(&a[si..i]), trim_zeros(&b[sj..j]));
            let ord = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n..]
}

/// Bytes a volume's data takes as docker counts them: the sizes of everything but
/// directories, each hard-linked inode once. Unreadable parts count as nothing.
pub fn volume_size(data: &Path) -> u64 {
    fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>, total: &mut u64) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(st) = e.path().symlink_metadata() else {
                continue;
            };
            if st.is_dir() {
                walk(&e.path(), seen, total);
            } else if st.size() > 0 && seen.insert((st.dev(), st.ino())) {
                *total += st.size();
            }
        }
    }
    let mut total = 0;
    walk(data, &mut HashSet::new(), &mut total);
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["ab", "my-vol", "data.1", "A_b", "0x"] {
            assert!(validate_volume_name(ok).is_ok(), "{ok}");
        }
        for bad in ["-a", ".lock", "a/b", "a b", "é1", "_x", "-"] {
            let e = validate_volume_name(bad).unwrap_err().to_string();
            assert!(e.contains("includes invalid characters"), "{bad}: {e}");
        }
    }

    #[test]
    fn one_character_names_are_too_short() {
        let e = validate_volume_name("a").unwrap_err().to_string();
        assert!(e.contains("volume name is too short"), "{e}");
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["vol10", "vol2", "a", "vol02x", "B", "vol1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["B", "a", "vol1", "vol2", "vol02x", "vol10"]);
    }

    #[test]
    fn created_times_look_like_dockers() {
        let t = docker_time(jiff::Timestamp::from_second(1_700_000_000).unwrap());
        assert!(t.starts_with("2023-11-1"), "{t}");
        assert!(
            t.ends_with('Z') || t.len() == "2023-11-14T22:13:20+00:00".len(),
            "{t}"
        );
        assert!(!t.contains('.'), "{t}");
    }

    #[test]
    fn generated_names_are_valid_and_recognised() {
        let n = anonymous_volume_name();
        assert!(validate_volume_name(&n).is_ok());
        assert!(looks_generated(&n));
        assert!(!looks_generated("data"));
    }

    #[test]
    fn size_counts_hard_links_once_and_skips_directories() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/a"), vec![0u8; 1000]).unwrap();
        std::fs::hard_link(d.path().join("sub/a"), d.path().join("b")).unwrap();
        std::fs::write(d.path().join("c"), b"xyz").unwrap();
        std::os::unix::fs::symlink("sub/a", d.path().join("l")).unwrap();
        assert_eq!(volume_size(d.path()), 1000 + 3 + 5);
        assert_eq!(volume_size(&d.path().join("missing")), 0);
    }
}
