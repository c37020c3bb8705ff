//! First start: the demo users (from `policy/demo-users.json`, the same people
//! `token mint --user` knows) get random passwords, and three demo clients are registered.
//! The passwords and the confidential client's secret are printed once on standard error
//! and kept in `demo-credentials.json` in the data directory (owner-only), the one place
//! they exist in clear.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Value, json};
use smart_token::ClientSecret;

use super::clients::{self, Status, StoredClient};
use super::db::Db;
use super::users::{self, StoredUser};

const DEMO_USERS: &str = include_str!("../../../policy/demo-users.json");
/// The file that keeps the demo credentials.
pub(crate) const CREDENTIALS_FILE: &str = "demo-credentials.json";

/// The public demo app: a browser or native SMART app on loopback (any port, RFC 8252).
pub(crate) const PUBLIC_APP: &str = "demo-app";
/// The confidential demo app (`client_secret_basic`).
pub(crate) const CONFIDENTIAL_APP: &str = "demo-confidential-app";
/// The demo device client (device authorization grant).
pub(crate) const DEVICE_APP: &str = "demo-device";

/// What the demo apps may ask for.
const APP_SCOPES: &str = "openid fhirUser launch launch/patient launch/encounter offline_access online_access patient/*.cruds user/*.cruds";

#[derive(Deserialize)]
struct DemoUsers {
    users: BTreeMap<String, DemoUser>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoUser {
    fhir_user: Option<String>,
    patient: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    attributes: BTreeMap<String, Value>,
}

/// Seeds users and clients when the database has no user yet; returns whether it did.
pub(crate) fn seed(db: &Db, data_dir: &Path) -> anyhow::Result<bool> {
    if !users::is_empty(db)? {
        return Ok(false);
    }
    let demo: DemoUsers = serde_json::from_str(DEMO_USERS).context("the demo users")?;
    let mut passwords = BTreeMap::new();
    // Only people log in: a backend service (no fhirUser) authenticates as a client.
    for (name, user) in demo
        .users
        .into_iter()
        .filter(|(_, u)| u.fhir_user.is_some())
    {
        let password = random_password();
        users::put(
            db,
            &StoredUser {
                name: name.clone(),
                fhir_user: user.fhir_user,
                patient: user.patient,
                roles: user.roles,
                attributes: user.attributes,
                password_hash: users::hash_password(&password)?,
            },
        )?;
        passwords.insert(name, password);
    }
    let app = |id: &str, method: &str, grants: &[&str]| StoredClient {
        id: id.to_owned(),
        name: None,
        token_endpoint_auth_method: method.to_owned(),
        secret_hash: None,
        jwks: None,
        jwks_uri: None,
        redirect_uris: Vec::new(),
        grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
        scope: APP_SCOPES.to_owned(),
        access_token_lifetime: 3600,
        refresh_token_lifetime: 90 * 24 * 3600,
        roles: Vec::new(),
    };
    let loopback = vec![
        "http://127.0.0.1/callback".to_owned(),
        "http://127.0.0.1/".to_owned(),
        "http://[::1]/callback".to_owned(),
    ];
    let public = StoredClient {
        name: Some("Demo SMART app (public, PKCE)".into()),
        redirect_uris: loopback.clone(),
        ..app(PUBLIC_APP, "none", &["authorization_code", "refresh_token"])
    };
    let (secret, hash) = ClientSecret::generate()?;
    let confidential = StoredClient {
        name: Some("Demo SMART app (confidential)".into()),
        secret_hash: Some(hash.as_phc().to_owned()),
        redirect_uris: loopback,
        ..app(
            CONFIDENTIAL_APP,
            "client_secret_basic",
            &["authorization_code", "refresh_token"],
        )
    };
    let device = StoredClient {
        name: Some("Demo device (no browser)".into()),
        ..app(
            DEVICE_APP,
            "none",
            &[
                "urn:ietf:params:oauth:grant-type:device_code",
                "refresh_token",
            ],
        )
    };
    for client in [&public, &confidential, &device] {
        clients::put(db, client, Status::Active)?;
    }
    let credentials = json!({
        "users": passwords,
        "clients": {CONFIDENTIAL_APP: secret},
    });
    let path = data_dir.join(CREDENTIALS_FILE);
    // A file left by an earlier database is replaced: these are the credentials that work now.
    if path.exists() {
        std::fs::remove_file(&path).with_context(|| format!("replacing `{}`", path.display()))?;
    }
    crate::server::security::key::write_private(&path, &serde_json::to_vec_pretty(&credentials)?)?;
    eprintln!(
        "demo users and clients created; their passwords and the `{CONFIDENTIAL_APP}` secret (also in `{}`):\n{}",
        path.display(),
        serde_json::to_string_pretty(&credentials)?
    );
    Ok(true)
}

/// 16 random hex digits (64 bits).
fn random_password() -> String {
    let mut text = uuid::Uuid::new_v4().simple().to_string();
    text.truncate(16);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_once_with_working_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        assert!(seed(&db, dir.path()).unwrap());
        assert!(!seed(&db, dir.path()).unwrap());
        let credentials: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(CREDENTIALS_FILE)).unwrap())
                .unwrap();
        let password = credentials["users"]["lucien"].as_str().unwrap();
        let lucien = users::authenticate(&db, "lucien", password)
            .unwrap()
            .unwrap();
        assert_eq!(
            lucien.patient.as_deref(),
            Some("717282e4-5d08-4cbd-afad-596051966367")
        );
        assert_eq!(lucien.roles, ["patient"]);
        let listed: Vec<String> = clients::list(&db)
            .unwrap()
            .into_iter()
            .map(|(c, _)| c.id)
            .collect();
        assert_eq!(listed, [PUBLIC_APP, CONFIDENTIAL_APP, DEVICE_APP]);
        assert_eq!(users::list(&db).unwrap().len(), 10);
    }
}
