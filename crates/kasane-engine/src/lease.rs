//! Leases: how an operation in progress keeps garbage collection away from its content.
//!
//! Lifecycle: [`Lease::take`] records a lease row owned by this process; before creating a
//! blob or a snapshot directory the operation adds it with [`Lease::add`] (so a concurrent
//! collection that lists the disk afterwards sees it leased); when the operation has
//! recorded its results (an image row references them) it calls [`Lease::release`]. A lease
//! whose process died is ignored by the next collection and deleted, which turns everything
//! it protected into ordinary garbage.

use kasane_store::lock::current_process;
use kasane_store::metadata::{LeaseRecord, LeaseResource, Metadata};

use crate::error::Result;

/// A lease held by this process.
#[derive(Debug)]
pub struct Lease {
    id: String,
}

impl Lease {
    /// Takes a new lease.
    pub fn take(md: &mut Metadata) -> Result<Lease> {
        let (pid, pid_start) = current_process();
        let id = format!("{pid}-{:016x}", rand_u64());
        let now = unix_now();
        md.write(|tx| {
            tx.create_lease(&LeaseRecord {
                id: id.clone(),
                pid,
                pid_start,
                created_at: now,
            })
        })?;
        Ok(Lease { id })
    }

    /// The lease id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Protects a resource before it is created.
    pub fn add(&self, md: &mut Metadata, kind: LeaseResource, key: &str) -> Result<()> {
        md.write(|tx| tx.lease_add(&self.id, kind, key))?;
        Ok(())
    }

    /// Ends the lease. Whatever it protected is now protected by references, or is garbage.
    pub fn release(self, md: &mut Metadata) -> Result<()> {
        md.write(|tx| tx.delete_lease(&self.id))?;
        Ok(())
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS per process; mixing in the time makes two leases of
    // one process differ too. Uniqueness, not secrecy, is what matters here.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
