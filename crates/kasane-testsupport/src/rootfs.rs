//! The merged filesystem an image should unpack to, and the same view read back from disk.
//!
//! Owns: [`Rootfs`] (path → [`RootfsEntry`]), the layer-application model that computes it
//! from layers (`Tree`, crate-private), [`Rootfs::scan`] which reads an unpacked directory
//! into the same shape, and [`Rootfs::diff`] which compares the two.
//!
//! Model (OCI `layer.md` "Applying Changesets"), per layer in order:
//! 1. every opaque marker `D/.wh..wh..opq` removes all lower-layer children of `D`;
//! 2. every whiteout `D/.wh.X` removes `D/X` and everything below it;
//! 3. every other entry is applied in tar order: a directory over a directory only updates the
//!    metadata (children stay), anything else replaces what was there (and its subtree);
//!    a hard link becomes another name for its target's inode (metadata is the target's);
//!    missing parents are created as 0755 root-owned directories with unknown mtime.
//!
//! Hard links are reported as a `link_group`: the smallest path (in walk order) sharing the
//! inode, present only when at least two paths share it. Paths are relative, without leading
//! `/`, and the root itself is not an entry.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::consts::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::digest::{Digest, HashingWriter};
use crate::entry::{Entry, EntryKind, normalize, walk_order_key};
use crate::layer::{Layer, LayerBuilder};

/// What an entry of a merged rootfs is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootfsKind {
    /// A directory.
    Dir,
    /// A regular file.
    File {
        /// Content length.
        size: u64,
        /// Content digest.
        digest: Digest,
    },
    /// A symlink.
    Symlink {
        /// Link target, verbatim.
        target: String,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One path of a merged rootfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootfsEntry {
    /// The object.
    pub kind: RootfsKind,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u64,
    /// Owner gid.
    pub gid: u64,
    /// mtime in seconds, `None` when unknown (a parent the unpacker had to create).
    pub mtime: Option<i64>,
    /// Extended attributes.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// For hard-linked files: the smallest path sharing the inode.
    pub link_group: Option<String>,
}

/// A merged filesystem tree: what an image's layers produce, or what a directory holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rootfs {
    /// Every path below the root.
    pub entries: BTreeMap<String, RootfsEntry>,
}

/// Which attributes [`Rootfs::diff`] compares; kinds, sizes, digests and targets always are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompareOptions {
    /// Compare permission bits.
    pub modes: bool,
    /// Compare uid/gid (off when the unpacker ran rootless).
    pub owners: bool,
    /// Compare mtimes of non-directories.
    pub mtimes: bool,
    /// Compare mtimes of directories (unpackers that write children after restoring a
    /// directory's mtime get this wrong; many tools do not try).
    pub dir_mtimes: bool,
    /// Compare extended attributes; `Some(prefix)` compares only names with that prefix.
    pub xattrs: Option<String>,
    /// Compare hard-link groups.
    pub link_groups: bool,
}

impl Default for CompareOptions {
    /// Everything compared, xattrs limited to the `user.` namespace (others are often added
    /// or filtered by the host, e.g. `security.selinux`).
    fn default() -> Self {
        Self {
            modes: true,
            owners: true,
            mtimes: true,
            dir_mtimes: true,
            xattrs: Some("user.".into()),
            link_groups: true,
        }
    }
}

impl Rootfs {
    /// The paths, sorted — "the expected file list".
    pub fn paths(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// Looks up one path (leading `/` allowed).
    pub fn get(&self, path: &str) -> Option<&RootfsEntry> {
        self.entries.get(&normalize(path))
    }

    /// Reads a directory tree (e.g. an unpacked rootfs) into the same shape. Symlinks are not
    /// followed; `exclude` names top-level entries to skip (e.g. `lost+found`).
    ///
    /// # Errors
    /// Any I/O error while walking, reading files or listing xattrs (`Unsupported` xattr
    /// errors are treated as "no xattrs").
    pub fn scan(root: &Path, exclude: &[&str]) -> io::Result<Rootfs> {
        let mut raw = BTreeMap::new();
        let mut inodes: HashMap<(u64, u64), Vec<String>> = HashMap::new();
        scan_dir(root, "", exclude, &mut raw, &mut inodes)?;
        let mut entries: BTreeMap<String, RootfsEntry> = raw;
        for paths in inodes.values().filter(|p| p.len() > 1) {
            let first = smallest(paths.iter().map(String::as_str));
            for p in paths {
                if let Some(e) = entries.get_mut(p) {
                    e.link_group = Some(first.clone());
                }
            }
        }
        Ok(Rootfs { entries })
    }

    /// Differences between `self` (expected) and `actual`, one human-readable line each;
    /// empty when they match under `opts`.
    pub fn diff(&self, actual: &Rootfs, opts: &CompareOptions) -> Vec<String> {
        let mut out = Vec::new();
        for (path, want) in &self.entries {
            let Some(got) = actual.entries.get(path) else {
                out.push(format!("{path}: missing"));
                continue;
            };
            if want.kind != got.kind {
                out.push(format!("{path}: kind {:?}, want {:?}", got.kind, want.kind));
                continue;
            }
            // Symlink permission bits are meaningless on Linux (always 0777 on disk).
            if opts.modes
                && want.mode != got.mode
                && !matches!(want.kind, RootfsKind::Symlink { .. })
            {
                out.push(format!("{path}: mode {:o}, want {:o}", got.mode, want.mode));
            }
            if opts.owners && (want.uid, want.gid) != (got.uid, got.gid) {
                out.push(format!(
                    "{path}: owner {}:{}, want {}:{}",
                    got.uid, got.gid, want.uid, want.gid
                ));
            }
            let is_dir = want.kind == RootfsKind::Dir;
            let check_mtime = if is_dir { opts.dir_mtimes } else { opts.mtimes };
            if let (true, Some(w), Some(g)) = (check_mtime, want.mtime, got.mtime)
                && w != g
            {
                out.push(format!("{path}: mtime {g}, want {w}"));
            }
            if let Some(prefix) = &opts.xattrs {
                let pick = |x: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
                    x.iter()
                        .filter(|(k, _)| k.starts_with(prefix.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                let (w, g) = (pick(&want.xattrs), pick(&got.xattrs));
                if w != g {
                    out.push(format!("{path}: xattrs {g:?}, want {w:?}"));
                }
            }
            if opts.link_groups && want.link_group != got.link_group {
                out.push(format!(
                    "{path}: link group {:?}, want {:?}",
                    got.link_group, want.link_group
                ));
            }
        }
        for path in actual
            .entries
            .keys()
            .filter(|p| !self.entries.contains_key(*p))
        {
            out.push(format!("{path}: unexpected"));
        }
        out
    }
}

fn smallest<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    paths
        .min_by(|a, b| walk_order_key(a).cmp(&walk_order_key(b)))
        .unwrap_or_default()
        .to_string()
}

fn scan_dir(
    dir: &Path,
    rel: &str,
    exclude: &[&str],
    out: &mut BTreeMap<String, RootfsEntry>,
    inodes: &mut HashMap<(u64, u64), Vec<String>>,
) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let name_str = name.to_string_lossy().into_owned();
        if rel.is_empty() && exclude.contains(&name_str.as_str()) {
            continue;
        }
        let path = dir.join(&name);
        let rel_path = if rel.is_empty() {
            name_str
        } else {
            format!("{rel}/{name_str}")
        };
        let md = fs::symlink_metadata(&path)?;
        let ft = md.file_type();
        let (major, minor) = dev_split(md.rdev());
        let kind = if ft.is_dir() {
            RootfsKind::Dir
        } else if ft.is_file() {
            let mut hw = HashingWriter::new(io::sink());
            io::copy(&mut fs::File::open(&path)?, &mut hw)?;
            let (_, digest, size) = hw.finish();
            if md.nlink() > 1 {
                inodes
                    .entry((md.dev(), md.ino()))
                    .or_default()
                    .push(rel_path.clone());
            }
            RootfsKind::File { size, digest }
        } else if ft.is_symlink() {
            RootfsKind::Symlink {
                target: fs::read_link(&path)?.to_string_lossy().into_owned(),
            }
        } else if ft.is_char_device() {
            RootfsKind::CharDevice { major, minor }
        } else if ft.is_block_device() {
            RootfsKind::BlockDevice { major, minor }
        } else if ft.is_fifo() {
            RootfsKind::Fifo
        } else {
            // Sockets cannot come from a tar; report them as unexpected-looking FIFOs would
            // hide that, so skip them with this note instead of failing the whole scan.
            continue;
        };
        let mut xattrs = BTreeMap::new();
        match xattr::list(&path) {
            Ok(names) => {
                for n in names {
                    if let Some(v) = xattr::get(&path, &n)? {
                        xattrs.insert(n.to_string_lossy().into_owned(), v);
                    }
                }
            }
            // A filesystem without xattr support has, by definition, no xattrs to compare.
            Err(e) if e.kind() == io::ErrorKind::Unsupported || e.raw_os_error() == Some(95) => {}
            Err(e) => return Err(e),
        }
        out.insert(
            rel_path.clone(),
            RootfsEntry {
                kind: kind.clone(),
                mode: md.mode() & 0o7777,
                uid: u64::from(md.uid()),
                gid: u64::from(md.gid()),
                mtime: Some(md.mtime()),
                xattrs,
                link_group: None,
            },
        );
        if kind == RootfsKind::Dir {
            scan_dir(&path, &rel_path, exclude, out, inodes)?;
        }
    }
    Ok(())
}

/// glibc's `gnu_dev_major`/`gnu_dev_minor` split of a Linux `dev_t`.
fn dev_split(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// One path of the model: the entry that produced it and its inode number.
#[derive(Clone, Debug)]
struct Node {
    entry: Entry,
    digest: Option<Digest>,
    inode: u64,
    implicit: bool,
}

/// The layer-application model (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tree {
    nodes: BTreeMap<String, Node>,
    next_inode: u64,
    default_mtime: Option<i64>,
}

impl Tree {
    fn inode(&mut self) -> u64 {
        self.next_inode += 1;
        self.next_inode
    }

    /// Removes `path` (if not empty) and everything below it.
    fn remove_subtree(&mut self, path: &str) {
        if !path.is_empty() {
            self.nodes.remove(path);
        }
        self.remove_children(path);
    }

    fn remove_children(&mut self, dir: &str) {
        if dir.is_empty() {
            self.nodes.clear();
            return;
        }
        // Children of "a" are exactly the keys in ["a/", "a0"): '0' follows '/' in ASCII.
        let below: Vec<String> = self
            .nodes
            .range(format!("{dir}/")..format!("{dir}0"))
            .map(|(k, _)| k.clone())
            .collect();
        for k in below {
            self.nodes.remove(&k);
        }
    }

    fn ensure_parents(&mut self, path: &str) {
        let mut ancestors = Vec::new();
        let mut p = path;
        while let Some(i) = p.rfind('/') {
            p = &p[..i];
            ancestors.push(p.to_string());
        }
        for a in ancestors.into_iter().rev() {
            let is_dir = self
                .nodes
                .get(&a)
                .is_some_and(|n| n.entry.kind == EntryKind::Dir);
            if !is_dir {
                self.remove_subtree(&a);
                let inode = self.inode();
                self.nodes.insert(
                    a.clone(),
                    Node {
                        entry: Entry::dir(&a),
                        digest: None,
                        inode,
                        implicit: true,
                    },
                );
            }
        }
    }

    /// Applies one layer (see the module docs for the rules).
    pub(crate) fn apply(&mut self, layer: &Layer) {
        self.default_mtime.get_or_insert(layer.default_mtime());
        let parent_of = |p: &str| p.rfind('/').map_or(String::new(), |i| p[..i].to_string());
        for e in layer.entries().iter().filter(|e| e.name() == OPAQUE_MARKER) {
            self.remove_children(&parent_of(&e.path));
        }
        for e in layer
            .entries()
            .iter()
            .filter(|e| e.is_whiteout() && e.name() != OPAQUE_MARKER)
        {
            let parent = parent_of(&e.path);
            let victim = &e.name()[WHITEOUT_PREFIX.len()..];
            self.remove_subtree(&if parent.is_empty() {
                victim.to_string()
            } else {
                format!("{parent}/{victim}")
            });
        }
        for e in layer
            .entries()
            .iter()
            .filter(|e| !e.is_whiteout() && !e.path.is_empty())
        {
            self.ensure_parents(&e.path);
            match &e.kind {
                EntryKind::Dir => {
                    if let Some(n) = self
                        .nodes
                        .get_mut(&e.path)
                        .filter(|n| n.entry.kind == EntryKind::Dir)
                    {
                        n.entry = e.clone();
                        n.implicit = false;
                        continue;
                    }
                    self.remove_subtree(&e.path);
                    let inode = self.inode();
                    self.nodes.insert(
                        e.path.clone(),
                        Node {
                            entry: e.clone(),
                            digest: None,
                            inode,
                            implicit: false,
                        },
                    );
                }
                EntryKind::Hardlink(target) => {
                    let Some(t) = self
                        .nodes
                        .get(target)
                        .filter(|n| n.entry.kind != EntryKind::Dir)
                        .cloned()
                    else {
                        // A link to nothing (or to a directory) fails in real unpackers; the
                        // model leaves the path out rather than guessing what they create.
                        continue;
                    };
                    if e.path == *target {
                        continue;
                    }
                    self.remove_subtree(&e.path);
                    let mut entry = t.entry.clone();
                    entry.path = e.path.clone();
                    self.nodes.insert(
                        e.path.clone(),
                        Node {
                            entry,
                            digest: t.digest,
                            inode: t.inode,
                            implicit: false,
                        },
                    );
                }
                _ => {
                    self.remove_subtree(&e.path);
                    let inode = self.inode();
                    let digest = layer.file_digest(&e.path).cloned();
                    self.nodes.insert(
                        e.path.clone(),
                        Node {
                            entry: e.clone(),
                            digest,
                            inode,
                            implicit: false,
                        },
                    );
                }
            }
        }
    }

    /// The public view of the model.
    pub(crate) fn to_rootfs(&self) -> Rootfs {
        let groups = self.link_groups();
        let entries = self
            .nodes
            .iter()
            .map(|(path, n)| {
                let e = &n.entry;
                let kind = match &e.kind {
                    EntryKind::Dir => RootfsKind::Dir,
                    EntryKind::File(c) => RootfsKind::File {
                        size: c.len(),
                        digest: n
                            .digest
                            .clone()
                            .unwrap_or_else(|| Digest::sha256(&c.to_vec())),
                    },
                    EntryKind::Symlink(t) => RootfsKind::Symlink { target: t.clone() },
                    EntryKind::CharDevice { major, minor } => RootfsKind::CharDevice {
                        major: *major,
                        minor: *minor,
                    },
                    EntryKind::BlockDevice { major, minor } => RootfsKind::BlockDevice {
                        major: *major,
                        minor: *minor,
                    },
                    EntryKind::Fifo => RootfsKind::Fifo,
                    EntryKind::Hardlink(_) => {
                        unreachable!("hard links are resolved to their target when applied")
                    }
                };
                let entry = RootfsEntry {
                    kind,
                    mode: e.mode & 0o7777,
                    uid: e.uid,
                    gid: e.gid,
                    mtime: if n.implicit { None } else { e.mtime },
                    xattrs: e.xattrs.clone(),
                    link_group: groups.get(&n.inode).cloned(),
                };
                (path.clone(), entry)
            })
            .collect();
        Rootfs { entries }
    }

    /// inode → smallest path, for inodes with two or more paths.
    fn link_groups(&self) -> HashMap<u64, String> {
        let mut by_inode: HashMap<u64, Vec<&str>> = HashMap::new();
        for (p, n) in &self.nodes {
            by_inode.entry(n.inode).or_default().push(p);
        }
        by_inode
            .into_iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(i, v)| (i, smallest(v.into_iter())))
            .collect()
    }

    /// The merged tree as one layer without whiteouts (a flattened rootfs tarball).
    pub(crate) fn flatten(&self) -> Layer {
        let groups = self.link_groups();
        let default_mtime = self.default_mtime.unwrap_or(crate::consts::DEFAULT_MTIME);
        let mut b = LayerBuilder::new(0).default_mtime(default_mtime);
        for (path, n) in &self.nodes {
            let entry = match groups.get(&n.inode) {
                Some(first) if first != path => Entry::hardlink(path, first),
                _ => n.entry.clone(),
            };
            b = b.entry(entry);
        }
        b.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerBuilder;

    fn merged(layers: &[Layer]) -> Rootfs {
        let mut t = Tree::default();
        for l in layers {
            t.apply(l);
        }
        t.to_rootfs()
    }

    #[test]
    fn whiteouts_opaque_and_replacement() {
        let base = LayerBuilder::new(1)
            .file("a/keep", "k")
            .file("a/gone", "g")
            .file("b/x", "x")
            .file("b/y", "y")
            .file("c/deep/f", "f")
            .file("d", "file becomes dir")
            .build();
        let top = LayerBuilder::new(2)
            .whiteout("a/gone")
            .opaque("b")
            .file("b/new", "n")
            .whiteout("c")
            .file("d/inside", "i")
            .build();
        let fs = merged(&[base, top]);
        assert_eq!(fs.paths(), ["a", "a/keep", "b", "b/new", "d", "d/inside"]);
        assert_eq!(fs.get("/d").unwrap().kind, RootfsKind::Dir);
    }

    #[test]
    fn dir_over_dir_keeps_children_and_takes_metadata() {
        let base = LayerBuilder::new(1).file("etc/passwd", "root").build();
        let top = LayerBuilder::new(2)
            .entry(Entry::dir("etc").mode(0o700).mtime(9))
            .build();
        let fs = merged(&[base, top]);
        assert_eq!(fs.paths(), ["etc", "etc/passwd"]);
        assert_eq!(
            (fs.get("etc").unwrap().mode, fs.get("etc").unwrap().mtime),
            (0o700, Some(9))
        );
    }

    #[test]
    fn hardlinks_share_inodes_until_replaced() {
        let base = LayerBuilder::new(1)
            .entry(Entry::file("f", "data").mode(0o600))
            .hardlink("g", "f")
            .hardlink("h", "f")
            .build();
        let fs = merged(std::slice::from_ref(&base));
        assert_eq!(fs.get("g").unwrap().link_group.as_deref(), Some("f"));
        assert_eq!(
            fs.get("h").unwrap().mode,
            0o600,
            "a link has its target's metadata"
        );
        let top = LayerBuilder::new(2).file("f", "new").build();
        let fs = merged(&[base, top]);
        assert_eq!(fs.get("f").unwrap().link_group, None);
        assert_eq!(fs.get("g").unwrap().link_group.as_deref(), Some("g"));
        assert_eq!(
            fs.get("g").unwrap().kind,
            RootfsKind::File {
                size: 4,
                digest: Digest::sha256(b"data")
            }
        );
    }

    #[test]
    fn implicit_parents_have_unknown_mtime() {
        let l = LayerBuilder::new(0)
            .implicit_parents(false)
            .file("x/y/z", "")
            .build();
        let fs = merged(&[l]);
        assert_eq!(fs.paths(), ["x", "x/y", "x/y/z"]);
        assert_eq!(fs.get("x").unwrap().mtime, None);
        assert_eq!(
            fs.get("x/y/z").unwrap().mtime,
            Some(crate::consts::DEFAULT_MTIME)
        );
    }

    #[test]
    fn flatten_reproduces_the_model_and_has_no_whiteouts() {
        let base = LayerBuilder::new(1)
            .file("f", "1")
            .hardlink("g", "f")
            .file("w", "gone")
            .build();
        let top = LayerBuilder::new(2).whiteout("w").symlink("s", "f").build();
        let mut t = Tree::default();
        t.apply(&base);
        t.apply(&top);
        let flat = t.flatten();
        assert!(!flat.has_whiteouts());
        assert_eq!(flat.rootfs(), t.to_rootfs());
    }

    #[test]
    fn scan_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir(r.join("d")).unwrap();
        fs::write(r.join("d/f"), b"abc").unwrap();
        fs::hard_link(r.join("d/f"), r.join("d/g")).unwrap();
        std::os::unix::fs::symlink("f", r.join("d/s")).unwrap();
        fs::write(r.join("lost+found"), b"").unwrap();
        let fs = Rootfs::scan(r, &["lost+found"]).unwrap();
        assert_eq!(fs.paths(), ["d", "d/f", "d/g", "d/s"]);
        assert_eq!(
            fs.get("d/f").unwrap().kind,
            RootfsKind::File {
                size: 3,
                digest: Digest::sha256(b"abc")
            }
        );
        assert_eq!(fs.get("d/g").unwrap().link_group.as_deref(), Some("d/f"));
        assert_eq!(
            fs.get("d/s").unwrap().kind,
            RootfsKind::Symlink { target: "f".into() }
        );
    }

    #[test]
    fn diff_reports_each_difference() {
        let a = LayerBuilder::new(1)
            .entry(Entry::file("f", "x").mode(0o600))
            .file("only-a", "")
            .build()
            .rootfs();
        let b = LayerBuilder::new(1)
            .entry(Entry::file("f", "x").mode(0o644))
            .file("only-b", "")
            .build()
            .rootfs();
        assert_eq!(a.diff(&a, &CompareOptions::default()), Vec::<String>::new());
        assert_eq!(
            a.diff(&b, &CompareOptions::default()),
            [
                "f: mode 644, want 600",
                "only-a: missing",
                "only-b: unexpected"
            ]
        );
    }

    #[test]
    fn dev_split_matches_glibc() {
        // glibc's makedev.
        fn makedev(major: u64, minor: u64) -> u64 {
            ((major & 0xfff) << 8)
                | ((major & !0xfff) << 32)
                | (minor & 0xff)
                | ((minor & !0xff) << 12)
        }
        assert_eq!(makedev(8, 1), 0x801);
        for (major, minor) in [(8, 1), (259, 65536), (4095, 255), (4096, 1 << 20)] {
            assert_eq!(
                dev_split(makedev(major, minor)),
                (major as u32, minor as u32)
            );
        }
    }
}
