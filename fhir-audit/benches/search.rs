//! `search/1m/*`: queries on a 1,000,000-record store, built once under `target/` with the
//! record generator `benches/audit.rs` uses (`benches/common`), then searched with a kept-open `Searcher`.

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
use fhir_audit::{FileStore, Query, Searcher, Sink, StoreConfig};

mod common;

use common::record;

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
