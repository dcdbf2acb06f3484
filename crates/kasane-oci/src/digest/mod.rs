//! Content digests: the names of everything immutable in kasane.
//!
//! Owns: [`Digest`] (`<algorithm>:<hex>`), the role newtypes built on it ([`DiffId`],
//! [`ChainId`], [`ImageId`]) and the streaming [`Digester`].
//!
//! Spec: OCI image-spec `descriptor.md#digests`. Only the registered algorithms `sha256` and
//! `sha512` are accepted; the encoded part must be lower-case hex of the algorithm's length.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod lanes;
mod sha256x8;
#[cfg(not(feature = "openssl"))]
use sha2::Digest as _;

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The string has no `algorithm:` prefix.
    #[error("invalid digest {0:?}: expected <algorithm>:<hex>")]
    MissingAlgorithm(String),
    /// The algorithm is not one kasane supports.
    #[error("invalid digest {0:?}: unsupported algorithm (sha256 and sha512 are supported)")]
    UnsupportedAlgorithm(String),
    /// The encoded part is not lower-case hex of the right length.
    #[error("invalid digest {0:?}: expected {1} lower-case hex characters")]
    BadEncoding(String, usize),
}

/// A digest algorithm registered by the OCI image spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the canonical algorithm for OCI content.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as written before the `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex encoding of this algorithm's output.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest such as `sha256:4438…`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Builds a digest from an algorithm and its hex encoding, validating the encoding.
    ///
    /// # Errors
    /// [`DigestError::BadEncoding`] when `hex` is not lower-case hex of the right length.
    pub fn from_parts(algorithm: Algorithm, hex: &str) -> Result<Self, DigestError> {
        let ok = hex.len() == algorithm.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(DigestError::BadEncoding(
                format!("{algorithm}:{hex}"),
                algorithm.hex_len(),
            ));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        let mut d = Digester::new(Algorithm::Sha256);
        d.update(bytes);
        d.finish()
    }

    /// The digest of `bytes` computed with this digest's algorithm (for verification).
    pub fn recompute(&self, bytes: &[u8]) -> Self {
        let mut d = Digester::new(self.algorithm);
        d.update(bytes);
        d.finish()
    }

    /// The algorithm part.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex-encoded part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as docker shows IDs in tables.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::MissingAlgorithm(s.to_owned()))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(DigestError::UnsupportedAlgorithm(s.to_owned())),
        };
        Digest::from_parts(algorithm, hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! digest_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Digest);

        impl $name {
            /// The underlying digest.
            pub fn digest(&self) -> &Digest {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = DigestError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name(s.parse()?))
            }
        }

        impl From<Digest> for $name {
            fn from(d: Digest) -> Self {
                $name(d)
            }
        }
    };
}

digest_newtype!(
    /// The digest of a layer's *uncompressed* tar stream (`rootfs.diff_ids` in the image config).
    DiffId
);
digest_newtype!(
    /// The identity of a stack of layers: `chain(L1) = diffid(L1)`,
    /// `chain(L1..Ln) = sha256(chain(L1..Ln-1) + " " + diffid(Ln))`. Snapshots are keyed by it.
    ChainId
);
digest_newtype!(
    /// An image's identity: the digest of its config blob, as docker's classic store uses it.
    ImageId
);

/// Computes the chain IDs of a stack of layers, bottom first (OCI image-spec `config.md#layer-chainid`).
pub fn chain_ids(diff_ids: &[DiffId]) -> Vec<ChainId> {
    let mut out: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => ChainId(diff.0.clone()),
            Some(parent) => ChainId(Digest::sha256_of(format!("{parent} {diff}").as_bytes())),
        };
        out.push(next);
    }
    out
}

/// A streaming hasher that yields a [`Digest`].
pub struct Digester {
    inner: Hasher,
}

#[cfg(feature = "openssl")]
use openssl::sha::{Sha256 as Sha256Impl, Sha512 as Sha512Impl};
#[cfg(not(feature = "openssl"))]
use sha2::{Sha256 as Sha256Impl, Sha512 as Sha512Impl};

enum Hasher {
    Sha256(Sha256Impl),
    Sha512(Sha512Impl),
    Lanes(lanes::LaneStream),
}

impl Digester {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        let inner = match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256Impl::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512Impl::new()),
        };
        Digester { inner }
    }

    /// A hasher for a long stream hashed while others are (the blobs and DiffIDs of a pull
    /// or a load): where the CPU allows, SHA-256 streams go to one hashing thread that
    /// compresses eight of them at once, at about a fifth of the cost each.
    pub fn for_stream(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => match lanes::LaneStream::start() {
                Some(s) => Digester {
                    inner: Hasher::Lanes(s),
                },
                None => Digester::new(algorithm),
            },
            Algorithm::Sha512 => Digester::new(algorithm),
        }
    }

    /// Whether [`update`](Self::update) only copies the bytes for the hashing thread (a
    /// [`for_stream`](Self::for_stream) hasher where the CPU allows): callers need no helper
    /// thread of their own to keep hashing off their critical path.
    pub fn offloads(&self) -> bool {
        matches!(self.inner, Hasher::Lanes(_))
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.inner {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
            Hasher::Lanes(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self.inner {
            #[cfg(feature = "openssl")]
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finish())),
            #[cfg(feature = "openssl")]
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finish())),
            #[cfg(not(feature = "openssl"))]
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            #[cfg(not(feature = "openssl"))]
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
            // The hashing thread died only through a bug; the zero digest then fails every
            // verification instead of passing one.
            Hasher::Lanes(h) => (
                Algorithm::Sha256,
                hex::encode(h.finish().unwrap_or([0; 32])),
            ),
        };
        Digest { algorithm, hex }
    }
}

impl std::io::Write for Digester {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `len` bytes of a fixed pseudo-random sequence chosen by `seed` (xorshift), for tests.
#[cfg(test)]
pub(crate) fn test_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A reader that hashes and counts everything read through it.
pub struct DigestingReader<R> {
    inner: R,
    digester: Digester,
    count: u64,
}

impl<R> DigestingReader<R> {
    /// Wraps `inner`, hashing with `algorithm`.
    pub fn new(inner: R, algorithm: Algorithm) -> Self {
        DigestingReader {
            inner,
            digester: Digester::new(algorithm),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The wrapped reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Returns the digest and byte count of what was read.
    pub fn finish(self) -> (Digest, u64) {
        (self.digester.finish(), self.count)
    }
}

impl<R: std::io::Read> std::io::Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digester.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::sha256_of(b""), d);
    }

    #[test]
    fn rejects_bad_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:abc",
            "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = DiffId(Digest::sha256_of(b"a"));
        let b = DiffId(Digest::sha256_of(b"b"));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0].0, a.0);
        assert_eq!(
            ids[1].0,
            Digest::sha256_of(format!("{} {}", a, b).as_bytes())
        );
    }
}
