//! Ready-made layers shaped like the bench fixtures (`bench/fixtures.sh`), at any scale.
//!
//! Owns: [`LayerBuilder::many_small_files`], [`LayerBuilder::one_large_file`] and
//! [`LayerBuilder::random_tree`]. Each returns a builder, so tests can add entries on top.

use crate::entry::{Content, Entry, EntryKind};
use crate::layer::LayerBuilder;
use crate::rng::Rng;

impl LayerBuilder {
    /// `n` files of 0.5–8 KiB under `small/dNNN/fNNNNN` (100 per directory), each a quarter
    /// random bytes and three quarters text — the "COPY small/" layer of the bench.
    pub fn many_small_files(n: usize, seed: u64) -> LayerBuilder {
        let mut rng = Rng::new(seed);
        let mut b = LayerBuilder::new(seed);
        for i in 0..n {
            let size = 512 + rng.below(7680);
            let content = Content::Mixed {
                random: size / 4,
                text: size - size / 4,
                seed: Some(rng.next_u64()),
            };
            b = b.entry(Entry::content_file(
                &format!("small/d{:03}/f{i:05}", i / 100),
                content,
            ));
        }
        b
    }

    /// One file `big.bin` of `size` bytes: three quarters random, the rest text — the
    /// "COPY big.bin" layer of the bench.
    pub fn one_large_file(size: u64, seed: u64) -> LayerBuilder {
        let random = size - size / 4;
        LayerBuilder::new(seed).entry(Entry::content_file(
            "big.bin",
            Content::Mixed {
                random,
                text: size / 4,
                seed: Some(seed),
            },
        ))
    }

    /// `n` entries of every portable kind: directories up to four deep, files of 0–16 KiB
    /// (random or text), relative and absolute symlinks, hard links to earlier files, FIFOs,
    /// varied modes (including setuid/setgid/sticky), owners and mtimes. No devices, so that
    /// rootless unpackers can reproduce it.
    pub fn random_tree(seed: u64, n: usize) -> LayerBuilder {
        const MODES: [u32; 6] = [0o644, 0o600, 0o755, 0o700, 0o4755, 0o2755];
        const OWNERS: [(u64, u64); 3] = [(0, 0), (1000, 1000), (65534, 65534)];
        let mut rng = Rng::new(seed);
        let mut b = LayerBuilder::new(seed);
        let mut dirs: Vec<String> = vec![String::new()];
        let mut files: Vec<String> = Vec::new();
        for i in 0..n {
            let parent = dirs[rng.below(dirs.len() as u64) as usize].clone();
            let join = |name: String| {
                if parent.is_empty() {
                    name
                } else {
                    format!("{parent}/{name}")
                }
            };
            let owner = OWNERS[rng.below(OWNERS.len() as u64) as usize];
            let mtime = 1_500_000_000 + rng.below(200_000_000) as i64;
            let roll = rng.below(100);
            let entry = if roll < 15 && parent.matches('/').count() < 3 {
                let path = join(format!("dir{i}"));
                dirs.push(path.clone());
                Entry::dir(&path).mode(if rng.chance(10) { 0o1777 } else { 0o755 })
            } else if roll < 70 || files.is_empty() {
                let path = join(format!("file{i}"));
                let len = rng.below(16 * 1024);
                files.push(path.clone());
                let e = if rng.chance(50) {
                    Entry::random_file(&path, len)
                } else {
                    Entry::text_file(&path, len)
                };
                let e = e.mode(MODES[rng.below(MODES.len() as u64) as usize]);
                if rng.chance(10) {
                    e.xattr("user.kasane.test", format!("value{i}"))
                } else {
                    e
                }
            } else if roll < 85 {
                let target = &files[rng.below(files.len() as u64) as usize];
                let t = if rng.chance(50) {
                    format!("/{target}")
                } else {
                    relative(&parent, target)
                };
                Entry::symlink(&join(format!("link{i}")), &t)
            } else if roll < 95 {
                let target = files[rng.below(files.len() as u64) as usize].clone();
                Entry::hardlink(&join(format!("hard{i}")), &target)
            } else {
                Entry::fifo(&join(format!("fifo{i}")))
            };
            // Hard links take their target's metadata, so only set it on everything else.
            b = if matches!(entry.kind, EntryKind::Hardlink(_)) {
                b.entry(entry)
            } else {
                b.entry(entry.owner(owner.0, owner.1).mtime(mtime))
            };
        }
        b
    }
}

/// A relative path from directory `from` to `to` (both relative to the root).
fn relative(from: &str, to: &str) -> String {
    let ups = if from.is_empty() {
        0
    } else {
        from.split('/').count()
    };
    format!("{}{to}", "../".repeat(ups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_small_files_has_the_requested_shape() {
        let layer = LayerBuilder::many_small_files(250, 1).build();
        let files: Vec<_> = layer
            .entries()
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::File(_)))
            .collect();
        assert_eq!(files.len(), 250);
        assert!(
            layer
                .entries()
                .iter()
                .any(|e| e.path == "small/d002/f00249")
        );
        for f in files {
            let EntryKind::File(c) = &f.kind else {
                unreachable!("filtered to files")
            };
            assert!((512..8192).contains(&c.len()), "{}", c.len());
        }
        assert_eq!(
            LayerBuilder::many_small_files(250, 1).build().diff_id(),
            layer.diff_id()
        );
    }

    #[test]
    fn one_large_file_has_the_requested_size() {
        let layer = LayerBuilder::one_large_file(3_000_001, 2).build();
        let e = layer
            .entries()
            .iter()
            .find(|e| e.path == "big.bin")
            .unwrap();
        let EntryKind::File(c) = &e.kind else {
            panic!("big.bin is a file")
        };
        assert_eq!(c.len(), 3_000_001);
    }

    #[test]
    fn random_tree_is_deterministic_and_varied() {
        let a = LayerBuilder::random_tree(3, 300).build();
        assert_eq!(
            a.diff_id(),
            LayerBuilder::random_tree(3, 300).build().diff_id()
        );
        assert_ne!(
            a.diff_id(),
            LayerBuilder::random_tree(4, 300).build().diff_id()
        );
        let kinds = |f: fn(&EntryKind) -> bool| a.entries().iter().filter(|e| f(&e.kind)).count();
        assert!(kinds(|k| matches!(k, EntryKind::Dir)) > 10);
        assert!(kinds(|k| matches!(k, EntryKind::Symlink(_))) > 10);
        assert!(kinds(|k| matches!(k, EntryKind::Hardlink(_))) > 5);
        assert!(kinds(|k| matches!(k, EntryKind::Fifo)) > 0);
        assert!(a.entries().iter().any(|e| e.mode == 0o4755));
        assert_eq!(relative("a/b", "c/d"), "../../c/d");
    }
}
