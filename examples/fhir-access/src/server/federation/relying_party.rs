//! The server as an OpenID Connect relying party: a user chooses a configured provider on
//! the login page, logs in there (authorization code with PKCE S256, `state` bound to the
//! browser by a cookie, `nonce` in the ID token), and comes back as the local user the
//! configuration maps their identity to. No HTTP framework here: `routes` renders.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SecureRandom as _;
use smart_token::{
    ClaimMapping, JwksFetcher, KeySource, ProviderMetadata, TrustedIssuer, Validator,
};

use crate::server::config::IdentityProviderConfig;

/// How long a started login may take at the provider, and how long a login lasts here.
const PENDING_SECONDS: i64 = 600;
const LOGIN_SECONDS: i64 = 600;
/// The most logins started and not finished at once (older ones are dropped first), so that
/// a flood of started logins cannot grow memory without bound.
const MAX_PENDING: usize = 10_000;
const MAX_LOGINS: usize = 10_000;

/// Why a federated login failed. The messages are shown to the person logging in: they say
/// what to do, never a token or a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum LoginError {
    /// No provider of that id is configured.
    #[error("no identity provider `{0}` is configured")]
    UnknownProvider(String),
    /// The callback is not the answer to a login this browser started (unknown, used or
    /// expired `state`, or the cookie that binds it is missing): a replay or login CSRF.
    #[error("this login was not started here, was already used, or took too long: start again")]
    UnknownState,
    /// The provider answered with an error (the user refused, say).
    #[error("the identity provider refused the login: {0}")]
    Refused(String),
    /// The provider could not be reached or answered something unusable.
    #[error("the identity provider could not complete the login: {0}")]
    Provider(String),
    /// The ID token failed validation (signature, issuer, audience, expiry, nonce).
    #[error("the identity provider's ID token was refused: {0}")]
    InvalidIdToken(String),
    /// The identity is not mapped to a local user.
    #[error("your account at `{0}` is not linked to a user of this server")]
    NotLinked(String),
}

impl LoginError {
    /// The HTTP status of the error page.
    pub(crate) fn status(&self) -> u16 {
        match self {
            LoginError::UnknownProvider(_) => 404,
            LoginError::UnknownState | LoginError::Refused(_) => 400,
            LoginError::Provider(_) | LoginError::InvalidIdToken(_) => 502,
            LoginError::NotLinked(_) => 403,
        }
    }
}

/// The server's own users and the authorization pages' browser sessions: a federated login
/// logs the pages' session in, so that `/authorize` goes on to consent as the linked user.
pub(crate) trait LocalUsers: Send + Sync {
    /// Whether a local user of this name exists.
    fn exists(&self, user: &str) -> bool;
    /// Logs the browser's pages session (its cookie value, if it has one) in as `user`;
    /// returns the `Set-Cookie` value of the logged-in session.
    fn log_in(&self, session: Option<&str>, user: &str) -> String;
}

/// A login finished: who is logged in here, and through which provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    /// The local user name.
    pub(crate) user: String,
    /// The provider's id.
    pub(crate) provider: String,
    expires_at: i64,
}

/// A login started at a provider, waiting for its callback.
#[derive(Debug)]
struct Pending {
    provider: String,
    nonce: String,
    verifier: String,
    return_to: String,
    expires_at: i64,
}

/// One configured provider, its metadata once discovered, and the ID token validator.
struct Provider {
    config: IdentityProviderConfig,
    validator: Validator,
    metadata: RwLock<Option<ProviderMetadata>>,
}

/// Every configured provider, the logins in progress and the logins made.
pub(crate) struct Federation {
    providers: Vec<Provider>,
    /// `scheme://host[:port]` of this server: the callback URLs are below it.
    origin: String,
    fetcher: Arc<dyn JwksFetcher>,
    http: ureq::Agent,
    pending: Mutex<HashMap<String, Pending>>,
    logins: Mutex<HashMap<String, Login>>,
    random: ring::rand::SystemRandom,
    /// `None`: no authorization pages (the server is not in `policy` mode).
    local: Option<Arc<dyn LocalUsers>>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self
            .providers
            .iter()
            .map(|p| p.config.id.as_str())
            .collect();
        f.debug_struct("Federation")
            .field("providers", &ids)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Where to send the browser, with the cookie that binds the login to it.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) location: String,
    pub(crate) state: String,
}

/// The answer of the provider at the callback, as query parameters.
#[derive(Debug, Default)]
pub(crate) struct Callback {
    pub(crate) code: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) iss: Option<String>,
}

impl Federation {
    /// The providers of the configuration, for a server at `origin`.
    pub(crate) fn new(
        configs: &[IdentityProviderConfig],
        origin: &str,
        fetcher: Arc<dyn JwksFetcher>,
    ) -> Federation {
        let providers = configs
            .iter()
            .map(|config| {
                let user_claim = config.user_claim.as_deref().unwrap_or("sub");
                // The ID token's audience is our client id (OpenID Connect Core 3.1.3.7).
                let trusted = TrustedIssuer::new(
                    config.issuer.clone(),
                    config.client_id.clone(),
                    KeySource::discovered(config.issuer.clone(), Arc::clone(&fetcher)),
                )
                .require_claims(["sub", "nonce", "iat", user_claim])
                .mapping(
                    ClaimMapping::default()
                        .attribute("nonce", "nonce")
                        .attribute("azp", "azp")
                        .attribute(user_claim, "user"),
                );
                Provider {
                    config: config.clone(),
                    validator: Validator::new([trusted]),
                    metadata: RwLock::new(None),
                }
            })
            .collect();
        let http = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Federation {
            providers,
            origin: origin.to_owned(),
            fetcher,
            http,
            pending: Mutex::default(),
            logins: Mutex::default(),
            random: ring::rand::SystemRandom::new(),
            local: None,
        }
    }

    /// Links identities to the server's own users, and logins to the pages' sessions.
    pub(crate) fn local_users(mut self, local: Arc<dyn LocalUsers>) -> Federation {
        self.local = Some(local);
        self
    }

    /// Logs the authorization pages' session of this browser in as `user`; its `Set-Cookie`
    /// value, or `None` when the server has no such pages.
    pub(crate) fn log_in_pages(&self, session: Option<&str>, user: &str) -> Option<String> {
        self.local.as_ref().map(|local| local.log_in(session, user))
    }

    /// Whether any provider is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The login page's links: each provider's name and the URL that starts a login there,
    /// coming back to `return_to` (a path on this server, such as the `/authorize` request).
    pub(crate) fn links(&self, return_to: &str) -> Vec<(String, String)> {
        self.providers
            .iter()
            .map(|p| (p.config.name.clone(), login_link(&p.config.id, return_to)))
            .collect()
    }

    /// Starts a login at provider `id`: the provider's authorization URL, and the `state`
    /// to bind to the browser. `return_to` must be a path on this server (else `/`).
    /// Blocking: may fetch the provider's metadata.
    pub(crate) fn start(&self, id: &str, return_to: &str, now: i64) -> Result<Started, LoginError> {
        let provider = self.provider(id)?;
        let metadata = self.metadata(provider)?;
        let endpoint = metadata
            .authorization_endpoint
            .ok_or_else(|| LoginError::Provider("it has no authorization endpoint".into()))?;
        let state = self.random_text()?;
        let nonce = self.random_text()?;
        let verifier = self.random_text()?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.config.client_id)
            .append_pair("redirect_uri", &self.redirect_uri(id))
            .append_pair(
                "scope",
                provider.config.scope.as_deref().unwrap_or("openid"),
            )
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &smart_token::pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        let pending = Pending {
            provider: id.to_owned(),
            nonce,
            verifier,
            return_to: local_path(return_to).to_owned(),
            expires_at: now.saturating_add(PENDING_SECONDS),
        };
        let mut all = self.pending.lock().map_err(|_| poisoned())?;
        all.retain(|_, p| p.expires_at > now);
        if all.len() >= MAX_PENDING {
            // Still full of live entries: drop the ones closest to expiry.
            let mut by_age: Vec<(i64, String)> =
                all.iter().map(|(s, p)| (p.expires_at, s.clone())).collect();
            by_age.sort();
            for (_, state) in by_age.iter().take(all.len() + 1 - MAX_PENDING) {
                all.remove(state);
            }
        }
        all.insert(state.clone(), pending);
        Ok(Started {
            location: format!("{endpoint}{separator}{query}"),
            state,
        })
    }

    /// Finishes a login at the callback of provider `id`: `cookie_state` is the state the
    /// browser's cookie holds. Returns the session id of the new login and where to go.
    /// Blocking: calls the provider's token endpoint.
    pub(crate) fn finish(
        &self,
        id: &str,
        callback: &Callback,
        cookie_state: Option<&str>,
        now: i64,
    ) -> Result<(String, String), LoginError> {
        let provider = self.provider(id)?;
        let state = callback.state.as_deref().ok_or(LoginError::UnknownState)?;
        // Taken out whatever happens next: a state answers one callback only.
        let pending = self
            .pending
            .lock()
            .map_err(|_| poisoned())?
            .remove(state)
            .ok_or(LoginError::UnknownState)?;
        if pending.provider != id || pending.expires_at <= now || cookie_state != Some(state) {
            return Err(LoginError::UnknownState);
        }
        // RFC 9207: a provider that names itself must be the one asked (mix-up attacks).
        if callback
            .iss
            .as_deref()
            .is_some_and(|iss| iss != provider.config.issuer)
        {
            return Err(LoginError::Refused(
                "the answer came from another issuer".into(),
            ));
        }
        if let Some(error) = &callback.error {
            return Err(LoginError::Refused(error.clone()));
        }
        let code = callback
            .code
            .as_deref()
            .ok_or_else(|| LoginError::Refused("no code in the answer".into()))?;
        let id_token = self.redeem(provider, id, code, &pending.verifier)?;
        let context = provider
            .validator
            .validate(&id_token)
            .map_err(|e| LoginError::InvalidIdToken(e.to_string()))?;
        let attributes = context.attributes();
        if attributes.get("nonce").and_then(|v| v.as_str()) != Some(pending.nonce.as_str()) {
            return Err(LoginError::InvalidIdToken(
                "the nonce is not this login's".into(),
            ));
        }
        let azp = attributes.get("azp").and_then(|v| v.as_str());
        if context.audience().len() > 1 && azp != Some(provider.config.client_id.as_str()) {
            return Err(LoginError::InvalidIdToken(
                "several audiences and `azp` is not this server".into(),
            ));
        }
        let user_claim = provider.config.user_claim.as_deref().unwrap_or("sub");
        // `sub` is the context's subject; any other claim was copied as attribute `user`.
        let identity = match (user_claim, attributes.get("user")) {
            ("sub", _) => context.subject().map(str::to_owned),
            (_, Some(serde_json::Value::String(text))) => Some(text.clone()),
            _ => None,
        }
        .ok_or_else(|| {
            LoginError::InvalidIdToken(format!("claim `{user_claim}` is not a string"))
        })?;
        let user = provider
            .config
            .users
            .get(&identity)
            .filter(|user| self.local.as_ref().is_none_or(|local| local.exists(user)))
            .ok_or_else(|| LoginError::NotLinked(provider.config.name.clone()))?;
        let session = self.random_text()?;
        let login = Login {
            user: user.clone(),
            provider: id.to_owned(),
            expires_at: now.saturating_add(LOGIN_SECONDS),
        };
        let mut logins = self.logins.lock().map_err(|_| poisoned())?;
        logins.retain(|_, l| l.expires_at > now);
        if logins.len() >= MAX_LOGINS {
            return Err(LoginError::Provider(
                "too many logins at once: try again shortly".into(),
            ));
        }
        logins.insert(session.clone(), login);
        tracing::info!(provider = id, user = %user, "federated login");
        Ok((session, pending.return_to))
    }

    /// The login of a session id (the login cookie's value), while it lasts.
    pub(crate) fn logged_in(&self, session: &str, now: i64) -> Option<Login> {
        let logins = self.logins.lock().ok()?;
        logins.get(session).filter(|l| l.expires_at > now).cloned()
    }

    /// Whether this server is served over https (its cookies are then `Secure`).
    pub(crate) fn is_https(&self) -> bool {
        self.origin.starts_with("https://")
    }

    /// The callback URL registered at the provider.
    pub(crate) fn redirect_uri(&self, id: &str) -> String {
        format!("{}{}", self.origin, callback_path(id))
    }

    fn provider(&self, id: &str) -> Result<&Provider, LoginError> {
        self.providers
            .iter()
            .find(|p| p.config.id == id)
            .ok_or_else(|| LoginError::UnknownProvider(id.to_owned()))
    }

    /// The provider's metadata, discovered once.
    fn metadata(&self, provider: &Provider) -> Result<ProviderMetadata, LoginError> {
        if let Some(metadata) = provider.metadata.read().map_err(|_| poisoned())?.as_ref() {
            return Ok(metadata.clone());
        }
        let metadata = ProviderMetadata::fetch(&provider.config.issuer, self.fetcher.as_ref())
            .map_err(|e| LoginError::Provider(e.to_string()))?;
        *provider.metadata.write().map_err(|_| poisoned())? = Some(metadata.clone());
        Ok(metadata)
    }

    /// Exchanges the code at the provider's token endpoint; returns the ID token.
    fn redeem(
        &self,
        provider: &Provider,
        id: &str,
        code: &str,
        verifier: &str,
    ) -> Result<String, LoginError> {
        let metadata = self.metadata(provider)?;
        let endpoint = metadata
            .token_endpoint
            .ok_or_else(|| LoginError::Provider("it has no token endpoint".into()))?;
        // RFC 6749 2.3.1: both halves form-encoded before Basic.
        let encode =
            |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let basic = STANDARD.encode(format!(
            "{}:{}",
            encode(&provider.config.client_id),
            encode(&provider.config.client_secret.0)
        ));
        let redirect_uri = self.redirect_uri(id);
        let failed = |reason: String| LoginError::Provider(reason);
        let mut response = self
            .http
            .post(&endpoint)
            .header("Authorization", &format!("Basic {basic}"))
            .header("Accept", "application/json")
            .send_form([
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri.as_str()),
                ("code_verifier", verifier),
            ])
            .map_err(|e| failed(format!("token endpoint: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(256 * 1024)
            .read_to_string()
            .map_err(|e| failed(format!("token endpoint: {e}")))?;
        let json: serde_json::Value = serde_json::from_str(&body)
            .map_err(|_| failed(format!("token endpoint answered {status} without JSON")))?;
        if status != 200 {
            let error = json
                .get("error")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown");
            return Err(failed(format!(
                "token endpoint answered {status} `{error}`"
            )));
        }
        json.get("id_token")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                failed("no id_token in the token response (is `openid` asked for?)".into())
            })
    }

    /// 256 random bits, base64url.
    fn random_text(&self) -> Result<String, LoginError> {
        let mut bytes = [0u8; 32];
        self.random
            .fill(&mut bytes)
            .map_err(|_| LoginError::Provider("no randomness available".into()))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// The path that starts a login at provider `id`.
pub(crate) fn login_path(id: &str) -> String {
    format!("/oauth/federation/{id}/login")
}

/// The URL that starts a login at provider `id` and comes back to `return_to`.
pub(crate) fn login_link(id: &str, return_to: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    format!("{}?{query}", login_path(id))
}

/// The provider's redirect target.
pub(crate) fn callback_path(id: &str) -> String {
    format!("/oauth/federation/{id}/callback")
}

/// `path` if it is a path on this server (one leading `/`, no scheme, no `//` or `/\`
/// that a browser would read as another host); `/` otherwise.
fn local_path(path: &str) -> &str {
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(char::is_control);
    if local { path } else { "/" }
}

fn poisoned() -> LoginError {
    LoginError::Provider("internal lock poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(
            local_path("/authorize?client_id=a&x=%2F%2F"),
            "/authorize?client_id=a&x=%2F%2F"
        );
        assert_eq!(local_path("/"), "/");
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "",
            "authorize",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }

    #[derive(Debug)]
    struct Unreachable;

    impl JwksFetcher for Unreachable {
        fn fetch(&self, uri: &str) -> Result<String, smart_token::Error> {
            Err(smart_token::Error::Fetch {
                uri: uri.to_owned(),
                reason: "connection refused".into(),
            })
        }
    }

    fn federation() -> Federation {
        let config: IdentityProviderConfig = toml::from_str(
            r#"
            id = "hospital"
            name = "Hospital SSO"
            issuer = "https://idp.example"
            client_id = "fhir"
            client_secret = "s3cret"
            users = { "alice@idp" = "alice" }
            "#,
        )
        .unwrap();
        Federation::new(&[config], "http://127.0.0.1:8080", Arc::new(Unreachable))
    }

    #[test]
    fn unknown_states_and_providers_are_refused_before_any_network_call() {
        let federation = federation();
        let callback = |state: Option<&str>| Callback {
            code: Some("c".into()),
            state: state.map(str::to_owned),
            ..Callback::default()
        };
        assert_eq!(
            federation.finish("hospital", &callback(Some("made-up")), Some("made-up"), 0),
            Err(LoginError::UnknownState)
        );
        assert_eq!(
            federation.finish("hospital", &callback(None), None, 0),
            Err(LoginError::UnknownState)
        );
        assert_eq!(
            federation.finish("other", &callback(Some("s")), Some("s"), 0),
            Err(LoginError::UnknownProvider("other".into()))
        );
        let error = federation.start("hospital", "/", 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the identity provider could not complete the login: `https://idp.example/.well-known/openid-configuration` could not be fetched: connection refused"
        );
        assert_eq!(error.status(), 502);
        assert_eq!(federation.logged_in("nobody", 0), None);
    }

    #[test]
    fn links_start_a_login_and_come_back() {
        assert_eq!(
            federation().links("/authorize?client_id=a&state=b"),
            [(
                "Hospital SSO".to_owned(),
                "/oauth/federation/hospital/login?return_to=%2Fauthorize%3Fclient_id%3Da%26state%3Db".to_owned()
            )]
        );
    }

    #[test]
    fn the_secret_is_never_printed() {
        let printed = format!("{:?}", federation().providers[0].config);
        assert!(!printed.contains("s3cret"), "{printed}");
    }

    /// A provider offline: metadata and keys from a fetcher, the token endpoint a loopback
    /// socket answering each request with the next queued ID token.
    mod offline {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::mpsc;

        use super::*;
        use smart_token::{Algorithm, SigningKey};

        pub(super) const ISSUER: &str = "http://idp.test";

        #[derive(Debug)]
        struct Documents {
            metadata: String,
            jwks: String,
        }

        impl JwksFetcher for Documents {
            fn fetch(&self, uri: &str) -> Result<String, smart_token::Error> {
                match uri {
                    "http://idp.test/.well-known/openid-configuration" => Ok(self.metadata.clone()),
                    "http://idp.test/jwks" => Ok(self.jwks.clone()),
                    _ => Err(smart_token::Error::Fetch {
                        uri: uri.to_owned(),
                        reason: "404".into(),
                    }),
                }
            }
        }

        pub(super) fn key(kid: &str) -> SigningKey {
            let der =
                ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                    .unwrap();
            SigningKey::from_pkcs8(der.as_ref(), Algorithm::EdDSA, kid).unwrap()
        }

        /// The federation, and the queue of token responses (JSON bodies).
        pub(super) fn provider(key: &SigningKey) -> (Federation, mpsc::Sender<String>) {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let (send, receive) = mpsc::channel::<String>();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let Ok(body) = receive.recv() else { return };
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(value) =
                            line.to_ascii_lowercase().strip_prefix("content-length:")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut request = vec![0; length];
                    reader.read_exact(&mut request).unwrap();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    stream.write_all(answer.as_bytes()).unwrap();
                }
            });
            let documents = Documents {
                metadata: serde_json::json!({
                    "issuer": ISSUER,
                    "jwks_uri": "http://idp.test/jwks",
                    "authorization_endpoint": "http://idp.test/auth",
                    "token_endpoint": format!("http://127.0.0.1:{port}/token"),
                })
                .to_string(),
                jwks: serde_json::json!({"keys": [key.public_jwk()]}).to_string(),
            };
            let config: IdentityProviderConfig = toml::from_str(
                r#"
                id = "idp"
                name = "Test IdP"
                issuer = "http://idp.test"
                client_id = "fhir"
                client_secret = "secret"
                users = { "alice@idp" = "alice" }
                "#,
            )
            .unwrap();
            let federation =
                Federation::new(&[config], "http://127.0.0.1:8080", Arc::new(documents));
            (federation, send)
        }
    }

    /// Starts a login; answers its callback with an ID token of `claims` (the login's nonce
    /// filled in where `claims` has `"nonce": "LOGIN"`), signed by `key`.
    fn round_trip(
        federation: &Federation,
        tokens: &std::sync::mpsc::Sender<String>,
        key: &smart_token::SigningKey,
        mut claims: serde_json::Value,
        iss: Option<&str>,
    ) -> Result<String, LoginError> {
        let now = chrono::Utc::now().timestamp();
        let started = federation.start("idp", "/authorize?x=1", now).unwrap();
        let query = started.location.split_once('?').unwrap().1;
        let nonce = form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "nonce")
            .unwrap()
            .1
            .into_owned();
        if claims["nonce"] == "LOGIN" {
            claims["nonce"] = serde_json::Value::String(nonce);
        }
        let token = key.sign(None, &claims).unwrap();
        tokens
            .send(serde_json::json!({"id_token": token, "token_type": "Bearer"}).to_string())
            .unwrap();
        let callback = Callback {
            code: Some("code".into()),
            state: Some(started.state.clone()),
            error: None,
            iss: iss.map(str::to_owned),
        };
        federation
            .finish("idp", &callback, Some(&started.state), now)
            .map(|(session, return_to)| {
                assert_eq!(return_to, "/authorize?x=1");
                federation.logged_in(&session, now).unwrap().user
            })
    }

    #[test]
    fn id_tokens_are_checked_before_anyone_is_logged_in() {
        let key = offline::key("k1");
        let (federation, tokens) = offline::provider(&key);
        let now = chrono::Utc::now().timestamp();
        let claims = |changes: serde_json::Value| {
            let mut claims = serde_json::json!({
                "iss": offline::ISSUER, "aud": "fhir", "sub": "alice@idp", "nonce": "LOGIN",
                "iat": now, "exp": now + 300,
            });
            for (name, value) in changes.as_object().unwrap() {
                claims[name] = value.clone();
            }
            claims
        };
        let login = |claims, iss| round_trip(&federation, &tokens, &key, claims, iss);
        assert_eq!(
            login(claims(serde_json::json!({})), None),
            Ok("alice".to_owned())
        );
        assert_eq!(
            login(claims(serde_json::json!({})), Some(offline::ISSUER)),
            Ok("alice".to_owned())
        );
        assert_eq!(
            login(
                claims(serde_json::json!({"nonce": "another login's"})),
                None
            ),
            Err(LoginError::InvalidIdToken(
                "the nonce is not this login's".into()
            ))
        );
        assert_eq!(
            login(
                claims(serde_json::json!({"aud": ["fhir", "other-app"]})),
                None
            ),
            Err(LoginError::InvalidIdToken(
                "several audiences and `azp` is not this server".into()
            ))
        );
        assert_eq!(
            login(
                claims(serde_json::json!({"aud": ["fhir", "other-app"], "azp": "fhir"})),
                None
            ),
            Ok("alice".to_owned())
        );
        assert_eq!(
            login(claims(serde_json::json!({"aud": "other-app"})), None),
            Err(LoginError::InvalidIdToken(
                "the token's audience does not include this server".into()
            ))
        );
        assert_eq!(
            login(claims(serde_json::json!({"sub": "mallory@idp"})), None),
            Err(LoginError::NotLinked("Test IdP".into()))
        );
        assert_eq!(
            login(claims(serde_json::json!({"exp": now - 3600})), None),
            Err(LoginError::InvalidIdToken(format!(
                "token expired at {}; it is now {now}",
                now - 3600
            )))
        );
        // RFC 9207: an answer naming another issuer is refused before the code is used.
        let started = federation.start("idp", "/", now).unwrap();
        let mixed_up = Callback {
            code: Some("code".into()),
            state: Some(started.state.clone()),
            error: None,
            iss: Some("https://evil.test".into()),
        };
        assert_eq!(
            federation.finish("idp", &mixed_up, Some(&started.state), now),
            Err(LoginError::Refused(
                "the answer came from another issuer".into()
            ))
        );
        // A token signed by a key the provider does not publish.
        let forged = round_trip(
            &federation,
            &tokens,
            &offline::key("k1"),
            claims(serde_json::json!({})),
            None,
        );
        assert_eq!(
            forged,
            Err(LoginError::InvalidIdToken("invalid signature".into()))
        );
    }
}
