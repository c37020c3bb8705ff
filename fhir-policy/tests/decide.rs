//! Decisions through the public interface: loading errors, rules, conditions, combining with
//! scopes and Consent, break-glass, narrowing and explanations.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a panic is a failed test"
)]

use chrono::NaiveDateTime;
use fhir_policy::{
    Action, AttributeValue, AuditLevel, Client, Consent, Effect, Engine, Environment, Narrowing,
    Policy, Request, Scopes, Subject,
};
use fhir_scopes::{Context, Interaction, Query, ResourceType, ScopeSet};
use serde_json::{Value, json};

fn engine(policy: Value) -> Engine {
    Engine::new(&Policy::parse(&policy.to_string()).unwrap()).unwrap()
}

fn load_error(policy: Value) -> String {
    match Policy::parse(&policy.to_string()).and_then(|p| Engine::new(&p)) {
        Ok(_) => panic!("loaded"),
        Err(e) => e.to_string(),
    }
}

fn base(rules: Value) -> Value {
    json!({
        "fhirPolicy": "1",
        "id": "test",
        "attributes": {"department": "string", "assignedPatients": "set<string>"},
        "valueSets": {"sensitive": ["http://snomed.info/sct|35489007", "http://loinc.org|11341-5"]},
        "roles": {
            "clinician": {"permissions": [{"resourceTypes": ["Practitioner"], "interactions": ["read"]}]},
            "nurse": {"inherits": ["clinician"], "codes": ["http://terminology.hl7.org/CodeSystem/v3-RoleCode|NURS"]},
            "doctor": {"inherits": ["clinician"]},
            "admin": {}
        },
        "rules": rules
    })
}

fn at(text: &str) -> Environment {
    Environment {
        time: Some(NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").unwrap()),
        ..Environment::default()
    }
}

fn nurse() -> Subject {
    Subject::new("Practitioner/n1")
        .with_role("nurse")
        .with_attribute(
            "department",
            AttributeValue::String("Organization/peds".into()),
        )
        .with_attribute(
            "assignedPatients",
            AttributeValue::StringSet(vec!["p1".into(), "p2".into()]),
        )
}

fn decide_on(
    engine: &Engine,
    subject: &Subject,
    environment: &Environment,
    interaction: Interaction,
    t: ResourceType,
    resource: Option<&Value>,
) -> (Effect, Vec<String>, String) {
    let client = Client::new("app");
    let mut request = Request::new(
        subject,
        &client,
        Context::User { patient: None },
        Action::new(interaction, t),
        environment,
    )
    .with_scopes(Scopes::PolicyOnly);
    request.resource = resource;
    let d = engine.decide(&request);
    (
        d.effect(),
        d.rules().map(str::to_owned).collect(),
        d.explanation().to_string(),
    )
}

#[test]
fn load_rejects_bad_documents_with_where_and_what() {
    assert_eq!(
        load_error(json!({"fhirPolicy": "2", "id": "x", "rules": []})),
        "policy: unsupported schema version `2`; this crate reads version `1`"
    );
    assert!(
        load_error(json!({"fhirPolicy": "1", "id": "x", "rules": [], "rolez": {}}))
            .starts_with("policy: unknown field `rolez`")
    );
    let rule = |target: Value, when: Value| {
        base(json!([{"id": "r", "effect": "permit", "target": target, "when": when}]))
    };
    let patient = json!({"resourceTypes": ["Patient"], "interactions": ["read"]});
    assert_eq!(
        load_error(rule(
            json!({"resourceTypes": ["Observaton"], "interactions": ["read"]}),
            json!({"exists": {"subject": "id"}})
        )),
        "policy: rule `r`: target.resourceTypes: unknown resource type `Observaton`; did you mean `Observation`?"
    );
    assert_eq!(
        load_error(rule(
            json!({"resourceTypes": ["Patient"], "interactions": ["reed"]}),
            json!({"exists": {"subject": "id"}})
        )),
        "policy: rule `r`: target.interactions: unknown interaction `reed`; did you mean `read`?"
    );
    assert_eq!(
        load_error(rule(
            patient.clone(),
            json!({"equals": [{"subject": "departmnt"}, "x"]})
        )),
        "policy: rule `r`: when.equals[0].subject: undeclared subject attribute `departmnt` (declare it in `attributes`); did you mean `department`?"
    );
    assert_eq!(
        load_error(rule(
            patient.clone(),
            json!({"lessThan": [{"subject": "department"}, 18]})
        )),
        "policy: rule `r`: when.lessThan: cannot compare a string with a number"
    );
    assert_eq!(
        load_error(rule(
            patient.clone(),
            json!({"equals": [{"resource": "gendr"}, "female"]})
        )),
        "policy: rule `r`: when.equals[0].resource: `Patient` has no search parameter `gendr`; did you mean `gender`?"
    );
    assert_eq!(
        load_error(rule(
            patient.clone(),
            json!({"lessThan": [{"ageOf": "gender"}, 18]})
        )),
        "policy: rule `r`: when.lessThan[0].ageOf: `gender` is not a date search parameter"
    );
    assert_eq!(
        load_error(rule(
            patient.clone(),
            json!({"all": [{"exists": {"subject": "id"}}, {"equalz": [1, 2]}]})
        )),
        "policy: rule `r`: when.all[1].equalz: unknown condition `equalz`; did you mean `equals`?"
    );
    assert_eq!(
        load_error(rule(
            patient.clone(),
            json!({"in": [{"resource": "gender"}, "female"]})
        )),
        "policy: rule `r`: when.in: the right side must be a set, found a string"
    );
    assert_eq!(
        load_error(rule(
            patient.clone(),
            json!({"clientIpIn": ["10.0.0.0/33"]})
        )),
        "policy: rule `r`: when.clientIpIn: `\"10.0.0.0/33\"` is not a CIDR range (`10.0.0.0/8`, `fd00::/8`)"
    );
    assert_eq!(
        load_error(rule(patient, json!({"timeWindow": {"from": "8:00"}}))),
        "policy: rule `r`: when.timeWindow.from: `8:00` is not a time `HH:MM`"
    );
    assert_eq!(
        load_error(base(
            json!([{"id": "r", "effect": "permit", "target": {"resourceTypes": ["Patient"], "interactions": ["read"]}, "subject": {"roles": ["nurze"]}}])
        )),
        "policy: rule `r`: subject.roles: unknown role `nurze`; did you mean `nurse`?"
    );
    assert_eq!(
        load_error(base(json!([
            {"id": "r", "effect": "permit", "target": {"resourceTypes": ["Patient"], "interactions": ["read"]}},
            {"id": "r", "effect": "deny", "target": {"resourceTypes": ["Patient"], "interactions": ["read"]}}
        ]))),
        "policy: rule `r`: duplicate rule id"
    );
    assert_eq!(
        load_error(base(
            json!([{"id": "r", "effect": "permit", "target": {"resourceTypes": ["*"], "interactions": ["read"]}, "when": {"equals": [{"resource": "gender"}, "x"]}}])
        )),
        "policy: rule `r`: when.equals[0].resource: a rule on every type may use only common parameters (`_id`, `_tag`, `_security`, ...), not `gender`"
    );
}

#[test]
fn default_deny_explains_what_is_missing() {
    let e = engine(base(json!([])));
    let (effect, rules, why) = decide_on(
        &e,
        &nurse(),
        &Environment::default(),
        Interaction::Delete,
        ResourceType::Condition,
        None,
    );
    assert_eq!(effect, Effect::Deny);
    assert!(rules.is_empty());
    assert_eq!(why, "no rule permits role nurse to delete Condition");
    let nobody = Subject::new("Practitioner/z");
    let (_, _, why) = decide_on(
        &e,
        &nobody,
        &Environment::default(),
        Interaction::Read,
        ResourceType::Patient,
        None,
    );
    assert_eq!(
        why,
        "no rule permits `Practitioner/z` (no roles) to read Patient"
    );
}

#[test]
fn roles_inherit_permissions() {
    let e = engine(base(json!([])));
    let (effect, rules, why) = decide_on(
        &e,
        &nurse(),
        &Environment::default(),
        Interaction::Read,
        ResourceType::Practitioner,
        None,
    );
    assert_eq!(
        (effect, rules),
        (Effect::Permit, vec!["role:clinician".to_owned()])
    );
    assert_eq!(why, "role `clinician` permits read Practitioner");
    let admin = Subject::new("Practitioner/a").with_role("admin");
    assert_eq!(
        decide_on(
            &e,
            &admin,
            &Environment::default(),
            Interaction::Read,
            ResourceType::Practitioner,
            None
        )
        .0,
        Effect::Deny
    );
}

#[test]
fn deny_overrides_permit() {
    let e = engine(base(json!([
        {"id": "docs-write-conditions", "effect": "permit", "subject": {"roles": ["doctor"]},
         "target": {"resourceTypes": ["Condition", "CarePlan"], "interactions": ["write", "read"]}},
        {"id": "no-condition-delete", "effect": "deny", "description": "conditions are never deleted",
         "target": {"resourceTypes": ["Condition"], "interactions": ["delete"]}}
    ])));
    let doctor = Subject::new("Practitioner/d").with_role("doctor");
    let env = Environment::default();
    let (effect, rules, why) = decide_on(
        &e,
        &doctor,
        &env,
        Interaction::Delete,
        ResourceType::Condition,
        None,
    );
    assert_eq!(
        (effect, rules),
        (Effect::Deny, vec!["no-condition-delete".to_owned()])
    );
    assert_eq!(
        why,
        "rule `no-condition-delete` denies delete Condition: conditions are never deleted"
    );
    let (effect, rules, _) = decide_on(
        &e,
        &doctor,
        &env,
        Interaction::Update,
        ResourceType::CarePlan,
        None,
    );
    assert_eq!(
        (effect, rules),
        (Effect::Permit, vec!["docs-write-conditions".to_owned()])
    );
}

#[test]
fn resource_conditions_age_department_codes_labels_compartments() {
    let e = engine(base(json!([
        {"id": "peds", "effect": "permit", "subject": {"roles": ["nurse"]},
         "target": {"resourceTypes": ["Patient"], "interactions": ["read", "search-type"]},
         "when": {"all": [
            {"equals": [{"resource": "organization"}, {"subject": "department"}]},
            {"lessThan": [{"ageOf": "birthdate"}, 18]}
         ]}},
        {"id": "assigned-observations", "effect": "permit", "subject": {"roles": ["nurse"]},
         "target": {"resourceTypes": ["Observation"], "interactions": ["read", "search-type"]},
         "when": {"inCompartment": {"compartment": "Patient", "id": {"subject": "assignedPatients"}}}},
        {"id": "no-sensitive", "effect": "deny",
         "target": {"resourceTypes": ["Observation"], "interactions": ["read", "search-type"]},
         "when": {"any": [
            {"in": [{"resource": "code"}, {"valueSet": "sensitive"}]},
            {"in": [{"resource": "_security"}, ["http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"]]}
         ]}}
    ])));
    let env = at("2026-12-03T10:00");
    let child = json!({"resourceType": "Patient", "id": "p1", "birthDate": "2010-05-01", "managingOrganization": {"reference": "Organization/peds"}});
    let adult = json!({"resourceType": "Patient", "id": "p3", "birthDate": "2000-05-01", "managingOrganization": {"reference": "Organization/peds"}});
    let born_today_18 = json!({"resourceType": "Patient", "id": "p4", "birthDate": "2008-12-03", "managingOrganization": {"reference": "Organization/peds"}});
    let born_tomorrow_18 = json!({"resourceType": "Patient", "id": "p5", "birthDate": "2008-12-04", "managingOrganization": {"reference": "Organization/peds"}});
    let other_ward = json!({"resourceType": "Patient", "id": "p6", "birthDate": "2015-01-01", "managingOrganization": {"reference": "Organization/cardio"}});
    let no_birth_date = json!({"resourceType": "Patient", "id": "p7", "managingOrganization": {"reference": "Organization/peds"}});
    let n = nurse();
    let read = |r: &Value| {
        decide_on(
            &e,
            &n,
            &env,
            Interaction::Read,
            ResourceType::Patient,
            Some(r),
        )
    };
    assert_eq!(read(&child).0, Effect::Permit);
    assert_eq!(read(&adult).0, Effect::Deny);
    assert_eq!(read(&born_today_18).0, Effect::Deny);
    assert_eq!(read(&born_tomorrow_18).0, Effect::Permit);
    assert_eq!(read(&other_ward).0, Effect::Deny);
    assert_eq!(
        read(&no_birth_date).2,
        "no rule permits role nurse to read Patient: rule `peds`: when.all[1].lessThan needs an input the request does not carry"
    );
    assert_eq!(
        read(&adult).2,
        "no rule permits role nurse to read Patient: rule `peds`: when.all[1].lessThan is false"
    );
    let obs = |subject: &str, code: &str, label: Option<&str>| {
        let mut o = json!({"resourceType": "Observation", "id": "o", "subject": {"reference": subject},
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]}});
        if let Some(label) = label {
            o["meta"] = json!({"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": label}]});
        }
        o
    };
    let read_obs = |r: &Value| {
        decide_on(
            &e,
            &n,
            &env,
            Interaction::Read,
            ResourceType::Observation,
            Some(r),
        )
    };
    assert_eq!(
        read_obs(&obs("Patient/p1", "8867-4", None)).1,
        vec!["assigned-observations".to_owned()]
    );
    assert_eq!(read_obs(&obs("Patient/p9", "8867-4", None)).0, Effect::Deny);
    assert_eq!(
        read_obs(&obs("Patient/p2", "11341-5", None)).1,
        vec!["no-sensitive".to_owned()]
    );
    assert_eq!(
        read_obs(&obs("Patient/p2", "8867-4", Some("R"))).1,
        vec!["no-sensitive".to_owned()]
    );
    assert_eq!(
        read_obs(&obs("Patient/p2", "8867-4", Some("N"))).0,
        Effect::Permit
    );
}

#[test]
fn searches_narrow_instead_of_denying() {
    let e = engine(base(json!([
        {"id": "peds", "effect": "permit", "subject": {"roles": ["nurse"]},
         "target": {"resourceTypes": ["Patient"], "interactions": ["search-type"]},
         "when": {"all": [
            {"equals": [{"resource": "organization"}, {"subject": "department"}]},
            {"lessThan": [{"ageOf": "birthdate"}, 18]}
         ]}},
        {"id": "assigned-observations", "effect": "permit", "subject": {"roles": ["nurse"]},
         "target": {"resourceTypes": ["Observation"], "interactions": ["search-type"]},
         "obligations": {"hide": ["note"], "audit": "detailed"},
         "when": {"inCompartment": {"compartment": "Patient", "id": {"subject": "assignedPatients"}}}}
    ])));
    let env = at("2026-12-03T10:00");
    let n = nurse();
    let client = Client::new("app");
    let request = Request::new(
        &n,
        &client,
        Context::User { patient: None },
        Action::new(Interaction::SearchType, ResourceType::Patient),
        &env,
    )
    .with_scopes(Scopes::PolicyOnly);
    let d = e.decide(&request);
    assert!(d.is_permit());
    assert!(d.needs_resource_check());
    let o = d.obligations();
    assert_eq!(
        o.search.as_ref().unwrap().to_query().as_deref(),
        Some("organization=Organization/peds&birthdate=gt2008-12-03")
    );
    assert_eq!(
        d.explanation().to_string(),
        "rule `peds` permits search-type Patient for the resources matching its conditions"
    );

    let request = Request {
        action: Action::new(Interaction::SearchType, ResourceType::Observation),
        ..request
    };
    let d = e.decide(&request);
    let o = d.obligations();
    assert_eq!(
        o.search.unwrap().to_string(),
        "subject=Patient/p1,Patient/p2 OR performer=Patient/p1,Patient/p2"
    );
    assert_eq!(o.hide, vec!["note".to_owned()]);
    assert_eq!(o.audit, AuditLevel::Detailed);
    assert!(o.check_each_resource);

    // The token's patient scope narrows too, and is ANDed in.
    let scopes = ScopeSet::parse("patient/Observation.rs?category=vital-signs").unwrap();
    let request = Request {
        scopes: Scopes::Token(&scopes),
        context: Context::User {
            patient: Some("p1"),
        },
        ..request
    };
    let d = e.decide(&request);
    assert_eq!(
        d.obligations().search.unwrap().to_string(),
        "(subject=Patient/p1 OR performer=Patient/p1) AND category=vital-signs AND (subject=Patient/p1,Patient/p2 OR performer=Patient/p1,Patient/p2)"
    );
}

#[test]
fn scopes_bound_the_policy() {
    let e = engine(base(json!([
        {"id": "docs", "effect": "permit", "subject": {"roles": ["doctor"]},
         "target": {"resourceTypes": ["Observation"], "interactions": ["read", "search-type"]}}
    ])));
    let doctor = Subject::new("Practitioner/d").with_role("doctor");
    let (client, env) = (Client::new("app"), Environment::default());
    let scopes = ScopeSet::parse("patient/Observation.r").unwrap();
    let theirs =
        json!({"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/p1"}});
    let others =
        json!({"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/p2"}});
    let mut request = Request::new(
        &doctor,
        &client,
        Context::User { patient: None },
        Action::new(Interaction::Read, ResourceType::Observation),
        &env,
    )
    .with_scopes(Scopes::PolicyOnly);
    assert!(e.decide(&request).is_permit());
    // Scopes left unset fail closed, whatever the policy says.
    request.scopes = Scopes::Missing;
    let d = e.decide(&request);
    assert!(!d.is_permit());
    assert_eq!(
        d.explanation().to_string(),
        "no token scopes were given to bound the decision"
    );
    request.scopes = Scopes::Token(&scopes);
    let d = e.decide(&request);
    assert!(!d.is_permit());
    assert_eq!(
        d.explanation().to_string(),
        "the token's scopes do not allow it: only `patient/` scopes grant `r` on `Observation`, and there is no patient in launch context"
    );
    request.context = Context::User {
        patient: Some("p1"),
    };
    request.resource = Some(&theirs);
    assert!(e.decide(&request).is_permit());
    request.resource = Some(&others);
    let d = e.decide(&request);
    assert!(!d.is_permit());
    assert_eq!(
        d.explanation().to_string(),
        "the resource is outside what the token's scopes allow (patient compartment or scope parameters)"
    );
    // A search the scopes do not grant is denied even though policy permits it.
    let query = Query::parse("code=1234").unwrap();
    let mut search = Action::new(Interaction::SearchType, ResourceType::Observation);
    search.query = Some(&query);
    let d = e.decide(&Request {
        action: search,
        resource: None,
        ..request
    });
    assert!(!d.is_permit());
}

#[test]
fn environment_time_network_purpose() {
    let e = engine(base(json!([
        {"id": "office-hours-from-network", "effect": "permit", "subject": {"roles": ["admin"]},
         "target": {"resourceTypes": ["Appointment"], "interactions": ["read"]},
         "when": {"all": [
            {"timeWindow": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}},
            {"clientIpIn": ["10.0.0.0/8", "fd00::/8"]},
            {"in": [{"environment": "purposeOfUse"}, ["HOPERAT", "TREAT"]]}
         ]}},
        {"id": "night-shift", "effect": "permit", "subject": {"roles": ["nurse"]},
         "target": {"resourceTypes": ["Appointment"], "interactions": ["read"]},
         "when": {"timeWindow": {"from": "22:00", "to": "06:00"}}}
    ])));
    let admin = Subject::new("Practitioner/a").with_role("admin");
    let env = |time: &str, ip: &str, purpose: Option<&str>| Environment {
        ip: Some(ip.parse().unwrap()),
        purpose_of_use: purpose.map(str::to_owned),
        ..at(time)
    };
    let check = |s: &Subject, e2: &Environment| {
        decide_on(
            &e,
            s,
            e2,
            Interaction::Read,
            ResourceType::Appointment,
            None,
        )
        .0
    };
    // 2026-12-03 is a Thursday.
    assert_eq!(
        check(
            &admin,
            &env("2026-12-03T09:00", "10.1.2.3", Some("HOPERAT"))
        ),
        Effect::Permit
    );
    assert_eq!(
        check(
            &admin,
            &env("2026-12-03T18:00", "10.1.2.3", Some("HOPERAT"))
        ),
        Effect::Deny
    );
    assert_eq!(
        check(
            &admin,
            &env("2026-12-05T09:00", "10.1.2.3", Some("HOPERAT"))
        ),
        Effect::Deny
    );
    assert_eq!(
        check(
            &admin,
            &env("2026-12-03T09:00", "192.168.1.1", Some("HOPERAT"))
        ),
        Effect::Deny
    );
    assert_eq!(
        check(&admin, &env("2026-12-03T09:00", "fd12::1", Some("TREAT"))),
        Effect::Permit
    );
    assert_eq!(
        check(
            &admin,
            &env("2026-12-03T09:00", "::ffff:10.0.0.1", Some("TREAT"))
        ),
        Effect::Permit
    );
    assert_eq!(
        check(&admin, &env("2026-12-03T09:00", "10.1.2.3", None)),
        Effect::Deny
    );
    assert_eq!(check(&admin, &Environment::default()), Effect::Deny);
    let n = nurse();
    assert_eq!(check(&n, &at("2026-12-03T23:30")), Effect::Permit);
    assert_eq!(check(&n, &at("2026-12-04T05:59")), Effect::Permit);
    assert_eq!(check(&n, &at("2026-12-04T06:00")), Effect::Deny);
}

#[test]
fn missing_inputs_fail_closed_for_deny_rules() {
    let e = engine(base(json!([
        {"id": "all-read", "effect": "permit", "target": {"resourceTypes": ["Patient"], "interactions": ["read"]}},
        {"id": "only-on-network", "effect": "deny", "target": {"resourceTypes": ["Patient"], "interactions": ["read"]},
         "when": {"not": {"clientIpIn": ["10.0.0.0/8"]}}}
    ])));
    let s = Subject::new("Practitioner/x");
    let (effect, rules, why) = decide_on(
        &e,
        &s,
        &Environment::default(),
        Interaction::Read,
        ResourceType::Patient,
        None,
    );
    assert_eq!(
        (effect, rules),
        (Effect::Deny, vec!["only-on-network".to_owned()])
    );
    assert_eq!(
        why,
        "rule `only-on-network` denies read Patient (an input its condition needs is absent, so it applies)"
    );
    let inside = Environment {
        ip: Some("10.9.9.9".parse().unwrap()),
        ..Environment::default()
    };
    assert_eq!(
        decide_on(
            &e,
            &s,
            &inside,
            Interaction::Read,
            ResourceType::Patient,
            None
        )
        .0,
        Effect::Permit
    );
}

fn consent(provision: Value) -> Consent {
    Consent::from_json(&json!({
        "resourceType": "Consent", "id": "c1", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "patient": {"reference": "Patient/p1"},
        "provision": provision
    }))
    .unwrap()
}

#[test]
fn consent_restricts_and_break_glass_overrides() {
    let e = engine(base(json!([
        {"id": "clinicians-read", "effect": "permit", "subject": {"roles": ["clinician"]},
         "target": {"resourceTypes": ["Observation", "Condition"], "interactions": ["read", "search-type"]}},
        {"id": "emergency", "effect": "permit", "breakGlass": true, "subject": {"roles": ["clinician"]},
         "target": {"resourceTypes": ["*"], "interactions": ["read", "search-type"]},
         "obligations": {"audit": "emergency"}}
    ])));
    let consents = vec![consent(json!({"type": "permit", "provision": [
        {"type": "deny", "actor": [{"role": {"coding": [{"code": "PRCP"}]}, "reference": {"reference": "Practitioner/n1"}}]},
        {"type": "deny", "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Condition"}],
         "purpose": [{"code": "HRESCH"}]},
        {"type": "deny", "code": [{"coding": [{"system": "http://loinc.org", "code": "11341-5"}]}]}
    ]}))];
    let n = nurse();
    let doctor = Subject::new("Practitioner/d").with_role("doctor");
    let client = Client::new("app");
    let obs = json!({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}});
    let sensitive = json!({"resourceType": "Observation", "id": "o2", "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "11341-5"}]}});
    let others = json!({"resourceType": "Observation", "id": "o3", "subject": {"reference": "Patient/p2"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "11341-5"}]}});
    let env = Environment::default();
    let decide =
        |s: &Subject, env: &Environment, t: ResourceType, i: Interaction, r: Option<&Value>| {
            let mut request = Request::new(
                s,
                &client,
                Context::User { patient: None },
                Action::new(i, t),
                env,
            )
            .with_scopes(Scopes::PolicyOnly);
            request.consents = &consents;
            request.resource = r;
            let d = e.decide(&request);
            (
                d.effect(),
                d.consent_provision().map(str::to_owned),
                d.explanation().to_string(),
                d.obligations().audit,
            )
        };
    // The patient denied this nurse.
    let (effect, provision, why, _) = decide(
        &n,
        &env,
        ResourceType::Observation,
        Interaction::Read,
        Some(&obs),
    );
    assert_eq!(effect, Effect::Deny);
    assert_eq!(
        provision.as_deref(),
        Some("Consent/c1#provision.provision[0]")
    );
    assert_eq!(
        why,
        "the patient's consent denies it (`Consent/c1#provision.provision[0]`)"
    );
    // Not the doctor, except the denied code.
    assert_eq!(
        decide(
            &doctor,
            &env,
            ResourceType::Observation,
            Interaction::Read,
            Some(&obs)
        )
        .0,
        Effect::Permit
    );
    assert_eq!(
        decide(
            &doctor,
            &env,
            ResourceType::Observation,
            Interaction::Read,
            Some(&sensitive)
        )
        .0,
        Effect::Deny
    );
    // Another patient's data is not governed by this Consent.
    assert_eq!(
        decide(
            &doctor,
            &env,
            ResourceType::Observation,
            Interaction::Read,
            Some(&others)
        )
        .0,
        Effect::Permit
    );
    // Research on Conditions is denied; treatment is not.
    let research = Environment {
        purpose_of_use: Some("HRESCH".into()),
        ..Environment::default()
    };
    let treatment = Environment {
        purpose_of_use: Some("TREAT".into()),
        ..Environment::default()
    };
    assert_eq!(
        decide(
            &doctor,
            &research,
            ResourceType::Condition,
            Interaction::SearchType,
            None
        )
        .0,
        Effect::Deny
    );
    let (effect, ..) = decide(
        &doctor,
        &treatment,
        ResourceType::Condition,
        Interaction::SearchType,
        None,
    );
    assert_eq!(effect, Effect::Permit);
    // Without a purpose, the research denial applies (fail closed).
    assert_eq!(
        decide(
            &doctor,
            &env,
            ResourceType::Condition,
            Interaction::SearchType,
            None
        )
        .0,
        Effect::Deny
    );
    // Break-glass overrides the Consent, audited at the highest level; an empty reason is no break-glass.
    let glass = Environment {
        break_glass: Some("patient unconscious in ER".into()),
        ..Environment::default()
    };
    let (effect, _, why, audit) = decide(
        &n,
        &glass,
        ResourceType::Observation,
        Interaction::Read,
        Some(&obs),
    );
    assert_eq!(effect, Effect::Permit);
    assert_eq!(audit, AuditLevel::Emergency);
    assert_eq!(
        why,
        "break-glass: rule `emergency` permits read Observation (reason: patient unconscious in ER), overriding the patient's consent `Consent/c1#provision.provision[0]`"
    );
    let empty = Environment {
        break_glass: Some("  ".into()),
        ..Environment::default()
    };
    assert_eq!(
        decide(
            &n,
            &empty,
            ResourceType::Observation,
            Interaction::Read,
            Some(&obs)
        )
        .0,
        Effect::Deny
    );
}

#[test]
fn consent_documents_are_checked() {
    let bad = |c: Value| Consent::from_json(&c).unwrap_err().to_string();
    assert_eq!(
        bad(json!({"resourceType": "Patient"})),
        "consent: resourceType: not a Consent"
    );
    assert_eq!(
        bad(
            json!({"resourceType": "Consent", "id": "x", "scope": {"coding": [{"code": "research"}]}})
        ),
        "consent: scope: only `patient-privacy` Consents are evaluated"
    );
    assert_eq!(
        bad(
            json!({"resourceType": "Consent", "id": "x", "scope": {"coding": [{"code": "patient-privacy"}]},
            "patient": {"reference": "Patient/1"}, "provision": {"type": "permit", "provision": [{}]}})
        ),
        "consent: provision.provision[0].type: missing: every provision says permit or deny"
    );
    let c =
        consent(json!({"type": "deny", "period": {"start": "2026-01-01", "end": "2026-06-30"}}));
    assert!(c.is_active());
    assert_eq!(c.patient(), "p1");
}

#[test]
fn consent_periods_bound_provisions() {
    let e = engine(base(json!([
        {"id": "clinicians-read", "effect": "permit", "subject": {"roles": ["clinician"]},
         "target": {"resourceTypes": ["Observation"], "interactions": ["read"]}}
    ])));
    let consents = vec![consent(json!({"type": "permit", "provision": [
        {"type": "deny", "period": {"start": "2026-01-01", "end": "2026-06-30"}},
        {"type": "deny", "dataPeriod": {"start": "2020-01-01", "end": "2020-12-31"}}
    ]}))];
    let doctor = Subject::new("Practitioner/d").with_role("doctor");
    let client = Client::new("app");
    let obs = |date: &str| json!({"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/p1"}, "effectiveDateTime": date});
    let decide = |env: &Environment, r: &Value| {
        let mut request = Request::new(
            &doctor,
            &client,
            Context::User { patient: None },
            Action::new(Interaction::Read, ResourceType::Observation),
            env,
        )
        .with_scopes(Scopes::PolicyOnly);
        request.consents = &consents;
        request.resource = Some(r);
        e.decide(&request).effect()
    };
    assert_eq!(
        decide(&at("2026-03-01T10:00"), &obs("2024-01-01")),
        Effect::Deny
    );
    assert_eq!(
        decide(&at("2026-06-30T23:00"), &obs("2024-01-01")),
        Effect::Deny
    );
    assert_eq!(
        decide(&at("2026-07-01T10:00"), &obs("2024-01-01")),
        Effect::Permit
    );
    assert_eq!(
        decide(&at("2026-07-01T10:00"), &obs("2020-05-05T10:00:00Z")),
        Effect::Deny
    );
}

#[test]
fn operations_and_subject_ids() {
    let e = engine(base(json!([
        {"id": "everything-for-doctors", "effect": "permit", "subject": {"roles": ["doctor"]},
         "target": {"resourceTypes": ["Patient"], "operations": ["$everything"]}},
        {"id": "one-auditor", "effect": "permit", "subject": {"ids": ["Practitioner/aud"]},
         "target": {"resourceTypes": ["AuditEvent"], "interactions": ["read", "search"]}}
    ])));
    let doctor = Subject::new("Practitioner/d").with_role("doctor");
    let (client, env) = (Client::new("app"), Environment::default());
    let op = |name: &'static str| {
        let mut action = Action::new(
            Interaction::Operation(fhir_scopes::Permissions::READ),
            ResourceType::Patient,
        );
        action.operation = Some(name);
        action
    };
    let request = Request::new(
        &doctor,
        &client,
        Context::User { patient: None },
        op("$everything"),
        &env,
    )
    .with_scopes(Scopes::PolicyOnly);
    assert_eq!(
        e.decide(&request).rules().collect::<Vec<_>>(),
        ["everything-for-doctors"]
    );
    let d = e.decide(&Request {
        action: op("$export"),
        ..request
    });
    assert!(!d.is_permit());
    assert_eq!(
        d.explanation().to_string(),
        "no rule permits role doctor to $export on Patient"
    );
    let auditor = Subject::new("Practitioner/aud");
    assert_eq!(
        decide_on(
            &e,
            &auditor,
            &env,
            Interaction::SearchType,
            ResourceType::AuditEvent,
            None
        )
        .0,
        Effect::Permit
    );
    assert_eq!(
        decide_on(
            &e,
            &auditor,
            &env,
            Interaction::Delete,
            ResourceType::AuditEvent,
            None
        )
        .0,
        Effect::Deny
    );
    assert_eq!(
        decide_on(
            &e,
            &doctor,
            &env,
            Interaction::Read,
            ResourceType::AuditEvent,
            None
        )
        .0,
        Effect::Deny
    );
}

#[test]
fn engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    assert_send_sync::<Consent>();
    let _ = Narrowing::Nothing;
}

#[test]
fn consent_actors_match_by_role_code_and_affiliation() {
    let e = engine(base(json!([
        {"id": "clinicians-read", "effect": "permit", "subject": {"roles": ["clinician"]},
         "target": {"resourceTypes": ["Observation"], "interactions": ["read"]}}
    ])));
    let consents = vec![consent(json!({"type": "permit", "provision": [
        {"type": "deny", "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "NURS"}]}}]},
        {"type": "deny", "action": [{"coding": [{"code": "access"}]}],
         "actor": [{"role": {"coding": [{"code": "PRCP"}]}, "reference": {"reference": "Organization/acme-research"}}]}
    ]}))];
    let client = Client::new("app");
    let obs =
        json!({"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/p1"}});
    let env = Environment::default();
    let decide = |s: &Subject| {
        let mut request = Request::new(
            s,
            &client,
            Context::User { patient: None },
            Action::new(Interaction::Read, ResourceType::Observation),
            &env,
        )
        .with_scopes(Scopes::PolicyOnly);
        request.consents = &consents;
        request.resource = Some(&obs);
        let d = e.decide(&request);
        (d.effect(), d.consent_provision().map(str::to_owned))
    };
    assert_eq!(
        decide(&nurse()),
        (
            Effect::Deny,
            Some("Consent/c1#provision.provision[0]".to_owned())
        )
    );
    let doctor = Subject::new("Practitioner/d").with_role("doctor");
    assert_eq!(
        decide(&doctor),
        (Effect::Permit, Some("Consent/c1#provision".to_owned()))
    );
    let mut affiliated = Subject::new("Practitioner/r").with_role("doctor");
    affiliated.affiliations = vec!["Organization/acme-research".into()];
    assert_eq!(
        decide(&affiliated),
        (
            Effect::Deny,
            Some("Consent/c1#provision.provision[1]".to_owned())
        )
    );
}

#[test]
fn only_rules_on_every_type_cover_system_level_interactions() {
    let e = engine(base(json!([
        {"id": "typed-search", "effect": "permit", "subject": {"roles": ["admin"]},
         "target": {"resourceTypes": ["Patient"], "interactions": ["search"]}},
        {"id": "wildcard-search", "effect": "permit", "subject": {"roles": ["doctor"]},
         "target": {"resourceTypes": ["*"], "interactions": ["search"]}}
    ])));
    let (client, env) = (Client::new("app"), Environment::default());
    let system_search = |s: &Subject| {
        let action = Action {
            interaction: Interaction::SearchSystem,
            resource_type: None,
            id: None,
            operation: None,
            query: None,
        };
        let d = e.decide(
            &Request::new(s, &client, Context::User { patient: None }, action, &env)
                .with_scopes(Scopes::PolicyOnly),
        );
        (d.effect(), d.explanation().to_string())
    };
    let admin = Subject::new("Practitioner/a").with_role("admin");
    let doctor = Subject::new("Practitioner/d").with_role("doctor");
    assert_eq!(
        system_search(&admin),
        (
            Effect::Deny,
            "no rule permits role admin to search-system".to_owned()
        )
    );
    assert_eq!(
        system_search(&doctor),
        (
            Effect::Permit,
            "rule `wildcard-search` permits search-system".to_owned()
        )
    );
    // Both apply to a typed search.
    let env = Environment::default();
    assert_eq!(
        decide_on(
            &e,
            &admin,
            &env,
            Interaction::SearchType,
            ResourceType::Patient,
            None
        )
        .1,
        ["typed-search"]
    );
    assert_eq!(
        decide_on(
            &e,
            &doctor,
            &env,
            Interaction::SearchType,
            ResourceType::Patient,
            None
        )
        .1,
        ["wildcard-search"]
    );
}

#[test]
fn narrowing_that_cannot_be_expressed_is_left_to_per_resource_checks() {
    let e = engine(base(json!([
        {"id": "assigned-anything", "effect": "permit", "subject": {"roles": ["nurse"]},
         "target": {"resourceTypes": ["*"], "interactions": ["search"]},
         "when": {"inCompartment": {"compartment": "Patient", "id": {"subject": "assignedPatients"}}}}
    ])));
    let n = nurse();
    let (client, env) = (Client::new("app"), Environment::default());
    let system = Action {
        interaction: Interaction::SearchSystem,
        resource_type: None,
        id: None,
        operation: None,
        query: None,
    };
    let d = e.decide(
        &Request::new(&n, &client, Context::User { patient: None }, system, &env)
            .with_scopes(Scopes::PolicyOnly),
    );
    assert!(d.is_permit());
    let o = d.obligations();
    assert_eq!((o.search, o.check_each_resource), (None, true));
    // A type outside the patient compartment: the narrowing matches nothing.
    let typed = Action::new(Interaction::SearchType, ResourceType::Practitioner);
    let d = e.decide(
        &Request::new(&n, &client, Context::User { patient: None }, typed, &env)
            .with_scopes(Scopes::PolicyOnly),
    );
    assert_eq!(d.obligations().search, Some(Narrowing::Nothing));
}

#[test]
fn request_documents_report_what_is_wrong() {
    use fhir_policy::testing::RequestDocument;
    let error = |text: &str| match RequestDocument::parse(text) {
        Err(e) => e.to_string(),
        Ok(document) => document.prepare().unwrap_err().to_string(),
    };
    let subject = r#""subject": {"id": "Practitioner/1"}"#;
    assert_eq!(
        error(&format!(
            r#"{{{subject}, "interaction": "read", "resourceType": "Patiant"}}"#
        )),
        "resourceType: unknown resource type `Patiant`"
    );
    assert_eq!(
        error(&format!(r#"{{{subject}, "interaction": "read"}}"#)),
        "resourceType: `read` needs a resource type"
    );
    assert_eq!(
        error(&format!(
            r#"{{{subject}, "interaction": "operation", "resourceType": "Patient"}}"#
        )),
        "operation: an operation request names the operation"
    );
    assert_eq!(
        error(&format!(
            r#"{{{subject}, "interaction": "operation", "operation": "$x", "operationPermissions": "rx", "resourceType": "Patient"}}"#
        )),
        "operationPermissions: `x` is not one of c, r, u, d, s"
    );
    assert_eq!(
        error(&format!(r#"{{{subject}, "interaction": "read", "resourceType": "Patient", "scopes": "patient/Observation.rx"}}"#))
            .split(':')
            .next(),
        Some("scopes")
    );
    assert!(
        error(&format!(
            r#"{{{subject}, "interaction": "read", "resourceType": "Patient", "extra": 1}}"#
        ))
        .starts_with("request: unknown field `extra`")
    );
    assert_eq!(
        error(&format!(
            r#"{{{subject}, "interaction": "read", "resourceType": "Patient", "consents": [{{"resourceType": "Consent"}}]}}"#
        )),
        "consents[0]: consent: id: missing"
    );
    let system = RequestDocument::parse(&format!(
        r#"{{{subject}, "interaction": "search-system", "system": true}}"#
    ))
    .unwrap();
    let prepared = system.prepare().unwrap();
    assert_eq!(prepared.request().context, Context::System);
}

#[test]
fn consent_elements_are_checked() {
    let bad = |provision: Value| {
        Consent::from_json(&json!({"resourceType": "Consent", "id": "x",
            "scope": {"coding": [{"code": "patient-privacy"}]},
            "patient": {"reference": "Patient/1"}, "provision": provision}))
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        bad(json!({"type": "deny", "period": {"start": "yesterday"}})),
        "consent: provision.period.start: `yesterday` is not a date or date-time"
    );
    assert_eq!(
        bad(json!({"type": "permit", "provision": [{"type": "deny", "actor": [{}]}]})),
        "consent: provision.provision[0].actor[0]: names neither a reference nor a role"
    );
    assert_eq!(
        bad(json!({"type": "maybe"})),
        "consent: provision.type: `maybe` is not `permit` or `deny`"
    );
    let no_patient = Consent::from_json(&json!({"resourceType": "Consent", "id": "x",
        "scope": {"coding": [{"code": "patient-privacy"}]}, "patient": {"reference": "Group/1"},
        "provision": {"type": "deny"}}));
    assert_eq!(
        no_patient.unwrap_err().to_string(),
        "consent: patient: expected a reference `Patient/ID`"
    );
}

#[test]
fn an_attribute_of_the_wrong_type_reads_as_absent() {
    let policy = json!({
        "fhirPolicy": "1", "id": "t", "attributes": {"clearance": "number"},
        "rules": [
            {"id": "read", "effect": "permit", "target": {"resourceTypes": ["Patient"], "interactions": ["read"]}},
            {"id": "low-clearance", "effect": "deny", "target": {"resourceTypes": ["Patient"], "interactions": ["read"]},
             "when": {"lessThan": [{"subject": "clearance"}, 3]}}
        ]
    });
    let e = engine(policy);
    let env = Environment::default();
    let with =
        |value: AttributeValue| Subject::new("Practitioner/x").with_attribute("clearance", value);
    let read =
        |s: &Subject| decide_on(&e, s, &env, Interaction::Read, ResourceType::Patient, None).0;
    assert_eq!(read(&with(AttributeValue::Number(5.0))), Effect::Permit);
    assert_eq!(read(&with(AttributeValue::Number(1.0))), Effect::Deny);
    // "5" is a string, not a number: the deny's input is missing, so it applies.
    assert_eq!(
        read(&with(AttributeValue::String("5".into()))),
        Effect::Deny
    );
}
