#![doc = include_str!("../README.md")]
//!
//! # The public interface
//!
//! - Parsing: [`ScopeSet`] (a token's `scope`), [`Scope`] and its kinds ([`ResourceScope`],
//!   [`LaunchScope`], [`Identity`]), [`ParseOptions`], [`Lenient`].
//! - Decisions: [`ScopeSet::decide`] on a [`Request`] (or a [`RestRequest`] line), giving a
//!   [`Decision`]: a [`Permit`] of [`Clause`]s of [`Grant`]s, or a [`Denial`].
//! - Search syntax: [`Query`], [`Parameter`], [`Value`], [`Token`].
//! - Vocabulary: [`ResourceType`], [`Permissions`], [`Syntax`], [`Level`], [`Context`],
//!   [`Interaction`].
//! - Errors: [`Error`], [`ScopeErrorKind`], [`UnknownResourceType`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod content;
mod decision;
mod error;
mod grammar;
mod negotiate;
mod permissions;
mod query;
mod request;
mod resource_type;
mod rest;
mod scope_set;

pub use decision::{Clause, Decision, Denial, DenyReason, Grant, Permit};
pub use error::{Error, ScopeErrorKind};
pub use grammar::{
    Identity, LaunchScope, Level, OPENID_PREFIX, ParseOptions, Prefix, ResourceScope, SMART_PREFIX,
    Scope,
};
pub use permissions::{Permissions, Syntax};
pub use query::{Parameter, Query, Token, Value};
pub use request::{Context, Interaction, Request};
pub use resource_type::{ResourceType, UnknownResourceType};
pub use rest::RestRequest;
pub use scope_set::{Lenient, ScopeSet};
