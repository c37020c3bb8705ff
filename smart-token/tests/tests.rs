//! smart-token's integration tests, one binary:
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests: a panic is a failed test"
)]
#![allow(missing_docs, unreachable_pub, reason = "test helpers")]

/// The authorization server: codes with PKCE, refresh rotation, client authentication,
/// client credentials, introspection, revocation, registration.
mod authorization;
/// SMART Backend Services: the specification's example assertions, lifetime, replay, claims.
mod backend_services;
/// The device authorization grant (RFC 8628).
mod device;
/// `HttpFetcher` on loopback (with the `http` feature).
mod http_fetcher;
/// proptest: arbitrary input never panics.
mod properties;
/// Key rotation through a fetcher, and the refetch rate limit.
mod rotation;
/// Keys, clocks and token forging shared by the tests.
mod support;
/// Every validation check, and one attack test per class, each with its exact error.
mod validation;
/// Wycheproof ECDSA, RSA, EdDSA and HMAC vectors through `VerifyingKey::verify`.
mod wycheproof_vectors;
