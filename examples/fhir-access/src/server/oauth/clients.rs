//! Registered clients in SQLite: one JSON document per client (what `client add` or
//! `/register` was given, the secret as an Argon2id hash), `active` or `pending` (a
//! dynamically registered client waiting for an administrator). Pending clients do not
//! exist for the authorization server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fhir_scopes::ScopeSet;
use rusqlite::{OptionalExtension as _, params};
use serde::{Deserialize, Serialize};
use smart_token::{
    Client, ClientAuth, ClientSecret, ClientStore, Error, GrantType, JwksFetcher, KeySet, KeySource,
};

use super::db::{Db, from_json, now, storage, to_json};

/// A client as stored and as `client list` prints it (no secret: its hash only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredClient {
    pub(crate) id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// `none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    pub(crate) token_endpoint_auth_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jwks: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jwks_uri: Option<String>,
    #[serde(default)]
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) grant_types: Vec<String>,
    pub(crate) scope: String,
    pub(crate) access_token_lifetime: u32,
    pub(crate) refresh_token_lifetime: u32,
    /// Roles of a backend client, in its `client_credentials` tokens (the policy reads
    /// them; no user speaks for it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) roles: Vec<String>,
}

impl StoredClient {
    /// The smart-token client; `fetcher` reads a `jwks_uri`.
    pub(crate) fn to_client(&self, fetcher: &Arc<dyn JwksFetcher>) -> Result<Client, Error> {
        let invalid = |what: &str| Error::InvalidClientMetadata(format!("stored client: {what}"));
        let secret = || {
            self.secret_hash
                .as_deref()
                .ok_or_else(|| invalid("no secret hash"))
                .and_then(ClientSecret::from_phc)
        };
        let auth = match self.token_endpoint_auth_method.as_str() {
            "none" => ClientAuth::None,
            "client_secret_basic" => ClientAuth::SecretBasic(secret()?),
            "client_secret_post" => ClientAuth::SecretPost(secret()?),
            "private_key_jwt" => ClientAuth::PrivateKeyJwt(match (&self.jwks, &self.jwks_uri) {
                (Some(jwks), None) => KeySource::fixed(KeySet::from_jwks(&jwks.to_string())?),
                (None, Some(uri)) => KeySource::remote(uri.clone(), Arc::clone(fetcher)),
                _ => return Err(invalid("`private_key_jwt` needs one of `jwks`, `jwks_uri`")),
            }),
            _ => return Err(invalid("unknown `token_endpoint_auth_method`")),
        };
        let grants = self
            .grant_types
            .iter()
            .map(|name| GrantType::from_name(name).ok_or_else(|| invalid("unknown grant type")))
            .collect::<Result<Vec<_>, _>>()?;
        let scopes =
            ScopeSet::parse(&self.scope).map_err(|e| Error::ScopeNotAllowed(e.to_string()))?;
        let mut client = Client::new(self.id.clone(), auth)
            .grant_types(grants)
            .scopes(scopes)
            .access_token_lifetime(self.access_token_lifetime)
            .refresh_token_lifetime(self.refresh_token_lifetime);
        for uri in &self.redirect_uris {
            client = client.redirect_uri(uri.clone());
        }
        if let Some(name) = &self.name {
            client = client.name(name.clone());
        }
        if !self.roles.is_empty() {
            let mut claims = serde_json::Map::new();
            claims.insert("roles".into(), serde_json::Value::from(self.roles.clone()));
            client = client.claims(claims);
        }
        Ok(client)
    }
}

/// Whether a client may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Usable.
    Active,
    /// Registered dynamically, waiting for `client approve`.
    Pending,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Pending => "pending",
        }
    }
}

/// The clients of the database, as smart-token's [`ClientStore`]. Each lookup reads the
/// row, so `client add|remove` take effect at once; the built client is reused while its row
/// is unchanged, which keeps a `jwks_uri` client's fetched keys and refetch limit.
#[derive(Debug)]
pub(crate) struct SqliteClients {
    db: Arc<Db>,
    fetcher: Arc<dyn JwksFetcher>,
    built: Mutex<HashMap<String, (String, Arc<Client>)>>,
}

impl SqliteClients {
    pub(crate) fn new(db: Arc<Db>, fetcher: Arc<dyn JwksFetcher>) -> SqliteClients {
        SqliteClients {
            db,
            fetcher,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// Stores a client (replacing one with the same id) with `status`.
    pub(crate) fn put(&self, client: &StoredClient, status: Status) -> Result<(), Error> {
        put(&self.db, client, status)
    }
}

impl ClientStore for SqliteClients {
    fn client(&self, id: &str) -> Result<Option<Arc<Client>>, Error> {
        let document: Option<String> = self
            .db
            .lock()
            .query_row(
                "SELECT document FROM oauth_clients WHERE id = ?1 AND status = 'active'",
                [id],
                |row| row.get(0),
            )
            .optional()
            .map_err(storage)?;
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(document) = document else {
            built.remove(id);
            return Ok(None);
        };
        if let Some((seen, client)) = built.get(id) {
            if *seen == document {
                return Ok(Some(Arc::clone(client)));
            }
        }
        let stored: StoredClient = from_json(&document)?;
        let client = Arc::new(stored.to_client(&self.fetcher)?);
        built.insert(id.to_owned(), (document, Arc::clone(&client)));
        Ok(Some(client))
    }
}

/// Stores a client (replacing one with the same id).
pub(crate) fn put(db: &Db, client: &StoredClient, status: Status) -> Result<(), Error> {
    db.lock()
        .execute(
            "INSERT INTO oauth_clients (id, status, document, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, document = excluded.document",
            params![client.id, status.as_str(), to_json(client)?, now()],
        )
        .map_err(storage)?;
    Ok(())
}

/// Every client with its status, by id.
pub(crate) fn list(db: &Db) -> Result<Vec<(StoredClient, Status)>, Error> {
    let connection = db.lock();
    let mut statement = connection
        .prepare("SELECT document, status FROM oauth_clients ORDER BY id")
        .map_err(storage)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(storage)?;
    rows.map(|row| {
        let (document, status) = row.map_err(storage)?;
        let status = if status == "active" {
            Status::Active
        } else {
            Status::Pending
        };
        Ok((from_json(&document)?, status))
    })
    .collect()
}

/// The number of clients waiting for approval.
pub(crate) fn pending(db: &Db) -> Result<usize, Error> {
    let count: i64 = db
        .lock()
        .query_row(
            "SELECT COUNT(*) FROM oauth_clients WHERE status = 'pending'",
            [],
            |row| row.get(0),
        )
        .map_err(storage)?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}

/// Removes a client; false if there was none.
pub(crate) fn remove(db: &Db, id: &str) -> Result<bool, Error> {
    let removed = db
        .lock()
        .execute("DELETE FROM oauth_clients WHERE id = ?1", [id])
        .map_err(storage)?;
    Ok(removed == 1)
}

/// Activates a pending client; false if there is no such pending client.
pub(crate) fn approve(db: &Db, id: &str) -> Result<bool, Error> {
    let changed = db
        .lock()
        .execute(
            "UPDATE oauth_clients SET status = 'active' WHERE id = ?1 AND status = 'pending'",
            [id],
        )
        .map_err(storage)?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NoFetch;
    impl JwksFetcher for NoFetch {
        fn fetch(&self, uri: &str) -> Result<String, Error> {
            Err(Error::Fetch {
                uri: uri.into(),
                reason: "offline".into(),
            })
        }
    }

    fn public_app() -> StoredClient {
        StoredClient {
            id: "growth".into(),
            name: Some("Growth chart".into()),
            token_endpoint_auth_method: "none".into(),
            secret_hash: None,
            jwks: None,
            jwks_uri: None,
            redirect_uris: vec!["http://127.0.0.1:9000/cb".into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scope: "launch/patient patient/*.rs offline_access".into(),
            access_token_lifetime: 300,
            refresh_token_lifetime: 3600,
            roles: Vec::new(),
        }
    }

    #[test]
    fn clients_round_trip_and_pending_ones_do_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path()).unwrap());
        let clients = SqliteClients::new(Arc::clone(&db), Arc::new(NoFetch));
        clients.put(&public_app(), Status::Active).unwrap();
        let client = clients.client("growth").unwrap().unwrap();
        assert!(client.is_public());
        assert!(client.redirect_uri_matches("http://127.0.0.1:9000/cb"));
        assert!(client.allows_grant(GrantType::RefreshToken));
        assert!(!client.allows_grant(GrantType::ClientCredentials));
        // Unchanged row: the same built client.
        assert!(Arc::ptr_eq(
            &client,
            &clients.client("growth").unwrap().unwrap()
        ));
        let secret = ClientSecret::hash("s3cret").unwrap();
        let confidential = StoredClient {
            id: "backend".into(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            secret_hash: Some(secret.as_phc().to_owned()),
            grant_types: vec!["client_credentials".into()],
            scope: "system/*.rs".into(),
            ..public_app()
        };
        clients.put(&confidential, Status::Pending).unwrap();
        assert!(clients.client("backend").unwrap().is_none());
        assert_eq!(pending(&db).unwrap(), 1);
        assert!(approve(&db, "backend").unwrap());
        assert!(!approve(&db, "backend").unwrap());
        let client = clients.client("backend").unwrap().unwrap();
        match client.auth() {
            ClientAuth::SecretBasic(stored) => assert!(stored.verify("s3cret")),
            other => panic!("{other:?}"),
        }
        let listed: Vec<_> = list(&db)
            .unwrap()
            .into_iter()
            .map(|(c, s)| (c.id, s))
            .collect();
        assert_eq!(
            listed,
            [
                ("backend".to_owned(), Status::Active),
                ("growth".to_owned(), Status::Active)
            ]
        );
        assert!(remove(&db, "growth").unwrap());
        assert!(!remove(&db, "growth").unwrap());
        assert!(clients.client("growth").unwrap().is_none());
    }

    #[test]
    fn a_broken_stored_client_is_an_error_not_a_panic() {
        let broken = StoredClient {
            token_endpoint_auth_method: "private_key_jwt".into(),
            ..public_app()
        };
        let fetcher: Arc<dyn JwksFetcher> = Arc::new(NoFetch);
        assert_eq!(
            broken.to_client(&fetcher).unwrap_err().to_string(),
            "invalid client metadata: stored client: `private_key_jwt` needs one of `jwks`, `jwks_uri`"
        );
        let broken = StoredClient {
            grant_types: vec!["implicit".into()],
            ..public_app()
        };
        assert_eq!(
            broken.to_client(&fetcher).unwrap_err().to_string(),
            "invalid client metadata: stored client: unknown grant type"
        );
    }
}
