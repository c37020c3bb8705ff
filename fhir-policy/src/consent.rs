//! [`Consent`]: an R4 Consent resource (scope `patient-privacy`) compiled for evaluation,
//! and its evaluation against a request: the provision tree, where the deepest matching
//! provision decides, over actor (reference and role), action, purpose, class, code,
//! security labels, period, dataPeriod and data.

use chrono::NaiveDateTime;
use fhir_compartment::path::search_parameter;
use fhir_compartment::{Compartment, CompartmentKind};
use fhir_scopes::Interaction;
use serde_json::Value as Json;

use crate::Error;
use crate::condition::{Cx, Truth, Value, equal};
use crate::document::Effect;
use crate::engine::Engine;

/// A patient's privacy Consent, compiled once (the server caches it with the patient).
///
/// ```
/// use fhir_policy::Consent;
///
/// let consent = Consent::from_json(&serde_json::json!({
///     "resourceType": "Consent", "id": "no-dr-x", "status": "active",
///     "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
///     "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
///     "patient": {"reference": "Patient/1"},
///     "provision": {"type": "permit", "provision": [
///         {"type": "deny", "actor": [{"role": {"coding": [{"code": "PRCP"}]}, "reference": {"reference": "Practitioner/x"}}]}
///     ]}
/// }))?;
/// assert_eq!(consent.id(), "Consent/no-dr-x");
/// assert_eq!(consent.patient(), "1");
/// # Ok::<(), fhir_policy::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Consent {
    id: Box<str>,
    patient: Box<str>,
    active: bool,
    root: Provision,
}

#[derive(Clone, Debug, PartialEq)]
struct Provision {
    /// `Consent/ID#provision.provision[0]`.
    label: Box<str>,
    effect: Effect,
    period: Option<Period>,
    actors: Vec<Actor>,
    actions: Vec<Coding>,
    security_labels: Vec<Coding>,
    purposes: Vec<Coding>,
    classes: Vec<Coding>,
    codes: Vec<Coding>,
    data_period: Option<Period>,
    data: Vec<Box<str>>,
    children: Vec<Provision>,
}

#[derive(Clone, Debug, PartialEq)]
struct Actor {
    reference: Option<Box<str>>,
    roles: Vec<Coding>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Coding {
    system: Option<Box<str>>,
    code: Box<str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Period {
    start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
}

/// What the patient's Consents say about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConsentVerdict<'a> {
    Permit {
        label: &'a str,
    },
    Deny {
        label: &'a str,
    },
    /// Depends on the resource: each result must be checked.
    Pending,
}

const RESOURCE_TYPES: &str = "http://hl7.org/fhir/resource-types";

impl Consent {
    /// Compiles a Consent resource. Fails when it is not a Consent, its scope is not
    /// `patient-privacy`, it names no patient, or a provision has no `type`.
    pub fn from_json(resource: &Json) -> Result<Consent, Error> {
        let error = |at: &str, message: &str| Error::Consent {
            at: at.to_owned(),
            message: message.to_owned(),
        };
        if resource.get("resourceType").and_then(Json::as_str) != Some("Consent") {
            return Err(error("resourceType", "not a Consent"));
        }
        let id = resource
            .get("id")
            .and_then(Json::as_str)
            .ok_or_else(|| error("id", "missing"))?;
        let privacy = codings(resource.get("scope"))
            .iter()
            .any(|c| c.code.as_ref() == "patient-privacy");
        if !privacy {
            return Err(error(
                "scope",
                "only `patient-privacy` Consents are evaluated",
            ));
        }
        let patient = resource
            .get("patient")
            .and_then(|p| p.get("reference"))
            .and_then(Json::as_str)
            .and_then(|r| r.strip_prefix("Patient/"))
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or_else(|| error("patient", "expected a reference `Patient/ID`"))?;
        let label = format!("Consent/{id}");
        let root = resource.get("provision").ok_or_else(|| {
            error(
                "provision",
                "missing: a Consent without provisions decides nothing",
            )
        })?;
        let root = Provision::compile(root, &label, "provision")?;
        Ok(Consent {
            id: label.into(),
            patient: patient.into(),
            active: resource.get("status").and_then(Json::as_str) == Some("active"),
            root,
        })
    }

    /// `Consent/ID`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The patient's id.
    pub fn patient(&self) -> &str {
        &self.patient
    }

    /// Whether the Consent is in force (`status` is `active`).
    pub fn is_active(&self) -> bool {
        self.active
    }
}

impl Provision {
    fn compile(json: &Json, consent: &str, at: &str) -> Result<Provision, Error> {
        let error = |field: &str, message: String| Error::Consent {
            at: format!("{at}.{field}"),
            message,
        };
        let effect = match json.get("type").and_then(Json::as_str) {
            Some("permit") => Effect::Permit,
            Some("deny") => Effect::Deny,
            Some(other) => {
                return Err(error(
                    "type",
                    format!("`{other}` is not `permit` or `deny`"),
                ));
            }
            None => {
                return Err(error(
                    "type",
                    "missing: every provision says permit or deny".to_owned(),
                ));
            }
        };
        let list = |field: &str| {
            json.get(field)
                .and_then(Json::as_array)
                .map_or(&[][..], Vec::as_slice)
        };
        let mut actors = Vec::new();
        for (i, actor) in list("actor").iter().enumerate() {
            let reference = actor
                .get("reference")
                .and_then(|r| r.get("reference"))
                .and_then(Json::as_str)
                .map(Into::into);
            let roles = codings(actor.get("role"));
            if reference.is_none() && roles.is_empty() {
                return Err(error(
                    &format!("actor[{i}]"),
                    "names neither a reference nor a role".to_owned(),
                ));
            }
            actors.push(Actor { reference, roles });
        }
        let many = |field: &str| -> Vec<Coding> {
            list(field).iter().flat_map(|c| codings(Some(c))).collect()
        };
        let data = list("data")
            .iter()
            .filter_map(|d| d.get("reference")?.get("reference")?.as_str())
            .map(Into::into)
            .collect();
        let children = list("provision")
            .iter()
            .enumerate()
            .map(|(i, child)| Provision::compile(child, consent, &format!("{at}.provision[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Provision {
            label: format!("{consent}#{at}").into(),
            effect,
            period: json
                .get("period")
                .map(|p| period(p, &format!("{at}.period")))
                .transpose()?,
            actors,
            actions: many("action"),
            security_labels: many("securityLabel"),
            purposes: many("purpose"),
            classes: many("class"),
            codes: many("code"),
            data_period: json
                .get("dataPeriod")
                .map(|p| period(p, &format!("{at}.dataPeriod")))
                .transpose()?,
            data,
            children,
        })
    }

    /// Whether the provision's criteria all hold (no criteria: it always applies).
    fn matches(&self, engine: &Engine, cx: &Cx<'_>) -> Truth {
        let request = cx.request;
        let mut result = Truth::True;
        let mut and = |t: Truth| {
            result = match (result, t) {
                (Truth::False, _) | (_, Truth::False) => Truth::False,
                (Truth::Missing, _) | (_, Truth::Missing) => Truth::Missing,
                (Truth::Pending, _) | (_, Truth::Pending) => Truth::Pending,
                _ => Truth::True,
            };
        };
        if let Some(period) = &self.period {
            and(match request.environment.time {
                Some(now) => Truth::from_bool(period.contains(now)),
                None => Truth::Missing,
            });
        }
        if !self.actors.is_empty() {
            let subject = request.subject;
            let is_subject =
                |r: &str| r == subject.id || subject.affiliations.iter().any(|a| a == r);
            let holds_role = |role: &Coding| {
                subject.roles.iter().any(|name| {
                    engine.role(name).is_some_and(|r| {
                        r.closure.iter().any(|i| {
                            engine.roles.get(*i).is_some_and(|inherited| {
                                inherited.codes.iter().any(|(s, c)| {
                                    **c == *role.code
                                        && role.system.as_deref().is_none_or(|rs| rs == &**s)
                                })
                            })
                        })
                    })
                })
            };
            and(Truth::from_bool(self.actors.iter().any(
                |actor| match &actor.reference {
                    Some(reference) => is_subject(reference),
                    None => actor.roles.iter().any(holds_role),
                },
            )));
        }
        if !self.actions.is_empty() {
            let asked: &[&str] = match request.action.interaction {
                Interaction::Create | Interaction::ConditionalCreate => &["collect"],
                Interaction::Update
                | Interaction::Patch
                | Interaction::Delete
                | Interaction::ConditionalUpdate
                | Interaction::ConditionalPatch
                | Interaction::ConditionalDelete => &["correct"],
                _ => &["access", "use", "disclose"],
            };
            and(Truth::from_bool(
                self.actions.iter().any(|a| asked.contains(&&*a.code)),
            ));
        }
        if !self.purposes.is_empty() {
            and(match &request.environment.purpose_of_use {
                Some(purpose) => {
                    Truth::from_bool(self.purposes.iter().any(|p| *p.code == **purpose))
                }
                None => Truth::Missing,
            });
        }
        if !self.classes.is_empty() {
            let type_name = cx.resource_type.map(|t| t.as_str());
            and(Truth::from_bool(self.classes.iter().any(|class| {
                class.system.as_deref().is_none_or(|s| s == RESOURCE_TYPES)
                    && type_name == Some(&*class.code)
            })));
        }
        let Some(resource) = request.resource else {
            if !self.codes.is_empty()
                || !self.security_labels.is_empty()
                || self.data_period.is_some()
                || !self.data.is_empty()
            {
                and(Truth::Pending);
            }
            return result;
        };
        if !self.codes.is_empty() {
            and(Truth::from_bool(any_coding(
                resource.get("code"),
                &self.codes,
            )));
        }
        if !self.security_labels.is_empty() {
            let labels = resource.get("meta").and_then(|m| m.get("security"));
            and(Truth::from_bool(any_coding(labels, &self.security_labels)));
        }
        if let Some(period) = &self.data_period {
            let date = cx
                .resource_type
                .and_then(|t| search_parameter(t, "date"))
                .and_then(|p| {
                    let mut date = None;
                    p.expression().for_each(resource, None, &mut |v| {
                        date = date.or_else(|| date_of(v));
                    });
                    date
                })
                .or_else(|| resource.get("meta")?.get("lastUpdated").and_then(date_of));
            and(match date {
                Some(date) => Truth::from_bool(period.contains(date)),
                None => Truth::Missing,
            });
        }
        if !self.data.is_empty() {
            let own = match (cx.resource_type, resource.get("id").and_then(Json::as_str)) {
                (Some(t), Some(id)) => Some(format!("{}/{id}", t.as_str())),
                _ => None,
            };
            and(Truth::from_bool(
                own.is_some_and(|own| self.data.iter().any(|d| **d == own)),
            ));
        }
        result
    }

    /// The deepest matching provision's effect, or `Pending` when it depends on the
    /// resource; `None` when this provision does not apply.
    fn decide<'a>(&'a self, engine: &Engine, cx: &Cx<'_>) -> Option<ConsentVerdict<'a>> {
        let applies = match self.matches(engine, cx) {
            Truth::True => true,
            // An absent input: a deny applies, a permit does not (fail closed).
            Truth::Missing => self.effect == Effect::Deny,
            Truth::False => false,
            Truth::Pending => return Some(ConsentVerdict::Pending),
        };
        if !applies {
            return None;
        }
        let mut verdict = match self.effect {
            Effect::Permit => ConsentVerdict::Permit { label: &self.label },
            Effect::Deny => ConsentVerdict::Deny { label: &self.label },
        };
        for child in &self.children {
            match child.decide(engine, cx) {
                None => {}
                // A nested deny is final among siblings: fail closed.
                Some(deny @ ConsentVerdict::Deny { .. }) => return Some(deny),
                Some(other) if !matches!(verdict, ConsentVerdict::Pending) => verdict = other,
                Some(_) => {}
            }
        }
        Some(verdict)
    }
}

impl Period {
    fn contains(&self, at: NaiveDateTime) -> bool {
        self.start.is_none_or(|s| s <= at) && self.end.is_none_or(|e| at <= e)
    }
}

/// Reads `YYYY-MM-DD` or a date-time (its local part; the offset is ignored, as times in
/// requests are facility-local).
fn date_time(text: &str) -> Option<NaiveDateTime> {
    if let Some(local) = text.get(..19) {
        if let Ok(t) = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S") {
            return Some(t);
        }
    }
    crate::condition::parse_date(text).and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn date_of(value: &Json) -> Option<NaiveDateTime> {
    match value {
        Json::String(s) => date_time(s),
        Json::Object(map) => map.get("start").and_then(Json::as_str).and_then(date_time),
        _ => None,
    }
}

fn period(json: &Json, at: &str) -> Result<Period, Error> {
    let bound = |key: &str| -> Result<Option<NaiveDateTime>, Error> {
        match json.get(key).and_then(Json::as_str) {
            None => Ok(None),
            Some(text) => date_time(text).map(Some).ok_or_else(|| Error::Consent {
                at: format!("{at}.{key}"),
                message: format!("`{text}` is not a date or date-time"),
            }),
        }
    };
    let start = bound("start")?;
    // A date-only end includes its whole day.
    let end = bound("end")?.map(|e| {
        if json
            .get("end")
            .and_then(Json::as_str)
            .is_some_and(|t| t.len() == 10)
        {
            e + chrono::Duration::seconds(86_399)
        } else {
            e
        }
    });
    Ok(Period { start, end })
}

/// The Codings of a Coding or CodeableConcept.
fn codings(value: Option<&Json>) -> Vec<Coding> {
    let Some(value) = value else {
        return Vec::new();
    };
    if let Some(list) = value.get("coding").and_then(Json::as_array) {
        return list.iter().flat_map(|c| codings(Some(c))).collect();
    }
    match value.get("code").and_then(Json::as_str) {
        Some(code) => vec![Coding {
            system: value.get("system").and_then(Json::as_str).map(Into::into),
            code: code.into(),
        }],
        None => Vec::new(),
    }
}

/// Whether an element (Coding, CodeableConcept, or a list of them) has one of `wanted`.
fn any_coding(element: Option<&Json>, wanted: &[Coding]) -> bool {
    let Some(element) = element else { return false };
    let found = match element {
        Json::Array(items) => items.iter().flat_map(|i| codings(Some(i))).collect(),
        other => codings(Some(other)),
    };
    found.iter().any(|have| {
        wanted.iter().any(|want| {
            equal(
                Value::Code(have.system.as_deref(), &have.code),
                Value::Code(want.system.as_deref(), &want.code),
            )
        })
    })
}

/// The verdict over every active Consent that concerns the request's data.
pub(crate) fn evaluate_consents<'a>(
    consents: &'a [Consent],
    engine: &Engine,
    cx: &Cx<'_>,
) -> Option<ConsentVerdict<'a>> {
    let mut result = None;
    for consent in consents.iter().filter(|c| c.active) {
        if let Some(resource) = cx.request.resource {
            // A resource outside the patient's compartment is not theirs to consent about.
            let own = cx.resource_type == Some(fhir_compartment::ResourceType::Patient)
                && resource.get("id").and_then(Json::as_str) == Some(&*consent.patient);
            let member = own
                || Compartment::new(CompartmentKind::Patient, &consent.patient)
                    .ok()
                    .and_then(|c| cx.compartments.is_member(resource, &c).ok())
                    .unwrap_or(false);
            if !member {
                continue;
            }
        }
        match consent.root.decide(engine, cx) {
            Some(deny @ ConsentVerdict::Deny { .. }) => return Some(deny),
            Some(ConsentVerdict::Pending) => result = Some(ConsentVerdict::Pending),
            Some(permit) if result.is_none() => result = Some(permit),
            _ => {}
        }
    }
    result
}
