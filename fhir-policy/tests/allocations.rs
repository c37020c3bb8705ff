//! Deciding allocates nothing, including decisions that read the resource (its age,
//! organization and patient compartment). This binary installs a counting global allocator,
//! so it holds only this test.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use chrono::NaiveDateTime;
use fhir_policy::{
    Action, AttributeValue, Client, Engine, Environment, Policy, Request, Scopes, Subject,
};
use fhir_scopes::{Context, Interaction, ResourceType, ScopeSet};
use serde_json::json;

#[test]
fn deciding_allocates_nothing() {
    let policy = Policy::parse(
        &json!({
            "fhirPolicy": "1",
            "id": "ward",
            "attributes": {"department": "string", "assignedPatients": "set<string>"},
            "roles": {"nurse": {}},
            "rules": [
                {"id": "peds", "effect": "permit", "subject": {"roles": ["nurse"]},
                 "target": {"resourceTypes": ["Patient"], "interactions": ["read"]},
                 "when": {"all": [
                    {"equals": [{"resource": "organization"}, {"subject": "department"}]},
                    {"lessThan": [{"ageOf": "birthdate"}, 18]}
                 ]}},
                {"id": "assigned", "effect": "permit", "subject": {"roles": ["nurse"]},
                 "target": {"resourceTypes": ["Observation"], "interactions": ["read"]},
                 "when": {"inCompartment": {"compartment": "Patient", "id": {"subject": "assignedPatients"}}}}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let engine = Engine::new(&policy).unwrap();
    let nurse = Subject::new("Practitioner/n1")
        .with_role("nurse")
        .with_attribute(
            "department",
            AttributeValue::String("Organization/peds".into()),
        )
        .with_attribute(
            "assignedPatients",
            AttributeValue::StringSet(vec!["p1".into(), "p2".into()]),
        );
    let client = Client::new("ward-app");
    let environment = Environment {
        time: Some(NaiveDateTime::parse_from_str("2026-12-03T10:00", "%Y-%m-%dT%H:%M").unwrap()),
        ..Environment::default()
    };
    let scopes = ScopeSet::parse("user/Patient.rs user/Observation.rs").unwrap();
    let child = json!({"resourceType": "Patient", "id": "p1", "birthDate": "2010-05-01",
        "managingOrganization": {"reference": "Organization/peds"}});
    let observation = json!({"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"text": "pulse"}, "subject": {"reference": "Patient/p2"},
        "performer": [{"reference": "https://ehr.example/fhir/Practitioner/n9/_history/2"}]});
    let patient_read = Request {
        resource: Some(&child),
        ..Request::new(
            &nurse,
            &client,
            Context::User { patient: None },
            Action::new(Interaction::Read, ResourceType::Patient),
            &environment,
        )
        .with_scopes(Scopes::Token(&scopes))
    };
    let observation_read = Request {
        resource: Some(&observation),
        action: Action::new(Interaction::Read, ResourceType::Observation),
        ..patient_read
    };

    for request in [patient_read, observation_read] {
        // Once outside the count, so that lazily built tables are not counted.
        assert!(engine.decide(&request).is_permit());
        let mut permitted = false;
        let info = allocation_counter::measure(|| {
            permitted = engine.decide(&request).is_permit();
        });
        assert!(permitted);
        assert_eq!(info.count_total, 0, "{:?}", request.action.resource_type);
    }
}
