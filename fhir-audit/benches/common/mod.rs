//! The record generator both benchmarks use: realistic records that vary by `n` (users,
//! clients, patients, one denial in ten), two seconds apart from 2026-01-01.

#![allow(
    clippy::unwrap_used,
    reason = "benchmark code: a panic is a failed run"
)]

use fhir_audit::{AuditRecord, Client, ClientKind, Decision, Interaction, Timestamp, User};

const START: i64 = 1_767_225_600_000; // 2026-01-01

pub(crate) fn record(n: u64) -> AuditRecord {
    let mut record = AuditRecord::new(
        Timestamp::from_millis(START + i64::try_from(n).unwrap() * 2_000).unwrap(),
        Interaction::SearchType,
        if n.is_multiple_of(10) {
            Decision::Denied
        } else {
            Decision::Permitted
        },
        if n.is_multiple_of(10) { 403 } else { 200 },
        "fhir-1.example.org",
    );
    record.user = Some(User {
        id: format!("user-{}", n % 500).into(),
        fhir_user: Some(format!("Practitioner/{}", n % 500).into()),
        roles: vec![],
    });
    record.client = Some(Client {
        id: format!("app-{}", n % 20).into(),
        kind: ClientKind::Confidential,
    });
    record.action.resource_type = Some("Observation".into());
    record.action.resource_id = Some(format!("obs-{n}").into());
    record.action.query =
        Some(format!("patient={}&category=laboratory&_count=50", n % 1000).into());
    record.patients = vec![format!("Patient/{}", n % 1000).into()];
    record.outcome.rules = vec!["clinician-read".into()];
    record.origin.client_ip = Some("192.0.2.44".into());
    record.origin.request_id = Some(format!("req-{n:012}").into());
    record.token_jti = Some(format!("jti-{n:016x}").into());
    record
}
