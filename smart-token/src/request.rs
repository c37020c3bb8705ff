//! The messages of the authorization server: authorization and token requests as the
//! server received them (form fields, the `Authorization` header), and the JSON answers.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::Error;

/// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, the only assertion type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Parameters whose values are secrets: `Debug` shows only whether they are present.
const SECRET_PARAMETERS: [&str; 7] = [
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "device_code",
    "authorization",
];

/// Writes `Some(..)` for a present secret, so logs never hold one.
fn redacted<'a>(name: &str, value: &'a Option<String>) -> &'a dyn fmt::Debug {
    match value {
        Some(_) if SECRET_PARAMETERS.contains(&name) => &Some("<redacted>"),
        _ => value,
    }
}

macro_rules! form_struct {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: Option<String>,)*
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), redacted(stringify!($field), &self.$field)))*
                    .finish()
            }
        }

        impl $name {
            /// Reads the parameters from decoded form or query pairs. A parameter sent twice
            /// is an error (RFC 6749 §3.1, §3.2); unknown parameters are ignored.
            pub fn from_pairs<K: AsRef<str>, V: Into<String>>(
                pairs: impl IntoIterator<Item = (K, V)>,
            ) -> Result<$name, Error> {
                let mut request = $name::default();
                for (name, value) in pairs {
                    let slot = match name.as_ref() {
                        $(stringify!($field) => &mut request.$field,)*
                        _ => continue,
                    };
                    if slot.is_some() {
                        return Err(Error::InvalidRequest(format!("parameter `{}` was sent twice", name.as_ref())));
                    }
                    *slot = Some(value.into());
                }
                Ok(request)
            }
        }
    };
}

form_struct!(
    /// An authorization request (RFC 6749 §4.1.1 with PKCE and SMART's `aud` and `launch`).
    AuthorizationRequest {
        /// Must be `code`.
        response_type,
        /// The client.
        client_id,
        /// Must exactly match a registered URI.
        redirect_uri,
        /// The requested scopes.
        scope,
        /// Returned unchanged with the code.
        state,
        /// SMART: the FHIR server the token is for.
        aud,
        /// PKCE S256 challenge.
        code_challenge,
        /// Must be `S256`.
        code_challenge_method,
        /// OpenID Connect nonce.
        nonce,
        /// SMART EHR launch: the opaque launch id.
        launch,
    }
);

form_struct!(
    /// A token request (RFC 6749 §4.1.3, §4.4, §6, RFC 7523, RFC 8628), plus the
    /// `Authorization` header for `client_secret_basic` in `authorization`.
    TokenRequest {
        /// The grant type.
        grant_type,
        /// authorization_code: the code.
        code,
        /// authorization_code: the redirect URI of the authorization request.
        redirect_uri,
        /// authorization_code: the PKCE verifier.
        code_verifier,
        /// refresh_token: the refresh token.
        refresh_token,
        /// refresh_token and client_credentials: the requested scopes.
        scope,
        /// Public clients and client_secret_post.
        client_id,
        /// client_secret_post.
        client_secret,
        /// private_key_jwt: must be [`JWT_BEARER`].
        client_assertion_type,
        /// private_key_jwt: the signed assertion.
        client_assertion,
        /// Device grant: the device code.
        device_code,
        /// The HTTP `Authorization` header, for client_secret_basic (set by the server,
        /// never read from the form).
        authorization,
    }
);

impl TokenRequest {
    /// Sets the `Authorization` header value.
    pub fn with_authorization_header(mut self, header: Option<&str>) -> TokenRequest {
        self.authorization = header.map(str::to_owned);
        self
    }
}

/// A successful token response (RFC 6749 §5.1 with SMART's launch context). `Debug`
/// leaves the tokens out.
#[derive(Clone, PartialEq, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u32,
    /// The granted scopes.
    pub scope: String,
    /// A refresh token, if the grant includes `offline_access` or `online_access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An OpenID Connect id_token, if `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The patient in context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// The encounter in context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    /// SMART `fhirContext`.
    #[serde(rename = "fhirContext", skip_serializing_if = "Vec::is_empty")]
    pub fhir_context: Vec<Value>,
}

/// An RFC 7662 introspection response with the SMART fields. An inactive token is
/// `{"active": false}` and nothing else.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Introspection {
    /// Whether the token is live.
    pub active: bool,
    /// The granted scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Patient in context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// Encounter in context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    /// The user.
    #[serde(rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
}

/// What the authorization endpoint answers once the user approved: where to send the
/// browser. `Debug` leaves the code out.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// The code (single use, short-lived).
    pub code: String,
    /// The registered redirect URI with `code` and `state` appended.
    pub redirect: String,
}

/// A device authorization response (RFC 8628 §3.2). `Debug` leaves the device code out.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct DeviceAuthorization {
    /// The code the device polls with.
    pub device_code: String,
    /// The code the user types, `XXXX-XXXX`.
    pub user_code: String,
    /// Where the user goes.
    pub verification_uri: String,
    /// The same with the user code filled in.
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: u32,
    /// Seconds between polls.
    pub interval: u32,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .field("patient", &self.patient)
            .field("encounter", &self.encounter)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCode").finish_non_exhaustive()
    }
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_secrets() {
        let request = TokenRequest::from_pairs([
            ("grant_type", "authorization_code"),
            ("code", "the-code"),
            ("code_verifier", "the-verifier"),
            ("client_id", "app"),
            ("client_secret", "the-secret"),
        ])
        .unwrap()
        .with_authorization_header(Some("Basic dGhlLWJhc2lj"));
        let debug = format!("{request:?}");
        for secret in ["the-code", "the-verifier", "the-secret", "dGhlLWJhc2lj"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("client_id: Some(\"app\")"), "{debug}");
        assert!(debug.contains("code: Some(\"<redacted>\")"), "{debug}");
    }
}
