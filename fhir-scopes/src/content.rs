//! Checking a resource's content against a permit: does this Observation's `category` match
//! the granular scope's `category=...laboratory`? For results a server is about to return,
//! and for the body of a create or update.
//!
//! Granular parameters are evaluated for the search parameters that granular scopes use in
//! practice: `category`, `code`, `status`, `type`, `clinical-status`, `verification-status`,
//! `intent`, `class`, `_tag` and `_security`, as token searches on the element FHIR R4
//! defines for them. A parameter outside that list, or with a modifier, never matches, so
//! an unverifiable grant admits nothing (fail closed).

use serde_json::Value as Json;

use crate::decision::{Grant, Permit};
use crate::query::{Parameter, Token};
use crate::resource_type::ResourceType;

impl Permit<'_> {
    /// Whether `resource` is within this permit. `in_compartment(id)` must answer whether
    /// the resource is in the compartment of `Patient/id` (the caller owns compartment
    /// membership, for example with the `fhir-compartment` crate).
    ///
    /// ```
    /// use fhir_scopes::{Context, Interaction, Request, ResourceType, ScopeSet};
    /// use serde_json::json;
    ///
    /// let scopes = ScopeSet::parse(
    ///     "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
    /// )?;
    /// let request = Request::new(Context::User { patient: Some("123") }, Interaction::Read, Some(ResourceType::Observation));
    /// let decision = scopes.decide(&request);
    /// let permit = decision.permit().unwrap();
    /// let lab = json!({
    ///     "resourceType": "Observation",
    ///     "subject": {"reference": "Patient/123"},
    ///     "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}]
    /// });
    /// let in_123 = |id: &str| id == "123";
    /// assert!(permit.admits(&lab, in_123));
    /// let mut vitals = lab.clone();
    /// vitals["category"][0]["coding"][0]["code"] = json!("vital-signs");
    /// assert!(!permit.admits(&vitals, in_123));
    /// assert!(!permit.admits(&lab, |_| false));
    /// # Ok::<(), fhir_scopes::Error>(())
    /// ```
    pub fn admits(&self, resource: &Json, in_compartment: impl Fn(&str) -> bool) -> bool {
        self.clauses.iter().all(|clause| {
            clause
                .grants
                .iter()
                .any(|grant| grant.admits(resource, &in_compartment))
        })
    }
}

impl Grant<'_> {
    /// Whether this grant admits `resource`: its type, the patient compartment for
    /// `patient/` scopes, and every granular parameter.
    pub fn admits(&self, resource: &Json, in_compartment: impl Fn(&str) -> bool) -> bool {
        let Some(resource_type) = resource
            .get("resourceType")
            .and_then(Json::as_str)
            .and_then(ResourceType::from_name)
        else {
            return false;
        };
        if !self.scope.covers_type(resource_type) {
            return false;
        }
        if let Some(patient) = self.patient {
            if !in_compartment(patient) {
                return false;
            }
        }
        match self.scope.query() {
            None => true,
            Some(query) => query
                .parameters()
                .all(|parameter| matches(parameter, resource_type, resource)),
        }
    }
}

/// Whether one granular parameter matches the resource: any alternative matches any value
/// of the element.
fn matches(parameter: Parameter<'_>, resource_type: ResourceType, resource: &Json) -> bool {
    if parameter.modifier().is_some() || parameter.name() != parameter.code() {
        return false;
    }
    let Some(path) = element(parameter.code(), resource_type) else {
        return false;
    };
    let mut node = Some(resource);
    for step in path {
        node = node.and_then(|n| n.get(step));
    }
    let Some(node) = node else {
        return false;
    };
    parameter
        .values()
        .any(|value| each(node).any(|item| token_matches(value.token(), item)))
}

/// The element a token parameter searches, per FHIR R4's SearchParameter definitions.
fn element(code: &str, resource_type: ResourceType) -> Option<&'static [&'static str]> {
    use ResourceType as T;
    Some(match (code, resource_type) {
        ("code", T::MedicationRequest)
        | ("code", T::MedicationAdministration)
        | ("code", T::MedicationDispense)
        | ("code", T::MedicationStatement) => &["medicationCodeableConcept"],
        (
            "code",
            T::AllergyIntolerance
            | T::Condition
            | T::Observation
            | T::Procedure
            | T::DiagnosticReport
            | T::ServiceRequest
            | T::Medication
            | T::FamilyMemberHistory
            | T::DeviceRequest
            | T::Goal
            | T::Specimen
            | T::Task
            | T::QuestionnaireResponse
            | T::ClinicalImpression
            | T::ObservationDefinition
            | T::DocumentReference
            | T::Composition
            | T::List,
        ) => &["code"],
        ("code", T::Immunization) => &["vaccineCode"],
        ("category", _) => &["category"],
        ("status", _) => &["status"],
        ("type", _) => &["type"],
        ("intent", _) => &["intent"],
        ("class", T::Encounter) => &["class"],
        ("clinical-status", _) => &["clinicalStatus"],
        ("verification-status", _) => &["verificationStatus"],
        ("_tag", _) => &["meta", "tag"],
        ("_security", _) => &["meta", "security"],
        _ => return None,
    })
}

/// The items of an element: the array's members, or the element itself.
fn each(node: &Json) -> Box<dyn Iterator<Item = &Json> + '_> {
    match node {
        Json::Array(items) => Box::new(items.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

/// FHIR token matching against a `code`, a `Coding` or a `CodeableConcept`.
fn token_matches(token: Token<'_>, item: &Json) -> bool {
    match item {
        // A plain `code`: its system is implied by the binding, so only a token without a
        // system can be checked; one with a system fails closed.
        Json::String(code) => token.system().is_none() && *code == token.code(),
        Json::Object(object) => match object.get("coding") {
            Some(codings) => each(codings).any(|coding| coding_matches(token, coding)),
            None => coding_matches(token, item),
        },
        _ => false,
    }
}

fn coding_matches(token: Token<'_>, coding: &Json) -> bool {
    let system = coding.get("system").and_then(Json::as_str);
    let code = coding.get("code").and_then(Json::as_str);
    let wanted_code = token.code();
    match token.system() {
        None => code == Some(wanted_code.as_ref()),
        Some(wanted) if wanted.is_empty() => system.is_none() && code == Some(wanted_code.as_ref()),
        Some(wanted) if wanted_code.is_empty() => system == Some(wanted.as_ref()),
        Some(wanted) => system == Some(wanted.as_ref()) && code == Some(wanted_code.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{Context, Interaction, Request, ResourceType, ScopeSet};

    const LAB: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

    fn admits(scopes: &str, resource: serde_json::Value) -> bool {
        let set = ScopeSet::parse(scopes).unwrap();
        let t = resource["resourceType"]
            .as_str()
            .and_then(ResourceType::from_name);
        let request = Request::new(Context::User { patient: Some("1") }, Interaction::Read, t);
        let decision = set.decide(&request);
        decision
            .permit()
            .is_some_and(|p| p.admits(&resource, |id| id == "1"))
    }

    fn observation(system: Option<&str>, code: &str) -> serde_json::Value {
        let mut coding = json!({"code": code});
        if let Some(system) = system {
            coding["system"] = json!(system);
        }
        json!({"resourceType": "Observation", "status": "final", "category": [{"coding": [coding]}]})
    }

    #[test]
    fn token_forms() {
        let lab = observation(Some(LAB), "laboratory");
        assert!(admits(
            &format!("patient/Observation.r?category={LAB}|laboratory"),
            lab.clone()
        ));
        assert!(admits(
            "patient/Observation.r?category=laboratory",
            lab.clone()
        ));
        assert!(admits(
            &format!("patient/Observation.r?category={LAB}|"),
            lab.clone()
        ));
        assert!(!admits(
            "patient/Observation.r?category=|laboratory",
            lab.clone()
        ));
        assert!(admits(
            "patient/Observation.r?category=|laboratory",
            observation(None, "laboratory")
        ));
        assert!(!admits(
            &format!("patient/Observation.r?category={LAB}|vital-signs"),
            lab.clone()
        ));
        assert!(admits(
            &format!("patient/Observation.r?category={LAB}|vital-signs,{LAB}|laboratory"),
            lab.clone()
        ));
        assert!(!admits(
            "patient/Observation.r?category=http://other|laboratory",
            lab
        ));
    }

    #[test]
    fn and_across_parameters_and_codes() {
        let lab = observation(Some(LAB), "laboratory");
        assert!(admits(
            "patient/Observation.r?category=laboratory&status=final",
            lab.clone()
        ));
        assert!(!admits(
            "patient/Observation.r?category=laboratory&status=amended",
            lab.clone()
        ));
        assert!(!admits(
            "patient/Observation.r?status=http://hl7.org/fhir/observation-status|final",
            lab.clone()
        ));
        assert!(!admits(
            "patient/Observation.r?unknown-param=x",
            lab.clone()
        ));
        assert!(!admits("patient/Condition.r", lab));
    }

    #[test]
    fn resource_type_is_checked() {
        let condition = json!({
            "resourceType": "Condition",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
            "clinicalStatus": {"coding": [{"code": "active"}]}
        });
        assert!(admits(
            "patient/*.r?category=problem-list-item",
            condition.clone()
        ));
        assert!(admits(
            "patient/Condition.r?clinical-status=active",
            condition.clone()
        ));
        assert!(!admits(
            "patient/Condition.r?clinical-status=resolved",
            condition.clone()
        ));
        assert!(!admits("patient/*.r", json!({"resourceType": "NotAType"})));
        assert!(!admits("patient/*.r", json!([1, 2])));
    }
}
