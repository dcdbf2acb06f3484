//! Metadata: the small, mutable map from names to immutable things, in SQLite.
//!
//! Owns `<root>/kasane.db`. Blobs and snapshot trees live on disk; this database only says
//! which images exist, which names point at them, which committed layers (by chain ID) are
//! unpacked into which snapshot directory, and which leases protect work in progress. Every
//! row here is a GC root or hangs off one (see `gc`).
//!
//! Concurrency: WAL mode, so any number of kasane processes read while one writes; writes use
//! `BEGIN IMMEDIATE` and a busy timeout, so two writers queue instead of failing. Each
//! [`Metadata::write`] closure is one transaction: it commits whole or not at all.
//!
//! Schema (version 1):
//! ```text
//! images(id PK = config digest, target_*, manifest_digest, created, size, added_at, last_tag_time, parent)
//! image_layers(image_id, idx, chain_id, diff_id, blob_digest, blob_media_type, blob_size)
//! tags(name PK = full reference "docker.io/library/nginx:latest", image_id)
//! repo_digests(repository, digest, image_id)      -- "docker.io/library/nginx" + manifest digest
//! layers(chain_id PK, parent, diff_id, snapshot_id UNIQUE, size, fingerprint, created_at)
//! leases(id PK, pid, pid_start, created_at) + lease_resources(lease_id, kind, key)
//! blob_sources(digest, repository)      -- "docker.io/library/nginx": where a blob was pulled
//!                                       -- from or pushed to (cross-repository mounts)
//! containers(id PK, name UNIQUE, image_id, snapshot_id UNIQUE, created, config JSON)
//! ```

use std::path::Path;
use std::time::Duration;

use kasane_oci::{ChainId, DiffId, Digest, ImageId};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Result, StoreError};

mod containers;
mod leases;

pub use containers::ContainerRecord;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    target_media_type TEXT NOT NULL,
    target_digest TEXT NOT NULL,
    target_size INTEGER NOT NULL,
    manifest_digest TEXT NOT NULL,
    created TEXT,
    size INTEGER NOT NULL,
    added_at INTEGER NOT NULL,
    last_tag_time TEXT,
    parent TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    chain_id TEXT NOT NULL,
    diff_id TEXT NOT NULL,
    blob_digest TEXT NOT NULL,
    blob_media_type TEXT NOT NULL,
    blob_size INTEGER NOT NULL,
    PRIMARY KEY (image_id, idx)
) STRICT;
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
) STRICT;
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS repo_digests (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (repository, digest)
) STRICT;
CREATE INDEX IF NOT EXISTS repo_digests_image ON repo_digests(image_id);
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    parent TEXT,
    diff_id TEXT NOT NULL,
    snapshot_id TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    pid_start INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS lease_resources (
    lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (lease_id, kind, key)
) STRICT;
CREATE TABLE IF NOT EXISTS blob_sources (
    digest TEXT NOT NULL,
    repository TEXT NOT NULL,
    PRIMARY KEY (digest, repository)
) STRICT;
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    snapshot_id TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    config TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
"#;

/// An image as the store knows it: its identity, where its manifest is, and its layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The config digest (docker's image ID).
    pub id: ImageId,
    /// What a name resolves to: the manifest, or the index it was selected from.
    pub target: TargetDescriptor,
    /// The platform manifest whose config is `id`.
    pub manifest_digest: Digest,
    /// `created` from the config, verbatim (RFC 3339), if any.
    pub created: Option<String>,
    /// Sum of the layers' unpacked content sizes (docker's `Size`).
    pub size: u64,
    /// Unix seconds when the image was first stored here.
    pub added_at: i64,
    /// RFC 3339 time of the last local `tag`; `None` when never tagged locally.
    pub last_tag_time: Option<String>,
    /// The image this one was built on locally (classic builder), if any.
    pub parent: Option<ImageId>,
    /// Layers bottom first.
    pub layers: Vec<ImageLayer>,
}

/// The three descriptor fields of an image's target, kept as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetDescriptor {
    /// Media type of the manifest or index.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// One layer of an image: its identity in the stack and the blob it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    /// Chain ID of the stack up to and including this layer (the snapshot key).
    pub chain_id: ChainId,
    /// Digest of the uncompressed layer.
    pub diff_id: DiffId,
    /// Digest of the layer blob as stored (usually compressed).
    pub blob_digest: Digest,
    /// Media type of that blob.
    pub blob_media_type: String,
    /// Size of that blob.
    pub blob_size: u64,
}

/// A committed, unpacked layer: the snapshot directory holding the stack up to `chain_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    /// The key.
    pub chain_id: ChainId,
    /// The layer below, if any.
    pub parent: Option<ChainId>,
    /// Digest of the uncompressed layer tar this snapshot was made from (verified at apply).
    pub diff_id: DiffId,
    /// The snapshot directory's id (see `kasane_snapshot`).
    pub snapshot_id: String,
    /// Unpacked content size of this layer alone.
    pub size: u64,
    /// Tree fingerprint taken at commit, re-checked by `system check`.
    pub fingerprint: Digest,
    /// Unix seconds when committed.
    pub created_at: i64,
}

/// What a lease protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseResource {
    /// A blob digest (committed or being ingested).
    Blob,
    /// A snapshot directory id (being prepared).
    Snapshot,
}

impl LeaseResource {
    fn as_str(self) -> &'static str {
        match self {
            LeaseResource::Blob => "blob",
            LeaseResource::Snapshot => "snapshot",
        }
    }
}

/// A lease as stored: who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// Lease id.
    pub id: String,
    /// Holder's process id.
    pub pid: i64,
    /// Holder's start time (clock ticks since boot, `/proc/<pid>/stat` field 22), so a
    /// reused pid is not mistaken for the holder.
    pub pid_start: i64,
    /// Unix seconds when taken.
    pub created_at: i64,
}

/// The metadata database connection.
pub struct Metadata {
    conn: Connection,
}

fn db(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Db { context, source }
}

fn parse_digest<T: std::str::FromStr<Err = kasane_oci::DigestError>>(
    s: &str,
    what: &str,
) -> Result<T> {
    s.parse().map_err(|e: kasane_oci::DigestError| {
        StoreError::invalid(format!("metadata {what}"), e.to_string())
    })
}

impl Metadata {
    /// Opens (creating and migrating as needed) the database at `path`.
    ///
    /// # Errors
    /// `Db` when the file cannot be opened or is from a newer kasane.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(db(format!("opening {}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(60))
            .map_err(db("setting busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db("enabling WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db("setting synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db("enabling foreign keys"))?;
        // Every kasane command opens and closes the database once. By default the last
        // connection to close checkpoints the log into the database and deletes it, so the
        // next command creates it again: two fsyncs, an unlink and a directory sync per
        // command for nothing. The log stays instead (committed transactions are durable in it, and
        // SQLite checkpoints it once it grows past 1000 pages).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(db("keeping the write-ahead log at close"))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db("reading schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::invalid(
                format!("metadata database {}", path.display()),
                format!(
                    "schema version {version} is newer than this kasane understands ({SCHEMA_VERSION}); upgrade kasane"
                ),
            ));
        }
        if version < SCHEMA_VERSION {
            let mut this = Metadata { conn };
            this.write(|tx| {
                tx.execute_batch(SCHEMA).map_err(db("creating schema"))?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(db("setting schema version"))?;
                Ok(())
            })?;
            return Ok(this);
        }
        Ok(Metadata { conn })
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`); commits if it returns `Ok`.
    pub fn write<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("beginning write transaction"))?;
        let out = f(&Tx { tx: &tx })?;
        tx.commit().map_err(db("committing"))?;
        Ok(out)
    }

    /// Runs `f` in one read transaction: a consistent snapshot of the database.
    pub fn read<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(db("beginning read transaction"))?;
        let out = f(&Tx { tx: &tx })?;
        tx.commit().map_err(db("ending read transaction"))?;
        Ok(out)
    }

    /// SQLite's own consistency check (`PRAGMA integrity_check`); empty when healthy.
    pub fn integrity_check(&mut self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(db("integrity check"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db("integrity check"))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db("integrity check"))?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }
}

/// A transaction: all typed queries and updates go through it.
pub struct Tx<'a> {
    tx: &'a Transaction<'a>,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.tx
    }
}

impl Tx<'_> {
    // ---- images -------------------------------------------------------------------------

    /// Inserts an image (with its layers) unless one with that ID exists; returns whether it
    /// was inserted. An existing image is left untouched ("already exists" is success).
    pub fn insert_image(&self, img: &ImageRecord) -> Result<bool> {
        let n = self
            .execute(
                "INSERT OR IGNORE INTO images (id, target_media_type, target_digest, target_size,
                 manifest_digest, created, size, added_at, last_tag_time, parent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    img.id.to_string(),
                    img.target.media_type,
                    img.target.digest.to_string(),
                    img.target.size as i64,
                    img.manifest_digest.to_string(),
                    img.created,
                    img.size as i64,
                    img.added_at,
                    img.last_tag_time,
                    img.parent.as_ref().map(|p| p.to_string()),
                ],
            )
            .map_err(db(format!("inserting image {}", img.id)))?;
        if n == 0 {
            return Ok(false);
        }
        for (idx, l) in img.layers.iter().enumerate() {
            self.execute(
                "INSERT INTO image_layers (image_id, idx, chain_id, diff_id, blob_digest,
                 blob_media_type, blob_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    img.id.to_string(),
                    idx as i64,
                    l.chain_id.to_string(),
                    l.diff_id.to_string(),
                    l.blob_digest.to_string(),
                    l.blob_media_type,
                    l.blob_size as i64,
                ],
            )
            .map_err(db(format!("inserting layers of image {}", img.id)))?;
        }
        Ok(true)
    }

    /// Replaces the target (manifest or index) an existing image is known by.
    pub fn set_image_target(&self, id: &ImageId, target: &TargetDescriptor) -> Result<()> {
        self.execute(
            "UPDATE images SET target_media_type = ?2, target_digest = ?3, target_size = ?4 WHERE id = ?1",
            params![
                id.to_string(),
                target.media_type,
                target.digest.to_string(),
                target.size as i64
            ],
        )
        .map_err(db(format!("updating image {id}")))?;
        Ok(())
    }

    /// Records the time of a local `tag`.
    pub fn set_last_tag_time(&self, id: &ImageId, time: &str) -> Result<()> {
        self.execute(
            "UPDATE images SET last_tag_time = ?2 WHERE id = ?1",
            params![id.to_string(), time],
        )
        .map_err(db(format!("updating image {id}")))?;
        Ok(())
    }

    /// The image with this exact ID.
    pub fn image(&self, id: &ImageId) -> Result<Option<ImageRecord>> {
        let row = self
            .query_row(
                "SELECT id, target_media_type, target_digest, target_size, manifest_digest, created,
                 size, added_at, last_tag_time, parent FROM images WHERE id = ?1",
                [id.to_string()],
                raw_image,
            )
            .optional()
            .map_err(db(format!("reading image {id}")))?;
        match row {
            None => Ok(None),
            Some(raw) => Ok(Some(self.finish_image(raw)?)),
        }
    }

    /// Every image, newest first (by `created`, then by when it was stored).
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let mut stmt = self
            .prepare(
                "SELECT id, target_media_type, target_digest, target_size, manifest_digest, created,
                 size, added_at, last_tag_time, parent FROM images",
            )
            .map_err(db("listing images"))?;
        let raws = stmt
            .query_map([], raw_image)
            .map_err(db("listing images"))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db("listing images"))?;
        let mut out = raws
            .into_iter()
            .map(|r| self.finish_image(r))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then(b.added_at.cmp(&a.added_at))
                .then(a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// Image IDs whose hex starts with `prefix` (for `rmi 4438967ac10e`).
    pub fn images_by_prefix(&self, prefix: &str) -> Result<Vec<ImageId>> {
        let pattern = format!("sha256:{}%", prefix.replace(['%', '_'], ""));
        let mut stmt = self
            .prepare("SELECT id FROM images WHERE id LIKE ?1")
            .map_err(db("finding images by prefix"))?;
        let ids = stmt
            .query_map([pattern], |r| r.get::<_, String>(0))
            .map_err(db("finding images by prefix"))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db("finding images by prefix"))?;
        ids.iter().map(|s| parse_digest(s, "image id")).collect()
    }

    /// Deletes an image row (tags, digests and layer rows go with it).
    pub fn delete_image(&self, id: &ImageId) -> Result<()> {
        self.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])
            .map_err(db(format!("deleting image {id}")))?;
        Ok(())
    }

    fn finish_image(&self, raw: RawImage) -> Result<ImageRecord> {
        let id: ImageId = parse_digest(&raw.id, "image id")?;
        let mut stmt = self
            .prepare_cached(
                "SELECT chain_id, diff_id, blob_digest, blob_media_type, blob_size
                 FROM image_layers WHERE image_id = ?1 ORDER BY idx",
            )
            .map_err(db(format!("reading layers of {id}")))?;
        let rows = stmt
            .query_map([&raw.id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(db(format!("reading layers of {id}")))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db(format!("reading layers of {id}")))?;
        let layers = rows
            .into_iter()
            .map(|(c, d, b, mt, sz)| {
                Ok(ImageLayer {
                    chain_id: parse_digest(&c, "chain id")?,
                    diff_id: parse_digest(&d, "diff id")?,
                    blob_digest: parse_digest(&b, "blob digest")?,
                    blob_media_type: mt,
                    blob_size: sz as u64,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ImageRecord {
            id,
            target: TargetDescriptor {
                media_type: raw.target_media_type,
                digest: parse_digest(&raw.target_digest, "target digest")?,
                size: raw.target_size as u64,
            },
            manifest_digest: parse_digest(&raw.manifest_digest, "manifest digest")?,
            created: raw.created,
            size: raw.size as u64,
            added_at: raw.added_at,
            last_tag_time: raw.last_tag_time,
            parent: raw
                .parent
                .as_deref()
                .map(|p| parse_digest(p, "parent"))
                .transpose()?,
            layers,
        })
    }

    // ---- tags and digests ----------------------------------------------------------------

    /// Points `name` (a full reference string with a tag) at `image`; returns the image it
    /// pointed at before, if another.
    pub fn set_tag(&self, name: &str, image: &ImageId) -> Result<Option<ImageId>> {
        let previous = self.tag(name)?;
        self.execute(
            "INSERT INTO tags (name, image_id) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![name, image.to_string()],
        )
        .map_err(db(format!("tagging {name}")))?;
        Ok(previous.filter(|p| p != image))
    }

    /// The image `name` points at.
    pub fn tag(&self, name: &str) -> Result<Option<ImageId>> {
        let id: Option<String> = self
            .query_row("SELECT image_id FROM tags WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db(format!("reading tag {name}")))?;
        id.map(|s| parse_digest(&s, "image id")).transpose()
    }

    /// Removes a tag; returns whether it existed.
    pub fn remove_tag(&self, name: &str) -> Result<bool> {
        let n = self
            .execute("DELETE FROM tags WHERE name = ?1", [name])
            .map_err(db(format!("removing tag {name}")))?;
        Ok(n > 0)
    }

    /// Every `(tag, image)` of a repository (full name without tag, e.g.
    /// `docker.io/library/nginx`), sorted by tag name.
    pub fn tags_in_repository(&self, repository: &str) -> Result<Vec<(String, ImageId)>> {
        // Tag names are `<repository>:<tag>`: a range scan on the primary key (';' follows ':').
        let mut stmt = self
            .prepare_cached(
                "SELECT name, image_id FROM tags WHERE name > ?1 AND name < ?2 ORDER BY name",
            )
            .map_err(db(format!("reading tags of {repository}")))?;
        let rows = stmt
            .query_map(
                params![format!("{repository}:"), format!("{repository};")],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .map_err(db(format!("reading tags of {repository}")))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db(format!("reading tags of {repository}")))?;
        rows.into_iter()
            .map(|(n, id)| Ok((n, parse_digest(&id, "image id")?)))
            .collect()
    }

    /// Full tag names of an image, sorted.
    pub fn tags_of(&self, image: &ImageId) -> Result<Vec<String>> {
        let mut stmt = self
            .prepare_cached("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")
            .map_err(db(format!("reading tags of {image}")))?;
        stmt.query_map([image.to_string()], |r| r.get(0))
            .map_err(db(format!("reading tags of {image}")))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db(format!("reading tags of {image}")))
    }

    /// Records that `repository` (full name, no tag) knows `image` by manifest `digest`.
    pub fn add_repo_digest(
        &self,
        repository: &str,
        digest: &Digest,
        image: &ImageId,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO repo_digests (repository, digest, image_id) VALUES (?1, ?2, ?3)
             ON CONFLICT(repository, digest) DO UPDATE SET image_id = excluded.image_id",
            params![repository, digest.to_string(), image.to_string()],
        )
        .map_err(db(format!("recording digest of {repository}")))?;
        Ok(())
    }

    /// The image `repository@digest` names.
    pub fn repo_digest(&self, repository: &str, digest: &Digest) -> Result<Option<ImageId>> {
        let id: Option<String> = self
            .query_row(
                "SELECT image_id FROM repo_digests WHERE repository = ?1 AND digest = ?2",
                params![repository, digest.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db(format!("reading {repository}@{digest}")))?;
        id.map(|s| parse_digest(&s, "image id")).transpose()
    }

    /// `(repository, digest)` pairs of an image, sorted.
    pub fn repo_digests_of(&self, image: &ImageId) -> Result<Vec<(String, Digest)>> {
        let mut stmt = self
            .prepare_cached(
                "SELECT repository, digest FROM repo_digests WHERE image_id = ?1 ORDER BY repository, digest",
            )
            .map_err(db(format!("reading digests of {image}")))?;
        let rows = stmt
            .query_map([image.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db(format!("reading digests of {image}")))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db(format!("reading digests of {image}")))?;
        rows.into_iter()
            .map(|(r, d)| Ok((r, parse_digest(&d, "repo digest")?)))
            .collect()
    }

    /// Removes one `repository@digest` reference; returns whether it existed.
    pub fn remove_repo_digest(&self, repository: &str, digest: &Digest) -> Result<bool> {
        let n = self
            .execute(
                "DELETE FROM repo_digests WHERE repository = ?1 AND digest = ?2",
                params![repository, digest.to_string()],
            )
            .map_err(db(format!("removing {repository}@{digest}")))?;
        Ok(n > 0)
    }

    /// Records that blob `digest` exists in `repository` (full name, `registry/path`), so a
    /// later push to the same registry can mount it instead of uploading it.
    pub fn add_blob_source(&self, digest: &Digest, repository: &str) -> Result<()> {
        self.execute(
            "INSERT OR IGNORE INTO blob_sources (digest, repository) VALUES (?1, ?2)",
            params![digest.to_string(), repository],
        )
        .map_err(db(format!("recording the source of {digest}")))?;
        Ok(())
    }

    /// The repositories (full names) blob `digest` is known to exist in, sorted.
    pub fn blob_sources(&self, digest: &Digest) -> Result<Vec<String>> {
        let mut stmt = self
            .prepare_cached(
                "SELECT repository FROM blob_sources WHERE digest = ?1 ORDER BY repository",
            )
            .map_err(db(format!("reading the sources of {digest}")))?;
        stmt.query_map([digest.to_string()], |r| r.get(0))
            .map_err(db(format!("reading the sources of {digest}")))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db(format!("reading the sources of {digest}")))
    }

    // ---- layers (committed snapshots) ------------------------------------------------------

    /// The committed layer with this chain ID.
    pub fn layer(&self, chain_id: &ChainId) -> Result<Option<LayerRecord>> {
        self.query_row(
            "SELECT chain_id, parent, diff_id, snapshot_id, size, fingerprint, created_at
             FROM layers WHERE chain_id = ?1",
            [chain_id.to_string()],
            raw_layer,
        )
        .optional()
        .map_err(db(format!("reading layer {chain_id}")))?
        .map(finish_layer)
        .transpose()
    }

    /// Every committed layer.
    pub fn layers(&self) -> Result<Vec<LayerRecord>> {
        let mut stmt = self
            .prepare(
                "SELECT chain_id, parent, diff_id, snapshot_id, size, fingerprint, created_at FROM layers",
            )
            .map_err(db("listing layers"))?;
        let raws = stmt
            .query_map([], raw_layer)
            .map_err(db("listing layers"))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db("listing layers"))?;
        raws.into_iter().map(finish_layer).collect()
    }

    /// Records a committed layer; if another process committed the same chain ID first, keeps
    /// theirs and returns `false` (the caller then removes its own directory).
    pub fn insert_layer(&self, layer: &LayerRecord) -> Result<bool> {
        let n = self
            .execute(
                "INSERT OR IGNORE INTO layers (chain_id, parent, diff_id, snapshot_id, size, fingerprint, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    layer.chain_id.to_string(),
                    layer.parent.as_ref().map(|p| p.to_string()),
                    layer.diff_id.to_string(),
                    layer.snapshot_id,
                    layer.size as i64,
                    layer.fingerprint.to_string(),
                    layer.created_at,
                ],
            )
            .map_err(db(format!("recording layer {}", layer.chain_id)))?;
        Ok(n > 0)
    }

    /// Forgets a committed layer (its directory is removed by the caller afterwards).
    pub fn delete_layer(&self, chain_id: &ChainId) -> Result<()> {
        self.execute(
            "DELETE FROM layers WHERE chain_id = ?1",
            [chain_id.to_string()],
        )
        .map_err(db(format!("deleting layer {chain_id}")))?;
        Ok(())
    }

    /// A fresh, never reused snapshot directory id (short, so overlay option strings stay short).
    pub fn next_snapshot_id(&self) -> Result<String> {
        self.execute(
            "INSERT INTO counters (name, value) VALUES ('snapshot', 1)
             ON CONFLICT(name) DO UPDATE SET value = value + 1",
            [],
        )
        .map_err(db("allocating a snapshot id"))?;
        let v: i64 = self
            .query_row(
                "SELECT value FROM counters WHERE name = 'snapshot'",
                [],
                |r| r.get(0),
            )
            .map_err(db("allocating a snapshot id"))?;
        Ok(v.to_string())
    }
}

struct RawImage {
    id: String,
    target_media_type: String,
    target_digest: String,
    target_size: i64,
    manifest_digest: String,
    created: Option<String>,
    size: i64,
    added_at: i64,
    last_tag_time: Option<String>,
    parent: Option<String>,
}

fn raw_image(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawImage> {
    Ok(RawImage {
        id: r.get(0)?,
        target_media_type: r.get(1)?,
        target_digest: r.get(2)?,
        target_size: r.get(3)?,
        manifest_digest: r.get(4)?,
        created: r.get(5)?,
        size: r.get(6)?,
        added_at: r.get(7)?,
        last_tag_time: r.get(8)?,
        parent: r.get(9)?,
    })
}

type RawLayer = (String, Option<String>, String, String, i64, String, i64);

fn raw_layer(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawLayer> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn finish_layer(raw: RawLayer) -> Result<LayerRecord> {
    let (chain, parent, diff, snapshot_id, size, fp, created_at) = raw;
    Ok(LayerRecord {
        chain_id: parse_digest(&chain, "chain id")?,
        parent: parent
            .as_deref()
            .map(|p| parse_digest(p, "parent chain id"))
            .transpose()?,
        diff_id: parse_digest(&diff, "diff id")?,
        snapshot_id,
        size: size as u64,
        fingerprint: parse_digest(&fp, "fingerprint")?,
        created_at,
    })
}

#[cfg(test)]
mod tests;
