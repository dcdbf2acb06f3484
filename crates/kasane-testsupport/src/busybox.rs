//! Real, runnable test images made from the host's static busybox (Debian's `busybox-static`),
//! for the container end-to-end tests: nothing is downloaded, and the images run anywhere the
//! host binary runs.
//!
//! Owns: [`available`] (is there a usable static busybox?), [`busybox_image`] (a
//! `busybox`-like base image), [`nginx_like_image`] (busybox `httpd` serving nginx's welcome
//! page on port 80) and [`write_archive`] (any [`Image`] as a tagged `docker save` tar for
//! `kasane load -i`).
//!
//! Model: the base image is one layer: `/bin/busybox` (the host's bytes, mode 0755), one
//! symlink `/bin/<applet> -> busybox` per applet `busybox --list` names, the account files of
//! [`PASSWD`], [`GROUP`] and [`SHADOW`], and the usual empty directories (`/tmp` 1777, `/root`
//! 0700, `/var/www`, `/home`, mount points). Both images declare the host's platform, so a
//! runtime never refuses them for a foreign architecture. Everything but the busybox bytes and
//! applet list is fixed, so two builds on one host give the same digests; both images are
//! built once per process and cloned after that.
//!
//! ```no_run
//! use kasane_testsupport::busybox;
//! if busybox::available() {
//!     let dir = tempfile::tempdir().unwrap();
//!     let tar = dir.path().join("nginx.tar");
//!     busybox::write_archive(&tar, "nginx:latest", &busybox::nginx_like_image()).unwrap();
//!     // kasane load -i nginx.tar && kasane run -d -p 8001:80 nginx
//! }
//! ```

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::docker_archive::{DockerArchive, DockerArchiveFormat};
use crate::entry::Entry;
use crate::image::{Image, ImageBuilder};
use crate::layer::{Layer, LayerBuilder};

/// Where Debian's `busybox-static` installs the binary.
pub const BUSYBOX_PATH: &str = "/bin/busybox";

/// `Env` of both images (docker's default `PATH`).
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `/etc/passwd` of the images.
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
www-data:x:33:33:www-data:/var/www:/bin/false\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

/// `/etc/group` of the images.
pub const GROUP: &str = "root:x:0:\n\
daemon:x:1:\n\
www-data:x:33:\n\
users:x:100:\n\
nogroup:x:65534:\n";

/// `/etc/shadow` of the images (mode 0640): no passwords, but a recognisable file that differs
/// from any host's, for path-escape tests.
pub const SHADOW: &str = "root:*:19000:0:99999:7:::\n\
daemon:*:19000:0:99999:7:::\n\
www-data:*:19000:0:99999:7:::\n\
nobody:*:19000:0:99999:7:::\n";

/// The page [`nginx_like_image`] serves at `/`.
pub const WELCOME_HTML: &str = "<h1>Welcome to nginx!</h1>\n";

/// Where [`nginx_like_image`] keeps its pages.
pub const HTML_DIR: &str = "/usr/share/nginx/html";

/// The busybox binary the images are made of.
pub fn busybox_path() -> PathBuf {
    PathBuf::from(BUSYBOX_PATH)
}

/// Whether [`BUSYBOX_PATH`] is a statically linked ELF (no program interpreter: it runs in
/// an image without a libc) whose `--list` names `sh`.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        matches!(is_static_elf(Path::new(BUSYBOX_PATH)), Ok(true))
            && applets().is_ok_and(|a| a.iter().any(|n| n == "sh"))
    })
}

/// Whether the ELF file at `path` has no `PT_INTERP` program header (static or static-pie).
///
/// # Errors
/// The I/O error reading the file, or `InvalidData` if it is not an ELF file.
pub fn is_static_elf(path: &Path) -> io::Result<bool> {
    const PT_INTERP: u32 = 3;
    let mut data = Vec::new();
    std::fs::File::open(path)?
        .take(1 << 20)
        .read_to_end(&mut data)?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "not an ELF file");
    if data.len() < 0x40 || &data[..4] != b"\x7fELF" {
        return Err(bad());
    }
    let is64 = data[4] == 2;
    let le = data[5] == 1;
    let int = |off: usize, len: usize| -> Option<u64> {
        let b = data.get(off..off + len)?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if le { b[len - 1 - i] } else { b[i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    };
    let (phoff, phentsize, phnum) = if is64 {
        (int(0x20, 8), int(0x36, 2), int(0x38, 2))
    } else {
        (int(0x1c, 4), int(0x2a, 2), int(0x2c, 2))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
        return Err(bad());
    };
    for i in 0..phnum {
        let off = usize::try_from(phoff + i * phentsize).map_err(|_| bad())?;
        let p_type = int(off, 4).ok_or_else(bad)?;
        if p_type == u64::from(PT_INTERP) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The applet names `busybox --list` prints, sorted (without `busybox` itself).
///
/// # Errors
/// The error running the binary, or `Other` if it fails.
pub fn applets() -> io::Result<Vec<String>> {
    let out = Command::new(BUSYBOX_PATH).arg("--list").output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{BUSYBOX_PATH} --list failed: {}",
            out.status
        )));
    }
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.contains('/') && *n != "busybox")
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// GOARCH (and variant) of the host, as an image config names it.
pub fn host_platform() -> (&'static str, Option<&'static str>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        "s390x" => ("s390x", None),
        "riscv64" => ("riscv64", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    }
}

/// The base layer: busybox, its applet links, account files and directories.
///
/// # Panics
/// If busybox is not [`available`] (check that first, and skip the test).
pub fn busybox_layer() -> Layer {
    let bytes = std::fs::read(BUSYBOX_PATH)
        .unwrap_or_else(|e| panic!("reading {BUSYBOX_PATH}: {e} (check busybox::available())"));
    let applets =
        applets().unwrap_or_else(|e| panic!("{e} (check busybox::available() before building)"));
    let mut b = LayerBuilder::new(0xB0B)
        .entry(Entry::file("bin/busybox", bytes).mode(0o755))
        .file("etc/passwd", PASSWD)
        .file("etc/group", GROUP)
        .entry(Entry::file("etc/shadow", SHADOW).mode(0o640))
        .entry(Entry::dir("root").mode(0o700))
        .entry(Entry::dir("tmp").mode(0o1777))
        .entry(Entry::dir("var/www").owner(33, 33))
        .dir("home")
        .dir("dev")
        .dir("proc")
        .dir("sys")
        .dir("usr/bin")
        .dir("usr/sbin")
        .dir("sbin")
        .dir("var/tmp");
    for a in &applets {
        b = b.symlink(&format!("bin/{a}"), "busybox");
    }
    b.build()
}

/// The second layer of [`nginx_like_image`]: the welcome page.
pub fn nginx_html_layer() -> Layer {
    LayerBuilder::new(0x4E9)
        .file(&format!("{}/index.html", &HTML_DIR[1..]), WELCOME_HTML)
        .build()
}

/// The busybox image's builder before its `Cmd`: one layer, `Env PATH=…`, the host's
/// platform. Tests add layers and config to make variants (an image with a `VOLUME`).
///
/// # Panics
/// If busybox is not [`available`].
pub fn base_builder() -> ImageBuilder {
    let (arch, variant) = host_platform();
    ImageBuilder::new()
        .platform("linux", arch, variant)
        .layer(
            busybox_layer(),
            "/bin/sh -c #(nop) ADD file:busybox-static in / ",
        )
        .env(PATH_ENV)
        .history(crate::History::empty(crate::classic::env(&[(
            "PATH",
            &PATH_ENV["PATH=".len()..],
        )])))
}

/// Builds the busybox image afresh (see [`busybox_image`] for the cached one).
///
/// # Panics
/// If busybox is not [`available`].
pub fn build_busybox_image() -> Image {
    base_builder()
        .cmd(&["sh"])
        .history(crate::History::empty(crate::classic::cmd(&["sh"])))
        .build()
}

/// Builds the nginx-like image afresh (see [`nginx_like_image`] for the cached one).
///
/// # Panics
/// If busybox is not [`available`].
pub fn build_nginx_like_image() -> Image {
    let cmd = [
        "httpd",
        "-f",
        "-v",
        "-p",
        "80",
        "-h",
        "/usr/share/nginx/html",
    ];
    base_builder()
        .layer(
            nginx_html_layer(),
            "/bin/sh -c #(nop) COPY file:index.html in /usr/share/nginx/html/ ",
        )
        .expose("80/tcp")
        .history(crate::History::empty(crate::classic::expose(&["80/tcp"])))
        .stop_signal("SIGTERM")
        .history(crate::History::empty(crate::classic::stop_signal(
            "SIGTERM",
        )))
        .cmd(&cmd)
        .history(crate::History::empty(crate::classic::cmd(&cmd)))
        .build()
}

/// A `busybox`-like image: one layer (see the module docs), `Cmd ["sh"]`, `Env PATH=…`.
///
/// # Panics
/// If busybox is not [`available`].
pub fn busybox_image() -> Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(build_busybox_image).clone()
}

/// An `nginx`-like image: the busybox layer plus [`WELCOME_HTML`] at
/// `/usr/share/nginx/html/index.html`, `ExposedPorts 80/tcp`,
/// `Cmd ["httpd","-f","-v","-p","80","-h","/usr/share/nginx/html"]`, `StopSignal SIGTERM`.
///
/// Note: busybox `httpd` installs no SIGTERM handler, so as PID 1 of a PID namespace it
/// ignores `SIGTERM`; a plain `stop` waits for its timeout and then kills (exit code 137), as
/// docker does with such an image.
///
/// # Panics
/// If busybox is not [`available`].
pub fn nginx_like_image() -> Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(build_nginx_like_image).clone()
}

/// Writes `image` tagged `tag` (`nginx:latest`, `busybox`) as an uncompressed `docker save`
/// archive (the engine ≥ 25 layout) to `path`, for `kasane load -i path`.
///
/// # Errors
/// The I/O error writing `path`.
pub fn write_archive(path: &Path, tag: &str, image: &Image) -> io::Result<()> {
    DockerArchive::new(DockerArchiveFormat::Oci)
        .image(&[tag], image)
        .write(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::RootfsKind;

    macro_rules! need_busybox {
        () => {
            if !available() {
                eprintln!("SKIP: needs busybox-static at {BUSYBOX_PATH}");
                return;
            }
        };
    }

    #[test]
    fn elf_check_rejects_non_elf_and_spots_dynamic_binaries() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(
            is_static_elf(&f).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        // The test binary itself is dynamically linked on glibc hosts (has an interpreter).
        let me = std::env::current_exe().unwrap();
        let interp = std::fs::read(&me)
            .unwrap()
            .windows(b"ld-linux".len())
            .any(|w| w == b"ld-linux");
        if interp {
            assert!(!is_static_elf(&me).unwrap());
        }
    }

    #[test]
    fn busybox_image_has_every_applet_linked_to_busybox() {
        need_busybox!();
        let image = build_busybox_image();
        assert_eq!(image.layers.len(), 1);
        let fs = image.rootfs();
        let bb = fs.get("/bin/busybox").unwrap();
        assert_eq!(bb.mode, 0o755);
        let host = std::fs::read(BUSYBOX_PATH).unwrap();
        match &bb.kind {
            RootfsKind::File { size, digest } => {
                assert_eq!(*size, host.len() as u64);
                assert_eq!(*digest, crate::Digest::sha256(&host));
            }
            other => panic!("/bin/busybox is {other:?}"),
        }
        let applets = applets().unwrap();
        for a in [
            "sh", "httpd", "sleep", "cat", "echo", "ls", "ps", "id", "wc", "dd", "head", "env",
            "pwd", "touch", "rm", "mkdir", "hostname", "ip", "nc", "wget", "top", "kill", "true",
            "false", "tail", "stat", "seq", "tr", "grep", "cut",
        ] {
            assert!(applets.iter().any(|n| n == a), "busybox lacks {a}");
        }
        for a in &applets {
            let e = fs
                .get(&format!("bin/{a}"))
                .unwrap_or_else(|| panic!("/bin/{a} missing"));
            assert_eq!(
                e.kind,
                RootfsKind::Symlink {
                    target: "busybox".into()
                },
                "/bin/{a}"
            );
        }
        assert_eq!(fs.get("tmp").unwrap().mode, 0o1777);
        assert_eq!(fs.get("root").unwrap().mode, 0o700);
        for d in ["var/www", "home", "etc", "dev", "proc", "sys"] {
            assert_eq!(fs.get(d).unwrap().kind, RootfsKind::Dir, "{d}");
        }
        let cfg = image.config_json();
        assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["sh"]));
        assert_eq!(cfg["config"]["Env"], serde_json::json!([PATH_ENV]));
        assert_eq!(cfg["architecture"], host_platform().0);
        assert_eq!(cfg["os"], "linux");
    }

    #[test]
    fn passwd_and_group_parse() {
        need_busybox!();
        let image = build_busybox_image();
        let layer = &image.layers[0].layer;
        let file = |path: &str| -> String {
            let mut ar = tar::Archive::new(layer.tar());
            for e in ar.entries().unwrap() {
                let mut e = e.unwrap();
                if e.path().unwrap().to_str() == Some(path) {
                    let mut s = String::new();
                    e.read_to_string(&mut s).unwrap();
                    return s;
                }
            }
            panic!("{path} not in the layer");
        };
        let passwd = file("etc/passwd");
        assert_eq!(passwd, PASSWD);
        let users: Vec<(String, u32, u32, String, String)> = passwd
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                assert_eq!(f.len(), 7, "{l}");
                (
                    f[0].to_owned(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                    f[5].to_owned(),
                    f[6].to_owned(),
                )
            })
            .collect();
        let find = |name: &str| users.iter().find(|u| u.0 == name).unwrap().clone();
        assert_eq!(
            find("root"),
            ("root".into(), 0, 0, "/root".into(), "/bin/sh".into())
        );
        assert_eq!(find("daemon").1, 1);
        assert_eq!(find("nobody").1, 65534);
        assert_eq!(find("www-data").1, 33);
        assert_eq!(find("www-data").3, "/var/www");
        let group = file("etc/group");
        assert_eq!(group, GROUP);
        for l in group.lines() {
            let f: Vec<&str> = l.split(':').collect();
            assert_eq!(f.len(), 4, "{l}");
            f[2].parse::<u32>().unwrap();
        }
        // every user's primary group exists
        for u in &users {
            assert!(
                group
                    .lines()
                    .any(|l| l.split(':').nth(2) == Some(&u.2.to_string())),
                "no group {} for {}",
                u.2,
                u.0
            );
        }
        assert_eq!(file("etc/shadow"), SHADOW);
    }

    #[test]
    fn builds_are_deterministic() {
        need_busybox!();
        let a = build_busybox_image();
        let b = build_busybox_image();
        assert_eq!(a.diff_ids(), b.diff_ids());
        assert_eq!(a.layer_digests(), b.layer_digests());
        assert_eq!(a.id(), b.id());
        let n1 = build_nginx_like_image();
        let n2 = build_nginx_like_image();
        assert_eq!(n1.diff_ids(), n2.diff_ids());
        assert_eq!(n1.id(), n2.id());
        // the nginx image stacks on the very same base layer
        assert_eq!(n1.diff_ids()[0], a.diff_ids()[0]);
        assert_eq!(busybox_image().id(), a.id());
        assert_eq!(nginx_like_image().id(), n1.id());
    }

    #[test]
    fn nginx_like_image_serves_the_welcome_page() {
        need_busybox!();
        let image = build_nginx_like_image();
        assert_eq!(image.layers.len(), 2);
        let cfg = image.config_json();
        let c = &cfg["config"];
        assert_eq!(c["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
        assert_eq!(
            c["Cmd"],
            serde_json::json!([
                "httpd",
                "-f",
                "-v",
                "-p",
                "80",
                "-h",
                "/usr/share/nginx/html"
            ])
        );
        assert_eq!(c["StopSignal"], "SIGTERM");
        assert_eq!(c["Env"], serde_json::json!([PATH_ENV]));
        let fs = image.rootfs();
        let index = fs.get("/usr/share/nginx/html/index.html").unwrap();
        assert_eq!(
            index.kind,
            RootfsKind::File {
                size: WELCOME_HTML.len() as u64,
                digest: crate::Digest::sha256(WELCOME_HTML.as_bytes())
            }
        );
        assert!(fs.get("bin/httpd").is_some());
    }

    #[test]
    fn write_archive_tags_the_image() {
        need_busybox!();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nginx.tar");
        let image = nginx_like_image();
        write_archive(&path, "nginx:latest", &image).unwrap();
        let files = crate::read_tar_files(&std::fs::read(&path).unwrap()).unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(files.get("manifest.json").unwrap()).unwrap();
        assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["nginx:latest"]));
        assert_eq!(
            manifest[0]["Config"],
            format!("blobs/sha256/{}", image.id().hex())
        );
        assert!(
            crate::check::check_docker_archive(&path)
                .unwrap()
                .is_empty()
        );
    }
}
