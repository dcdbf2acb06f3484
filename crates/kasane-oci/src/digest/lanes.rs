//! The lane hasher: one thread per process that hashes every long SHA-256 stream handed to
//! it, eight at a time, with [`sha256x8`](super::sha256x8).
//!
//! Why a thread: the streams of a pull (each layer's blob and its DiffID, several layers at
//! once) are produced by different threads at different speeds, and only blocks of
//! *different* streams can share one compression. Producers copy their bytes into buffers
//! of whole blocks and send them here; each stream has at most [`IN_FLIGHT`] buffers
//! outstanding, so a slow hasher slows its producers instead of growing memory. When a
//! single stream has data the thread uses the single-stream code (the multi-lane kernel
//! would waste seven lanes).
//!
//! No I/O happens here: the thread only computes.

#![allow(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use super::sha256x8::{self, BLOCK, IV, LANES};

/// Bytes per buffer sent to the thread (a whole number of blocks).
const CHUNK: usize = 256 << 10;
/// Buffers a stream may have queued at the thread.
const IN_FLIGHT: usize = 4;
/// Blocks per lane per multi-lane step: new streams join the next step.
const STEP: usize = 64;
/// How long the thread waits for open streams with nothing queued to send their next buffer.
const GATHER: std::time::Duration = std::time::Duration::from_micros(300);

enum Msg {
    /// Whole blocks of stream `id`; the emptied buffer goes back through `back`.
    Data {
        id: u64,
        buf: Vec<u8>,
        back: SyncSender<Vec<u8>>,
    },
    /// The stream's last partial block and total length: reply with the digest once every
    /// earlier buffer is hashed.
    Finish {
        id: u64,
        tail: Vec<u8>,
        len: u64,
        reply: SyncSender<[u8; 32]>,
    },
    /// The stream was dropped unfinished.
    Abandon { id: u64 },
}

/// The thread's channel, started on first use; `None` when the multi-lane kernel does not
/// run or does not pay on this CPU, or the thread could not be started.
fn service() -> Option<&'static Sender<Msg>> {
    static SERVICE: OnceLock<Option<Sender<Msg>>> = OnceLock::new();
    SERVICE
        .get_or_init(|| {
            if !sha256x8::worthwhile() {
                return None;
            }
            let (tx, rx) = channel();
            std::thread::Builder::new()
                .name("kasane-sha256".into())
                .spawn(move || run(rx))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// One stream being hashed by the lane hasher.
pub(crate) struct LaneStream {
    id: u64,
    tx: &'static Sender<Msg>,
    cur: Vec<u8>,
    len: u64,
    back_tx: SyncSender<Vec<u8>>,
    back_rx: Receiver<Vec<u8>>,
    buffers: usize,
    failed: bool,
    finished: bool,
}

impl LaneStream {
    /// A new stream, or `None` when the lane hasher is not available here.
    pub(crate) fn start() -> Option<LaneStream> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let tx = service()?;
        let (back_tx, back_rx) = sync_channel(IN_FLIGHT);
        Some(LaneStream {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            cur: Vec::with_capacity(CHUNK),
            len: 0,
            back_tx,
            back_rx,
            buffers: 1,
            failed: false,
            finished: false,
        })
    }

    /// Feeds bytes.
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (CHUNK - self.cur.len()).min(bytes.len());
            self.cur.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.cur.len() == CHUNK {
                self.send_full();
            }
        }
    }

    fn send_full(&mut self) {
        if self.failed {
            self.cur.clear(); // the digest is lost already; keep the producer going
            return;
        }
        let next = match self.back_rx.try_recv() {
            Ok(buf) => buf,
            Err(_) if self.buffers < IN_FLIGHT => {
                self.buffers += 1;
                Vec::with_capacity(CHUNK)
            }
            Err(_) => self.wait_for_buffer(),
        };
        let buf = std::mem::replace(&mut self.cur, next);
        self.cur.clear();
        let sent = self.tx.send(Msg::Data {
            id: self.id,
            buf,
            back: self.back_tx.clone(),
        });
        self.failed |= sent.is_err();
    }

    /// Waits for the thread to hand one of this stream's buffers back; gives up (and marks
    /// the stream failed) only if the thread has died.
    fn wait_for_buffer(&mut self) -> Vec<u8> {
        loop {
            match self
                .back_rx
                .recv_timeout(std::time::Duration::from_millis(100))
            {
                Ok(buf) => return buf,
                Err(_) if ALIVE.load(Ordering::Relaxed) => {}
                Err(_) => {
                    self.failed = true;
                    return Vec::with_capacity(CHUNK);
                }
            }
        }
    }

    /// The SHA-256 of everything fed; `None` only if the hashing thread died (a bug).
    pub(crate) fn finish(mut self) -> Option<[u8; 32]> {
        self.finished = true;
        let whole = self.cur.len() / BLOCK * BLOCK;
        let tail = self.cur.split_off(whole);
        if whole > 0 {
            let buf = std::mem::take(&mut self.cur);
            self.failed |= self
                .tx
                .send(Msg::Data {
                    id: self.id,
                    buf,
                    back: self.back_tx.clone(),
                })
                .is_err();
        }
        let (reply, answer) = sync_channel(1);
        self.failed |= self
            .tx
            .send(Msg::Finish {
                id: self.id,
                tail,
                len: self.len,
                reply,
            })
            .is_err();
        if self.failed {
            return None;
        }
        answer.recv().ok()
    }
}

impl Drop for LaneStream {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.send(Msg::Abandon { id: self.id });
        }
    }
}

/// A stream's state at the thread.
struct Stream {
    state: [u32; 8],
    queue: VecDeque<(Vec<u8>, SyncSender<Vec<u8>>)>,
    /// Bytes of the front buffer already hashed.
    pos: usize,
    finish: Option<(Vec<u8>, u64, SyncSender<[u8; 32]>)>,
}

impl Stream {
    fn pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The unhashed whole blocks of the front buffer.
    fn front(&self) -> &[u8] {
        self.queue.front().map_or(&[][..], |(b, _)| &b[self.pos..])
    }

    /// Marks `bytes` of the front buffer hashed; returns an emptied buffer to its stream.
    fn advance(&mut self, bytes: usize) {
        self.pos += bytes;
        if self.queue.front().is_some_and(|(b, _)| self.pos >= b.len()) {
            self.pos = 0;
            if let Some((mut buf, back)) = self.queue.pop_front() {
                buf.clear();
                let _ = back.try_send(buf); // the stream may be gone
            }
        }
    }
}

/// Whether the hashing thread runs; false once it has ended (only a bug ends it).
static ALIVE: AtomicBool = AtomicBool::new(true);

fn run(rx: Receiver<Msg>) {
    /// Marks the thread ended however it ends, unwinding included.
    struct Ended;
    impl Drop for Ended {
        fn drop(&mut self) {
            ALIVE.store(false, Ordering::Relaxed);
        }
    }
    let _ended = Ended;
    let mut streams: HashMap<u64, Stream> = HashMap::new();
    let mut order: Vec<u64> = Vec::new();
    let mut turn = 0usize;
    loop {
        // Streams whose every block is hashed and whose end has come get their digest.
        streams.retain(|_, s| {
            if s.pending() {
                return true;
            }
            match s.finish.take() {
                Some((tail, len, reply)) => {
                    let _ = reply.send(finish(s.state, &tail, len));
                    false
                }
                None => true,
            }
        });
        if !streams.values().any(Stream::pending) {
            match rx.recv() {
                Ok(m) => receive(&mut streams, m),
                Err(_) => return,
            }
        }
        while let Ok(m) = rx.try_recv() {
            receive(&mut streams, m);
        }
        // A step costs the same with one lane as with eight. While other streams are open
        // but have nothing queued yet, wait a moment for them, unless a producer may already
        // be blocked on a full queue.
        let busy = streams.values().filter(|s| s.pending()).count();
        let open = streams.values().filter(|s| s.finish.is_none()).count();
        let crowded = streams.values().any(|s| s.queue.len() + 1 >= IN_FLIGHT);
        if busy < open.min(LANES)
            && !crowded
            && let Ok(m) = rx.recv_timeout(GATHER)
        {
            receive(&mut streams, m);
            while let Ok(m) = rx.try_recv() {
                receive(&mut streams, m);
            }
        }
        // The busy streams, rotated so that every stream gets lanes when there are more
        // than eight.
        order.clear();
        order.extend(
            streams
                .iter()
                .filter(|(_, s)| s.pending())
                .map(|(id, _)| *id),
        );
        if order.is_empty() {
            continue;
        }
        order.sort_unstable();
        turn = turn.wrapping_add(1);
        let shift = turn % order.len();
        order.rotate_left(shift);
        order.truncate(LANES);
        if let [id] = order[..] {
            if let Some(s) = streams.get_mut(&id) {
                let n = s.front().len();
                let mut state = s.state;
                compress_one(&mut state, s.front());
                s.state = state;
                s.advance(n);
            }
            continue;
        }
        step(&mut streams, &order);
    }
}

/// One multi-lane compression over the streams `ids` (2 to 8 of them).
fn step(streams: &mut HashMap<u64, Stream>, ids: &[u64]) {
    let idle = [0u8; BLOCK];
    let mut states = [IV; LANES];
    let mut data: [&[u8]; LANES] = [&idle; LANES];
    let mut blocks = STEP;
    for (l, id) in ids.iter().enumerate() {
        if let Some(s) = streams.get(id) {
            states[l] = s.state;
            data[l] = s.front();
            blocks = blocks.min(s.front().len() / BLOCK);
        }
    }
    if blocks == 0 {
        return; // unreachable: queued buffers hold whole blocks
    }
    sha256x8::compress(&mut states, data, blocks);
    for (l, id) in ids.iter().enumerate() {
        if let Some(s) = streams.get_mut(id) {
            s.state = states[l];
            s.advance(blocks * BLOCK);
        }
    }
}

fn stream(streams: &mut HashMap<u64, Stream>, id: u64) -> &mut Stream {
    streams.entry(id).or_insert_with(|| Stream {
        state: IV,
        queue: VecDeque::new(),
        pos: 0,
        finish: None,
    })
}

fn receive(streams: &mut HashMap<u64, Stream>, m: Msg) {
    match m {
        Msg::Data { id, buf, back } => {
            if !buf.is_empty() {
                stream(streams, id).queue.push_back((buf, back));
            }
        }
        Msg::Finish {
            id,
            tail,
            len,
            reply,
        } => stream(streams, id).finish = Some((tail, len, reply)),
        Msg::Abandon { id } => {
            streams.remove(&id);
        }
    }
}

/// Pads the last partial block (FIPS 180-4, 5.1.1) and returns the digest.
fn finish(mut state: [u32; 8], tail: &[u8], len: u64) -> [u8; 32] {
    let mut last = [0u8; 2 * BLOCK];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let end = if tail.len() < BLOCK - 8 {
        BLOCK
    } else {
        2 * BLOCK
    };
    last[end - 8..end].copy_from_slice(&(len.wrapping_mul(8)).to_be_bytes());
    compress_one(&mut state, &last[..end]);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// Single-stream compression of whole blocks.
#[cfg(feature = "openssl")]
fn compress_one(state: &mut [u32; 8], data: &[u8]) {
    use openssl_sys::{SHA256_CTX, SHA256_Init, SHA256_Update};
    debug_assert_eq!(data.len() % BLOCK, 0);
    // SAFETY: SHA256_CTX is a plain C struct that SHA256_Init fills in; with `num` 0 and a
    // whole number of blocks, SHA256_Update runs the block function over `data` from `h`
    // and buffers nothing, so `h` is then the chaining state after `data`.
    unsafe {
        let mut ctx: SHA256_CTX = std::mem::zeroed();
        SHA256_Init(&mut ctx);
        ctx.h = *state;
        SHA256_Update(&mut ctx, data.as_ptr().cast(), data.len());
        *state = ctx.h;
    }
}

/// Single-stream compression of whole blocks.
#[cfg(not(feature = "openssl"))]
fn compress_one(state: &mut [u32; 8], data: &[u8]) {
    let blocks: Vec<[u8; BLOCK]> = data
        .chunks_exact(BLOCK)
        .map(|c| <[u8; BLOCK]>::try_from(c).unwrap_or([0; BLOCK]))
        .collect();
    sha2::block_api::compress256(state, &blocks);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, Digester, test_bytes};

    fn local(bytes: &[u8]) -> String {
        let mut d = Digester::new(Algorithm::Sha256);
        d.update(bytes);
        d.finish().hex().to_owned()
    }

    #[test]
    fn padding_matches_at_every_tail_length() {
        for len in (0..3 * BLOCK).chain([CHUNK - 1, CHUNK, CHUNK + 55, 3 * CHUNK + 64]) {
            let data = test_bytes(len as u64, len);
            let Some(mut s) = LaneStream::start() else {
                eprintln!("skipped: no lane hasher on this CPU");
                return;
            };
            s.update(&data);
            let got = s.finish().map(hex::encode);
            assert_eq!(got.as_deref(), Some(local(&data).as_str()), "length {len}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn any_split_of_any_bytes_hashes_like_one_stream(
            len in 0usize..(CHUNK * 2 + 300),
            cuts in proptest::collection::vec(1usize..100_000, 1..8),
            seed in 0u64..1000,
        ) {
            let data = test_bytes(seed, len);
            let Some(mut s) = LaneStream::start() else {
                return Ok(()); // no lane hasher on this CPU
            };
            let mut rest = &data[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (piece, tail) = rest.split_at((*cut).min(rest.len()));
                s.update(piece);
                rest = tail;
            }
            proptest::prop_assert_eq!(s.finish().map(hex::encode), Some(local(&data)));
        }
    }

    #[test]
    fn concurrent_streams_of_odd_sizes_each_get_their_own_digest() {
        if LaneStream::start().is_none() {
            eprintln!("skipped: no lane hasher on this CPU");
            return;
        }
        // More streams than lanes, fed in uneven pieces from several threads, some abandoned.
        let handles: Vec<_> = (0..12u64)
            .map(|i| {
                std::thread::spawn(move || {
                    let data = test_bytes(i, (i as usize + 1) * 300_001);
                    let mut s = LaneStream::start().unwrap();
                    for piece in data.chunks(7_919 * (i as usize + 1)) {
                        s.update(piece);
                    }
                    if i % 5 == 4 {
                        drop(s);
                        return;
                    }
                    assert_eq!(
                        s.finish().map(hex::encode).unwrap(),
                        local(&data),
                        "stream {i}"
                    );
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
