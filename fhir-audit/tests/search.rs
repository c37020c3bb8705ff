//! Search: the indexed search agrees with a linear scan, sees new records, saves closed
//! segments' indexes, and rejects bad queries with the reason.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::manual_is_multiple_of,
    reason = "tests: a panic is a failed test; remainders spell out the data's pattern"
)]

use fhir_audit::{
    AuditRecord, Client, ClientKind, Decision, FileStore, Interaction, Query, Searcher, Sink,
    StoreConfig, Timestamp, User,
};
use proptest::prelude::*;

const START: i64 = 1_767_225_600_000; // 2026-01-01

fn record(n: u64) -> AuditRecord {
    let decision = match n % 5 {
        0 => Decision::Denied,
        1 => Decision::Error,
        _ => Decision::Permitted,
    };
    let mut record = AuditRecord::new(
        Timestamp::from_millis(START + i64::try_from(n).unwrap() * 3_600_000).unwrap(),
        if n % 4 == 0 {
            Interaction::SearchType
        } else {
            Interaction::Read
        },
        decision,
        200,
        "fhir-1",
    );
    record.user = Some(User {
        id: format!("u{}", n % 6).into(),
        fhir_user: Some(format!("Practitioner/{}", n % 6).into()),
        roles: vec![],
    });
    record.client = Some(Client {
        id: format!("app{}", n % 3).into(),
        kind: ClientKind::Confidential,
    });
    record.action.resource_type = Some(
        if n % 2 == 0 {
            "Observation"
        } else {
            "Condition"
        }
        .into(),
    );
    if n % 4 != 0 {
        record.action.resource_id = Some(format!("r{}", n % 10).into());
    }
    record.patients.push(format!("Patient/{}", n % 11).into());
    if n % 7 == 0 {
        record.patients.push(format!("Patient/{}", n % 13).into());
    }
    record
}

fn build(records: u64) -> (tempfile::TempDir, Vec<AuditRecord>) {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(
        dir.path(),
        StoreConfig::default()
            .max_segment_bytes(32 << 10)
            .queue_capacity(64),
    )
    .unwrap();
    let all: Vec<AuditRecord> = (0..records).map(record).collect();
    for record in &all {
        let _receipt = store.append(record.clone()).unwrap();
    }
    store.close().unwrap();
    (dir, all)
}

/// The model: every record, newest first, filtered one by one.
fn linear(all: &[AuditRecord], query: &Query) -> Vec<AuditRecord> {
    all.iter()
        .rev()
        .filter(|record| query.matches(record))
        .take(query.limit)
        .cloned()
        .collect()
}

fn search(searcher: &mut Searcher, query: &Query) -> Vec<AuditRecord> {
    searcher
        .search(query)
        .unwrap()
        .into_iter()
        .map(|stored| stored.record)
        .collect()
}

#[test]
fn each_filter_finds_what_a_linear_scan_finds() {
    let (dir, all) = build(1_000);
    let mut searcher = Searcher::open(dir.path()).unwrap();
    let queries = [
        "patient=Patient/3",
        "patient=Patient/12",
        "user=u2",
        "user=Practitioner/4",
        "client=app1&outcome=denied",
        "resource=Observation",
        "resource=Condition/r3&patient=Patient/5",
        "outcome=error&since=2026-01-10&until=2026-01-20",
        "since=2026-02-01T00:00:00.000Z&limit=7",
        "limit=1000",
        "patient=Patient/404",
        "resource=Observation/r3",
    ];
    for text in queries {
        let query: Query = text.parse().unwrap();
        let expected = linear(&all, &query);
        assert_eq!(search(&mut searcher, &query), expected, "{text}");
    }
    let query: Query = "patient=Patient/3&limit=5".parse().unwrap();
    let found = searcher.search(&query).unwrap();
    // Patient/3 is in records n % 11 == 3 and (n % 7 == 0 and n % 13 == 3); seq is n + 1.
    assert_eq!(
        found.iter().map(|s| s.seq).collect::<Vec<_>>(),
        vec![994, 983, 972, 961, 953]
    );
    assert!(
        dir.path().join("audit-00000001.idx").exists(),
        "closed segments' indexes are saved"
    );
}

#[test]
fn a_searcher_sees_records_appended_after_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(
        dir.path(),
        StoreConfig::default().max_segment_bytes(8 << 10),
    )
    .unwrap();
    let mut searcher = Searcher::open(dir.path()).unwrap();
    let query: Query = "patient=Patient/3".parse().unwrap();
    assert!(searcher.search(&query).unwrap().is_empty());
    for n in 0..200 {
        store.append(record(n)).unwrap().wait().unwrap();
    }
    let found = searcher.search(&query).unwrap();
    let expected: Vec<u64> = (0_u64..200)
        .filter(|n| n % 11 == 3 || (n % 7 == 0 && n % 13 == 3))
        .rev()
        .map(|n| n + 1)
        .collect();
    assert_eq!(expected.len(), 20);
    assert_eq!(found.iter().map(|s| s.seq).collect::<Vec<_>>(), expected);
    store.close().unwrap();
    // A second searcher loads the saved indexes and finds the same.
    assert_eq!(
        Searcher::open(dir.path()).unwrap().search(&query).unwrap(),
        found
    );
}

#[test]
fn bad_queries_say_what_is_wrong() {
    for (text, message) in [
        ("patient", "search query: `patient`: expected `name=value`"),
        (
            "who=me",
            "search query: unknown filter `who`; expected patient, user, client, resource, outcome, since, until or limit",
        ),
        (
            "outcome=maybe",
            "search query: outcome `maybe`: expected `permitted`, `denied` or `error`",
        ),
        (
            "limit=0",
            "search query: limit `0`: expected a positive number",
        ),
        (
            "limit=-1",
            "search query: limit `-1`: expected a positive number",
        ),
        ("user=a&user=b", "search query: `user` given twice"),
        ("patient=", "search query: `patient` is empty"),
        (
            "patient=%zz",
            "search query: `patient=%zz`: bad percent-encoding",
        ),
        (
            "patient=%ff",
            "search query: `patient=%ff`: bad percent-encoding",
        ),
        (
            "since=yesterday",
            "timestamp `yesterday`: expected `YYYY-MM-DDTHH:MM:SS.sssZ`",
        ),
    ] {
        assert_eq!(
            text.parse::<Query>().unwrap_err().to_string(),
            message,
            "{text}"
        );
    }
    assert_eq!("".parse::<Query>().unwrap(), Query::default());
}

fn query() -> impl Strategy<Value = Query> {
    (
        proptest::option::of((0_u64..14).prop_map(|n| format!("Patient/{n}"))),
        proptest::option::of(prop_oneof![
            (0_u64..7).prop_map(|n| format!("u{n}")),
            "\\PC{1,8}"
        ]),
        proptest::option::of((0_u64..4).prop_map(|n| format!("app{n}"))),
        proptest::option::of(prop_oneof![
            Just("Observation".to_owned()),
            (0_u64..11).prop_map(|n| format!("Condition/r{n}"))
        ]),
        proptest::option::of(prop_oneof![
            Just(Decision::Permitted),
            Just(Decision::Denied),
            Just(Decision::Error)
        ]),
        proptest::option::of(0_i64..400),
        proptest::option::of(0_i64..400),
        1_usize..50,
    )
        .prop_map(
            |(patient, user, client, resource, outcome, since, until, limit)| Query {
                patient,
                user,
                client,
                resource,
                outcome,
                since: since.map(|h| Timestamp::from_millis(START + h * 3_600_000).unwrap()),
                until: until.map(|h| Timestamp::from_millis(START + h * 3_600_000).unwrap()),
                limit,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn queries_round_trip_through_text(query in query()) {
        prop_assert_eq!(query.to_string().parse::<Query>().unwrap(), query);
    }

    #[test]
    fn query_parsing_never_panics(text in "\\PC{0,60}") {
        let _ = text.parse::<Query>();
    }
}

#[test]
fn indexed_search_agrees_with_the_model_on_random_queries() {
    let (dir, all) = build(400);
    let searcher = std::cell::RefCell::new(Searcher::open(dir.path()).unwrap());
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&query(), |query| {
            prop_assert_eq!(
                search(&mut searcher.borrow_mut(), &query),
                linear(&all, &query)
            );
            Ok(())
        })
        .unwrap();
}
