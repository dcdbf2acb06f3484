//! One tar member as plain data: path, kind, content, mode, owner, mtime, xattrs.
//!
//! Owns: [`Entry`], [`EntryKind`] and [`Content`], the input of
//! [`LayerBuilder`](crate::LayerBuilder), plus the path rules every layer follows: paths are
//! relative without leading `/` or `./` or trailing `/` ([`normalize`]), and entries are
//! written in depth-first walk order with whiteouts first among their siblings
//! ([`walk_order_key`]).
//!
//! Spec: OCI image-spec `layer.md` ("Whiteouts": `.wh.<name>`, opaque `.wh..wh..opq`, "whiteout
//! files appear before sibling directory entries").

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;

use crate::consts::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::rng::{write_random, write_text};
use crate::tarw::{TarHeader, flag};

/// The bytes of a regular file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// Exactly these bytes.
    Bytes(Arc<Vec<u8>>),
    /// `len` incompressible pseudo-random bytes; `seed` defaults to one derived from the layer
    /// seed and the path.
    Random {
        /// Length in bytes.
        len: u64,
        /// Explicit seed, or `None` for the layer-derived one.
        seed: Option<u64>,
    },
    /// `len` bytes of compressible text (words and newlines).
    Text {
        /// Length in bytes.
        len: u64,
        /// Explicit seed, or `None` for the layer-derived one.
        seed: Option<u64>,
    },
    /// `random` random bytes followed by `text` bytes of text, like real binaries-with-data.
    Mixed {
        /// Length of the random prefix.
        random: u64,
        /// Length of the text suffix.
        text: u64,
        /// Explicit seed, or `None` for the layer-derived one.
        seed: Option<u64>,
    },
}

impl Content {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Random { len, .. } | Content::Text { len, .. } => *len,
            Content::Mixed { random, text, .. } => random + text,
        }
    }

    /// True for empty content.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same content with its seed fixed (no-op for bytes or an explicit seed).
    pub(crate) fn resolved(&self, default_seed: u64) -> Content {
        match self {
            Content::Bytes(_) => self.clone(),
            Content::Random { len, seed } => Content::Random {
                len: *len,
                seed: Some(seed.unwrap_or(default_seed)),
            },
            Content::Text { len, seed } => Content::Text {
                len: *len,
                seed: Some(seed.unwrap_or(default_seed)),
            },
            Content::Mixed { random, text, seed } => Content::Mixed {
                random: *random,
                text: *text,
                seed: Some(seed.unwrap_or(default_seed)),
            },
        }
    }

    /// Streams the content into `w` (an unresolved seed, outside a built layer, counts as 0).
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        match self {
            Content::Bytes(b) => w.write_all(b),
            Content::Random { len, seed } => write_random(w, seed.unwrap_or(0), *len),
            Content::Text { len, seed } => write_text(w, seed.unwrap_or(0), *len),
            Content::Mixed { random, text, seed } => {
                let s = seed.unwrap_or(0);
                write_random(w, s, *random)?;
                write_text(w, s.wrapping_add(1), *text)
            }
        }
    }

    /// The content as one vector (fine for small files; large ones are better streamed).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        // Writing into a Vec cannot fail and the generators have no other error source.
        self.write_to(&mut v)
            .expect("writing into a Vec is infallible");
        v
    }
}

/// What kind of filesystem object an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File(Content),
    /// A symbolic link to the given target (not resolved, may dangle or be absolute).
    Symlink(String),
    /// A hard link to an earlier entry of the layer (path relative to the layer root).
    Hardlink(String),
    /// A character device.
    CharDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One tar member. Plain data with chaining setters for the optional parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the layer root, without leading `/` or `./` and without trailing `/`.
    pub path: String,
    /// The object.
    pub kind: EntryKind,
    /// Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    pub mode: u32,
    /// Owner uid.
    pub uid: u64,
    /// Owner gid.
    pub gid: u64,
    /// Owner user name in the header (`uname`), empty when `None`.
    pub uname: Option<String>,
    /// Owner group name in the header (`gname`), empty when `None`.
    pub gname: Option<String>,
    /// Seconds since the epoch, or `None` for the layer default.
    pub mtime: Option<i64>,
    /// Extended attributes, written as PAX `SCHILY.xattr.<name>` records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Strips leading `/` and `./` and trailing `/`; `.` and `/` become the empty root path.
pub fn normalize(path: &str) -> String {
    let mut s = path;
    loop {
        let t = s.trim_start_matches('/');
        match t.strip_prefix("./") {
            Some(rest) => s = rest,
            None => {
                s = t;
                break;
            }
        }
    }
    let s = s.trim_end_matches('/');
    if s == "." {
        String::new()
    } else {
        s.to_string()
    }
}

impl Entry {
    fn new(path: &str, kind: EntryKind, mode: u32) -> Self {
        Self {
            path: normalize(path),
            kind,
            mode,
            uid: 0,
            gid: 0,
            uname: None,
            gname: None,
            mtime: None,
            xattrs: BTreeMap::new(),
        }
    }

    /// A directory, mode 0755.
    pub fn dir(path: &str) -> Self {
        Self::new(path, EntryKind::Dir, 0o755)
    }

    /// A regular file with the given bytes, mode 0644.
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Self {
        Self::new(
            path,
            EntryKind::File(Content::Bytes(Arc::new(data.into()))),
            0o644,
        )
    }

    /// A regular file of `len` pseudo-random (incompressible) bytes, mode 0644.
    pub fn random_file(path: &str, len: u64) -> Self {
        Self::new(
            path,
            EntryKind::File(Content::Random { len, seed: None }),
            0o644,
        )
    }

    /// A regular file of `len` bytes of compressible text, mode 0644.
    pub fn text_file(path: &str, len: u64) -> Self {
        Self::new(
            path,
            EntryKind::File(Content::Text { len, seed: None }),
            0o644,
        )
    }

    /// A regular file with arbitrary [`Content`], mode 0644.
    pub fn content_file(path: &str, content: Content) -> Self {
        Self::new(path, EntryKind::File(content), 0o644)
    }

    /// A symlink, mode 0777.
    pub fn symlink(path: &str, target: &str) -> Self {
        Self::new(path, EntryKind::Symlink(target.to_string()), 0o777)
    }

    /// A hard link to `target` (a path in the same layer, or in a lower one).
    pub fn hardlink(path: &str, target: &str) -> Self {
        Self::new(path, EntryKind::Hardlink(normalize(target)), 0o644)
    }

    /// A character device, mode 0644 (`/dev/null` is `char_device(.., 1, 3)`).
    pub fn char_device(path: &str, major: u32, minor: u32) -> Self {
        Self::new(path, EntryKind::CharDevice { major, minor }, 0o644)
    }

    /// A block device, mode 0644.
    pub fn block_device(path: &str, major: u32, minor: u32) -> Self {
        Self::new(path, EntryKind::BlockDevice { major, minor }, 0o644)
    }

    /// A named pipe, mode 0644.
    pub fn fifo(path: &str) -> Self {
        Self::new(path, EntryKind::Fifo, 0o644)
    }

    /// The whiteout `.wh.<name>` that deletes `path` from the layers below.
    pub fn whiteout(path: &str) -> Self {
        let p = normalize(path);
        let wh = match p.rfind('/') {
            Some(i) => format!("{}/{WHITEOUT_PREFIX}{}", &p[..i], &p[i + 1..]),
            None => format!("{WHITEOUT_PREFIX}{p}"),
        };
        // moby's `pkg/archive` writes whiteouts as empty regular files with mode 0.
        Self::new(
            &wh,
            EntryKind::File(Content::Bytes(Arc::new(Vec::new()))),
            0,
        )
    }

    /// The opaque marker `<dir>/.wh..wh..opq` that hides everything below `dir` in lower layers.
    pub fn opaque(dir: &str) -> Self {
        let d = normalize(dir);
        let p = if d.is_empty() {
            OPAQUE_MARKER.to_string()
        } else {
            format!("{d}/{OPAQUE_MARKER}")
        };
        Self::new(&p, EntryKind::File(Content::Bytes(Arc::new(Vec::new()))), 0)
    }

    /// Sets the permission bits (e.g. `0o4755` for setuid).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the numeric owner.
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Sets the owner names written in the header.
    pub fn owner_names(mut self, uname: &str, gname: &str) -> Self {
        self.uname = Some(uname.to_string());
        self.gname = Some(gname.to_string());
        self
    }

    /// Sets the mtime (seconds since the epoch; negative values are written as PAX records).
    pub fn mtime(mut self, secs: i64) -> Self {
        self.mtime = Some(secs);
        self
    }

    /// Adds an extended attribute (e.g. `user.foo`, `security.capability`).
    pub fn xattr(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.xattrs.insert(name.to_string(), value.into());
        self
    }

    /// Fixes the seed of generated content (random/text); no-op for other kinds.
    pub fn seed(mut self, seed: u64) -> Self {
        if let EntryKind::File(
            Content::Random { seed: s, .. }
            | Content::Text { seed: s, .. }
            | Content::Mixed { seed: s, .. },
        ) = &mut self.kind
        {
            *s = Some(seed);
        }
        self
    }

    /// The basename (last path component).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// True for `.wh.*` entries, including the opaque marker.
    pub fn is_whiteout(&self) -> bool {
        self.name().starts_with(WHITEOUT_PREFIX)
    }

    pub(crate) fn header(&self, default_mtime: i64) -> TarHeader {
        let (typeflag, size, linkname, devmajor, devminor) = match &self.kind {
            EntryKind::Dir => (flag::DIR, 0, String::new(), 0, 0),
            EntryKind::File(c) => (flag::REG, c.len(), String::new(), 0, 0),
            EntryKind::Symlink(t) => (flag::SYMLINK, 0, t.clone(), 0, 0),
            EntryKind::Hardlink(t) => (flag::LINK, 0, t.clone(), 0, 0),
            EntryKind::CharDevice { major, minor } => {
                (flag::CHAR, 0, String::new(), *major, *minor)
            }
            EntryKind::BlockDevice { major, minor } => {
                (flag::BLOCK, 0, String::new(), *major, *minor)
            }
            EntryKind::Fifo => (flag::FIFO, 0, String::new(), 0, 0),
        };
        let path = match (&self.kind, self.path.is_empty()) {
            (_, true) => "./".to_string(),
            (EntryKind::Dir, false) => format!("{}/", self.path),
            _ => self.path.clone(),
        };
        TarHeader {
            path,
            typeflag,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            uname: self.uname.clone().unwrap_or_default(),
            gname: self.gname.clone().unwrap_or_default(),
            size,
            mtime: self.mtime.unwrap_or(default_mtime),
            linkname,
            devmajor,
            devminor,
            xattrs: self.xattrs.clone(),
        }
    }
}

/// Sort key of a path: component-wise (a depth-first walk), whiteouts first among siblings.
pub fn walk_order_key(path: &str) -> Vec<(u8, &str)> {
    path.split('/')
        .map(|c| {
            let rank = if c == OPAQUE_MARKER {
                0
            } else if c.starts_with(WHITEOUT_PREFIX) {
                1
            } else {
                2
            };
            (rank, c)
        })
        .collect()
}
