//! The shipped example policies in `examples/policies/`: each loads, and passes its
//! test cases.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use std::path::Path;

use fhir_policy::testing::TestCases;
use fhir_policy::{Engine, Policy};

fn run(name: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/policies")
        .join(name);
    let policy = Policy::parse(&std::fs::read_to_string(dir.join("policy.json")).unwrap()).unwrap();
    let engine = Engine::new(&policy).unwrap();
    let cases =
        TestCases::parse(&std::fs::read_to_string(dir.join("tests.json")).unwrap()).unwrap();
    let failed: Vec<String> = cases
        .run(&engine)
        .into_iter()
        .filter(|r| !r.failures.is_empty())
        .map(|r| format!("{}: {}", r.name, r.failures.join("; ")))
        .collect();
    assert!(
        failed.is_empty(),
        "{name}: failed cases:\n{}",
        failed.join("\n")
    );
    cases.cases.len()
}

#[test]
fn hospital() {
    assert_eq!(run("hospital"), 36);
}

#[test]
fn the_runner_reports_each_mismatch() {
    let engine = Engine::new(
        &Policy::parse(
            r#"{"fhirPolicy": "1", "id": "p",
            "roles": {"clerk": {"permissions": [{"resourceTypes": ["Patient"], "interactions": ["read", "search-type"]}]}},
            "rules": []}"#,
        )
        .unwrap(),
    )
    .unwrap();
    let cases = TestCases::parse(
        r#"{"cases": [
        {"name": "wrong effect and rule", "expect": "deny", "rule": "other",
         "request": {"subject": {"id": "Practitioner/1", "roles": ["clerk"]}, "interaction": "read", "resourceType": "Patient"}},
        {"name": "wrong narrowing and audit", "expect": "permit", "search": "x=1", "audit": "emergency", "hide": ["name"],
         "request": {"subject": {"id": "Practitioner/1", "roles": ["clerk"]}, "interaction": "search-type", "resourceType": "Patient"}},
        {"name": "bad request", "expect": "permit",
         "request": {"subject": {"id": "Practitioner/1"}, "interaction": "reed", "resourceType": "Patient"}}
    ]}"#,
    )
    .unwrap();
    let results = cases.run(&engine);
    let failures: Vec<Vec<String>> = results.into_iter().map(|r| r.failures).collect();
    assert_eq!(
        failures,
        vec![
            vec![
                "expected deny, got permit: role `clerk` permits read Patient".to_owned(),
                "expected rule `other` to decide, got [role:clerk]".to_owned(),
            ],
            vec![
                "expected search narrowing Some(\"x=1\"), got None".to_owned(),
                "expected hidden fields [\"name\"], got []".to_owned(),
                "expected audit level emergency, got standard".to_owned(),
            ],
            vec!["invalid request: interaction: unknown interaction `reed`".to_owned()],
        ]
    );
}

#[test]
fn mental_health() {
    assert_eq!(run("mental-health"), 21);
}

#[test]
fn emergency() {
    assert_eq!(run("emergency"), 13);
}

#[test]
fn network() {
    assert_eq!(run("network"), 10);
}

#[test]
fn examples_have_no_findings() {
    for name in ["hospital", "mental-health", "emergency", "network"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/policies")
            .join(name);
        let policy =
            Policy::parse(&std::fs::read_to_string(dir.join("policy.json")).unwrap()).unwrap();
        let findings = fhir_policy::analysis::analyze(&Engine::new(&policy).unwrap());
        assert!(findings.is_empty(), "{name}: {findings:?}");
    }
}
