//! `fhir-access audit`: verify, search and export on a real store, as a user runs them.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::Path;

use assert_cmd::Command;
use fhir_audit::{
    AuditRecord, Decision, FileStore, Interaction, Sink, StoreConfig, Timestamp, User,
};
use serde_json::{Value, json};

fn run(args: &[&str]) -> (i32, String) {
    let output = Command::cargo_bin("fhir-access")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

/// Six records: patients 1 and 2 alternate, every third is denied, one day apart from
/// 2026-01-01.
fn store(dir: &Path) {
    let store = FileStore::open(dir, StoreConfig::default()).unwrap();
    for n in 0..6_i64 {
        let denied = n % 3 == 2;
        let mut record = AuditRecord::new(
            Timestamp::from_millis(1_767_225_600_000 + n * 86_400_000).unwrap(),
            if n == 5 {
                Interaction::SearchType
            } else {
                Interaction::Read
            },
            if denied {
                Decision::Denied
            } else {
                Decision::Permitted
            },
            if denied { 403 } else { 200 },
            "fhir-1",
        );
        record.user = Some(User {
            id: format!("u{}", n % 2).into(),
            fhir_user: None,
            roles: vec![],
        });
        record.action.resource_type = Some("Observation".into());
        if n == 5 {
            record.action.query = Some("patient=1,2".into());
            record.patients = vec!["Patient/1".into(), "Patient/2".into()];
        } else {
            record.action.resource_id = Some(format!("o{n}").into());
            record.patients = vec![format!("Patient/{}", n % 2 + 1).into()];
        }
        store.append(record).unwrap().wait().unwrap();
    }
    store.close().unwrap();
}

fn seqs(jsonl: &str) -> Vec<u64> {
    jsonl
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn verify_reports_an_intact_chain() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let (code, out) = run(&["audit", "verify", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            report["intact"].clone(),
            report["records"].clone(),
            report["segments"].clone(),
            report["head_seq"].clone()
        ),
        (json!(true), json!(6), json!(1), json!(6))
    );
}

#[test]
fn verify_exits_1_with_the_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let segment = dir.path().join("audit-00000001.jsonl");
    let text = std::fs::read_to_string(&segment).unwrap();
    let offset: usize = text.lines().take(3).map(|line| line.len() + 1).sum();
    std::fs::write(
        &segment,
        text.replace("\"resource_id\":\"o3\"", "\"resource_id\":\"o9\""),
    )
    .unwrap();
    let (code, out) = run(&["audit", "verify", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["intact"], json!(false));
    assert_eq!(report["records"], json!(3));
    let first_break = &report["first_break"];
    assert_eq!(first_break["seq"], json!(4));
    assert_eq!(first_break["offset"], json!(offset));
    assert_eq!(
        first_break["message"],
        json!(format!(
            "record 4 (`{}` byte {offset}): hash does not match the line's content (the record was modified)",
            segment.display()
        ))
    );
    assert!(
        first_break["line"]
            .as_str()
            .unwrap()
            .contains("\"resource_id\":\"o9\"")
    );
}

#[test]
fn search_prints_matching_lines_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let path = dir.path().to_str().unwrap();
    let (code, out) = run(&[
        "audit",
        "search",
        path,
        "--patient",
        "Patient/1",
        "--since",
        "2026-01-02",
    ]);
    assert_eq!(code, 0);
    assert_eq!(seqs(&out), vec![6, 5, 3]);
    let (_, out) = run(&["audit", "search", path, "--outcome", "denied"]);
    assert_eq!(seqs(&out), vec![6, 3]);
    let (_, out) = run(&["audit", "search", path, "--user", "u1", "--limit", "2"]);
    assert_eq!(seqs(&out), vec![6, 4]);
    let (_, out) = run(&[
        "audit",
        "search",
        path,
        "--resource",
        "Observation/o0",
        "--until",
        "2026-01-01T00:00:00.001Z",
    ]);
    assert_eq!(seqs(&out), vec![1]);
    let (_, out) = run(&["audit", "search", path, "--patient", "Patient/404"]);
    assert_eq!(out, "");
}

#[test]
fn export_gives_a_bundle_of_auditevents_one_per_patient() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let (code, out) = run(&[
        "audit",
        "export",
        dir.path().to_str().unwrap(),
        "--format",
        "auditevent",
    ]);
    assert_eq!(code, 0);
    let bundle: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(bundle["resourceType"], json!("Bundle"));
    let entries = bundle["entry"].as_array().unwrap();
    // Five single-patient records and one search over two patients.
    assert_eq!(entries.len(), 7);
    assert!(
        entries
            .iter()
            .all(|entry| entry["resource"]["resourceType"] == "AuditEvent")
    );
    assert_eq!(
        entries[0]["resource"]["recorded"],
        json!("2026-01-01T00:00:00.000Z")
    );
    assert_eq!(
        entries[5]["resource"]["entity"][0]["what"]["reference"],
        json!("Patient/1")
    );
    assert_eq!(
        entries[6]["resource"]["entity"][0]["what"]["reference"],
        json!("Patient/2")
    );
    let (_, out) = run(&[
        "audit",
        "export",
        dir.path().to_str().unwrap(),
        "--format",
        "auditevent",
        "--patient",
        "Patient/2",
    ]);
    let bundle: Value = serde_json::from_str(&out).unwrap();
    // Records 2 and 4, and the search: its record gives an event for each of its patients.
    assert_eq!(bundle["entry"].as_array().unwrap().len(), 4);
}

#[test]
fn usage_errors_exit_2() {
    let (code, _) = run(&["audit", "verify", "/nonexistent/fhir-audit-store"]);
    assert_eq!(code, 2);
    let (code, _) = run(&["audit", "search", ".", "--since", "yesterday"]);
    assert_eq!(code, 2);
    let (code, _) = run(&["audit", "export", ".", "--format", "csv"]);
    assert_eq!(code, 2);
}
