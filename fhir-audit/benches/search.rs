//! `search/1m/*`: queries on a 1,000,000-record store, built once under `target/` with the
//! same record generator as `benches/audit.rs`, then searched with a kept-open `Searcher`.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark code: a panic is a failed run"
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use fhir_audit::{
    AuditRecord, Client, ClientKind, Decision, FileStore, Interaction, Query, Searcher, Sink,
    StoreConfig, Timestamp, User,
};

const START: i64 = 1_767_225_600_000; // 2026-01-01

fn record(n: u64) -> AuditRecord {
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
        id: format!("user-{}", n % 500),
        fhir_user: Some(format!("Practitioner/{}", n % 500)),
        roles: vec![],
    });
    record.client = Some(Client {
        id: format!("app-{}", n % 20),
        kind: ClientKind::Confidential,
    });
    record.action.resource_type = Some("Observation".into());
    record.action.resource_id = Some(format!("obs-{n}"));
    record.action.query = Some(format!(
        "patient={}&category=laboratory&_count=50",
        n % 1000
    ));
    record.patients = vec![format!("Patient/{}", n % 1000)];
    record.outcome.rules = vec!["clinician-read".into()];
    record.origin.client_ip = Some("192.0.2.44".into());
    record.origin.request_id = Some(format!("req-{n:012}"));
    record.token_jti = Some(format!("jti-{n:016x}"));
    record
}

fn bench_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/fhir-audit-bench")
        .join(name)
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = bench_dir(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const MILLION: u64 = 1_000_000;

/// A 1,000,000-record store, built once and kept under `target/` for later runs.
fn million() -> PathBuf {
    let dir = bench_dir("million");
    if fhir_audit::Head::read(&dir)
        .ok()
        .flatten()
        .is_some_and(|head| head.seq == MILLION)
    {
        return dir;
    }
    let dir = fresh_dir("million");
    let store = FileStore::open(&dir, StoreConfig::default()).unwrap();
    for n in 0..MILLION {
        drop(store.append(record(n)).unwrap());
    }
    store.close().unwrap();
    dir
}

fn search(c: &mut Criterion) {
    let dir = million();
    let started = Instant::now();
    let mut searcher = Searcher::open(&dir).unwrap();
    eprintln!("search/1m: opened in {:?}", started.elapsed());
    let mut group = c.benchmark_group("search/1m");
    group.sample_size(20);
    for (name, text, expected) in [
        ("patient", "patient=Patient/417", 100),
        ("patient_denied", "patient=Patient/410&outcome=denied", 100),
        (
            "user_last_day",
            "user=user-17&since=2026-01-15&until=2026-01-16",
            86,
        ),
        ("resource_instance", "resource=Observation/obs-999999", 1),
        (
            "time_range_only",
            "since=2026-01-05T00:00:00.000Z&until=2026-01-05T01:00:00.000Z&limit=100",
            100,
        ),
        ("no_match", "patient=Patient/1000", 0),
    ] {
        let query: Query = text.parse().unwrap();
        let found = searcher.search(&query).unwrap();
        assert_eq!(found.len(), expected, "{name}");
        assert!(found.iter().all(|stored| query.matches(&stored.record)));
        assert!(
            found.windows(2).all(|pair| pair[0].seq > pair[1].seq),
            "newest first"
        );
        group.bench_function(name, |b| {
            b.iter(|| black_box(searcher.search(black_box(&query)).unwrap().len()))
        });
    }
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
