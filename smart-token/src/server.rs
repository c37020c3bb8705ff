//! The authorization server's endpoints as plain functions: authorization (with PKCE and
//! scope negotiation), token (authorization code, refresh with rotation, client
//! credentials, device code), introspection and revocation. No HTTP in here: the server
//! parses forms into [`AuthorizationRequest`] / [`TokenRequest`] and renders the results.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fhir_scopes::{Level, Scope, ScopeSet};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::store::{CodeRecord, Issued, Redeemed, RefreshRecord, RefreshUse};
use crate::{
    AuthorizationCode, AuthorizationRequest, Client, ClientAuth, ClientSecret, ClientStore,
    CodeStore, DeviceStore, Error, Grant, GrantType, Introspection, IssuedToken, JWT_BEARER,
    LaunchContext, MemoryCodes, MemoryDevices, MemoryRefreshTokens, MemoryReplayCache,
    MemoryRevocations, RefreshStore, ReplayCache, RevocationStore, SecretHash, TokenIssuer,
    TokenRequest, TokenResponse, Validator, assertion, pkce, secret,
};

/// A validated authorization request, waiting for the user's decision.
#[derive(Clone, Debug)]
pub struct PendingAuthorization {
    /// The client.
    pub client: Arc<Client>,
    /// The (registered, exactly matching) redirect URI.
    pub redirect_uri: String,
    /// The client's `state`.
    pub state: Option<String>,
    /// The requested scopes the client may have: what to ask the user about.
    pub scopes: ScopeSet,
    code_challenge: String,
    nonce: Option<String>,
}

/// The user's decision on a [`PendingAuthorization`] (or a device authorization).
#[derive(Clone, Debug, Default)]
pub struct Approval {
    /// The user (`sub`).
    pub subject: String,
    /// What the user grants; `None` grants everything asked.
    pub scopes: Option<ScopeSet>,
    /// The launch context chosen (patient picker, EHR launch).
    pub launch: LaunchContext,
    /// Further claims about the user for the access token (roles, attributes); see
    /// [`Grant::claims`].
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// The authorization server.
///
/// Stores default to the in-memory implementations; a server with a database replaces
/// them. Codes live 60 s; device codes 10 minutes, polled every 5 s.
pub struct AuthorizationServer {
    pub(crate) issuer: TokenIssuer,
    pub(crate) token_endpoint: String,
    pub(crate) clients: Arc<dyn ClientStore>,
    pub(crate) codes: Arc<dyn CodeStore>,
    pub(crate) refresh: Arc<dyn RefreshStore>,
    pub(crate) devices: Arc<dyn DeviceStore>,
    pub(crate) replay: Arc<dyn ReplayCache>,
    pub(crate) revocations: Arc<dyn RevocationStore>,
    validator: Validator,
    pub(crate) code_lifetime: u32,
    pub(crate) device_lifetime: u32,
    pub(crate) device_interval: u32,
    pub(crate) verification_uri: String,
}

impl AuthorizationServer {
    /// A server issuing with `issuer`, whose token endpoint is `token_endpoint` (the
    /// audience of client assertions), with clients from `clients`.
    pub fn new(
        issuer: TokenIssuer,
        token_endpoint: impl Into<String>,
        clients: Arc<dyn ClientStore>,
    ) -> Result<AuthorizationServer, Error> {
        let revocations: Arc<dyn RevocationStore> = Arc::new(MemoryRevocations::default());
        let validator = own_validator(&issuer, Arc::clone(&revocations))?;
        let token_endpoint = token_endpoint.into();
        let verification_uri = token_endpoint.replace("/token", "/device");
        Ok(AuthorizationServer {
            issuer,
            token_endpoint,
            clients,
            codes: Arc::new(MemoryCodes::default()),
            refresh: Arc::new(MemoryRefreshTokens::default()),
            devices: Arc::new(MemoryDevices::default()),
            replay: Arc::new(MemoryReplayCache::default()),
            revocations,
            validator,
            code_lifetime: 60,
            device_lifetime: 600,
            device_interval: 5,
            verification_uri,
        })
    }

    /// Uses `store` for authorization codes.
    pub fn codes(mut self, store: Arc<dyn CodeStore>) -> AuthorizationServer {
        self.codes = store;
        self
    }

    /// Uses `store` for refresh tokens.
    pub fn refresh_tokens(mut self, store: Arc<dyn RefreshStore>) -> AuthorizationServer {
        self.refresh = store;
        self
    }

    /// Uses `store` for device authorizations.
    pub fn devices(mut self, store: Arc<dyn DeviceStore>) -> AuthorizationServer {
        self.devices = store;
        self
    }

    /// Uses `cache` for client-assertion `jti`s.
    pub fn replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> AuthorizationServer {
        self.replay = cache;
        self
    }

    /// Uses `store` for revoked access tokens (share it with the resource server's
    /// [`Validator`]).
    pub fn revocations(
        mut self,
        store: Arc<dyn RevocationStore>,
    ) -> Result<AuthorizationServer, Error> {
        self.validator = own_validator(&self.issuer, Arc::clone(&store))?;
        self.revocations = store;
        Ok(self)
    }

    /// The page where device users enter their code. Defaults to the token endpoint with
    /// `/token` replaced by `/device`.
    pub fn verification_uri(mut self, uri: impl Into<String>) -> AuthorizationServer {
        self.verification_uri = uri.into();
        self
    }

    /// The token issuer.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    fn now(&self) -> i64 {
        self.issuer.clock().now()
    }

    /// Checks an authorization request before the user is asked. Errors here must be
    /// shown to the user, not sent to the redirect URI, when the client or redirect URI is
    /// the problem ([`Error::InvalidClient`], [`Error::RedirectUriMismatch`]).
    pub fn authorize(&self, request: &AuthorizationRequest) -> Result<PendingAuthorization, Error> {
        let client_id = request.client_id.as_deref().ok_or(Error::InvalidClient)?;
        let client = self
            .clients
            .client(client_id)?
            .ok_or(Error::InvalidClient)?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .ok_or(Error::RedirectUriMismatch)?;
        if !client.redirect_uri_matches(redirect_uri) {
            return Err(Error::RedirectUriMismatch);
        }
        if request.response_type.as_deref() != Some("code") {
            return Err(Error::InvalidRequest(
                "`response_type` must be `code`".into(),
            ));
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(Error::UnauthorizedClient(
                "use the authorization code grant",
            ));
        }
        if request.aud.as_deref() != Some(self.issuer.audience()) {
            return Err(Error::InvalidRequest(
                "`aud` must be this FHIR server's base URL".into(),
            ));
        }
        let code_challenge = pkce::check_challenge(
            request.code_challenge.as_deref(),
            request.code_challenge_method.as_deref(),
        )?;
        let requested = parse_scopes(request.scope.as_deref().unwrap_or_default())?;
        let scopes = ScopeSet::negotiate(&requested, client.allowed_scopes(), None);
        Ok(PendingAuthorization {
            client,
            redirect_uri: redirect_uri.to_owned(),
            state: request.state.clone(),
            scopes,
            code_challenge,
            nonce: request.nonce.clone(),
        })
    }

    /// Issues a code for an approved request: requested ∩ registered ∩ what the user grants.
    pub fn approve(
        &self,
        pending: PendingAuthorization,
        approval: Approval,
    ) -> Result<AuthorizationCode, Error> {
        let scopes = ScopeSet::negotiate(
            &pending.scopes,
            pending.client.allowed_scopes(),
            approval.scopes.as_ref(),
        );
        let code = secret::random_token()?;
        let now = self.now();
        let record = CodeRecord {
            grant: Grant {
                client_id: pending.client.id().to_owned(),
                subject: Some(approval.subject),
                scopes,
                launch: approval.launch,
                claims: approval.claims,
            },
            redirect_uri: pending.redirect_uri.clone(),
            code_challenge: pending.code_challenge,
            nonce: pending.nonce,
            expires_at: now.saturating_add(i64::from(self.code_lifetime)),
        };
        self.codes.insert(SecretHash::of(&code), record, now)?;
        let mut redirect = pending.redirect_uri;
        redirect.push(if redirect.contains('?') { '&' } else { '?' });
        redirect.push_str("code=");
        redirect.push_str(&code);
        if let Some(state) = &pending.state {
            redirect.push_str("&state=");
            redirect.extend(utf8_percent_encode(state, NON_ALPHANUMERIC));
        }
        Ok(AuthorizationCode { code, redirect })
    }

    /// The token endpoint.
    pub fn token(&self, request: &TokenRequest) -> Result<TokenResponse, Error> {
        let grant_type = request
            .grant_type
            .as_deref()
            .ok_or_else(|| Error::InvalidRequest("`grant_type` is required".into()))?;
        let grant = GrantType::from_name(grant_type).ok_or(Error::UnsupportedGrantType)?;
        let client = self.authenticate_client(request)?;
        if !client.allows_grant(grant) {
            return Err(Error::UnauthorizedClient("use this grant type"));
        }
        match grant {
            GrantType::AuthorizationCode => self.authorization_code_grant(&client, request),
            GrantType::RefreshToken => self.refresh_grant(&client, request),
            GrantType::ClientCredentials => self.client_credentials_grant(&client, request),
            GrantType::DeviceCode => self.device_grant(&client, request),
        }
    }

    /// Authenticates the client of a token, revocation or device request: exactly one of
    /// HTTP Basic, `client_secret` in the form, a client assertion, or (public clients)
    /// `client_id` alone; and the one the client registered. Every failure is
    /// [`Error::InvalidClient`], whether the client exists or not, and an unknown client
    /// costs the same hashing time as a wrong secret.
    pub fn authenticate_client(&self, request: &TokenRequest) -> Result<Arc<Client>, Error> {
        let basic = request
            .authorization
            .as_deref()
            .map(parse_basic)
            .transpose()?;
        let methods = usize::from(basic.is_some())
            + usize::from(request.client_secret.is_some())
            + usize::from(request.client_assertion.is_some());
        if methods > 1 {
            return Err(Error::InvalidRequest(
                "use exactly one client authentication method".into(),
            ));
        }
        if let Some((id, secret)) = basic {
            if request
                .client_id
                .as_deref()
                .is_some_and(|form_id| form_id != id)
            {
                return Err(Error::InvalidClient);
            }
            return self.check_secret(&id, &secret, |auth| match auth {
                ClientAuth::SecretBasic(stored) => Some(stored),
                _ => None,
            });
        }
        if let Some(secret) = &request.client_secret {
            let id = request.client_id.as_deref().ok_or(Error::InvalidClient)?;
            return self.check_secret(id, secret, |auth| match auth {
                ClientAuth::SecretPost(stored) => Some(stored),
                _ => None,
            });
        }
        if let Some(jwt) = &request.client_assertion {
            if request.client_assertion_type.as_deref() != Some(JWT_BEARER) {
                return Err(Error::InvalidRequest(format!(
                    "`client_assertion_type` must be `{JWT_BEARER}`"
                )));
            }
            let id = assertion::verify(
                jwt,
                request.client_id.as_deref(),
                &self.token_endpoint,
                &*self.clients,
                &*self.replay,
                self.now(),
            )?;
            return self.clients.client(&id)?.ok_or(Error::InvalidClient);
        }
        let id = request.client_id.as_deref().ok_or(Error::InvalidClient)?;
        match self.clients.client(id)? {
            Some(client) if client.is_public() => Ok(client),
            _ => Err(Error::InvalidClient),
        }
    }

    fn check_secret(
        &self,
        id: &str,
        secret: &str,
        stored: impl Fn(&ClientAuth) -> Option<&ClientSecret>,
    ) -> Result<Arc<Client>, Error> {
        let Some(client) = self.clients.client(id)? else {
            ClientSecret::verify_nothing(secret);
            return Err(Error::InvalidClient);
        };
        match stored(client.auth()) {
            Some(hash) if hash.verify(secret) => Ok(client),
            Some(_) => Err(Error::InvalidClient),
            None => {
                ClientSecret::verify_nothing(secret);
                Err(Error::InvalidClient)
            }
        }
    }

    fn authorization_code_grant(
        &self,
        client: &Client,
        request: &TokenRequest,
    ) -> Result<TokenResponse, Error> {
        let code = request
            .code
            .as_deref()
            .ok_or_else(|| Error::InvalidRequest("`code` is required".into()))?;
        let hash = SecretHash::of(code);
        let record = match self.codes.redeem(hash, self.now())? {
            Redeemed::Unknown => return Err(Error::InvalidGrant("the code is invalid or expired")),
            Redeemed::Replayed(issued) => {
                self.revoke_issued(&issued)?;
                return Err(Error::InvalidGrant(
                    "the code was already used; the tokens it issued are revoked",
                ));
            }
            Redeemed::First(record) => *record,
        };
        // The code is spent from here on: a wrong verifier or redirect URI burns it.
        if record.grant.client_id != client.id() {
            return Err(Error::InvalidGrant("the code was issued to another client"));
        }
        if request.redirect_uri.as_deref() != Some(record.redirect_uri.as_str()) {
            return Err(Error::InvalidGrant(
                "`redirect_uri` does not match the authorization request",
            ));
        }
        // RFC 7636 §4.6: a verifier that does not match is `invalid_grant`.
        pkce::verify_verifier(request.code_verifier.as_deref(), &record.code_challenge).map_err(
            |error| match error {
                Error::Pkce(MISMATCH) => Error::InvalidGrant(MISMATCH),
                other => other,
            },
        )?;
        let (response, issued) =
            self.issue(client, &record.grant, None, record.nonce.as_deref())?;
        self.codes.record_issued(hash, issued)?;
        Ok(response)
    }

    fn refresh_grant(
        &self,
        client: &Client,
        request: &TokenRequest,
    ) -> Result<TokenResponse, Error> {
        let token = request
            .refresh_token
            .as_deref()
            .ok_or_else(|| Error::InvalidRequest("`refresh_token` is required".into()))?;
        // Public clients rotate: each refresh token works once. It is marked used only after
        // the request proved acceptable, so a refused refresh does not cost the session.
        let rotate = client.is_public();
        let hash = SecretHash::of(token);
        let record = match self.refresh.use_token(hash, false, self.now())? {
            RefreshUse::Unknown => {
                return Err(Error::InvalidGrant(
                    "the refresh token is invalid, expired or revoked",
                ));
            }
            RefreshUse::Reused(family) => return self.reused(&family),
            RefreshUse::Active(record) => *record,
        };
        if record.grant.client_id != client.id() {
            return Err(Error::InvalidGrant(
                "the refresh token was issued to another client",
            ));
        }
        let requested = request.scope.as_deref().map(parse_scopes).transpose()?;
        let scopes = ScopeSet::refresh(&record.grant.scopes, requested.as_ref())
            .map_err(|e| Error::ScopeNotAllowed(e.to_string()))?;
        if rotate {
            // Of two concurrent refreshes with one token, one wins and the other is reuse.
            match self.refresh.use_token(hash, true, self.now())? {
                RefreshUse::Active(_) => {}
                RefreshUse::Reused(family) => return self.reused(&family),
                RefreshUse::Unknown => {
                    return Err(Error::InvalidGrant(
                        "the refresh token is invalid, expired or revoked",
                    ));
                }
            }
        }
        let narrowed = Grant {
            scopes,
            ..record.grant.clone()
        };
        let (mut response, issued) = self.issue(client, &narrowed, Some(&record), None)?;
        if !rotate {
            response.refresh_token = None;
        }
        if let Some((jti, exp)) = &issued.access {
            self.refresh.record_access(&record.family, jti, *exp)?;
        }
        Ok(response)
    }

    fn reused(&self, family: &str) -> Result<TokenResponse, Error> {
        self.revoke_family(family)?;
        Err(Error::InvalidGrant(
            "the refresh token was already used; its family is revoked",
        ))
    }

    fn client_credentials_grant(
        &self,
        client: &Client,
        request: &TokenRequest,
    ) -> Result<TokenResponse, Error> {
        if client.is_public() {
            return Err(Error::UnauthorizedClient(
                "use client credentials as a public client",
            ));
        }
        let requested = match request.scope.as_deref() {
            Some(text) => parse_scopes(text)?,
            None => client.allowed_scopes().clone(),
        };
        // Only `system/` scopes mean anything without a user.
        let scopes: ScopeSet = ScopeSet::negotiate(&requested, client.allowed_scopes(), None)
            .iter()
            .filter(|scope| matches!(scope, Scope::Resource(r) if r.level() == Level::System))
            .cloned()
            .collect();
        if scopes.is_empty() {
            return Err(Error::ScopeNotAllowed(
                "no requested `system/` scope is allowed for this client".into(),
            ));
        }
        let grant = Grant {
            client_id: client.id().to_owned(),
            subject: None,
            scopes,
            launch: LaunchContext::default(),
            claims: client.token_claims().clone(),
        };
        let issued = self
            .issuer
            .access_token(&grant, client.access_token_lifetime)?;
        Ok(response(
            &grant,
            issued,
            client.access_token_lifetime,
            None,
            None,
        ))
    }

    /// Signs the tokens of a grant. With `refreshing`, the new refresh token (if any) joins
    /// that family and keeps its expiry; otherwise a new family starts.
    pub(crate) fn issue(
        &self,
        client: &Client,
        grant: &Grant,
        refreshing: Option<&RefreshRecord>,
        nonce: Option<&str>,
    ) -> Result<(TokenResponse, Issued), Error> {
        let lifetime = client.access_token_lifetime;
        let access = self.issuer.access_token(grant, lifetime)?;
        let id_token = match refreshing {
            None => self.issuer.id_token(grant, nonce, lifetime)?,
            Some(_) => None,
        };
        // A refresh keeps issuing refresh tokens if the original grant had offline access,
        // even when this request narrowed the scopes.
        let original = refreshing.map_or(&grant.scopes, |previous| &previous.grant.scopes);
        let wants_refresh = original.iter().any(|scope| {
            matches!(
                scope.to_string().as_str(),
                "offline_access" | "online_access"
            )
        });
        let mut issued = Issued {
            access: Some((access.jti.clone(), access.expires_at)),
            refresh_family: None,
        };
        let refresh_token = if wants_refresh && client.allows_grant(GrantType::RefreshToken) {
            let now = self.now();
            let token = secret::random_token()?;
            let record = match refreshing {
                Some(previous) => RefreshRecord {
                    grant: previous.grant.clone(),
                    ..previous.clone()
                },
                None => RefreshRecord {
                    grant: grant.clone(),
                    family: secret::random_token()?,
                    expires_at: now.saturating_add(i64::from(client.refresh_token_lifetime)),
                },
            };
            if refreshing.is_none() {
                self.refresh
                    .record_access(&record.family, &access.jti, access.expires_at)?;
            }
            issued.refresh_family = Some(record.family.clone());
            self.refresh.insert(SecretHash::of(&token), record, now)?;
            Some(token)
        } else {
            None
        };
        Ok((
            response(grant, access, lifetime, refresh_token, id_token),
            issued,
        ))
    }

    fn revoke_issued(&self, issued: &Issued) -> Result<(), Error> {
        if let Some((jti, exp)) = &issued.access {
            self.revocations.revoke(jti, *exp, self.now())?;
        }
        if let Some(family) = &issued.refresh_family {
            self.revoke_family(family)?;
        }
        Ok(())
    }

    fn revoke_family(&self, family: &str) -> Result<(), Error> {
        let now = self.now();
        for (jti, exp) in self.refresh.revoke_family(family)? {
            self.revocations.revoke(&jti, exp, now)?;
        }
        Ok(())
    }

    /// Token introspection (RFC 7662) of this server's access and refresh tokens. The
    /// caller must have authenticated the resource server asking.
    pub fn introspect(&self, token: &str) -> Introspection {
        if let Ok(context) = self.validator.validate(token) {
            return Introspection {
                active: true,
                scope: Some(context.scopes().to_string()),
                client_id: context.client_id().map(str::to_owned),
                sub: context.subject().map(str::to_owned),
                token_type: Some("Bearer"),
                exp: Some(context.expires_at()),
                iat: context.issued_at(),
                iss: Some(context.issuer().to_owned()),
                patient: context.patient().map(str::to_owned),
                encounter: context.encounter().map(str::to_owned),
                fhir_user: context.fhir_user().map(str::to_owned),
            };
        }
        match self.refresh.find(SecretHash::of(token), self.now()) {
            Ok(Some(record)) => Introspection {
                active: true,
                scope: Some(record.grant.scopes.to_string()),
                client_id: Some(record.grant.client_id.clone()),
                sub: record.grant.subject.clone(),
                token_type: Some("refresh_token"),
                exp: Some(record.expires_at),
                iss: Some(self.issuer.issuer().to_owned()),
                patient: record.grant.launch.patient.clone(),
                encounter: record.grant.launch.encounter.clone(),
                fhir_user: record.grant.launch.fhir_user.clone(),
                ..Introspection::default()
            },
            _ => Introspection::default(),
        }
    }

    /// Token revocation (RFC 7009) by an authenticated client: a refresh token revokes its
    /// family and the access tokens issued in it; an access token's `jti` is revoked until
    /// it expires. Unknown or invalid tokens are not an error (RFC 7009 §2.2); another
    /// client's token is.
    pub fn revoke(&self, token: &str, client: &Client) -> Result<(), Error> {
        let now = self.now();
        if let Some(record) = self.refresh.find(SecretHash::of(token), now)? {
            if record.grant.client_id != client.id() {
                return Err(Error::UnauthorizedClient("revoke another client's token"));
            }
            return self.revoke_family(&record.family);
        }
        if let Ok(context) = self.validator.validate(token) {
            if context.client_id() != Some(client.id()) {
                return Err(Error::UnauthorizedClient("revoke another client's token"));
            }
            if let Some(jti) = context.jti() {
                self.revocations.revoke(jti, context.expires_at(), now)?;
            }
        }
        Ok(())
    }
}

/// The verifier-mismatch message of [`pkce::verify_verifier`].
const MISMATCH: &str = "`code_verifier` does not match the challenge";

fn own_validator(
    issuer: &TokenIssuer,
    revocations: Arc<dyn RevocationStore>,
) -> Result<Validator, Error> {
    Ok(Validator::new([issuer.trusted_issuer()?])
        .clock(Arc::clone(issuer.clock()))
        .revocations(revocations))
}

fn parse_scopes(text: &str) -> Result<ScopeSet, Error> {
    ScopeSet::parse(text).map_err(|e| Error::ScopeNotAllowed(e.to_string()))
}

fn response(
    grant: &Grant,
    access: IssuedToken,
    lifetime: u32,
    refresh_token: Option<String>,
    id_token: Option<String>,
) -> TokenResponse {
    TokenResponse {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: lifetime,
        scope: grant.scopes.to_string(),
        refresh_token,
        id_token,
        patient: grant.launch.patient.clone(),
        encounter: grant.launch.encounter.clone(),
        fhir_context: grant.launch.fhir_context.clone(),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &str) -> Result<(String, String), Error> {
    let malformed = || Error::InvalidRequest("malformed `Authorization` header".into());
    let (scheme, credentials) = header.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = STANDARD
        .decode(credentials.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |text: &str| {
        percent_decode_str(&text.replace('+', " "))
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| malformed())
    };
    Ok((unescape(id)?, unescape(secret)?))
}

impl fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.issuer.issuer())
            .field("token_endpoint", &self.token_endpoint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        let header = format!("Basic {}", STANDARD.encode("my%3Aclient:s3cr%2Bt+x"));
        assert_eq!(
            parse_basic(&header).unwrap(),
            ("my:client".into(), "s3cr+t x".into())
        );
        assert_eq!(
            parse_basic("Bearer abc").unwrap_err().code(),
            "invalid_request"
        );
        assert_eq!(
            parse_basic("Basic !!!").unwrap_err().code(),
            "invalid_request"
        );
    }
}
