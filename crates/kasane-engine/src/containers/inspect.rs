//! What `ps` and `inspect` show about containers.

use kasane_oci::{ImageConfig, ImageId};
use kasane_runtime::ports::{PortMapping, Protocol, parse_expose};
use kasane_store::metadata::{ContainerRecord, ImageRecord};
use serde_json::{Value, json};

use super::ContainerOptions;
use super::state::{RunState, Status};
use crate::error::Result;
use crate::{Engine, snap_id};

/// One row of `ps`.
#[derive(Debug, Clone)]
pub struct ContainerSummary {
    /// 64 hex.
    pub id: String,
    /// Name without `/`.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's ID.
    pub image_id: ImageId,
    /// The command: path and arguments, docker-quoted.
    pub command: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Reconciled run state.
    pub state: RunState,
    /// Published ports (as bound while running, as requested otherwise).
    pub ports: Vec<PortMapping>,
    /// Ports the image exposes (shown when not published).
    pub exposed: Vec<(u16, Protocol)>,
    /// `--label`s.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Mount sources (volume names or host paths).
    pub mounts: Vec<String>,
    /// Size of the writable layer, when asked for.
    pub size_rw: Option<u64>,
    /// Size of the image under it, when asked for.
    pub size_root_fs: Option<u64>,
}

/// `inspect` of a container: docker's JSON, key order included.
pub type ContainerDetails = Value;

/// docker's `Command` column: the path and each argument, arguments with a space quoted.
pub fn display_command(args: &[String]) -> String {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            if i > 0 && a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Engine {
    /// The container's image row and its config, each read once per container (`None` when
    /// the image or its config cannot be read: the container is still listed).
    fn image_and_config(
        &mut self,
        record: &ContainerRecord,
    ) -> (Option<ImageRecord>, Option<ImageConfig>) {
        let image = self.image_record(&record.image).ok();
        let config = image
            .as_ref()
            .and_then(|i| self.config_of(i).ok())
            .map(|(c, _)| c);
        (image, config)
    }

    /// `ps`: every container (`all`) or the running ones, newest first.
    ///
    /// # Errors
    /// Metadata errors.
    pub fn list_containers(&mut self, all: bool, size: bool) -> Result<Vec<ContainerSummary>> {
        let mut out = Vec::new();
        for record in self.container_records()? {
            let state = self.container_state(&record)?;
            if !all && !state.is_running() {
                continue;
            }
            out.push(self.container_summary(record, state, size)?);
        }
        Ok(out)
    }

    fn container_summary(
        &mut self,
        record: ContainerRecord,
        state: RunState,
        size: bool,
    ) -> Result<ContainerSummary> {
        let opts = self.container_options(&record)?;
        let (image, image_config) = self.image_and_config(&record);
        let args = container_args(image_config.as_ref(), &opts);
        let exposed = exposed_ports(image_config.as_ref());
        let ports = if state.is_running() {
            state.ports.clone()
        } else {
            Vec::new()
        };
        let (size_rw, size_root_fs) = if size {
            let rw = snap_id(&record.snapshot_id)
                .ok()
                .and_then(|s| self.snapshots.usage(&s).ok())
                .map(|u| u.size);
            let root = image.as_ref().map(|i| i.size);
            (rw, root)
        } else {
            (None, None)
        };
        Ok(ContainerSummary {
            command: display_command(&args),
            image: opts.image.clone(),
            image_id: record.image.clone(),
            created: record.created.clone(),
            ports,
            exposed,
            labels: opts.labels.clone(),
            mounts: opts
                .volumes
                .iter()
                .filter(|v| v.kind != "tmpfs")
                .map(|v| v.source.clone())
                .collect(),
            size_rw,
            size_root_fs,
            state,
            id: record.id,
            name: record.name,
        })
    }

    /// `inspect` of container `name`: docker's JSON document.
    ///
    /// # Errors
    /// `NoSuchContainer`.
    pub fn inspect_container(&mut self, name: &str, size: bool) -> Result<ContainerDetails> {
        let record = self.find_container(name)?;
        let state = self.container_state(&record)?;
        let opts = self.container_options(&record)?;
        let (image, config) = self.image_and_config(&record);
        let args = container_args(config.as_ref(), &opts);
        let paths = self.container_paths(&record.id);
        let image_cfg = config.as_ref().and_then(|c| c.config.as_ref());
        let zero = "0001-01-01T00:00:00Z";

        let mut env: Vec<String> = image_cfg.and_then(|c| c.env.clone()).unwrap_or_default();
        for e in &opts.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        let mut exposed = serde_json::Map::new();
        for (port, proto) in exposed_ports(config.as_ref()) {
            exposed.insert(format!("{port}/{proto}"), json!({}));
        }
        for m in &opts.publish {
            exposed.insert(format!("{}/{}", m.container_port, m.protocol), json!({}));
        }
        let mut ports = serde_json::Map::new();
        for key in exposed.keys() {
            ports.insert(key.clone(), Value::Null);
        }
        for m in if state.is_running() {
            &state.ports
        } else {
            &opts.publish
        } {
            let key = format!("{}/{}", m.container_port, m.protocol);
            let binding = json!({
                "HostIp": m.host_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                "HostPort": if m.host_port == 0 { String::new() } else { m.host_port.to_string() },
            });
            match ports.get_mut(&key) {
                Some(Value::Array(list)) => list.push(binding),
                _ => {
                    ports.insert(key, json!([binding]));
                }
            }
        }
        let mut port_bindings = serde_json::Map::new();
        for m in &opts.publish {
            let key = format!("{}/{}", m.container_port, m.protocol);
            let b = json!({
                "HostIp": m.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                "HostPort": if m.host_port == 0 { String::new() } else { m.host_port.to_string() },
            });
            if let Some(a) = port_bindings
                .entry(key)
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                a.push(b)
            }
        }
        let mounts: Vec<Value> = opts
            .volumes
            .iter()
            .map(|v| {
                let source = if v.kind == "volume" {
                    self.volumes_dir()
                        .join(&v.source)
                        .join("_data")
                        .display()
                        .to_string()
                } else {
                    v.source.clone()
                };
                let mut m = json!({
                    "Type": v.kind,
                    "Source": source,
                    "Destination": v.destination,
                    "Mode": if v.kind == "volume" { "z" } else { "" },
                    "RW": !v.read_only,
                    "Propagation": if v.kind == "bind" { "rprivate" } else { "" },
                });
                if v.kind == "volume" {
                    m["Name"] = json!(v.source);
                    m["Driver"] = json!("local");
                }
                m
            })
            .collect();
        let lowers: Vec<String> = image
            .as_ref()
            .and_then(|i| self.layer_snapshots(i).ok())
            .unwrap_or_default()
            .iter()
            .map(|s| self.snapshots.fs_dir(s).display().to_string())
            .collect();
        let snap = snap_id(&record.snapshot_id)?;
        let upper = self.snapshots.fs_dir(&snap);
        let work = upper.parent().map(|p| p.join("work")).unwrap_or_default();
        let running = state.status == Status::Running;
        let hostname = opts
            .hostname
            .clone()
            .unwrap_or_else(|| record.id[..12].to_owned());
        let mut doc = json!({
            "Id": record.id,
            "Created": record.created,
            "Path": args.first().cloned().unwrap_or_default(),
            "Args": args.iter().skip(1).collect::<Vec<_>>(),
            "State": {
                "Status": state.docker_status(),
                "Running": running,
                "Paused": state.paused,
                "Restarting": state.status == Status::Restarting,
                "OOMKilled": state.oom_killed,
                "Dead": state.status == Status::Dead,
                "Pid": state.pid,
                "ExitCode": state.exit_code,
                "Error": state.error,
                "StartedAt": state.started_at.clone().unwrap_or_else(|| zero.into()),
                "FinishedAt": state.finished_at.clone().unwrap_or_else(|| zero.into()),
            },
            "Image": record.image.to_string(),
            "ResolvConfPath": paths.dir.join("resolv.conf"),
            "HostnamePath": paths.dir.join("hostname"),
            "HostsPath": paths.dir.join("hosts"),
            "LogPath": paths.log(&record.id),
            "Name": format!("/{}", record.name),
            "RestartCount": state.restart_count,
            "Driver": self.driver,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": Value::Null,
            "HostConfig": {
                "Binds": opts.volumes.iter().filter(|v| v.kind != "tmpfs").map(|v| {
                    format!("{}:{}{}", v.source, v.destination, if v.read_only { ":ro" } else { "" })
                }).collect::<Vec<_>>(),
                "NetworkMode": if opts.network.is_empty() { "private" } else { opts.network.as_str() },
                "PortBindings": port_bindings,
                "RestartPolicy": {"Name": if opts.restart.name.is_empty() { "no" } else { opts.restart.name.as_str() }, "MaximumRetryCount": opts.restart.max_retries},
                "AutoRemove": opts.auto_remove,
                "Runtime": if opts.runtime.is_empty() { "kasane" } else { opts.runtime.as_str() },
                "CapAdd": opts.cap_add,
                "CapDrop": opts.cap_drop,
                "Privileged": opts.privileged,
                "PublishAllPorts": opts.publish_all,
                "ReadonlyRootfs": opts.read_only,
                "Init": opts.init,
                "Memory": opts.memory.unwrap_or(0),
                "NanoCpus": opts.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
                "PidsLimit": opts.pids_limit,
            },
            "GraphDriver": {
                "Data": {
                    "LowerDir": lowers.join(":"),
                    "MergedDir": paths.rootfs(),
                    "UpperDir": upper,
                    "WorkDir": work,
                },
                "Name": self.driver,
            },
        });
        if size {
            let rw = self.snapshots.usage(&snap).map(|u| u.size).unwrap_or(0);
            doc["SizeRw"] = json!(rw);
            doc["SizeRootFs"] = json!(rw + image.as_ref().map(|i| i.size).unwrap_or(0));
        }
        doc["Mounts"] = json!(mounts);
        doc["Config"] = json!({
            "Hostname": hostname,
            "Domainname": "",
            "User": opts.user.clone().or_else(|| image_cfg.and_then(|c| c.user.clone())).unwrap_or_default(),
            "AttachStdin": opts.interactive,
            "AttachStdout": true,
            "AttachStderr": true,
            "ExposedPorts": if exposed.is_empty() { Value::Null } else { Value::Object(exposed) },
            "Tty": opts.tty,
            "OpenStdin": opts.interactive,
            "StdinOnce": opts.interactive,
            "Env": env,
            "Cmd": if opts.cmd.is_empty() && opts.entrypoint.is_none() { json!(image_cfg.and_then(|c| c.cmd.clone())) } else { json!(opts.cmd) },
            "Image": opts.image,
            "Volumes": Value::Null,
            "WorkingDir": opts.workdir.clone().or_else(|| image_cfg.and_then(|c| c.working_dir.clone())).unwrap_or_default(),
            "Entrypoint": match &opts.entrypoint { Some(e) => json!(e), None => json!(image_cfg.and_then(|c| c.entrypoint.clone())) },
            "OnBuild": Value::Null,
            "Labels": opts.labels,
            "StopSignal": opts.stop_signal.clone().or_else(|| image_cfg.and_then(|c| c.stop_signal.clone())),
        });
        doc["NetworkSettings"] = json!({
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": if running && opts.network != "host" { format!("/proc/{}/ns/net", state.pid) } else { String::new() },
            "Ports": ports,
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "MacAddress": "",
            "Networks": {},
        });
        Ok(doc)
    }
}

/// The command a container runs, from its image's config and its options.
fn container_args(config: Option<&ImageConfig>, opts: &ContainerOptions) -> Vec<String> {
    let image = config.and_then(|c| c.config.as_ref());
    let run = kasane_runtime::RunOptions {
        cmd: opts.cmd.clone(),
        entrypoint: opts.entrypoint.clone(),
        init: opts.init,
        ..Default::default()
    };
    kasane_runtime::spec::process_args(
        image.and_then(|c| c.entrypoint.as_deref()),
        image.and_then(|c| c.cmd.as_deref()),
        &run,
    )
    .unwrap_or_default()
}

/// The image's `ExposedPorts`, parsed; unparsable keys are skipped.
fn exposed_ports(config: Option<&ImageConfig>) -> Vec<(u16, Protocol)> {
    config
        .and_then(|c| c.config.as_ref())
        .and_then(|c| c.exposed_ports.as_ref())
        .map(|p| p.keys().filter_map(|k| parse_expose(k).ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_like_docker() {
        let args: Vec<String> = ["sh", "-c", "echo hi; exit 3"].map(String::from).to_vec();
        assert_eq!(display_command(&args), "sh -c 'echo hi; exit 3'");
        assert_eq!(display_command(&["httpd".into(), "-f".into()]), "httpd -f");
        assert_eq!(display_command(&[]), "");
    }
}
