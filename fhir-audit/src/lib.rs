#![doc = include_str!("../README.md")]
//!
//! # The public interface
//!
//! - Records: [`AuditRecord`] and its parts ([`User`], [`Client`], [`ClientKind`],
//!   [`Action`], [`Interaction`], [`Outcome`], [`Decision`], [`Origin`], [`BreakGlass`]),
//!   [`Timestamp`], [`ContentPolicy`].
//! - Sinks: the [`Sink`] trait and its [`Receipt`]; [`MemorySink`], [`FanOut`].
//! - The file store: [`FileStore`], [`StoreConfig`], [`Recovery`], [`TornTail`], [`Head`];
//!   its lines: [`StoredRecord`], [`Digest256`], [`LineError`].
//! - FHIR: [`AuditRecord::audit_events`] (IHE BALP), [`audit_event_bundle`].
//! - Search: [`Searcher`] with a [`Query`].
//! - Tamper evidence: [`verify`] gives a [`Verification`], with the first [`ChainBreak`] and
//!   its [`Problem`].
//! - Errors: [`Error`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod balp;
mod chain;
mod error;
mod json;
mod pipeline;
mod record;
mod redact;
mod search;
mod segment;
mod sink;
mod store;
mod timestamp;
mod verify;

pub use balp::audit_event_bundle;
pub use chain::{Digest256, LineError, StoredRecord};
/// The string type of [`AuditRecord`]'s text fields: up to 24 bytes inline, so a typical record
/// allocates for none of them (re-exported so that callers need not depend on `compact_str`).
pub use compact_str::CompactString;
pub use error::Error;
pub use record::{
    Action, AuditRecord, BreakGlass, Client, ClientKind, Decision, Interaction, Origin, Outcome,
    User,
};
pub use redact::{ContentPolicy, REDACTED};
pub use search::{Query, Searcher};
pub use segment::Head;
pub use sink::{FanOut, MemorySink, Receipt, Sink, Stage};
pub use store::{FileStore, Recovery, StoreConfig, TornTail};
pub use timestamp::Timestamp;
pub use verify::{ChainBreak, Problem, Verification, verify};
