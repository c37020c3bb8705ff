//! The SMART authorization server over HTTP: smart-token's [`AuthorizationServer`] with its
//! stores in SQLite, and the endpoints a SMART app talks to. Paths (below the server's
//! origin, the FHIR base without `/fhir`) and form fields are documented in
//! `docs/smart-app-launch.md` and stay stable.
//!
//! Modules: `db` (the connection and tables), `clients`, `users`, `launch`, `grants`
//! (smart-token's stores), `seed` (demo users and clients), `discovery`
//! (`.well-known/smart-configuration`, `jwks`, `oauth-uris`), `endpoints` (token,
//! introspection, revocation, device authorization, registration, launch), `session`
//! (browser sessions, CSRF), `pages` (HTML), `authorize` (login, consent, patient picker),
//! `consent` (what a consent form decides), `cors` (browser apps on other origins), `throttle` (failed logins per user name),
//! `device` (the user-code page), `scopes` (scopes in plain words).

mod authorize;
pub(crate) mod clients;
mod consent;
mod cors;
pub(crate) mod db;
mod device;
mod discovery;
mod endpoints;
pub(crate) mod grants;
pub(crate) mod launch;
mod pages;
#[cfg(test)]
mod properties;
mod scopes;
pub(crate) mod seed;
pub(crate) mod session;
mod throttle;
pub(crate) mod users;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use smart_token::{
    AuthorizationServer, HttpFetcher, JwksFetcher, RevocationStore, SystemClock, TokenIssuer,
};

pub(crate) use cors::cors;
pub(crate) use discovery::security_extension;

use clients::SqliteClients;
use db::Db;
use grants::{
    SqliteCodes, SqliteDevices, SqliteRefreshTokens, SqliteReplayCache, SqliteRevocations,
};
use session::Sessions;
use throttle::Throttle;

/// Paths of the endpoints, below the origin.
pub(crate) mod paths {
    /// The authorization endpoint (GET and POST), with its login, consent and patient pages.
    pub(crate) const AUTHORIZE: &str = "/authorize";
    /// The token endpoint.
    pub(crate) const TOKEN: &str = "/token";
    /// Token introspection (RFC 7662).
    pub(crate) const INTROSPECT: &str = "/introspect";
    /// Token revocation (RFC 7009).
    pub(crate) const REVOKE: &str = "/revoke";
    /// Dynamic client registration (RFC 7591), when enabled.
    pub(crate) const REGISTER: &str = "/register";
    /// The device authorization endpoint (RFC 8628 §3.1).
    pub(crate) const DEVICE_AUTHORIZATION: &str = "/device_authorization";
    /// The page where a user enters a device's user code.
    pub(crate) const DEVICE: &str = "/device";
    /// The server's public keys.
    pub(crate) const JWKS: &str = "/jwks";
    /// EHR launch contexts (administrators).
    pub(crate) const LAUNCH: &str = "/launch";
    /// The pages' stylesheet.
    pub(crate) const STYLESHEET: &str = "/auth.css";
    /// SMART discovery, below the FHIR base.
    pub(crate) const SMART_CONFIGURATION: &str = "/.well-known/smart-configuration";
}

/// Settings of the authorization server.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Whether `/register` accepts registrations (new clients wait for `client approve`).
    pub(crate) registration: bool,
    /// The configured OpenID providers users may log in at instead: (id, name shown).
    pub(crate) providers: Vec<(String, String)>,
}

/// Everything the endpoints share.
#[derive(Debug)]
pub(crate) struct Oauth {
    pub(crate) server: AuthorizationServer,
    pub(crate) db: Arc<Db>,
    pub(crate) clients: Arc<SqliteClients>,
    pub(crate) sessions: Sessions,
    pub(crate) throttle: Throttle,
    /// The FHIR base URL (`iss` and `aud` of the tokens).
    pub(crate) base_url: String,
    /// The base URL without its path: where the endpoints are.
    pub(crate) origin: String,
    pub(crate) settings: Settings,
    pub(crate) fetcher: Arc<dyn JwksFetcher>,
}

impl Oauth {
    /// The absolute URL of an endpoint path.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The login page's "Log in with" links: each provider's name and the URL that logs in
    /// there and comes back to `return_to`.
    pub(crate) fn provider_links(&self, return_to: &str) -> Vec<(String, String)> {
        self.settings
            .providers
            .iter()
            .map(|(id, name)| (name.clone(), super::federation::login_link(id, return_to)))
            .collect()
    }
}

/// Builds the authorization server of `data_dir` (its database, the server's key) for
/// `base_url`, seeding the demo users and clients when `seed` is set and none exist. Returns
/// it with the revocation store the FHIR endpoint must consult.
pub(crate) fn build(
    data_dir: &Path,
    base_url: &str,
    seed: bool,
    settings: Settings,
) -> anyhow::Result<(Arc<Oauth>, Arc<dyn RevocationStore>)> {
    let db = Arc::new(Db::open(data_dir).context("opening the authorization server's tables")?);
    if seed && seed::seed(&db, data_dir)? {
        tracing::info!("seeded the demo users and clients");
    }
    let origin = origin_of(base_url);
    let key = super::security::key::load(data_dir, true)?;
    let issuer = TokenIssuer::new(base_url, base_url, key, Arc::new(SystemClock));
    // OpenID Connect's default id_token algorithm is RS256; access tokens stay EdDSA.
    let issuer = issuer
        .id_token_key(super::security::key::load_id_token_key(data_dir)?)
        .context("the id_token key")?;
    let fetcher: Arc<dyn JwksFetcher> = Arc::new(HttpFetcher::new());
    let clients = Arc::new(SqliteClients::new(Arc::clone(&db), Arc::clone(&fetcher)));
    let revocations = Arc::new(SqliteRevocations::load(Arc::clone(&db), db::now())?);
    let server = AuthorizationServer::new(
        issuer,
        format!("{origin}{}", paths::TOKEN),
        Arc::clone(&clients) as Arc<dyn smart_token::ClientStore>,
    )?
    .codes(Arc::new(SqliteCodes(Arc::clone(&db))))
    .refresh_tokens(Arc::new(SqliteRefreshTokens(Arc::clone(&db))))
    .devices(Arc::new(SqliteDevices(Arc::clone(&db))))
    .replay_cache(Arc::new(SqliteReplayCache(Arc::clone(&db))))
    .verification_uri(format!("{origin}{}", paths::DEVICE))
    .revocations(Arc::clone(&revocations) as Arc<dyn RevocationStore>)?;
    let oauth = Oauth {
        server,
        db,
        clients,
        sessions: Sessions::default(),
        throttle: Throttle::default(),
        base_url: base_url.to_owned(),
        origin,
        settings,
        fetcher,
    };
    Ok((Arc::new(oauth), revocations))
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url.get(after_scheme..).and_then(|rest| rest.find('/')) {
        Some(slash) => url.get(..after_scheme + slash).unwrap_or(url).to_owned(),
        None => url.to_owned(),
    }
}

/// The authorization server's routes.
pub(crate) fn router(oauth: Arc<Oauth>) -> Router {
    let mut router = Router::new()
        .route(
            &format!("/fhir{}", paths::SMART_CONFIGURATION),
            get(discovery::smart_configuration),
        )
        .route(paths::JWKS, get(discovery::jwks))
        .route(paths::STYLESHEET, get(pages::stylesheet))
        .route(
            paths::AUTHORIZE,
            get(authorize::get_authorize).post(authorize::post_authorize),
        )
        .route(paths::TOKEN, post(endpoints::token))
        .route(paths::INTROSPECT, post(endpoints::introspect))
        .route(paths::REVOKE, post(endpoints::revoke))
        .route(
            paths::DEVICE_AUTHORIZATION,
            post(endpoints::device_authorization),
        )
        .route(
            paths::DEVICE,
            get(device::get_device).post(device::post_device),
        )
        .route(paths::LAUNCH, post(endpoints::launch));
    if oauth.settings.registration {
        router = router.route(paths::REGISTER, post(endpoints::register));
    }
    router.with_state(oauth)
}

/// Runs blocking work (SQLite, Argon2) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::error!(%error, "authorization server task failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("http://127.0.0.1:8080/fhir"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            origin_of("https://ehr.example/r4/fhir"),
            "https://ehr.example"
        );
        assert_eq!(origin_of("https://ehr.example"), "https://ehr.example");
    }
}
