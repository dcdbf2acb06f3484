//! Files-in-a-tree, written either as a directory or as one (optionally compressed) tar.
//!
//! Owns: `FileTree` (crate-private), the shared back end of the OCI-layout and
//! docker-archive writers, and [`read_tar_files`], which reads any of their outputs back.
//!
//! Model: a map of relative path → (bytes, mtime). As a tar, parent directories are implied
//! (0755, root-owned, given mtime), files are 0644, entries in sorted walk order, so equal trees
//! give byte-identical archives. As a directory, existing files are overwritten and nothing
//! else is touched, so writing twice is harmless.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use crate::entry::{Content, Entry};
use crate::layer::{Compression, LayerBuilder, compress};

/// Relative path → (content, mtime).
#[derive(Clone, Debug, Default)]
pub(crate) struct FileTree {
    files: BTreeMap<String, (Arc<Vec<u8>>, i64)>,
}

impl FileTree {
    /// Adds or replaces a file.
    pub(crate) fn insert(&mut self, path: &str, data: Arc<Vec<u8>>, mtime: i64) {
        self.files.insert(path.to_string(), (data, mtime));
    }

    /// Adds a file from owned bytes.
    pub(crate) fn insert_bytes(&mut self, path: &str, data: Vec<u8>, mtime: i64) {
        self.insert(path, Arc::new(data), mtime);
    }

    /// The tree as an uncompressed tar (directories implied, with `dir_mtime`).
    pub(crate) fn to_tar(&self, dir_mtime: i64) -> Vec<u8> {
        let mut b = LayerBuilder::new(0).default_mtime(dir_mtime);
        for (path, (data, mtime)) in &self.files {
            b = b.entry(Entry::content_file(path, Content::Bytes(Arc::clone(data))).mtime(*mtime));
        }
        b.build().tar().to_vec()
    }

    /// Writes every file below `root`, creating directories as needed.
    pub(crate) fn write_dir(&self, root: &Path) -> io::Result<()> {
        for (path, (data, _)) in &self.files {
            let p = root.join(path);
            if let Some(parent) = p.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(&p, data.as_slice())?;
        }
        Ok(())
    }
}

/// Writes `data` to `path`, compressed as asked.
pub(crate) fn write_compressed(path: &Path, data: &[u8], c: Compression) -> io::Result<()> {
    match c {
        Compression::None => fs::write(path, data),
        _ => fs::write(path, compress(data, c)),
    }
}

/// Detects gzip or zstd by magic number and decompresses; anything else is returned as is.
///
/// # Errors
/// The decoder's error on a corrupt stream (e.g. `UnexpectedEof` for a truncated gzip).
pub fn decompress(data: &[u8]) -> io::Result<Vec<u8>> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data).read_to_end(&mut out)?;
        Ok(out)
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::decode_all(data)
    } else {
        Ok(data.to_vec())
    }
}

/// Reads a tar (plain, gzip or zstd) into path → content for its regular files; paths lose a
/// leading `./`. Meant for checking archives written by this crate or by kasane.
///
/// # Errors
/// Decompression or tar parse errors.
pub fn read_tar_files(data: &[u8]) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let tar = decompress(data)?;
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(tar.as_slice());
    for entry in ar.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = path.strip_prefix("./").unwrap_or(&path).to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        out.insert(path, data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_round_trips_through_tar_and_dir() {
        let mut t = FileTree::default();
        t.insert_bytes("b/x", b"1".to_vec(), 5);
        t.insert_bytes("a", b"22".to_vec(), 5);
        let tar = t.to_tar(0);
        assert_eq!(tar, t.to_tar(0), "deterministic");
        let files = read_tar_files(&tar).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a", "b/x"]);
        let gz = compress(&tar, Compression::Gzip);
        assert_eq!(read_tar_files(&gz).unwrap(), files);
        let zs = compress(&tar, Compression::Zstd);
        assert_eq!(read_tar_files(&zs).unwrap(), files);

        let dir = tempfile::tempdir().unwrap();
        t.write_dir(dir.path()).unwrap();
        t.write_dir(dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join("b/x")).unwrap(), b"1");
    }
}
