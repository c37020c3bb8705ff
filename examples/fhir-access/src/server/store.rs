//! The embedded SQLite store: every version of every resource (`versions`), the current ones
//! (`resources`), their search index rows (`idx`) and compartments (`membership`). One writer
//! connection (writes and transactions are serialised) and a few reader connections (WAL mode
//! lets them read while a write is running).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use fhir_compartment::{Compartment, Compartments, ResourceType, ServerBases};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde_json::{Value, json};

use super::date;
use super::index;
use super::outcome::Error;
use super::search::{Filter, Sort, Sql};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
    last_updated INTEGER NOT NULL, method TEXT NOT NULL, body TEXT,
    UNIQUE (type, id, version));
CREATE TABLE IF NOT EXISTS resources (
    type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
    last_updated INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (type, id));
CREATE TABLE IF NOT EXISTS idx (
    type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
    system TEXT, value TEXT, text TEXT, low INTEGER, high INTEGER, number REAL);
-- Covering indexes: a filter finds the ids it selects, and a sort its dates, without reading
-- the table rows.
CREATE INDEX IF NOT EXISTS idx_by_value ON idx (type, param, value, system, id);
CREATE INDEX IF NOT EXISTS idx_by_text ON idx (type, param, text, id);
CREATE INDEX IF NOT EXISTS idx_by_resource ON idx (type, id, param, low, high);
CREATE TABLE IF NOT EXISTS membership (
    type TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, owner TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS membership_by_owner ON membership (kind, owner, type, id);
CREATE INDEX IF NOT EXISTS membership_by_resource ON membership (type, id);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// A stored version of a resource.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub(crate) resource_type: ResourceType,
    pub(crate) id: String,
    pub(crate) version: u64,
    /// Epoch milliseconds.
    pub(crate) last_updated: i64,
    /// `None` for a deletion (in history).
    pub(crate) resource: Option<Value>,
    /// `POST`, `PUT`, `PATCH` or `DELETE`: how this version came about (history entries).
    pub(crate) method: String,
}

/// The database: one writer, a few readers.
#[derive(Debug)]
pub(crate) struct Store {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

/// Prepared statements each connection keeps. A search's SQL depends on its parameters and
/// the caller's narrowing, so the usual requests of a server need more than rusqlite's 16.
const STATEMENT_CACHE: usize = 128;

/// Makes cached statements stay prepared: without the query planner stability guarantee,
/// SQLite plans with the bound `LIMIT` and `OFFSET` and prepares such a statement again each
/// time they are bound, however equal; a search's plan depends on its SQL alone.
fn tune(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) `fhir.sqlite` in `dir`.
    pub(crate) fn open(dir: &Path, readers: usize) -> Result<Store, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Internal(format!("data directory `{}`: {e}", dir.display())))?;
        let file = dir.join("fhir.sqlite");
        let writer = Connection::open(&file)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.busy_timeout(std::time::Duration::from_secs(10))?;
        tune(&writer)?;
        writer.execute_batch(SCHEMA)?;
        let readers = (0..readers.max(1))
            .map(|_| {
                let reader = Connection::open(&file)?;
                reader.busy_timeout(std::time::Duration::from_secs(10))?;
                tune(&reader)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, rusqlite::Error>>()?;
        Ok(Store {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// The writer connection: hold it for the whole of a write or transaction.
    pub(crate) fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A reader connection (round robin).
    pub(crate) fn reader(&self) -> MutexGuard<'_, Connection> {
        let n = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len().max(1);
        match self.readers.get(n) {
            Some(reader) => reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            None => self.writer(),
        }
    }
}

fn resource_type(name: &str) -> Result<ResourceType, Error> {
    ResourceType::from_name(name)
        .ok_or_else(|| Error::Internal(format!("stored resource type `{name}`")))
}

fn row_to_stored(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, i64, i64, Option<String>, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn stored(row: (String, String, i64, i64, Option<String>, String)) -> Result<Stored, Error> {
    let (type_name, id, version, last_updated, body, method) = row;
    Ok(Stored {
        resource_type: resource_type(&type_name)?,
        id,
        version: u64::try_from(version).unwrap_or(0),
        last_updated,
        resource: body.map(|b| serde_json::from_str(&b)).transpose()?,
        method,
    })
}

/// The current version of a resource; `None` when it does not exist or was deleted.
pub(crate) fn current(
    conn: &Connection,
    resource_type: ResourceType,
    id: &str,
) -> Result<Option<Stored>, Error> {
    conn.prepare_cached(
        "SELECT type, id, version, last_updated, body, '' FROM resources WHERE type = ?1 AND id = ?2",
    )?
    .query_row(params![resource_type.as_str(), id], row_to_stored)
    .optional()?
    .map(stored)
    .transpose()
}

/// One version (a deletion has no resource).
pub(crate) fn version(
    conn: &Connection,
    resource_type: ResourceType,
    id: &str,
    version: u64,
) -> Result<Option<Stored>, Error> {
    conn.prepare_cached(
        "SELECT type, id, version, last_updated, body, method FROM versions WHERE type = ?1 AND id = ?2 AND version = ?3",
    )?
    .query_row(params![resource_type.as_str(), id, i64::try_from(version).unwrap_or(i64::MAX)], row_to_stored)
    .optional()?
    .map(stored)
    .transpose()
}

/// The content of a resource's latest version that has one (the current version, or the one
/// before its deletion); `None` when the resource never existed.
pub(crate) fn latest_content(
    conn: &Connection,
    resource_type: ResourceType,
    id: &str,
) -> Result<Option<Value>, Error> {
    let body: Option<String> = conn
        .prepare_cached(
            "SELECT body FROM versions WHERE type = ?1 AND id = ?2 AND body IS NOT NULL ORDER BY version DESC LIMIT 1",
        )?
        .query_row(params![resource_type.as_str(), id], |row| row.get(0))
        .optional()?;
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

/// The latest version number, deleted or not.
fn latest_version(conn: &Connection, resource_type: ResourceType, id: &str) -> Result<u64, Error> {
    let latest: Option<i64> = conn
        .prepare_cached("SELECT MAX(version) FROM versions WHERE type = ?1 AND id = ?2")?
        .query_row(params![resource_type.as_str(), id], |row| row.get(0))?;
    Ok(latest.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
}

/// A read connection of its own to the store of `dir` (opened by [`Store::open`] first).
pub(crate) fn open_reader(dir: &Path) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(
        dir.join("fhir.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// What a write needs besides the resource.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Indexing<'a> {
    pub(crate) compartments: &'a Compartments,
    pub(crate) bases: &'a ServerBases,
}

/// Stores a new version of `resource` (its `id` and `meta.versionId`/`meta.lastUpdated` are set
/// here) and reindexes it. Call inside a transaction on the writer.
pub(crate) fn write(
    conn: &Connection,
    indexing: Indexing<'_>,
    resource_type: ResourceType,
    id: &str,
    mut resource: Value,
    method: &str,
) -> Result<Stored, Error> {
    let version = latest_version(conn, resource_type, id)?.saturating_add(1);
    let (instant, millis) = date::now();
    if let Some(object) = resource.as_object_mut() {
        object.insert("id".to_owned(), json!(id));
        let meta = object.entry("meta").or_insert_with(|| json!({}));
        if !meta.is_object() {
            *meta = json!({});
        }
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("versionId".to_owned(), json!(version.to_string()));
            meta.insert("lastUpdated".to_owned(), json!(instant));
        }
    }
    let body = serde_json::to_string(&resource)?;
    let v = i64::try_from(version).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO versions (type, id, version, last_updated, method, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![resource_type.as_str(), id, v, millis, method, body])?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO resources (type, id, version, last_updated, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![resource_type.as_str(), id, v, millis, body])?;
    unindex(conn, resource_type, id)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO idx (type, id, param, system, value, text, low, high, number) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for row in index::rows(resource_type, &resource, indexing.bases) {
        insert.execute(params![
            resource_type.as_str(),
            id,
            row.param,
            row.system,
            row.value,
            row.text,
            row.low,
            row.high,
            row.number
        ])?;
    }
    let mut member = conn
        .prepare_cached("INSERT INTO membership (type, id, kind, owner) VALUES (?1, ?2, ?3, ?4)")?;
    for compartment in index::compartments(indexing.compartments, resource_type, id, &resource) {
        member.execute(params![
            resource_type.as_str(),
            id,
            compartment.kind().to_string(),
            compartment.id()
        ])?;
    }
    Ok(Stored {
        resource_type,
        id: id.to_owned(),
        version,
        last_updated: millis,
        resource: Some(resource),
        method: method.to_owned(),
    })
}

fn unindex(conn: &Connection, resource_type: ResourceType, id: &str) -> Result<(), Error> {
    conn.prepare_cached("DELETE FROM idx WHERE type = ?1 AND id = ?2")?
        .execute(params![resource_type.as_str(), id])?;
    conn.prepare_cached("DELETE FROM membership WHERE type = ?1 AND id = ?2")?
        .execute(params![resource_type.as_str(), id])?;
    Ok(())
}

/// Deletes the current version (a new, empty version records it). Returns the deletion's
/// version, or `None` when there was nothing to delete.
pub(crate) fn delete(
    conn: &Connection,
    resource_type: ResourceType,
    id: &str,
) -> Result<Option<u64>, Error> {
    if current(conn, resource_type, id)?.is_none() {
        return Ok(None);
    }
    let version = latest_version(conn, resource_type, id)?.saturating_add(1);
    let (_, millis) = date::now();
    conn.prepare_cached(
        "INSERT INTO versions (type, id, version, last_updated, method, body) VALUES (?1, ?2, ?3, ?4, 'DELETE', NULL)",
    )?
    .execute(params![resource_type.as_str(), id, i64::try_from(version).unwrap_or(i64::MAX), millis])?;
    conn.prepare_cached("DELETE FROM resources WHERE type = ?1 AND id = ?2")?
        .execute(params![resource_type.as_str(), id])?;
    unindex(conn, resource_type, id)?;
    Ok(Some(version))
}

/// Versions, newest first: of one resource (`id`) or of a whole type. With `within`, only
/// versions of resources that currently match that search (the guard's narrowing; a deleted
/// resource matches nothing). Returns the total and one page.
pub(crate) fn history(
    conn: &Connection,
    resource_type: ResourceType,
    id: Option<&str>,
    within: Option<&Search<'_>>,
    count: usize,
    offset: usize,
) -> Result<(usize, Vec<Stored>), Error> {
    let mut filter = Sql {
        text: "type = ?".to_owned(),
        args: vec![resource_type.as_str().to_owned().into()],
    };
    if let Some(id) = id {
        filter.text.push_str(" AND id = ?");
        filter.args.push(id.to_owned().into());
    }
    if let Some(search) = within {
        let current = search.where_clause();
        filter.text.push_str(&format!(
            " AND id IN (SELECT r.id FROM resources r WHERE {})",
            current.text
        ));
        filter.args.extend(current.args);
    }
    let total: i64 = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM versions WHERE {}",
            filter.text
        ))?
        .query_row(params_from_iter(filter.args.iter()), |row| row.get(0))?;
    let mut page_args = filter.args;
    page_args.push(to_sql_int(count));
    page_args.push(to_sql_int(offset));
    let rows = conn
        .prepare_cached(&format!(
            "SELECT type, id, version, last_updated, body, method FROM versions WHERE {} ORDER BY seq DESC LIMIT ? OFFSET ?",
            filter.text
        ))?
        .query_map(params_from_iter(page_args.iter()), row_to_stored)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        usize::try_from(total).unwrap_or(0),
        rows.into_iter().map(stored).collect::<Result<_, _>>()?,
    ))
}

fn to_sql_int(n: usize) -> SqlValue {
    SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A search of current resources of one type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Search<'a> {
    pub(crate) resource_type: ResourceType,
    pub(crate) filters: &'a [Filter],
    /// For each set, the resource must be in one of its compartments (an empty set matches
    /// nothing): compartment searches and the guard's narrowing.
    pub(crate) compartments: &'a [Vec<Compartment>],
    /// The resource must be in none of these compartments (Consent exclusions).
    pub(crate) excluded: &'a [Compartment],
    pub(crate) sort: &'a [Sort],
}

impl Search<'_> {
    fn where_clause(&self) -> Sql {
        let mut sql = Sql {
            text: "r.type = ?".to_owned(),
            args: vec![self.resource_type.as_str().to_owned().into()],
        };
        for compartments in self.compartments {
            sql.text.push_str(" AND ");
            sql.any_of(compartments, |sql, compartment| {
                sql.text.push_str(
                    "r.id IN (SELECT m.id FROM membership m WHERE m.kind = ? AND m.owner = ? AND m.type = ?)",
                );
                sql.args.push(compartment.kind().to_string().into());
                sql.args.push(compartment.id().to_owned().into());
                sql.args.push(self.resource_type.as_str().to_owned().into());
            });
        }
        for compartment in self.excluded {
            sql.text.push_str(
                " AND r.id NOT IN (SELECT m.id FROM membership m WHERE m.kind = ? AND m.owner = ? AND m.type = ?)",
            );
            sql.args.push(compartment.kind().to_string().into());
            sql.args.push(compartment.id().to_owned().into());
            sql.args.push(self.resource_type.as_str().to_owned().into());
        }
        for filter in self.filters {
            filter.push_sql(self.resource_type, &mut sql);
        }
        sql
    }

    /// How many resources match.
    pub(crate) fn count(&self, conn: &Connection) -> Result<usize, Error> {
        let sql = self.where_clause();
        let total: i64 = conn
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM resources r WHERE {}",
                sql.text
            ))?
            .query_row(params_from_iter(sql.args.iter()), |row| row.get(0))?;
        Ok(usize::try_from(total).unwrap_or(0))
    }

    /// One page of matches, in `sort` order (then by id, so pages are stable).
    pub(crate) fn page(
        &self,
        conn: &Connection,
        count: usize,
        offset: usize,
    ) -> Result<Vec<Stored>, Error> {
        let mut sql = self.where_clause();
        let mut order = String::new();
        for key in self.sort {
            let (aggregate, direction) = if key.descending {
                ("MAX(i.high)", "DESC")
            } else {
                ("MIN(i.low)", "ASC")
            };
            // Resources without the value sort last either way.
            order.push_str(&format!(
                "(SELECT {aggregate} FROM idx i WHERE i.type = r.type AND i.id = r.id AND i.param = ?) IS NULL, \
                 (SELECT {aggregate} FROM idx i WHERE i.type = r.type AND i.id = r.id AND i.param = ?) {direction}, "
            ));
        }
        let mut args = sql.args.split_off(0);
        let mut order_args = Vec::new();
        for key in self.sort {
            order_args.push(SqlValue::from(key.param.to_owned()));
            order_args.push(SqlValue::from(key.param.to_owned()));
        }
        args.extend(order_args);
        args.push(to_sql_int(count));
        args.push(to_sql_int(offset));
        let text = format!(
            "SELECT r.type, r.id, r.version, r.last_updated, r.body, '' FROM resources r WHERE {} ORDER BY {order}r.id LIMIT ? OFFSET ?",
            sql.text
        );
        let rows = conn
            .prepare_cached(&text)?
            .query_map(params_from_iter(args.iter()), row_to_stored)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(stored).collect()
    }
}

/// Current resources of `resource_type` whose parameter `param` references one of `targets`
/// (`Type/id` values): the `_revinclude` lookup.
pub(crate) fn referencing(
    conn: &Connection,
    resource_type: ResourceType,
    param: &str,
    targets: &[String],
    limit: usize,
) -> Result<Vec<Stored>, Error> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; targets.len()].join(", ");
    let mut args: Vec<SqlValue> = vec![
        resource_type.as_str().to_owned().into(),
        param.to_owned().into(),
    ];
    args.extend(targets.iter().map(|t| SqlValue::from(t.clone())));
    args.push(to_sql_int(limit));
    let rows = conn
        .prepare(&format!(
            "SELECT r.type, r.id, r.version, r.last_updated, r.body, '' FROM resources r WHERE r.type = ?1 AND r.id IN \
             (SELECT i.id FROM idx i WHERE i.type = ?1 AND i.param = ?2 AND i.value IN ({placeholders})) \
             ORDER BY r.id LIMIT ?"
        ))?
        .query_map(params_from_iter(args.iter()), row_to_stored)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(stored).collect()
}

/// The resource types that a reference parameter of the resources matching `within` points
/// to (the targets of a chain that names no type).
pub(crate) fn referenced_types(
    conn: &Connection,
    within: &Search<'_>,
    param: &str,
) -> Result<Vec<ResourceType>, Error> {
    let current = within.where_clause();
    let mut args: Vec<SqlValue> = vec![
        within.resource_type.as_str().to_owned().into(),
        param.to_owned().into(),
    ];
    args.extend(current.args);
    let names: Vec<String> = conn
        .prepare_cached(&format!(
            "SELECT DISTINCT substr(i.value, 1, instr(i.value, '/') - 1) FROM idx i \
             WHERE i.type = ? AND i.param = ? AND instr(i.value, '/') > 1 \
             AND i.id IN (SELECT r.id FROM resources r WHERE {})",
            current.text
        ))?
        .query_map(params_from_iter(args.iter()), |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names
        .iter()
        .filter_map(|n| ResourceType::from_name(n))
        .collect())
}

/// Every current resource in a compartment (of any type), up to `limit`.
pub(crate) fn compartment_members(
    conn: &Connection,
    compartment: &Compartment,
    limit: usize,
) -> Result<Vec<Stored>, Error> {
    let rows = conn
        .prepare_cached(
            "SELECT r.type, r.id, r.version, r.last_updated, r.body, '' FROM membership m \
             JOIN resources r ON r.type = m.type AND r.id = m.id \
             WHERE m.kind = ?1 AND m.owner = ?2 ORDER BY r.type, r.id LIMIT ?3",
        )?
        .query_map(
            params![
                compartment.kind().to_string(),
                compartment.id(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            row_to_stored,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(stored).collect()
}

/// A setting kept in the database (`seeded`).
pub(crate) fn setting(conn: &Connection, key: &str) -> Result<Option<String>, Error> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row(params![key], |row| row.get(0))
        .optional()?)
}

/// Sets a setting.
pub(crate) fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<(), Error> {
    conn.prepare_cached("INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)")?
        .execute(params![key, value])?;
    Ok(())
}
