//! A reader that computes the DiffID of everything read through it on a second thread.
//!
//! sha256 runs at 0.25–1.1 GB/s per core depending on SHA-NI; writing files is mostly kernel
//! time. Hashing beside the applier instead of in line keeps the DiffID off the critical path,
//! which is what lets `apply` keep up with `tar -x` (which hashes nothing). Where the CPU has
//! the process's multi-lane hashing thread ([`Digester::for_stream`]), that thread is used and
//! no thread of our own is started. Otherwise chunks of
//! [`CHUNK`] bytes are handed over through a bounded channel (at most [`DEPTH`] in flight) and
//! their buffers come back for reuse, so memory stays bounded and allocation-free in steady
//! state. If a thread cannot be started, hashing happens in line.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use kasane_oci::{Algorithm, Digest, Digester};

/// Bytes collected before a chunk is handed to the hashing thread.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight at most.
const DEPTH: usize = 8;

enum Mode {
    Inline(Digester),
    Threaded {
        tx: SyncSender<Vec<u8>>,
        recycled: Receiver<Vec<u8>>,
        cur: Vec<u8>,
        worker: JoinHandle<Digest>,
    },
}

/// Hashes (sha256) and counts everything read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    mode: Mode,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        let shared = Digester::for_stream(Algorithm::Sha256);
        if shared.offloads() {
            return HashingReader {
                inner,
                mode: Mode::Inline(shared),
                count: 0,
            };
        }
        let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
        let (back_tx, recycled) = sync_channel::<Vec<u8>>(DEPTH + 2);
        let spawned = std::thread::Builder::new()
            .name("kasane-diffid".into())
            .spawn(move || {
                let mut d = Digester::new(Algorithm::Sha256);
                for mut chunk in rx {
                    d.update(&chunk);
                    chunk.clear();
                    // The reader may be gone or have enough spare buffers; either is fine.
                    let _ = back_tx.try_send(chunk);
                }
                d.finish()
            });
        let mode = match spawned {
            Ok(worker) => Mode::Threaded {
                tx,
                recycled,
                cur: Vec::with_capacity(CHUNK),
                worker,
            },
            Err(e) => {
                tracing::debug!(error = %e, "hashing in line: no thread");
                Mode::Inline(Digester::new(Algorithm::Sha256))
            }
        };
        HashingReader {
            inner,
            mode,
            count: 0,
        }
    }

    /// The sha256 and length of everything read.
    pub(crate) fn finish(self) -> io::Result<(Digest, u64)> {
        let digest = match self.mode {
            Mode::Inline(d) => d.finish(),
            Mode::Threaded {
                tx, cur, worker, ..
            } => {
                if !cur.is_empty() {
                    tx.send(cur).map_err(|_| hasher_gone())?;
                }
                drop(tx);
                worker.join().map_err(|_| hasher_gone())?
            }
        };
        Ok((digest, self.count))
    }
}

fn hasher_gone() -> io::Error {
    io::Error::other("the DiffID hashing thread stopped")
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        match &mut self.mode {
            Mode::Inline(d) => d.update(&buf[..n]),
            Mode::Threaded {
                tx, recycled, cur, ..
            } => {
                cur.extend_from_slice(&buf[..n]);
                if cur.len() >= CHUNK {
                    let next = recycled
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                    let full = std::mem::replace(cur, next);
                    tx.send(full).map_err(|_| hasher_gone())?;
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_sha256_in_any_read_sizes() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for read_size in [1, 511, 4096, 1 << 20] {
            let mut r = HashingReader::new(data.as_slice());
            let mut buf = vec![0; read_size];
            while r.read(&mut buf).unwrap() > 0 {}
            let (d, n) = r.finish().unwrap();
            assert_eq!(n, data.len() as u64);
            assert_eq!(d, Digest::sha256_of(&data));
        }
    }
}
