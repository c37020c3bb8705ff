//! Issuing tokens: SMART access tokens (RFC 9068 JWTs) and OpenID Connect id_tokens, signed
//! with the server's key, and the JWKS that publishes it.

use std::sync::Arc;

use fhir_scopes::{Identity, ScopeSet};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{Algorithm, Clock, Error, Jwk, KeySet, KeySource, SigningKey, TrustedIssuer, secret};

/// The launch context a grant carries into its tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LaunchContext {
    /// The patient in context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// The encounter in context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    /// The user as a FHIR resource URL (`Practitioner/123`).
    #[serde(default, rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
    /// SMART `fhirContext` entries.
    #[serde(default, rename = "fhirContext", skip_serializing_if = "Vec::is_empty")]
    pub fhir_context: Vec<Value>,
}

/// What a grant authorizes: which client, for which user, which scopes, which context.
/// Serialisable, so that a server can keep codes and refresh tokens in its database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The client.
    pub client_id: String,
    /// The user (`sub`); `None` for a backend service.
    pub subject: Option<String>,
    /// The granted scopes.
    pub scopes: ScopeSet,
    /// The launch context.
    pub launch: LaunchContext,
    /// Further claims about the user for the access token, such as `roles` and the
    /// attributes a policy reads. They never replace a claim the issuer sets itself
    /// (`iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id`, `scope`, the launch context).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub claims: Map<String, Value>,
}

/// A signed access token and what is needed to revoke it. `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: i64,
}

/// Signs the server's tokens and publishes its keys.
///
/// ```
/// use std::sync::Arc;
/// use fhir_scopes::ScopeSet;
/// use smart_token::{Algorithm, FixedClock, Grant, LaunchContext, SigningKey, TokenIssuer, Validator};
///
/// let clock = Arc::new(FixedClock::new(1_700_000_000));
/// let issuer = TokenIssuer::new("https://as.example", "https://fhir.example", SigningKey::generate(Algorithm::ES256, "k1")?, clock.clone());
/// let grant = Grant {
///     client_id: "app".into(),
///     subject: Some("alice".into()),
///     scopes: ScopeSet::parse("patient/Observation.rs")?,
///     launch: LaunchContext { patient: Some("123".into()), ..LaunchContext::default() },
///     claims: Default::default(),
/// };
/// let issued = issuer.access_token(&grant, 300)?;
/// let validator = Validator::new([issuer.trusted_issuer()?]).clock(clock);
/// assert_eq!(validator.validate(&issued.token)?.patient(), Some("123"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TokenIssuer {
    issuer: String,
    audience: String,
    key: SigningKey,
    id_token_key: Option<SigningKey>,
    retired: Vec<Jwk>,
    clock: Arc<dyn Clock>,
}

impl TokenIssuer {
    /// An issuer (`iss`) of tokens for `audience` (the FHIR base URL), signing access tokens
    /// with `key` (RS256 or ES256 are the usual choices) and, until [`TokenIssuer::id_token_key`]
    /// says otherwise, id_tokens too.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        key: SigningKey,
        clock: Arc<dyn Clock>,
    ) -> TokenIssuer {
        TokenIssuer {
            issuer: issuer.into(),
            audience: audience.into(),
            key,
            id_token_key: None,
            retired: Vec::new(),
            clock,
        }
    }

    /// Signs id_tokens with this key (OpenID Connect requires RS256 support).
    pub fn id_token_key(mut self, key: SigningKey) -> Result<TokenIssuer, Error> {
        if key.algorithm() != Algorithm::RS256 {
            return Err(Error::InvalidKey("id_tokens are signed with RS256".into()));
        }
        self.id_token_key = Some(key);
        Ok(self)
    }

    /// Keeps publishing a retired key's public half, so tokens it signed verify until they
    /// expire (key rotation: sign with the new key, publish both, drop the old one later).
    pub fn retired_key(mut self, jwk: Jwk) -> TokenIssuer {
        self.retired.push(jwk);
        self
    }

    /// The `iss` value.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience of the access tokens.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The clock the issuer stamps tokens with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Signs an access token for `grant`, valid `lifetime` seconds, with `typ: at+jwt`.
    pub fn access_token(&self, grant: &Grant, lifetime: u32) -> Result<IssuedToken, Error> {
        let now = self.clock.now();
        let expires_at = now.saturating_add(i64::from(lifetime));
        let jti = secret::random_token()?;
        // The user's further claims first: everything set below overwrites them.
        let mut claims = grant.claims.clone();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert(
            "sub".into(),
            json!(grant.subject.as_deref().unwrap_or(&grant.client_id)),
        );
        claims.insert("aud".into(), json!(self.audience));
        claims.insert("exp".into(), json!(expires_at));
        claims.insert("iat".into(), json!(now));
        claims.insert("jti".into(), json!(jti));
        claims.insert("client_id".into(), json!(grant.client_id));
        claims.insert("scope".into(), json!(grant.scopes.to_string()));
        if let Value::Object(launch) =
            serde_json::to_value(&grant.launch).map_err(|e| Error::Signing(e.to_string()))?
        {
            claims.extend(launch);
        }
        let token = self.key.sign(Some("at+jwt"), &claims)?;
        Ok(IssuedToken {
            token,
            jti,
            expires_at,
        })
    }

    /// Signs an id_token (OpenID Connect Core §2) when the grant has `openid` and a user;
    /// `fhirUser` is included when the grant has the `fhirUser` scope.
    pub fn id_token(
        &self,
        grant: &Grant,
        nonce: Option<&str>,
        lifetime: u32,
    ) -> Result<Option<String>, Error> {
        let Some(subject) = &grant.subject else {
            return Ok(None);
        };
        if !grant.scopes.has_identity(Identity::OpenId) {
            return Ok(None);
        }
        let now = self.clock.now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(subject));
        claims.insert("aud".into(), json!(grant.client_id));
        claims.insert("exp".into(), json!(now.saturating_add(i64::from(lifetime))));
        claims.insert("iat".into(), json!(now));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        if grant.scopes.has_identity(Identity::FhirUser) {
            if let Some(fhir_user) = &grant.launch.fhir_user {
                claims.insert("fhirUser".into(), json!(fhir_user));
            }
        }
        let key = self.id_token_key.as_ref().unwrap_or(&self.key);
        key.sign(Some("JWT"), &claims).map(Some)
    }

    /// The JWKS to publish at `jwks_uri`: the signing keys and retired keys, public halves.
    pub fn jwks(&self) -> Value {
        let mut keys = vec![self.key.public_jwk()];
        if let Some(id_key) = &self.id_token_key {
            keys.push(id_key.public_jwk());
        }
        keys.extend(self.retired.iter().cloned());
        json!({ "keys": keys })
    }

    /// The [`TrustedIssuer`] that accepts this issuer's access tokens (requiring `at+jwt`,
    /// so id_tokens are not accepted as access tokens).
    pub fn trusted_issuer(&self) -> Result<TrustedIssuer, Error> {
        let mut keys = vec![self.key.verifying_key()?];
        for jwk in &self.retired {
            keys.push(jwk.to_verifying_key()?);
        }
        let trusted = if self.key.algorithm().is_symmetric() {
            let mut trusted = TrustedIssuer::new(
                &*self.issuer,
                &*self.audience,
                KeySource::fixed(KeySet::new(keys)),
            );
            trusted.algorithms = crate::Algorithms::only(self.key.algorithm());
            trusted
        } else {
            TrustedIssuer::new(
                &*self.issuer,
                &*self.audience,
                KeySource::fixed(KeySet::new(keys)),
            )
        };
        Ok(trusted.require_at_jwt(true))
    }
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("jti", &self.jti)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
