//! [`Decision`]: permit or deny, the rules (and Consent provisions) that decided, an
//! explanation, and the [`Obligations`] a permit puts on the server.
//!
//! A decision borrows the engine and the request, so deciding copies nothing; the
//! explanation and obligations are computed when asked for.

use std::fmt;

use fhir_scopes::{Denial, Permit};
use serde_json::{Value as Json, json};
use smallvec::SmallVec;

use crate::condition::{Cx, Truth};
use crate::consent::ConsentVerdict;
use crate::document::{AuditLevel, Effect};
use crate::engine::{CompiledRule, Engine};
use crate::narrowing::{Narrowing, narrowing};
use crate::request::Request;
use crate::target::{INTERACTIONS, interaction_index};

/// The answer to a [`Request`].
///
/// ```
/// use fhir_policy::{Action, AuditLevel, Client, Engine, Environment, Policy, Request, Scopes, Subject};
/// use fhir_scopes::{Context, Interaction, ResourceType};
///
/// let engine = Engine::new(&Policy::parse(r#"{"fhirPolicy": "1", "id": "research",
///   "roles": {"researcher": {}},
///   "rules": [{"id": "deidentified", "effect": "permit", "subject": {"roles": ["researcher"]},
///     "target": {"resourceTypes": ["Patient"], "interactions": ["read"]},
///     "obligations": {"hide": ["name", "telecom"], "audit": "detailed"}}]}"#)?)?;
/// let researcher = Subject::new("Practitioner/r").with_role("researcher");
/// let (client, environment) = (Client::new("app"), Environment::default());
/// let request = Request::new(&researcher, &client, Context::User { patient: None },
///     Action::new(Interaction::Read, ResourceType::Patient), &environment)
///     .with_scopes(Scopes::PolicyOnly);
/// let decision = engine.decide(&request);
/// assert!(decision.is_permit());
/// assert_eq!(decision.rules().collect::<Vec<_>>(), ["deidentified"]);
/// assert_eq!(decision.explanation().to_string(), "rule `deidentified` permits read Patient");
/// let obligations = decision.obligations();
/// assert_eq!(obligations.hide, ["name", "telecom"]);
/// assert_eq!(obligations.audit, AuditLevel::Detailed);
/// # Ok::<(), fhir_policy::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Decision<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) request: Request<'a>,
    pub(crate) cause: Cause<'a>,
    /// The permitting rules (or the break-glass rules); empty for a denial.
    pub(crate) rules: SmallVec<[&'a CompiledRule; 4]>,
    /// The permit holds only for resources matching the rules' conditions.
    pub(crate) conditional: bool,
    /// Deny rules that depend on the resource: each result must be checked.
    pub(crate) pending_denies: SmallVec<[&'a CompiledRule; 2]>,
    pub(crate) consent: Option<ConsentVerdict<'a>>,
    pub(crate) scope_permit: Option<Permit<'a>>,
}

/// Why a decision came out as it did.
#[derive(Clone, Debug)]
pub(crate) enum Cause<'a> {
    Permit,
    BreakGlass { rule: &'a CompiledRule },
    UnknownInteraction,
    NoScopes,
    Scopes(Denial),
    ScopeContent,
    DenyRule(&'a CompiledRule),
    Consent,
    NoRule,
}

impl<'a> Decision<'a> {
    pub(crate) fn new(engine: &'a Engine, request: Request<'a>) -> Decision<'a> {
        Decision {
            engine,
            request,
            cause: Cause::NoRule,
            rules: SmallVec::new(),
            conditional: false,
            pending_denies: SmallVec::new(),
            consent: None,
            scope_permit: None,
        }
    }

    /// Permit or deny.
    pub fn effect(&self) -> Effect {
        match self.cause {
            Cause::Permit | Cause::BreakGlass { .. } => Effect::Permit,
            _ => Effect::Deny,
        }
    }

    /// Whether the request is permitted (within the [`Obligations`]).
    pub fn is_permit(&self) -> bool {
        self.effect() == Effect::Permit
    }

    /// Whether a break-glass rule decided: the request must be audited at the highest level.
    pub fn is_break_glass(&self) -> bool {
        matches!(self.cause, Cause::BreakGlass { .. })
    }

    /// The ids of the rules that decided: the permitting rules, or the deny rule. Role
    /// permissions appear as `role:NAME`. Empty for a default deny, a scope or Consent
    /// denial.
    pub fn rules(&self) -> impl Iterator<Item = &'a str> + '_ {
        let deny = match self.cause {
            Cause::DenyRule(rule) => Some(&*rule.id),
            _ => None,
        };
        deny.into_iter().chain(self.rules.iter().map(|r| &*r.id))
    }

    /// The Consent provision that decided, as `Consent/ID#provision.provision[0]`, when a
    /// Consent denied, or permitted where a provision matched.
    pub fn consent_provision(&self) -> Option<&'a str> {
        match self.consent {
            Some(ConsentVerdict::Deny { label } | ConsentVerdict::Permit { label }) => Some(label),
            _ => None,
        }
    }

    /// Whether the server must check each resource before returning it (calling
    /// [`Engine::decide`] with the resource): the permit depends on resource content.
    pub fn needs_resource_check(&self) -> bool {
        self.is_permit()
            && (self.conditional
                || !self.pending_denies.is_empty()
                || matches!(self.consent, Some(ConsentVerdict::Pending))
                || self
                    .scope_permit
                    .as_ref()
                    .is_some_and(|p| !p.is_unrestricted()))
    }

    /// What the server must do with a permit. Empty for a denial.
    pub fn obligations(&self) -> Obligations {
        let mut obligations = Obligations::default();
        if !self.is_permit() {
            return obligations;
        }
        for rule in &self.rules {
            for name in &rule.obligations.hide {
                if !obligations.hide.contains(name) {
                    obligations.hide.push(name.clone());
                }
            }
            for name in &rule.obligations.read_only {
                if !obligations.read_only.contains(name) {
                    obligations.read_only.push(name.clone());
                }
            }
            if let Some(level) = rule.obligations.audit {
                obligations.audit = obligations.audit.max(level);
            }
        }
        if self.is_break_glass() {
            obligations.audit = AuditLevel::Emergency;
        }
        obligations.check_each_resource = self.needs_resource_check();
        if self.request.action.interaction.is_search() && self.request.resource.is_none() {
            obligations.search = narrowing(self);
        }
        obligations
    }

    /// A human-readable explanation: for a permit, what permitted it; for a denial, what was
    /// missing.
    pub fn explanation(&self) -> Explanation<'_, 'a> {
        Explanation { decision: self }
    }

    /// The decision as JSON: `decision`, `policy`, `rules`, `consent`, `breakGlass`,
    /// `explanation` and `obligations`.
    pub fn to_json(&self) -> Json {
        let obligations = self.obligations();
        json!({
            "decision": if self.is_permit() { "permit" } else { "deny" },
            "policy": self.engine.id(),
            "rules": self.rules().collect::<Vec<_>>(),
            "consent": self.consent_provision(),
            "breakGlass": self.is_break_glass(),
            "explanation": self.explanation().to_string(),
            "obligations": {
                "search": obligations.search.as_ref().map(ToString::to_string),
                "hide": obligations.hide,
                "readOnly": obligations.read_only,
                "audit": obligations.audit.as_str(),
                "checkEachResource": obligations.check_each_resource,
            },
        })
    }

    pub(crate) fn cx(&self) -> Cx<'_> {
        Cx {
            request: &self.request,
            resource_type: self.engine.resource_type(&self.request),
            value_sets: &self.engine.value_sets,
            compartments: &self.engine.compartments,
        }
    }
}

/// What a permit requires of the server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Obligations {
    /// For a search without a resource: the constraint to AND into the query, so that only
    /// the permitted part of it runs. `None`: no narrowing.
    pub search: Option<Narrowing>,
    /// Top-level elements to remove from each returned resource.
    pub hide: Vec<String>,
    /// Top-level elements a create, update or patch may not set or change.
    pub read_only: Vec<String>,
    /// How much the audit record must say.
    pub audit: AuditLevel,
    /// Each resource must be checked with [`Engine::decide`] before it is returned (or,
    /// for a write, before it is stored).
    pub check_each_resource: bool,
}

/// A decision's explanation, formatted on demand.
#[derive(Clone, Copy, Debug)]
pub struct Explanation<'d, 'a> {
    decision: &'d Decision<'a>,
}

impl fmt::Display for Explanation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decision = self.decision;
        let request = &decision.request;
        let action = ActionText(request, decision.engine);
        match &decision.cause {
            Cause::Permit => {
                write_rules(f, &decision.rules)?;
                write!(f, " {action}")?;
                if decision.conditional {
                    f.write_str(" for the resources matching its conditions")?;
                }
                Ok(())
            }
            Cause::BreakGlass { rule } => {
                write!(f, "break-glass: rule `{}` permits {action}", rule.id)?;
                if let Some(reason) = request.environment.break_glass_reason() {
                    write!(f, " (reason: {reason})")?;
                }
                if let Some(label) = decision.consent_provision() {
                    if matches!(decision.consent, Some(ConsentVerdict::Deny { .. })) {
                        write!(f, ", overriding the patient's consent `{label}`")?;
                    }
                }
                Ok(())
            }
            Cause::UnknownInteraction => {
                write!(f, "the interaction `{}` is not one this engine knows", request.action.interaction)
            }
            Cause::NoScopes => f.write_str("no token scopes were given to bound the decision"),
            Cause::Scopes(denial) => write!(f, "the token's scopes do not allow it: {denial}"),
            Cause::ScopeContent => f.write_str(
                "the resource is outside what the token's scopes allow (patient compartment or scope parameters)",
            ),
            Cause::DenyRule(rule) => {
                write!(f, "rule `{}` denies {action}", rule.id)?;
                if let Some(description) = &rule.description {
                    write!(f, ": {description}")?;
                }
                let cx = decision.cx();
                if let Some(interaction) = interaction_index(request.action.interaction) {
                    if decision.engine.applies(rule, &cx, interaction) == Truth::Missing {
                        f.write_str(" (an input its condition needs is absent, so it applies)")?;
                    }
                }
                Ok(())
            }
            Cause::Consent => {
                write!(f, "the patient's consent denies it")?;
                if let Some(label) = decision.consent_provision() {
                    write!(f, " (`{label}`)")?;
                }
                Ok(())
            }
            Cause::NoRule => {
                write!(f, "no rule permits {} to {action}", SubjectText(request))?;
                let cx = decision.cx();
                let Some(interaction) = interaction_index(request.action.interaction) else {
                    return Ok(());
                };
                let c = crate::engine::cell_of(decision.engine, request, interaction);
                let mut first = true;
                let held = decision.engine.held_roles(request);
                decision.engine.candidates(request, &held, c, Effect::Permit, &mut |rule| {
                    let at = format!("rule `{}`", rule.id);
                    let why = if rule.break_glass {
                        Some("applies only to a break-glass request with a reason".to_owned())
                    } else {
                        rule.subject_when
                            .as_ref()
                            .and_then(|c| c.why_not(&cx, "subject.when"))
                            .or_else(|| rule.when.as_ref().and_then(|c| c.why_not(&cx, "when")))
                    };
                    if let Some(why) = why {
                        let sep = if first { ": " } else { "; " };
                        first = false;
                        let _ = write!(f, "{sep}{at}: {why}");
                    }
                    false
                });
                Ok(())
            }
        }
    }
}

fn write_rules(f: &mut fmt::Formatter<'_>, rules: &[&CompiledRule]) -> fmt::Result {
    for (i, rule) in rules.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        match rule.id.strip_prefix("role:") {
            Some(role) => write!(f, "role `{role}`")?,
            None => write!(f, "rule `{}`", rule.id)?,
        }
    }
    f.write_str(if rules.len() > 1 {
        " permit"
    } else {
        " permits"
    })
}

/// `delete Condition`, `$everything on Patient`, `search-system`.
struct ActionText<'r, 'a>(&'r Request<'a>, &'r Engine);

impl fmt::Display for ActionText<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = &self.0.action;
        let name = interaction_index(action.interaction)
            .and_then(|i| INTERACTIONS.get(i))
            .copied()
            .unwrap_or("?");
        let type_name = self.1.resource_type(self.0).map(|t| t.as_str());
        match (action.operation, type_name) {
            (Some(op), Some(t)) if name == "operation" => write!(f, "{op} on {t}"),
            (Some(op), None) if name == "operation" => write!(f, "{op}"),
            (_, Some(t)) => write!(f, "{name} {t}"),
            (_, None) => write!(f, "{name}"),
        }
    }
}

/// `role nurse`, `roles nurse, admin`, `Practitioner/7 (no roles)`.
struct SubjectText<'r, 'a>(&'r Request<'a>);

impl fmt::Display for SubjectText<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = self.0.subject;
        match subject.roles.as_slice() {
            [] => write!(f, "`{}` (no roles)", subject.id),
            [one] => write!(f, "role {one}"),
            many => write!(f, "roles {}", many.join(", ")),
        }
    }
}
