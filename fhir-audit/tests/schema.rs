//! The record's JSON schema (schema 1, `docs/audit.md`): a full record compared whole, and
//! bad input rejected with the exact error.

#![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

use fhir_audit::{
    AuditRecord, BreakGlass, Client, ClientKind, ContentPolicy, Decision, FanOut, Interaction,
    MemorySink, Sink, User,
};
use serde_json::json;
use std::sync::Arc;

/// A record with every field set.
pub fn full_record() -> AuditRecord {
    let mut record = AuditRecord::new(
        "2026-01-15T08:30:00.250Z".parse().unwrap(),
        Interaction::SearchType,
        Decision::Permitted,
        200,
        "fhir-1",
    );
    record.user = Some(User {
        id: "u-42".into(),
        fhir_user: Some("Practitioner/9".into()),
        roles: vec!["physician".into(), "admin".into()],
    });
    record.client = Some(Client {
        id: "growth-chart".into(),
        kind: ClientKind::Public,
    });
    record.on_behalf_of = Some("RelatedPerson/3".into());
    record.action.resource_type = Some("Observation".into());
    record.action.query = Some("patient=123,456&category=laboratory".into());
    record.patients = vec!["Patient/123".into(), "Patient/456".into()];
    record.outcome.rules = vec!["clinicians-read".into()];
    record.origin.client_ip = Some("192.0.2.7".into());
    record.origin.request_id = Some("req-0001".into());
    record.purpose_of_use = vec!["TREAT".into()];
    record.break_glass = Some(BreakGlass {
        reason: "unconscious patient".into(),
    });
    record.token_jti = Some("b6f1c0de".into());
    record
}

#[test]
fn full_record_json_is_the_documented_schema() {
    let record = full_record();
    let expected = json!({
        "time": "2026-01-15T08:30:00.250Z",
        "user": {"id": "u-42", "fhir_user": "Practitioner/9", "roles": ["physician", "admin"]},
        "client": {"id": "growth-chart", "type": "public"},
        "on_behalf_of": "RelatedPerson/3",
        "action": {"interaction": "search-type", "resource_type": "Observation", "query": "patient=123,456&category=laboratory"},
        "patients": ["Patient/123", "Patient/456"],
        "outcome": {"decision": "permitted", "status": 200, "rules": ["clinicians-read"]},
        "origin": {"server_id": "fhir-1", "client_ip": "192.0.2.7", "request_id": "req-0001"},
        "purpose_of_use": ["TREAT"],
        "break_glass": {"reason": "unconscious patient"},
        "token_jti": "b6f1c0de"
    });
    assert_eq!(serde_json::to_value(&record).unwrap(), expected);
    let mut fast = Vec::new();
    record.write_json(&mut fast);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&fast).unwrap(),
        expected
    );
    assert_eq!(
        serde_json::from_value::<AuditRecord>(expected).unwrap(),
        record
    );
}

#[test]
fn bad_records_are_rejected_with_the_reason() {
    let cases = [
        (
            r#"{"time":"2026-01-15T08:30:00.250Z","action":{"interaction":"read"},"outcome":{"decision":"permitted","status":200},"origin":{"server_id":"s"},"token":"eyJ..."}"#,
            "unknown field `token`",
        ),
        (
            r#"{"time":"2026-01-15T08:30:00Z","action":{"interaction":"read"},"outcome":{"decision":"permitted","status":200},"origin":{"server_id":"s"}}"#,
            "timestamp `2026-01-15T08:30:00Z`: expected `YYYY-MM-DDTHH:MM:SS.sssZ`",
        ),
        (
            r#"{"time":"2026-01-15T08:30:00.000Z","action":{"interaction":"look"},"outcome":{"decision":"permitted","status":200},"origin":{"server_id":"s"}}"#,
            "unknown variant `look`",
        ),
        (
            r#"{"time":"2026-01-15T08:30:00.000Z","action":{"interaction":"read"},"outcome":{"decision":"maybe","status":200},"origin":{"server_id":"s"}}"#,
            "unknown variant `maybe`",
        ),
        (
            r#"{"time":"2026-01-15T08:30:00.000Z","action":{"interaction":"read"},"outcome":{"decision":"denied","status":70000},"origin":{"server_id":"s"}}"#,
            "invalid value: integer `70000`",
        ),
        (
            r#"{"time":"2026-01-15T08:30:00.000Z","action":{"interaction":"read"}}"#,
            "missing field `outcome`",
        ),
    ];
    for (json, message) in cases {
        let error = serde_json::from_str::<AuditRecord>(json)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(message),
            "{error} does not start with {message}"
        );
    }
}

#[test]
fn memory_sink_redacts_and_drops_content_by_default() {
    let sink = MemorySink::default();
    let mut record = full_record();
    record.content = Some(json!({"resourceType": "Observation", "id": "o1"}));
    record.outcome.reason = Some("token Bearer abc.def.ghi".into());
    let receipt = sink.append(record.clone()).unwrap();
    assert_eq!(receipt.seq(), Some(1));
    receipt.wait().unwrap();
    let stored = sink.records();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content, None);
    assert_eq!(
        stored[0].outcome.reason.as_deref(),
        Some("token Bearer [redacted]")
    );

    let full = MemorySink::new(ContentPolicy::Full);
    full.append(record.clone()).unwrap().wait().unwrap();
    assert_eq!(full.records()[0].content, record.content);
}

#[test]
fn fan_out_reaches_every_sink_and_reports_the_first_sequence() {
    let a = Arc::new(MemorySink::default());
    let b = Arc::new(MemorySink::new(ContentPolicy::Full));
    let fan_out = FanOut::new(vec![a.clone() as Arc<dyn Sink>, b.clone()]);
    for expected in 1..=3 {
        let receipt = fan_out.append(full_record()).unwrap();
        assert_eq!(receipt.seq(), Some(expected));
        receipt.wait().unwrap();
    }
    assert_eq!((a.len(), b.len()), (3, 3));
    assert_eq!(
        FanOut::new(Vec::new()).append(full_record()).unwrap().seq(),
        None
    );
}
