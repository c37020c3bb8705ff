//! The policy document as written: the JSON shape of schema version 1, read with serde
//! (unknown fields are errors). Conditions stay JSON here; `compile` type-checks them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// A policy document, as read from JSON. [`Policy::parse`] reads and validates one;
/// [`crate::Engine::new`] compiles it.
///
/// ```
/// use fhir_policy::Policy;
///
/// let policy = Policy::parse(r#"{
///     "fhirPolicy": "1",
///     "id": "tiny",
///     "roles": {"clerk": {}},
///     "rules": [{
///         "id": "clerk-reads-patients",
///         "effect": "permit",
///         "target": {"resourceTypes": ["Patient"], "interactions": ["read"]},
///         "subject": {"roles": ["clerk"]}
///     }]
/// }"#)?;
/// assert_eq!(policy.rules.len(), 1);
/// assert!(Policy::parse(r#"{"fhirPolicy": "1", "id": "x", "rules": [], "extra": 1}"#).is_err());
/// # Ok::<(), fhir_policy::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// The schema version; must be `"1"`.
    pub fhir_policy: String,
    /// The policy's name, quoted in decisions and findings.
    pub id: String,
    /// What the policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The subject attributes conditions may use, with their types: `string`, `number`,
    /// `boolean` or `set<string>`. A condition naming an undeclared attribute is an error.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeType>,
    /// Code lists (ValueSet expansions) by name, each code written `system|code`.
    #[serde(default)]
    pub value_sets: BTreeMap<String, Vec<String>>,
    /// The roles, by name.
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    /// The rules, in order (order matters only for which rule an explanation names first).
    pub rules: Vec<Rule>,
}

/// The type of a subject attribute.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum AttributeType {
    /// A string.
    #[serde(rename = "string")]
    String,
    /// A number.
    #[serde(rename = "number")]
    Number,
    /// `true` or `false`.
    #[serde(rename = "boolean")]
    Boolean,
    /// Several strings (assigned patients, locations).
    #[serde(rename = "set<string>")]
    StringSet,
}

/// A role: what its holders may do without further conditions, and the roles it includes.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Role {
    /// What the role is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Roles whose permissions and rules this role also has.
    #[serde(default)]
    pub inherits: Vec<String>,
    /// Unconditional permissions: each becomes a permit rule `role:NAME[i]`.
    #[serde(default)]
    pub permissions: Vec<Target>,
    /// Codes that name this role in a Consent's `provision.actor.role` (`system|code`).
    #[serde(default)]
    pub codes: Vec<String>,
}

/// A rule: when it applies (target, subject, conditions) and what it decides.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    /// A unique id, quoted in decisions.
    pub id: String,
    /// What the rule is for; a denial's explanation quotes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Permit or deny.
    pub effect: Effect,
    /// The resource types, interactions and operations it applies to.
    pub target: Target,
    /// Whom it applies to; every subject when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<SubjectMatch>,
    /// A condition that must hold; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Json>,
    /// A permit rule that applies only to a break-glass request (a flag and a reason). It
    /// overrides a Consent's denial and deny rules marked `breakGlassOverridable`.
    #[serde(default)]
    pub break_glass: bool,
    /// A deny rule that a break-glass rule may override.
    #[serde(default)]
    pub break_glass_overridable: bool,
    /// What the server must do when this rule permits.
    #[serde(default)]
    pub obligations: RuleObligations,
}

/// Permit or deny.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Allow.
    Permit,
    /// Refuse; overrides any permit.
    Deny,
}

/// Resource types, interactions and operations.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Target {
    /// Resource type names, or `*` for all.
    pub resource_types: Vec<String>,
    /// FHIR interaction names (`read`, `search-type`, ...), the groups `search`, `history`,
    /// `write`, or `*`.
    #[serde(default)]
    pub interactions: Vec<String>,
    /// Named operations (`$everything`).
    #[serde(default)]
    pub operations: Vec<String>,
}

/// Whom a rule applies to: any of the roles or ids, and a condition on the subject.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubjectMatch {
    /// The subject must hold one of these roles (or a role inheriting one).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Or be one of these subjects (`Practitioner/123`).
    #[serde(default)]
    pub ids: Vec<String>,
    /// A condition on the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Json>,
}

/// What a permit requires of the server.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleObligations {
    /// Top-level elements to remove from returned resources (`name`, `telecom`).
    #[serde(default)]
    pub hide: Vec<String>,
    /// Top-level elements a create, update or patch may not set or change.
    #[serde(default)]
    pub read_only: Vec<String>,
    /// The audit level the request needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditLevel>,
}

/// How much an audit record must say, from least to most.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum AuditLevel {
    /// The usual record: who, what, when, outcome.
    #[default]
    Standard,
    /// Also the query, the returned resource ids and the deciding rules.
    Detailed,
    /// Break-glass: everything, flagged for review.
    Emergency,
}

impl AuditLevel {
    /// The level's name as written in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditLevel::Standard => "standard",
            AuditLevel::Detailed => "detailed",
            AuditLevel::Emergency => "emergency",
        }
    }
}

impl Policy {
    /// Reads a policy document, checking its shape and schema version (the rules are
    /// type-checked by [`crate::Engine::new`]).
    pub fn parse(text: &str) -> Result<Policy, crate::Error> {
        let policy: Policy = serde_json::from_str(text).map_err(|source| crate::Error::Json {
            document: "policy",
            source,
        })?;
        if policy.fhir_policy != "1" {
            return Err(crate::Error::Version {
                found: policy.fhir_policy,
            });
        }
        Ok(policy)
    }
}
