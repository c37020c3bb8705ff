//! `fhir-access serve` over real HTTP: each test starts the binary on an ephemeral port with
//! a temporary data directory and talks to it with a plain HTTP/1.1 client.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{Server, entry_ids};
use serde_json::{Value, json};

fn patient(id: &str, family: &str, given: &str, birth: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "active": true, "gender": "female", "birthDate": birth,
           "name": [{"family": family, "given": [given]}],
           "identifier": [{"system": "urn:mrn", "value": format!("mrn-{id}")}],
           "managingOrganization": {"reference": "Organization/org1"}})
}

fn observation(id: &str, subject: &str, code: &str, when: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": format!("code {code}")},
           "subject": {"reference": format!("Patient/{subject}")},
           "encounter": {"reference": format!("Encounter/e-{subject}")},
           "effectiveDateTime": when})
}

/// Two patients, A and B, with observations, encounters and an organization.
fn populated() -> Server {
    let server = Server::start();
    server.put(json!({"resourceType": "Organization", "id": "org1", "name": "General Hospital"}));
    server.put(patient("a", "Hahn", "Lucien", "2010-05-01"));
    server.put(patient("b", "Nolan", "Valentine", "1980-12-24"));
    for p in ["a", "b"] {
        server.put(
            json!({"resourceType": "Encounter", "id": format!("e-{p}"), "status": "finished",
            "class": {"code": "AMB"}, "subject": {"reference": format!("Patient/{p}")},
            "serviceProvider": {"reference": "Organization/org1"}}),
        );
    }
    server.put(observation("a1", "a", "8867-4", "2021-03-26T13:31:19Z"));
    server.put(observation("a2", "a", "8310-5", "2022-01-15"));
    server.put(observation(
        "a3",
        "a",
        "8867-4",
        "2023-07-04T08:00:00+02:00",
    ));
    server.put(observation("b1", "b", "8867-4", "2021-03-27"));
    server
}

// --- CRUD, versioning, ETag ---------------------------------------------------------------

#[test]
fn create_read_update_delete_with_versions_and_etags() {
    let server = Server::start();
    let created = server.json(
        "POST",
        "Patient",
        &json!({"resourceType": "Patient", "id": "ignored", "gender": "male"}),
    );
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_ne!(id, "ignored");
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    assert_eq!(
        created.header("location"),
        Some(format!("{}/Patient/{id}/_history/1", server.base).as_str())
    );
    assert_eq!(created.json()["meta"]["versionId"], "1");

    let read = server.get(&format!("Patient/{id}"));
    assert_eq!(read.status, 200);
    assert_eq!(read.header("etag"), Some("W/\"1\""));
    assert!(read.header("last-modified").unwrap().ends_with(" GMT"));
    assert_eq!(read.json()["gender"], "male");

    let update = json!({"resourceType": "Patient", "id": id, "gender": "female"});
    let stale = server.send(
        "PUT",
        &format!("Patient/{id}"),
        &[
            ("If-Match", "W/\"7\""),
            ("Content-Type", "application/fhir+json"),
        ],
        update.to_string().as_bytes(),
    );
    stale.assert_outcome(
        412,
        "conflict",
        "version conflict: the resource is at version 1",
    );
    let updated = server.send(
        "PUT",
        &format!("Patient/{id}"),
        &[("If-Match", "W/\"1\"")],
        update.to_string().as_bytes(),
    );
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.header("etag"), Some("W/\"2\""));
    assert_eq!(updated.json()["meta"]["versionId"], "2");

    assert_eq!(
        server.get(&format!("Patient/{id}/_history/1")).json()["gender"],
        "male"
    );
    assert_eq!(
        server.get(&format!("Patient/{id}/_history/2")).json()["gender"],
        "female"
    );
    server
        .get(&format!("Patient/{id}/_history/3"))
        .assert_outcome(404, "not-found", "resource not found");

    let deleted = server.send("DELETE", &format!("Patient/{id}"), &[], b"");
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    let gone = server.get(&format!("Patient/{id}"));
    let missing = server.get("Patient/never-was");
    gone.assert_outcome(404, "not-found", "resource not found");
    assert_eq!(gone.body, missing.body);
    assert_eq!(
        server.send("DELETE", "Patient/never-was", &[], b"").status,
        204
    );

    let history = server.get(&format!("Patient/{id}/_history")).json();
    assert_eq!(history["type"], "history");
    assert_eq!(history["total"], 3);
    let methods: Vec<&str> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["DELETE", "PUT", "POST"]);
    assert_eq!(history["entry"][0]["response"]["etag"], "W/\"3\"");
    assert!(history["entry"][0].get("resource").is_none());
}

#[test]
fn prefer_return_minimal_drops_the_body_of_writes() {
    let server = Server::start();
    let body = json!({"resourceType": "Basic", "code": {"text": "t"}}).to_string();
    let created = server.send(
        "POST",
        "Basic",
        &[("Prefer", "return=minimal")],
        body.as_bytes(),
    );
    assert_eq!(created.status, 201);
    assert!(created.body.is_empty());
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    assert!(created.header("location").is_some());
    let full = server.send(
        "POST",
        "Basic",
        &[("Prefer", "return=representation")],
        body.as_bytes(),
    );
    assert_eq!(full.json()["code"]["text"], "t");
    let failed = server.send("POST", "Basic", &[("Prefer", "return=minimal")], b"{");
    assert_eq!(failed.status, 400);
    assert_eq!(failed.json()["resourceType"], "OperationOutcome");
}

#[test]
fn update_as_create_is_configurable() {
    let server = Server::start();
    let created = server.json(
        "PUT",
        "Patient/chosen-id",
        &json!({"resourceType": "Patient", "id": "chosen-id"}),
    );
    assert_eq!(created.status, 201);
    assert_eq!(
        created.header("location"),
        Some(format!("{}/Patient/chosen-id/_history/1", server.base).as_str())
    );
    let strict = Server::with(&[
        "--authorization",
        "allow-all",
        "--seed",
        "false",
        "--update-create",
        "false",
    ]);
    strict
        .json(
            "PUT",
            "Patient/chosen-id",
            &json!({"resourceType": "Patient", "id": "chosen-id"}),
        )
        .assert_outcome(
            405,
            "not-supported",
            "update as create is switched off: create with POST",
        );
}

#[test]
fn conditional_create_with_if_none_exist() {
    let server = populated();
    let body = json!({"resourceType": "Patient", "name": [{"family": "New"}],
                      "identifier": [{"system": "urn:mrn", "value": "mrn-new"}]})
    .to_string();
    let create = |condition: &str| {
        server.send(
            "POST",
            "Patient",
            &[
                ("Content-Type", "application/fhir+json"),
                ("If-None-Exist", condition),
            ],
            body.as_bytes(),
        )
    };
    let existing = create("identifier=urn:mrn|mrn-a");
    assert_eq!(existing.status, 200, "{}", existing.text());
    assert_eq!(existing.json()["id"], "a");
    assert_eq!(existing.header("etag"), Some("W/\"1\""));
    let created = create("Patient?identifier=urn:mrn|mrn-new");
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let again = create("identifier=urn:mrn|mrn-new");
    assert_eq!(
        (again.status, again.json()["id"].as_str().unwrap()),
        (200, id.as_str())
    );
    create("gender=female").assert_outcome(
        412,
        "multiple-matches",
        "`If-None-Exist` matched more than one resource",
    );
    create("_count=1").assert_outcome(
        400,
        "invalid",
        "`If-None-Exist` needs at least one search parameter",
    );
    create("nope=1").assert_outcome(
        400,
        "invalid",
        "unknown search parameter `nope` for `Patient`",
    );
    // In a batch, through `entry.request.ifNoneExist`; a transaction refuses it.
    let entry = json!({"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:mrn|mrn-b"}});
    let batch = server
        .json(
            "POST",
            "",
            &json!({"resourceType": "Bundle", "type": "batch", "entry": [entry]}),
        )
        .json();
    assert_eq!(batch["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(batch["entry"][0]["resource"]["id"], "b");
    server
        .json("POST", "", &json!({"resourceType": "Bundle", "type": "transaction", "entry": [entry]}))
        .assert_outcome(400, "not-supported", "entry 0: conditional create (`ifNoneExist`) is not supported in a transaction: use a batch");
    assert_eq!(server.get("Patient?_summary=count").json()["total"], 3);
}

#[test]
fn json_patch_creates_a_version_and_checks_if_match() {
    let server = populated();
    let patch = json!([{"op": "replace", "path": "/status", "value": "amended"}, {"op": "add", "path": "/issued", "value": "2024-01-01T00:00:00Z"}]);
    let patched = server.send(
        "PATCH",
        "Observation/a1",
        &[
            ("Content-Type", "application/json-patch+json"),
            ("If-Match", "W/\"1\""),
        ],
        patch.to_string().as_bytes(),
    );
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.header("etag"), Some("W/\"2\""));
    assert_eq!(patched.json()["status"], "amended");
    assert_eq!(
        server.search("Observation?status=amended"),
        ["Observation/a1"]
    );
    let again = server.send(
        "PATCH",
        "Observation/a1",
        &[("If-Match", "W/\"1\"")],
        patch.to_string().as_bytes(),
    );
    again.assert_outcome(
        412,
        "conflict",
        "version conflict: the resource is at version 2",
    );
    let bad = json!([{"op": "remove", "path": "/nothing/here"}]);
    let failed = server.send("PATCH", "Observation/a1", &[], bad.to_string().as_bytes());
    assert_eq!(failed.status, 400);
    let moving = json!([{"op": "replace", "path": "/id", "value": "other"}]);
    server
        .send(
            "PATCH",
            "Observation/a1",
            &[],
            moving.to_string().as_bytes(),
        )
        .assert_outcome(
            400,
            "invalid",
            "a patch may not change `resourceType` or `id`",
        );
    server
        .send(
            "PATCH",
            "Observation/zzz",
            &[],
            patch.to_string().as_bytes(),
        )
        .assert_outcome(404, "not-found", "resource not found");
}

// --- search -------------------------------------------------------------------------------

#[test]
fn token_search_and_modifiers() {
    let server = populated();
    assert_eq!(
        server.search("Observation?code=8867-4&_sort=date"),
        ["Observation/a1", "Observation/b1", "Observation/a3"]
    );
    assert_eq!(
        server.search("Observation?code=http://loinc.org|8310-5"),
        ["Observation/a2"]
    );
    assert_eq!(
        server.search("Observation?code=http://other|8310-5"),
        Vec::<String>::new()
    );
    assert_eq!(
        server.search("Observation?code=|8310-5"),
        Vec::<String>::new()
    );
    assert_eq!(
        server.search("Observation?code=http://loinc.org|"),
        [
            "Observation/a1",
            "Observation/a2",
            "Observation/a3",
            "Observation/b1"
        ]
    );
    assert_eq!(
        server.search("Observation?code:not=8867-4"),
        ["Observation/a2"]
    );
    assert_eq!(
        server.search("Observation?code=8310-5,8867-4&subject=Patient/b"),
        ["Observation/b1"]
    );
    assert_eq!(
        server.search("Patient?identifier=urn:mrn|mrn-a"),
        ["Patient/a"]
    );
    assert_eq!(
        server.search("Patient?gender=female&active=true"),
        ["Patient/a", "Patient/b"]
    );
    assert_eq!(
        server.search("Observation?_id=a2,b1"),
        ["Observation/a2", "Observation/b1"]
    );
    assert_eq!(
        server.search("Patient?death-date:missing=true"),
        ["Patient/a", "Patient/b"]
    );
    assert_eq!(
        server.search("Patient?death-date:missing=false"),
        Vec::<String>::new()
    );
    assert_eq!(
        server.search("Observation?value-string:missing=true&code=8310-5"),
        ["Observation/a2"]
    );
}

#[test]
fn string_search_and_modifiers() {
    let server = populated();
    assert_eq!(server.search("Patient?family=hah"), ["Patient/a"]);
    assert_eq!(server.search("Patient?name=VALEN"), ["Patient/b"]);
    assert_eq!(server.search("Patient?family:exact=Hahn"), ["Patient/a"]);
    assert_eq!(
        server.search("Patient?family:exact=hahn"),
        Vec::<String>::new()
    );
    assert_eq!(server.search("Patient?family:contains=ola"), ["Patient/b"]);
    assert_eq!(server.search("Patient?family=ola"), Vec::<String>::new());
    assert_eq!(
        server.search("Organization?name=general%20hosp"),
        ["Organization/org1"]
    );
}

#[test]
fn reference_search_forms() {
    let server = populated();
    let a = ["Observation/a1", "Observation/a2", "Observation/a3"];
    assert_eq!(server.search("Observation?subject=Patient/a"), a);
    assert_eq!(server.search("Observation?subject=a"), a);
    assert_eq!(server.search("Observation?subject:Patient=a"), a);
    assert_eq!(server.search("Observation?patient=a"), a);
    assert_eq!(
        server.search(&format!("Observation?subject={}/Patient/a", server.base)),
        a
    );
    assert_eq!(
        server.search("Observation?subject:Group=a"),
        Vec::<String>::new()
    );
    assert_eq!(
        server.search("Encounter?service-provider=Organization/org1"),
        ["Encounter/e-a", "Encounter/e-b"]
    );
}

#[test]
fn date_search_prefixes() {
    let server = populated();
    let cases: [(&str, &[&str]); 13] = [
        ("date=2021", &["a1", "b1"]),
        ("date=2021-03-26", &["a1"]),
        ("date=eq2022-01", &["a2"]),
        ("date=ne2021", &["a2", "a3"]),
        ("date=gt2022-01-15", &["a3"]),
        ("date=ge2022-01-15", &["a2", "a3"]),
        ("date=lt2021-03-27", &["a1"]),
        ("date=le2021-03-27", &["a1", "b1"]),
        ("date=sa2022", &["a3"]),
        ("date=eb2021-12-31", &["a1", "b1"]),
        ("date=ap2023-07-04", &["a3"]),
        // 08:00+02:00 is 06:00Z.
        ("date=2023-07-04T06:00:00Z", &["a3"]),
        (
            "date=ge2021-03-26T13:31:00Z&date=lt2021-03-26T13:32:00Z",
            &["a1"],
        ),
    ];
    for (query, expected) in cases {
        let expected: Vec<String> = expected
            .iter()
            .map(|id| format!("Observation/{id}"))
            .collect();
        assert_eq!(
            server.search(&format!("Observation?{query}")),
            expected,
            "{query}"
        );
    }
    assert_eq!(server.search("Patient?birthdate=lt2000"), ["Patient/b"]);
    assert_eq!(
        server.search("Patient?_lastUpdated=gt2000-01-01"),
        ["Patient/a", "Patient/b"]
    );
    assert_eq!(
        server.search("Patient?_lastUpdated=lt2000-01-01"),
        Vec::<String>::new()
    );
}

#[test]
fn number_and_uri_search() {
    let server = Server::start();
    for (id, p) in [("r1", 0.25), ("r2", 0.5), ("r3", 0.75)] {
        server.put(
            json!({"resourceType": "RiskAssessment", "id": id, "status": "final",
            "subject": {"reference": "Patient/a"}, "prediction": [{"probabilityDecimal": p}]}),
        );
    }
    assert_eq!(
        server.search("RiskAssessment?probability=0.5"),
        ["RiskAssessment/r2"]
    );
    assert_eq!(
        server.search("RiskAssessment?probability=gt0.3"),
        ["RiskAssessment/r2", "RiskAssessment/r3"]
    );
    assert_eq!(
        server.search("RiskAssessment?probability=le0.5"),
        ["RiskAssessment/r1", "RiskAssessment/r2"]
    );
    assert_eq!(
        server.search("RiskAssessment?probability=ne0.5"),
        ["RiskAssessment/r1", "RiskAssessment/r3"]
    );
    assert_eq!(
        server.search("RiskAssessment?probability=ap0.26"),
        ["RiskAssessment/r1"]
    );
    server.put(json!({"resourceType": "ValueSet", "id": "v1", "status": "active", "url": "http://example.org/vs/one"}));
    server.put(json!({"resourceType": "ValueSet", "id": "v2", "status": "active", "url": "http://example.org/vs/two"}));
    assert_eq!(
        server.search("ValueSet?url=http://example.org/vs/two"),
        ["ValueSet/v2"]
    );
    assert_eq!(
        server.search("ValueSet?url=http://example.org/vs"),
        Vec::<String>::new()
    );
}

#[test]
fn post_search_equals_get_search() {
    let server = populated();
    let posted = server.send(
        "POST",
        "Observation/_search",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"code=8867-4&subject=Patient%2Fa",
    );
    assert_eq!(
        entry_ids(&posted.json()),
        ["Observation/a1", "Observation/a3"]
    );
    assert_eq!(
        server.search("Observation?code=8867-4&subject=Patient/a"),
        ["Observation/a1", "Observation/a3"]
    );
}

#[test]
fn sort_count_paging_summary_elements() {
    let server = populated();
    assert_eq!(
        server.search("Observation?_sort=-date"),
        [
            "Observation/a3",
            "Observation/a2",
            "Observation/b1",
            "Observation/a1"
        ]
    );
    let first = server.get("Observation?_sort=date&_count=3").json();
    assert_eq!(first["total"], 4);
    assert_eq!(
        entry_ids(&first),
        ["Observation/a1", "Observation/b1", "Observation/a2"]
    );
    let next = first["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = server
        .get(next.strip_prefix(&format!("{}/", server.base)).unwrap())
        .json();
    assert_eq!(entry_ids(&second), ["Observation/a3"]);
    assert!(
        second["link"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["relation"] != "next")
    );
    assert!(
        second["link"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["relation"] == "previous")
    );
    assert_eq!(
        server.get("Observation?_summary=count").json(),
        json!({"resourceType": "Bundle", "type": "searchset", "total": 4})
    );
    // `_count` above the bound is lowered to it.
    let bounded = Server::with(&[
        "--authorization",
        "allow-all",
        "--seed",
        "false",
        "--max-count",
        "2",
        "--default-count",
        "1",
    ]);
    for id in ["x", "y", "z"] {
        bounded.put(json!({"resourceType": "Basic", "id": id, "code": {"text": "t"}}));
    }
    assert_eq!(bounded.search("Basic?_count=1000").len(), 2);
    assert_eq!(bounded.search("Basic").len(), 1);
    let subset = server.get("Patient?_id=a&_elements=gender").json();
    let resource = &subset["entry"][0]["resource"];
    assert_eq!(resource["gender"], "female");
    assert!(resource.get("name").is_none());
    assert_eq!(resource["meta"]["tag"][0]["code"], "SUBSETTED");
}

#[test]
fn includes_and_revincludes_with_iterate() {
    let server = populated();
    assert_eq!(
        server.search("Observation?code=8310-5&_include=Observation:subject"),
        ["Observation/a2", "Patient/a"]
    );
    assert_eq!(
        server.search("Observation?code=8310-5&_include=Observation:subject&_include:iterate=Patient:organization"),
        ["Observation/a2", "Patient/a", "Organization/org1"]
    );
    assert_eq!(
        server.search("Observation?code=8310-5&_include=Observation:subject:Group"),
        ["Observation/a2"]
    );
    assert_eq!(
        server.search("Patient?_id=b&_revinclude=Observation:subject"),
        ["Patient/b", "Observation/b1"]
    );
    assert_eq!(
        server.search(
            "Organization?_revinclude=Patient:organization&_revinclude:iterate=Encounter:patient"
        ),
        [
            "Organization/org1",
            "Patient/a",
            "Patient/b",
            "Encounter/e-a",
            "Encounter/e-b"
        ]
    );
    let modes: Vec<Value> = server
        .get("Patient?_id=b&_revinclude=Observation:subject")
        .json()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["search"]["mode"].clone())
        .collect();
    assert_eq!(modes, [json!("match"), json!("include")]);
    // The fan-out bound stops includes and says so.
    let bounded = Server::with(&[
        "--authorization",
        "allow-all",
        "--seed",
        "false",
        "--max-include",
        "1",
    ]);
    bounded.put(patient("a", "Hahn", "Lucien", "2010-05-01"));
    bounded.put(observation("a1", "a", "1", "2020"));
    bounded.put(observation("a2", "a", "2", "2021"));
    let bundle = bounded
        .get("Patient?_revinclude=Observation:subject")
        .json();
    assert_eq!(entry_ids(&bundle), ["Patient/a", "Observation/a1"]);
    let last = bundle["entry"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["search"]["mode"], "outcome");
    assert_eq!(
        last["resource"]["issue"][0]["diagnostics"],
        "`_include`/`_revinclude` stopped at 1 resources"
    );
}

#[test]
fn compartment_search_and_everything() {
    let server = populated();
    assert_eq!(
        server.search("Patient/a/Observation"),
        ["Observation/a1", "Observation/a2", "Observation/a3"]
    );
    assert_eq!(
        server.search("Patient/a/Observation?code=8867-4"),
        ["Observation/a1", "Observation/a3"]
    );
    assert_eq!(server.search("Patient/b/Encounter"), ["Encounter/e-b"]);
    assert_eq!(server.search("Patient/a/Patient"), ["Patient/a"]);
    assert_eq!(
        server.search("Encounter/e-a/Observation"),
        ["Observation/a1", "Observation/a2", "Observation/a3"]
    );
    server
        .get("Patient/a/Organization")
        .assert_outcome(400, "invalid", "compartment search `Patient/a/Organization`: `Organization` is not in the `Patient` compartment");
    let everything = server.get("Patient/a/$everything").json();
    assert_eq!(
        entry_ids(&everything),
        [
            "Patient/a",
            "Encounter/e-a",
            "Observation/a1",
            "Observation/a2",
            "Observation/a3",
            "Organization/org1"
        ]
    );
    assert_eq!(everything["total"], 6);
    server
        .get("Patient/nobody/$everything")
        .assert_outcome(404, "not-found", "resource not found");
}

#[test]
fn type_history_pages_newest_first() {
    let server = populated();
    server.put(json!({"resourceType": "Observation", "id": "a1", "status": "amended", "code": {"text": "x"}}));
    let history = server.get("Observation/_history?_count=2").json();
    assert_eq!(history["total"], 5);
    let first: Vec<(String, String)> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resource"]["id"].as_str().unwrap().to_owned(),
                e["resource"]["meta"]["versionId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        first,
        [
            ("a1".to_owned(), "2".to_owned()),
            ("b1".to_owned(), "1".to_owned())
        ]
    );
    assert!(
        history["link"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["relation"] == "next")
    );
}

// --- batch and transaction ----------------------------------------------------------------

#[test]
fn batch_entries_succeed_and_fail_independently() {
    let server = populated();
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/a"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"request": {"method": "GET", "url": "Observation?code=8310-5"}},
        {"resource": {"resourceType": "Basic", "code": {"text": "new"}}, "request": {"method": "POST", "url": "Basic"}},
        {"request": {"method": "GET", "url": "Nope/1"}},
        {"request": {"method": "DELETE", "url": "Observation/b1"}}
    ]});
    let response = server.json("POST", "", &batch);
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["type"], "batch-response");
    let statuses: Vec<&str> = body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "200 OK",
            "404 Not Found",
            "200 OK",
            "201 Created",
            "404 Not Found",
            "204 No Content"
        ]
    );
    assert_eq!(body["entry"][0]["resource"]["id"], "a");
    assert_eq!(
        body["entry"][1]["response"]["outcome"]["issue"][0]["diagnostics"],
        "resource not found"
    );
    assert_eq!(entry_ids(&body["entry"][2]["resource"]), ["Observation/a2"]);
    assert!(
        body["entry"][3]["response"]["location"]
            .as_str()
            .unwrap()
            .starts_with("Basic/")
    );
    server
        .get("Observation/b1")
        .assert_outcome(404, "not-found", "resource not found");
}

#[test]
fn patch_entries_carry_json_patch_in_a_binary() {
    let server = populated();
    // `[{"op":"replace","path":"/status","value":"cancelled"}]`, base64.
    let data = "W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9zdGF0dXMiLCJ2YWx1ZSI6ImNhbmNlbGxlZCJ9XQ==";
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
         "request": {"method": "PATCH", "url": "Observation/a2"}}
    ]});
    let response = server.json("POST", "", &transaction);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["entry"][0]["response"]["etag"], "W/\"2\"");
    assert_eq!(server.get("Observation/a2").json()["status"], "cancelled");
    let wrong = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": "text/plain", "data": data},
         "request": {"method": "PATCH", "url": "Observation/a2"}}
    ]});
    let outcome = &server.json("POST", "", &wrong).json()["entry"][0]["response"];
    assert_eq!(outcome["status"], "400 Bad Request");
    assert_eq!(
        outcome["outcome"]["issue"][0]["diagnostics"],
        "a PATCH entry's Binary must have `contentType` `application/json-patch+json`"
    );
}

#[test]
fn transaction_resolves_references_and_is_atomic() {
    let server = Server::start();
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b7e6b8e-1111-4c2a-9a57-1d0a8f3c7d11",
         "resource": {"resourceType": "Patient", "name": [{"family": "Tx"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:0b7e6b8e-2222-4c2a-9a57-1d0a8f3c7d11",
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "t"},
                      "subject": {"reference": "urn:uuid:0b7e6b8e-1111-4c2a-9a57-1d0a8f3c7d11"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Organization", "id": "o9", "name": "Put"}, "request": {"method": "PUT", "url": "Organization/o9"}}
    ]});
    let response = server.json("POST", "", &transaction);
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["type"], "transaction-response");
    let statuses: Vec<&str> = body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201 Created", "201 Created", "201 Created"]);
    let patient_id = body["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        body["entry"][1]["resource"]["subject"]["reference"],
        format!("Patient/{patient_id}")
    );
    assert_eq!(
        server
            .search(&format!("Observation?subject=Patient/{patient_id}"))
            .len(),
        1
    );

    // One failing entry (a version conflict) rolls back every other one.
    let failing = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Basic", "code": {"text": "never"}}, "request": {"method": "POST", "url": "Basic"}},
        {"request": {"method": "DELETE", "url": "Organization/o9"}},
        {"resource": {"resourceType": "Patient", "id": patient_id, "gender": "other"},
         "request": {"method": "PUT", "url": format!("Patient/{patient_id}"), "ifMatch": "W/\"9\""}}
    ]});
    server.json("POST", "", &failing).assert_outcome(
        412,
        "conflict",
        "version conflict: the resource is at version 1",
    );
    assert_eq!(server.get("Basic?_summary=count").json()["total"], 0);
    assert_eq!(server.get("Organization/o9").status, 200);
    assert!(
        server
            .get(&format!("Patient/{patient_id}"))
            .json()
            .get("gender")
            .is_none()
    );

    let bad_entry = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Basic"}, "request": {"method": "POST", "url": "Basic"}},
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Observation"}}
    ]});
    server.json("POST", "", &bad_entry).assert_outcome(
        400,
        "invalid",
        "entry 1: the body is a `Patient`, the URL names `Observation`",
    );
    assert_eq!(server.get("Basic?_summary=count").json()["total"], 0);
}

// --- bad input ----------------------------------------------------------------------------

#[test]
fn bad_input_is_an_operation_outcome_and_never_a_crash() {
    let server = Server::with(&[
        "--authorization",
        "allow-all",
        "--seed",
        "false",
        "--max-body-bytes",
        "1000",
    ]);
    server
        .send(
            "POST",
            "Patient",
            &[("Content-Type", "application/fhir+json")],
            b"{\"resourceType\": \"Patient\",",
        )
        .assert_outcome(
            400,
            "invalid",
            "malformed JSON: EOF while parsing a value at line 1 column 27",
        );
    server
        .get("Patinet/1")
        .assert_outcome(404, "not-found", "unknown resource type `Patinet`");
    server.get("Patient/bad_id!").assert_outcome(
        400,
        "invalid",
        "invalid id `bad_id!`: 1 to 64 of `A-Z a-z 0-9 - .`",
    );
    server
        .get(&format!("Patient/{}", "x".repeat(65)))
        .assert_outcome(
            400,
            "invalid",
            &format!(
                "invalid id `{}`: 1 to 64 of `A-Z a-z 0-9 - .`",
                "x".repeat(65)
            ),
        );
    server
        .json("POST", "Patient", &json!([1, 2]))
        .assert_outcome(
            400,
            "invalid",
            "the body must be a JSON object (a resource)",
        );
    server
        .json("POST", "Patient", &json!({"id": "x"}))
        .assert_outcome(400, "invalid", "the body has no `resourceType`");
    server
        .send(
            "POST",
            "Patient",
            &[("Content-Type", "application/xml")],
            b"<Patient/>",
        )
        .assert_outcome(
            400,
            "not-supported",
            "content type `application/xml` is not supported: send JSON",
        );
    let big = format!(
        "{{\"resourceType\":\"Basic\",\"text\":\"{}\"}}",
        "x".repeat(2000)
    );
    server
        .json("POST", "Basic", &serde_json::from_str(&big).unwrap())
        .assert_outcome(413, "too-costly", "request body larger than 1000 bytes");
    server.get("Patient?nope=1").assert_outcome(
        400,
        "invalid",
        "unknown search parameter `nope` for `Patient`",
    );
    server.get("Patient?birthdate=yesterday").assert_outcome(
        400,
        "invalid",
        "`birthdate=yesterday`: expected a FHIR date, optionally after a prefix",
    );
    server
        .get("Patient?_has:Observation:patient=1")
        .assert_outcome(
            400,
            "invalid",
            "`_has:Observation:patient`: expected `_has:Type:parameter:search-parameter`",
        );
    server
        .get("Patient?_has:Observation:code:code=1")
        .assert_outcome(
            400,
            "invalid",
            "`_has:Observation:code:code`: `Observation` has no reference parameter `code`",
        );
    server
        .get("Patient?general-practitioner:Practitioner.nope=x")
        .assert_outcome(
            400,
            "invalid",
            "unknown search parameter `nope` for `Practitioner`",
        );
    server.get("Patient?name.family=x").assert_outcome(
        400,
        "invalid",
        "chained parameter `name.family`: `Patient` has no reference parameter `name`",
    );
    server
        .get("Observation?subject.subject.subject.subject.name=x")
        .assert_outcome(
            400,
            "not-supported",
            "chained parameter `subject.subject.subject.subject.name`: more than 3 links",
        );
    server
        .get("Patient/1/_history/x")
        .assert_outcome(400, "invalid", "invalid version id `x`");
    server
        .json(
            "POST",
            "",
            &json!({"resourceType": "Bundle", "type": "collection"}),
        )
        .assert_outcome(
            400,
            "invalid",
            "expected a Bundle of type `batch` or `transaction`",
        );
    server
        .json(
            "POST",
            "",
            &json!({"resourceType": "Bundle", "type": "batch", "entry": {}}),
        )
        .assert_outcome(400, "invalid", "`Bundle.entry` must be an array");
    server.send("PUT", "Patient", &[], b"{}").assert_outcome(
        404,
        "not-found",
        "no FHIR interaction at `PUT /Patient`",
    );
    server.get("/elsewhere").assert_outcome(
        404,
        "not-found",
        "not a FHIR endpoint: the FHIR base is `/fhir`",
    );
    assert_eq!(server.search("Patient?name=%FF%FE"), Vec::<String>::new());
    server.get("Patient?_count=x").assert_outcome(
        400,
        "invalid",
        "`_count`: expected a non-negative integer, got `x`",
    );
    let health = server.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({"status": "ok"}));
}

// --- configuration, seed, authorization mode ----------------------------------------------

#[test]
fn without_a_token_every_request_but_metadata_is_401() {
    let server = Server::with(&["--seed", "false"]);
    let read = server.get("Patient/a");
    read.assert_outcome(401, "login", "authentication required");
    assert_eq!(
        read.header("www-authenticate"),
        Some("Bearer realm=\"fhir-access\"")
    );
    server
        .json(
            "POST",
            "",
            &json!({"resourceType": "Bundle", "type": "batch", "entry": []}),
        )
        .assert_outcome(401, "login", "authentication required");
    let metadata = server.get("metadata");
    assert_eq!(metadata.status, 200);
    let statement = metadata.json();
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let patient = statement["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap();
    assert_eq!(patient["operation"][0]["name"], "everything");
    assert!(
        patient["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == &json!({"name": "birthdate", "type": "date"}))
    );
}

#[test]
fn allow_all_is_refused_off_loopback() {
    let output = Command::new(env!("CARGO_BIN_EXE_fhir-access"))
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--authorization",
            "allow-all",
            "--seed",
            "false",
            "--data-dir",
            "/nonexistent/never-created",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --authorization allow-all is for development and benchmarks: refused on the non-loopback address 0.0.0.0:0\n"
    );
}

#[test]
fn help_lists_every_setting_with_its_variable_and_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_fhir-access"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let settings = [
        "config",
        "listen",
        "data-dir",
        "base-url",
        "seed",
        "authorization",
        "policy",
        "explain",
        "registration",
        "patient-readable-types",
        "update-create",
        "max-body-bytes",
        "request-timeout",
        "default-count",
        "max-count",
        "max-include",
        "max-everything",
        "max-bundle-entries",
        "readers",
        "audit-wait",
        "audit-sync-delay",
        "log",
    ];
    for setting in settings {
        assert!(
            help.contains(&format!("--{setting} ")),
            "--{setting} in {help}"
        );
        let variable = format!("FHIR_ACCESS_{}", setting.replace('-', "_").to_uppercase());
        assert!(
            help.contains(&format!("[env: {variable}=")),
            "{variable} in {help}"
        );
    }
    // Every setting, and nothing else, says its default.
    assert_eq!(
        help.matches("Defaults to").count(),
        settings.len(),
        "{help}"
    );
}

#[test]
fn first_start_seeds_synthea_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = Server::in_dir(dir.path(), &["--authorization", "allow-all"]);
        assert_eq!(server.get("Patient?_summary=count").json()["total"], 4);
        assert_eq!(
            server.get("Observation?_summary=count").json()["total"],
            1128
        );
        let hahn = server.search("Patient?family=hahn");
        assert_eq!(hahn, ["Patient/717282e4-5d08-4cbd-afad-596051966367"]);
        // References inside the seed bundles were resolved to `Type/id`.
        let observations = server
            .get("Patient/717282e4-5d08-4cbd-afad-596051966367/Observation?_summary=count")
            .json();
        assert_eq!(observations["total"], 231);
        let profile = server
            .get("Patient?_profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient&_summary=count")
            .json();
        assert_eq!(profile["total"], 4);
        let heights = server
            .get("Observation?patient=717282e4-5d08-4cbd-afad-596051966367&code=http://loinc.org|8302-2&_sort=-date&_count=2")
            .json();
        assert_eq!(heights["total"], 24);
        let dates: Vec<&str> = heights["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["effectiveDateTime"].as_str().unwrap())
            .collect();
        assert_eq!(dates, ["2024-10-25T13:31:19.686812+00:00"; 2]);
        server.send(
            "DELETE",
            "Patient/717282e4-5d08-4cbd-afad-596051966367",
            &[],
            b"",
        );
    }
    let again = Server::in_dir(dir.path(), &["--authorization", "allow-all"]);
    assert_eq!(again.get("Patient?_summary=count").json()["total"], 3);
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let mut server = Server::start();
    assert_eq!(server.get("/healthz").status, 200);
    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn concurrent_writes_and_reads_all_succeed() {
    let server = Server::start();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let server = &server;
            scope.spawn(move || {
                for n in 0..10 {
                    let id = format!("t{t}-{n}");
                    server.put(json!({"resourceType": "Basic", "id": id, "code": {"text": format!("thread {t}")}}));
                    assert_eq!(server.get(&format!("Basic/{id}")).status, 200);
                    assert_eq!(server.get("Basic?_summary=count").status, 200);
                }
            });
        }
    });
    assert_eq!(server.get("Basic?_summary=count").json()["total"], 40);
    assert_eq!(server.get("Basic/_history?_count=0").json()["total"], 40);
}

#[test]
fn the_config_file_and_environment_configure_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fhir-access.toml");
    std::fs::write(
        &config,
        "authorization = \"allow-all\"\nseed = false\nmax_count = 3\ndefault_count = 1\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fhir-access"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("FHIR_ACCESS_CONFIG", &config)
        .env("FHIR_ACCESS_MAX_COUNT", "2")
        .env("FHIR_ACCESS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let server = Server {
        address: base
            .trim_start_matches("http://")
            .trim_end_matches("/fhir")
            .to_owned(),
        base,
        child,
        _dir: Some(dir),
    };
    for id in ["x", "y", "z"] {
        server.put(json!({"resourceType": "Basic", "id": id, "code": {"text": "t"}}));
    }
    // The file's `max_count = 3` is overridden by the environment's 2; `default_count` is 1.
    assert_eq!(server.search("Basic?_count=50").len(), 2);
    assert_eq!(server.search("Basic").len(), 1);
}

#[test]
fn every_request_is_audited_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let args = [
        "--authorization",
        "allow-all",
        "--seed",
        "false",
        "--max-body-bytes",
        "300",
    ];
    let mut server = Server::logged(
        dir.path(),
        &args,
        "fhir_access::audit=info",
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    server.put(json!({"resourceType": "Basic", "id": "b", "code": {"text": "t"}}));
    let statuses = [
        server.get("Basic/b").status,
        server.get("Basic/none").status,
        server.get("Basic?nope=1").status,
        server.get("Nope").status,
        server.get("/elsewhere").status,
        server.send("POST", "Basic", &[], &[b'x'; 1000]).status,
        server.json("POST", "", &json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Basic/b"}}, {"request": {"method": "GET", "url": "Basic/none"}}]})).status,
        server.get("metadata").status,
    ];
    assert_eq!(statuses, [200, 404, 400, 404, 404, 413, 200, 200]);
    assert_eq!(server.get("/healthz").status, 200);
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    server.child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("fhir_access::audit"))
        .collect();
    // The PUT, the eight requests above; the health probe is not a FHIR request.
    assert_eq!(records.len(), 9, "{text}");
    for (record, status) in records.iter().skip(1).zip(statuses) {
        assert!(record.contains(&format!("status={status}")), "{record}");
    }
}
