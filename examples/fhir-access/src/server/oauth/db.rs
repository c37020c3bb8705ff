//! The authorization server's tables in the server's SQLite database (`fhir.sqlite`): one
//! connection of its own (WAL lets it work beside the FHIR store's connections, and beside
//! the `client`/`user`/`launch` commands run while the server is up).
//!
//! Secrets are stored as hashes only: codes, refresh tokens and device codes under their
//! SHA-256, client secrets and passwords as Argon2id PHC strings.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;
use smart_token::Error;

/// The database file in the data directory (shared with the FHIR store).
pub(crate) const DATABASE_FILE: &str = "fhir.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS oauth_clients (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, document TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_users (
    name TEXT PRIMARY KEY, document TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_codes (
    hash BLOB PRIMARY KEY, record TEXT NOT NULL, used INTEGER NOT NULL, issued TEXT,
    expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_refresh (
    hash BLOB PRIMARY KEY, record TEXT NOT NULL, family TEXT NOT NULL, used INTEGER NOT NULL,
    expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS oauth_refresh_by_family ON oauth_refresh (family);
CREATE TABLE IF NOT EXISTS oauth_revoked_families (
    family TEXT PRIMARY KEY, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_family_access (
    family TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS oauth_family_access_by_family ON oauth_family_access (family);
CREATE TABLE IF NOT EXISTS oauth_devices (
    hash BLOB PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, record TEXT NOT NULL,
    expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_replay (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_revoked (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_launches (
    id TEXT PRIMARY KEY, context TEXT NOT NULL, expires_at INTEGER NOT NULL);
";

/// The authorization server's connection.
#[derive(Debug)]
pub(crate) struct Db {
    connection: Mutex<Connection>,
}

impl Db {
    /// Opens (creating if needed) the database of `data_dir` and its OAuth tables.
    pub(crate) fn open(data_dir: &Path) -> Result<Db, Error> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::Storage(format!("data directory `{}`: {e}", data_dir.display())))?;
        let connection = Connection::open(data_dir.join(DATABASE_FILE)).map_err(storage)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(storage)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(storage)?;
        connection.execute_batch(SCHEMA).map_err(storage)?;
        Ok(Db {
            connection: Mutex::new(connection),
        })
    }

    /// The connection; held for the whole of one store operation, which makes each
    /// operation atomic within the process (and a transaction makes it atomic on disk).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A database failure as the store traits report it (no secrets in SQLite's messages: the
/// statements bind them as parameters).
pub(crate) fn storage(error: impl std::fmt::Display) -> Error {
    Error::Storage(error.to_string())
}

/// A stored record as JSON.
pub(crate) fn to_json(value: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(storage)
}

/// A stored JSON record.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(storage)
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
