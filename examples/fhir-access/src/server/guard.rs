//! The authorization seam: [`Guard`], the one place every request passes through. The engine
//! asks it to decide before running anything (a permit may narrow a search), to check every
//! resource before it is returned (included ones too) and every write against the stored and
//! the new version, and to record exactly one audit record per request.
//!
//! Two implementations live here, neither of which looks at tokens or policies:
//! [`Locked`] (the default: no authorization is configured yet, so every FHIR request is a
//! 401) and [`AllowAll`] (development and benchmarks only, refused off loopback). The real
//! one, on `smart-token` + `fhir-policy` + `fhir-audit`, is `security::PolicyGuard`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use fhir_compartment::Compartment;
use serde_json::Value;

use super::outcome::Error;
use super::request::Interaction;
use super::search::SearchQuery;
use super::security::Session;

/// What the HTTP layer knows about who is asking, uninterpreted, and what the guard made of
/// it (once per request).
#[derive(Clone, Default)]
pub(crate) struct Caller {
    /// The `Authorization` header as sent (never logged: `Debug` redacts it).
    pub(crate) authorization: Option<String>,
    /// The peer address.
    pub(crate) peer: Option<SocketAddr>,
    /// The break-glass header's reason, when sent.
    pub(crate) break_glass: Option<String>,
    /// The purpose-of-use header's code (`TREAT`, `HRESCH`, ...), when sent.
    pub(crate) purpose_of_use: Option<String>,
    /// The validated token and the policy's view of its holder, resolved on first use: a
    /// request's decisions, per-resource checks and audit record validate the token once
    /// and all see the same validation.
    pub(crate) session: OnceLock<Option<Session>>,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("peer", &self.peer)
            .field("break_glass", &self.break_glass)
            .field("purpose_of_use", &self.purpose_of_use)
            .finish_non_exhaustive()
    }
}

/// A permitted request, with what the engine must add to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Permit {
    /// Constraints ANDed into every search this request runs.
    pub(crate) narrowing: Vec<Narrowing>,
    /// The rules that decided, for the audit record.
    pub(crate) rules: Vec<String>,
    /// The interaction each returned resource is checked for; `None`: only the public
    /// CapabilityStatement may be returned.
    pub(crate) reads_as: Option<fhir_scopes::Interaction>,
    /// The write interaction each stored and new version is checked for.
    pub(crate) writes_as: Option<fhir_scopes::Interaction>,
    /// Top-level elements a write may not change (the policy's `readOnly` obligation).
    pub(crate) read_only: Vec<String>,
    /// The decision obliges the server to hide elements of returned resources: the reply
    /// goes through [`Guard::redact`].
    pub(crate) redacts: bool,
    /// Whether what the caller may see depends on resource content (the permit narrows, or
    /// checks each resource, or a Consent may hide one): such a caller cannot create by
    /// `PUT` to a chosen id, since a hidden resource under that id could be neither
    /// overwritten nor answered like a free id.
    pub(crate) content_bound: bool,
    /// Rules the per-resource decisions of this request turned on, for the audit record:
    /// what withheld a resource (a deny rule, a Consent provision, also when it narrowed a
    /// search) and what let one through by break-glass.
    pub(crate) noted: Noted,
}

/// Rules noted while a request runs (`may_read` takes the permit by reference); shared with
/// the request's audit trail.
#[derive(Debug, Clone, Default)]
pub(crate) struct Noted(Arc<Mutex<Vec<String>>>);

impl Noted {
    /// Notes a rule once.
    pub(crate) fn note(&self, rule: &str) {
        let mut rules = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !rules.iter().any(|r| r == rule) {
            rules.push(rule.to_owned());
        }
    }

    /// The rules noted so far.
    pub(crate) fn rules(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Notes are a log, not part of what a permit allows.
impl PartialEq for Noted {
    fn eq(&self, _: &Noted) -> bool {
        true
    }
}

/// A refused request: the error it is answered with (401 or 403) and the rules that decided,
/// for the audit record.
#[derive(Debug)]
pub(crate) struct Denial {
    pub(crate) error: Error,
    pub(crate) rules: Vec<String>,
}

impl From<Error> for Denial {
    fn from(error: Error) -> Denial {
        Denial {
            error,
            rules: Vec::new(),
        }
    }
}

/// One constraint on what a search may match.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Narrowing {
    /// The resource must be in one of these compartments (none: nothing matches).
    InCompartments(Vec<Compartment>),
    /// These search parameters (as in a URL) must match too; parsed by the same search parser
    /// as the client's own parameters.
    Parameters(Vec<(String, String)>),
    /// The resource must be in none of these compartments (a patient's Consent denies it).
    NotInCompartments(Vec<Compartment>),
}

/// What the audit hook records about one request.
#[derive(Debug)]
pub(crate) struct AuditRecord<'a> {
    pub(crate) caller: &'a Caller,
    /// The interaction (`read`, `search-type`, ...), or `None` when the request did not parse.
    pub(crate) interaction: Option<&'static str>,
    /// The method and path as requested.
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    /// A search's parameters (from the URL or a `POST _search` body), form-encoded.
    pub(crate) query: Option<&'a str>,
    /// The operation's name without `$`, for `$everything`.
    pub(crate) operation: Option<&'static str>,
    /// The HTTP status answered.
    pub(crate) status: u16,
    /// The ids of the patients whose compartments hold a resource this request returned,
    /// wrote or deleted.
    pub(crate) patients: &'a [String],
    /// The rules of every decision taken (one per Bundle entry in a batch or transaction).
    pub(crate) rules: &'a [String],
}

/// The authorization seam. Every FHIR request (and every batch or transaction entry) goes
/// through `decide`; every resource on its way out through `may_read`; every write through
/// `may_write`; every request, whatever its outcome, through `audit` exactly once.
pub(crate) trait Guard: Send + Sync + fmt::Debug {
    /// Before anything runs. A denial with `Unauthenticated` answers 401, with `Forbidden`
    /// 403; the decision may not depend on stored data.
    fn decide(&self, caller: &Caller, interaction: &Interaction) -> Result<Permit, Denial>;

    /// Whether `resource` may be returned. A resource that may not is left out of a search
    /// and answered like a missing one on read (404).
    fn may_read(&self, caller: &Caller, permit: &Permit, resource: &Value) -> bool;

    /// Whether a write may go ahead: `stored` is the current version (if any), `new` the
    /// version to be written (`None` for a delete).
    fn may_write(
        &self,
        caller: &Caller,
        permit: &Permit,
        stored: Option<&Value>,
        new: Option<&Value>,
    ) -> bool;

    /// Records the request. An error fails the request closed (503, nothing returned).
    fn audit(&self, record: &AuditRecord<'_>) -> Result<(), Error>;

    /// Removes what the caller may not see from a reply body (a resource, or a Bundle of
    /// them); called when a permit said so.
    fn redact(&self, _caller: &Caller, _body: &mut Value) {}

    /// Whether `GET AuditEvent` searches this guard's audit log (instead of the store).
    fn serves_audit_events(&self) -> bool {
        false
    }

    /// The audit log as BALP AuditEvents matching a search (newest last, at most `max`);
    /// each still goes through `may_read`.
    fn audit_events(&self, _query: &SearchQuery, _max: usize) -> Result<Vec<Value>, Error> {
        Ok(Vec::new())
    }

    /// Called after every commit that wrote a Consent: forget cached Consents.
    fn consents_changed(&self) {}

    /// Called once when the server stops, after the last request: flush what `audit` queued.
    fn flush(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// The default: no authorization configured, so every FHIR request is answered 401 (the
/// CapabilityStatement, which SMART clients read to find the authorization server, stays
/// public). Fails closed until the security slice replaces it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Locked;

impl Guard for Locked {
    fn decide(&self, _: &Caller, interaction: &Interaction) -> Result<Permit, Denial> {
        match interaction {
            Interaction::Capabilities => Ok(Permit::default()),
            _ => Err(Error::Unauthenticated.into()),
        }
    }

    fn may_read(&self, _: &Caller, _: &Permit, resource: &Value) -> bool {
        resource.get("resourceType").and_then(Value::as_str) == Some("CapabilityStatement")
    }

    fn may_write(&self, _: &Caller, _: &Permit, _: Option<&Value>, _: Option<&Value>) -> bool {
        false
    }

    fn audit(&self, record: &AuditRecord<'_>) -> Result<(), Error> {
        log(record);
        Ok(())
    }
}

/// Permits everything. For development and load benchmarks only: the server refuses to start
/// with it on a non-loopback address.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AllowAll;

impl Guard for AllowAll {
    fn decide(&self, _: &Caller, _: &Interaction) -> Result<Permit, Denial> {
        Ok(Permit::default())
    }

    fn may_read(&self, _: &Caller, _: &Permit, _: &Value) -> bool {
        true
    }

    fn may_write(&self, _: &Caller, _: &Permit, _: Option<&Value>, _: Option<&Value>) -> bool {
        true
    }

    fn audit(&self, record: &AuditRecord<'_>) -> Result<(), Error> {
        log(record);
        Ok(())
    }
}

/// Neither of these guards keeps an audit store: they log each request instead.
fn log(record: &AuditRecord<'_>) {
    tracing::info!(
        target: "fhir_access::audit",
        interaction = record.interaction.unwrap_or("-"),
        method = record.method,
        path = record.path,
        status = record.status,
        patients = ?record.patients,
        rules = ?record.rules,
        peer = ?record.caller.peer,
        "request"
    );
}
