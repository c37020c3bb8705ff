//! AuditEvent output: a golden event compared whole, the BALP-required elements per
//! interaction, one event per patient, and validation of every event by an independent R4
//! model (SMART's Python `fhirclient`, pinned, strict), which this test installs.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use fhir_audit::{
    AuditRecord, BreakGlass, Client, ClientKind, Decision, Interaction, User, audit_event_bundle,
};
use serde_json::{Value, json};

/// The pinned validator: fhirclient's R4 (4.0.1) models.
const FHIRCLIENT: &str = "fhirclient==4.4.0";

fn record(interaction: Interaction, patients: &[&str]) -> AuditRecord {
    let mut record = AuditRecord::new(
        "2026-02-03T04:05:06.789Z".parse().unwrap(),
        interaction,
        Decision::Permitted,
        200,
        "fhir-1.example.org",
    );
    record.user = Some(User {
        id: "u-42".into(),
        fhir_user: Some("Practitioner/9".into()),
        roles: vec!["physician".into()],
    });
    record.client = Some(Client {
        id: "chart-app".into(),
        kind: ClientKind::Confidential,
    });
    record.action.resource_type = Some("Observation".into());
    match interaction {
        Interaction::SearchType => {
            record.action.query = Some("patient=123&code=http://loinc.org|8867-4".into())
        }
        Interaction::SearchSystem => {
            record.action.resource_type = None;
            record.action.query = Some("_lastUpdated=gt2026-01-01".into());
        }
        _ => record.action.resource_id = Some("obs-1".into()),
    }
    if interaction == Interaction::Vread {
        record.action.version_id = Some("3".into());
    }
    record.patients = patients
        .iter()
        .map(|p| fhir_audit::CompactString::from(*p))
        .collect();
    record.origin.client_ip = Some("192.0.2.10".into());
    record.origin.request_id = Some("req-77".into());
    record.purpose_of_use = vec!["TREAT".into()];
    record.token_jti = Some("jti-5f2c".into());
    record
}

#[test]
fn a_patient_read_is_the_balp_patient_read_event() {
    let events = record(Interaction::Read, &["Patient/123"]).audit_events();
    assert_eq!(events.len(), 1);
    let expected = json!({
        "resourceType": "AuditEvent",
        "meta": {"profile": ["https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"]},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read", "display": "read"}],
        "action": "R",
        "recorded": "2026-02-03T04:05:06.789Z",
        "outcome": "0",
        "agent": [
            {
                "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110152", "display": "Destination Role ID"}]},
                "who": {"identifier": {"value": "chart-app"}},
                "requestor": false,
                "network": {"address": "192.0.2.10", "type": "2"}
            },
            {
                "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110153", "display": "Source Role ID"}]},
                "who": {"identifier": {"value": "fhir-1.example.org"}},
                "requestor": false,
                "network": {"address": "fhir-1.example.org", "type": "1"}
            },
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}]},
                "role": [{"text": "physician"}],
                "who": {"reference": "Practitioner/9", "identifier": {"value": "u-42"}},
                "policy": ["jti-5f2c"],
                "requestor": true,
                "purposeOfUse": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}]
            }
        ],
        "source": {
            "site": "fhir-1.example.org",
            "observer": {"display": "fhir-1.example.org"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}]
        },
        "entity": [
            {
                "what": {"identifier": {"value": "req-77"}},
                "type": {"system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType", "code": "XrequestId",
                         "display": "transport specific unique identifier where http X-Request-Id is used"}
            },
            {
                "what": {"reference": "Patient/123"},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}
            },
            {
                "what": {"reference": "Observation/obs-1"},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4", "display": "Domain Resource"}
            }
        ]
    });
    if events[0] != expected {
        panic!(
            "AuditEvent differs\nexpected: {}\n  actual: {}",
            serde_json::to_string_pretty(&expected).unwrap(),
            serde_json::to_string_pretty(&events[0]).unwrap()
        );
    }
}

fn codes(value: &Value) -> String {
    value["coding"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn entity_roles(event: &Value) -> Vec<String> {
    event["entity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["role"]["code"].as_str().unwrap_or("-").to_owned())
        .collect()
}

#[test]
fn balp_elements_per_interaction() {
    // (interaction, profile, action, client type, server type, user type, entity roles)
    let cases = [
        (
            Interaction::Create,
            "PatientCreate",
            "C",
            "110153",
            "110152",
            "AUT",
            vec!["-", "1", "4"],
        ),
        (
            Interaction::Read,
            "PatientRead",
            "R",
            "110152",
            "110153",
            "IRCP",
            vec!["-", "1", "4"],
        ),
        (
            Interaction::Vread,
            "PatientRead",
            "R",
            "110152",
            "110153",
            "IRCP",
            vec!["-", "1", "4"],
        ),
        (
            Interaction::Update,
            "PatientUpdate",
            "U",
            "110153",
            "110152",
            "AUT",
            vec!["-", "1", "4"],
        ),
        (
            Interaction::Patch,
            "PatientUpdate",
            "U",
            "110153",
            "110152",
            "AUT",
            vec!["-", "1", "4"],
        ),
        (
            Interaction::Delete,
            "PatientDelete",
            "D",
            "110150",
            "custodian",
            "AUT",
            vec!["1", "4"],
        ),
        (
            Interaction::SearchType,
            "PatientQuery",
            "E",
            "110153",
            "110152",
            "IRCP",
            vec!["-", "1", "24"],
        ),
    ];
    for (interaction, profile, action, client, server, user, roles) in cases {
        let event = &record(interaction, &["Patient/123"]).audit_events()[0];
        let name = interaction.code();
        assert_eq!(
            event["meta"]["profile"][0],
            json!(format!(
                "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.{profile}"
            )),
            "{name}"
        );
        assert_eq!(event["subtype"][0]["code"], json!(name));
        assert_eq!(event["action"], json!(action), "{name}");
        let agents = event["agent"].as_array().unwrap();
        assert_eq!(
            agents.iter().map(|a| codes(&a["type"])).collect::<Vec<_>>(),
            vec![client.to_owned(), server.to_owned(), user.to_owned()],
            "{name}"
        );
        assert_eq!(agents[2]["policy"], json!(["jti-5f2c"]), "{name}");
        assert_eq!(agents[2]["requestor"], json!(true));
        assert_eq!(entity_roles(event), roles, "{name}");
        // The non-patient profile when no patient is involved.
        let plain = &record(interaction, &[]).audit_events()[0];
        assert_eq!(
            plain["meta"]["profile"][0],
            json!(format!(
                "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.{}",
                profile.trim_start_matches("Patient")
            ))
        );
        assert!(entity_roles(plain).iter().all(|role| role != "1"), "{name}");
    }
    let vread = &record(Interaction::Vread, &[]).audit_events()[0];
    assert_eq!(
        vread["entity"][1]["what"]["reference"],
        json!("Observation/obs-1/_history/3")
    );
}

#[test]
fn a_multi_patient_search_gives_one_event_per_patient_with_the_base64_query() {
    let events = record(
        Interaction::SearchType,
        &["Patient/1", "Patient/2", "Patient/3"],
    )
    .audit_events();
    assert_eq!(events.len(), 3);
    for (event, patient) in events.iter().zip(["Patient/1", "Patient/2", "Patient/3"]) {
        let entities = event["entity"].as_array().unwrap();
        let patients: Vec<&Value> = entities
            .iter()
            .filter(|e| e["role"]["code"] == "1")
            .collect();
        assert_eq!(patients.len(), 1);
        assert_eq!(patients[0]["what"]["reference"], json!(patient));
        let query = entities.iter().find(|e| e["role"]["code"] == "24").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(query["query"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            "Observation?patient=123&code=http://loinc.org|8867-4"
        );
        assert!(query.get("what").is_none(), "BALP: entity[query].what 0..0");
    }
    let system = &record(Interaction::SearchSystem, &[]).audit_events()[0];
    assert_eq!(
        system["meta"]["profile"][0],
        json!("https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Query")
    );
    assert_eq!(
        system["entity"][1]["description"],
        json!("?_lastUpdated=gt2026-01-01")
    );
}

#[test]
fn denials_and_errors_carry_the_outcome_and_claim_no_profile() {
    let mut denied = record(Interaction::Read, &["Patient/123"]);
    denied.outcome.decision = Decision::Denied;
    denied.outcome.status = 403;
    denied.outcome.reason = Some("scope does not cover Observation".into());
    let event = &denied.audit_events()[0];
    assert_eq!(event["outcome"], json!("4"));
    assert_eq!(
        event["outcomeDesc"],
        json!("denied (HTTP 403): scope does not cover Observation")
    );
    assert!(event.get("meta").is_none());
    let mut failed = record(Interaction::Create, &[]);
    failed.outcome.decision = Decision::Error;
    failed.outcome.status = 503;
    failed.action.resource_id = None;
    let event = &failed.audit_events()[0];
    assert_eq!(
        (event["outcome"].clone(), event["outcomeDesc"].clone()),
        (json!("8"), json!("failed (HTTP 503)"))
    );
    assert_eq!(
        event["entity"][1]["what"],
        json!({"display": "Observation"})
    );
}

/// Every kind of record, including hostile text and break-glass, for the validator.
fn corpus() -> Vec<AuditRecord> {
    let interactions = [
        Interaction::Read,
        Interaction::Vread,
        Interaction::Update,
        Interaction::Patch,
        Interaction::Delete,
        Interaction::HistoryInstance,
        Interaction::HistoryType,
        Interaction::HistorySystem,
        Interaction::Create,
        Interaction::SearchType,
        Interaction::SearchSystem,
        Interaction::Capabilities,
        Interaction::Transaction,
        Interaction::Batch,
        Interaction::Operation,
    ];
    let mut records = Vec::new();
    for interaction in interactions {
        for patients in [&[][..], &["Patient/1"][..], &["Patient/1", "Patient/2"][..]] {
            for decision in [Decision::Permitted, Decision::Denied, Decision::Error] {
                let mut record = record(interaction, patients);
                record.outcome.decision = decision;
                if decision != Decision::Permitted {
                    record.outcome.reason = Some("line\nbreak \"quoted\" \u{1}".into());
                }
                records.push(record);
            }
        }
    }
    let mut bare = AuditRecord::new(
        "2026-01-01T00:00:00.000Z".parse().unwrap(),
        Interaction::Capabilities,
        Decision::Permitted,
        200,
        "s",
    );
    records.push(bare.clone());
    bare.user = Some(User {
        id: "u".into(),
        fhir_user: None,
        roles: vec![],
    });
    bare.purpose_of_use = vec!["research purposes".into()];
    bare.break_glass = Some(BreakGlass {
        reason: "cardiac arrest".into(),
    });
    bare.action.operation = Some("everything".into());
    records.push(bare);
    records
}

fn venv_python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fhir-audit-venv");
    let python = venv.join("bin/python");
    let installed = python.exists()
        && Command::new(&python)
            .args(["-c", "import fhirclient"])
            .status()
            .is_ok_and(|status| status.success());
    if !installed {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(status.success(), "python3 -m venv failed");
        let status = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                FHIRCLIENT,
            ])
            .status()
            .expect("pip install fhirclient");
        assert!(status.success(), "pip install {FHIRCLIENT} failed");
    }
    python
}

#[test]
fn every_event_parses_in_the_fhirclient_r4_model() {
    let records = corpus();
    let bundle = audit_event_bundle(&records);
    let count = bundle["entry"].as_array().unwrap().len();
    assert_eq!(count, 15 * 3 * (1 + 1 + 2) + 2);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/auditevent/validate.py");
    let mut child = Command::new(venv_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(&bundle).unwrap())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "fhirclient rejected an event: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("validated {count} AuditEvents\n")
    );
}
