//! Shared helpers for the end-to-end tests: each test drives the real `kasane` binary
//! against its own state root in a temp dir.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// A state root of its own and the binary to drive.
pub struct Kasane {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub driver: Option<&'static str>,
    /// Extra environment for every command (on top of the isolated defaults).
    pub env: Vec<(String, String)>,
}

impl Kasane {
    /// A fresh state root (default snapshotter).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        // Registry configuration of its own: never the user's logins, mirrors or CAs.
        let envdir = dir.path().join("env");
        let home = envdir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let conf = envdir.join("registries.toml");
        std::fs::write(&conf, "").unwrap();
        let env = vec![
            ("HOME".to_owned(), home.display().to_string()),
            (
                "DOCKER_CONFIG".to_owned(),
                envdir.join("docker").display().to_string(),
            ),
            (
                "REGISTRY_AUTH_FILE".to_owned(),
                envdir.join("auth.json").display().to_string(),
            ),
            ("XDG_RUNTIME_DIR".to_owned(), home.display().to_string()),
            ("XDG_CONFIG_HOME".to_owned(), home.display().to_string()),
            (
                "KASANE_REGISTRIES_CONF".to_owned(),
                conf.display().to_string(),
            ),
            (
                "KASANE_CERTS_DIRS".to_owned(),
                envdir.join("certs.d").display().to_string(),
            ),
        ];
        Kasane {
            dir,
            root,
            driver: None,
            env,
        }
    }

    /// Sets an environment variable for every later command.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// The registries.toml this state root uses (empty at first).
    pub fn registries_conf(&self) -> PathBuf {
        self.dir.path().join("env").join("registries.toml")
    }

    /// The certs.d base directory this state root uses.
    pub fn certs_d(&self) -> PathBuf {
        self.dir.path().join("env").join("certs.d")
    }

    /// The docker config.json this state root uses.
    pub fn docker_config(&self) -> PathBuf {
        self.dir
            .path()
            .join("env")
            .join("docker")
            .join("config.json")
    }

    /// A fresh state root with the given snapshotter (`overlay` or `native`).
    pub fn with_driver(driver: &'static str) -> Self {
        let mut k = Kasane::new();
        k.driver = Some(driver);
        k
    }

    /// A path inside the test's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command, with `--root` set.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("kasane").unwrap();
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c.arg("--root").arg(&self.root);
        if let Some(d) = self.driver {
            c.arg("--storage-driver").arg(d);
        }
        c.args(args);
        c
    }

    /// The same command as a `std::process::Command` (to spawn and kill).
    pub fn std_cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("kasane"));
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c.arg("--root").arg(&self.root);
        if let Some(d) = self.driver {
            c.arg("--storage-driver").arg(d);
        }
        c.args(args);
        c
    }

    /// Runs and returns the output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kasane {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs, asserts failure, returns (exit code, stderr).
    pub fn fail(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kasane {args:?} succeeded but should fail:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// `system check` reports no corruption; returns its output.
    pub fn check_clean(&self) -> String {
        let out = self.ok(&["system", "check"]);
        assert!(
            out.contains(" 0 errors"),
            "system check found errors:\n{out}"
        );
        out
    }

    /// The on-disk snapshot directory of an image's top layer (native: the whole rootfs).
    pub fn top_dir(&self, image: &str) -> PathBuf {
        let out = self.ok(&["inspect", "--format", "{{json .GraphDriver.Data}}", image]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let dir = v
            .get("Dir")
            .or_else(|| v.get("UpperDir"))
            .and_then(|d| d.as_str())
            .unwrap();
        PathBuf::from(dir)
    }

    /// Every file under the state root's blob and snapshot trees (for "nothing stays").
    pub fn store_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["blobs", "snapshots", "ingest"] {
            let base = self.root.join(sub);
            if !base.exists() {
                continue;
            }
            for e in walkdir(&base) {
                out.push(e.strip_prefix(&self.root).unwrap().display().to_string());
            }
        }
        out.sort();
        out
    }
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Whether the tests run as root (overlay whiteouts, owners and devices need it).
pub fn is_root() -> bool {
    rustix_is_root()
}

fn rustix_is_root() -> bool {
    // SAFETY-free: read the effective uid from /proc rather than linking libc here.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Skips the test (returns from it) with a printed reason unless the condition holds.
#[macro_export]
macro_rules! require {
    ($cond:expr, $why:expr) => {
        if !$cond {
            eprintln!("SKIP: {}", $why);
            return;
        }
    };
}

/// The table rows of a tabular output, split on runs of 3+ spaces (docker pads cells by 3).
pub fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}
