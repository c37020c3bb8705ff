//! smart-token's stores over SQLite: authorization codes, refresh tokens (families, rotation,
//! reuse), device authorizations, the client-assertion replay cache and revoked `jti`s. All
//! survive a restart. Expired rows are deleted as new ones arrive.

use std::sync::Arc;

use rusqlite::{OptionalExtension as _, params};
use smart_token::{
    CodeRecord, CodeStore, DeviceRecord, DeviceStore, Error, Issued, MemoryRevocations, Redeemed,
    RefreshRecord, RefreshStore, RefreshUse, ReplayCache, RevocationStore, SecretHash,
};

use super::db::{Db, from_json, storage, to_json};

/// Authorization codes: a row per code, `used` set by the first redemption.
#[derive(Debug)]
pub(crate) struct SqliteCodes(pub(crate) Arc<Db>);

impl CodeStore for SqliteCodes {
    fn insert(&self, code: SecretHash, record: CodeRecord, now: i64) -> Result<(), Error> {
        let db = self.0.lock();
        db.execute("DELETE FROM oauth_codes WHERE expires_at <= ?1", [now])
            .map_err(storage)?;
        db.execute(
            "INSERT INTO oauth_codes (hash, record, used, issued, expires_at) VALUES (?1, ?2, 0, NULL, ?3)",
            params![code.as_bytes(), to_json(&record)?, record.expires_at],
        )
        .map_err(storage)?;
        Ok(())
    }

    fn redeem(&self, code: SecretHash, now: i64) -> Result<Redeemed, Error> {
        // The connection lock makes read-then-mark atomic: of two redemptions one is first.
        let db = self.0.lock();
        let row: Option<(String, bool, Option<String>, i64)> = db
            .query_row(
                "SELECT record, used, issued, expires_at FROM oauth_codes WHERE hash = ?1",
                [code.as_bytes()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(storage)?;
        Ok(match row {
            None => Redeemed::Unknown,
            Some((_, _, _, expires_at)) if expires_at <= now => Redeemed::Unknown,
            Some((_, true, issued, _)) => Redeemed::Replayed(match issued {
                Some(text) => from_json(&text)?,
                None => Issued::default(),
            }),
            Some((record, false, _, _)) => {
                db.execute(
                    "UPDATE oauth_codes SET used = 1, issued = ?2 WHERE hash = ?1",
                    params![code.as_bytes(), to_json(&Issued::default())?],
                )
                .map_err(storage)?;
                Redeemed::First(Box::new(from_json(&record)?))
            }
        })
    }

    fn record_issued(&self, code: SecretHash, issued: Issued) -> Result<(), Error> {
        self.0
            .lock()
            .execute(
                "UPDATE oauth_codes SET issued = ?2 WHERE hash = ?1",
                params![code.as_bytes(), to_json(&issued)?],
            )
            .map_err(storage)?;
        Ok(())
    }
}

/// Refresh tokens, their families, the families revoked, and the access tokens issued in
/// each family (revoked with it).
#[derive(Debug)]
pub(crate) struct SqliteRefreshTokens(pub(crate) Arc<Db>);

impl RefreshStore for SqliteRefreshTokens {
    fn insert(&self, token: SecretHash, record: RefreshRecord, now: i64) -> Result<(), Error> {
        let json = to_json(&record)?;
        let db = self.0.lock();
        db.execute_batch("BEGIN IMMEDIATE").map_err(storage)?;
        let result = (|| {
            db.execute("DELETE FROM oauth_refresh WHERE expires_at <= ?1", [now])?;
            db.execute(
                "DELETE FROM oauth_revoked_families WHERE until <= ?1",
                [now],
            )?;
            db.execute(
                "DELETE FROM oauth_family_access WHERE expires_at <= ?1",
                [now],
            )?;
            db.execute(
                "INSERT INTO oauth_refresh (hash, record, family, used, expires_at) VALUES (?1, ?2, ?3, 0, ?4)",
                params![
                    token.as_bytes(),
                    json,
                    record.family,
                    record.expires_at
                ],
            )?;
            Ok::<(), rusqlite::Error>(())
        })();
        finish(&db, result)
    }

    fn use_token(&self, token: SecretHash, rotate: bool, now: i64) -> Result<RefreshUse, Error> {
        let db = self.0.lock();
        let row: Option<(String, String, bool, i64, bool)> = db
            .query_row(
                "SELECT r.record, r.family, r.used, r.expires_at,
                        EXISTS (SELECT 1 FROM oauth_revoked_families f WHERE f.family = r.family)
                 FROM oauth_refresh r WHERE r.hash = ?1",
                [token.as_bytes()],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                },
            )
            .optional()
            .map_err(storage)?;
        Ok(match row {
            None => RefreshUse::Unknown,
            Some((_, _, _, expires_at, revoked)) if expires_at <= now || revoked => {
                RefreshUse::Unknown
            }
            Some((_, family, true, _, _)) => RefreshUse::Reused(family),
            Some((record, _, false, _, _)) => {
                if rotate {
                    db.execute(
                        "UPDATE oauth_refresh SET used = 1 WHERE hash = ?1",
                        [token.as_bytes()],
                    )
                    .map_err(storage)?;
                }
                RefreshUse::Active(Box::new(from_json(&record)?))
            }
        })
    }

    fn record_access(&self, family: &str, jti: &str, expires_at: i64) -> Result<(), Error> {
        self.0
            .lock()
            .execute(
                "INSERT INTO oauth_family_access (family, jti, expires_at) VALUES (?1, ?2, ?3)",
                params![family, jti, expires_at],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn revoke_family(&self, family: &str) -> Result<Vec<(String, i64)>, Error> {
        let db = self.0.lock();
        db.execute_batch("BEGIN IMMEDIATE").map_err(storage)?;
        let result = (|| {
            let until: i64 = db.query_row(
                "SELECT COALESCE(MAX(expires_at), 0) FROM oauth_refresh WHERE family = ?1",
                [family],
                |row| row.get(0),
            )?;
            db.execute("DELETE FROM oauth_refresh WHERE family = ?1", [family])?;
            db.execute(
                "INSERT INTO oauth_revoked_families (family, until) VALUES (?1, ?2)
                 ON CONFLICT (family) DO UPDATE SET until = MAX(until, excluded.until)",
                params![family, until],
            )?;
            let mut statement =
                db.prepare("SELECT jti, expires_at FROM oauth_family_access WHERE family = ?1")?;
            let issued = statement
                .query_map([family], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<Vec<(String, i64)>, _>>()?;
            db.execute(
                "DELETE FROM oauth_family_access WHERE family = ?1",
                [family],
            )?;
            Ok(issued)
        })();
        finish(&db, result)
    }

    fn find(&self, token: SecretHash, now: i64) -> Result<Option<RefreshRecord>, Error> {
        let db = self.0.lock();
        let record: Option<String> = db
            .query_row(
                "SELECT r.record FROM oauth_refresh r
                 WHERE r.hash = ?1 AND r.used = 0 AND r.expires_at > ?2
                   AND NOT EXISTS (SELECT 1 FROM oauth_revoked_families f WHERE f.family = r.family)",
                params![token.as_bytes(), now],
                |row| row.get(0),
            )
            .optional()
            .map_err(storage)?;
        record.as_deref().map(from_json).transpose()
    }
}

/// Commits `result`'s transaction, or rolls it back.
fn finish<T>(db: &rusqlite::Connection, result: Result<T, rusqlite::Error>) -> Result<T, Error> {
    match result {
        Ok(value) => {
            db.execute_batch("COMMIT").map_err(storage)?;
            Ok(value)
        }
        Err(error) => {
            let _ = db.execute_batch("ROLLBACK");
            Err(storage(error))
        }
    }
}

/// Device authorizations (RFC 8628), found by hashed device code or by user code.
#[derive(Debug)]
pub(crate) struct SqliteDevices(pub(crate) Arc<Db>);

impl DeviceStore for SqliteDevices {
    fn insert(&self, device_code: SecretHash, record: DeviceRecord, now: i64) -> Result<(), Error> {
        let db = self.0.lock();
        db.execute("DELETE FROM oauth_devices WHERE expires_at <= ?1", [now])
            .map_err(storage)?;
        db.execute(
            "INSERT INTO oauth_devices (hash, user_code, record, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                device_code.as_bytes(),
                record.user_code,
                to_json(&record)?,
                record.expires_at
            ],
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Error::Storage("user code collision".into())
            }
            _ => storage(e),
        })?;
        Ok(())
    }

    fn by_user_code(
        &self,
        user_code: &str,
        now: i64,
    ) -> Result<Option<(SecretHash, DeviceRecord)>, Error> {
        let db = self.0.lock();
        let row: Option<(Vec<u8>, String)> = db
            .query_row(
                "SELECT hash, record FROM oauth_devices WHERE user_code = ?1 AND expires_at > ?2",
                params![user_code, now],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(storage)?;
        let Some((hash, record)) = row else {
            return Ok(None);
        };
        Ok(Some((hash_from(&hash)?, from_json(&record)?)))
    }

    fn update(
        &self,
        device_code: SecretHash,
        change: &mut dyn FnMut(&mut DeviceRecord),
    ) -> Result<Option<DeviceRecord>, Error> {
        let db = self.0.lock();
        let record: Option<String> = db
            .query_row(
                "SELECT record FROM oauth_devices WHERE hash = ?1",
                [device_code.as_bytes()],
                |row| row.get(0),
            )
            .optional()
            .map_err(storage)?;
        let Some(record) = record else {
            return Ok(None);
        };
        let before: DeviceRecord = from_json(&record)?;
        let mut after = before.clone();
        change(&mut after);
        db.execute(
            "UPDATE oauth_devices SET record = ?2 WHERE hash = ?1",
            params![device_code.as_bytes(), to_json(&after)?],
        )
        .map_err(storage)?;
        Ok(Some(before))
    }

    fn remove(&self, device_code: SecretHash) -> Result<(), Error> {
        self.0
            .lock()
            .execute(
                "DELETE FROM oauth_devices WHERE hash = ?1",
                [device_code.as_bytes()],
            )
            .map_err(storage)?;
        Ok(())
    }
}

/// A device code hash read back from its column.
fn hash_from(bytes: &[u8]) -> Result<SecretHash, Error> {
    <[u8; 32]>::try_from(bytes)
        .map(SecretHash::from_bytes)
        .map_err(|_| Error::Storage("a stored device code hash is not 32 bytes".into()))
}

/// Client-assertion `jti`s seen, each until its assertion expires.
#[derive(Debug)]
pub(crate) struct SqliteReplayCache(pub(crate) Arc<Db>);

impl ReplayCache for SqliteReplayCache {
    fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, Error> {
        let db = self.0.lock();
        db.execute("DELETE FROM oauth_replay WHERE expires_at <= ?1", [now])
            .map_err(storage)?;
        let inserted = db
            .execute(
                "INSERT INTO oauth_replay (key, expires_at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                params![key, expires_at],
            )
            .map_err(storage)?;
        Ok(inserted == 1)
    }
}

/// Revoked access-token `jti`s: written to SQLite, and answered from memory (loaded at
/// start), because the FHIR endpoint asks on every request and only this process revokes.
#[derive(Debug)]
pub(crate) struct SqliteRevocations {
    db: Arc<Db>,
    memory: MemoryRevocations,
}

impl SqliteRevocations {
    /// The revocations of `db`, loaded into memory; expired ones are deleted.
    pub(crate) fn load(db: Arc<Db>, now: i64) -> Result<SqliteRevocations, Error> {
        let memory = MemoryRevocations::default();
        {
            let connection = db.lock();
            connection
                .execute("DELETE FROM oauth_revoked WHERE expires_at <= ?1", [now])
                .map_err(storage)?;
            let mut statement = connection
                .prepare("SELECT jti, expires_at FROM oauth_revoked")
                .map_err(storage)?;
            let rows = statement
                .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))
                .map_err(storage)?;
            for row in rows {
                let (jti, expires_at) = row.map_err(storage)?;
                memory.revoke(&jti, expires_at, now)?;
            }
        }
        Ok(SqliteRevocations { db, memory })
    }
}

impl RevocationStore for SqliteRevocations {
    fn revoke(&self, jti: &str, expires_at: i64, now: i64) -> Result<(), Error> {
        if expires_at > now {
            self.db
                .lock()
                .execute(
                    "INSERT INTO oauth_revoked (jti, expires_at) VALUES (?1, ?2)
                     ON CONFLICT (jti) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
                    params![jti, expires_at],
                )
                .map_err(storage)?;
        }
        self.memory.revoke(jti, expires_at, now)
    }

    fn is_revoked(&self, jti: &str, now: i64) -> Result<bool, Error> {
        self.memory.is_revoked(jti, now)
    }
}

#[cfg(test)]
mod tests {
    use fhir_scopes::ScopeSet;
    use smart_token::{DeviceStatus, Grant, LaunchContext};

    use super::*;

    fn db() -> (tempfile::TempDir, Arc<Db>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path()).unwrap());
        (dir, db)
    }

    fn grant() -> Grant {
        let mut claims = serde_json::Map::new();
        claims.insert("roles".into(), serde_json::json!(["doctor"]));
        Grant {
            client_id: "app".into(),
            subject: Some("dr-grey".into()),
            scopes: ScopeSet::parse("launch/patient patient/*.rs offline_access").unwrap(),
            launch: LaunchContext {
                patient: Some("p1".into()),
                ..LaunchContext::default()
            },
            claims,
        }
    }

    #[test]
    fn codes_redeem_once_and_remember_what_they_issued_across_a_reopen() {
        let (dir, db) = db();
        let codes = SqliteCodes(Arc::clone(&db));
        let record = CodeRecord {
            grant: grant(),
            redirect_uri: "http://127.0.0.1:9/cb".into(),
            code_challenge: "c".into(),
            nonce: Some("n".into()),
            expires_at: 160,
        };
        codes
            .insert(SecretHash::of("a"), record.clone(), 100)
            .unwrap();
        assert_eq!(
            codes.redeem(SecretHash::of("a"), 101).unwrap(),
            Redeemed::First(Box::new(record))
        );
        let issued = Issued {
            access: Some(("jti-1".into(), 500)),
            refresh_family: Some("fam".into()),
        };
        codes
            .record_issued(SecretHash::of("a"), issued.clone())
            .unwrap();
        drop(codes);
        drop(db);
        let codes = SqliteCodes(Arc::new(Db::open(dir.path()).unwrap()));
        assert_eq!(
            codes.redeem(SecretHash::of("a"), 102).unwrap(),
            Redeemed::Replayed(issued)
        );
        assert_eq!(
            codes.redeem(SecretHash::of("a"), 160).unwrap(),
            Redeemed::Unknown
        );
        assert_eq!(
            codes.redeem(SecretHash::of("b"), 102).unwrap(),
            Redeemed::Unknown
        );
    }

    #[test]
    fn refresh_tokens_rotate_detect_reuse_and_revoke_families() {
        let (_dir, db) = db();
        let store = SqliteRefreshTokens(Arc::clone(&db));
        let record = RefreshRecord {
            grant: grant(),
            family: "fam".into(),
            expires_at: 1_000,
        };
        store
            .insert(SecretHash::of("r1"), record.clone(), 10)
            .unwrap();
        store.record_access("fam", "jti-1", 400).unwrap();
        assert_eq!(
            store.find(SecretHash::of("r1"), 11).unwrap(),
            Some(record.clone())
        );
        // Without rotation the token stays live; with it, it works once.
        assert_eq!(
            store.use_token(SecretHash::of("r1"), false, 11).unwrap(),
            RefreshUse::Active(Box::new(record.clone()))
        );
        assert_eq!(
            store.use_token(SecretHash::of("r1"), true, 12).unwrap(),
            RefreshUse::Active(Box::new(record.clone()))
        );
        assert_eq!(store.find(SecretHash::of("r1"), 13).unwrap(), None);
        assert_eq!(
            store.use_token(SecretHash::of("r1"), true, 13).unwrap(),
            RefreshUse::Reused("fam".into())
        );
        store.insert(SecretHash::of("r2"), record, 14).unwrap();
        store.record_access("fam", "jti-2", 450).unwrap();
        assert_eq!(
            store.revoke_family("fam").unwrap(),
            [("jti-1".to_owned(), 400), ("jti-2".to_owned(), 450)]
        );
        assert_eq!(
            store.use_token(SecretHash::of("r2"), true, 15).unwrap(),
            RefreshUse::Unknown
        );
        assert_eq!(
            store.use_token(SecretHash::of("r9"), true, 15).unwrap(),
            RefreshUse::Unknown
        );
    }

    #[test]
    fn devices_by_user_code_update_and_collide() {
        let (_dir, db) = db();
        let store = SqliteDevices(db);
        let record = DeviceRecord {
            client_id: "tv".into(),
            scopes: ScopeSet::parse("patient/*.rs").unwrap(),
            user_code: "BCDFGHJK".into(),
            expires_at: 700,
            interval: 5,
            last_poll: None,
            status: DeviceStatus::Pending,
        };
        store
            .insert(SecretHash::of("d1"), record.clone(), 100)
            .unwrap();
        assert_eq!(
            store.insert(SecretHash::of("d2"), record.clone(), 100),
            Err(Error::Storage("user code collision".into()))
        );
        assert_eq!(
            store.by_user_code("BCDFGHJK", 101).unwrap(),
            Some((SecretHash::of("d1"), record.clone()))
        );
        assert_eq!(store.by_user_code("BCDFGHJK", 700).unwrap(), None);
        let before = store
            .update(SecretHash::of("d1"), &mut |r| {
                r.status = DeviceStatus::Denied
            })
            .unwrap();
        assert_eq!(before, Some(record));
        assert_eq!(
            store
                .by_user_code("BCDFGHJK", 101)
                .unwrap()
                .unwrap()
                .1
                .status,
            DeviceStatus::Denied
        );
        store.remove(SecretHash::of("d1")).unwrap();
        assert_eq!(store.by_user_code("BCDFGHJK", 101).unwrap(), None);
        assert_eq!(
            store.update(SecretHash::of("d1"), &mut |_| {}).unwrap(),
            None
        );
    }

    #[test]
    fn replay_cache_and_revocations_survive_a_reopen() {
        let (dir, db) = db();
        let cache = SqliteReplayCache(Arc::clone(&db));
        assert!(cache.first_use("client:jti", 400, 100).unwrap());
        assert!(!cache.first_use("client:jti", 400, 399).unwrap());
        assert!(cache.first_use("client:jti", 800, 400).unwrap());
        let revocations = SqliteRevocations::load(Arc::clone(&db), 100).unwrap();
        revocations.revoke("jti-1", 500, 100).unwrap();
        revocations.revoke("dead", 50, 100).unwrap();
        assert!(revocations.is_revoked("jti-1", 101).unwrap());
        drop((cache, revocations, db));
        let db = Arc::new(Db::open(dir.path()).unwrap());
        let revocations = SqliteRevocations::load(Arc::clone(&db), 200).unwrap();
        assert!(revocations.is_revoked("jti-1", 200).unwrap());
        assert!(!revocations.is_revoked("jti-1", 500).unwrap());
        assert!(!revocations.is_revoked("dead", 200).unwrap());
        assert!(
            !SqliteReplayCache(db)
                .first_use("client:jti", 900, 401)
                .unwrap()
        );
    }
}
