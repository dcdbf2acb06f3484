//! `create`: a container row, its directory and its writable snapshot on the image's layers.

use std::collections::BTreeMap;

use kasane_runtime::ports::PortMapping;
use kasane_runtime::{MountSpec, NetworkMode, RunOptions};
use kasane_snapshot::SnapshotId;
use kasane_store::metadata::ContainerRecord;
use serde::{Deserialize, Serialize};

use super::names::{new_id, random_name, validate_name};
use super::state::RunState;
use super::{mkdir, now_rfc3339};
use crate::error::{EngineError, Result};
use crate::{Engine, snap_id};

/// `--restart`: what the monitor does when the container's process exits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `no`, `on-failure`, `always` or `unless-stopped`.
    pub name: String,
    /// For `on-failure:N`: at most N restarts (0 = unlimited).
    pub max_retries: u32,
}

impl RestartPolicy {
    /// Parses docker's `--restart` value.
    ///
    /// # Errors
    /// An unknown policy or a bad count.
    pub fn parse(s: &str) -> Result<RestartPolicy> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let bad = || EngineError::InvalidArgument(format!("invalid restart policy {s:?}"));
        match (name, count) {
            ("" | "no", None) => Ok(RestartPolicy {
                name: "no".into(),
                max_retries: 0,
            }),
            ("always" | "unless-stopped", None) => Ok(RestartPolicy {
                name: name.into(),
                max_retries: 0,
            }),
            ("on-failure", c) => Ok(RestartPolicy {
                name: name.into(),
                max_retries: c
                    .map(|c| c.parse().map_err(|_| bad()))
                    .transpose()?
                    .unwrap_or(0),
            }),
            _ => Err(bad()),
        }
    }

    /// Whether a process that exited with `code` after `restarts` restarts is restarted.
    pub fn should_restart(&self, code: i32, restarts: u32) -> bool {
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.max_retries == 0 || restarts < self.max_retries),
            _ => false,
        }
    }
}

/// A `-v`/`--mount`/`--tmpfs` request as the user gave it (named volumes resolved at start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Host path (bind) or volume name (volume); empty for tmpfs.
    pub source: String,
    /// Absolute path inside the container.
    pub destination: String,
    /// Read-only.
    pub read_only: bool,
    /// Extra options (tmpfs `size=64m`).
    pub options: Vec<String>,
    /// A volume kasane named for this container (`-v /path`, an image `VOLUME`): `rm -v`
    /// and `--rm` remove it. The CLI leaves `source` empty; create names it.
    #[serde(default)]
    pub anonymous: bool,
}

/// Everything `run`/`create` decide about a container, kept in the metadata as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerOptions {
    /// The image as the user named it (`nginx`, `sha256:…`).
    pub image: String,
    /// `--name` (a random name when `None`).
    pub name: Option<String>,
    /// Arguments after the image name.
    pub cmd: Vec<String>,
    /// `--entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `-e`/`--env-file`, as `KEY=value`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `--hostname` (default: the short id).
    pub hostname: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `--read-only`.
    pub read_only: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--network`: `private` (default), `host` or `none`.
    pub network: String,
    /// `--memory` in bytes.
    pub memory: Option<u64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `-v`, `--mount`, `--tmpfs`.
    pub volumes: Vec<VolumeSpec>,
    /// `--init`.
    pub init: bool,
    /// `-p`.
    pub publish: Vec<PortMapping>,
    /// `-P`: publish every exposed port on an ephemeral host port.
    pub publish_all: bool,
    /// `--restart`.
    pub restart: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--runtime` (empty: the embedded one).
    pub runtime: String,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--security-opt seccomp=unconfined`.
    pub seccomp_unconfined: bool,
    /// `--stop-signal` (default: the image's, else SIGTERM).
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds (default 10).
    pub stop_timeout: Option<u32>,
    /// `--ulimit name=soft[:hard]`, parsed.
    pub ulimits: Vec<(String, u64, u64)>,
}

impl ContainerOptions {
    /// The network mode.
    pub fn network_mode(&self) -> Result<NetworkMode> {
        match self.network.as_str() {
            "" | "private" | "default" | "bridge" => Ok(NetworkMode::Private),
            "host" => Ok(NetworkMode::Host),
            "none" => Ok(NetworkMode::None),
            other => Err(EngineError::InvalidArgument(format!(
                "network {other} not found: kasane has \"private\" (the default: loopback \
                 only, ports with -p), \"host\" and \"none\""
            ))),
        }
    }

    /// The runtime's options for this container, with named volumes under `volumes_dir`.
    pub(crate) fn run_options(
        &self,
        id: &str,
        volumes_dir: &std::path::Path,
    ) -> Result<RunOptions> {
        let mut mounts = Vec::new();
        for v in &self.volumes {
            mounts.push(match v.kind.as_str() {
                "bind" => MountSpec::Bind {
                    source: v.source.clone().into(),
                    destination: v.destination.clone(),
                    read_only: v.read_only,
                },
                "volume" => MountSpec::Volume {
                    source: volumes_dir.join(&v.source).join("_data"),
                    destination: v.destination.clone(),
                    read_only: v.read_only,
                },
                "tmpfs" => MountSpec::Tmpfs {
                    destination: v.destination.clone(),
                    options: v.options.clone(),
                },
                other => {
                    return Err(EngineError::InvalidArgument(format!(
                        "unknown mount type {other:?}"
                    )));
                }
            });
        }
        let mut run = RunOptions {
            cmd: self.cmd.clone(),
            entrypoint: self.entrypoint.clone(),
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: match (&self.hostname, self.network_mode()?) {
                (Some(h), _) => h.clone(),
                // docker: a host-network container has the host's name.
                (None, NetworkMode::Host) => std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_owned())
                    .unwrap_or_else(|_| id[..12].to_owned()),
                (None, _) => id[..12].to_owned(),
            },
            tty: self.tty,
            read_only: self.read_only,
            privileged: self.privileged,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            network: self.network_mode()?,
            memory: self.memory,
            cpus: self.cpus,
            pids_limit: self.pids_limit,
            mounts,
            init: self.init,
            cgroups_path: Some(format!("/kasane/{id}")),
            rlimits: self
                .ulimits
                .iter()
                .map(|(name, soft, hard)| kasane_runtime::Ulimit {
                    name: name.clone(),
                    soft: *soft,
                    hard: *hard,
                })
                .collect(),
            ..Default::default()
        };
        if self.seccomp_unconfined {
            run.seccomp = kasane_runtime::SeccompMode::Unconfined;
        }
        Ok(run)
    }
}

impl Engine {
    /// Creates a container of `opts.image` (which must be local): its row, directory and
    /// writable snapshot. Nothing runs yet.
    ///
    /// # Errors
    /// `NoSuchImage`; a name in use (`Conflict`, docker's message); bad options.
    pub fn create_container(&mut self, opts: &ContainerOptions) -> Result<ContainerRecord> {
        opts.network_mode()?;
        let mut destinations = std::collections::HashSet::new();
        for v in &opts.volumes {
            if !v.destination.starts_with('/') {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid mount config: mount path must be absolute: {}",
                    v.destination
                )));
            }
            let dest = v.destination.trim_end_matches('/');
            if !destinations.insert(if dest.is_empty() { "/" } else { dest }) {
                return Err(EngineError::InvalidArgument(format!(
                    "Duplicate mount point: {}",
                    v.destination
                )));
            }
        }
        let (image, _) = self.resolve_image(&opts.image)?;
        let mut opts = opts.clone();
        let (image_config, _) = self.config_of(&image)?;
        add_image_volumes(&mut opts, &image_config);
        // Volumes are made (and anonymous ones named) now, as docker does, and under the
        // volumes lock until the row names them, so that no `volume rm` takes them away.
        let _volumes_lock = if opts.volumes.iter().any(|v| v.kind == "volume") {
            Some(self.lock_volumes()?)
        } else {
            None
        };
        for v in opts.volumes.iter_mut().filter(|v| v.kind == "volume") {
            if v.source.is_empty() {
                v.source = crate::volumes::anonymous_volume_name();
                v.anonymous = true;
            }
            self.ensure_volume(&v.source, BTreeMap::new(), v.anonymous)?;
        }
        let opts = &opts;
        let config = serde_json::to_string(opts).map_err(|e| {
            EngineError::InvalidArgument(format!("container options do not serialise: {e}"))
        })?;
        let name = match &opts.name {
            Some(n) => validate_name(n)?,
            None => {
                let existing: Vec<String> = self
                    .container_records()?
                    .into_iter()
                    .map(|c| c.name)
                    .collect();
                random_name(|n| existing.iter().any(|e| e == n))
            }
        };
        let id = new_id();
        let parents = self.layer_snapshots(&image)?;
        let record = self.metadata.write(|tx| {
            let record = ContainerRecord {
                id: id.clone(),
                name: name.clone(),
                image: image.id.clone(),
                snapshot_id: tx.next_snapshot_id()?,
                created: now_rfc3339(),
                config: config.clone(),
            };
            tx.insert_container(&record)?;
            Ok(record)
        })?;
        let made = (|| {
            let paths = self.container_paths(&id);
            mkdir(&paths.dir)?;
            mkdir(&paths.rootfs())?;
            RunState::default().save(&paths.state())?;
            self.snapshots
                .prepare_active(&snap_id(&record.snapshot_id)?, &parents)?;
            Ok(())
        })();
        if let Err(e) = made {
            let _ = self.metadata.write(|tx| tx.delete_container(&id));
            let _ = std::fs::remove_dir_all(self.container_paths(&id).dir);
            if let Ok(s) = snap_id(&record.snapshot_id) {
                let _ = self.snapshots.remove(&s);
            }
            return Err(e);
        }
        Ok(record)
    }

    /// The snapshot ids of an image's layers, nearest (top) first: overlay's lowerdir order.
    pub(crate) fn layer_snapshots(
        &mut self,
        image: &kasane_store::metadata::ImageRecord,
    ) -> Result<Vec<SnapshotId>> {
        let mut out = Vec::with_capacity(image.layers.len());
        for layer in image.layers.iter().rev() {
            let rec = self
                .metadata
                .read(|tx| tx.layer(&layer.chain_id))?
                .ok_or_else(|| {
                    EngineError::NotFound(format!(
                        "layer {} of image {} is not unpacked; pull or load the image again",
                        layer.chain_id, image.id
                    ))
                })?;
            out.push(snap_id(&rec.snapshot_id)?);
        }
        Ok(out)
    }
}

/// Adds an anonymous volume for each `VOLUME` of the image that no `-v`/`--mount` of the
/// user covers (docker does the same; the image's files there are copied in at start).
fn add_image_volumes(opts: &mut ContainerOptions, config: &kasane_oci::ImageConfig) {
    let Some(volumes) = config.config.as_ref().and_then(|c| c.volumes.as_ref()) else {
        return;
    };
    for dest in volumes.keys() {
        let clean = |p: &str| p.trim_end_matches('/').to_owned();
        if !dest.starts_with('/')
            || opts
                .volumes
                .iter()
                .any(|v| clean(&v.destination) == clean(dest))
        {
            continue;
        }
        opts.volumes.push(VolumeSpec {
            kind: "volume".into(),
            source: String::new(),
            destination: dest.clone(),
            read_only: false,
            options: Vec::new(),
            anonymous: true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_and_decide() {
        assert_eq!(RestartPolicy::parse("no").unwrap().name, "no");
        let p = RestartPolicy::parse("on-failure:2").unwrap();
        assert_eq!(p.max_retries, 2);
        assert!(p.should_restart(1, 0));
        assert!(p.should_restart(1, 1));
        assert!(!p.should_restart(1, 2));
        assert!(!p.should_restart(0, 0));
        assert!(
            RestartPolicy::parse("always")
                .unwrap()
                .should_restart(0, 100)
        );
        assert!(RestartPolicy::parse("sometimes").is_err());
        assert!(RestartPolicy::parse("on-failure:x").is_err());
        assert!(!RestartPolicy::default().should_restart(1, 0));
    }

    #[test]
    fn options_round_trip_through_json() {
        let o = ContainerOptions {
            image: "nginx".into(),
            cmd: vec!["sh".into()],
            network: "none".into(),
            ..Default::default()
        };
        let s = serde_json::to_string(&o).unwrap();
        assert_eq!(serde_json::from_str::<ContainerOptions>(&s).unwrap(), o);
        assert_eq!(o.network_mode().unwrap(), NetworkMode::None);
        let bad = ContainerOptions {
            network: "bridge2".into(),
            ..Default::default()
        };
        assert!(bad.network_mode().is_err());
    }
}
