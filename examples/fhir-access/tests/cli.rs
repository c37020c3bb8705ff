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

/// Writes `value` to a file named after the test in the temporary directory.
fn temp_json(name: &str, value: &Value) -> String {
    let path = std::env::temp_dir().join(format!(
        "fhir-access-cli-{}-{name}.json",
        std::process::id()
    ));
    std::fs::write(&path, value.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn observation_of_two_patients() -> Value {
    json!({
        "resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"},
        "subject": {"reference": "Patient/B"},
        "performer": [{"reference": "Patient/A"}, {"reference": "https://other.org/fhir/Practitioner/7"}]
    })
}

#[test]
fn compartment_of_a_resource() {
    let file = temp_json("of", &observation_of_two_patients());
    let (code, out) = run(&["compartment", "of", &file]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        json!({"resourceType": "Observation", "id": "o1", "compartments": ["Patient/A", "Patient/B"]})
    );
    // A foreign absolute reference becomes local under --base.
    let (_, out) = run(&[
        "compartment",
        "of",
        "--base",
        "https://other.org/fhir",
        &file,
    ]);
    assert_eq!(
        out["compartments"],
        json!(["Patient/A", "Patient/B", "Practitioner/7"])
    );
}

#[test]
fn compartment_of_every_entry_of_a_bundle() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fhir-compartment/tests/synthea/Lucien_Hahn_21e66b72.json"
    );
    let (code, out) = run(&["compartment", "of", file]);
    assert_eq!(code, 0);
    let entries = out["entries"].as_array().unwrap();
    assert!(entries.len() > 300);
    assert_eq!(
        out["entries"][0]["compartments"],
        json!(["Patient/717282e4-5d08-4cbd-afad-596051966367"])
    );
    let in_patient = entries
        .iter()
        .filter(|e| {
            e["compartments"]
                .as_array()
                .unwrap()
                .contains(&json!("Patient/717282e4-5d08-4cbd-afad-596051966367"))
        })
        .count();
    assert!(in_patient > entries.len() / 2);
}

#[test]
fn compartment_check_exit_codes() {
    let file = temp_json("check", &observation_of_two_patients());
    let (code, out) = run(&["compartment", "check", "--in", "Patient/A", &file]);
    assert_eq!(
        (code, out),
        (0, json!({"compartment": "Patient/A", "member": true}))
    );
    let (code, out) = run(&["compartment", "check", "--in", "Patient/C", &file]);
    assert_eq!(
        (code, out),
        (1, json!({"compartment": "Patient/C", "member": false}))
    );
    // Usage errors: a malformed compartment, a missing file.
    let (code, _) = run(&["compartment", "check", "--in", "patient/A", &file]);
    assert_eq!(code, 2);
    let (code, _) = run(&[
        "compartment",
        "check",
        "--in",
        "Patient/A",
        "/nonexistent/file.json",
    ]);
    assert_eq!(code, 2);
}
