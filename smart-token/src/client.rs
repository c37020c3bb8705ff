//! Registered clients: public or confidential, how each authenticates, where it may
//! redirect, which grants and scopes it may use, and how long its tokens live.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use fhir_scopes::ScopeSet;

use crate::{ClientSecret, Error, KeySource};

/// An OAuth 2.0 grant type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// `authorization_code`, always with PKCE.
    AuthorizationCode,
    /// `refresh_token`.
    RefreshToken,
    /// `client_credentials` (SMART Backend Services).
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
    DeviceCode,
}

impl GrantType {
    /// The `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// The grant type a `grant_type` value names.
    pub fn from_name(name: &str) -> Option<GrantType> {
        [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::DeviceCode,
        ]
        .into_iter()
        .find(|grant| grant.as_str() == name)
    }
}

/// How a client authenticates at the token endpoint (`token_endpoint_auth_method`).
#[derive(Clone, Debug)]
pub enum ClientAuth {
    /// A public client: no secret (`none`); it must use PKCE.
    None,
    /// A secret in HTTP Basic (`client_secret_basic`).
    SecretBasic(ClientSecret),
    /// A secret in the form body (`client_secret_post`).
    SecretPost(ClientSecret),
    /// A JWT signed with the client's key (`private_key_jwt`, SMART Backend Services).
    PrivateKeyJwt(KeySource),
}

impl ClientAuth {
    /// The `token_endpoint_auth_method` value.
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::SecretBasic(_) => "client_secret_basic",
            ClientAuth::SecretPost(_) => "client_secret_post",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
        }
    }
}

/// A registered client.
///
/// ```
/// use fhir_scopes::ScopeSet;
/// use smart_token::{Client, ClientAuth, GrantType};
///
/// let app = Client::new("growth-chart", ClientAuth::None)
///     .redirect_uri("https://app.example/callback")
///     .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
///     .scopes(ScopeSet::parse("launch/patient openid fhirUser offline_access patient/*.rs")?);
/// assert!(app.is_public());
/// assert!(app.redirect_uri_matches("https://app.example/callback"));
/// assert!(!app.redirect_uri_matches("https://app.example/callback/"));
///
/// // A native app's loopback URI, registered without a port, takes any port (RFC 8252).
/// let native = Client::new("cli", ClientAuth::None).redirect_uri("http://127.0.0.1/cb");
/// assert!(native.redirect_uri_matches("http://127.0.0.1:51004/cb"));
/// assert!(!native.redirect_uri_matches("http://127.0.0.1:51004/cb/../evil"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) id: String,
    pub(crate) auth: ClientAuth,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) grant_types: Vec<GrantType>,
    pub(crate) scopes: ScopeSet,
    pub(crate) access_token_lifetime: u32,
    pub(crate) refresh_token_lifetime: u32,
    pub(crate) name: Option<String>,
    pub(crate) claims: serde_json::Map<String, serde_json::Value>,
}

impl Client {
    /// A client with no redirect URI, no grant type and no scope: it can do nothing until
    /// given them. Token lifetimes default to 1 hour (access) and 90 days (refresh).
    pub fn new(id: impl Into<String>, auth: ClientAuth) -> Client {
        Client {
            id: id.into(),
            auth,
            redirect_uris: Vec::new(),
            grant_types: Vec::new(),
            scopes: ScopeSet::default(),
            access_token_lifetime: 3600,
            refresh_token_lifetime: 90 * 24 * 3600,
            name: None,
            claims: serde_json::Map::new(),
        }
    }

    /// Adds a redirect URI, matched exactly (no prefix, case or trailing-slash leeway).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Client {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Sets the allowed grant types.
    pub fn grant_types(mut self, grants: impl IntoIterator<Item = GrantType>) -> Client {
        self.grant_types = grants.into_iter().collect();
        self
    }

    /// Sets the scopes the client may be granted (the upper bound of every negotiation).
    pub fn scopes(mut self, scopes: ScopeSet) -> Client {
        self.scopes = scopes;
        self
    }

    /// Sets the access token lifetime, in seconds. Defaults to 3600.
    pub fn access_token_lifetime(mut self, seconds: u32) -> Client {
        self.access_token_lifetime = seconds;
        self
    }

    /// Sets the refresh token lifetime, in seconds. Defaults to 90 days.
    pub fn refresh_token_lifetime(mut self, seconds: u32) -> Client {
        self.refresh_token_lifetime = seconds;
        self
    }

    /// Sets a human-readable name.
    pub fn name(mut self, name: impl Into<String>) -> Client {
        self.name = Some(name.into());
        self
    }

    /// Claims about the client itself for its `client_credentials` tokens (no user speaks
    /// for a backend service), such as the `roles` a server's policy reads. They never
    /// replace a claim the issuer sets. Defaults to none.
    pub fn claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Client {
        self.claims = claims;
        self
    }

    /// The client's own claims (see [`Client::claims`]).
    pub fn token_claims(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.claims
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How the client authenticates.
    pub fn auth(&self) -> &ClientAuth {
        &self.auth
    }

    /// Whether the client is public (no credentials).
    pub fn is_public(&self) -> bool {
        matches!(self.auth, ClientAuth::None)
    }

    /// The scopes the client may be granted.
    pub fn allowed_scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether `uri` is exactly one of the registered redirect URIs.
    ///
    /// One exception, for native apps (RFC 8252 §7.3): a registered loopback URI without a
    /// port (`http://127.0.0.1/callback`, `http://[::1]/callback`) matches the same URI with
    /// any port, since the app listens on whatever port it gets. Everything else about it
    /// (scheme, address, path, query) must match exactly; `localhost` gets no such leeway.
    pub fn redirect_uri_matches(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri || loopback_with_port(registered, uri))
    }

    /// The human-readable name, if one was set.
    pub fn display_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The registered redirect URIs.
    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }
}

/// Whether `uri` is the portless loopback URI `registered` with a port added.
fn loopback_with_port(registered: &str, uri: &str) -> bool {
    ["http://127.0.0.1", "http://[::1]"].iter().any(|host| {
        let (Some(registered_path), Some(rest)) =
            (registered.strip_prefix(host), uri.strip_prefix(host))
        else {
            return false;
        };
        let Some(rest) = rest.strip_prefix(':') else {
            return false;
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (port, path) = rest.split_at(digits);
        // A registered URI with a port of its own must match exactly.
        !registered_path.starts_with(':')
            && (registered_path.is_empty() || registered_path.starts_with('/'))
            && (1..=5).contains(&port.len())
            && port.parse::<u16>().is_ok_and(|port| port != 0)
            && path == registered_path
    })
}

/// Where the authorization server looks clients up. The server implements it on its
/// database, which has its own way of adding clients (registration documents, approval);
/// the crate ships [`MemoryClients`].
pub trait ClientStore: Send + Sync + fmt::Debug {
    /// The client with this id.
    fn client(&self, id: &str) -> Result<Option<Arc<Client>>, Error>;
}

/// A thread-safe in-memory [`ClientStore`].
#[derive(Debug, Default)]
pub struct MemoryClients {
    clients: RwLock<HashMap<String, Arc<Client>>>,
}

impl MemoryClients {
    /// Adds or replaces a client.
    pub fn register(&self, client: Client) -> Result<(), Error> {
        let mut clients = self.clients.write().map_err(|_| poisoned())?;
        clients.insert(client.id.clone(), Arc::new(client));
        Ok(())
    }
}

impl ClientStore for MemoryClients {
    fn client(&self, id: &str) -> Result<Option<Arc<Client>>, Error> {
        let clients = self.clients.read().map_err(|_| poisoned())?;
        Ok(clients.get(id).cloned())
    }
}

fn poisoned() -> Error {
    Error::Storage("client store lock poisoned by a panic elsewhere".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirect_uris_take_any_port_and_nothing_else() {
        let client = Client::new("native", ClientAuth::None)
            .redirect_uri("http://127.0.0.1/callback")
            .redirect_uri("http://[::1]/")
            .redirect_uri("http://127.0.0.1:8000/fixed");
        for accepted in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:1/callback",
            "http://127.0.0.1:65535/callback",
            "http://[::1]:4000/",
            "http://127.0.0.1:8000/fixed",
        ] {
            assert!(client.redirect_uri_matches(accepted), "{accepted}");
        }
        for refused in [
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:123456/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:80/callback/",
            "http://127.0.0.1:80/callback?x=1",
            "http://127.0.0.1:80/callbackx",
            "http://127.0.0.1:80@evil.example/callback",
            "http://127.0.0.1.evil.example:80/callback",
            "https://127.0.0.1:80/callback",
            "http://localhost:80/callback",
            "http://127.0.0.2:80/callback",
            "http://127.0.0.1:9000/fixed",
            "http://[::1]:4000",
            "http://[::1]:4000/x",
        ] {
            assert!(!client.redirect_uri_matches(refused), "{refused}");
        }
    }
}
