//! The crate's one error type: what failed, safe to show to the caller, with its OAuth 2.0
//! `error` code and HTTP status.

use crate::Algorithm;

/// Everything that can go wrong while validating, issuing or negotiating a token.
///
/// Messages are one line and lowercase. They never contain the token, a signature, a key,
/// a client secret or a code: only the names of claims and headers, algorithm names, times,
/// and configuration the server itself supplied. They are safe to return to a client.
///
/// [`Error::oauth_error`] gives the RFC 6749 / RFC 6750 / RFC 8628 `error` value and
/// [`Error::http_status`] the status a server should answer with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- The token's shape ---
    /// The token is longer than the validator accepts.
    #[error("token is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// The token's length in bytes.
        size: usize,
        /// The configured maximum.
        limit: usize,
    },
    /// Not three base64url segments of JSON, or a segment that does not decode canonically.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// A JSON object member that appears twice in the header or the claims.
    #[error("duplicate member `{member}` in the token {part}")]
    DuplicateMember {
        /// `header` or `claims`.
        part: &'static str,
        /// The member name (a claim or header name, not a value).
        member: String,
    },
    /// `alg: none`: an unsigned token.
    #[error("unsigned tokens (`alg` `none`) are never accepted")]
    Unsigned,
    /// An `alg` this crate does not implement.
    #[error("unsupported signature algorithm")]
    UnsupportedAlgorithm,
    /// A header that would let the token choose its own key (`jku`, `x5u`, `jwk`, `x5c`).
    #[error("header `{0}` is not accepted: keys come only from the issuer's configured key set")]
    ForbiddenHeader(&'static str),
    /// A `crit` header naming an extension this crate does not understand (RFC 7515 §4.1.11).
    #[error("header `crit` names an extension that is not understood")]
    UnknownCritical,
    /// The `typ` header is not `at+jwt` where the issuer requires RFC 9068 access tokens.
    #[error("header `typ` must be `at+jwt` for this issuer")]
    WrongType,

    // --- Keys and signatures ---
    /// No key of the issuer has the token's `kid` (after at most one refetch).
    #[error("no key of the issuer matches the token's `kid`")]
    UnknownKey,
    /// The token has no `kid` and the issuer has several keys for its algorithm.
    #[error("the token has no `kid` and the issuer has several keys for its algorithm")]
    AmbiguousKey,
    /// The key found for the token does not allow the algorithm the token names.
    #[error("algorithm `{0}` is not allowed for this key and issuer")]
    AlgorithmNotAllowed(Algorithm),
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// A key that cannot be used (wrong size, bad encoding, unsupported type or curve).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A JSON Web Key Set that cannot be read.
    #[error("invalid key set: {0}")]
    InvalidKeySet(String),
    /// An issuer's discovery document (provider metadata) that cannot be used.
    #[error("invalid provider metadata: {0}")]
    InvalidMetadata(String),
    /// The issuer's key set (or discovery document) could not be fetched.
    #[error("`{uri}` could not be fetched: {reason}")]
    Fetch {
        /// The `jwks_uri` or discovery document URL.
        uri: String,
        /// What went wrong.
        reason: String,
    },

    // --- Claims ---
    /// The `iss` is none of the trusted issuers.
    #[error("the token's issuer is not trusted")]
    UntrustedIssuer,
    /// The `aud` does not contain this server's audience.
    #[error("the token's audience does not include this server")]
    WrongAudience,
    /// The token expired (`exp` plus leeway is before now).
    #[error("token expired at {exp}; it is now {now}")]
    Expired {
        /// The token's `exp` (seconds since the epoch).
        exp: i64,
        /// The validator's clock.
        now: i64,
    },
    /// The token is not valid yet (`nbf` minus leeway is after now).
    #[error("token is not valid before {nbf}; it is now {now}")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// The validator's clock.
        now: i64,
    },
    /// The token says it was issued in the future (`iat` minus leeway is after now).
    #[error("token was issued in the future, at {iat}; it is now {now}")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// The validator's clock.
        now: i64,
    },
    /// A claim the issuer's configuration requires is absent.
    #[error("claim `{0}` is required")]
    MissingClaim(String),
    /// A claim with the wrong JSON type or an impossible value.
    #[error("claim `{claim}`: {reason}")]
    InvalidClaim {
        /// The claim name.
        claim: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The `scope` claim does not parse as SMART scopes.
    #[error("claim `scope`: {0}")]
    InvalidScope(fhir_scopes::Error),
    /// The token's `jti` was revoked.
    #[error("token was revoked")]
    Revoked,

    // --- The authorization server side ---
    /// A request missing a parameter or carrying a bad one (RFC 6749 `invalid_request`).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Client authentication failed: unknown client, wrong secret, bad assertion. The
    /// message does not say which, so that it does not reveal whether a client exists.
    #[error("client authentication failed")]
    InvalidClient,
    /// A client assertion (`private_key_jwt`) that is not acceptable, with why.
    #[error("client assertion rejected: {0}")]
    InvalidAssertion(&'static str),
    /// A client assertion `jti` seen before within its lifetime.
    #[error("client assertion rejected: `jti` was already used")]
    AssertionReplay,
    /// The client may not use this grant type or scope.
    #[error("client is not allowed to {0}")]
    UnauthorizedClient(&'static str),
    /// A grant type this server does not support.
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// A code, refresh token or device code that is invalid, expired, used or not this
    /// client's (RFC 6749 `invalid_grant`), with why.
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// A redirect URI that is not exactly one the client registered.
    #[error("redirect URI is not registered for this client")]
    RedirectUriMismatch,
    /// PKCE failed: missing, `plain`, malformed or wrong verifier.
    #[error("PKCE: {0}")]
    Pkce(&'static str),
    /// Requested scopes the client may not have, or that do not parse.
    #[error("invalid scope: {0}")]
    ScopeNotAllowed(String),
    /// Dynamic client registration metadata that is not acceptable (RFC 7591).
    #[error("invalid client metadata: {0}")]
    InvalidClientMetadata(String),
    /// RFC 8628: the user has not yet approved the device code.
    #[error("authorization pending")]
    AuthorizationPending,
    /// RFC 8628: the device polls faster than its interval.
    #[error("slow down: polling faster than the interval")]
    SlowDown,
    /// RFC 8628: the user denied the device's request.
    #[error("the user denied the request")]
    AccessDenied,
    /// RFC 8628: the device code expired.
    #[error("device code expired")]
    ExpiredDeviceCode,
    /// Signing a token failed (a key that cannot sign).
    #[error("signing failed: {0}")]
    Signing(String),
    /// A store (codes, refresh tokens, replay cache) failed.
    #[error("storage failed: {0}")]
    Storage(String),
}

impl Error {
    /// The OAuth 2.0 `error` code for this failure: RFC 6750 for resource servers
    /// (`invalid_token`), RFC 6749 and RFC 8628 for the token endpoint.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) | Error::Pkce(_) | Error::RedirectUriMismatch => {
                "invalid_request"
            }
            Error::InvalidClient | Error::InvalidAssertion(_) | Error::AssertionReplay => {
                "invalid_client"
            }
            Error::UnauthorizedClient(_) => "unauthorized_client",
            Error::UnsupportedGrantType => "unsupported_grant_type",
            Error::InvalidGrant(_) => "invalid_grant",
            Error::ScopeNotAllowed(_) => "invalid_scope",
            Error::InvalidClientMetadata(_) => "invalid_client_metadata",
            Error::AuthorizationPending => "authorization_pending",
            Error::SlowDown => "slow_down",
            Error::AccessDenied => "access_denied",
            Error::ExpiredDeviceCode => "expired_token",
            Error::Fetch { .. }
            | Error::InvalidKey(_)
            | Error::InvalidKeySet(_)
            | Error::InvalidMetadata(_)
            | Error::Signing(_)
            | Error::Storage(_) => "server_error",
            _ => "invalid_token",
        }
    }

    /// The HTTP status a server should answer with.
    pub fn http_status(&self) -> u16 {
        match self.oauth_error() {
            "invalid_token" | "invalid_client" => 401,
            "server_error" => 500,
            "unauthorized_client" | "access_denied" => 403,
            _ => 400,
        }
    }

    /// A short, stable, snake_case name for the failure, for tests and machine output.
    pub fn code(&self) -> &'static str {
        match self {
            Error::TooLarge { .. } => "too_large",
            Error::Malformed(_) => "malformed",
            Error::DuplicateMember { .. } => "duplicate_member",
            Error::Unsigned => "unsigned",
            Error::UnsupportedAlgorithm => "unsupported_algorithm",
            Error::ForbiddenHeader(_) => "forbidden_header",
            Error::UnknownCritical => "unknown_critical",
            Error::WrongType => "wrong_type",
            Error::UnknownKey => "unknown_key",
            Error::AmbiguousKey => "ambiguous_key",
            Error::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            Error::InvalidSignature => "invalid_signature",
            Error::InvalidKey(_) => "invalid_key",
            Error::InvalidKeySet(_) => "invalid_key_set",
            Error::InvalidMetadata(_) => "invalid_metadata",
            Error::Fetch { .. } => "fetch",
            Error::UntrustedIssuer => "untrusted_issuer",
            Error::WrongAudience => "wrong_audience",
            Error::Expired { .. } => "expired",
            Error::NotYetValid { .. } => "not_yet_valid",
            Error::IssuedInFuture { .. } => "issued_in_future",
            Error::MissingClaim(_) => "missing_claim",
            Error::InvalidClaim { .. } => "invalid_claim",
            Error::InvalidScope(_) => "invalid_scope",
            Error::Revoked => "revoked",
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidClient => "invalid_client",
            Error::InvalidAssertion(_) => "invalid_assertion",
            Error::AssertionReplay => "assertion_replay",
            Error::UnauthorizedClient(_) => "unauthorized_client",
            Error::UnsupportedGrantType => "unsupported_grant_type",
            Error::InvalidGrant(_) => "invalid_grant",
            Error::RedirectUriMismatch => "redirect_uri_mismatch",
            Error::Pkce(_) => "pkce",
            Error::ScopeNotAllowed(_) => "scope_not_allowed",
            Error::InvalidClientMetadata(_) => "invalid_client_metadata",
            Error::AuthorizationPending => "authorization_pending",
            Error::SlowDown => "slow_down",
            Error::AccessDenied => "access_denied",
            Error::ExpiredDeviceCode => "expired_token",
            Error::Signing(_) => "signing",
            Error::Storage(_) => "storage",
        }
    }
}
