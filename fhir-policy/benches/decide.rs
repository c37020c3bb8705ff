//! Deciding, building a request and loading a policy, beside Cedar (`cedar-policy`) on
//! equivalent policies in the same run:
//!
//! - `10_rules`: RBAC over Patient/Observation/Encounter/CarePlan with department and
//!   patient-compartment conditions (the Cedar entities carry the resource's patient and
//!   organization as attributes; ours reads them from the FHIR resource JSON).
//! - `1000_rules`: 1,000 generated per-department rules, one role each.
//!
//! Each case asserts its answer once before it is timed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "benchmark code: a panic is a failed run"
)]

use std::hint::black_box;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context as CedarContext, Decision as CedarDecision, Entities, EntityUid, PolicySet,
    Request as CedarRequest,
};
use criterion::{Criterion, criterion_group, criterion_main};
use fhir_policy::{
    Action, AttributeValue, Client, Engine, Environment, Policy, Request, Scopes, Subject,
};
use fhir_scopes::{Context, Interaction, ResourceType};
use serde_json::{Value, json};

/// The small policy, ours.
fn small_policy() -> String {
    json!({
        "fhirPolicy": "1",
        "id": "small",
        "attributes": {"department": "string", "assignedPatients": "set<string>", "departmentPatients": "set<string>"},
        "roles": {"doctor": {}, "nurse": {}, "admin": {}, "auditor": {}, "researcher": {}},
        "rules": [
            {"id": "doctor-read", "effect": "permit", "subject": {"roles": ["doctor"]},
             "target": {"resourceTypes": ["Patient", "Observation", "Encounter", "CarePlan"], "interactions": ["read", "search-type"]},
             "when": {"inCompartment": {"compartment": "Patient", "id": {"subject": "assignedPatients"}}}},
            {"id": "doctor-write-careplan", "effect": "permit", "subject": {"roles": ["doctor"]},
             "target": {"resourceTypes": ["CarePlan"], "interactions": ["create", "update"]},
             "when": {"inCompartment": {"compartment": "Patient", "id": {"subject": "assignedPatients"}}}},
            {"id": "nurse-read-patients", "effect": "permit", "subject": {"roles": ["nurse"]},
             "target": {"resourceTypes": ["Patient"], "interactions": ["read"]},
             "when": {"equals": [{"resource": "organization"}, {"subject": "department"}]}},
            {"id": "nurse-read-records", "effect": "permit", "subject": {"roles": ["nurse"]},
             "target": {"resourceTypes": ["Observation", "Encounter"], "interactions": ["read"]},
             "when": {"inCompartment": {"compartment": "Patient", "id": {"subject": "departmentPatients"}}}},
            {"id": "nurse-read-careplans", "effect": "permit", "subject": {"roles": ["nurse"]},
             "target": {"resourceTypes": ["CarePlan"], "interactions": ["read"]},
             "when": {"inCompartment": {"compartment": "Patient", "id": {"subject": "departmentPatients"}}}},
            {"id": "no-condition-delete", "effect": "deny",
             "target": {"resourceTypes": ["Condition"], "interactions": ["delete"]}},
            {"id": "admin", "effect": "permit", "subject": {"roles": ["admin"]},
             "target": {"resourceTypes": ["Appointment", "Account"], "interactions": ["read", "search-type"]}},
            {"id": "auditor", "effect": "permit", "subject": {"roles": ["auditor"]},
             "target": {"resourceTypes": ["AuditEvent"], "interactions": ["read"]}},
            {"id": "auditor-read-only", "effect": "deny", "subject": {"roles": ["auditor"]},
             "target": {"resourceTypes": ["*"], "interactions": ["write"]}},
            {"id": "research", "effect": "permit", "subject": {"roles": ["researcher"]},
             "target": {"resourceTypes": ["Observation"], "interactions": ["read"]},
             "when": {"equals": [{"environment": "purposeOfUse"}, "HRESCH"]}}
        ]
    })
    .to_string()
}

/// The small policy in Cedar: the same ten rules.
const SMALL_CEDAR: &str = r#"
permit(principal in Role::"doctor", action in [Action::"read", Action::"search-type"], resource)
  when { (resource is Patient || resource is Observation || resource is Encounter || resource is CarePlan)
         && principal.assignedPatients.contains(resource.patient) };
permit(principal in Role::"doctor", action in [Action::"create", Action::"update"], resource is CarePlan)
  when { principal.assignedPatients.contains(resource.patient) };
permit(principal in Role::"nurse", action == Action::"read", resource is Patient)
  when { resource.organization == principal.department };
permit(principal in Role::"nurse", action == Action::"read", resource)
  when { (resource is Observation || resource is Encounter) && principal.departmentPatients.contains(resource.patient) };
permit(principal in Role::"nurse", action == Action::"read", resource is CarePlan)
  when { principal.departmentPatients.contains(resource.patient) };
forbid(principal, action == Action::"delete", resource is Condition);
permit(principal in Role::"admin", action in [Action::"read", Action::"search-type"], resource)
  when { resource is Appointment || resource is Account };
permit(principal in Role::"auditor", action == Action::"read", resource is AuditEvent);
forbid(principal in Role::"auditor", action in [Action::"create", Action::"update", Action::"patch", Action::"delete"], resource);
permit(principal in Role::"researcher", action == Action::"read", resource is Observation)
  when { context.purposeOfUse == "HRESCH" };
"#;

/// The large policy, ours: one role and rule per department.
fn large_policy(n: usize) -> String {
    let roles: serde_json::Map<String, Value> =
        (0..n).map(|i| (format!("dept-{i}"), json!({}))).collect();
    let rules: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("dept-{i}-records"), "effect": "permit", "subject": {"roles": [format!("dept-{i}")]},
             "target": {"resourceTypes": ["Patient", "Observation", "Encounter", "CarePlan"], "interactions": ["read", "search-type"]},
             "when": {"inCompartment": {"compartment": "Patient", "id": {"subject": "departmentPatients"}}}})
        })
        .collect();
    json!({"fhirPolicy": "1", "id": "large", "attributes": {"departmentPatients": "set<string>"},
           "roles": roles, "rules": rules})
    .to_string()
}

fn large_cedar(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "permit(principal in Role::\"dept-{i}\", action in [Action::\"read\", Action::\"search-type\"], resource)\n  \
                 when {{ (resource is Patient || resource is Observation || resource is Encounter || resource is CarePlan) \
                 && principal.departmentPatients.contains(resource.patient) }};\n"
            )
        })
        .collect()
}

/// The observation being read.
fn observation() -> Value {
    json!({"resourceType": "Observation", "id": "o1", "status": "final",
           "subject": {"reference": "Patient/p1"},
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}})
}

/// The token claims the server holds, as JSON.
fn claims(role: &str) -> Value {
    json!({"fhirUser": "Practitioner/u1", "roles": [role], "assignedPatients": ["p1", "p2", "p3"],
           "departmentPatients": ["p1", "p2", "p3"], "department": "Organization/peds"})
}

fn subject_from(claims: &Value) -> Subject {
    let strings = |key: &str| -> Vec<String> {
        claims[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let mut subject = Subject::new(claims["fhirUser"].as_str().unwrap());
    subject.roles = strings("roles");
    for key in ["assignedPatients", "departmentPatients"] {
        subject
            .attributes
            .insert(key.to_owned(), AttributeValue::StringSet(strings(key)));
    }
    subject.attributes.insert(
        "department".to_owned(),
        AttributeValue::String(claims["department"].as_str().unwrap().to_owned()),
    );
    subject
}

/// The Cedar entities for the same request: the user (in its role) and the resource.
fn cedar_entities(claims: &Value) -> Entities {
    let role = claims["roles"][0].as_str().unwrap();
    Entities::from_json_value(
        json!([
            {"uid": {"type": "User", "id": "u1"},
             "attrs": {"assignedPatients": claims["assignedPatients"], "departmentPatients": claims["departmentPatients"],
                       "department": claims["department"]},
             "parents": [{"type": "Role", "id": role}]},
            {"uid": {"type": "Role", "id": role}, "attrs": {}, "parents": []},
            {"uid": {"type": "Observation", "id": "o1"}, "attrs": {"patient": "p1", "organization": "Organization/peds"}, "parents": []}
        ]),
        None,
    )
    .unwrap()
}

fn build_cedar_request() -> CedarRequest {
    CedarRequest::new(
        EntityUid::from_str(r#"User::"u1""#).unwrap(),
        EntityUid::from_str(r#"Action::"read""#).unwrap(),
        EntityUid::from_str(r#"Observation::"o1""#).unwrap(),
        CedarContext::empty(),
        None,
    )
    .unwrap()
}

fn decide(c: &mut Criterion) {
    let resource = observation();
    let environment = Environment::default();
    let client = Client::new("app");
    let authorizer = Authorizer::new();
    for (name, ours, cedar, role) in [
        ("10_rules", small_policy(), SMALL_CEDAR.to_owned(), "doctor"),
        (
            "1000_rules",
            large_policy(1000),
            large_cedar(1000),
            "dept-500",
        ),
    ] {
        let engine = Engine::new(&Policy::parse(&ours).unwrap()).unwrap();
        let claims = claims(role);
        let subject = subject_from(&claims);
        let mut request = Request::new(
            &subject,
            &client,
            Context::User { patient: None },
            Action::new(Interaction::Read, ResourceType::Observation),
            &environment,
        )
        .with_scopes(Scopes::PolicyOnly);
        request.resource = Some(&resource);
        assert!(engine.decide(&request).is_permit());
        let policies = PolicySet::from_str(&cedar).unwrap();
        let entities = cedar_entities(&claims);
        let cedar_request = build_cedar_request();
        assert_eq!(
            authorizer
                .is_authorized(&cedar_request, &policies, &entities)
                .decision(),
            CedarDecision::Allow
        );

        let mut group = c.benchmark_group(format!("decide/{name}"));
        group.bench_function("ours", |b| {
            b.iter(|| engine.decide(black_box(&request)).is_permit())
        });
        group.bench_function("cedar", |b| {
            b.iter(|| {
                authorizer
                    .is_authorized(black_box(&cedar_request), &policies, &entities)
                    .decision()
            })
        });
        group.finish();

        // Building the request from the token's claims and the resource, then deciding.
        let mut group = c.benchmark_group(format!("build_and_decide/{name}"));
        group.bench_function("ours", |b| {
            b.iter(|| {
                let subject = subject_from(black_box(&claims));
                let mut request = Request::new(
                    &subject,
                    &client,
                    Context::User { patient: None },
                    Action::new(Interaction::Read, ResourceType::Observation),
                    &environment,
                )
                .with_scopes(Scopes::PolicyOnly);
                request.resource = Some(&resource);
                engine.decide(&request).is_permit()
            })
        });
        group.bench_function("cedar", |b| {
            b.iter(|| {
                let entities = cedar_entities(black_box(&claims));
                let request = build_cedar_request();
                authorizer
                    .is_authorized(&request, &policies, &entities)
                    .decision()
            })
        });
        group.finish();

        // Without the resource: a search about to run, answered with its narrowing.
        let search = Request {
            action: Action::new(Interaction::SearchType, ResourceType::Observation),
            resource: None,
            ..request
        };
        assert!(engine.decide(&search).is_permit());
        let mut group = c.benchmark_group(format!("decide_search/{name}"));
        group.bench_function("ours", |b| {
            b.iter(|| engine.decide(black_box(&search)).is_permit())
        });
        group.finish();

        let mut group = c.benchmark_group(format!("load/{name}"));
        group.sample_size(if name == "10_rules" { 100 } else { 10 });
        group.bench_function("ours", |b| {
            b.iter(|| Engine::new(&Policy::parse(black_box(&ours)).unwrap()).unwrap())
        });
        group.bench_function("cedar", |b| {
            b.iter(|| PolicySet::from_str(black_box(&cedar)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, decide);
criterion_main!(benches);
