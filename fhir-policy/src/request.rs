//! What a decision is asked about, with no HTTP in it: the [`Subject`] and [`Client`] (from
//! the token), the token's scopes and launch context, the [`Action`], the resource when the
//! server has it, the [`Environment`], and the patient's Consents.
//!
//! [`Subject`], [`Client`] and [`Environment`] are owned and deserializable (the server
//! builds them once per request from token claims); [`Request`] borrows them, so deciding
//! copies nothing.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::NaiveDateTime;
use fhir_scopes::{Context, Interaction, Query, ResourceType, ScopeSet};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::consent::Consent;

/// One request to decide.
///
/// ```
/// use fhir_policy::{Action, Client, Environment, Request, Subject};
/// use fhir_scopes::{Context, Interaction, ResourceType};
///
/// let subject = Subject::new("Practitioner/7").with_role("nurse");
/// let client = Client::new("ward-app");
/// let environment = Environment::default();
/// let request = Request::new(
///     &subject,
///     &client,
///     Context::User { patient: None },
///     Action::new(Interaction::Read, ResourceType::Patient),
///     &environment,
/// );
/// assert_eq!(request.action.interaction, Interaction::Read);
/// // No scopes given: the decision is a denial until the token's scopes are set.
/// assert!(matches!(request.scopes, fhir_policy::Scopes::Missing));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Who asks.
    pub subject: &'a Subject,
    /// With which app.
    pub client: &'a Client,
    /// Whom the token acts for, with the patient in launch context.
    pub context: Context<'a>,
    /// The token's scopes, one of the three bounds. Left [`Scopes::Missing`], every request
    /// is denied: a server that forgets to pass them fails closed.
    pub scopes: Scopes<'a>,
    /// What is asked.
    pub action: Action<'a>,
    /// The resource: the stored one for a read, update or delete, the body for a create,
    /// each result for a search. `None` before the server has it (a search about to run):
    /// conditions on the resource then become search narrowing.
    pub resource: Option<&'a Json>,
    /// When, from where, why.
    pub environment: &'a Environment,
    /// The active Consents of the patient whose data is concerned.
    pub consents: &'a [Consent],
}

impl<'a> Request<'a> {
    /// A request with no scopes (so denied until they are set), no resource and no Consents;
    /// set those fields as needed.
    pub fn new(
        subject: &'a Subject,
        client: &'a Client,
        context: Context<'a>,
        action: Action<'a>,
        environment: &'a Environment,
    ) -> Request<'a> {
        Request {
            subject,
            client,
            context,
            scopes: Scopes::Missing,
            action,
            resource: None,
            environment,
            consents: &[],
        }
    }

    /// Sets the scopes that bound the decision.
    pub fn with_scopes(mut self, scopes: Scopes<'a>) -> Request<'a> {
        self.scopes = scopes;
        self
    }

    /// The patient in launch context, if any.
    pub fn patient(&self) -> Option<&'a str> {
        match self.context {
            Context::User { patient } => patient,
            Context::System => None,
        }
    }
}

/// Which scopes bound a decision.
#[derive(Clone, Copy, Debug, Default)]
pub enum Scopes<'a> {
    /// None were given: the request is denied.
    #[default]
    Missing,
    /// The token's scopes.
    Token(&'a ScopeSet),
    /// No token layer is in play: the policy is decided alone, as the CLI and policy tests
    /// do. A server never uses this.
    PolicyOnly,
}

/// The FHIR interaction asked for and what it is on.
#[derive(Clone, Copy, Debug)]
pub struct Action<'a> {
    /// The interaction.
    pub interaction: Interaction,
    /// The resource type; `None` only for system-level search and history.
    pub resource_type: Option<ResourceType>,
    /// The resource id, for instance-level interactions.
    pub id: Option<&'a str>,
    /// The operation's name with its `$` (`$everything`), for [`Interaction::Operation`].
    pub operation: Option<&'a str>,
    /// The search query.
    pub query: Option<&'a Query>,
}

impl<'a> Action<'a> {
    /// An interaction on a resource type.
    pub fn new(interaction: Interaction, resource_type: ResourceType) -> Action<'a> {
        Action {
            interaction,
            resource_type: Some(resource_type),
            id: None,
            operation: None,
            query: None,
        }
    }
}

/// The user (or system) the token acts for.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Subject {
    /// The subject's reference (`Practitioner/7`, the token's `fhirUser`).
    pub id: String,
    /// Role names, as the policy spells them.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Attributes by name (`department`, `assignedPatients`), typed as the policy declares.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Other references that stand for the subject in a Consent's `actor` (their
    /// PractitionerRole, Organization, CareTeam).
    #[serde(default)]
    pub affiliations: Vec<String>,
}

impl Subject {
    /// A subject with no roles or attributes.
    pub fn new(id: impl Into<String>) -> Subject {
        Subject {
            id: id.into(),
            ..Subject::default()
        }
    }

    /// Adds a role.
    pub fn with_role(mut self, role: impl Into<String>) -> Subject {
        self.roles.push(role.into());
        self
    }

    /// Sets an attribute.
    pub fn with_attribute(mut self, name: impl Into<String>, value: AttributeValue) -> Subject {
        self.attributes.insert(name.into(), value);
        self
    }
}

/// A subject attribute's value.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum AttributeValue {
    /// A string.
    String(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Boolean(bool),
    /// Several strings.
    StringSet(Vec<String>),
}

/// The app the token was issued to.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Client {
    /// The OAuth client id.
    pub id: String,
    /// Whether the client authenticated (a confidential client); public apps did not.
    #[serde(default)]
    pub confidential: bool,
}

impl Client {
    /// A public client.
    pub fn new(id: impl Into<String>) -> Client {
        Client {
            id: id.into(),
            confidential: false,
        }
    }
}

/// When, from where and why. Absent values make conditions on them fail closed: a permit
/// needing them does not apply, a deny needing them does.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Environment {
    /// The local time at the facility (time windows and ages use it).
    #[serde(default)]
    pub time: Option<NaiveDateTime>,
    /// The client's IP address.
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// The purpose of use (a v3 PurposeOfUse code: `TREAT`, `ETREAT`, `HRESCH`).
    #[serde(default)]
    pub purpose_of_use: Option<String>,
    /// A break-glass request: set with the user's stated reason. An empty reason is no
    /// break-glass.
    #[serde(default)]
    pub break_glass: Option<String>,
}

impl Environment {
    /// The break-glass reason, when the request is a valid break-glass request.
    pub fn break_glass_reason(&self) -> Option<&str> {
        self.break_glass
            .as_deref()
            .map(str::trim)
            .filter(|reason| !reason.is_empty())
    }
}
