//! Policy analysis: shadowed rules, contradictions, unused roles, break-glass settings.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use fhir_policy::analysis::analyze;
use fhir_policy::{Engine, Policy};
use serde_json::{Value, json};

fn findings(rules: Value) -> Vec<String> {
    let policy = json!({
        "fhirPolicy": "1", "id": "p",
        "attributes": {"department": "string", "wards": "set<string>"},
        "roles": {"nurse": {"inherits": ["staff"]}, "staff": {}, "idle": {}},
        "rules": rules
    });
    let engine = Engine::new(&Policy::parse(&policy.to_string()).unwrap()).unwrap();
    analyze(&engine)
        .iter()
        .map(|f| format!("{} {f}", f.kind.code()))
        .collect()
}

const READ_OBS: &str = r#"{"resourceTypes": ["Observation"], "interactions": ["read"]}"#;

fn target() -> Value {
    serde_json::from_str(READ_OBS).unwrap()
}

#[test]
fn a_permit_under_a_broader_unconditional_deny_is_shadowed() {
    let found = findings(json!([
        {"id": "staff-never-reads", "effect": "deny", "subject": {"roles": ["staff"]},
         "target": {"resourceTypes": ["*"], "interactions": ["read", "search-type"]}},
        {"id": "nurse-reads", "effect": "permit", "subject": {"roles": ["nurse"]}, "target": target()},
        {"id": "anyone-reads", "effect": "permit", "target": target()}
    ]));
    assert_eq!(
        found,
        [
            "shadowed rule `nurse-reads`: target: can never apply: rule `staff-never-reads` denies everything it permits, unconditionally",
            "unused_role roles.idle: grants nothing: no permissions, no rule names it, no role inherits it",
        ]
    );
}

#[test]
fn a_conditional_deny_shadows_nothing() {
    let found = findings(json!([
        {"id": "deny-some", "effect": "deny", "target": target(),
         "when": {"equals": [{"subject": "department"}, "x"]}},
        {"id": "nurse-reads", "effect": "permit", "subject": {"roles": ["nurse", "idle"]}, "target": target()}
    ]));
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn contradictory_conditions_are_reported_with_their_paths() {
    let found = findings(json!([
        {"id": "two-departments", "effect": "permit", "subject": {"roles": ["nurse", "idle"]}, "target": target(),
         "when": {"all": [
            {"equals": [{"subject": "department"}, "a"]},
            {"equals": [{"subject": "department"}, "b"]},
            {"equals": [{"subject": "wards"}, "a"]},
            {"equals": [{"subject": "wards"}, "b"]}
         ]}},
        {"id": "ages", "effect": "permit", "target": target(),
         "when": {"any": [{"all": [
            {"lessThan": [{"ageOf": "date"}, 10]},
            {"greaterOrEqual": [{"ageOf": "date"}, 10]}
         ]}, {"all": [
            {"lessOrEqual": [{"ageOf": "date"}, 10]},
            {"greaterOrEqual": [{"ageOf": "date"}, 10]}
         ]}]}},
        {"id": "negation", "effect": "permit", "target": target(),
         "when": {"all": [{"clientIpIn": ["10.0.0.0/8"]}, {"not": {"clientIpIn": ["10.0.0.0/8"]}}]}}
    ]));
    assert_eq!(
        found,
        [
            "contradiction rule `two-departments`: when.all[0], when.all[1]: can never hold: it equals two different values",
            "contradiction rule `ages`: when.any[0].all[0], when.any[0].all[1]: can never hold: its numeric bounds exclude each other",
            "contradiction rule `negation`: when.all[0], when.all[1]: can never hold: a condition and its negation",
        ]
    );
}

#[test]
fn an_overridable_deny_without_break_glass_is_reported() {
    let found = findings(json!([
        {"id": "no-vip", "effect": "deny", "breakGlassOverridable": true, "target": target()},
        {"id": "nurse-reads", "effect": "permit", "subject": {"roles": ["nurse", "idle"]},
         "target": {"resourceTypes": ["Patient"], "interactions": ["read"]}}
    ]));
    assert_eq!(
        found,
        [
            "break_glass rule `no-vip`: breakGlassOverridable: no break-glass rule covers any of its interactions, so nothing overrides it"
        ]
    );
}

/// `docs/policy.schema.json` names exactly the fields the document types read.
#[test]
fn the_json_schema_names_every_field() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/policy.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let full = Policy::parse(
        &json!({
            "fhirPolicy": "1", "id": "p", "description": "d", "attributes": {"a": "string"}, "valueSets": {"v": ["s|c"]},
            "roles": {"r": {"description": "d", "inherits": [], "permissions": [], "codes": []}},
            "rules": [{"id": "x", "description": "d", "effect": "permit",
                       "target": {"resourceTypes": ["*"], "interactions": ["read"], "operations": []},
                       "subject": {"roles": [], "ids": [], "when": {"exists": 1}}, "when": {"exists": 1},
                       "breakGlass": false, "breakGlassOverridable": false,
                       "obligations": {"hide": [], "readOnly": [], "audit": "standard"}}]
        })
        .to_string(),
    )
    .unwrap();
    let written = serde_json::to_value(&full).unwrap();
    let sorted = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let defs = &schema["$defs"];
    assert_eq!(keys(&schema), sorted(&written));
    assert_eq!(keys(&defs["role"]), sorted(&written["roles"]["r"]));
    assert_eq!(keys(&defs["rule"]), sorted(&written["rules"][0]));
    assert_eq!(
        keys(&defs["target"]),
        sorted(&written["rules"][0]["target"])
    );
    assert_eq!(
        keys(&defs["rule"]["properties"]["subject"]),
        sorted(&written["rules"][0]["subject"])
    );
    assert_eq!(
        keys(&defs["rule"]["properties"]["obligations"]),
        sorted(&written["rules"][0]["obligations"])
    );
}
