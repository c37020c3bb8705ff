//! What a validated token grants: the `AccessContext` the rest of the server works from.

use std::collections::BTreeMap;
use std::sync::Arc;

use fhir_scopes::{Context, Level, ScopeSet};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// Who is asking, through which app, with which scopes and launch context: the result of
/// validating a bearer token.
///
/// A `patient/` scope without a patient in context grants nothing: [`AccessContext::scope_context`]
/// then gives `Context::User { patient: None }`, under which `fhir-scopes` denies every
/// `patient/` scope rather than skipping patient binding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessContext {
    pub(crate) issuer: String,
    pub(crate) subject: Option<String>,
    pub(crate) client_id: Option<String>,
    // Shared: tokens of one app carry the same scopes, parsed once (see `Validator`).
    #[serde(serialize_with = "shared_scopes")]
    pub(crate) scopes: Arc<ScopeSet>,
    pub(crate) patient: Option<String>,
    pub(crate) encounter: Option<String>,
    pub(crate) fhir_context: Vec<Value>,
    pub(crate) fhir_user: Option<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) attributes: BTreeMap<String, Value>,
    pub(crate) audience: Vec<String>,
    pub(crate) expires_at: i64,
    pub(crate) issued_at: Option<i64>,
    pub(crate) jti: Option<String>,
}

fn shared_scopes<S: Serializer>(scopes: &Arc<ScopeSet>, serializer: S) -> Result<S::Ok, S::Error> {
    scopes.as_ref().serialize(serializer)
}

impl AccessContext {
    /// The token's `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The token's `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The client the token was issued to (mapped claim, `client_id` by default).
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The granted scopes, parsed.
    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// The patient in launch context.
    pub fn patient(&self) -> Option<&str> {
        self.patient.as_deref()
    }

    /// The encounter in launch context.
    pub fn encounter(&self) -> Option<&str> {
        self.encounter.as_deref()
    }

    /// The SMART `fhirContext` entries, as given.
    pub fn fhir_context(&self) -> &[Value] {
        &self.fhir_context
    }

    /// The user, as a FHIR resource URL (`Practitioner/123`, or absolute).
    pub fn fhir_user(&self) -> Option<&str> {
        self.fhir_user.as_deref()
    }

    /// The user's roles (mapped claim).
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Further mapped attributes, by the names the issuer's mapping gives them.
    pub fn attributes(&self) -> &BTreeMap<String, Value> {
        &self.attributes
    }

    /// The token's audiences.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// The token's `exp`.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// The token's `iat`.
    pub fn issued_at(&self) -> Option<i64> {
        self.issued_at
    }

    /// The token's `jti`, for revocation and replay checks.
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }

    /// The `fhir-scopes` context for decisions: `System` for a token whose resource scopes
    /// are all `system/` (SMART Backend Services), otherwise a user with the launch patient.
    ///
    /// ```
    /// # use smart_token::AccessContext;
    /// # fn check(context: &AccessContext) {
    /// use fhir_scopes::{Decision, RestRequest};
    /// let read = RestRequest::parse("GET", "Observation/1").unwrap();
    /// let decision = context.scopes().decide(&read.request(context.scope_context()));
    /// # }
    /// ```
    pub fn scope_context(&self) -> Context<'_> {
        let mut resources = self.scopes.resources().peekable();
        let system_only = resources.peek().is_some()
            && self
                .scopes
                .resources()
                .all(|scope| scope.level() == Level::System);
        if system_only {
            Context::System
        } else {
            Context::User {
                patient: self.patient.as_deref(),
            }
        }
    }
}
