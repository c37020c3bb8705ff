//! The engine against the seam: narrowing, per-resource checks on every route, and the
//! audit hook's fail-closed rule, with guards written for the test.

use std::sync::{Arc, Mutex};

use axum::http::Method;
use fhir_compartment::{Compartment, Compartments, ServerBases};
use serde_json::{Value, json};

use super::*;
use crate::server::guard::{AuditRecord, Denial};
use crate::server::outcome::Error;
use crate::server::request::{Body, RawRequest};
use crate::server::store::{Indexing, Store};

/// What the test guard keeps of each audit record: interaction, status, patients.
type AuditLine = (Option<&'static str>, u16, Vec<String>, Vec<String>);

/// Sees only Patient/a's compartment; may narrow searches by parameters too; records audits.
#[derive(Debug, Default)]
struct OnlyA {
    extra: Vec<(String, String)>,
    audits: Mutex<Vec<AuditLine>>,
    fail_audit: bool,
    /// Permits say their answer depends on content (no update as create).
    content_bound: bool,
    /// How often the engine said a Consent was written.
    consent_changes: std::sync::atomic::AtomicUsize,
}

impl Guard for OnlyA {
    fn decide(&self, _: &Caller, interaction: &Interaction) -> Result<Permit, Denial> {
        if matches!(interaction, Interaction::Delete(t) if t.id == "forbidden") {
            return Err(Denial {
                error: Error::Forbidden,
                rules: vec!["no-delete".to_owned()],
            });
        }
        let mut narrowing = vec![Narrowing::InCompartments(vec![
            Compartment::new(CompartmentKind::Patient, "a").unwrap(),
        ])];
        if !self.extra.is_empty() {
            narrowing.push(Narrowing::Parameters(self.extra.clone()));
        }
        Ok(Permit {
            narrowing,
            rules: vec![format!("only-a:{}", interaction.name())],
            content_bound: self.content_bound,
            ..Permit::default()
        })
    }

    fn may_read(&self, _: &Caller, _: &Permit, resource: &Value) -> bool {
        Compartments::r4()
            .is_member(resource, &"Patient/a".parse().unwrap())
            .unwrap()
            || resource["resourceType"] == "Patient" && resource["id"] == "a"
    }

    fn may_write(
        &self,
        caller: &Caller,
        permit: &Permit,
        stored: Option<&Value>,
        new: Option<&Value>,
    ) -> bool {
        stored.is_none_or(|s| self.may_read(caller, permit, s))
            && new.is_none_or(|n| self.may_read(caller, permit, n))
    }

    fn consents_changed(&self) {
        self.consent_changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn audit(&self, record: &AuditRecord<'_>) -> Result<(), Error> {
        if self.fail_audit {
            return Err(Error::AuditUnavailable);
        }
        self.audits.lock().unwrap().push((
            record.interaction,
            record.status,
            record.patients.to_vec(),
            record.rules.to_vec(),
        ));
        Ok(())
    }
}

fn engine(guard: Arc<OnlyA>) -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1).unwrap();
    let compartments = Compartments::r4();
    let bases = ServerBases::default();
    {
        let indexing = Indexing {
            compartments: &compartments,
            bases: &bases,
        };
        let conn = store.writer();
        for (id, subject, code) in [("o1", "a", "x"), ("o2", "b", "x"), ("o3", "a", "y")] {
            let obs = json!({"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"code": code}]}, "subject": {"reference": format!("Patient/{subject}")}});
            store::write(&conn, indexing, ResourceType::Observation, id, obs, "PUT").unwrap();
        }
        for id in ["a", "b"] {
            store::write(
                &conn,
                indexing,
                ResourceType::Patient,
                id,
                json!({"resourceType": "Patient"}),
                "PUT",
            )
            .unwrap();
        }
    }
    let engine = Engine {
        store,
        guard,
        compartments,
        bases,
        base_url: "http://test/fhir".to_owned(),
        limits: Limits {
            default_count: 20,
            max_count: 100,
            max_include: 10,
            max_everything: 100,
            max_bundle_entries: 10,
        },
        update_create: true,
        capabilities: json!({"resourceType": "CapabilityStatement"}),
    };
    (engine, dir)
}

fn get(engine: &Engine, path: &str, query: &str) -> Reply {
    engine.handle(
        &Caller::default(),
        &RawRequest {
            method: &Method::GET,
            path,
            query,
            body: Body::Empty,
            content_type: None,
            if_match: None,
            if_none_exist: None,
        },
    )
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.body.as_ref().unwrap()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap(),
                e["resource"]["id"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn narrowing_applies_to_searches_and_includes() {
    let (engine, _dir) = engine(Arc::new(OnlyA::default()));
    let reply = get(
        &engine,
        "Observation",
        "code=x&_include=Observation:subject",
    );
    assert_eq!(ids(&reply), ["Observation/o1", "Patient/a"]);
    assert_eq!(reply.body.as_ref().unwrap()["total"], 1);
    let reply = get(&engine, "Patient", "_revinclude=Observation:subject");
    assert_eq!(
        ids(&reply),
        ["Patient/a", "Observation/o1", "Observation/o3"]
    );
    let (engine, _dir) = engine_with_extra();
    assert_eq!(ids(&get(&engine, "Observation", "")), ["Observation/o3"]);
}

#[test]
fn a_narrowing_a_filter_implies_is_dropped_and_only_then() {
    let (engine, _dir) = engine(Arc::new(OnlyA::default()));
    {
        let indexing = engine.indexing();
        let conn = engine.store.writer();
        // About Patient/a, but in Patient/b's compartment only: `focus` makes no membership.
        let obs = json!({"resourceType": "Observation", "status": "final", "code": {"coding": [{"code": "x"}]},
            "subject": {"reference": "Patient/b"}, "focus": [{"reference": "Patient/a"}]});
        store::write(&conn, indexing, ResourceType::Observation, "o4", obs, "PUT").unwrap();
    }
    let permit = Permit {
        narrowing: vec![Narrowing::InCompartments(vec![
            Compartment::new(CompartmentKind::Patient, "a").unwrap(),
        ])],
        ..Permit::default()
    };
    let kept = |query: &str| {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let query = SearchQuery::parse(ResourceType::Observation, &params, &engine.bases).unwrap();
        engine
            .narrowed(ResourceType::Observation, None, &query, &permit)
            .unwrap()
            .compartments
            .len()
    };
    assert_eq!(kept("patient=a"), 0);
    // One of several compartments (a clinician's assigned patients).
    let several = Permit {
        narrowing: vec![Narrowing::InCompartments(vec![
            Compartment::new(CompartmentKind::Patient, "c").unwrap(),
            Compartment::new(CompartmentKind::Patient, "a").unwrap(),
        ])],
        ..Permit::default()
    };
    let query = SearchQuery::parse(
        ResourceType::Observation,
        &[("patient".to_owned(), "a".to_owned())],
        &engine.bases,
    )
    .unwrap();
    let narrowed = engine
        .narrowed(ResourceType::Observation, None, &query, &several)
        .unwrap();
    assert_eq!(narrowed.compartments.len(), 0);
    assert_eq!(kept("subject=Patient/a"), 0);
    assert_eq!(kept("performer=Patient/a&code=x"), 0);
    // Another patient, a parameter that makes no membership, a bare id that may name
    // another type, several values, a `:missing`: the narrowing stays.
    for query in [
        "patient=b",
        "focus=Patient/a",
        "subject=a",
        "patient=a,b",
        "patient:missing=false",
        "code=x",
    ] {
        assert_eq!(kept(query), 1, "{query}");
    }
    // A compartment search of the same compartment, or of one of a set: one lookup, not
    // two; of another compartment: both.
    let compartment = Compartment::new(CompartmentKind::Patient, "a").unwrap();
    let query = SearchQuery::parse(ResourceType::Observation, &[], &engine.bases).unwrap();
    let narrowed = engine
        .narrowed(
            ResourceType::Observation,
            Some(&compartment),
            &query,
            &permit,
        )
        .unwrap();
    assert_eq!(narrowed.compartments, [vec![compartment.clone()]]);
    let narrowed = engine
        .narrowed(
            ResourceType::Observation,
            Some(&compartment),
            &query,
            &several,
        )
        .unwrap();
    assert_eq!(narrowed.compartments, [vec![compartment]]);
    let b = Compartment::new(CompartmentKind::Patient, "b").unwrap();
    let narrowed = engine
        .narrowed(ResourceType::Observation, Some(&b), &query, &several)
        .unwrap();
    assert_eq!(narrowed.compartments.len(), 2);
    for (query, expected) in [
        ("patient=a", vec!["Observation/o1", "Observation/o3"]),
        (
            "subject=Patient/a",
            vec!["Observation/o1", "Observation/o3"],
        ),
        ("focus=Patient/a", vec![]),
        ("subject=a", vec!["Observation/o1", "Observation/o3"]),
    ] {
        let reply = get(&engine, "Observation", query);
        assert_eq!(ids(&reply), expected, "{query}");
        assert_eq!(
            reply.body.as_ref().unwrap()["total"],
            expected.len(),
            "{query}"
        );
    }
}

fn engine_with_extra() -> (Engine, tempfile::TempDir) {
    engine(Arc::new(OnlyA {
        extra: vec![("code".to_owned(), "y".to_owned())],
        ..OnlyA::default()
    }))
}

#[test]
fn unseeable_reads_are_the_missing_404() {
    let (engine, _dir) = engine(Arc::new(OnlyA::default()));
    let hidden = get(&engine, "Observation/o2", "");
    let missing = get(&engine, "Observation/nope", "");
    assert_eq!(hidden, missing);
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&engine, "Observation/o2/_history/1", ""), missing);
    assert_eq!(get(&engine, "Observation/o2/_history", ""), missing);
    assert_eq!(get(&engine, "Observation/o2/_history", "_count=0"), missing);
    assert_eq!(
        get(&engine, "Observation/nope/_history", "_count=0"),
        missing
    );
    assert_eq!(get(&engine, "Patient/b/$everything", ""), missing);
    assert_eq!(get(&engine, "Observation/o1", "").status, StatusCode::OK);
    let everything = get(&engine, "Patient/a/$everything", "");
    assert_eq!(
        ids(&everything),
        ["Patient/a", "Observation/o1", "Observation/o3"]
    );
}

#[test]
fn one_audit_record_per_request_with_its_patients_and_rules() {
    let guard = Arc::new(OnlyA::default());
    let (engine, _dir) = engine(Arc::clone(&guard));
    get(&engine, "Observation/o1", "");
    get(&engine, "Observation/o2", "");
    get(&engine, "Nope/1", "");
    get(&engine, "Observation", "code=x,y");
    let refused = engine.handle(
        &Caller::default(),
        &RawRequest {
            method: &Method::DELETE,
            path: "Observation/forbidden",
            query: "",
            body: Body::Empty,
            content_type: None,
            if_match: None,
            if_none_exist: None,
        },
    );
    assert_eq!(refused, Reply::error(&Error::Forbidden));
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation/o3"}},
        {"request": {"method": "DELETE", "url": "Observation/forbidden"}}
    ]});
    let reply = engine.handle(
        &Caller::default(),
        &RawRequest {
            method: &Method::POST,
            path: "",
            query: "",
            body: Body::Json(&batch),
            content_type: None,
            if_match: None,
            if_none_exist: None,
        },
    );
    assert_eq!(
        reply.body.unwrap()["entry"][1]["response"]["status"],
        "403 Forbidden"
    );
    let rules = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        *guard.audits.lock().unwrap(),
        [
            (Some("read"), 200, rules(&["a"]), rules(&["only-a:read"])),
            (Some("read"), 404, vec![], rules(&["only-a:read"])),
            (None, 404, vec![], vec![]),
            (
                Some("search-type"),
                200,
                rules(&["a"]),
                rules(&["only-a:search-type"])
            ),
            (Some("delete"), 403, vec![], rules(&["no-delete"])),
            (
                Some("batch"),
                200,
                rules(&["a"]),
                rules(&["only-a:batch", "only-a:read", "no-delete"])
            ),
        ]
    );
}

#[test]
fn a_failing_audit_fails_the_request_closed() {
    let (engine, _dir) = engine(Arc::new(OnlyA {
        fail_audit: true,
        ..OnlyA::default()
    }));
    let reply = get(&engine, "Observation/o1", "");
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, Some(Error::AuditUnavailable.to_outcome()));
}

#[test]
fn writes_moving_a_resource_out_of_reach_are_refused() {
    let (engine, _dir) = engine(Arc::new(OnlyA::default()));
    let moved = json!({"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"coding": [{"code": "x"}]}, "subject": {"reference": "Patient/b"}});
    let reply = engine.handle(
        &Caller::default(),
        &RawRequest {
            method: &Method::PUT,
            path: "Observation/o1",
            query: "",
            body: Body::Json(&moved),
            content_type: None,
            if_match: None,
            if_none_exist: None,
        },
    );
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let patch = json!([{"op": "replace", "path": "/subject/reference", "value": "Patient/b"}]);
    let reply = engine.handle(
        &Caller::default(),
        &RawRequest {
            method: &Method::PATCH,
            path: "Observation/o1",
            query: "",
            body: Body::Json(&patch),
            content_type: None,
            if_match: None,
            if_none_exist: None,
        },
    );
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Deleting what the caller cannot see looks like deleting what does not exist.
    let delete = |path| {
        engine.handle(
            &Caller::default(),
            &RawRequest {
                method: &Method::DELETE,
                path,
                query: "",
                body: Body::Empty,
                content_type: None,
                if_match: None,
                if_none_exist: None,
            },
        )
    };
    assert_eq!(delete("Observation/o2"), delete("Observation/nope"));
    assert_eq!(
        get(&engine, "Observation/o1", "").body.unwrap()["subject"]["reference"],
        "Patient/a"
    );
}

#[test]
fn a_bad_narrowing_from_the_guard_fails_closed_as_a_server_error() {
    let guard = OnlyA {
        extra: vec![("nope".to_owned(), "1".to_owned())],
        ..OnlyA::default()
    };
    let (engine, _dir) = engine(Arc::new(guard));
    let reply = get(&engine, "Observation", "");
    assert_eq!(reply, Reply::error(&Error::Internal(String::new())));
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn type_history_is_narrowed_like_a_search() {
    let (engine, _dir) = engine(Arc::new(OnlyA::default()));
    let history = get(&engine, "Observation/_history", "").body.unwrap();
    assert_eq!(history["total"], 2);
    let ids: Vec<&str> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["o3", "o1"]);
    assert_eq!(
        get(&engine, "Observation/_history", "_count=0")
            .body
            .unwrap()["total"],
        2
    );
}

fn put(engine: &Engine, path: &str, body: &Value) -> Reply {
    engine.handle(
        &Caller::default(),
        &RawRequest {
            method: &Method::PUT,
            path,
            query: "",
            body: Body::Json(body),
            content_type: None,
            if_match: None,
            if_none_exist: None,
        },
    )
}

#[test]
fn chains_and_has_range_only_over_what_the_guard_admits() {
    let guard = Arc::new(OnlyA::default());
    let (engine, _dir) = engine(Arc::clone(&guard));
    // `b` is outside the narrowing: naming it through a chain finds nothing.
    assert_eq!(
        ids(&get(&engine, "Observation", "subject:Patient._id=b")),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&get(&engine, "Observation", "subject:Patient._id=a,b")),
        ["Observation/o1", "Observation/o3"]
    );
    // Untyped: the stored references of `subject` point to Patients only.
    assert_eq!(
        ids(&get(&engine, "Observation", "subject._id=a&code=y")),
        ["Observation/o3"]
    );
    // `_has`: o2 (b's) is invisible, so code x leads to `a` only.
    assert_eq!(
        ids(&get(&engine, "Patient", "_has:Observation:subject:code=x")),
        ["Patient/a"]
    );
    assert_eq!(
        ids(&get(
            &engine,
            "Patient",
            "_has:Observation:subject:code=nope"
        )),
        Vec::<String>::new()
    );
    // Each link's decision is in the one audit record.
    let audits = guard.audits.lock().unwrap();
    assert_eq!(
        audits.last().unwrap().3,
        ["only-a:search-type", "only-a:search-type"]
    );
}

#[test]
fn update_as_create_never_overwrites_nor_tells_hidden_from_free_ids() {
    let observation = |id: &str| {
        json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"code": "x"}]}, "subject": {"reference": "Patient/a"}})
    };
    // A content-bound caller: a free id and b's hidden o2 get the same 405; o2 is untouched.
    let bound = Arc::new(OnlyA {
        content_bound: true,
        ..OnlyA::default()
    });
    let (restricted, _dir) = engine(bound);
    let hidden = put(&restricted, "Observation/o2", &observation("o2"));
    let free = put(&restricted, "Observation/new", &observation("new"));
    assert_eq!(hidden, free);
    assert_eq!(hidden.status, StatusCode::METHOD_NOT_ALLOWED);
    let conn = restricted.store.reader();
    let o2 = store::current(&conn, ResourceType::Observation, "o2")
        .unwrap()
        .unwrap();
    assert_eq!(o2.version, 1);
    drop(conn);
    // Its own resources it updates.
    assert_eq!(
        put(&restricted, "Observation/o1", &observation("o1")).status,
        StatusCode::OK
    );
    // An unbound caller creates at a free id, and still never overwrites a hidden one.
    let (engine, _dir) = engine(Arc::new(OnlyA::default()));
    assert_eq!(
        put(&engine, "Observation/new", &observation("new")).status,
        StatusCode::CREATED
    );
    assert_eq!(
        put(&engine, "Observation/o2", &observation("o2")).status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[test]
fn a_committed_consent_write_tells_the_guard_once() {
    let guard = Arc::new(OnlyA::default());
    let (engine, _dir) = engine(Arc::clone(&guard));
    let consent = json!({"resourceType": "Consent", "id": "c1", "status": "active",
        "patient": {"reference": "Patient/a"}, "provision": {"type": "deny"}});
    assert_eq!(
        put(&engine, "Consent/c1", &consent).status,
        StatusCode::CREATED
    );
    assert_eq!(
        guard
            .consent_changes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // Other writes and reads do not.
    assert_eq!(put(&engine, "Observation/o1", &json!({"resourceType": "Observation", "id": "o1",
        "status": "final", "code": {"coding": [{"code": "x"}]}, "subject": {"reference": "Patient/a"}})).status, StatusCode::OK);
    get(&engine, "Consent/c1", "");
    assert_eq!(
        guard
            .consent_changes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}
