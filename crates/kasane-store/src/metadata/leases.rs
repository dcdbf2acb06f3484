//! Lease rows: who protects which blobs and snapshot directories while an operation runs.

use rusqlite::params;

use super::{LeaseRecord, LeaseResource, Tx, db};
use crate::error::Result;

impl Tx<'_> {
    /// Creates a lease held by process `pid` (started at `pid_start`).
    pub fn create_lease(&self, lease: &LeaseRecord) -> Result<()> {
        self.execute(
            "INSERT INTO leases (id, pid, pid_start, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![lease.id, lease.pid, lease.pid_start, lease.created_at],
        )
        .map_err(db(format!("creating lease {}", lease.id)))?;
        Ok(())
    }

    /// Adds a resource to a lease (idempotent).
    pub fn lease_add(&self, lease: &str, kind: LeaseResource, key: &str) -> Result<()> {
        self.execute(
            "INSERT OR IGNORE INTO lease_resources (lease_id, kind, key) VALUES (?1, ?2, ?3)",
            params![lease, kind.as_str(), key],
        )
        .map_err(db(format!("adding {key} to lease {lease}")))?;
        Ok(())
    }

    /// Deletes a lease and its resource list.
    pub fn delete_lease(&self, lease: &str) -> Result<()> {
        self.execute("DELETE FROM leases WHERE id = ?1", [lease])
            .map_err(db(format!("deleting lease {lease}")))?;
        Ok(())
    }

    /// Every lease.
    pub fn leases(&self) -> Result<Vec<LeaseRecord>> {
        let mut stmt = self
            .prepare("SELECT id, pid, pid_start, created_at FROM leases")
            .map_err(db("listing leases"))?;
        stmt.query_map([], |r| {
            Ok(LeaseRecord {
                id: r.get(0)?,
                pid: r.get(1)?,
                pid_start: r.get(2)?,
                created_at: r.get(3)?,
            })
        })
        .map_err(db("listing leases"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db("listing leases"))
    }

    /// The resources of one lease, as `(kind, key)`.
    pub fn lease_resources(&self, lease: &str) -> Result<Vec<(LeaseResource, String)>> {
        let mut stmt = self
            .prepare_cached("SELECT kind, key FROM lease_resources WHERE lease_id = ?1")
            .map_err(db(format!("reading lease {lease}")))?;
        let rows = stmt
            .query_map([lease], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db(format!("reading lease {lease}")))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db(format!("reading lease {lease}")))?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, key)| match k.as_str() {
                "blob" => Some((LeaseResource::Blob, key)),
                "snapshot" => Some((LeaseResource::Snapshot, key)),
                // An unknown kind comes from a newer kasane; it protects nothing we manage.
                _ => None,
            })
            .collect())
    }
}
