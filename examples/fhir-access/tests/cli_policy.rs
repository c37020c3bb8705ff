//! `fhir-access policy`: check, eval and test, with their exit codes.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::{Value, json};

fn run(args: &[&str]) -> (i32, Value) {
    let output = Command::cargo_bin("fhir-access")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    let code = output.status.code().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    (code, serde_json::from_str(&stdout).unwrap_or(Value::Null))
}

fn example(name: &str, file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../policies")
        .join(name)
        .join(file)
        .to_string_lossy()
        .into_owned()
}

/// Writes a temporary file for one test.
fn temp(name: &str, content: &Value) -> String {
    let dir = std::env::temp_dir().join(format!("fhir-access-cli-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn check_loads_and_reports_findings() {
    let (code, out) = run(&["policy", "check", &example("hospital", "policy.json")]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        json!({"valid": true, "policy": "hospital", "rules": 18, "findings": []})
    );

    let shadowed = temp(
        "shadowed.json",
        &json!({"fhirPolicy": "1", "id": "s", "roles": {"nurse": {}}, "rules": [
            {"id": "no-deletes", "effect": "deny", "target": {"resourceTypes": ["*"], "interactions": ["delete"]}},
            {"id": "nurse-deletes", "effect": "permit", "subject": {"roles": ["nurse"]},
             "target": {"resourceTypes": ["Observation"], "interactions": ["delete"]}}
        ]}),
    );
    let (code, out) = run(&["policy", "check", &shadowed]);
    assert_eq!(code, 0);
    assert_eq!(out["findings"][0]["kind"], "shadowed");
    assert_eq!(out["findings"][0]["rule"], "nurse-deletes");
    let (code, _) = run(&["policy", "check", "--strict", &shadowed]);
    assert_eq!(code, 1);
}

#[test]
fn check_rejects_an_invalid_policy_with_exit_1() {
    let bad = temp(
        "bad.json",
        &json!({"fhirPolicy": "1", "id": "b", "rules": [
            {"id": "r", "effect": "permit", "target": {"resourceTypes": ["Observaton"], "interactions": ["read"]}}
        ]}),
    );
    let (code, out) = run(&["policy", "check", &bad]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        json!({"valid": false, "error": "policy: rule `r`: target.resourceTypes: unknown resource type `Observaton`; did you mean `Observation`?"})
    );
    let (code, out) = run(&["policy", "check", "/nonexistent/policy.json"]);
    assert_eq!((code, out), (2, Value::Null));
}

#[test]
fn eval_prints_the_decision_and_exits_by_effect() {
    let request = temp(
        "nurse-delete.json",
        &json!({"subject": {"id": "Practitioner/n", "roles": ["nurse"], "attributes": {"department": "Organization/pediatrics"}},
                "interaction": "delete", "resourceType": "CarePlan"}),
    );
    let (code, out) = run(&[
        "policy",
        "eval",
        &example("hospital", "policy.json"),
        &request,
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        json!({"decision": "deny", "policy": "hospital", "rules": [], "consent": null, "breakGlass": false,
               "explanation": "no rule permits role nurse to delete CarePlan",
               "obligations": {"search": null, "hide": [], "readOnly": [], "audit": "standard", "checkEachResource": false}})
    );
    let search = temp(
        "nurse-search.json",
        &json!({"subject": {"id": "Practitioner/n", "roles": ["nurse"], "attributes": {"department": "Organization/pediatrics"}},
                "interaction": "search-type", "resourceType": "Patient", "environment": {"time": "2026-12-03T10:00:00"}}),
    );
    let (code, out) = run(&[
        "policy",
        "eval",
        &example("hospital", "policy.json"),
        &search,
    ]);
    assert_eq!(code, 0);
    assert_eq!(out["rules"], json!(["nurse-department-patients"]));
    assert_eq!(
        out["obligations"]["search"],
        "organization=Organization/pediatrics AND birthdate=gt2008-12-03"
    );
    assert_eq!(out["obligations"]["checkEachResource"], true);

    let bad = temp(
        "bad-request.json",
        &json!({"subject": {"id": "x"}, "interaction": "read", "resourceType": "Patiant"}),
    );
    let (code, out) = run(&["policy", "eval", &example("hospital", "policy.json"), &bad]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        json!({"error": "request: resourceType: unknown resource type `Patiant`"})
    );
}

#[test]
fn test_runs_every_example_and_exits_1_on_a_failure() {
    for name in ["hospital", "mental-health", "emergency", "network"] {
        let (code, out) = run(&[
            "policy",
            "test",
            &example(name, "policy.json"),
            &example(name, "tests.json"),
        ]);
        assert_eq!((code, &out["failed"]), (0, &json!(0)), "{name}: {out}");
    }
    let cases = temp(
        "failing-cases.json",
        &json!({"cases": [
            {"name": "admin deletes invoices", "expect": "permit",
             "request": {"subject": {"id": "Practitioner/a", "roles": ["admin"]}, "interaction": "delete", "resourceType": "Invoice"}}
        ]}),
    );
    let (code, out) = run(&[
        "policy",
        "test",
        &example("hospital", "policy.json"),
        &cases,
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        json!({"policy": "hospital", "passed": 0, "failed": 1, "cases": [
            {"name": "admin deletes invoices", "passed": false,
             "failures": ["expected permit, got deny: no rule permits role admin to delete Invoice"]}
        ]})
    );
}
