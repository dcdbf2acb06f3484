//! Hostile layer tars: a corpus of malicious or broken layers that a layer applier must either
//! refuse or keep inside the directory it applies into.
//!
//! Owns: [`corpus`] and the raw tar writer behind it. The tar crate's builder refuses `..` and
//! absolute names, so headers are written byte by byte here (name, mode, size, typeflag, link
//! name, ustar magic, checksum), as are PAX `x` records and GNU `L`/`K` long-name records.
//!
//! # Sandbox model
//! Cases are meant to be applied into `<sandbox>/root` where `<sandbox>` also holds, outside
//! the root, the files named by the `SANDBOX_*` constants. Escapes therefore aim at
//! `../outside/...` (inside the sandbox), never at real system files. Cases that use absolute
//! names aim at [`ABSOLUTE_MARKER`] (a name no real system has) or only *link* to
//! `/etc/passwd`, so a broken applier creates a stray directory or bumps a link count, and the
//! test notices without any system file being written.
//!
//! # Expectations
//! [`Expect::Reject`]: applying fails and the error message names [`HostileCase::entry`].
//! [`Expect::Confined`]: applying succeeds, every path in [`HostileCase::lands`] exists below
//! the root, and nothing outside the root changed. Either way nothing outside the root may be
//! created, modified, chowned, chmodded or deleted. The expectations follow containerd's rules:
//! names are cleaned as if rooted (`../../x` is `x`), symlinks resolve inside the root.

/// Name of an absolute path no real system has; hostile cases write below `/` + this.
pub const ABSOLUTE_MARKER: &str = "kasane-hostile-absolute";

/// Sentinel file outside the root, relative to the sandbox: `outside/file`.
pub const SANDBOX_FILE: &str = "outside/file";
/// Sentinel directory outside the root, relative to the sandbox (holds `keep`).
pub const SANDBOX_DIR: &str = "outside/dir";
/// A directory outside the root that symlinks in the sandbox point to (holds `keep`).
pub const SANDBOX_TARGET: &str = "target-dir";

/// What must happen when a case is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The applier returns an error whose message names [`HostileCase::entry`].
    Reject,
    /// The applier succeeds and every effect stays below the root.
    Confined,
}

/// One malicious layer.
#[derive(Debug, Clone)]
pub struct HostileCase {
    /// Short kebab-case name.
    pub name: &'static str,
    /// The uncompressed layer tar.
    pub tar: Vec<u8>,
    /// What must happen.
    pub expect: Expect,
    /// For `Reject`: text the error message must contain (the offending entry's name; for
    /// header-level failures, the last entry read before them).
    pub entry: &'static str,
    /// For `Confined`: paths (relative to the root) that must exist after applying.
    pub lands: &'static [&'static str],
}

/// Every hostile case.
pub fn corpus() -> Vec<HostileCase> {
    use Expect::{Confined, Reject};
    let up = "../".repeat(40);
    let mut cases = vec![
        case("dotdot-file", Confined, "", &["outside/file"], |t| {
            t.file("../outside/file", b"pwned");
        }),
        case(
            "dotdot-deep",
            Confined,
            "",
            &["kasane-hostile-absolute/x"],
            |t| {
                t.file("../../../../../../../kasane-hostile-absolute/x", b"pwned");
            },
        ),
        case(
            "absolute-file",
            Confined,
            "",
            &["kasane-hostile-absolute/evil"],
            |t| {
                t.file("/kasane-hostile-absolute/evil", b"pwned");
            },
        ),
        case("dotdot-dir-chmod", Confined, "", &[], |t| {
            t.entry(b"..", b'5', 0o777, b"", b"");
            t.entry(b"../outside/", b'5', 0o777, b"", b"");
        }),
        case(
            "symlink-root-then-write",
            Confined,
            "",
            &["a", "kasane-hostile-absolute/evil"],
            |t| {
                t.symlink("a", "/");
                t.file("a/kasane-hostile-absolute/evil", b"pwned");
            },
        ),
        case(
            "symlink-dotdot-then-write",
            Confined,
            "",
            &["a", "outside/file"],
            |t| {
                t.symlink("a", "..");
                t.file("a/outside/file", b"pwned");
            },
        ),
        case(
            "symlink-deep-dotdot-then-write",
            Confined,
            "",
            &["a", "outside/file"],
            |t| {
                t.symlink("a", "../../../../..");
                t.file("a/outside/file", b"pwned");
            },
        ),
        case("symlinked-parent-inside", Confined, "", &["real/f"], |t| {
            t.dir("real/");
            t.symlink("link", "/real");
            t.file("link/f", b"ok");
        }),
        case("symlinked-parent-outside", Reject, "s/file", &[], |t| {
            t.symlink("s", "../outside");
            t.file("s/file", b"pwned");
        }),
        case("symlink-chain-outside", Reject, "a/file", &[], |t| {
            t.symlink("b", "../outside");
            t.symlink("a", "b");
            t.file("a/file", b"pwned");
        }),
        case(
            "dir-replaced-by-symlink",
            Confined,
            "",
            &["d", "outside/file"],
            |t| {
                t.dir("d/");
                t.file("d/keep", b"x");
                t.symlink("d", "..");
                t.file("d/outside/file", b"pwned");
            },
        ),
        case(
            "dir-replaced-by-symlink-outside",
            Reject,
            "d/file",
            &[],
            |t| {
                t.dir("d/");
                t.symlink("d", "../target-dir");
                t.file("d/file", b"pwned");
            },
        ),
        case("hardlink-etc-passwd", Reject, "x", &[], |t| {
            t.hardlink("x", "/etc/passwd");
        }),
        case("hardlink-dotdot", Reject, "x", &[], |t| {
            t.hardlink("x", "../outside/file");
        }),
        case("hardlink-through-symlink", Reject, "x", &[], |t| {
            t.symlink("s", "../outside");
            t.hardlink("x", "s/file");
        }),
        case("hardlink-through-root-symlink", Reject, "x", &[], |t| {
            t.symlink("s", "/");
            t.hardlink("x", "s/etc/passwd");
        }),
        case("hardlink-to-root", Reject, "x", &[], |t| {
            t.hardlink("x", "./");
        }),
        case(
            "hardlink-to-symlink-then-write",
            Confined,
            "",
            &["s", "x"],
            |t| {
                t.symlink("s", "../outside/file");
                t.hardlink("x", "s");
                t.file("x", b"pwned");
            },
        ),
        case("file-over-symlink", Confined, "", &["s"], |t| {
            t.symlink("s", "../outside/file");
            t.file("s", b"pwned");
        }),
        case("dir-over-symlink", Confined, "", &["s/f"], |t| {
            t.symlink("s", "../outside/dir");
            t.entry(b"s/", b'5', 0o777, b"", b"");
            t.file("s/f", b"x");
        }),
        case("device-over-symlink", Confined, "", &["s"], |t| {
            t.symlink("s", "../outside/file");
            t.device("s", b'3', 1, 3);
        }),
        case("whiteout-dotdot", Confined, "", &[], |t| {
            t.file("../outside/.wh.file", b"");
            t.file("../.wh.outside", b"");
        }),
        case("whiteout-through-symlink", Confined, "", &["s"], |t| {
            t.symlink("s", "..");
            t.file("s/outside/.wh.file", b"");
            t.file("s/.wh.target-dir", b"");
        }),
        case(
            "whiteout-through-outside-symlink",
            Reject,
            "s/.wh.file",
            &[],
            |t| {
                t.symlink("s", "../outside");
                t.file("s/.wh.file", b"");
            },
        ),
        // `.wh...` names `..` and `.wh..` names `.`: obeying them deletes the parent or the
        // directory itself.
        case("whiteout-of-dotdot", Reject, ".wh...", &[], |t| {
            t.file(".wh...", b"");
        }),
        case("whiteout-of-dotdot-in-dir", Reject, "d/.wh...", &[], |t| {
            t.dir("d/");
            t.file("d/.wh...", b"");
        }),
        case("whiteout-of-dot", Reject, "d/.wh..", &[], |t| {
            t.dir("d/");
            t.file("d/.wh..", b"");
        }),
        case("opaque-dotdot", Confined, "", &["mine"], |t| {
            t.file("mine", b"x");
            t.file("../.wh..wh..opq", b"");
            t.file("../outside/.wh..wh..opq", b"");
        }),
        case("opaque-under-symlink", Confined, "", &["s"], |t| {
            t.symlink("s", "..");
            t.file("s/outside/.wh..wh..opq", b"");
            t.file("s/.wh..wh..opq", b"");
        }),
        case(
            "opaque-under-outside-symlink",
            Reject,
            "s/.wh..wh..opq",
            &[],
            |t| {
                t.symlink("s", "../outside");
                t.file("s/.wh..wh..opq", b"");
            },
        ),
        case("pax-path-dotdot", Confined, "", &["outside/file"], |t| {
            t.pax(&[("path", b"../outside/file")]);
            t.file("innocent", b"pwned");
        }),
        case(
            "pax-path-absolute",
            Confined,
            "",
            &["kasane-hostile-absolute/p"],
            |t| {
                t.pax(&[("path", b"/kasane-hostile-absolute/p")]);
                t.file("innocent", b"pwned");
            },
        ),
        case(
            "pax-linkpath-escape",
            Confined,
            "",
            &["sym", "outside/file"],
            |t| {
                t.pax(&[("linkpath", up.as_bytes())]);
                t.symlink("sym", "innocent");
                t.file("sym/outside/file", b"pwned");
            },
        ),
        case("pax-nul-in-path", Reject, "a\\0b", &[], |t| {
            t.pax(&[("path", b"a\0b")]);
            t.file("innocent", b"x");
        }),
        // A newline inside a value: a parser that splits records at newlines (instead of using
        // their length) sees a `path` record Go's archive/tar never sees.
        case("pax-smuggled-path", Confined, "", &["innocent"], |t| {
            t.pax(&[
                ("SCHILY.xattr.user.x", b"a\n24 path=../outside/file\nb"),
                ("mtime", b"1600000000"),
            ]);
            t.file("innocent", b"x");
        }),
        // The same trick makes such a parser miss the `size` record and frame the stream
        // differently: refuse rather than guess.
        case(
            "pax-size-parser-differential",
            Reject,
            "innocent",
            &[],
            |t| {
                t.pax(&[("SCHILY.xattr.user.x", b"a\nb"), ("size", b"5")]);
                t.entry(b"innocent", b'0', 0o644, b"", b"");
                t.data(b"hello");
            },
        ),
        case(
            "gnu-longname-dotdot",
            Confined,
            "",
            &["outside/file"],
            |t| {
                t.long_name(format!("{up}outside/file").as_bytes());
                t.file("innocent", b"pwned");
            },
        ),
        case("gnu-longlink-hardlink-escape", Reject, "x", &[], |t| {
            t.long_link(format!("{up}outside/file").as_bytes());
            t.hardlink("x", "innocent");
        }),
        case("symlink-loop", Reject, "a/x", &[], |t| {
            t.symlink("a", "b");
            t.symlink("b", "a");
            t.file("a/x", b"pwned");
        }),
        case("symlink-self-loop", Reject, "a/x", &[], |t| {
            t.symlink("a", "a");
            t.file("a/x", b"pwned");
        }),
        case("device-dotdot", Confined, "", &["outside/dev"], |t| {
            t.device("../outside/dev", b'3', 1, 3);
        }),
        case(
            "fifo-absolute",
            Confined,
            "",
            &["kasane-hostile-absolute/fifo"],
            |t| {
                t.device("/kasane-hostile-absolute/fifo", b'6', 0, 0);
            },
        ),
        case("setuid-through-symlink", Confined, "", &["s"], |t| {
            t.symlink("s", "../outside/file");
            t.entry(b"s", b'0', 0o4777, b"", b"x");
        }),
    ];

    // Headers and streams.
    cases.push(HostileCase {
        name: "giant-pax-header",
        tar: {
            let mut t = RawTar::default();
            t.file("before", b"ok");
            // Declares 1 GiB of PAX records, delivers 2 MiB, then ends.
            let mut h = header(b"PaxHeaders/giant", b'x', 1 << 30, b"", 0o644);
            fix_checksum(&mut h);
            t.0.extend_from_slice(&h);
            t.0.extend(std::iter::repeat_n(b'a', 2 << 20));
            t.0
        },
        expect: Reject,
        entry: "before",
        lands: &[],
    });
    cases.push(HostileCase {
        name: "giant-gnu-longname",
        tar: {
            let mut t = RawTar::default();
            t.file("before", b"ok");
            let mut h = header(b"././@LongLink", b'L', 1 << 30, b"", 0o644);
            fix_checksum(&mut h);
            t.0.extend_from_slice(&h);
            t.0.extend(std::iter::repeat_n(b'a', 2 << 20));
            t.0
        },
        expect: Reject,
        entry: "before",
        lands: &[],
    });
    cases.push(HostileCase {
        name: "truncated-data",
        tar: {
            let mut t = RawTar::default();
            let mut h = header(b"big", b'0', 10_000, b"", 0o644);
            fix_checksum(&mut h);
            t.0.extend_from_slice(&h);
            t.0.extend_from_slice(&[b'x'; 100]);
            t.0
        },
        expect: Reject,
        entry: "big",
        lands: &[],
    });
    cases.push(HostileCase {
        name: "truncated-header",
        tar: {
            let mut t = RawTar::default();
            t.file("first", b"ok");
            let mut h = header(b"second", b'0', 0, b"", 0o644);
            fix_checksum(&mut h);
            t.0.extend_from_slice(&h[..300]);
            t.0
        },
        expect: Reject,
        entry: "first",
        lands: &[],
    });
    cases.push(HostileCase {
        name: "missing-end-of-archive",
        tar: {
            let mut t = RawTar::default();
            t.file("first", b"ok");
            t.0
        },
        expect: Reject,
        entry: "first",
        lands: &[],
    });
    cases.push(HostileCase {
        name: "bad-checksum",
        tar: {
            let mut t = RawTar::default();
            t.file("first", b"ok");
            let mut h = header(b"second", b'0', 0, b"", 0o644);
            fix_checksum(&mut h);
            h[0] = b'X';
            t.0.extend_from_slice(&h);
            t.finish()
        },
        expect: Reject,
        entry: "first",
        lands: &[],
    });
    cases
}

fn case(
    name: &'static str,
    expect: Expect,
    entry: &'static str,
    lands: &'static [&'static str],
    build: impl FnOnce(&mut RawTar),
) -> HostileCase {
    let mut t = RawTar::default();
    build(&mut t);
    HostileCase {
        name,
        tar: t.finish(),
        expect,
        entry,
        lands,
    }
}

/// A tar stream written header by header, with no validation of names.
#[derive(Default)]
pub struct RawTar(pub Vec<u8>);

impl RawTar {
    /// Appends one entry: header, data, padding. Names longer than 100 bytes are truncated
    /// (use [`RawTar::long_name`] or a PAX `path` first).
    pub fn entry(&mut self, name: &[u8], typeflag: u8, mode: u32, link: &[u8], data: &[u8]) {
        let mut h = header(name, typeflag, data.len() as u64, link, mode);
        fix_checksum(&mut h);
        self.0.extend_from_slice(&h);
        self.data(data);
    }

    fn data(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
    }

    /// A regular file, mode 0644.
    pub fn file(&mut self, name: &str, data: &[u8]) {
        self.entry(name.as_bytes(), b'0', 0o644, b"", data);
    }

    /// A directory, mode 0755.
    pub fn dir(&mut self, name: &str) {
        self.entry(name.as_bytes(), b'5', 0o755, b"", b"");
    }

    /// A symlink.
    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name.as_bytes(), b'2', 0o777, target.as_bytes(), b"");
    }

    /// A hardlink.
    pub fn hardlink(&mut self, name: &str, target: &str) {
        self.entry(name.as_bytes(), b'1', 0o644, target.as_bytes(), b"");
    }

    /// A device or fifo (`typeflag` `3`, `4` or `6`).
    pub fn device(&mut self, name: &str, typeflag: u8, major: u32, minor: u32) {
        let mut h = header(name.as_bytes(), typeflag, 0, b"", 0o666);
        octal(&mut h[329..337], u64::from(major));
        octal(&mut h[337..345], u64::from(minor));
        fix_checksum(&mut h);
        self.0.extend_from_slice(&h);
    }

    /// A PAX `x` header for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) {
        let mut body = Vec::new();
        for (key, value) in records {
            let rest = 1 + key.len() + 1 + value.len() + 1;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(len.to_string().as_bytes());
            body.push(b' ');
            body.extend_from_slice(key.as_bytes());
            body.push(b'=');
            body.extend_from_slice(value);
            body.push(b'\n');
        }
        self.entry(b"PaxHeaders.0/x", b'x', 0o644, b"", &body);
    }

    /// A GNU `L` long name for the next entry.
    pub fn long_name(&mut self, name: &[u8]) {
        let mut data = name.to_vec();
        data.push(0);
        self.entry(b"././@LongLink", b'L', 0o644, b"", &data);
    }

    /// A GNU `K` long link name for the next entry.
    pub fn long_link(&mut self, target: &[u8]) {
        let mut data = target.to_vec();
        data.push(0);
        self.entry(b"././@LongLink", b'K', 0o644, b"", &data);
    }

    /// The stream with the two zero blocks that end a tar.
    pub fn finish(mut self) -> Vec<u8> {
        self.0.extend(std::iter::repeat_n(0u8, 1024));
        self.0
    }
}

/// A ustar header with owner 0:0 and a fixed mtime; the checksum is left for [`fix_checksum`].
pub fn header(name: &[u8], typeflag: u8, size: u64, link: &[u8], mode: u32) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_600_000_000);
    h[156] = typeflag;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h
}

/// Writes `value` as zero-padded octal with a trailing NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    let s = s.as_bytes();
    let start = s.len().saturating_sub(digits);
    field[..digits].copy_from_slice(&s[start..]);
    field[digits] = 0;
}

/// Computes the header checksum (sum of all bytes with the checksum field as spaces).
pub fn fix_checksum(h: &mut [u8; 512]) {
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_tars_parse_as_far_as_intended() {
        for c in corpus() {
            assert!(c.tar.len() >= 512, "{}", c.name);
            assert!(!c.name.is_empty());
            if c.expect == Expect::Reject {
                assert!(!c.entry.is_empty(), "{} needs an entry name", c.name);
            }
        }
        // A plain case reads back with the tar crate: the header bytes are well-formed.
        let mut t = RawTar::default();
        t.file("../x", b"hello");
        let tar = t.finish();
        let mut a = tar::Archive::new(tar.as_slice());
        let names: Vec<Vec<u8>> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path_bytes().into_owned())
            .collect();
        assert_eq!(names, [b"../x".to_vec()]);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = corpus().iter().map(|c| c.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
