//! The content-addressed store: blobs, resumable ingests, metadata, leases and GC.
//!
//! Owns everything under the state root except snapshot directories:
//! ```text
//! <root>
//! ├── kasane.db                 SQLite (WAL): names -> things; GC roots
//! ├── blobs/sha256/<hex>        committed content, immutable, verified
//! ├── ingest/<ref>/{data,meta}  in-progress writes, resumable
//! └── tmp/                      spooled archives, scratch
//! ```
//! Also the sources and sinks that make save/load/push/pull one operation (`copy_graph`).

pub mod archive;
pub mod atomic;
pub mod content;
pub mod copy;
pub mod error;
pub mod gc;
pub mod local;
pub mod lock;
pub mod metadata;
pub mod testsuite;

pub use content::{BlobWriter, Ingester, Provider, read_blob};
pub use error::{ErrorKind, Result, StoreError};
