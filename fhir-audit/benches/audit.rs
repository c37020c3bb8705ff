//! What the issue measures, each beside its baseline in the same run:
//!
//! - `serialise/*`: one record to JSON into a reused buffer: ours (`write_json`) against
//!   plain `serde_json` of a flat struct with the same 16 values.
//! - `serialise/redact`: redaction alone (secrets scanned for, none found);
//!   `serialise/line/sha256`: the SHA-256 of one line, the serial share of the work.
//! - `serialise/line/*`: the CPU work per record besides `write`: redaction, serialisation
//!   and the SHA-256 of the chained line, all on the store's worker threads.
//! - `handoff/append`: the request path's cost, from an owned record to its receipt:
//!   numbering it and moving it into the store's queue under one lock (no redaction,
//!   serialisation, hashing, I/O or freeing); beside it the floor of a locked push of a
//!   boxed record with no consumer.
//! - `throughput/*`: 20,000 records into a fresh file store with group commit (one caller
//!   appending, the store's workers redacting, serialising, chaining and writing), against
//!   the floor of writing the same bytes with `write` + `fdatasync` per batch of 4,096 lines
//!   (no hashing, no JSON).
//!
//! Search on a million records is in `benches/search.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark code: a panic is a failed run"
)]

use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fhir_audit::{AuditRecord, FileStore, Sink, StoreConfig, Timestamp};
use serde::Serialize;

mod common;

use common::record;

/// The baseline's shape: the same 16 values, flat, with serde's derive.
#[derive(Serialize)]
struct Flat {
    time: Timestamp,
    user_id: String,
    fhir_user: String,
    client_id: String,
    client_type: &'static str,
    interaction: &'static str,
    resource_type: String,
    resource_id: String,
    query: String,
    patients: Vec<String>,
    decision: &'static str,
    status: u16,
    rules: Vec<String>,
    server_id: String,
    client_ip: String,
    token_jti: String,
}

fn flat(record: &AuditRecord) -> Flat {
    let text = |text: &fhir_audit::CompactString| text.to_string();
    let user = record.user.as_ref().unwrap();
    Flat {
        time: record.time,
        user_id: text(&user.id),
        fhir_user: text(user.fhir_user.as_ref().unwrap()),
        client_id: text(&record.client.as_ref().unwrap().id),
        client_type: "confidential",
        interaction: record.action.interaction.code(),
        resource_type: text(record.action.resource_type.as_ref().unwrap()),
        resource_id: text(record.action.resource_id.as_ref().unwrap()),
        query: text(record.action.query.as_ref().unwrap()),
        patients: record.patients.iter().map(text).collect(),
        decision: record.outcome.decision.code(),
        status: record.outcome.status,
        rules: record.outcome.rules.iter().map(text).collect(),
        server_id: text(&record.origin.server_id),
        client_ip: text(record.origin.client_ip.as_ref().unwrap()),
        token_jti: text(record.token_jti.as_ref().unwrap()),
    }
}

fn serialise(c: &mut Criterion) {
    let record = record(12_345);
    let flat = flat(&record);
    let mut buffer = Vec::with_capacity(4096);
    record.write_json(&mut buffer);
    assert_eq!(
        buffer,
        serde_json::to_vec(&record).unwrap(),
        "ours writes what serde_json writes"
    );
    let mut group = c.benchmark_group("serialise");
    group.bench_function("record/ours", |b| {
        b.iter(|| {
            buffer.clear();
            black_box(&record).write_json(&mut buffer);
            black_box(buffer.len())
        });
    });
    group.bench_function("record/serde_json_flat16", |b| {
        b.iter(|| {
            buffer.clear();
            serde_json::to_writer(&mut buffer, black_box(&flat)).unwrap();
            black_box(buffer.len())
        });
    });
    // What the workers do per record besides `write`: redact, serialise, chain.
    let mut to_store = record.clone();
    let stored = fhir_audit::StoredRecord {
        seq: 1,
        prev: fhir_audit::Digest256::GENESIS,
        hash: fhir_audit::Digest256::GENESIS,
        record: record.clone(),
    };
    group.bench_function("redact", |b| {
        b.iter(|| black_box(&mut to_store).redact(fhir_audit::ContentPolicy::ReferencesOnly));
    });
    // The serial share: the SHA-256 of one line as the chain hashes it.
    let line = stored.to_line();
    let hashed = &line[..line.len() - 68];
    group.bench_function("line/sha256", |b| {
        b.iter(|| black_box(<sha2::Sha256 as sha2::Digest>::digest(black_box(hashed))));
    });
    group.bench_function("line/redact_serialise_sha256", |b| {
        b.iter(|| {
            black_box(&mut to_store).redact(fhir_audit::ContentPolicy::ReferencesOnly);
            black_box(black_box(&stored).to_line().len())
        });
    });
    group.finish();
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

fn handoff(c: &mut Criterion) {
    let dir = fresh_dir("handoff");
    let store = FileStore::open(
        &dir,
        StoreConfig::default()
            .queue_capacity(1 << 16)
            .max_segment_bytes(1 << 30),
    )
    .unwrap();
    let template = record(7);
    c.bench_function("handoff/append", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            let mut left = iterations;
            while left > 0 {
                // Chunks far below the queue's capacity, so that the caller never waits for
                // the disk, and small enough to stay in cache as a just-built record would.
                let chunk = left.min(1024);
                let records: Vec<AuditRecord> = (0..chunk).map(|_| template.clone()).collect();
                let start = Instant::now();
                for record in records {
                    drop(black_box(store.append(record).unwrap()));
                }
                total += start.elapsed();
                store.flush().unwrap();
                left -= chunk;
            }
            total
        });
    });
    store.close().unwrap();
    // The primitive underneath, with no consumer thread: a push of a boxed record into a
    // locked vector, on one core.
    let queue: std::sync::Mutex<Vec<Box<AuditRecord>>> =
        std::sync::Mutex::new(Vec::with_capacity(1024));
    c.bench_function("handoff/floor_mutex_push_no_consumer", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            let mut left = iterations;
            while left > 0 {
                let chunk = left.min(1024);
                let records: Vec<AuditRecord> = (0..chunk).map(|_| template.clone()).collect();
                let start = Instant::now();
                for record in records {
                    queue.lock().unwrap().push(Box::new(record));
                }
                total += start.elapsed();
                queue.lock().unwrap().clear();
                left -= chunk;
            }
            total
        });
    });
}

const RECORDS: u64 = 20_000;
const BATCH: usize = 4096;

fn throughput(c: &mut Criterion) {
    let records: Vec<AuditRecord> = (0..RECORDS).map(record).collect();
    // The floor writes exactly the bytes the store writes.
    let dir = fresh_dir("floor-source");
    let store = FileStore::open(&dir, StoreConfig::default()).unwrap();
    for record in &records {
        drop(store.append(record.clone()).unwrap());
    }
    store.close().unwrap();
    let bytes = std::fs::read(dir.join("audit-00000001.jsonl")).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len() as u64, RECORDS);
    let batches: Vec<Vec<u8>> = lines.chunks(BATCH).map(<[&[u8]]>::concat).collect();

    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Elements(RECORDS));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("file_store", |b| {
        b.iter_batched(
            || {
                let dir = fresh_dir("store");
                let store =
                    FileStore::open(&dir, StoreConfig::default().queue_capacity(BATCH)).unwrap();
                (store, records.clone())
            },
            |(store, records)| {
                for record in records {
                    drop(store.append(record).unwrap());
                }
                store.flush().unwrap();
                store
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("floor_write_fdatasync", |b| {
        b.iter_batched(
            || {
                let dir = fresh_dir("floor");
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(dir.join("floor.jsonl"))
                    .unwrap()
            },
            |mut file| {
                for batch in &batches {
                    file.write_all(batch).unwrap();
                    file.sync_data().unwrap();
                }
                file
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, serialise, handoff, throughput);
criterion_main!(benches);
