//! Container rows: a container's identity, name, image and writable snapshot. Its
//! configuration is kept as an opaque JSON document owned by the engine; its run state
//! lives beside its files (the monitor writes it), not here.

use kasane_oci::ImageId;
use rusqlite::{OptionalExtension, params};

use super::{Tx, db, parse_digest};
use crate::error::{Result, StoreError};

/// A container as the metadata knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    /// 64 hex characters.
    pub id: String,
    /// Unique name without docker's leading `/`.
    pub name: String,
    /// The image it was created from.
    pub image: ImageId,
    /// Its writable snapshot directory id (a GC root while the row exists).
    pub snapshot_id: String,
    /// RFC 3339 creation time with nanoseconds.
    pub created: String,
    /// The engine's JSON description of the container (options, config); opaque here.
    pub config: String,
}

const COLUMNS: &str = "id, name, image_id, snapshot_id, created, config";

fn raw(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, String, String, String, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn finish(raw: (String, String, String, String, String, String)) -> Result<ContainerRecord> {
    let (id, name, image, snapshot_id, created, config) = raw;
    Ok(ContainerRecord {
        image: parse_digest(&image, "container image id")?,
        id,
        name,
        snapshot_id,
        created,
        config,
    })
}

impl Tx<'_> {
    /// Adds a container. A taken name or id is [`StoreError::Conflict`] naming the holder.
    pub fn insert_container(&self, c: &ContainerRecord) -> Result<()> {
        if let Some(holder) = self.container_by_name(&c.name)? {
            return Err(StoreError::Conflict(format!(
                "Conflict. The container name \"/{}\" is already in use by container \"{}\". \
                 You have to remove (or rename) that container to be able to reuse that name.",
                c.name, holder.id
            )));
        }
        self.execute(
            "INSERT INTO containers (id, name, image_id, snapshot_id, created, config)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                c.id,
                c.name,
                c.image.to_string(),
                c.snapshot_id,
                c.created,
                c.config
            ],
        )
        .map_err(db(format!("recording container {}", c.name)))?;
        Ok(())
    }

    /// Gives container `id` the name `name`. A taken name is [`StoreError::Conflict`]
    /// naming the holder (docker's message).
    pub fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        if let Some(holder) = self.container_by_name(name)? {
            return Err(StoreError::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{name}\" is \
                 already in use by container \"{}\". You have to remove (or rename) that \
                 container to be able to reuse that name.",
                holder.id
            )));
        }
        self.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, name],
        )
        .map_err(db(format!("renaming container {id}")))?;
        Ok(())
    }

    /// Replaces a container's configuration document.
    pub fn set_container_config(&self, id: &str, config: &str) -> Result<()> {
        self.execute(
            "UPDATE containers SET config = ?2 WHERE id = ?1",
            params![id, config],
        )
        .map_err(db(format!("updating container {id}")))?;
        Ok(())
    }

    /// The container with exactly this id.
    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>> {
        self.query_row(
            &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"),
            [id],
            raw,
        )
        .optional()
        .map_err(db(format!("reading container {id}")))?
        .map(finish)
        .transpose()
    }

    /// The container with this name (without the leading `/`).
    pub fn container_by_name(&self, name: &str) -> Result<Option<ContainerRecord>> {
        self.query_row(
            &format!("SELECT {COLUMNS} FROM containers WHERE name = ?1"),
            [name],
            raw,
        )
        .optional()
        .map_err(db(format!("reading container {name}")))?
        .map(finish)
        .transpose()
    }

    /// Ids of the containers whose id starts with `prefix`.
    pub fn containers_by_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .prepare("SELECT id FROM containers WHERE substr(id, 1, length(?1)) = ?1")
            .map_err(db("listing containers"))?;
        let rows = stmt
            .query_map([prefix], |r| r.get(0))
            .map_err(db("listing containers"))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .map_err(db("listing containers"))
    }

    /// Every container, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>> {
        let mut stmt = self
            .prepare(&format!(
                "SELECT {COLUMNS} FROM containers ORDER BY created DESC, id"
            ))
            .map_err(db("listing containers"))?;
        let rows = stmt.query_map([], raw).map_err(db("listing containers"))?;
        rows.map(|r| r.map_err(db("listing containers")).and_then(finish))
            .collect()
    }

    /// Forgets a container (its files and snapshot are removed by the caller).
    pub fn delete_container(&self, id: &str) -> Result<()> {
        self.execute("DELETE FROM containers WHERE id = ?1", [id])
            .map_err(db(format!("deleting container {id}")))?;
        Ok(())
    }
}
