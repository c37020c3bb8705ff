//! The route matrix of issue 7 over real HTTP, on the seeded Synthea data: for each route
//! (read, search, `_include`, `_revinclude`, `_has`, chained search, history, vread,
//! `$everything`, compartment search, batch, transaction, PATCH, update, conditional
//! create), patient A's token sees A's data and never B's; what A may not see is answered
//! byte for byte like what does not exist; and every request leaves exactly one record in
//! the audit file store. A read-only matrix does the same for the cardiology nurse, who sees
//! neither A nor B.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use common::secured::{A, B, DARRELL};
use common::{Response, Server, entry_ids};
use serde_json::{Value, json};

/// Sends requests and checks, after each, that the audit store grew by exactly one record.
struct Counted<'s> {
    server: &'s Server,
    token: String,
    sent: usize,
}

impl Counted<'_> {
    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let auth = format!("Bearer {}", self.token);
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        let response = self.server.send(method, path, &all, body);
        self.sent += 1;
        let records = self.server.audit_records().len();
        assert_eq!(records, self.sent, "{method} {path}: {records} records");
        response
    }

    fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, &[], b"")
    }

    fn json(
        &mut self,
        method: &str,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut all = vec![("Content-Type", "application/fhir+json")];
        all.extend_from_slice(headers);
        self.send(method, path, &all, body.to_string().as_bytes())
    }

    fn patch(&mut self, path: &str, patch: &Value) -> Response {
        self.send(
            "PATCH",
            path,
            &[("Content-Type", "application/json-patch+json")],
            patch.to_string().as_bytes(),
        )
    }
}

/// Asserts a 200 whose body names `own` and never `other`.
fn sees_only(response: &Response, own: &str, other: &str, route: &str) -> Value {
    assert_eq!(response.status, 200, "{route}: {}", response.text());
    let text = response.text();
    assert!(text.contains(own), "{route}: {own} missing: {text}");
    assert!(!text.contains(other), "{route}: {other} leaked: {text}");
    response.json()
}

/// Asserts two answers are byte for byte the same (status, headers but `date`, body).
fn same_answer(hidden: &Response, missing: &Response, route: &str) {
    let headers = |r: &Response| -> Vec<(String, String)> {
        r.headers
            .iter()
            .filter(|(n, _)| n != "date")
            .cloned()
            .collect()
    };
    assert_eq!(hidden.status, missing.status, "{route}: {}", hidden.text());
    assert_eq!(headers(hidden), headers(missing), "{route}");
    assert_eq!(hidden.body, missing.body, "{route}");
}

fn first_id(server: &Server, token: &str, query: &str) -> String {
    let response = server.read_as(token, query);
    assert_eq!(response.status, 200, "{query}: {}", response.text());
    response.json()["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn observation(patient: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "urn:test", "code": "route-matrix"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "valueQuantity": {"value": 72, "unit": "/min"}})
}

#[test]
fn patient_a_sees_a_and_never_b_on_every_route_with_one_audit_record_each() {
    let server = Server::secured();
    let b_token = server.mint("catharine", &[]);
    let a_obs = first_id(&server, &server.mint("lucien", &[]), "Observation?_count=1");
    let b_obs = first_id(&server, &b_token, "Observation?_count=1");
    let b_encounter = first_id(&server, &b_token, "Encounter?_count=1");
    // The setup above went through the audit log too; start counting from here.
    let mut a = Counted {
        server: &server,
        token: server.mint("lucien", &[]),
        sent: server.audit_records().len(),
    };

    // Direct read.
    sees_only(&a.get(&format!("Patient/{A}")), A, B, "read");
    let hidden = a.get(&format!("Patient/{B}"));
    let missing = a.get("Patient/no-such-patient");
    assert_eq!(hidden.status, 404);
    same_answer(&hidden, &missing, "read");
    same_answer(
        &a.get(&format!("Observation/{b_obs}")),
        &a.get("Observation/no-such-observation"),
        "read of B's observation",
    );

    // vread.
    sees_only(&a.get(&format!("Patient/{A}/_history/1")), A, B, "vread");
    same_answer(
        &a.get(&format!("Patient/{B}/_history/1")),
        &a.get("Patient/no-such-patient/_history/1"),
        "vread",
    );

    // History: instance and type.
    sees_only(&a.get(&format!("Patient/{A}/_history")), A, B, "history");
    same_answer(
        &a.get(&format!("Patient/{B}/_history")),
        &a.get("Patient/no-such-patient/_history"),
        "history",
    );
    // Type history is not in the patient rules: 403, from the request alone.
    assert_eq!(a.get("Observation/_history?_count=100").status, 403);

    // Search, by GET and by POST.
    let search = sees_only(&a.get("Observation?_count=200"), A, B, "search");
    assert!(entry_ids(&search).len() > 20);
    let posted = a.send(
        "POST",
        "Observation/_search",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"_count=50",
    );
    sees_only(&posted, A, B, "POST _search");
    // Naming B: 403 from the query alone.
    assert_eq!(
        a.get(&format!("Observation?subject=Patient/{B}")).status,
        403
    );
    assert_eq!(a.get(&format!("Patient?_id={B}")).status, 403);

    // _include and _revinclude (with :iterate).
    let included = sees_only(
        &a.get("Observation?_count=20&_include=Observation:subject&_include=Observation:encounter"),
        A,
        B,
        "_include",
    );
    assert!(entry_ids(&included).contains(&format!("Patient/{A}")));
    let revincluded = sees_only(
        &a.get("Patient?_revinclude=Observation:subject&_revinclude:iterate=Provenance:target"),
        A,
        B,
        "_revinclude",
    );
    assert!(entry_ids(&revincluded).len() > 1);

    // _has: B's observation leads nowhere, as a missing one does.
    let has = sees_only(
        &a.get(&format!("Patient?_has:Observation:patient:_id={a_obs}")),
        A,
        B,
        "_has",
    );
    assert_eq!(entry_ids(&has), [format!("Patient/{A}")]);
    let has_b = a.get(&format!("Patient?_has:Observation:patient:_id={b_obs}"));
    let has_missing = a.get("Patient?_has:Observation:patient:_id=no-such-observation");
    assert_eq!(has_b.json()["entry"], has_missing.json()["entry"]);
    assert_eq!(has_b.json()["total"], 0);
    // Chained search: B's name finds what a name nobody has finds.
    sees_only(
        &a.get("Observation?subject:Patient.name=Hahn&_count=5"),
        A,
        B,
        "chained search",
    );
    let chained_b = a.get("Observation?subject:Patient.name=Morar");
    let chained_nobody = a.get("Observation?subject:Patient.name=Nobody");
    assert_eq!(chained_b.json()["entry"], chained_nobody.json()["entry"]);
    assert_eq!(chained_b.json()["total"], 0);
    let encounter_chain = a.get(&format!("Observation?encounter._id={b_encounter}"));
    assert_eq!(
        encounter_chain.json()["total"],
        0,
        "{}",
        encounter_chain.text()
    );

    // Compartment search.
    sees_only(
        &a.get(&format!("Patient/{A}/Observation?_count=50")),
        A,
        B,
        "compartment",
    );
    assert_eq!(a.get(&format!("Patient/{B}/Observation")).status, 403);

    // $everything.
    let everything = sees_only(
        &a.get(&format!("Patient/{A}/$everything")),
        A,
        B,
        "$everything",
    );
    assert!(entry_ids(&everything).len() > 20);
    same_answer(
        &a.get(&format!("Patient/{B}/$everything")),
        &a.get("Patient/no-such-patient/$everything"),
        "$everything",
    );

    // Batch: each entry on its own; B's entries answer like missing ones.
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": format!("Patient/{A}")}},
        {"request": {"method": "GET", "url": format!("Patient/{B}")}},
        {"request": {"method": "GET", "url": "Patient/no-such-patient"}},
        {"request": {"method": "GET", "url": format!("Observation/{b_obs}")}},
        {"request": {"method": "GET", "url": "Observation?_count=10"}},
        {"request": {"method": "GET", "url": format!("Patient/{A}/_history")}}
    ]});
    let reply = sees_only(&a.json("POST", "", &batch, &[]), A, B, "batch");
    let statuses: Vec<&str> = reply["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[0], "200 OK");
    assert_eq!(statuses[1], statuses[2]);
    assert_eq!(reply["entry"][1], reply["entry"][2]);
    assert_eq!(statuses[3], statuses[2]);

    // Transaction: A's create goes through; one entry into B refuses it all.
    let transaction = |patients: &[&str]| {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": patients.iter().enumerate().map(|(n, p)| json!({
            "fullUrl": format!("urn:uuid:{n}"), "resource": observation(p),
            "request": {"method": "POST", "url": "Observation"}})).collect::<Vec<_>>()})
    };
    let committed = a.json("POST", "", &transaction(&[A]), &[]);
    assert_eq!(committed.status, 200, "{}", committed.text());
    assert!(!committed.text().contains(B));
    let refused = a.json("POST", "", &transaction(&[A, B]), &[]);
    assert_eq!(refused.status, 403, "{}", refused.text());
    let written = a.get("Observation?code=urn:test|route-matrix&_summary=count");
    assert_eq!(written.json()["total"], 1);

    // PATCH: A's own; B's is the one 404.
    let patched = a.patch(
        &format!("Observation/{a_obs}"),
        &json!([{"op": "add", "path": "/status", "value": "amended"}]),
    );
    sees_only(&patched, A, B, "PATCH");
    let empty = json!([]);
    same_answer(
        &a.patch(&format!("Observation/{b_obs}"), &empty),
        &a.patch("Observation/no-such-observation", &empty),
        "PATCH",
    );
    // Moving A's into B: 403.
    let moved = a.patch(
        &format!("Observation/{a_obs}"),
        &json!([{"op": "replace", "path": "/subject/reference", "value": format!("Patient/{B}")}]),
    );
    assert_eq!(moved.status, 403);

    // Update: A's own; B's is answered like a free id, and is not overwritten.
    let mut own = patched.json();
    own["status"] = json!("final");
    sees_only(
        &a.json("PUT", &format!("Observation/{a_obs}"), &own, &[]),
        A,
        B,
        "update",
    );
    let mut hijack = observation(A);
    hijack["id"] = json!(b_obs);
    let over_b = a.json("PUT", &format!("Observation/{b_obs}"), &hijack, &[]);
    hijack["id"] = json!("free-id");
    let free = a.json("PUT", "Observation/free-id", &hijack, &[]);
    assert_eq!(over_b.status, 405);
    same_answer(&over_b, &free, "update");
    let b_still = server
        .read_as(&b_token, &format!("Observation/{b_obs}"))
        .json();
    assert_eq!(b_still["subject"]["reference"], format!("Patient/{B}"));
    a.sent += 1; // the read with B's token above

    // Conditional create: B's observation never answers A's condition.
    let conditional = a.json(
        "POST",
        "Observation",
        &observation(A),
        &[("If-None-Exist", &format!("_id={b_obs}"))],
    );
    assert_eq!(conditional.status, 201, "{}", conditional.text());
    assert!(conditional.text().contains(A) && !conditional.text().contains(B));
    let matched = a.json(
        "POST",
        "Observation",
        &observation(A),
        &[("If-None-Exist", &format!("_id={a_obs}"))],
    );
    assert_eq!(matched.status, 200, "{}", matched.text());
    assert_eq!(matched.json()["id"], a_obs.as_str());

    // Every record of A's requests names only A, if anyone.
    let records = server.audit_records();
    assert_eq!(records.len(), a.sent);
    for record in records.iter().filter(|r| r["user"]["id"] == "lucien") {
        if let Some(patients) = record.get("patients") {
            assert_eq!(patients, &json!([format!("Patient/{A}")]), "{record:#}");
        }
    }
}

#[test]
fn the_cardiology_nurse_sees_neither_a_nor_b_on_any_read_route() {
    let server = Server::secured();
    let b_obs = first_id(
        &server,
        &server.mint("catharine", &[]),
        "Observation?_count=1",
    );
    let mut nurse = Counted {
        server: &server,
        token: server.mint("nurse-cardio", &[]),
        sent: server.audit_records().len(),
    };
    let never = |response: &Response, route: &str| {
        assert_eq!(response.status, 200, "{route}: {}", response.text());
        let text = response.text();
        assert!(!text.contains(A) && !text.contains(B), "{route}: {text}");
    };
    never(&nurse.get("Observation?_count=200"), "search");
    never(
        &nurse.get("Encounter?_count=50&_include=Encounter:subject"),
        "_include",
    );
    never(
        &nurse.get(&format!("Patient?_has:Observation:patient:_id={b_obs}")),
        "_has",
    );
    never(
        &nurse.get("Observation?subject.name=Hahn"),
        "chained search",
    );
    assert_eq!(nurse.get("Observation/_history?_count=100").status, 403);
    let darrell = nurse.get(&format!("Observation?subject=Patient/{DARRELL}&_count=1"));
    never(&darrell, "search of her patient");
    assert_eq!(entry_ids(&darrell.json()).len(), 1);
    same_answer(
        &nurse.get(&format!("Observation/{b_obs}")),
        &nurse.get("Observation/no-such-observation"),
        "read",
    );
    same_answer(
        &nurse.get(&format!("Observation/{b_obs}/_history/1")),
        &nurse.get("Observation/no-such-observation/_history/1"),
        "vread",
    );
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": format!("Observation/{b_obs}")}},
        {"request": {"method": "GET", "url": "Observation?subject:Patient.name=Hahn"}},
        {"request": {"method": "GET", "url": "Observation?_count=20"}}
    ]});
    never(&nurse.json("POST", "", &batch, &[]), "batch");
    assert_eq!(server.audit_records().len(), nurse.sent);
}
