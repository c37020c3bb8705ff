//! The policy guard of `fhir-access serve` over real HTTP, on the seeded Synthea data: patient
//! A (Lucien Hahn) holds a patient-context token; patient B (Catharine Morar) must never
//! show through any route. Tokens are minted with `fhir-access token mint --data-dir`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::process::Command;

use common::secured::{A, B, DARRELL};
use common::{Server, entry_ids};
use serde_json::{Value, json};

/// Whether any reference anywhere in `value` points at patient B.
fn mentions_b(value: &Value) -> bool {
    value.to_string().contains(B)
}

fn first_observation(server: &Server, token: &str) -> Value {
    let page = server.read_as(token, "Observation?_count=1").json();
    page["entry"][0]["resource"].clone()
}

#[test]
fn patient_a_reads_a_and_never_b_on_any_read_route() {
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let b = server.mint("catharine", &[]);

    let own = server.read_as(&a, &format!("Patient/{A}"));
    assert_eq!(own.status, 200, "{}", own.text());
    assert_eq!(own.json()["id"], A);

    // Another patient, a missing id and a deleted-looking id: byte-identical 404s.
    let other = server.read_as(&a, &format!("Patient/{B}"));
    let missing = server.read_as(&a, "Patient/no-such-patient");
    assert_eq!(other.status, 404);
    assert_eq!(missing.status, 404);
    assert_eq!(other.body, missing.body);
    assert_eq!(other.headers, missing.headers);

    // vread and history of B: the same 404.
    let vread = server.read_as(&a, &format!("Patient/{B}/_history/1"));
    assert_eq!(
        (vread.status, vread.body.clone()),
        (404, missing.body.clone())
    );
    let history = server.read_as(&a, &format!("Patient/{B}/_history"));
    assert_eq!(history.status, 404, "{}", history.text());
    let own_history = server.read_as(&a, &format!("Patient/{A}/_history"));
    assert_eq!(own_history.status, 200);
    assert_eq!(entry_ids(&own_history.json()), [format!("Patient/{A}")]);

    // B's own observation, read by A: 404.
    let b_obs = first_observation(&server, &b);
    let b_obs_id = b_obs["id"].as_str().unwrap();
    assert_eq!(b_obs["subject"]["reference"], format!("Patient/{B}"));
    let read = server.read_as(&a, &format!("Observation/{b_obs_id}"));
    assert_eq!(
        (read.status, read.body.clone()),
        (404, missing.body.clone())
    );

    // Searches: only A's compartment, whatever the query asks for.
    let patients = server.read_as(&a, "Patient?_count=50").json();
    assert_eq!(entry_ids(&patients), [format!("Patient/{A}")]);
    assert_eq!(patients["total"], 1);
    let observations = server.read_as(&a, "Observation?_count=200").json();
    let listed = observations["entry"].as_array().unwrap();
    assert!(!listed.is_empty());
    for entry in listed {
        assert_eq!(
            entry["resource"]["subject"]["reference"],
            format!("Patient/{A}")
        );
    }
    assert!(!mentions_b(&observations));
    let by_id = server
        .read_as(&a, &format!("Observation?_id={b_obs_id}"))
        .json();
    assert_eq!(by_id["total"], 0);

    // _include and _revinclude never bring B in.
    let included = server
        .read_as(&a, "Observation?_count=5&_include=Observation:subject")
        .json();
    assert!(entry_ids(&included).contains(&format!("Patient/{A}")));
    assert!(!mentions_b(&included));
    let revincluded = server
        .read_as(&a, "Patient?_revinclude=Observation:subject&_count=1")
        .json();
    assert!(entry_ids(&revincluded).len() > 1);
    assert!(!mentions_b(&revincluded));

    // A search naming B explicitly: refused from the query alone.
    let named = server.read_as(&a, &format!("Observation?subject=Patient/{B}"));
    named.assert_outcome(403, "forbidden", "forbidden");
    let named = server.read_as(&a, &format!("Observation?patient={B}"));
    named.assert_outcome(403, "forbidden", "forbidden");
    // Compartment search naming B: refused from the request alone.
    let compartment = server.read_as(&a, &format!("Patient/{B}/Observation"));
    compartment.assert_outcome(403, "forbidden", "forbidden");
    let own_compartment = server.read_as(&a, &format!("Patient/{A}/Condition")).json();
    assert!(!entry_ids(&own_compartment).is_empty());
    assert!(!mentions_b(&own_compartment));

    // $everything: A's works, B's is the missing answer.
    let everything = server.read_as(&a, &format!("Patient/{A}/$everything"));
    assert_eq!(everything.status, 200, "{}", everything.text());
    assert!(!mentions_b(&everything.json()));
    let not_theirs = server.read_as(&a, &format!("Patient/{B}/$everything"));
    assert_eq!(not_theirs.status, 404, "{}", not_theirs.text());

    // A batch: each entry on its own, B's read answered like a missing resource.
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": format!("Patient/{A}")}},
        {"request": {"method": "GET", "url": format!("Patient/{B}")}},
        {"request": {"method": "GET", "url": "Patient"}}
    ]});
    let reply = server.call(&a, "POST", "", Some(&batch));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = reply.json();
    assert_eq!(reply["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(reply["entry"][1]["response"]["status"], "404 Not Found");
    assert_eq!(
        entry_ids(&reply["entry"][2]["resource"]),
        [format!("Patient/{A}")]
    );
    assert!(!mentions_b(&reply["entry"][2]));
}

#[test]
fn patient_a_cannot_write_into_b() {
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let b = server.mint("catharine", &[]);
    let observation = |patient: &str| {
        json!({"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "urn:test", "code": "home-pulse"}]},
            "subject": {"reference": format!("Patient/{patient}")},
            "valueQuantity": {"value": 72, "unit": "/min"}})
    };
    // Create for A: allowed; for B: 403.
    let created = server.call(&a, "POST", "Observation", Some(&observation(A)));
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let into_b = server.call(&a, "POST", "Observation", Some(&observation(B)));
    into_b.assert_outcome(403, "forbidden", "forbidden");

    // Update moving it to B: 403, and it stays A's.
    let mut moved = observation(B);
    moved["id"] = json!(id);
    let update = server.call(&a, "PUT", &format!("Observation/{id}"), Some(&moved));
    update.assert_outcome(403, "forbidden", "forbidden");
    // PATCH moving it to B: 403.
    let patch =
        json!([{"op": "replace", "path": "/subject/reference", "value": format!("Patient/{B}")}]);
    let patched = server.send(
        "PATCH",
        &format!("Observation/{id}"),
        &[
            ("Authorization", &format!("Bearer {a}")),
            ("Content-Type", "application/json-patch+json"),
        ],
        patch.to_string().as_bytes(),
    );
    patched.assert_outcome(403, "forbidden", "forbidden");
    let stored = server.read_as(&a, &format!("Observation/{id}"));
    assert_eq!(stored.status, 200);
    assert_eq!(
        stored.json()["subject"]["reference"],
        format!("Patient/{A}")
    );
    assert_eq!(stored.json()["meta"]["versionId"], "1");
    // B never sees it.
    assert_eq!(server.read_as(&b, &format!("Observation/{id}")).status, 404);

    // B's observation cannot be updated by A, nor overwritten as if its id were free: the
    // answer is byte for byte the one for an id nobody uses (A may not create by PUT).
    let b_obs = first_observation(&server, &b);
    let b_id = b_obs["id"].as_str().unwrap();
    let mut hijack = b_obs.clone();
    hijack["subject"]["reference"] = json!(format!("Patient/{A}"));
    let update = server.call(&a, "PUT", &format!("Observation/{b_id}"), Some(&hijack));
    let mut fresh = hijack.clone();
    fresh["id"] = json!("no-such-observation");
    let free = server.call(&a, "PUT", "Observation/no-such-observation", Some(&fresh));
    update.assert_outcome(
        405,
        "not-supported",
        "update as create is not offered to callers with restricted access: create with POST",
    );
    assert_eq!((&update.headers, &update.body), (&free.headers, &free.body));
    let b_stored = server.read_as(&b, &format!("Observation/{b_id}")).json();
    assert_eq!(b_stored["meta"]["versionId"], b_obs["meta"]["versionId"]);
    assert_eq!(b_stored["subject"]["reference"], format!("Patient/{B}"));
    // PATCH of B's: the one 404 of a missing resource.
    let patch_b = server.send(
        "PATCH",
        &format!("Observation/{b_id}"),
        &[
            ("Authorization", &format!("Bearer {a}")),
            ("Content-Type", "application/json-patch+json"),
        ],
        b"[]",
    );
    let patch_missing = server.send(
        "PATCH",
        "Observation/no-such-observation",
        &[
            ("Authorization", &format!("Bearer {a}")),
            ("Content-Type", "application/json-patch+json"),
        ],
        b"[]",
    );
    assert_eq!(patch_b.status, 404);
    assert_eq!(patch_b.body, patch_missing.body);

    // A transaction with one entry into B: refused as a whole, nothing written.
    let before = server.read_as(&a, "Observation?_summary=count").json()["total"].clone();
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": observation(A), "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:2", "resource": observation(B), "request": {"method": "POST", "url": "Observation"}}
    ]});
    let reply = server.call(&a, "POST", "", Some(&transaction));
    assert_eq!(reply.status, 403, "{}", reply.text());
    let after = server.read_as(&a, "Observation?_summary=count").json()["total"].clone();
    assert_eq!(before, after);
    let b_count = server
        .read_as(&b, "Observation?code=urn:test|home-pulse&_summary=count")
        .json();
    assert_eq!(b_count["total"], 0);

    // Conditional create naming B's observation: A cannot see it, so it creates A's own
    // (never answers with B's resource).
    let conditional = server.send(
        "POST",
        "Observation",
        &[
            ("Authorization", &format!("Bearer {a}")),
            ("Content-Type", "application/fhir+json"),
            ("If-None-Exist", &format!("_id={b_id}")),
        ],
        observation(A).to_string().as_bytes(),
    );
    assert_eq!(conditional.status, 201, "{}", conditional.text());
    assert!(!mentions_b(&conditional.json()));
}

#[test]
fn write_only_tokens_cannot_read_back_and_bad_tokens_are_401() {
    let server = Server::secured();
    let writer = server.mint("lucien", &["--scope", "patient/Observation.c"]);
    let observation = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/{A}")}});
    let created = server.call(&writer, "POST", "Observation", Some(&observation));
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(created.body.is_empty(), "{}", created.text());
    let location = created.header("location").unwrap().to_owned();
    let id = location.split('/').rev().nth(2).unwrap();
    let read = server.read_as(&writer, &format!("Observation/{id}"));
    read.assert_outcome(403, "forbidden", "forbidden");

    // No token, a malformed one, a forged one, an expired one: 401 with WWW-Authenticate.
    let good = server.mint("lucien", &[]);
    let mut forged = good.clone();
    forged.pop();
    forged.push(if good.ends_with('A') { 'B' } else { 'A' });
    let expired = server.mint("lucien", &["--exp", "-3600"]);
    let path = format!("Patient/{A}");
    for response in [
        server.get(&path),
        server.read_as("not-a-jwt", &path),
        server.read_as(&forged, &path),
        server.read_as(&expired, &path),
        server.send(
            "GET",
            &path,
            &[("Authorization", &format!("Basic {good}"))],
            b"",
        ),
    ] {
        response.assert_outcome(401, "login", "authentication required");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer realm=\"fhir-access\"")
        );
    }
    assert_eq!(server.read_as(&good, &path).status, 200);
}

#[test]
fn every_request_leaves_exactly_one_audit_record() {
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let statuses: Vec<u16> = vec![
        server.get("metadata").status,
        server.get(&format!("Patient/{A}")).status,
        server.read_as(&a, &format!("Patient/{A}")).status,
        server.read_as(&a, &format!("Patient/{B}")).status,
        server
            .read_as(&a, &format!("Patient/{B}/Observation"))
            .status,
        server.read_as(&a, "NotAType/1").status,
        server.get("/not-fhir").status,
    ];
    assert_eq!(statuses, [200, 401, 200, 404, 403, 404, 404]);
    let records = server.audit_records();
    assert_eq!(records.len(), statuses.len(), "{records:#?}");
    let got: Vec<(u64, &str)> = records
        .iter()
        .map(|r| {
            (
                r["outcome"]["status"].as_u64().unwrap(),
                r["outcome"]["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (200, "permitted"),
            (401, "denied"),
            (200, "permitted"),
            (404, "error"),
            (403, "denied"),
            (404, "error"),
            (404, "error"),
        ]
    );
    let read = &records[2];
    assert_eq!(read["user"]["id"], "lucien");
    assert_eq!(read["patients"], json!([format!("Patient/{A}")]));
    assert_eq!(
        read["outcome"]["rules"],
        json!(["patient-reads-own-record"])
    );
    assert_eq!(read["action"]["resource_id"], A);
    // The denied read of B names no patient: it returned nothing.
    assert_eq!(records[3].get("patients"), None);
}

#[test]
fn audit_records_keep_a_search_query_and_an_operation_name() {
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let get = server.read_as(&a, "Observation?code=8302-2&_count=2");
    let posted = server.send(
        "POST",
        "Observation/_search",
        &[
            ("Authorization", &format!("Bearer {a}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"code=http%3A%2F%2Floinc.org%7C8302-2",
    );
    let everything = server.read_as(&a, &format!("Patient/{A}/$everything"));
    let read = server.read_as(&a, &format!("Patient/{A}"));
    assert_eq!(
        [get.status, posted.status, everything.status, read.status],
        [200, 200, 200, 200]
    );
    let actions: Vec<Value> = server
        .audit_records()
        .iter()
        .map(|r| r["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            json!({"interaction": "search-type", "resource_type": "Observation",
                "query": "code=8302-2&_count=2"}),
            json!({"interaction": "search-type", "resource_type": "Observation",
                "query": "code=http%3A%2F%2Floinc.org%7C8302-2"}),
            json!({"interaction": "operation", "resource_type": "Patient", "resource_id": A,
                "operation": "everything"}),
            json!({"interaction": "read", "resource_type": "Patient", "resource_id": A}),
        ]
    );
}

#[test]
fn audit_records_say_whether_the_client_is_confidential_from_the_registry() {
    let server = Server::secured();
    for client in ["demo-confidential-app", "demo-app", "unregistered-app"] {
        let token = server.mint("lucien", &["--client-id", client]);
        assert_eq!(server.read_as(&token, &format!("Patient/{A}")).status, 200);
    }
    let clients: Vec<Value> = server
        .audit_records()
        .iter()
        .map(|r| r["client"].clone())
        .collect();
    assert_eq!(
        clients,
        [
            json!({"id": "demo-confidential-app", "type": "confidential"}),
            json!({"id": "demo-app", "type": "public"}),
            json!({"id": "unregistered-app", "type": "public"}),
        ]
    );
}

#[test]
fn the_audit_log_is_searchable_as_audit_events_by_the_auditor_and_the_admin_only() {
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let doctor = server.mint("dr-grey", &[]);
    assert_eq!(server.read_as(&a, &format!("Patient/{A}")).status, 200);
    // A break-glass read: the header's reason reaches the policy and the record.
    let urgent = server.send(
        "GET",
        &format!("Patient/{B}"),
        &[
            ("Authorization", &format!("Bearer {doctor}")),
            ("X-Break-Glass", "unconscious patient in the ER"),
        ],
        b"",
    );
    assert_eq!(urgent.status, 200, "{}", urgent.text());

    // A patient and a doctor may not search the log: 403 from the request alone.
    for token in [&a, &doctor] {
        server
            .read_as(token, "AuditEvent")
            .assert_outcome(403, "forbidden", "forbidden");
    }
    for user in ["auditor", "admin"] {
        let token = server.mint(user, &[]);
        let log = server.read_as(&token, &format!("AuditEvent?patient=Patient/{A}"));
        assert_eq!(log.status, 200, "{user}: {}", log.text());
        let log = log.json();
        assert_eq!(log["type"], "searchset");
        // Exactly the patient's own read names Lucien.
        assert_eq!(log["total"], 1, "{log:#}");
        let event = &log["entry"][0]["resource"];
        assert_eq!(event["resourceType"], "AuditEvent");
        assert!(event.to_string().contains(&format!("Patient/{A}")));
        let everything = server.read_as(&token, "AuditEvent?_count=200").json();
        assert!(everything["total"].as_u64().unwrap() >= 5, "{everything:#}");
        assert_eq!(
            server.read_as(&token, "AuditEvent?entity-type=2").status,
            400
        );
    }
    let records = server.audit_records();
    let glass: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("break_glass").is_some())
        .collect();
    assert_eq!(glass.len(), 1);
    assert_eq!(
        glass[0]["break_glass"]["reason"],
        "unconscious patient in the ER"
    );
    assert_eq!(glass[0]["user"]["id"], "dr-grey");
}

#[test]
fn explain_mode_adds_the_policy_explanation_to_a_403() {
    let server = Server::with(&["--explain", "true"]);
    let a = server.mint("lucien", &[]);
    let denied = server.call(&a, "DELETE", &format!("Patient/{A}"), None);
    assert_eq!(denied.status, 403, "{}", denied.text());
    let diagnostics = denied.json()["issue"][0]["diagnostics"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(diagnostics.starts_with("forbidden: "), "{diagnostics}");
    assert!(diagnostics.contains("scopes"), "{diagnostics}");
}

#[test]
fn staff_roles_of_the_hospital_policy_hold_end_to_end() {
    let server = Server::secured();
    // The doctor: assigned Lucien (A) and Catharine (B), not Darrell.
    let doctor = server.mint("dr-grey", &[]);
    assert_eq!(server.read_as(&doctor, &format!("Patient/{A}")).status, 200);
    let unassigned = server.read_as(&doctor, &format!("Patient/{DARRELL}"));
    let missing = server.read_as(&doctor, "Patient/no-such-patient");
    assert_eq!((unassigned.status, &unassigned.body), (404, &missing.body));
    let searched = server.read_as(&doctor, "Observation?_count=200").json();
    assert!(!entry_ids(&searched).is_empty());
    assert!(!searched.to_string().contains(DARRELL));
    assert_eq!(
        server
            .read_as(&doctor, &format!("Patient/{A}/$everything"))
            .status,
        200
    );

    // The cardiology nurse: Darrell's and Valentine's records, not Lucien's.
    let nurse = server.mint("nurse-cardio", &[]);
    let records = server
        .read_as(
            &nurse,
            &format!("Observation?subject=Patient/{DARRELL}&_count=5"),
        )
        .json();
    assert_eq!(entry_ids(&records).len(), 5, "{records:#}");
    let theirs = server
        .read_as(
            &nurse,
            &format!("Observation?subject=Patient/{A}&_summary=count"),
        )
        .json();
    assert_eq!(theirs["total"], 0);
    // No rule lets a nurse delete a Condition (and one forbids everyone).
    let condition = server
        .read_as(
            &nurse,
            &format!("Condition?subject=Patient/{DARRELL}&_count=1"),
        )
        .json();
    let condition_id = condition["entry"][0]["resource"]["id"].as_str().unwrap();
    server
        .call(&nurse, "DELETE", &format!("Condition/{condition_id}"), None)
        .assert_outcome(403, "forbidden", "forbidden");

    // The admin: claims, not clinical records.
    let admin = server.mint("admin", &[]);
    let claims = server.read_as(&admin, "Claim?_count=3").json();
    assert_eq!(entry_ids(&claims).len(), 3);
    server
        .read_as(&admin, "Observation")
        .assert_outcome(403, "forbidden", "forbidden");

    // The auditor never writes, and reads no clinical data.
    let auditor = server.mint("auditor", &[]);
    server
        .read_as(&auditor, &format!("Patient/{A}"))
        .assert_outcome(403, "forbidden", "forbidden");

    // The researcher: only with the research purpose of use.
    let researcher = server.mint("researcher", &[]);
    server
        .read_as(&researcher, "Patient")
        .assert_outcome(403, "forbidden", "forbidden");
    let research = server.send(
        "GET",
        "Patient?_count=10",
        &[
            ("Authorization", &format!("Bearer {researcher}")),
            ("X-Purpose-Of-Use", "HRESCH"),
        ],
        b"",
    );
    assert_eq!(research.status, 200, "{}", research.text());
    let research = research.json();
    assert_eq!(entry_ids(&research).len(), 4);
    // De-identified: the policy's `hide` obligation removed the identifying elements.
    for entry in research["entry"].as_array().unwrap() {
        let patient = &entry["resource"];
        for hidden in ["identifier", "name", "telecom", "address", "birthDate"] {
            assert_eq!(patient.get(hidden), None, "{hidden} in {patient:#}");
        }
        assert!(patient["gender"].is_string());
        assert!(patient["meta"]["security"].to_string().contains("REDACTED"));
    }
}

#[test]
fn token_mint_from_a_data_dir_fails_clearly_without_a_key_or_user() {
    let dir = tempfile::tempdir().unwrap();
    let mint = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fhir-access"))
            .args(["token", "mint", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let no_key = mint(&["--user", "lucien"]);
    assert_eq!(no_key.status.code(), Some(2), "{no_key:?}");
    let stderr = String::from_utf8(no_key.stderr).unwrap();
    assert!(stderr.contains("no server key at"), "{stderr}");
    assert!(!dir.path().join("server-key.p8").exists());

    // Once the server has started there, an unknown user names the known ones.
    let server = Server::in_dir(dir.path(), &["--seed", "true"]);
    let unknown = mint(&["--user", "mallory", "--aud", &server.base]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    let stderr = String::from_utf8(unknown.stderr).unwrap();
    assert!(stderr.contains("no user `mallory`"), "{stderr}");
    assert!(stderr.contains("dr-grey"), "{stderr}");
    let token = mint(&["--user", "admin", "--aud", &server.base]);
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap();
    assert_eq!(server.read_as(token.trim(), "Claim?_count=1").status, 200);
}

/// Lucien's privacy Consent: the root permits, nested provisions deny nurses (by the role
/// code the hospital policy gives them) and the researcher (by reference).
fn lucien_consent() -> Value {
    json!({
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": format!("Patient/{A}")},
        "provision": {"type": "permit", "provision": [
            {"type": "deny", "actor": [{"role": {"coding": [{"system": "http://snomed.info/sct", "code": "106292003"}]}}]},
            {"type": "deny", "actor": [{
                "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
                "reference": {"reference": "Practitioner/researcher"}}]}
        ]}
    })
}

#[test]
fn a_patients_deny_consent_hides_their_data_from_the_roles_it_names() {
    let server = Server::secured();
    let lucien = server.mint("lucien", &[]);
    let nurse = server.mint("nurse-peds", &[]);
    let researcher = server.mint("researcher", &[]);
    let doctor = server.mint("dr-grey", &[]);
    let research = [("X-Purpose-Of-Use", "HRESCH")];
    let own = first_observation(&server, &lucien);
    let own_path = format!("Observation/{}", own["id"].as_str().unwrap());
    let b_obs = first_observation(&server, &server.mint("catharine", &[]));
    let b_path = format!("Observation/{}", b_obs["id"].as_str().unwrap());

    // Before: the pediatrics nurse (Lucien and Catharine are in her department) and the
    // researcher see Lucien's record.
    let a_count = server.total(&lucien, "Observation?_summary=count", &[]);
    let b_count = server.total(
        &nurse,
        &format!("Observation?subject=Patient/{B}&_summary=count"),
        &[],
    );
    let all = server.total(&researcher, "Observation?_summary=count", &research);
    assert!(a_count > 0 && b_count > 0);
    assert_eq!(
        server.total(&nurse, "Observation?_summary=count", &[]),
        a_count + b_count
    );
    assert_eq!(server.read_as(&nurse, &own_path).status, 200);
    assert_eq!(
        server
            .call_with(&researcher, "GET", &own_path, &research, None)
            .status,
        200
    );

    // Lucien records his Consent (his portal token may create Consents in his compartment).
    let created = server.call(&lucien, "POST", "Consent", Some(&lucien_consent()));
    assert_eq!(created.status, 201, "{}", created.text());
    let consent_id = created.json()["id"].as_str().unwrap().to_owned();
    // Nobody records a Consent for another patient.
    let mut for_b = lucien_consent();
    for_b["patient"]["reference"] = json!(format!("Patient/{B}"));
    server
        .call(&lucien, "POST", "Consent", Some(&for_b))
        .assert_outcome(403, "forbidden", "forbidden");

    // After: the nurse gets the one 404 for Lucien's observation and still sees Catharine's;
    // her searches no longer count Lucien's data.
    let hidden = server.read_as(&nurse, &own_path);
    let missing = server.read_as(&nurse, "Observation/no-such-observation");
    assert_eq!((hidden.status, &hidden.body), (404, &missing.body));
    assert_eq!(hidden.headers, missing.headers);
    assert_eq!(server.read_as(&nurse, &b_path).status, 200);
    assert_eq!(
        server.total(&nurse, "Observation?_summary=count", &[]),
        b_count
    );
    let page = server.read_as(&nurse, "Observation?_count=200").json();
    assert!(
        !page.to_string().contains(A),
        "Lucien's data in a nurse's search"
    );
    // The researcher: the same, for research.
    let hidden = server.call_with(&researcher, "GET", &own_path, &research, None);
    assert_eq!((hidden.status, &hidden.body), (404, &missing.body));
    assert_eq!(
        server.total(&researcher, "Observation?_summary=count", &research),
        all - a_count
    );
    // Roles the Consent does not name keep their access: the doctor, and Lucien himself.
    assert_eq!(server.read_as(&doctor, &own_path).status, 200);
    assert_eq!(server.read_as(&lucien, &own_path).status, 200);
    assert_eq!(
        server.total(&lucien, "Observation?_summary=count", &[]),
        a_count
    );

    // The audit records say which Consent provision decided.
    let records = server.audit_records();
    let nurse_read = records
        .iter()
        .rfind(|r| r["user"]["id"] == "nurse-peds" && r["action"]["resource_id"] == own["id"])
        .unwrap();
    assert_eq!(nurse_read["outcome"]["status"], 404);
    assert_eq!(
        nurse_read["outcome"]["rules"],
        json!([
            "nurse-department-records",
            format!("Consent/{consent_id}#provision.provision[0]")
        ])
    );
    let researcher_search = records
        .iter()
        .rfind(|r| r["user"]["id"] == "researcher")
        .unwrap();
    assert_eq!(
        researcher_search["outcome"]["rules"],
        json!([
            "research-records-deidentified",
            format!("Consent/{consent_id}#provision.provision[1]")
        ])
    );

    // Revoking it (status inactive) gives the nurse her access back at once.
    let mut revoked = lucien_consent();
    revoked["id"] = json!(consent_id);
    revoked["status"] = json!("inactive");
    let updated = server.call(
        &lucien,
        "PUT",
        &format!("Consent/{consent_id}"),
        Some(&revoked),
    );
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(server.read_as(&nurse, &own_path).status, 200);
}

#[test]
fn types_outside_the_patient_compartment_are_readable_by_patients_only_when_allow_listed() {
    // Default: none. A patient's token reads no Practitioner or Organization.
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let doctor = server.mint("dr-grey", &[]);
    let practitioners = server.read_as(&doctor, "Practitioner?_count=1").json();
    let practitioner = entry_ids(&practitioners)[0].clone();
    let hidden = server.read_as(&a, &practitioner);
    let missing = server.read_as(&a, "Practitioner/no-such-practitioner");
    assert_eq!((hidden.status, &hidden.body), (404, &missing.body));
    assert_eq!(server.total(&a, "Practitioner?_summary=count", &[]), 0);
    let encounters = server
        .read_as(&a, "Encounter?_count=1&_include=Encounter:service-provider")
        .json();
    assert_eq!(
        entry_ids(&encounters)
            .iter()
            .filter(|id| id.starts_with("Organization/"))
            .count(),
        0
    );
    drop(server);

    // Allow-listed Practitioner and Organization (flag, as the environment and TOML do).
    let server = Server::with(&["--patient-readable-types", "Practitioner,Organization"]);
    let a = server.mint("lucien", &[]);
    let doctor = server.mint("dr-grey", &[]);
    let read = server.read_as(&a, &practitioner);
    assert_eq!(read.status, 200, "{}", read.text());
    for directory in ["Practitioner", "Organization"] {
        let query = format!("{directory}?_summary=count");
        let all = server.total(&doctor, &query, &[]);
        assert!(all > 0);
        assert_eq!(server.total(&a, &query, &[]), all);
    }
    let encounters = server
        .read_as(&a, "Encounter?_count=1&_include=Encounter:service-provider")
        .json();
    assert_eq!(
        entry_ids(&encounters)
            .iter()
            .filter(|id| id.starts_with("Organization/"))
            .count(),
        1,
        "{encounters:#}"
    );
    // Not listed: Location stays out. Listed but not granted by the token: 403.
    assert_eq!(server.total(&a, "Location?_summary=count", &[]), 0);
    let observation_only = server.mint("lucien", &["--scope", "patient/Observation.rs"]);
    server
        .read_as(&observation_only, &practitioner)
        .assert_outcome(403, "forbidden", "forbidden");
    // Writes are never allow-listed.
    let mut changed = read.json();
    changed["active"] = json!(false);
    server
        .call(&a, "PUT", &practitioner, Some(&changed))
        .assert_outcome(403, "forbidden", "forbidden");
    let records = server.audit_records();
    let record = records
        .iter()
        .find(|r| r["user"]["id"] == "lucien" && r["outcome"]["status"] == 200)
        .unwrap();
    assert_eq!(
        record["outcome"]["rules"],
        json!(["config:patient_readable_types"])
    );
}

#[test]
fn chained_search_and_has_range_only_over_what_the_caller_may_see() {
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let doctor = server.mint("dr-grey", &[]);
    let nurse = server.mint("nurse-cardio", &[]);
    let a_obs = first_observation(&server, &a)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_obs = first_observation(&server, &server.mint("catharine", &[]))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_count = server.total(&a, "Observation?_summary=count", &[]);
    let b_count = server.total(
        &doctor,
        &format!("Observation?subject=Patient/{B}&_summary=count"),
        &[],
    );

    // Chains: A's own name finds A's data; B's name finds exactly what a name nobody has
    // finds (the chain never reaches B), typed or not.
    for chain in ["subject:Patient.name", "subject.name", "patient.family"] {
        assert_eq!(
            server.total(&a, &format!("Observation?{chain}=Hahn&_summary=count"), &[]),
            a_count,
            "{chain}"
        );
        let morar = server.read_as(&a, &format!("Observation?{chain}=Morar"));
        let nobody = server.read_as(&a, &format!("Observation?{chain}=Nobody"));
        assert_eq!((morar.status, nobody.status), (200, 200));
        assert_eq!(morar.json()["total"], 0);
        assert_eq!(morar.json()["entry"], nobody.json()["entry"]);
        // The doctor, assigned Catharine, finds hers through the same chain.
        assert_eq!(
            server.total(
                &doctor,
                &format!("Observation?{chain}=Morar&_summary=count"),
                &[]
            ),
            b_count,
            "{chain}"
        );
    }
    // A chain naming B by id is a search of B: refused from the query alone.
    server
        .read_as(&a, &format!("Observation?subject:Patient._id={B}"))
        .assert_outcome(403, "forbidden", "forbidden");

    // `_has`: A's observation leads to A; B's observation leads nowhere for A, as a missing
    // one does; the doctor, who may see B's, is led to B.
    let has = |token: &str, observation: &str| {
        server.search_as(
            token,
            &format!("Patient?_has:Observation:patient:_id={observation}"),
        )
    };
    assert_eq!(has(&a, &a_obs), [format!("Patient/{A}")]);
    assert_eq!(has(&a, &b_obs), Vec::<String>::new());
    assert_eq!(has(&a, "no-such-observation"), Vec::<String>::new());
    assert_eq!(has(&doctor, &b_obs), [format!("Patient/{B}")]);
    // The cardiology nurse (Darrell, Valentine) is led to neither A nor B.
    assert_eq!(has(&nurse, &a_obs), Vec::<String>::new());
    assert_eq!(has(&nurse, &b_obs), Vec::<String>::new());
    // `_has` naming B explicitly in the inner search: 403, decided from the query.
    server
        .read_as(
            &a,
            &format!("Patient?_has:Observation:patient:subject=Patient/{B}"),
        )
        .assert_outcome(403, "forbidden", "forbidden");
    // An inner search the caller's scopes do not allow at all: 403.
    let observations_only = server.mint("lucien", &["--scope", "patient/Patient.rs"]);
    server
        .read_as(
            &observations_only,
            &format!("Patient?_has:Observation:patient:_id={a_obs}"),
        )
        .assert_outcome(403, "forbidden", "forbidden");

    // Each inner search's decision is in the request's one audit record (the Patient search,
    // then the Observation search behind `_has`).
    let records = server.audit_records();
    let last_doctor = records
        .iter()
        .rfind(|r| r["user"]["id"] == "dr-grey")
        .unwrap();
    assert_eq!(
        last_doctor["outcome"]["rules"],
        json!(["doctor-reads-assigned", "doctor-reads-assigned"])
    );
}

#[test]
fn write_only_updates_answer_no_body_and_update_as_create_reveals_nothing() {
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let updater = server.mint("lucien", &["--scope", "patient/Observation.u"]);
    let own = first_observation(&server, &a);
    let id = own["id"].as_str().unwrap().to_owned();
    let path = format!("Observation/{id}");
    let mut changed = own.clone();
    changed["status"] = json!("amended");

    // A write-only token updates what it may write, and gets no body back, whatever it
    // prefers: the status, `ETag` and `Location` only.
    for prefer in ["return=representation", "return=minimal"] {
        let updated = server.call_with(
            &updater,
            "PUT",
            &path,
            &[("Prefer", prefer)],
            Some(&changed),
        );
        assert_eq!(updated.status, 200, "{prefer}: {}", updated.text());
        assert!(updated.body.is_empty(), "{prefer}: {}", updated.text());
        assert!(updated.header("etag").is_some());
    }
    assert_eq!(server.read_as(&a, &path).json()["status"], "amended");
    assert_eq!(server.read_as(&a, &path).json()["meta"]["versionId"], "3");
    server
        .read_as(&updater, &path)
        .assert_outcome(403, "forbidden", "forbidden");
    // It cannot move the resource out of A's compartment either.
    let mut moved = changed.clone();
    moved["subject"]["reference"] = json!(format!("Patient/{B}"));
    server
        .call(&updater, "PUT", &path, Some(&moved))
        .assert_outcome(403, "forbidden", "forbidden");
    // PATCH reads before it writes (a JSON Patch `test` would be a read): a write-only
    // token gets the one 404.
    let patched = server.send(
        "PATCH",
        &path,
        &[
            ("Authorization", &format!("Bearer {updater}")),
            ("Content-Type", "application/json-patch+json"),
        ],
        br#"[{"op": "test", "path": "/status", "value": "amended"}]"#,
    );
    let missing = server.read_as(&a, "Observation/no-such-observation");
    assert_eq!((patched.status, &patched.body), (404, &missing.body));
    // A reader with `Prefer: return=minimal` gets no body; by default, the resource.
    let minimal = server.call_with(
        &a,
        "PUT",
        &path,
        &[("Prefer", "return=minimal")],
        Some(&changed),
    );
    assert_eq!((minimal.status, minimal.body.is_empty()), (200, true));
    let full = server.call(&a, "PUT", &path, Some(&changed));
    assert_eq!(full.json()["id"], id.as_str());

    // Update as create: open to a caller whose access does not depend on content (the
    // admin's billing role), refused alike for free and hidden ids to restricted callers.
    let admin = server.mint("admin", &[]);
    let claim = json!({"resourceType": "Claim", "id": "claim-by-put", "status": "active",
        "use": "claim", "patient": {"reference": format!("Patient/{A}")}});
    let created = server.call(&admin, "PUT", "Claim/claim-by-put", Some(&claim));
    assert_eq!(created.status, 201, "{}", created.text());
    let doctor = server.mint("dr-grey", &[]);
    let fresh = json!({"resourceType": "Observation", "id": "by-put", "status": "final",
        "code": {"coding": [{"code": "x"}]}, "subject": {"reference": format!("Patient/{A}")}});
    server
        .call(&doctor, "PUT", "Observation/by-put", Some(&fresh))
        .assert_outcome(
            405,
            "not-supported",
            "update as create is not offered to callers with restricted access: create with POST",
        );
}

/// The `next` link of a searchset, made relative to the FHIR base.
fn next_link(server: &Server, bundle: &Value) -> Option<String> {
    bundle["link"].as_array()?.iter().find_map(|l| {
        (l["relation"] == "next").then(|| {
            l["url"]
                .as_str()
                .unwrap()
                .strip_prefix(&format!("{}/", server.base))
                .unwrap()
                .to_owned()
        })
    })
}

#[test]
fn paging_links_are_re_decided_for_whoever_follows_them() {
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let b = server.mint("catharine", &[]);
    let doctor = server.mint("dr-grey", &[]);

    // A's second page, followed by B: B's own second page, nothing of A's.
    let first = server
        .read_as(&a, "Observation?_count=5&_sort=-date")
        .json();
    let next = next_link(&server, &first).unwrap();
    assert!(!next.contains(A), "{next}");
    let a_page = server.read_as(&a, &next).json();
    let b_page = server.read_as(&b, &next).json();
    assert_eq!(entry_ids(&a_page).len(), 5);
    assert!(!mentions_b(&a_page));
    assert!(!b_page.to_string().contains(A), "A's data on B's page");
    let b_own = server
        .read_as(&b, "Observation?_count=5&_sort=-date&_offset=5")
        .json();
    assert_eq!(entry_ids(&b_page), entry_ids(&b_own));
    assert_eq!(b_page["total"], b_own["total"]);

    // The doctor's link naming Catharine, followed by Lucien: refused from the query alone.
    let doctors = server
        .read_as(
            &doctor,
            &format!("Observation?subject=Patient/{B}&_count=5"),
        )
        .json();
    let next = next_link(&server, &doctors).unwrap();
    server
        .read_as(&a, &next)
        .assert_outcome(403, "forbidden", "forbidden");
    // Followed without a token: 401.
    server
        .get(&next)
        .assert_outcome(401, "login", "authentication required");
}

#[test]
fn conditional_create_matches_only_what_the_caller_may_see() {
    let server = Server::secured();
    let a = server.mint("lucien", &[]);
    let b = server.mint("catharine", &[]);
    let observation = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "urn:test", "code": "conditional"}]},
        "subject": {"reference": format!("Patient/{A}")}});
    let conditional = |token: &str, condition: &str| {
        server.call_with(
            token,
            "POST",
            "Observation",
            &[("If-None-Exist", condition)],
            Some(&observation),
        )
    };
    // A condition naming B: 403 from the condition alone.
    conditional(
        &a,
        &format!("subject=Patient/{B}&code=urn:test|conditional"),
    )
    .assert_outcome(403, "forbidden", "forbidden");
    conditional(&a, &format!("patient={B}")).assert_outcome(403, "forbidden", "forbidden");
    // First time: created; second time: the existing one answers (200), not a copy.
    let created = conditional(&a, "code=urn:test|conditional");
    assert_eq!(created.status, 201, "{}", created.text());
    let again = conditional(&a, "code=urn:test|conditional");
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["id"], created.json()["id"]);
    // B's identical condition never matches A's resource: B creates B's own.
    let mut bs = observation.clone();
    bs["subject"]["reference"] = json!(format!("Patient/{B}"));
    let b_created = server.call_with(
        &b,
        "POST",
        "Observation",
        &[("If-None-Exist", "code=urn:test|conditional")],
        Some(&bs),
    );
    assert_eq!(b_created.status, 201, "{}", b_created.text());
    assert_ne!(b_created.json()["id"], created.json()["id"]);
    assert!(!b_created.text().contains(A));
    // A chain in the condition goes through the same seam: B's name matches nothing of A's.
    let chained = conditional(&a, "subject:Patient.name=Morar&code=urn:test|conditional");
    assert_eq!(chained.status, 201, "{}", chained.text());
    assert!(!mentions_b(&chained.json()));
}

#[test]
fn the_backend_services_demo_client_reads_the_population_and_writes_nothing() {
    let server = Server::secured();
    let analytics = server.mint("analytics", &[]);
    let admin = server.mint("admin", &[]);
    assert_eq!(server.total(&analytics, "Patient?_summary=count", &[]), 4);
    let doctor_view = server.total(
        &server.mint("dr-grey", &[]),
        "Observation?_summary=count",
        &[],
    );
    let everyone = server.total(&analytics, "Observation?_summary=count", &[]);
    assert!(everyone > doctor_view, "{everyone} <= {doctor_view}");
    assert_eq!(
        server
            .read_as(&analytics, &format!("Patient/{DARRELL}"))
            .status,
        200
    );
    // Outside its scopes and role: 403; writes: 403.
    for path in ["Practitioner", "Claim", "AuditEvent", "MedicationRequest"] {
        server
            .read_as(&analytics, path)
            .assert_outcome(403, "forbidden", "forbidden");
    }
    let patient = server.read_as(&analytics, &format!("Patient/{A}")).json();
    server
        .call(&analytics, "PUT", &format!("Patient/{A}"), Some(&patient))
        .assert_outcome(403, "forbidden", "forbidden");
    let records = server.audit_records();
    let last = records.last().unwrap();
    assert_eq!(last["user"]["id"], "analytics-etl");
    assert_eq!(last["client"]["id"], "analytics-etl");
    let read = records
        .iter()
        .find(|r| r["action"]["resource_id"] == DARRELL)
        .unwrap();
    assert_eq!(read["outcome"]["rules"], json!(["role:analytics-service"]));
    // The admin's view of patients is unchanged by the client's presence.
    assert_eq!(server.total(&admin, "Patient?_summary=count", &[]), 4);
}

#[test]
fn break_glass_reads_across_assignment_and_consent_and_is_flagged_in_the_record() {
    let server = Server::secured();
    let doctor = server.mint("dr-grey", &[]);
    let nurse = server.mint("nurse-peds", &[]);
    let lucien = server.mint("lucien", &[]);
    let researcher = server.mint("researcher", &[]);
    let glass = [("X-Break-Glass", "unconscious patient in the ER")];
    let darrell = server
        .read_as(&server.mint("darrell", &[]), "Observation?_count=1")
        .json();
    let darrell_obs = format!(
        "Observation/{}",
        darrell["entry"][0]["resource"]["id"].as_str().unwrap()
    );

    // Darrell is not assigned to Dr Grey: the one 404, then 200 with the header.
    assert_eq!(server.read_as(&doctor, &darrell_obs).status, 404);
    assert_eq!(
        server
            .read_as(&doctor, &format!("Patient/{DARRELL}"))
            .status,
        404
    );
    let urgent = server.call_with(&doctor, "GET", &darrell_obs, &glass, None);
    assert_eq!(urgent.status, 200, "{}", urgent.text());
    let urgent_patient =
        server.call_with(&doctor, "GET", &format!("Patient/{DARRELL}"), &glass, None);
    assert_eq!(urgent_patient.status, 200);
    // A blank reason is no emergency.
    assert_eq!(
        server
            .call_with(
                &doctor,
                "GET",
                &darrell_obs,
                &[("X-Break-Glass", " ")],
                None
            )
            .status,
        404
    );
    // Break-glass reads, never writes.
    let mut changed = urgent.json();
    changed["status"] = json!("amended");
    server
        .call_with(&doctor, "PUT", &darrell_obs, &glass, Some(&changed))
        .assert_outcome(403, "forbidden", "forbidden");
    // Not a clinician: the header grants nothing.
    let research = [("X-Break-Glass", "curious"), ("X-Purpose-Of-Use", "HRESCH")];
    let lucien_obs = format!(
        "Observation/{}",
        first_observation(&server, &lucien)["id"].as_str().unwrap()
    );
    assert_eq!(
        server
            .call_with(&researcher, "GET", &lucien_obs, &research, None)
            .status,
        200
    );

    // Lucien's Consent denies nurses; in an emergency the nurse still reads his record.
    let created = server.call(&lucien, "POST", "Consent", Some(&lucien_consent()));
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(server.read_as(&nurse, &lucien_obs).status, 404);
    assert_eq!(
        server
            .call_with(&nurse, "GET", &lucien_obs, &glass, None)
            .status,
        200
    );
    // ... the researcher, not a clinician, does not.
    assert_eq!(
        server
            .call_with(&researcher, "GET", &lucien_obs, &research, None)
            .status,
        404
    );

    // The records: the reason, and the break-glass rule that decided.
    let records = server.audit_records();
    let flagged: Vec<&Value> = records
        .iter()
        .filter(|r| r["outcome"]["status"] == 200 && r.get("break_glass").is_some())
        .filter(|r| r["user"]["id"] != "researcher")
        .collect();
    assert_eq!(flagged.len(), 3, "{flagged:#?}");
    for record in &flagged {
        assert_eq!(
            record["break_glass"]["reason"],
            "unconscious patient in the ER"
        );
        let rules = record["outcome"]["rules"].as_array().unwrap();
        assert!(
            rules.contains(&json!("break-glass-clinicians"))
                && rules.contains(&json!("break-glass")),
            "{rules:?}"
        );
    }
    assert_eq!(flagged[2]["user"]["id"], "nurse-peds");
}
