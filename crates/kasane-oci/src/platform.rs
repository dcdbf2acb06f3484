//! Platforms: which OS and CPU an image runs on, and how to pick one from an index.
//!
//! Owns: [`Platform`] (the OCI `platform` object), its normalisation, the `--platform`
//! specifier syntax and matching.
//!
//! Model (containerd's `platforms` package, whose behaviour docker users know):
//! - **Normalisation** maps the many spellings to one: `x86_64`/`x86-64` → `amd64`,
//!   `aarch64` → `arm64`, `armhf` → `arm/v7`, `armel` → `arm/v6`, `i386` → `386`,
//!   `macos` → `darwin`, everything lower case. The default variants are explicit in the
//!   normal form: `arm` means `arm/v7` and `arm64` means `arm64/v8` (what buildkit writes
//!   into images); `amd64/v1` is plain `amd64`.
//! - **Specifiers** are `os[(os.version)][/arch[/variant]]`, or a lone architecture, as in
//!   `docker pull --platform linux/arm64/v8`. A lone OS takes the host's architecture and a
//!   lone architecture the host's OS.
//! - **Matching** compares the normal forms of OS, architecture and variant; `os.version` and
//!   `os.features` are not compared (they only matter for Windows images).
//!
//! Spec: OCI image-spec `image-index.md` (`platform`), `config.md` (`architecture`, `os`,
//! `variant`); Go's `GOOS`/`GOARCH` values, which the spec refers to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::OciError;

/// The platform an image or manifest is built for.
///
/// Spec: "architecture: This REQUIRED property specifies the CPU architecture. Image indexes
/// SHOULD use, and implementations SHOULD understand, values listed in the Go Language
/// document for GOARCH." Both required fields default to `""` when absent, so one malformed
/// entry does not make a whole index unreadable.
///
/// ```
/// use kasane_oci::Platform;
///
/// let wanted: Platform = "linux/aarch64".parse()?;
/// assert_eq!(wanted.to_string(), "linux/arm64/v8");
/// assert!(Platform::new("linux", "arm64").matches(&wanted));
/// # Ok::<(), kasane_oci::OciError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, as Go's `GOARCH` (`amd64`, `arm64`, `arm`, `386`, `ppc64le`, …).
    #[serde(default)]
    pub architecture: String,
    /// Operating system, as Go's `GOOS` (`linux`, `windows`, …).
    #[serde(default)]
    pub os: String,
    /// OS version, used by Windows images (`10.0.17763.1879`).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required OS features (`win32k` on Windows).
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v7` for `arm`, `v8` for `arm64`, `v2`/`v3` for `amd64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Operating systems known to Go (`go/build/syslist.go`), for one-word specifiers.
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// Architectures known to Go, for one-word specifiers.
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

impl Platform {
    /// A platform with only an OS and an architecture (variant unset).
    pub fn new(os: impl Into<String>, architecture: impl Into<String>) -> Self {
        Platform {
            architecture: architecture.into(),
            os: os.into(),
            ..Platform::default()
        }
    }

    /// The platform this process runs on, normalised (`linux/amd64`, `linux/arm64/v8`).
    ///
    /// 32-bit ARM is reported as `arm/v7`: the ARM revision is not known at compile time.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86" => "386",
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "loongarch64" => "loong64",
            "powerpc" => "ppc",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "mips" if cfg!(target_endian = "little") => "mipsle",
            "mips64" if cfg!(target_endian = "little") => "mips64le",
            other => other,
        };
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        Platform::new(os, arch).normalize()
    }

    /// The normal form used for comparison: lower case, canonical architecture names and
    /// explicit default variants (see the module docs). An empty OS becomes the host's.
    pub fn normalize(&self) -> Platform {
        let os = match self.os.to_ascii_lowercase().as_str() {
            "" => host_os().to_owned(),
            "macos" => "darwin".to_owned(),
            other => other.to_owned(),
        };
        let (architecture, variant) = normalize_arch(
            &self.architecture.to_ascii_lowercase(),
            &self
                .variant
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase(),
        );
        Platform {
            architecture,
            os,
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant: (!variant.is_empty()).then_some(variant),
        }
    }

    /// Whether an image built for `self` satisfies a request for `wanted`.
    ///
    /// Compares OS, architecture and variant after [normalisation](Self::normalize), so
    /// `arm64` matches `arm64/v8` and `aarch64`, while `arm64/v8` does not match `arm64/v9`.
    pub fn matches(&self, wanted: &Platform) -> bool {
        let (a, b) = (self.normalize(), wanted.normalize());
        a.os == b.os && a.architecture == b.architecture && a.variant == b.variant
    }
}

/// The host OS as Go names it.
fn host_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// containerd's `normalizeArch`, with the arm64 default variant made explicit (`v8`).
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = match (arch, variant) {
        ("i386", _) => ("386", ""),
        ("x86_64" | "x86-64" | "amd64", "v1") => ("amd64", ""),
        ("x86_64" | "x86-64" | "amd64", v) => ("amd64", v),
        ("aarch64" | "arm64", "" | "8" | "v8" | "v8.0") => ("arm64", "v8"),
        ("aarch64" | "arm64", "9" | "9.0" | "v9.0") => ("arm64", "v9"),
        ("aarch64" | "arm64", v) => ("arm64", v),
        ("armhf", _) => ("arm", "v7"),
        ("armel", _) => ("arm", "v6"),
        ("arm", "" | "7") => ("arm", "v7"),
        ("arm", "5") => ("arm", "v5"),
        ("arm", "6") => ("arm", "v6"),
        ("arm", "8") => ("arm", "v8"),
        (a, v) => (a, v),
    };
    (arch.to_owned(), variant.to_owned())
}

/// Whether `s` is a non-empty run of `[A-Za-z0-9_.-]` (a specifier component).
fn is_component(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Splits `os[(version)]`: the OS is `[A-Za-z0-9_-]+`, the version `[A-Za-z0-9_.-]*`.
fn split_os_version(part: &str) -> Option<(&str, Option<&str>)> {
    let (os, version) = match part.split_once('(') {
        Some((os, rest)) => (os, Some(rest.strip_suffix(')')?)),
        None => (part, None),
    };
    let os_ok = !os.is_empty()
        && os
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    let version_ok = version.is_none_or(|v| v.is_empty() || is_component(v));
    (os_ok && version_ok).then_some((os, version))
}

impl FromStr for Platform {
    type Err = OciError;

    /// Parses a specifier: `os[(os.version)]/arch[/variant]`, a lone OS or a lone arch.
    /// The result is [normalised](Platform::normalize).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| OciError::InvalidPlatform {
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s.contains('*') {
            return Err(err("wildcards are not supported"));
        }
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() > 3 {
            return Err(err("expected os[/arch[/variant]]"));
        }
        let (os, os_version) = split_os_version(parts[0])
            .ok_or_else(|| err("the OS must match [A-Za-z0-9_-]+ with an optional (version)"))?;
        if parts[1..].iter().any(|p| !is_component(p)) {
            return Err(err("components must match [A-Za-z0-9_.-]+"));
        }
        let os_version = os_version.filter(|v| !v.is_empty()).map(str::to_owned);
        let platform = match parts[..] {
            [_] if KNOWN_OS.contains(&os.to_ascii_lowercase().as_str()) => Platform {
                os: os.to_owned(),
                os_version,
                ..Platform::host()
            },
            [arch] => {
                let (normal, _) = normalize_arch(&arch.to_ascii_lowercase(), "");
                if os_version.is_some() || !KNOWN_ARCH.contains(&normal.as_str()) {
                    return Err(err("unknown operating system or architecture"));
                }
                Platform::new(host_os(), arch)
            }
            [_, arch] => Platform {
                os_version,
                ..Platform::new(os, arch)
            },
            [_, arch, variant] => Platform {
                os_version,
                variant: Some(variant.to_owned()),
                ..Platform::new(os, arch)
            },
            _ => return Err(err("expected os[/arch[/variant]]")),
        };
        Ok(platform.normalize())
    }
}

impl fmt::Display for Platform {
    /// `os[(os.version)]/arch[/variant]`, as docker prints platforms (`linux/arm64/v8`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.os)?;
        if let Some(v) = self.os_version.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "({v})")?;
        }
        write!(f, "/{}", self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            variant: variant.map(str::to_owned),
            ..Platform::new(os, arch)
        }
    }

    macro_rules! normalize {
        ($($name:ident: ($os:expr, $arch:expr, $var:expr) => ($nos:expr, $narch:expr, $nvar:expr);)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(p($os, $arch, $var).normalize(), p($nos, $narch, $nvar));
            }
        )*};
    }

    normalize! {
        norm_amd64: ("linux", "amd64", None) => ("linux", "amd64", None);
        norm_x86_64: ("linux", "x86_64", None) => ("linux", "amd64", None);
        norm_x86_dash_64: ("linux", "x86-64", None) => ("linux", "amd64", None);
        norm_amd64_v1: ("linux", "amd64", Some("v1")) => ("linux", "amd64", None);
        norm_amd64_v3: ("linux", "amd64", Some("v3")) => ("linux", "amd64", Some("v3"));
        norm_aarch64: ("linux", "aarch64", None) => ("linux", "arm64", Some("v8"));
        norm_arm64: ("linux", "arm64", None) => ("linux", "arm64", Some("v8"));
        norm_arm64_8: ("linux", "arm64", Some("8")) => ("linux", "arm64", Some("v8"));
        norm_arm64_v8_0: ("linux", "arm64", Some("v8.0")) => ("linux", "arm64", Some("v8"));
        norm_arm64_9: ("linux", "arm64", Some("9")) => ("linux", "arm64", Some("v9"));
        norm_arm64_v9_0: ("linux", "arm64", Some("v9.0")) => ("linux", "arm64", Some("v9"));
        norm_arm: ("linux", "arm", None) => ("linux", "arm", Some("v7"));
        norm_arm_7: ("linux", "arm", Some("7")) => ("linux", "arm", Some("v7"));
        norm_arm_5: ("linux", "arm", Some("5")) => ("linux", "arm", Some("v5"));
        norm_arm_6: ("linux", "arm", Some("6")) => ("linux", "arm", Some("v6"));
        norm_arm_v6: ("linux", "arm", Some("v6")) => ("linux", "arm", Some("v6"));
        norm_armhf: ("linux", "armhf", None) => ("linux", "arm", Some("v7"));
        norm_armel: ("linux", "armel", None) => ("linux", "arm", Some("v6"));
        norm_i386: ("linux", "i386", Some("x")) => ("linux", "386", None);
        norm_upper: ("Linux", "AMD64", None) => ("linux", "amd64", None);
        norm_upper_variant: ("linux", "ARM64", Some("V8")) => ("linux", "arm64", Some("v8"));
        norm_macos: ("macos", "arm64", None) => ("darwin", "arm64", Some("v8"));
        norm_empty_variant: ("linux", "riscv64", Some("")) => ("linux", "riscv64", None);
        norm_other: ("linux", "s390x", None) => ("linux", "s390x", None);
        norm_empty_os: ("", "amd64", None) => (host_os(), "amd64", None);
    }

    macro_rules! parse {
        ($($name:ident: $spec:expr => $expected:expr;)*) => {$(
            #[test]
            fn $name() {
                let expected: Result<&str, ()> = $expected;
                let got = $spec.parse::<Platform>().map(|p| p.to_string()).map_err(|_| ());
                assert_eq!(got.as_deref().map_err(|_| ()), expected, "{:?}", $spec);
            }
        )*};
    }

    parse! {
        parse_linux_amd64: "linux/amd64" => Ok("linux/amd64");
        parse_linux_arm64: "linux/arm64" => Ok("linux/arm64/v8");
        parse_linux_arm64_v8: "linux/arm64/v8" => Ok("linux/arm64/v8");
        parse_linux_aarch64: "linux/aarch64" => Ok("linux/arm64/v8");
        parse_linux_arm: "linux/arm" => Ok("linux/arm/v7");
        parse_linux_arm_v6: "linux/arm/v6" => Ok("linux/arm/v6");
        parse_linux_armhf: "linux/armhf" => Ok("linux/arm/v7");
        parse_linux_armel: "linux/armel" => Ok("linux/arm/v6");
        parse_linux_x86_64: "linux/x86_64" => Ok("linux/amd64");
        parse_linux_i386: "linux/i386" => Ok("linux/386");
        parse_amd64_v3: "linux/amd64/v3" => Ok("linux/amd64/v3");
        parse_upper: "LINUX/AMD64" => Ok("linux/amd64");
        parse_windows_version: "windows(10.0.17763)/amd64" => Ok("windows(10.0.17763)/amd64");
        parse_windows_empty_version: "windows()/amd64" => Ok("windows/amd64");
        parse_lone_arch: "arm64" => Ok(format!("{}/arm64/v8", host_os()).leak());
        parse_lone_x86_64: "x86_64" => Ok(format!("{}/amd64", host_os()).leak());
        parse_lone_os: "linux" => Ok(Platform { os: "linux".into(), ..Platform::host() }.to_string().leak());
        parse_empty: "" => Err(());
        parse_unknown_word: "foo" => Err(());
        parse_wildcard: "linux/*" => Err(());
        parse_too_many: "linux/arm/v7/x" => Err(());
        parse_empty_arch: "linux/" => Err(());
        parse_empty_variant: "linux/arm/" => Err(());
        parse_bad_chars: "linux/am d64" => Err(());
        parse_bad_os: "li.nux/amd64" => Err(());
        parse_unclosed_version: "windows(10/amd64" => Err(());
        parse_arch_with_version: "amd64(1)" => Err(());
    }

    macro_rules! matches {
        ($($name:ident: $have:expr, $want:expr => $ok:expr;)*) => {$(
            #[test]
            fn $name() {
                let have: Platform = $have;
                let want: Platform = $want;
                assert_eq!(have.matches(&want), $ok, "{have:?} vs {want:?}");
            }
        )*};
    }

    matches! {
        match_same: p("linux", "amd64", None), p("linux", "amd64", None) => true;
        match_x86_64: p("linux", "x86_64", None), p("linux", "amd64", None) => true;
        match_arm64_empty_is_v8: p("linux", "arm64", None), p("linux", "arm64", Some("v8")) => true;
        match_v8_is_arm64_empty: p("linux", "arm64", Some("v8")), p("linux", "arm64", None) => true;
        match_aarch64: p("linux", "aarch64", None), p("linux", "arm64", Some("v8")) => true;
        match_arm64_v9_not_v8: p("linux", "arm64", Some("v9")), p("linux", "arm64", Some("v8")) => false;
        match_arm_empty_is_v7: p("linux", "arm", None), p("linux", "arm", Some("v7")) => true;
        match_arm_v6_not_v7: p("linux", "arm", Some("v6")), p("linux", "arm", Some("v7")) => false;
        match_other_os: p("windows", "amd64", None), p("linux", "amd64", None) => false;
        match_other_arch: p("linux", "arm64", None), p("linux", "amd64", None) => false;
        match_amd64_v2_not_plain: p("linux", "amd64", Some("v2")), p("linux", "amd64", None) => false;
        match_unknown: p("unknown", "unknown", None), p("linux", "amd64", None) => false;
        match_os_version_ignored: Platform { os_version: Some("10.0".into()), ..p("windows", "amd64", None) }, p("windows", "amd64", None) => true;
    }

    #[test]
    fn host_is_normal_and_parses_back() {
        let host = Platform::host();
        assert_eq!(host.normalize(), host);
        assert_eq!(host.to_string().parse::<Platform>().unwrap(), host);
        if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            assert_eq!(host.to_string(), "linux/amd64");
        }
    }

    #[test]
    fn json_uses_oci_field_names() {
        let p = Platform {
            os_version: Some("10.0.17763.1879".into()),
            os_features: Some(vec!["win32k".into()]),
            variant: Some("v8".into()),
            ..Platform::new("windows", "arm64")
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"architecture":"arm64","os":"windows","os.version":"10.0.17763.1879","os.features":["win32k"],"variant":"v8"}"#
        );
        assert_eq!(serde_json::from_str::<Platform>(&json).unwrap(), p);
        assert_eq!(
            serde_json::to_string(&Platform::new("linux", "amd64")).unwrap(),
            r#"{"architecture":"amd64","os":"linux"}"#
        );
    }
}
