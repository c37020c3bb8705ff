//! Local users in SQLite: the password as an Argon2id hash, roles, attributes (the claims the
//! policy reads, such as `department`), `fhirUser`, and the linked patient of a patient user.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use rusqlite::{OptionalExtension as _, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use smart_token::{ClientSecret, Error};

use super::db::{Db, from_json, storage, to_json};

/// A user as stored (and as `user list` prints it, without the hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct StoredUser {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fhir_user: Option<String>,
    /// The patient a patient user is (their `launch/patient` context, never a choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) patient: Option<String>,
    #[serde(default)]
    pub(crate) roles: Vec<String>,
    #[serde(default)]
    pub(crate) attributes: BTreeMap<String, Value>,
    /// Argon2id PHC string.
    pub(crate) password_hash: String,
}

impl StoredUser {
    /// The claims an access token of this user carries besides the launch context: `roles`
    /// and each attribute under its own name (the server's claim mapping reads them there).
    pub(crate) fn claims(&self) -> Map<String, Value> {
        let mut claims: Map<String, Value> = self
            .attributes
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        claims.insert("roles".into(), Value::from(self.roles.clone()));
        claims
    }
}

/// Stores a user (replacing one with the same name).
pub(crate) fn put(db: &Db, user: &StoredUser) -> Result<(), Error> {
    db.lock()
        .execute(
            "INSERT INTO oauth_users (name, document) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET document = excluded.document",
            params![user.name, to_json(user)?],
        )
        .map_err(storage)?;
    Ok(())
}

/// The user `name`.
pub(crate) fn find(db: &Db, name: &str) -> Result<Option<StoredUser>, Error> {
    let document: Option<String> = db
        .lock()
        .query_row(
            "SELECT document FROM oauth_users WHERE name = ?1",
            [name],
            |row| row.get(0),
        )
        .optional()
        .map_err(storage)?;
    document.as_deref().map(from_json).transpose()
}

/// Every user, by name.
pub(crate) fn list(db: &Db) -> Result<Vec<StoredUser>, Error> {
    let connection = db.lock();
    let mut statement = connection
        .prepare("SELECT document FROM oauth_users ORDER BY name")
        .map_err(storage)?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(storage)?;
    rows.map(|row| from_json(&row.map_err(storage)?)).collect()
}

/// Removes a user; false if there was none.
pub(crate) fn remove(db: &Db, name: &str) -> Result<bool, Error> {
    let removed = db
        .lock()
        .execute("DELETE FROM oauth_users WHERE name = ?1", [name])
        .map_err(storage)?;
    Ok(removed == 1)
}

/// Whether the database has no user yet.
pub(crate) fn is_empty(db: &Db) -> Result<bool, Error> {
    let count: i64 = db
        .lock()
        .query_row("SELECT COUNT(*) FROM oauth_users", [], |row| row.get(0))
        .map_err(storage)?;
    Ok(count == 0)
}

/// The user whose name and password these are. An unknown name costs the same hashing
/// time as a wrong password, so the login form does not reveal which names exist.
pub(crate) fn authenticate(
    db: &Db,
    name: &str,
    password: &str,
) -> Result<Option<StoredUser>, Error> {
    let user = find(db, name)?;
    let verified = match &user {
        Some(user) => {
            ClientSecret::from_phc(&user.password_hash).is_ok_and(|hash| hash.verify(password))
        }
        None => {
            static DUMMY: OnceLock<Option<ClientSecret>> = OnceLock::new();
            if let Some(dummy) = DUMMY.get_or_init(|| ClientSecret::hash("no user").ok()) {
                let _ = dummy.verify(password);
            }
            false
        }
    };
    Ok(user.filter(|_| verified))
}

/// The Argon2id hash of a new password.
pub(crate) fn hash_password(password: &str) -> Result<String, Error> {
    Ok(ClientSecret::hash(password)?.as_phc().to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn users_authenticate_by_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        assert!(is_empty(&db).unwrap());
        let user = StoredUser {
            name: "nurse-peds".into(),
            fhir_user: Some("Practitioner/nurse-peds".into()),
            patient: None,
            roles: vec!["nurse".into()],
            attributes: BTreeMap::from([("department".into(), json!("Organization/pediatrics"))]),
            password_hash: hash_password("correct horse").unwrap(),
        };
        put(&db, &user).unwrap();
        assert!(!is_empty(&db).unwrap());
        assert_eq!(
            authenticate(&db, "nurse-peds", "correct horse").unwrap(),
            Some(user.clone())
        );
        assert_eq!(authenticate(&db, "nurse-peds", "wrong").unwrap(), None);
        assert_eq!(authenticate(&db, "nobody", "correct horse").unwrap(), None);
        assert_eq!(
            Value::Object(user.claims()),
            json!({"roles": ["nurse"], "department": "Organization/pediatrics"})
        );
        assert_eq!(list(&db).unwrap(), [user]);
        assert!(remove(&db, "nurse-peds").unwrap());
        assert!(!remove(&db, "nurse-peds").unwrap());
        assert_eq!(find(&db, "nurse-peds").unwrap(), None);
    }
}
