#![doc = include_str!("../README.md")]
//!
//! # The public interface
//!
//! - Policies: [`Policy`] (the JSON document) and its parts ([`Rule`], [`Role`],
//!   [`Target`], [`SubjectMatch`], [`RuleObligations`], [`AttributeType`]), compiled into an
//!   [`Engine`].
//! - Requests: [`Request`] of a [`Subject`], [`Client`], [`Action`], [`Environment`], the
//!   token's scopes and the patient's [`Consent`]s.
//! - Decisions: [`Decision`] with its [`Effect`], [`Explanation`] and [`Obligations`]
//!   ([`Narrowing`] for searches, hidden and read-only fields, [`AuditLevel`]).
//! - Analysis: [`analysis`] (shadowed rules, contradictions, unused roles).
//! - Policy tests: [`testing`] (request documents, test cases, the runner).
//! - Errors: [`Error`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod analysis;
mod condition;
mod consent;
mod decision;
mod document;
mod engine;
mod error;
mod narrowing;
mod request;
mod target;
pub mod testing;
mod value_set;

pub use consent::Consent;
pub use decision::{Decision, Explanation, Obligations};
pub use document::{
    AttributeType, AuditLevel, Effect, Policy, Role, Rule, RuleObligations, SubjectMatch, Target,
};
pub use engine::Engine;
pub use error::Error;
pub use narrowing::Narrowing;
pub use request::{Action, AttributeValue, Client, Environment, Request, Scopes, Subject};
