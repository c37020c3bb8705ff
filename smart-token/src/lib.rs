#![doc = include_str!("../README.md")]
//!
//! # The public interface
//!
//! - Validation: [`Validator`] over [`TrustedIssuer`]s (with [`ClaimMapping`]), giving an
//!   [`AccessContext`]; keys from [`KeySet`] / [`Jwk`] / [`VerifyingKey`], fetched through
//!   [`KeySource`] and [`JwksFetcher`] (`HttpFetcher` with the `http` feature);
//!   [`Algorithm`], [`Algorithms`]; an issuer's [`ProviderMetadata`] (discovery);
//!   revocation through [`RevocationStore`].
//! - Issuing: [`TokenIssuer`] with [`SigningKey`], for a [`Grant`] with its [`LaunchContext`].
//! - The authorization server: [`AuthorizationServer`] ([`AuthorizationServer::authorize`],
//!   [`AuthorizationServer::approve`], [`AuthorizationServer::token`],
//!   [`AuthorizationServer::introspect`], [`AuthorizationServer::revoke`], device
//!   authorization), over [`ClientStore`] ([`Client`], [`ClientAuth`], [`ClientSecret`],
//!   [`ClientMetadata`] for RFC 7591 registration) and the stores [`CodeStore`],
//!   [`RefreshStore`], [`DeviceStore`], [`ReplayCache`], [`RevocationStore`]; PKCE helpers
//!   [`pkce_challenge`], [`check_challenge`], [`verify_verifier`].
//! - Time: [`Clock`], [`SystemClock`], [`FixedClock`].
//! - Errors: [`Error`], with its OAuth `error` code and HTTP status.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod algorithm;
mod assertion;
mod cache;
mod claims;
mod client;
mod clock;
mod context;
mod device;
mod discovery;
mod error;
mod issuer;
mod jwk;
mod jwks;
mod jws;
mod key;
mod pkce;
mod registration;
mod request;
mod revocation;
mod secret;
mod server;
mod signing;
mod store;
mod trusted;
mod validator;

pub use algorithm::{Algorithm, Algorithms};
pub use assertion::MAX_ASSERTION_LIFETIME;
pub use client::{Client, ClientAuth, ClientStore, GrantType, MemoryClients};
pub use clock::{Clock, FixedClock, SystemClock};
pub use context::AccessContext;
pub use device::normalize_user_code;
pub use discovery::ProviderMetadata;
pub use error::Error;
pub use issuer::{Grant, IssuedToken, LaunchContext, TokenIssuer};
pub use jwk::{Jwk, KeySet};
#[cfg(feature = "http")]
pub use jwks::HttpFetcher;
pub use jwks::{JwksFetcher, KeySource, RemoteKeys};
pub use key::{Curve, VerifyingKey};
pub use pkce::{check_challenge, pkce_challenge, verify_verifier};
pub use registration::{ClientMetadata, Registration};
pub use request::{
    AuthorizationCode, AuthorizationRequest, DeviceAuthorization, Introspection, JWT_BEARER,
    TokenRequest, TokenResponse,
};
pub use revocation::{MemoryRevocations, RevocationStore};
pub use secret::{ClientSecret, SecretHash};
pub use server::{Approval, AuthorizationServer, PendingAuthorization};
pub use signing::SigningKey;
pub use store::{
    CodeRecord, CodeStore, DeviceRecord, DeviceStatus, DeviceStore, Issued, MemoryCodes,
    MemoryDevices, MemoryRefreshTokens, MemoryReplayCache, Redeemed, RefreshRecord, RefreshStore,
    RefreshUse, ReplayCache,
};
pub use trusted::{ClaimMapping, TrustedIssuer};
pub use validator::{DEFAULT_MAX_TOKEN_BYTES, Validator};
