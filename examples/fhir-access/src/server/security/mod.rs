//! The real [`Guard`]: bearer token -> `smart-token` -> `fhir-policy` (scopes, policy) ->
//! narrowing and per-resource checks -> one `fhir-audit` record per request.
//!
//! Modules: `key` (the server's signing key), `policy` (the default policy), `users` (the
//! demo users), `audit` (requests as audit records).

pub(crate) mod audit;
pub(crate) mod consents;
pub(crate) mod key;
pub(crate) mod narrowing;
pub(crate) mod policy;
pub(crate) mod users;

use std::sync::Arc;

use fhir_compartment::{Compartment, CompartmentKind};
use fhir_policy::{Action, AttributeValue, Client, Engine, Environment, Request, Scopes, Subject};
use fhir_scopes::{Interaction as ScopeInteraction, Permissions, Query, ResourceType};
use serde_json::Value;
use smart_token::{AccessContext, Validator};

use super::guard::{AuditRecord, Caller, Denial, Guard, Narrowing, Noted, Permit};
use super::outcome::Error;
use super::request::Interaction;
use super::search::SearchQuery;

/// Token validation, the policy and the audit store.
pub(crate) struct PolicyGuard {
    pub(crate) validator: Validator,
    pub(crate) policy: Engine,
    pub(crate) audit: audit::Auditor,
    pub(crate) compartments: fhir_compartment::Compartments,
    /// The patients' active Consents, the third bound of every decision on their data.
    pub(crate) consents: consents::ConsentIndex,
    /// Types outside the Patient compartment that patient-context tokens may read
    /// (`patient_readable_types`).
    pub(crate) patient_readable: Vec<ResourceType>,
    /// Explain mode: a policy denial's 403 carries the policy's explanation.
    pub(crate) explain: bool,
}

impl std::fmt::Debug for PolicyGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyGuard")
            .field("policy", &self.policy.id())
            .finish_non_exhaustive()
    }
}

/// What an interaction is, in the policy's terms.
struct Asked<'q> {
    interaction: ScopeInteraction,
    resource_type: Option<ResourceType>,
    id: Option<&'q str>,
    operation: Option<&'static str>,
    /// The interaction each returned resource is checked for.
    reads_as: ScopeInteraction,
}

fn scope_type(name: &str) -> Option<ResourceType> {
    ResourceType::from_name(name)
}

fn asked(interaction: &Interaction) -> Option<Asked<'_>> {
    let plain = |interaction, resource_type: &dyn std::fmt::Display, id| Asked {
        interaction,
        resource_type: scope_type(&resource_type.to_string()),
        id,
        operation: None,
        reads_as: interaction,
    };
    Some(match interaction {
        Interaction::Capabilities | Interaction::Batch(_) | Interaction::Transaction(_) => {
            return None;
        }
        Interaction::Read(t) => plain(ScopeInteraction::Read, &t.resource_type, Some(&*t.id)),
        Interaction::Vread(t, _) => plain(ScopeInteraction::Vread, &t.resource_type, Some(&*t.id)),
        Interaction::Create {
            resource_type,
            if_none_exist,
            ..
        } => Asked {
            reads_as: ScopeInteraction::Read,
            ..plain(
                if if_none_exist.is_some() {
                    ScopeInteraction::ConditionalCreate
                } else {
                    ScopeInteraction::Create
                },
                resource_type,
                None,
            )
        },
        Interaction::Update { target, .. } => Asked {
            reads_as: ScopeInteraction::Read,
            ..plain(
                ScopeInteraction::Update,
                &target.resource_type,
                Some(&*target.id),
            )
        },
        Interaction::Patch { target, .. } => Asked {
            reads_as: ScopeInteraction::Read,
            ..plain(
                ScopeInteraction::Patch,
                &target.resource_type,
                Some(&*target.id),
            )
        },
        Interaction::Delete(t) => Asked {
            reads_as: ScopeInteraction::Read,
            ..plain(ScopeInteraction::Delete, &t.resource_type, Some(&*t.id))
        },
        Interaction::Search { resource_type, .. } => {
            plain(ScopeInteraction::SearchType, resource_type, None)
        }
        Interaction::History {
            resource_type, id, ..
        } => match id {
            Some(id) => plain(
                ScopeInteraction::HistoryInstance,
                resource_type,
                Some(&**id),
            ),
            None => plain(ScopeInteraction::HistoryType, resource_type, None),
        },
        Interaction::Everything(t) => Asked {
            operation: Some("$everything"),
            reads_as: ScopeInteraction::Read,
            ..plain(
                ScopeInteraction::Operation(Permissions::READ),
                &t.resource_type,
                Some(&*t.id),
            )
        },
    })
}

fn is_write(interaction: ScopeInteraction) -> bool {
    matches!(
        interaction,
        ScopeInteraction::Create
            | ScopeInteraction::ConditionalCreate
            | ScopeInteraction::Update
            | ScopeInteraction::Patch
            | ScopeInteraction::Delete
    )
}

/// Whether a search names a patient other than `patient` in a parameter that links its type
/// to the Patient compartment (`subject=Patient/x`, `patient=x`, `subject:Patient=x`), or as
/// `_id` of a Patient search: decided from the query alone, before any data is read.
fn names_other_patient(
    compartments: &fhir_compartment::Compartments,
    resource_type: fhir_compartment::ResourceType,
    params: &[(String, String)],
    patient: &str,
) -> bool {
    let links = compartments.parameters(resource_type, CompartmentKind::Patient);
    params.iter().any(|(name, value)| {
        let (base, modifier) = name.split_once(':').unwrap_or((name, ""));
        let own_id = resource_type == fhir_compartment::ResourceType::Patient && base == "_id";
        if !own_id && base != "patient" && !links.contains(&base) {
            return false;
        }
        value
            .split(',')
            .any(|value| match value.rsplit_once("Patient/") {
                Some((_, id)) => id != patient,
                None if value.contains('/') => false,
                None => (own_id || base == "patient" || modifier == "Patient") && value != patient,
            })
    })
}

/// The bearer token of the `Authorization` header.
fn bearer(caller: &Caller) -> Option<&str> {
    let header = caller.authorization.as_deref()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The policy subject a token stands for.
fn subject(context: &AccessContext) -> Subject {
    let id = context
        .fhir_user()
        .or(context.subject())
        .unwrap_or("anonymous");
    let mut subject = Subject::new(id);
    for role in context.roles() {
        subject = subject.with_role(role.clone());
    }
    for (name, value) in context.attributes() {
        let value = match value {
            Value::String(s) => AttributeValue::String(s.clone()),
            Value::Bool(b) => AttributeValue::Boolean(*b),
            Value::Number(n) => match n.as_f64() {
                Some(n) => AttributeValue::Number(n),
                None => continue,
            },
            Value::Array(items) => AttributeValue::StringSet(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => continue,
        };
        subject = subject.with_attribute(name.clone(), value);
    }
    subject
}

/// A caller with a valid token, as the policy sees them: resolved once per request (see
/// [`Caller::session`]), so that every decision of the request judges the same token, user
/// and moment.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) context: Arc<AccessContext>,
    subject: Subject,
    client: Client,
    environment: Environment,
}

impl Session {
    fn new(context: Arc<AccessContext>, caller: &Caller) -> Session {
        Session {
            subject: subject(&context),
            client: Client::new(context.client_id().unwrap_or("")),
            environment: Environment {
                time: Some(chrono::Local::now().naive_local()),
                ip: caller.peer.map(|p| p.ip()),
                purpose_of_use: caller.purpose_of_use.clone(),
                break_glass: caller.break_glass.clone(),
            },
            context,
        }
    }

    /// A policy request by this caller for `action`, with the token's scopes.
    fn request<'a>(&'a self, action: Action<'a>) -> Request<'a> {
        let mut request = Request::new(
            &self.subject,
            &self.client,
            self.context.scope_context(),
            action,
            &self.environment,
        );
        request.scopes = Scopes::Token(self.context.scopes());
        request
    }
}

impl PolicyGuard {
    /// The caller's session, validating their token on first use in the request; `None`
    /// for no, a malformed or an invalid token.
    pub(crate) fn session<'c>(&self, caller: &'c Caller) -> Option<&'c Session> {
        caller
            .session
            .get_or_init(|| {
                let token = bearer(caller)?;
                match self.validator.validate(token) {
                    Ok(context) => Some(Session::new(context, caller)),
                    Err(error) => {
                        tracing::info!(error = error.code(), "token refused");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The elements the policy hides from the caller in `resource`. Empty for a denied read:
    /// such resources never reach the reply (`may_read` left them out).
    fn hidden(&self, caller: &Caller, resource: &Value) -> Vec<String> {
        let Some(session) = self.session(caller) else {
            return Vec::new();
        };
        let Some(resource_type) = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .and_then(scope_type)
        else {
            return Vec::new();
        };
        let mut request = session.request(Action::new(ScopeInteraction::Read, resource_type));
        request.resource = Some(resource);
        self.policy.decide(&request).obligations().hide
    }

    /// Decides `interaction` on `resource` (its type taken from the resource) for the caller,
    /// with the Consents of every patient whose compartment holds it, noting in `noted` the
    /// deny rule or Consent provision that refused it, or the break-glass rules that
    /// permitted it.
    fn decide_on(
        &self,
        caller: &Caller,
        interaction: ScopeInteraction,
        resource: &Value,
        noted: &Noted,
    ) -> bool {
        let Some(session) = self.session(caller) else {
            return false;
        };
        let type_name = resource.get("resourceType").and_then(Value::as_str);
        let Some(resource_type) = type_name.and_then(scope_type) else {
            return false;
        };
        let consents = match self.consents_on(resource) {
            Ok(consents) => consents,
            // Consents that cannot be read: nothing of the patient goes out (fail closed).
            Err(error) => {
                tracing::error!(%error, "reading Consents");
                return false;
            }
        };
        let mut action = Action::new(interaction, resource_type);
        action.id = resource.get("id").and_then(Value::as_str);
        let mut request = session.request(action);
        request.resource = Some(resource);
        request.consents = &consents;
        let decision = self.policy.decide(&request);
        if decision.is_permit() {
            if decision.is_break_glass() {
                decision.rules().for_each(|rule| noted.note(rule));
                noted.note("break-glass");
            }
            return true;
        }
        let denied_by = decision
            .consent_provision()
            .or_else(|| decision.rules().next());
        if self.allow_listed(&session.context, interaction, resource_type, denied_by) {
            return true;
        }
        if let Some(rule) = denied_by {
            noted.note(rule);
        }
        false
    }

    /// The active Consents of the patients whose compartments hold `resource`.
    fn consents_on(&self, resource: &Value) -> Result<Arc<[fhir_policy::Consent]>, Error> {
        let with = self.consents.patients()?;
        if with.is_empty() {
            return Ok(no_consents());
        }
        let mut found: Vec<Arc<[fhir_policy::Consent]>> = Vec::new();
        let patients = self
            .compartments
            .compartments_of_kind(resource, CompartmentKind::Patient)
            .unwrap_or_default();
        for compartment in &patients {
            if with
                .binary_search_by(|p| p.as_str().cmp(compartment.id()))
                .is_ok()
            {
                found.push(self.consents.of(compartment.id())?);
            }
        }
        Ok(match found.len() {
            0 => no_consents(),
            1 => found.swap_remove(0),
            _ => found.iter().flat_map(|c| c.iter().cloned()).collect(),
        })
    }

    /// Whether the allow-list lets a patient-context token do `interaction` on a type outside
    /// the Patient compartment that the policy did not permit: the type is listed, the
    /// interaction is a read, the token's scopes grant it for the type, and no deny rule
    /// decided (`denied_by`).
    fn allow_listed(
        &self,
        context: &AccessContext,
        interaction: ScopeInteraction,
        resource_type: ResourceType,
        denied_by: Option<&str>,
    ) -> bool {
        context.patient().is_some()
            && denied_by.is_none()
            && matches!(
                interaction,
                ScopeInteraction::Read | ScopeInteraction::Vread | ScopeInteraction::SearchType
            )
            && self.patient_readable.contains(&resource_type)
            && context
                .scopes()
                .decide(&fhir_scopes::Request::new(
                    context.scope_context(),
                    interaction,
                    Some(resource_type),
                ))
                .is_permit()
    }

    /// The compartments of the patients whose Consent refuses a search outright (it depends
    /// on no resource content): the search must not reach into them. Their provisions are
    /// noted for the audit record.
    fn consent_exclusions(
        &self,
        request: &Request<'_>,
        noted: &Noted,
    ) -> Result<Vec<Compartment>, Error> {
        let mut excluded = Vec::new();
        for patient in self.consents.patients()?.iter() {
            let consents = self.consents.of(patient)?;
            let mut asked = *request;
            asked.consents = &consents;
            let decision = self.policy.decide(&asked);
            if decision.is_permit() {
                continue;
            }
            if let Some(provision) = decision.consent_provision() {
                noted.note(provision);
                excluded.push(
                    Compartment::new(CompartmentKind::Patient, patient)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                );
            }
        }
        Ok(excluded)
    }
}

/// The rule id audit records carry when the `patient_readable_types` allow-list decided.
const PATIENT_READABLE: &str = "config:patient_readable_types";

fn no_consents() -> Arc<[fhir_policy::Consent]> {
    Arc::from(Vec::new())
}

/// Marks a resource as redacted (v3 ObservationValue `REDACTED`), as FHIR security labels do.
fn tag_redacted(resource: &mut serde_json::Map<String, Value>) {
    let tag = serde_json::json!({
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
        "code": "REDACTED"
    });
    let meta = resource
        .entry("meta")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        let security = meta
            .entry("security")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(labels) = security.as_array_mut() {
            labels.push(tag);
        }
    }
}

impl Guard for PolicyGuard {
    fn decide(&self, caller: &Caller, interaction: &Interaction) -> Result<Permit, Denial> {
        if matches!(interaction, Interaction::Capabilities) {
            return Ok(Permit::default());
        }
        let session = self.session(caller).ok_or(Error::Unauthenticated)?;
        let context = &session.context;
        // A Bundle's entries are decided one by one, each like a top-level request.
        let Some(asked) = asked(interaction) else {
            return Ok(Permit {
                reads_as: Some(ScopeInteraction::Read),
                ..Permit::default()
            });
        };
        let patient = context.patient();
        let (query_text, compartment) = match interaction {
            Interaction::Search {
                query, compartment, ..
            } => (
                // Chains and `_has` are decided by the engine as searches of their own.
                Some(
                    form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(
                            query
                                .params
                                .iter()
                                .filter(|(name, _)| !SearchQuery::is_chained(name)),
                        )
                        .finish(),
                ),
                compartment.as_ref(),
            ),
            _ => (None, None),
        };
        // A patient-context token naming another patient's compartment: refused from the
        // request alone.
        if let (Some(patient), Some(compartment)) = (patient, compartment) {
            if compartment.kind() == CompartmentKind::Patient && compartment.id() != patient {
                return Err(Error::Forbidden.into());
            }
        }
        if let (
            Some(patient),
            Interaction::Search {
                resource_type,
                query,
                ..
            },
        ) = (patient, interaction)
        {
            if names_other_patient(&self.compartments, *resource_type, &query.params, patient) {
                return Err(Error::Forbidden.into());
            }
        }
        // A conditional create's condition is a search too.
        if let (
            Some(patient),
            Interaction::Create {
                resource_type,
                if_none_exist: Some(condition),
                ..
            },
        ) = (patient, interaction)
        {
            if names_other_patient(
                &self.compartments,
                *resource_type,
                &condition.params,
                patient,
            ) {
                return Err(Error::Forbidden.into());
            }
        }
        let query = match query_text.as_deref().filter(|q| !q.is_empty()) {
            Some(text) => Some(Query::parse(text).map_err(|_| Error::Forbidden)?),
            None => None,
        };
        let mut action = match asked.resource_type {
            Some(resource_type) => Action::new(asked.interaction, resource_type),
            None => return Err(Error::Forbidden.into()),
        };
        action.id = asked.id;
        action.operation = asked.operation;
        action.query = query.as_ref();
        let request = session.request(action);
        let decision = self.policy.decide(&request);
        let rules: Vec<String> = decision.rules().map(str::to_owned).collect();
        // An allow-listed type is read without the patient bound (a Practitioner is in no
        // patient's compartment, so the policy's patient rules cannot permit it); deny rules
        // still win, and each resource is decided again on its way out.
        let deny_rule = (!decision.is_permit())
            .then(|| rules.first().map(String::as_str))
            .flatten();
        if request
            .action
            .resource_type
            .is_some_and(|t| self.allow_listed(context, asked.interaction, t, deny_rule))
        {
            return Ok(Permit {
                rules: vec![PATIENT_READABLE.to_owned()],
                reads_as: Some(asked.reads_as),
                content_bound: true,
                ..Permit::default()
            });
        }
        if !decision.is_permit() {
            tracing::debug!(explanation = %decision.explanation(), "denied");
            let error = if self.explain {
                Error::ForbiddenExplained(decision.explanation().to_string())
            } else {
                Error::Forbidden
            };
            return Err(Denial { error, rules });
        }
        let obligations = decision.obligations();
        let mut narrowing = Vec::new();
        // A patient-context token searches inside its patient's compartment.
        if let (Some(patient), Some(owner_type)) = (
            patient,
            asked
                .resource_type
                .and_then(|t| fhir_compartment::ResourceType::from_name(t.as_str())),
        ) {
            if owner_type == fhir_compartment::ResourceType::Patient
                || !self
                    .compartments
                    .parameters(owner_type, CompartmentKind::Patient)
                    .is_empty()
            {
                let compartment = Compartment::new(CompartmentKind::Patient, patient)
                    .map_err(|_| Error::Forbidden)?;
                narrowing.push(Narrowing::InCompartments(vec![compartment]));
            }
        }
        if let (Some(tree), Some(resource_type)) = (
            &obligations.search,
            asked
                .resource_type
                .and_then(|t| fhir_compartment::ResourceType::from_name(t.as_str())),
        ) {
            narrowing.extend(narrowing::translate(
                tree,
                resource_type,
                &self.compartments,
            ));
        }
        // A search (and type history) must not reach into the compartment of a patient whose
        // Consent refuses it, or `total` would count what the caller may not see.
        let noted = Noted::default();
        if matches!(
            asked.interaction,
            ScopeInteraction::SearchType | ScopeInteraction::HistoryType
        ) {
            let excluded = self.consent_exclusions(&request, &noted)?;
            if !excluded.is_empty() {
                narrowing.push(Narrowing::NotInCompartments(excluded));
            }
        }
        let mut records = rules;
        if decision.is_break_glass() {
            records.push("break-glass".to_owned());
        }
        let content_bound = decision.needs_resource_check()
            || !narrowing.is_empty()
            || self.consents.patients().map_or(true, |p| !p.is_empty());
        Ok(Permit {
            content_bound,
            narrowing,
            rules: records,
            reads_as: Some(asked.reads_as),
            writes_as: is_write(asked.interaction).then_some(asked.interaction),
            read_only: obligations.read_only,
            redacts: !obligations.hide.is_empty(),
            noted,
        })
    }

    fn may_read(&self, caller: &Caller, permit: &Permit, resource: &Value) -> bool {
        match permit.reads_as {
            // Only the public CapabilityStatement goes out without a token.
            None => {
                resource.get("resourceType").and_then(Value::as_str) == Some("CapabilityStatement")
            }
            Some(interaction) => self.decide_on(caller, interaction, resource, &permit.noted),
        }
    }

    fn may_write(
        &self,
        caller: &Caller,
        permit: &Permit,
        stored: Option<&Value>,
        new: Option<&Value>,
    ) -> bool {
        let Some(interaction) = permit
            .writes_as
            .or(permit.reads_as.map(|_| ScopeInteraction::Update))
        else {
            return false;
        };
        // Both versions must be writable: nothing moves into or out of a compartment the
        // caller may not write.
        let versions_allowed = stored
            .into_iter()
            .chain(new)
            .all(|resource| self.decide_on(caller, interaction, resource, &permit.noted));
        let read_only_kept = match (stored, new) {
            (Some(stored), Some(new)) => permit
                .read_only
                .iter()
                .all(|field| stored.get(field) == new.get(field)),
            _ => true,
        };
        (stored.is_some() || new.is_some()) && versions_allowed && read_only_kept
    }

    fn redact(&self, caller: &Caller, body: &mut Value) {
        if body.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
            if let Some(entries) = body.get_mut("entry").and_then(Value::as_array_mut) {
                for entry in entries {
                    if let Some(resource) = entry.get_mut("resource") {
                        self.redact(caller, resource);
                    }
                }
            }
            return;
        }
        let hide = self.hidden(caller, body);
        if let Some(object) = body.as_object_mut() {
            let mut removed = false;
            for name in &hide {
                removed |= object.remove(name).is_some();
            }
            if removed {
                tag_redacted(object);
            }
        }
    }

    fn serves_audit_events(&self) -> bool {
        true
    }

    fn audit_events(&self, query: &SearchQuery, max: usize) -> Result<Vec<Value>, Error> {
        self.audit.search(query, max)
    }

    fn audit(&self, record: &AuditRecord<'_>) -> Result<(), Error> {
        let session = self.session(record.caller);
        self.audit.record(record, session.map(|s| &*s.context))
    }

    fn consents_changed(&self) {
        self.consents.invalidate();
    }

    fn flush(&self) -> Result<(), Error> {
        self.audit.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_compartment::ResourceType as Type;

    fn names(resource_type: Type, params: &[(&str, &str)]) -> bool {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        names_other_patient(
            &fhir_compartment::Compartments::r4(),
            resource_type,
            &params,
            "a",
        )
    }

    #[test]
    fn a_query_naming_another_patient_is_recognised_from_the_query_alone() {
        assert!(names(Type::Observation, &[("subject", "Patient/b")]));
        assert!(names(
            Type::Observation,
            &[("subject", "Patient/a,Patient/b")]
        ));
        assert!(names(Type::Observation, &[("subject:Patient", "b")]));
        assert!(names(Type::Observation, &[("patient", "b")]));
        assert!(names(
            Type::Observation,
            &[("performer", "http://x/fhir/Patient/b")]
        ));
        assert!(names(Type::Patient, &[("_id", "b")]));
        assert!(!names(Type::Observation, &[("subject", "Patient/a")]));
        assert!(!names(Type::Observation, &[("patient", "a")]));
        assert!(!names(Type::Observation, &[("subject", "Group/g")]));
        assert!(!names(Type::Observation, &[("code", "Patient/b")]));
        assert!(!names(Type::Practitioner, &[("_id", "b")]));
    }

    #[test]
    fn only_a_non_empty_bearer_credential_is_a_token() {
        let with = |header: &str| Caller {
            authorization: Some(header.to_owned()),
            ..Caller::default()
        };
        assert_eq!(bearer(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer ")), None);
        assert_eq!(bearer(&with("Bearer")), None);
        assert_eq!(bearer(&Caller::default()), None);
    }
}
