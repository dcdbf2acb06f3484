//! Deterministic pseudo-random bytes and text, stable across toolchains and crate versions.
//!
//! Owns: the generator behind every "random" file. `rand`'s `StdRng` is explicitly not
//! reproducible across `rand` releases, and a fixture whose digest changes with a dependency
//! bump is useless as a golden value, so this module uses SplitMix64 (Steele, Lea and Flood,
//! "Fast splittable pseudorandom number generators", OOPSLA 2014), which is fixed by definition.
//!
//! Guarantees: the same seed yields the same bytes forever; generation is streamed in
//! 64 KiB chunks so large files never exist twice in memory.

use std::io::{self, Write};

/// SplitMix64: small, fast, and good enough for test data (not for cryptography).
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; the modulo bias is irrelevant for test data).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Fills `buf` with random bytes.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Mixes a seed with a name (FNV-1a), so per-file seeds do not depend on insertion order.
pub(crate) fn mix(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Rng::new(h).next_u64()
}

const CHUNK: usize = 64 * 1024;

/// Streams `len` random bytes from `seed` into `w`.
pub(crate) fn write_random(w: &mut dyn Write, seed: u64, len: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        rng.fill(&mut buf[..n]);
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "kasane",
    "layer",
    "image",
    "container",
    "digest",
    "manifest",
    "config",
    "snapshot",
    "overlay",
];

/// Streams `len` bytes of compressible English-like text (words, spaces, a newline every ~12
/// words) from `seed` into `w`.
pub(crate) fn write_text(w: &mut dyn Write, seed: u64, len: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let mut buf = Vec::with_capacity(CHUNK + 32);
    let mut left = len;
    let mut words_on_line = 0;
    while left > 0 {
        while buf.len() < CHUNK {
            let word = WORDS[rng.below(WORDS.len() as u64) as usize];
            buf.extend_from_slice(word.as_bytes());
            words_on_line += 1;
            if words_on_line >= 12 {
                buf.push(b'\n');
                words_on_line = 0;
            } else {
                buf.push(b' ');
            }
        }
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        w.write_all(&buf[..n])?;
        buf.drain(..n);
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 0, from the reference C implementation.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn streams_have_exact_lengths_and_are_deterministic() {
        for len in [0u64, 1, 7, 8, 9, 65_535, 65_536, 200_001] {
            let (mut a, mut b, mut t) = (Vec::new(), Vec::new(), Vec::new());
            write_random(&mut a, 42, len).unwrap();
            write_random(&mut b, 42, len).unwrap();
            write_text(&mut t, 42, len).unwrap();
            assert_eq!(a.len() as u64, len);
            assert_eq!(t.len() as u64, len);
            assert_eq!(a, b);
        }
        let mut t = Vec::new();
        write_text(&mut t, 1, 1000).unwrap();
        assert!(
            t.iter()
                .all(|b| b.is_ascii_lowercase() || *b == b' ' || *b == b'\n')
        );
    }

    #[test]
    fn mix_depends_on_both_inputs() {
        assert_ne!(mix(1, "a"), mix(2, "a"));
        assert_ne!(mix(1, "a"), mix(1, "b"));
        assert_eq!(mix(1, "a"), mix(1, "a"));
    }
}
