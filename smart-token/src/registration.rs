//! Dynamic client registration (RFC 7591): the metadata a client sends, the rules it must
//! meet, and the registered client it becomes.

use fhir_scopes::{Level, ScopeSet};
use serde::Deserialize;

use crate::{Client, ClientAuth, ClientSecret, Error, GrantType, KeySet, KeySource, secret};

/// Client metadata as sent to a registration endpoint. Unknown members are ignored, as
/// RFC 7591 §2 requires.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    /// Where the authorization server may send codes.
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt`. Defaults
    /// to `client_secret_basic` (RFC 7591 §2).
    pub token_endpoint_auth_method: Option<String>,
    /// Defaults to `["authorization_code"]`.
    pub grant_types: Option<Vec<String>>,
    /// Defaults to `["code"]`.
    pub response_types: Option<Vec<String>>,
    /// The scopes the client may ask for, space-separated.
    pub scope: Option<String>,
    /// The client's public keys, inline.
    pub jwks: Option<serde_json::Value>,
    /// Where the client's public keys are published.
    pub jwks_uri: Option<String>,
    /// A human-readable name.
    pub client_name: Option<String>,
}

/// The outcome of a registration: the client, and the secret to return to it once.
/// `Debug` leaves the secret out.
pub struct Registration {
    /// The registered client.
    pub client: Client,
    /// The `client_secret` for `client_secret_basic`/`client_secret_post` clients, shown
    /// once; only its hash is kept.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("client", &self.client)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ClientMetadata {
    /// Checks the metadata against RFC 7591 and SMART, and builds the client with a new
    /// random id. `allowed` bounds the scopes any registered client may have; `fetcher`
    /// reads a `jwks_uri` (none: `jwks_uri` is refused).
    ///
    /// Rules: redirect URIs are absolute, without fragment or wildcard, `https` (or `http`
    /// on a loopback host, or a private-use scheme containing a dot, RFC 8252); an
    /// authorization-code client has at least one; grant and response types agree;
    /// `client_credentials` needs a confidential client and only it may have `system/`
    /// scopes; `private_key_jwt` needs exactly one of `jwks` and an `https` `jwks_uri`.
    pub fn register(
        self,
        allowed: &ScopeSet,
        fetcher: Option<std::sync::Arc<dyn crate::JwksFetcher>>,
    ) -> Result<Registration, Error> {
        let invalid = |reason: &str| Error::InvalidClientMetadata(reason.to_owned());
        let grants = match &self.grant_types {
            None => vec![GrantType::AuthorizationCode],
            Some(names) => names
                .iter()
                .map(|name| {
                    GrantType::from_name(name).ok_or_else(|| invalid("unsupported grant type"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let response_types = self
            .response_types
            .clone()
            .unwrap_or_else(|| vec!["code".into()]);
        if response_types.iter().any(|t| t != "code") {
            return Err(invalid("only the `code` response type is supported"));
        }
        let uses_code = grants.contains(&GrantType::AuthorizationCode);
        if uses_code != response_types.iter().any(|t| t == "code") && self.response_types.is_some()
        {
            return Err(invalid(
                "`authorization_code` and the `code` response type go together",
            ));
        }
        if uses_code && self.redirect_uris.is_empty() {
            return Err(invalid(
                "an authorization-code client needs at least one redirect URI",
            ));
        }
        for uri in &self.redirect_uris {
            check_redirect_uri(uri)?;
        }
        let method = self
            .token_endpoint_auth_method
            .as_deref()
            .unwrap_or("client_secret_basic");
        let mut client_secret = None;
        let auth = match method {
            "none" => ClientAuth::None,
            "client_secret_basic" | "client_secret_post" => {
                let (secret, stored) = ClientSecret::generate()?;
                client_secret = Some(secret);
                if method == "client_secret_basic" {
                    ClientAuth::SecretBasic(stored)
                } else {
                    ClientAuth::SecretPost(stored)
                }
            }
            "private_key_jwt" => ClientAuth::PrivateKeyJwt(match (&self.jwks, &self.jwks_uri) {
                (Some(jwks), None) => {
                    let keys = KeySet::from_jwks(&jwks.to_string())?;
                    if keys.is_empty() {
                        return Err(invalid("`jwks` has no usable signing key"));
                    }
                    KeySource::fixed(keys)
                }
                (None, Some(uri)) => {
                    if !uri.starts_with("https://") {
                        return Err(invalid("`jwks_uri` must be https"));
                    }
                    let fetcher = fetcher
                        .ok_or_else(|| invalid("`jwks_uri` is not supported here; send `jwks`"))?;
                    KeySource::remote(uri.clone(), fetcher)
                }
                (Some(_), Some(_)) => return Err(invalid("send `jwks` or `jwks_uri`, not both")),
                (None, None) => {
                    return Err(invalid("`private_key_jwt` needs `jwks` or `jwks_uri`"));
                }
            }),
            _ => return Err(invalid("unsupported `token_endpoint_auth_method`")),
        };
        if !matches!(auth, ClientAuth::PrivateKeyJwt(_))
            && (self.jwks.is_some() || self.jwks_uri.is_some())
        {
            return Err(invalid(
                "`jwks` and `jwks_uri` are only for `private_key_jwt`",
            ));
        }
        let public = matches!(auth, ClientAuth::None);
        if public && grants.contains(&GrantType::ClientCredentials) {
            return Err(invalid("`client_credentials` needs a confidential client"));
        }
        let requested = match &self.scope {
            Some(text) => ScopeSet::parse(text)
                .map_err(|e| Error::InvalidClientMetadata(format!("scope: {e}")))?,
            None => ScopeSet::default(),
        };
        let system = requested
            .resources()
            .any(|scope| scope.level() == Level::System);
        if system && !grants.contains(&GrantType::ClientCredentials) {
            return Err(invalid(
                "`system/` scopes are only for `client_credentials` clients",
            ));
        }
        if let Some(scope) = requested.iter().find(|scope| !allowed.covers(scope)) {
            return Err(Error::InvalidClientMetadata(format!(
                "scope `{scope}` is not offered"
            )));
        }
        let mut client = Client::new(secret::random_token()?, auth)
            .grant_types(grants)
            .scopes(requested);
        client.redirect_uris = self.redirect_uris;
        client.name = self.client_name;
        Ok(Registration {
            client,
            client_secret,
        })
    }
}

/// RFC 6749 §3.1.2 and RFC 8252: absolute, no fragment, no wildcard; `https`, or `http` on
/// a loopback address, or a private-use scheme with a dot (`com.example.app:/cb`).
fn check_redirect_uri(uri: &str) -> Result<(), Error> {
    let invalid =
        |reason: &str| Error::InvalidClientMetadata(format!("redirect URI `{uri}`: {reason}"));
    let (scheme, rest) = uri
        .split_once(':')
        .ok_or_else(|| invalid("not an absolute URI"))?;
    if scheme.is_empty()
        || !scheme.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        })
    {
        return Err(invalid("not an absolute URI with a lowercase scheme"));
    }
    if uri.contains('#') {
        return Err(invalid("must not have a fragment"));
    }
    if uri.contains('*') {
        return Err(invalid("must not contain wildcards"));
    }
    if uri
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(invalid("must not contain spaces or control characters"));
    }
    let authority = rest.strip_prefix("//").map(|after| {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        after.get(..end).unwrap_or_default()
    });
    if authority.is_some_and(|a| a.contains('@')) {
        return Err(invalid("must not contain user information"));
    }
    match (scheme, authority) {
        ("https", Some(host)) if !host.is_empty() => Ok(()),
        ("http", Some(host)) => {
            let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
            if matches!(name, "127.0.0.1" | "[::1]" | "localhost") {
                Ok(())
            } else {
                Err(invalid("`http` is only for loopback addresses"))
            }
        }
        ("https" | "http", _) => Err(invalid("has no host")),
        (private, _) if private.contains('.') => Ok(()),
        _ => Err(invalid(
            "use `https`, loopback `http`, or a private-use scheme such as `com.example.app`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(uri: &str) -> String {
        check_redirect_uri(uri).unwrap_err().to_string()
    }

    #[test]
    fn redirect_uri_rules() {
        for good in [
            "https://app.example/callback",
            "https://app.example:8443/cb?x=1",
            "http://127.0.0.1:51004/cb",
            "http://localhost/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        assert_eq!(
            error("http://app.example/cb"),
            "invalid client metadata: redirect URI `http://app.example/cb`: `http` is only for loopback addresses"
        );
        assert_eq!(
            error("https://app.example/cb#frag"),
            "invalid client metadata: redirect URI `https://app.example/cb#frag`: must not have a fragment"
        );
        assert_eq!(
            error("https://*.example/cb"),
            "invalid client metadata: redirect URI `https://*.example/cb`: must not contain wildcards"
        );
        assert_eq!(
            error("https://app.example@evil.example/cb"),
            "invalid client metadata: redirect URI `https://app.example@evil.example/cb`: must not contain user information"
        );
        assert_eq!(
            error("/relative/cb"),
            "invalid client metadata: redirect URI `/relative/cb`: not an absolute URI"
        );
        assert_eq!(
            error("myapp:/cb"),
            "invalid client metadata: redirect URI `myapp:/cb`: use `https`, loopback `http`, or a private-use scheme such as `com.example.app`"
        );
        assert_eq!(
            error("https:///cb"),
            "invalid client metadata: redirect URI `https:///cb`: has no host"
        );
        assert_eq!(
            error("javascript:alert(1)"),
            "invalid client metadata: redirect URI `javascript:alert(1)`: use `https`, loopback `http`, or a private-use scheme such as `com.example.app`"
        );
    }
}
