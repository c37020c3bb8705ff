//! Provider metadata (OpenID Connect Discovery 1.0, RFC 8414): where an issuer publishes its
//! keys and endpoints, read from `<issuer>/.well-known/openid-configuration` and checked to
//! be the issuer's own.

use serde::Deserialize;

use crate::{Error, JwksFetcher};

/// The members of a provider's metadata that a resource server and a relying party use.
///
/// ```
/// use smart_token::ProviderMetadata;
///
/// let document = r#"{"issuer": "https://idp.example.org",
///     "jwks_uri": "https://idp.example.org/jwks",
///     "authorization_endpoint": "https://idp.example.org/auth",
///     "token_endpoint": "https://idp.example.org/token"}"#;
/// let metadata = ProviderMetadata::from_json(document, "https://idp.example.org")?;
/// assert_eq!(metadata.jwks_uri, "https://idp.example.org/jwks");
/// assert_eq!(
///     ProviderMetadata::discovery_url("https://idp.example.org/realms/staff/"),
///     "https://idp.example.org/realms/staff/.well-known/openid-configuration"
/// );
/// // Metadata served for another issuer is refused (OpenID Connect Discovery, section 4.3).
/// assert!(ProviderMetadata::from_json(document, "https://evil.example").is_err());
/// # Ok::<(), smart_token::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer, equal to the one asked for.
    pub issuer: String,
    /// The JWKS URL (http or https).
    pub jwks_uri: String,
    /// The authorization endpoint, if the provider has one.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint, if the provider has one.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// The PKCE methods the provider says it supports (empty: it does not say).
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

impl ProviderMetadata {
    /// The discovery document's URL for `issuer`: the issuer without a trailing `/`, then
    /// `/.well-known/openid-configuration`.
    pub fn discovery_url(issuer: &str) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }

    /// Reads a discovery document and checks that it names `issuer` exactly and that every
    /// URL in it is http or https (https only when the issuer is https).
    pub fn from_json(json: &str, issuer: &str) -> Result<ProviderMetadata, Error> {
        let metadata: ProviderMetadata = serde_json::from_str(json)
            .map_err(|e| Error::InvalidMetadata(format!("not provider metadata: {e}")))?;
        if metadata.issuer != issuer {
            return Err(Error::InvalidMetadata(format!(
                "the document is for issuer `{}`, not `{issuer}`",
                metadata.issuer
            )));
        }
        let urls = [
            ("jwks_uri", Some(&metadata.jwks_uri)),
            (
                "authorization_endpoint",
                metadata.authorization_endpoint.as_ref(),
            ),
            ("token_endpoint", metadata.token_endpoint.as_ref()),
        ];
        // An https issuer's keys and endpoints are https too: one plain-http URL would let
        // anyone on the path swap the keys.
        let https_only = issuer.starts_with("https://");
        for (member, url) in urls {
            if let Some(url) = url {
                if https_only && !url.starts_with("https://") {
                    return Err(Error::InvalidMetadata(format!(
                        "`{member}` `{url}` is not an https URL, as the issuer is"
                    )));
                }
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(Error::InvalidMetadata(format!(
                        "`{member}` `{url}` is not an http or https URL"
                    )));
                }
            }
        }
        Ok(metadata)
    }

    /// Fetches and checks the metadata of `issuer`.
    pub fn fetch(issuer: &str, fetcher: &dyn JwksFetcher) -> Result<ProviderMetadata, Error> {
        let body = fetcher.fetch(&ProviderMetadata::discovery_url(issuer))?;
        ProviderMetadata::from_json(&body, issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_documents_are_typed_errors() {
        let cases = [
            (
                "42",
                "invalid provider metadata: not provider metadata: invalid type: integer `42`, expected struct ProviderMetadata at line 1 column 2",
            ),
            (
                r#"{"issuer": "https://a"}"#,
                "invalid provider metadata: not provider metadata: missing field `jwks_uri` at line 1 column 23",
            ),
            (
                r#"{"issuer": "https://a/", "jwks_uri": "https://a/k"}"#,
                "invalid provider metadata: the document is for issuer `https://a/`, not `https://a`",
            ),
            (
                r#"{"issuer": "https://a", "jwks_uri": "file:///etc/passwd"}"#,
                "invalid provider metadata: `jwks_uri` `file:///etc/passwd` is not an https URL, as the issuer is",
            ),
            (
                r#"{"issuer": "https://a", "jwks_uri": "http://a/k"}"#,
                "invalid provider metadata: `jwks_uri` `http://a/k` is not an https URL, as the issuer is",
            ),
            (
                r#"{"issuer": "https://a", "jwks_uri": "https://a/k", "token_endpoint": "javascript:x"}"#,
                "invalid provider metadata: `token_endpoint` `javascript:x` is not an https URL, as the issuer is",
            ),
        ];
        for (document, message) in cases {
            let error = ProviderMetadata::from_json(document, "https://a").unwrap_err();
            assert_eq!(error.to_string(), message, "{document}");
            assert_eq!(error.code(), "invalid_metadata");
            assert_eq!(error.http_status(), 500);
        }
        // A plain-http issuer (a development provider on loopback) may name http URLs, and
        // still no other scheme.
        let local =
            r#"{"issuer": "http://127.0.0.1:4000", "jwks_uri": "http://127.0.0.1:4000/jwks"}"#;
        assert!(ProviderMetadata::from_json(local, "http://127.0.0.1:4000").is_ok());
        let error = ProviderMetadata::from_json(
            r#"{"issuer": "http://i", "jwks_uri": "ftp://i/k"}"#,
            "http://i",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid provider metadata: `jwks_uri` `ftp://i/k` is not an http or https URL"
        );
    }
}
