//! FHIR R4 AuditEvent from an audit record, following the IHE Basic Audit Log Patterns
//! (BALP 1.1) profiles for RESTful interactions: Create, Read, Update, Delete and Query, each
//! in its patient variant when the record names patients.
//!
//! BALP fixes different agent types per interaction: the client is "Source Role ID"
//! (DCM 110153) and the server "Destination Role ID" (DCM 110152) for create, update, patch
//! and search, the reverse for read and vread, and "Application" (DCM 110150) with the
//! server as custodian for delete. The user is the information recipient (IRCP) of reads and
//! searches and the author (AUT) of writes. The token's `jti` goes in the user agent's
//! `policy`. A query's raw text is base64 in `entity.query`. A record naming several
//! patients gives one AuditEvent per patient, as BALP requires.
//!
//! BALP profiles only successful interactions; denied and failed requests get the same
//! structure with outcome 4 or 8 and `outcomeDesc`, and claim no profile.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::{AuditRecord, Decision, Interaction};

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const PROFILE_BASE: &str = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.";
const BALP_ENTITY_TYPE: &str = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType";

/// The BALP pattern an interaction follows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Create,
    Read,
    Update,
    Delete,
    Query,
    /// History, capabilities, batch, transaction, operations: no BALP profile; recorded in
    /// the same shape as a query.
    Other,
}

impl Pattern {
    fn of(interaction: Interaction) -> Pattern {
        match interaction {
            Interaction::Create => Pattern::Create,
            Interaction::Read | Interaction::Vread => Pattern::Read,
            Interaction::Update | Interaction::Patch => Pattern::Update,
            Interaction::Delete => Pattern::Delete,
            Interaction::SearchType | Interaction::SearchSystem => Pattern::Query,
            _ => Pattern::Other,
        }
    }

    fn action(self, interaction: Interaction) -> &'static str {
        match (self, interaction) {
            (Pattern::Create, _) => "C",
            (Pattern::Read, _) => "R",
            (Pattern::Update, _) => "U",
            (Pattern::Delete, _) => "D",
            (
                Pattern::Other,
                Interaction::HistoryInstance
                | Interaction::HistoryType
                | Interaction::HistorySystem
                | Interaction::Capabilities,
            ) => "R",
            _ => "E",
        }
    }

    fn profile(self, patient: bool) -> Option<String> {
        let name = match self {
            Pattern::Create => "Create",
            Pattern::Read => "Read",
            Pattern::Update => "Update",
            Pattern::Delete => "Delete",
            Pattern::Query => "Query",
            Pattern::Other => return None,
        };
        Some(format!(
            "{PROFILE_BASE}{}{name}",
            if patient { "Patient" } else { "" }
        ))
    }

    /// The (client, server) agent types.
    fn roles(self) -> (Value, Value) {
        let dcm = |code: &str, display: &str| json!({"coding": [{"system": DCM, "code": code, "display": display}]});
        match self {
            Pattern::Read => (
                dcm("110152", "Destination Role ID"),
                dcm("110153", "Source Role ID"),
            ),
            Pattern::Delete => (
                dcm("110150", "Application"),
                json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "custodian", "display": "Custodian"}]}),
            ),
            _ => (
                dcm("110153", "Source Role ID"),
                dcm("110152", "Destination Role ID"),
            ),
        }
    }

    fn user_role(self) -> Value {
        let (code, display) = match self {
            Pattern::Create | Pattern::Update | Pattern::Delete => ("AUT", "author (originator)"),
            _ => ("IRCP", "information recipient"),
        };
        json!({"coding": [{"system": PARTICIPATION, "code": code, "display": display}]})
    }
}

impl AuditRecord {
    /// The record as FHIR R4 AuditEvents: one per patient it names (one when it names none).
    ///
    /// ```
    /// use fhir_audit::{AuditRecord, Decision, Interaction, Timestamp};
    /// let mut record = AuditRecord::new("2026-01-02T03:04:05.006Z".parse()?, Interaction::SearchType, Decision::Permitted, 200, "fhir-1");
    /// record.action.resource_type = Some("Observation".into());
    /// record.action.query = Some("patient=1,2".into());
    /// record.patients = vec!["Patient/1".into(), "Patient/2".into()];
    /// let events = record.audit_events();
    /// assert_eq!(events.len(), 2);
    /// assert_eq!(events[1]["entity"][0]["what"]["reference"], "Patient/2");
    /// assert_eq!(events[0]["meta"]["profile"][0], "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientQuery");
    /// # Ok::<(), fhir_audit::Error>(())
    /// ```
    pub fn audit_events(&self) -> Vec<Value> {
        if self.patients.is_empty() {
            return vec![self.audit_event(None)];
        }
        self.patients
            .iter()
            .map(|patient| self.audit_event(Some(patient)))
            .collect()
    }

    fn audit_event(&self, patient: Option<&str>) -> Value {
        let pattern = Pattern::of(self.action.interaction);
        let (client_role, server_role) = pattern.roles();
        let mut event = serde_json::Map::new();
        event.insert("resourceType".into(), json!("AuditEvent"));
        if self.outcome.decision == Decision::Permitted
            && let Some(profile) = pattern.profile(patient.is_some())
        {
            event.insert("meta".into(), json!({"profile": [profile]}));
        }
        event.insert(
            "type".into(),
            json!({"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "Restful Operation"}),
        );
        let code = self.action.interaction.code();
        event.insert("subtype".into(), json!([{"system": "http://hl7.org/fhir/restful-interaction", "code": code, "display": code}]));
        event.insert(
            "action".into(),
            json!(pattern.action(self.action.interaction)),
        );
        event.insert("recorded".into(), json!(self.time.to_string()));
        let (outcome, description) = match self.outcome.decision {
            Decision::Permitted => ("0", None),
            Decision::Denied => ("4", Some("denied")),
            Decision::Error if self.outcome.status >= 500 => ("8", Some("failed")),
            Decision::Error => ("4", Some("failed")),
        };
        event.insert("outcome".into(), json!(outcome));
        if let Some(description) = description {
            let text = match &self.outcome.reason {
                Some(reason) => format!("{description} (HTTP {}): {reason}", self.outcome.status),
                None => format!("{description} (HTTP {})", self.outcome.status),
            };
            event.insert("outcomeDesc".into(), json!(text));
        }
        let mut agents = Vec::with_capacity(3);
        let client_id = self
            .client
            .as_ref()
            .map_or("unknown", |client| client.id.as_str());
        let mut client = json!({"type": client_role, "who": {"identifier": {"value": client_id}}, "requestor": self.user.is_none()});
        if let (Some(ip), Some(object)) = (&self.origin.client_ip, client.as_object_mut()) {
            object.insert("network".into(), json!({"address": ip, "type": "2"}));
        }
        agents.push(client);
        agents.push(json!({
            "type": server_role,
            "who": {"identifier": {"value": self.origin.server_id}},
            "requestor": false,
            "network": {"address": self.origin.server_id, "type": "1"}
        }));
        if let Some(user) = &self.user {
            let mut who = serde_json::Map::new();
            if let Some(fhir_user) = &user.fhir_user {
                who.insert("reference".into(), json!(fhir_user));
            }
            who.insert("identifier".into(), json!({"value": user.id}));
            let mut agent = serde_json::Map::new();
            agent.insert("type".into(), pattern.user_role());
            if !user.roles.is_empty() {
                agent.insert(
                    "role".into(),
                    user.roles
                        .iter()
                        .map(|role| json!({"text": role}))
                        .collect(),
                );
            }
            agent.insert("who".into(), Value::Object(who));
            if let Some(jti) = &self.token_jti {
                agent.insert("policy".into(), json!([jti]));
            }
            agent.insert("requestor".into(), json!(true));
            let mut purposes: Vec<Value> = self
                .purpose_of_use
                .iter()
                .map(|code| purpose(code))
                .collect();
            if let Some(break_glass) = &self.break_glass {
                purposes.push(json!({"coding": [{"system": ACT_REASON, "code": "BTG", "display": "break the glass"}], "text": break_glass.reason}));
            }
            if !purposes.is_empty() {
                agent.insert("purposeOfUse".into(), Value::Array(purposes));
            }
            agents.push(Value::Object(agent));
        }
        event.insert("agent".into(), Value::Array(agents));
        event.insert(
            "source".into(),
            json!({
                "site": self.origin.server_id,
                "observer": {"display": self.origin.server_id},
                "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}]
            }),
        );
        let mut entities = Vec::with_capacity(3);
        // Delete's entity slicing is closed (patient and data only).
        if let (Some(request_id), false) = (&self.origin.request_id, pattern == Pattern::Delete) {
            entities.push(json!({
                "what": {"identifier": {"value": request_id}},
                "type": {"system": BALP_ENTITY_TYPE, "code": "XrequestId", "display": "transport specific unique identifier where http X-Request-Id is used"}
            }));
        }
        if let Some(patient) = patient {
            entities.push(json!({
                "what": {"reference": patient},
                "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}
            }));
        }
        match pattern {
            Pattern::Query | Pattern::Other
                if self.action.query.is_some() || pattern == Pattern::Query =>
            {
                let raw = format!(
                    "{}?{}",
                    self.action.resource_type.as_deref().unwrap_or_default(),
                    self.action.query.as_deref().unwrap_or_default()
                );
                entities.push(json!({
                    "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                    "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                    "description": raw,
                    "query": STANDARD.encode(raw.as_bytes())
                }));
            }
            _ => {
                if let Some(what) = self.data_reference() {
                    entities.push(json!({
                        "what": what,
                        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                        "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"}
                    }));
                }
            }
        }
        if !entities.is_empty() {
            event.insert("entity".into(), Value::Array(entities));
        }
        Value::Object(event)
    }

    /// The resource acted on: `Type/id`, versioned when the version is known.
    fn data_reference(&self) -> Option<Value> {
        let action = &self.action;
        let kind = action.resource_type.as_deref()?;
        let reference = match (&action.resource_id, &action.version_id) {
            (Some(id), Some(version)) => format!("{kind}/{id}/_history/{version}"),
            (Some(id), None) => format!("{kind}/{id}"),
            // A create refused before an id was assigned: the type is all there is.
            (None, _) => return Some(json!({"display": kind})),
        };
        Some(json!({"reference": reference}))
    }
}

/// A purpose of use: a v3 ActReason code when it looks like one, else text.
fn purpose(code: &str) -> Value {
    if !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase()) {
        json!({"coding": [{"system": ACT_REASON, "code": code}]})
    } else {
        json!({"text": code})
    }
}

/// A FHIR R4 Bundle (type `collection`) of the AuditEvents of `records`.
///
/// ```
/// use fhir_audit::{AuditRecord, Decision, Interaction, Timestamp, audit_event_bundle};
/// let record = AuditRecord::new(Timestamp::from_millis(0)?, Interaction::Read, Decision::Denied, 403, "s");
/// let bundle = audit_event_bundle([&record]);
/// assert_eq!(bundle["total"], serde_json::Value::Null);
/// assert_eq!(bundle["entry"][0]["resource"]["outcome"], "4");
/// # Ok::<(), fhir_audit::Error>(())
/// ```
pub fn audit_event_bundle<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Value {
    let entries: Vec<Value> = records
        .into_iter()
        .flat_map(AuditRecord::audit_events)
        .map(|event| json!({"resource": event}))
        .collect();
    let mut bundle = json!({"resourceType": "Bundle", "type": "collection"});
    // FHIR JSON has no empty arrays: an empty Bundle has no `entry`.
    if let (false, Some(object)) = (entries.is_empty(), bundle.as_object_mut()) {
        object.insert("entry".into(), Value::Array(entries));
    }
    bundle
}
