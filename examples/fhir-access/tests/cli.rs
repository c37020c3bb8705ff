//! The `fhir-access` binary, run as a user runs it: arguments in, JSON and exit code out.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

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
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (code, json)
}

#[test]
fn scopes_parse_describes_each_scope() {
    let (code, out) = run(&[
        "scopes",
        "parse",
        "launch/patient patient/Observation.read patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        json!({
            "scopes": [
                {"raw": "launch/patient", "kind": "launch", "resource_type": "Patient", "role": null, "normalized": "launch/patient"},
                {"raw": "patient/Observation.read", "kind": "resource", "context": "patient", "resource_type": "Observation",
                 "permissions": "rs", "version": "v1", "parameters": [], "normalized": "patient/Observation.rs"},
                {"raw": "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item",
                 "kind": "resource", "context": "patient", "resource_type": "Condition", "permissions": "rs", "version": "v2",
                 "parameters": [{"name": "category", "values": ["http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item"]}],
                 "normalized": "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item"}
            ],
            "normalized": "launch/patient patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item patient/Observation.rs"
        })
    );
}

#[test]
fn scopes_parse_reports_rejected_scopes_and_exits_1() {
    let (code, out) = run(&["scopes", "parse", "openid patient/Observation.readx"]);
    assert_eq!(code, 1);
    assert_eq!(
        out["scopes"][1],
        json!({
            "raw": "patient/Observation.readx",
            "error": "scope `patient/Observation.readx` at byte 21: invalid permissions `readx`: expected letters of `cruds` in that order, each at most once, or `read`, `write`, `*`",
            "code": "invalid_permissions"
        })
    );
    assert_eq!(out["normalized"], json!("openid"));
}

#[test]
fn scopes_check_permits_with_constraints() {
    let (code, out) = run(&[
        "scopes",
        "check",
        "--scopes",
        "patient/Observation.rs?category=laboratory",
        "--patient",
        "123",
        "GET",
        "Observation?patient=123&category=laboratory",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        json!({
            "decision": "permit",
            "interaction": "search-type",
            "resource_type": "Observation",
            "constraints": [{"permission": "s", "any_of": [{
                "scope": "patient/Observation.rs?category=laboratory",
                "compartment": "Patient/123",
                "parameters": "category=laboratory",
                "satisfied_by_query": true
            }]}]
        })
    );
}

#[test]
fn scopes_check_denies_with_a_reason() {
    let (code, out) = run(&[
        "scopes",
        "check",
        "--scopes",
        "patient/Patient.r",
        "--patient",
        "123",
        "PUT",
        "Patient/123",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        json!({
            "decision": "deny",
            "interaction": "update",
            "resource_type": "Patient",
            "reason": "no scope grants `u` on `Patient`, which update needs",
            "reason_code": "missing_permission"
        })
    );
    let (code, out) = run(&[
        "scopes",
        "check",
        "--scopes",
        "patient/Patient.r",
        "GET",
        "Patient/123/_history",
    ]);
    assert_eq!(
        (code, out["reason_code"].clone()),
        (1, json!("no_patient_in_context"))
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        run(&[
            "scopes",
            "check",
            "--scopes",
            "patient/Patient.x",
            "GET",
            "Patient/1"
        ])
        .0,
        2
    );
    assert_eq!(
        run(&[
            "scopes",
            "check",
            "--scopes",
            "patient/Patient.r",
            "GET",
            "Patient/../x"
        ])
        .0,
        2
    );
    assert_eq!(
        run(&[
            "scopes",
            "check",
            "--scopes",
            "user/*.rs",
            "--context",
            "patient",
            "GET",
            "Patient/1"
        ])
        .0,
        2
    );
    assert_eq!(
        run(&[
            "scopes",
            "check",
            "--scopes",
            "system/*.rs",
            "--context",
            "system",
            "--patient",
            "1",
            "GET",
            "Patient/1"
        ])
        .0,
        2
    );
    assert_eq!(run(&["scopes", "frobnicate"]).0, 2);
    assert_eq!(run(&[]).0, 2);
}

#[test]
fn system_context_uses_system_scopes_only() {
    let (code, _) = run(&[
        "scopes",
        "check",
        "--scopes",
        "system/Observation.rs",
        "--context",
        "system",
        "GET",
        "Observation",
    ]);
    assert_eq!(code, 0);
    let (code, out) = run(&[
        "scopes",
        "check",
        "--scopes",
        "system/Observation.rs",
        "GET",
        "Observation",
    ]);
    assert_eq!(
        (code, out["reason_code"].clone()),
        (1, json!("level_mismatch"))
    );
}
