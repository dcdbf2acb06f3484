//! The image configuration: how to run an image, and the DiffIDs of its layers.
//!
//! Owns: [`ImageConfig`] (a superset of OCI's `config.json` that also carries docker's
//! fields), [`ContainerConfig`] (its `config` and docker's `container_config`),
//! [`Healthcheck`], [`RootFs`] and [`History`].
//!
//! Model: OCI's image config is a subset of what docker writes, and `oci-spec` drops the
//! rest (`Healthcheck`, `Shell`, `OnBuild`, …), so kasane keeps its own types. A parse →
//! serialise round trip is lossless in value:
//! - every documented docker and OCI field is typed, and each optional field is an `Option`,
//!   so an absent field stays absent and `[]`/`{}`/`""` stay as written (one exception:
//!   `history` is a `Vec`, omitted when empty, as docker writes it);
//! - in [`ContainerConfig`], fields that docker writes as an explicit `null` (classic
//!   docker writes `"Cmd": null`, `"Entrypoint": null`, `"OnBuild": null`, …) are
//!   remembered in [`ContainerConfig::null_fields`] and written back as `null`;
//! - unknown fields land in an `extra` map on each object and are written back after the
//!   known ones.
//!
//! Key order may differ from the input (known fields first, in the order declared here), so
//! round trips are equal as JSON values, not as bytes. The bytes that were hashed are what
//! is stored and served; [`ImageConfig::to_json`] is for configs kasane creates.
//!
//! Spec: OCI image-spec `config.md`; docker's image JSON (`moby/image/image.go` and
//! `api/types/container/config.go`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{ChainId, DiffId, OciError, Platform, chain_ids};

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn nullable<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Deserialises `null` as the default value (Go writes `null` for nil slices).
fn null_as_default<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: Deserialize<'de> + Default,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Declares [`ContainerConfig`] and its wire twin, which tells `null` from absent.
macro_rules! container_config {
    ($( $(#[doc = $doc:literal])* $json:literal => $field:ident: $ty:ty, )*) => {
        /// How to run a container from the image: docker's `Config` (PascalCase JSON).
        ///
        /// Used for both the image's `config` and docker's `container_config` (the config of
        /// the container that produced the last layer). All fields are optional.
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(from = "ContainerConfigJson", into = "ContainerConfigJson")]
        pub struct ContainerConfig {
            $( $(#[doc = $doc])* pub $field: Option<$ty>, )*
            /// Fields kasane does not model (`Memory`, `CpuShares`, …), kept for round trips.
            pub extra: Map<String, Value>,
            /// JSON keys that were an explicit `null` when parsed. While the field is `None`
            /// it is written back as `null`; setting the field overrides this.
            pub null_fields: BTreeSet<&'static str>,
        }

        /// The JSON form of [`ContainerConfig`]: `Some(None)` is an explicit `null`.
        #[derive(Serialize, Deserialize)]
        struct ContainerConfigJson {
            $(
                #[serde(
                    rename = $json,
                    default,
                    deserialize_with = "nullable",
                    skip_serializing_if = "Option::is_none"
                )]
                $field: Option<Option<$ty>>,
            )*
            #[serde(flatten)]
            extra: Map<String, Value>,
        }

        impl From<ContainerConfigJson> for ContainerConfig {
            fn from(json: ContainerConfigJson) -> Self {
                let mut null_fields = BTreeSet::new();
                $(
                    let $field = match json.$field {
                        Some(None) => {
                            null_fields.insert($json);
                            None
                        }
                        other => other.flatten(),
                    };
                )*
                ContainerConfig { $($field,)* extra: json.extra, null_fields }
            }
        }

        impl From<ContainerConfig> for ContainerConfigJson {
            fn from(c: ContainerConfig) -> Self {
                ContainerConfigJson {
                    $(
                        $field: match c.$field {
                            Some(v) => Some(Some(v)),
                            None if c.null_fields.contains($json) => Some(None),
                            None => None,
                        },
                    )*
                    extra: c.extra,
                }
            }
        }
    };
}

// Field order is docker's (`container.Config`), so docker's configs keep their key order.
container_config! {
    /// Host name of the build container (docker `container_config` only).
    "Hostname" => hostname: String,
    /// Domain name of the build container.
    "Domainname" => domainname: String,
    /// `user[:group]` the process runs as (`USER`).
    "User" => user: String,
    /// Whether stdin was attached (docker bookkeeping).
    "AttachStdin" => attach_stdin: bool,
    /// Whether stdout was attached (docker bookkeeping).
    "AttachStdout" => attach_stdout: bool,
    /// Whether stderr was attached (docker bookkeeping).
    "AttachStderr" => attach_stderr: bool,
    /// Exposed ports, `"80/tcp": {}` (`EXPOSE`); values are empty objects.
    "ExposedPorts" => exposed_ports: BTreeMap<String, Value>,
    /// Whether a TTY was allocated (docker bookkeeping).
    "Tty" => tty: bool,
    /// Whether stdin was kept open (docker bookkeeping).
    "OpenStdin" => open_stdin: bool,
    /// Whether stdin closed after the first client (docker bookkeeping).
    "StdinOnce" => stdin_once: bool,
    /// Environment, `KEY=value` (`ENV`).
    "Env" => env: Vec<String>,
    /// Default arguments (`CMD`).
    "Cmd" => cmd: Vec<String>,
    /// Health check (`HEALTHCHECK`); docker only.
    "Healthcheck" => healthcheck: Healthcheck,
    /// Whether `Cmd`/`Entrypoint` are already escaped for Windows (`ArgsEscaped`).
    "ArgsEscaped" => args_escaped: bool,
    /// The image the build container ran (docker bookkeeping).
    "Image" => image: String,
    /// Volumes, `"/data": {}` (`VOLUME`); values are empty objects.
    "Volumes" => volumes: BTreeMap<String, Value>,
    /// Working directory (`WORKDIR`).
    "WorkingDir" => working_dir: String,
    /// Entrypoint (`ENTRYPOINT`).
    "Entrypoint" => entrypoint: Vec<String>,
    /// Whether networking was disabled (docker bookkeeping).
    "NetworkDisabled" => network_disabled: bool,
    /// MAC address of the build container (deprecated docker field).
    "MacAddress" => mac_address: String,
    /// Triggers run by images built `FROM` this one (`ONBUILD`); docker only.
    "OnBuild" => on_build: Vec<String>,
    /// Labels (`LABEL`).
    "Labels" => labels: BTreeMap<String, String>,
    /// Signal that stops the container (`STOPSIGNAL`).
    "StopSignal" => stop_signal: String,
    /// Seconds to wait before killing on stop; docker only.
    "StopTimeout" => stop_timeout: i64,
    /// Shell for the shell form of `RUN`, `CMD` and `ENTRYPOINT` (`SHELL`); docker only.
    "Shell" => shell: Vec<String>,
}

/// A container health check (`HEALTHCHECK`), as docker's `HealthConfig`.
///
/// Durations are Go `time.Duration` values: integer nanoseconds; `0` means "inherit".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `[]` inherit, `["NONE"]` disabled, `["CMD", args…]` or `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Time between checks, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Time before a check is considered hung, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Start-up time during which failures do not count, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Time between checks during the start period, in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Consecutive failures before the container is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    /// Fields kasane does not model, kept for round trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The layers of the image as DiffIDs (digests of the uncompressed tars), base first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Spec: "MUST be set to `layers`".
    #[serde(rename = "type")]
    pub type_: String,
    /// Spec: "An array of layer content hashes (DiffIDs), in order from first to last."
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<DiffId>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            type_: "layers".to_owned(),
            diff_ids: Vec::new(),
        }
    }
}

/// One step of the image's build history, as `docker history` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    /// When the step ran (RFC 3339 text, kept as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command of the step (`/bin/sh -c #(nop)  CMD ["sh"]`, `RUN /bin/sh -c …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A free-form comment (`buildkit.dockerfile.v0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `true` when the step made no layer (metadata only: `ENV`, `CMD`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    /// Fields kasane does not model, kept for round trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl History {
    /// Whether this step produced a layer (`empty_layer` absent or false).
    pub fn has_layer(&self) -> bool {
        self.empty_layer != Some(true)
    }
}

/// An image configuration: OCI's `config.json` plus docker's extra fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Spec: "An combined date and time at which the image was created, formatted as
    /// defined by RFC 3339, section 5.6." Kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who made the image (`MAINTAINER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Spec: REQUIRED, a Go `GOARCH` value; `""` when a malformed config omits it.
    #[serde(default)]
    pub architecture: String,
    /// Spec: REQUIRED, a Go `GOOS` value; `""` when a malformed config omits it.
    #[serde(default)]
    pub os: String,
    /// OS version (Windows images).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required OS features (Windows images).
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// How to run the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// Spec: "REQUIRED … references the layer content addresses used by the image."
    pub rootfs: RootFs,
    /// Build steps, oldest first. Omitted when empty, as docker does (so an explicit
    /// `"history": []` or `null` is the one field a round trip does not keep).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
    /// ID of the container that made the last layer (docker classic builder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Config of the container that made the last layer (docker classic builder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ContainerConfig>,
    /// Version of the docker engine that made the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// Commit message (`docker commit -m`, `docker import -m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// ID of the parent image in docker's local store (docker classic builder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Fields kasane does not model (`id`, `size`, `moby.buildkit.*`), kept for round trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    /// An empty config for `platform` with no layers, as the start of a build or import.
    pub fn new(platform: &Platform) -> Self {
        ImageConfig {
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            os_version: platform.os_version.clone(),
            os_features: platform.os_features.clone(),
            variant: platform.variant.clone(),
            ..ImageConfig::default()
        }
    }

    /// Parses an image config (OCI or docker).
    ///
    /// # Errors
    /// [`OciError::InvalidConfig`] when `bytes` are not an image config.
    ///
    /// ```
    /// use kasane_oci::ImageConfig;
    ///
    /// let json = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Entrypoint":null},
    ///                 "rootfs":{"type":"layers","diff_ids":[]}}"#;
    /// let config = ImageConfig::from_slice(json)?;
    /// assert_eq!(config.platform().to_string(), "linux/amd64");
    /// let run = config.config.as_ref().expect("has a config");
    /// assert_eq!(run.cmd.as_deref(), Some(&["sh".to_owned()][..]));
    /// assert!(run.entrypoint.is_none() && run.null_fields.contains("Entrypoint"));
    /// # Ok::<(), kasane_oci::OciError>(())
    /// ```
    pub fn from_slice(bytes: &[u8]) -> Result<Self, OciError> {
        serde_json::from_slice(bytes).map_err(|source| OciError::InvalidConfig { source })
    }

    /// Compact JSON, known fields first; for configs kasane writes (hash these bytes).
    pub fn to_json(&self) -> Vec<u8> {
        match serde_json::to_vec(self) {
            Ok(bytes) => bytes,
            Err(e) => unreachable!("serialising a value with string keys cannot fail: {e}"),
        }
    }

    /// The platform the image is built for.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant: self.variant.clone(),
        }
    }

    /// The layers' DiffIDs, base first.
    pub fn diff_ids(&self) -> &[DiffId] {
        &self.rootfs.diff_ids
    }

    /// The chain IDs of the layers, base first (the snapshot keys of the unpacked image).
    pub fn chain_ids(&self) -> Vec<ChainId> {
        chain_ids(&self.rootfs.diff_ids)
    }

    /// Each history entry with the index of the layer it produced, for `docker history`.
    ///
    /// Entries with `empty_layer` get `None`, and so do layer entries beyond the number
    /// of DiffIDs (a malformed image; docker refuses it, `docker history` can still show it).
    pub fn layer_history(&self) -> Vec<(&History, Option<usize>)> {
        let layers = self.rootfs.diff_ids.len();
        let mut next = 0;
        self.history
            .iter()
            .map(|h| {
                let index = h.has_layer().then(|| {
                    next += 1;
                    next - 1
                });
                (h, index.filter(|i| *i < layers))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
