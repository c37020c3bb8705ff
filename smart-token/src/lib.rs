#![doc = include_str!("../README.md")]
//!
//! # The public interface
//!
//! - Validation: [`Validator`] over [`TrustedIssuer`]s (with [`ClaimMapping`]), giving an
//!   [`AccessContext`]; keys from [`KeySet`] / [`Jwk`] / [`VerifyingKey`], fetched through
//!   [`KeySource`] and [`JwksFetcher`] ([`HttpFetcher`] with the `http` feature);
//!   [`Algorithm`], [`Algorithms`]; revocation through [`RevocationStore`].
//! - Time: [`Clock`], [`SystemClock`], [`FixedClock`].
//! - Errors: [`Error`], with its OAuth `error` code and HTTP status.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod algorithm;
mod cache;
mod claims;
mod clock;
mod context;
mod error;
mod jwk;
mod jwks;
mod jws;
mod key;
mod revocation;
mod signing;
mod trusted;
mod validator;

pub use algorithm::{Algorithm, Algorithms};
pub use clock::{Clock, FixedClock, SystemClock};
pub use context::AccessContext;
pub use error::Error;
pub use jwk::{Jwk, KeySet};
#[cfg(feature = "http")]
pub use jwks::HttpFetcher;
pub use jwks::{JwksFetcher, KeySource, RemoteKeys};
pub use key::{Curve, VerifyingKey};
pub use revocation::{MemoryRevocations, RevocationStore};
pub use signing::SigningKey;
pub use trusted::{ClaimMapping, TrustedIssuer};
pub use validator::{DEFAULT_MAX_TOKEN_BYTES, Validator};
