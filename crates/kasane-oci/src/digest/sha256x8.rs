//! Eight SHA-256 compressions at once: lane `i` of every 256-bit register holds stream `i`'s
//! copy of a state or message-schedule word, so each instruction advances eight independent
//! hashes.
//!
//! Why: a single SHA-256 stream is serial, and without SHA-NI the best single-stream code
//! (OpenSSL's AVX2 assembly) runs at ~6.6 cycles per byte on the machines we run on. A pull
//! hashes every layer twice (the compressed blob and the DiffID), several layers at once, so
//! there are always several independent streams: compressed side by side they cost about a
//! fifth. AVX-512VL gives 32-bit rotates and three-input logic on 256-bit registers (no
//! frequency penalty of 512-bit registers). CPUs without it, and CPUs with SHA-NI (where one
//! stream alone runs at over 1 GB/s), use the single-stream code.

#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Streams compressed together.
pub(crate) const LANES: usize = 8;

/// Bytes per SHA-256 block.
pub(crate) const BLOCK: usize = 64;

/// The SHA-256 initial state (FIPS 180-4, 5.3.3).
pub(crate) const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The round constants (FIPS 180-4, 4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Whether [`compress`] runs on this CPU (AVX-512VL).
pub(crate) fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static SUPPORTED: OnceLock<bool> = OnceLock::new();
        *SUPPORTED.get_or_init(|| {
            std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether sharing lanes beats hashing each stream alone here: [`supported`], and no SHA-NI
/// (with it one stream alone runs at over 1 GB/s).
pub(crate) fn worthwhile() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        supported() && !std::is_x86_feature_detected!("sha")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Compresses `blocks` whole 64-byte blocks of `data[i]` into `states[i]`, for every lane
/// at once. A lane whose `data` is shorter than `blocks * 64` bytes is idle: it is fed its
/// first block over and over and its state must be discarded by the caller.
///
/// # Panics
/// When [`supported`] is false, or an idle lane's data is shorter than one block.
pub(crate) fn compress(states: &mut [[u32; 8]; LANES], data: [&[u8]; LANES], blocks: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(supported(), "sha256x8::compress needs AVX-512VL");
        assert!(data.iter().all(|d| d.len() >= BLOCK));
        // SAFETY: the CPU features the function enables were detected above.
        unsafe { compress_avx512vl(states, data, blocks) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (states, data, blocks);
        unreachable!("sha256x8::compress needs x86_64 AVX-512VL");
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
fn compress_avx512vl(states: &mut [[u32; 8]; LANES], data: [&[u8]; LANES], blocks: usize) {
    // Transpose the states: word `w` of every lane in one register.
    let mut v = [_mm256_setzero_si256(); 8];
    for (w, reg) in v.iter_mut().enumerate() {
        let lanes: [u32; LANES] = std::array::from_fn(|l| states[l][w]);
        *reg = load(&lanes);
    }
    let swap = _mm256_setr_epi8(
        3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8,
        15, 14, 13, 12,
    );
    for b in 0..blocks {
        // Each lane's block as two registers of big-endian words, then transposed: word `t`
        // of every lane in `w[t]`.
        let mut rows = [[_mm256_setzero_si256(); LANES]; 2];
        for (l, d) in data.iter().enumerate() {
            let off = if d.len() >= (b + 1) * BLOCK {
                b * BLOCK
            } else {
                0
            };
            let block: &[u8; BLOCK] = d[off..off + BLOCK].try_into().unwrap_or(&[0; BLOCK]);
            let (lo, hi) = load_block(block);
            rows[0][l] = _mm256_shuffle_epi8(lo, swap);
            rows[1][l] = _mm256_shuffle_epi8(hi, swap);
        }
        let [first, second] = rows;
        let lo = transpose(first);
        let hi = transpose(second);
        let mut w = [
            lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7], hi[0], hi[1], hi[2], hi[3],
            hi[4], hi[5], hi[6], hi[7],
        ];
        let [mut a, mut b_, mut c, mut d, mut e, mut f, mut g, mut h] = v;
        // One round; `$i` is the message word's slot in the ring of 16, `$t` the round.
        macro_rules! round {
            ($t:expr, $i:expr) => {{
                if $t >= 16 {
                    // w[t] = σ1(w[t-2]) + w[t-7] + σ0(w[t-15]) + w[t-16]
                    let w15 = w[($i + 1) % 16];
                    let w2 = w[($i + 14) % 16];
                    let s0 = _mm256_ternarylogic_epi32::<0x96>(
                        _mm256_ror_epi32::<7>(w15),
                        _mm256_ror_epi32::<18>(w15),
                        _mm256_srli_epi32::<3>(w15),
                    );
                    let s1 = _mm256_ternarylogic_epi32::<0x96>(
                        _mm256_ror_epi32::<17>(w2),
                        _mm256_ror_epi32::<19>(w2),
                        _mm256_srli_epi32::<10>(w2),
                    );
                    w[$i] = _mm256_add_epi32(
                        _mm256_add_epi32(w[$i], s0),
                        _mm256_add_epi32(w[($i + 9) % 16], s1),
                    );
                }
                let big_s1 = _mm256_ternarylogic_epi32::<0x96>(
                    _mm256_ror_epi32::<6>(e),
                    _mm256_ror_epi32::<11>(e),
                    _mm256_ror_epi32::<25>(e),
                );
                // e ? f : g
                let ch = _mm256_ternarylogic_epi32::<0xCA>(e, f, g);
                let kw = _mm256_add_epi32(_mm256_set1_epi32(K[$t] as i32), w[$i]);
                let t1 = _mm256_add_epi32(_mm256_add_epi32(h, big_s1), _mm256_add_epi32(ch, kw));
                let big_s0 = _mm256_ternarylogic_epi32::<0x96>(
                    _mm256_ror_epi32::<2>(a),
                    _mm256_ror_epi32::<13>(a),
                    _mm256_ror_epi32::<22>(a),
                );
                // majority(a, b, c)
                let maj = _mm256_ternarylogic_epi32::<0xE8>(a, b_, c);
                h = g;
                g = f;
                f = e;
                e = _mm256_add_epi32(d, t1);
                d = c;
                c = b_;
                b_ = a;
                a = _mm256_add_epi32(t1, _mm256_add_epi32(big_s0, maj));
            }};
        }
        macro_rules! sixteen {
            ($base:expr) => {
                round!($base, 0);
                round!($base + 1, 1);
                round!($base + 2, 2);
                round!($base + 3, 3);
                round!($base + 4, 4);
                round!($base + 5, 5);
                round!($base + 6, 6);
                round!($base + 7, 7);
                round!($base + 8, 8);
                round!($base + 9, 9);
                round!($base + 10, 10);
                round!($base + 11, 11);
                round!($base + 12, 12);
                round!($base + 13, 13);
                round!($base + 14, 14);
                round!($base + 15, 15);
            };
        }
        sixteen!(0);
        sixteen!(16);
        sixteen!(32);
        sixteen!(48);
        for (reg, x) in v.iter_mut().zip([a, b_, c, d, e, f, g, h]) {
            *reg = _mm256_add_epi32(*reg, x);
        }
    }
    for (w, reg) in v.iter().enumerate() {
        let lanes = store(*reg);
        for (l, s) in states.iter_mut().enumerate() {
            s[w] = lanes[l];
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn load(lanes: &[u32; LANES]) -> __m256i {
    // SAFETY: `lanes` is 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) }
}

/// The 64 bytes of a block as two registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn load_block(block: &[u8; BLOCK]) -> (__m256i, __m256i) {
    // SAFETY: `block` is 64 readable bytes; both loads are unaligned.
    unsafe {
        (
            _mm256_loadu_si256(block.as_ptr().cast()),
            _mm256_loadu_si256(block.as_ptr().add(32).cast()),
        )
    }
}

/// Transposes eight rows of eight 32-bit words: out[t] holds word `t` of every row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
    let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
    let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn store(reg: __m256i) -> [u32; LANES] {
    let mut out = [0u32; LANES];
    // SAFETY: `out` is 32 writable bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), reg) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::test_bytes;

    /// The reference: `sha2`'s single-stream compression.
    fn reference(state: &mut [u32; 8], data: &[u8]) {
        let blocks: Vec<_> = data
            .chunks_exact(BLOCK)
            .map(|c| <[u8; BLOCK]>::try_from(c).unwrap())
            .collect();
        sha2::block_api::compress256(state, &blocks);
    }

    #[test]
    fn eight_lanes_match_the_single_stream_compression() {
        if !supported() {
            eprintln!("skipped: this CPU has no AVX-512VL");
            return;
        }
        for blocks in [1usize, 2, 7] {
            let data: Vec<Vec<u8>> = (0..LANES as u32)
                .map(|l| test_bytes(u64::from(l) + blocks as u64, blocks * BLOCK))
                .collect();
            let mut states = [[0u32; 8]; LANES];
            for (l, s) in states.iter_mut().enumerate() {
                *s = IV;
                s[0] ^= l as u32; // lanes start from different states too
            }
            let mut want = states;
            for (s, d) in want.iter_mut().zip(&data) {
                reference(s, d);
            }
            compress(&mut states, std::array::from_fn(|l| &data[l][..]), blocks);
            assert_eq!(states, want, "{blocks} blocks");
        }
    }

    #[test]
    fn idle_lanes_leave_the_others_alone() {
        if !supported() {
            eprintln!("skipped: this CPU has no AVX-512VL");
            return;
        }
        let busy = test_bytes(9, 5 * BLOCK);
        let idle = [0u8; BLOCK];
        let mut states = [IV; LANES];
        let mut data: [&[u8]; LANES] = [&idle; LANES];
        data[3] = &busy;
        compress(&mut states, data, 5);
        let mut want = IV;
        reference(&mut want, &busy);
        assert_eq!(states[3], want);
    }
}
