//! The file store: completeness under concurrent writers, tamper detection at the right
//! record, torn tails, injection, rotation and locking. Crashes with child processes are in
//! `crash.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests: a panic is a failed test"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fhir_audit::{
    AuditRecord, ChainBreak, ContentPolicy, Decision, Error, FileStore, Head, Interaction,
    LineError, Problem, Sink, Stage, StoreConfig, StoredRecord, Timestamp, verify,
};

fn record(n: u64) -> AuditRecord {
    let mut record = AuditRecord::new(
        Timestamp::from_millis(1_767_225_600_000 + i64::try_from(n).unwrap() * 1000).unwrap(),
        Interaction::Read,
        if n.is_multiple_of(3) {
            Decision::Denied
        } else {
            Decision::Permitted
        },
        if n.is_multiple_of(3) { 403 } else { 200 },
        "fhir-1",
    );
    record.action.resource_type = Some("Observation".into());
    record.action.resource_id = Some(format!("obs-{n}").into());
    record.patients.push(format!("Patient/{}", n % 7).into());
    record
}

fn segment(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("audit-{number:08}.jsonl"))
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn store_with(records: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), StoreConfig::default()).unwrap();
    for n in 1..=records {
        let _receipt = store.append(record(n)).unwrap();
    }
    store.close().unwrap();
    dir
}

#[test]
fn concurrent_writers_store_every_record_exactly_once_in_one_chain() {
    concurrent_writers(StoreConfig::default().queue_capacity(64), Stage::Durable);
}

#[test]
fn four_workers_keep_every_writer_in_order_in_one_chain() {
    // More workers than cores, a queue smaller than two runs: runs are framed out of order
    // and must still be sealed and written in `seq` order.
    concurrent_writers(
        StoreConfig::default().queue_capacity(100).workers(4),
        Stage::Durable,
    );
}

#[test]
fn one_worker_alone_stores_every_record_in_order() {
    concurrent_writers(
        StoreConfig::default()
            .queue_capacity(64)
            .workers(1)
            .max_segment_bytes(256 << 10),
        Stage::Written,
    );
}

#[test]
fn concurrent_writers_waiting_until_written_write_in_order_across_rotations() {
    // Half the callers wait for every record to be written, so callers write groups
    // themselves while the writer thread does too, and segments rotate meanwhile.
    concurrent_writers(
        StoreConfig::default()
            .queue_capacity(64)
            .max_segment_bytes(256 << 10),
        Stage::Written,
    );
}

fn concurrent_writers(config: StoreConfig, odd_writers_wait: Stage) {
    const WRITERS: u64 = 8;
    const EACH: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path(), config).unwrap());
    let threads: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for n in 0..EACH {
                    let receipt = store.append(record(writer * EACH + n)).unwrap();
                    if writer % 2 == 1 && odd_writers_wait == Stage::Written {
                        receipt.wait_until(Stage::Written).unwrap();
                    } else if n.is_multiple_of(500) {
                        receipt.wait().unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    Arc::into_inner(store).unwrap().close().unwrap();
    let verification = verify(dir.path()).unwrap();
    assert!(verification.is_intact(), "{:?}", verification.first_break);
    assert_eq!(verification.records, WRITERS * EACH);
    assert_eq!(verification.head.unwrap().seq, WRITERS * EACH);
    let mut ids: Vec<fhir_audit::CompactString> = Vec::new();
    let mut number = 1;
    while segment(dir.path(), number).exists() {
        ids.extend(lines(&segment(dir.path(), number)).iter().map(|line| {
            StoredRecord::parse_line(line.strip_suffix(b"\n").unwrap())
                .unwrap()
                .record
                .action
                .resource_id
                .unwrap()
        }));
        number += 1;
    }
    if odd_writers_wait == Stage::Written {
        assert!(number > 3, "rotated: {number}");
    }
    // Each writer's records are in the order it appended them (ids are `obs-{n}`, and each
    // writer appends its `n` in increasing order).
    let numbers: Vec<u64> = ids
        .iter()
        .map(|id| id.strip_prefix("obs-").unwrap().parse().unwrap())
        .collect();
    for writer in 0..WRITERS {
        let own: Vec<u64> = numbers
            .iter()
            .copied()
            .filter(|n| n / EACH == writer)
            .collect();
        assert_eq!(
            own,
            (writer * EACH..(writer + 1) * EACH).collect::<Vec<_>>()
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, WRITERS * EACH, "every record once");
}

#[test]
fn receipts_wait_for_durability_and_flush_covers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), StoreConfig::default()).unwrap();
    let receipt = store.append(record(1)).unwrap();
    assert_eq!(receipt.seq(), Some(1));
    receipt.wait().unwrap();
    assert_eq!(store.head().seq, 1);
    for n in 2..=50 {
        let _receipt = store.append(record(n)).unwrap();
    }
    store.flush().unwrap();
    assert_eq!(store.head().seq, 50);
    assert_eq!(Head::read(dir.path()).unwrap().unwrap(), store.head());
}

#[test]
fn a_receipt_waited_until_written_finds_its_chained_line_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), StoreConfig::default()).unwrap();
    for n in 1..=3 {
        let receipt = store.append(record(n)).unwrap();
        assert_eq!(receipt.seq(), Some(n));
        receipt.wait_until(Stage::Written).unwrap();
        // Before any close or flush: the line is in the file, in the chain, in order.
        let lines = lines(&segment(dir.path(), 1));
        let last = lines.last().unwrap();
        let stored = StoredRecord::parse_line(last.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!((lines.len() as u64, stored.seq), (n, n));
        assert_eq!(stored.record, record(n));
    }
    store.close().unwrap();
    let verification = verify(dir.path()).unwrap();
    assert_eq!((verification.records, verification.first_break), (3, None));
}

#[test]
fn a_sync_delay_holds_back_only_syncs_that_no_caller_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(
        dir.path(),
        StoreConfig::default().sync_delay(std::time::Duration::from_secs(3600)),
    )
    .unwrap();
    let start = std::time::Instant::now();
    store
        .append(record(1))
        .unwrap()
        .wait_until(Stage::Written)
        .unwrap();
    // Written, not yet synced: the syncer waits out its delay.
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(store.head().seq, 0);
    // A caller waiting for durability has the sync start at once, for earlier records too.
    store.append(record(2)).unwrap().wait().unwrap();
    assert_eq!(store.head().seq, 2);
    store
        .append(record(3))
        .unwrap()
        .wait_until(Stage::Written)
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.head().seq, 3);
    let _pending = store.append(record(4)).unwrap();
    // Closing syncs what is left without waiting either.
    store.close().unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(600));
    assert_eq!(Head::read(dir.path()).unwrap().unwrap().seq, 4);
    assert_eq!(verify(dir.path()).unwrap().records, 4);
}

#[test]
fn concurrent_durable_waits_never_wait_out_the_sync_delay() {
    // With a one-second delay, a single delayed sync would cost a second; 4 x 100 durable
    // waits finish in well under that many seconds only if none is delayed.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        FileStore::open(
            dir.path(),
            StoreConfig::default().sync_delay(std::time::Duration::from_secs(1)),
        )
        .unwrap(),
    );
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let store = &store;
            scope.spawn(move || {
                for n in 0..100 {
                    let receipt = store.append(record(writer * 100 + n)).unwrap();
                    if n % 2 == 0 {
                        receipt.wait().unwrap();
                    } else {
                        receipt.wait_until(Stage::Written).unwrap();
                    }
                }
            });
        }
    });
    let elapsed = start.elapsed();
    eprintln!("400 appends, 200 durable waits: {elapsed:?}");
    assert!(elapsed < std::time::Duration::from_secs(20), "{elapsed:?}");
}

/// Rewrites line `index` (0-based) of `path` with `edit`.
fn edit_lines(path: &Path, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let mut all = lines(path);
    edit(&mut all);
    std::fs::write(path, all.concat()).unwrap();
}

fn offset_of(path: &Path, index: usize) -> u64 {
    lines(path)[..index]
        .iter()
        .map(|line| line.len() as u64)
        .sum()
}

fn first_break(dir: &Path) -> ChainBreak {
    verify(dir).unwrap().first_break.unwrap()
}

fn reseal(line: &[u8], change: impl FnOnce(&mut StoredRecord)) -> Vec<u8> {
    let mut stored = StoredRecord::parse_line(line.strip_suffix(b"\n").unwrap()).unwrap();
    change(&mut stored);
    stored.to_line()
}

#[test]
fn each_kind_of_tampering_is_found_at_the_right_record() {
    let fresh = || {
        let dir = store_with(10);
        let path = segment(dir.path(), 1);
        (dir, path)
    };

    let (dir, path) = fresh();
    let offset = offset_of(&path, 3);
    edit_lines(&path, |l| {
        l[3] = String::from_utf8(l[3].clone())
            .unwrap()
            .replace("\"status\":200", "\"status\":201")
            .into_bytes()
    });
    let found = first_break(dir.path());
    assert_eq!(
        found,
        ChainBreak {
            seq: 4,
            segment: path.clone(),
            offset,
            problem: Problem::Invalid(LineError::HashMismatch)
        }
    );
    assert_eq!(
        found.to_string(),
        format!(
            "record 4 (`{}` byte {offset}): hash does not match the line's content (the record was modified)",
            path.display()
        )
    );

    let (dir, path) = fresh();
    let offset = offset_of(&path, 4);
    edit_lines(&path, |l| {
        l[3] = reseal(&l[3], |s| s.record.outcome.status = 201)
    });
    assert_eq!(
        first_break(dir.path()),
        ChainBreak {
            seq: 5,
            segment: path.clone(),
            offset,
            problem: Problem::Link
        }
    );

    let (dir, path) = fresh();
    let offset = offset_of(&path, 3);
    edit_lines(&path, |l| {
        l.remove(3);
    });
    assert_eq!(
        first_break(dir.path()),
        ChainBreak {
            seq: 4,
            segment: path.clone(),
            offset,
            problem: Problem::Sequence { found: 5 }
        }
    );

    let (dir, path) = fresh();
    let offset = offset_of(&path, 3);
    edit_lines(&path, |l| l.swap(3, 4));
    assert_eq!(
        first_break(dir.path()),
        ChainBreak {
            seq: 4,
            segment: path.clone(),
            offset,
            problem: Problem::Sequence { found: 5 }
        }
    );

    let (dir, path) = fresh();
    edit_lines(&path, |l| {
        let forged = reseal(&l[3], |s| {
            s.record.action.resource_id = Some("forged".into())
        });
        // A forged record 4 linked to record 3, inserted before the real record 4.
        let forged = reseal(&forged, |s| {
            s.prev = StoredRecord::parse_line(l[2].strip_suffix(b"\n").unwrap())
                .unwrap()
                .hash
        });
        l.insert(3, forged);
    });
    let offset = offset_of(&path, 4);
    assert_eq!(
        first_break(dir.path()),
        ChainBreak {
            seq: 5,
            segment: path.clone(),
            offset,
            problem: Problem::Sequence { found: 4 }
        }
    );

    let (dir, path) = fresh();
    let offset = offset_of(&path, 8);
    edit_lines(&path, |l| l.truncate(8));
    assert_eq!(
        first_break(dir.path()),
        ChainBreak {
            seq: 9,
            segment: path.clone(),
            offset,
            problem: Problem::Truncated { head_seq: 10 }
        }
    );

    let (dir, path) = fresh();
    let offset = offset_of(&path, 9);
    edit_lines(&path, |l| l[9].truncate(40));
    assert_eq!(
        first_break(dir.path()),
        ChainBreak {
            seq: 10,
            segment: path.clone(),
            offset,
            problem: Problem::TornTail { bytes: 40 }
        }
    );

    let (dir, path) = fresh();
    let offset = offset_of(&path, 9);
    edit_lines(&path, |l| {
        l[9] = reseal(&l[9], |s| s.record.outcome.status = 500)
    });
    assert_eq!(
        first_break(dir.path()),
        ChainBreak {
            seq: 10,
            segment: path.clone(),
            offset,
            problem: Problem::HeadMismatch
        }
    );

    let (dir, path) = fresh();
    edit_lines(&path, |l| l[0] = b"not json\n".to_vec());
    assert_eq!(
        first_break(dir.path()).problem,
        Problem::Invalid(LineError::Malformed("expected `{\"seq\":`"))
    );

    let intact = store_with(10);
    let verification = verify(intact.path()).unwrap();
    assert_eq!(
        (
            verification.records,
            verification.segments,
            verification.last.seq
        ),
        (10, 1, 10)
    );
    assert!(verification.is_intact());
}

#[test]
fn rotation_keeps_one_chain_across_segments_and_reopening_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::default()
        .max_segment_bytes(4096)
        .queue_capacity(8);
    for round in 0..3 {
        let store = FileStore::open(dir.path(), config).unwrap();
        assert_eq!(store.recovery().last_seq, round * 100);
        for n in 0..100 {
            store
                .append(record(round * 100 + n))
                .unwrap()
                .wait()
                .unwrap();
        }
        store.close().unwrap();
    }
    let verification = verify(dir.path()).unwrap();
    assert!(verification.is_intact(), "{:?}", verification.first_break);
    assert_eq!(verification.records, 300);
    assert!(
        verification.segments > 5,
        "{} segments",
        verification.segments
    );
    // Deleting a middle segment breaks the chain at its first record.
    let second = lines(&segment(dir.path(), 2));
    let first_seq = StoredRecord::parse_line(second[0].strip_suffix(b"\n").unwrap())
        .unwrap()
        .seq;
    std::fs::remove_file(segment(dir.path(), 2)).unwrap();
    let found = first_break(dir.path());
    assert_eq!(
        (found.seq, found.segment, found.offset),
        (first_seq, segment(dir.path(), 3), 0)
    );
    assert!(matches!(found.problem, Problem::Sequence { .. }));
}

#[test]
fn a_torn_last_line_is_moved_aside_and_the_chain_continues() {
    let dir = store_with(5);
    let path = segment(dir.path(), 1);
    let intact = lines(&path);
    edit_lines(&path, |l| l[4].truncate(57));
    let store = FileStore::open(dir.path(), StoreConfig::default()).unwrap();
    let recovery = store.recovery().clone();
    assert_eq!(recovery.last_seq, 4);
    let torn = recovery.torn.unwrap();
    assert_eq!((torn.offset, torn.bytes), (offset_of(&path, 4), 57));
    assert_eq!(torn.moved_to, dir.path().join("audit-00000001.jsonl.torn"));
    assert_eq!(std::fs::read(&torn.moved_to).unwrap(), intact[4][..57]);
    assert_eq!(store.append(record(99)).unwrap().seq(), Some(5));
    store.close().unwrap();
    // head.json named record 5 before the crash; the new record 5 replaced it, which the
    // verifier reports unless the head is current again (it is: the store rewrote it).
    let verification = verify(dir.path()).unwrap();
    assert!(verification.is_intact(), "{:?}", verification.first_break);
    assert_eq!(verification.records, 5);
}

#[test]
fn a_corrupt_last_record_stops_the_store_from_opening() {
    let dir = store_with(3);
    let path = segment(dir.path(), 1);
    edit_lines(&path, |l| {
        l[2] = String::from_utf8(l[2].clone())
            .unwrap()
            .replace("obs-3", "obs-9")
            .into_bytes()
    });
    let error = FileStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "audit store `{}` byte {}: hash does not match the line's content (the record was modified)",
            path.display(),
            offset_of(&path, 2)
        )
    );
}

#[test]
fn one_writer_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _store = FileStore::open(dir.path(), StoreConfig::default()).unwrap();
    let error = FileStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(
        matches!(error, Error::Locked(ref path) if path == dir.path()),
        "{error}"
    );
}

#[test]
fn hostile_text_and_huge_fields_round_trip_intact() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(
        dir.path(),
        StoreConfig::default().content(ContentPolicy::Full),
    )
    .unwrap();
    let mut hostile = record(1);
    let injected = "x\n{\"seq\":2,\"prev\":\"00\",\"record\":{}}\r\n\u{0}\u{1b}[31m\u{2028}\"}\\";
    hostile.action.query = Some(format!("name={injected}").into());
    hostile.outcome.reason = Some(injected.into());
    hostile.action.resource_id = Some("a".repeat(3 << 20).into());
    hostile.content = Some(serde_json::json!({"note": injected}));
    store.append(hostile.clone()).unwrap().wait().unwrap();
    store.append(record(2)).unwrap().wait().unwrap();
    store.close().unwrap();
    let all = lines(&segment(dir.path(), 1));
    assert_eq!(all.len(), 2, "one line per record");
    let back = StoredRecord::parse_line(all[0].strip_suffix(b"\n").unwrap()).unwrap();
    assert_eq!(back.record, hostile);
    assert_eq!(verify(dir.path()).unwrap().records, 2);
}

#[test]
fn records_are_redacted_before_any_byte_is_written_by_the_workers() {
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz";
    for workers in [1, 4] {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), StoreConfig::default().workers(workers)).unwrap();
        let mut last = None;
        for n in 1..=300 {
            let mut secretive = record(n);
            secretive.action.query =
                Some(format!("patient={n}&access_token=tok-{n}-secret").into());
            secretive.outcome.reason = Some(format!("rejected Bearer {JWT}").into());
            secretive.token_jti = Some(JWT.into());
            secretive.content =
                Some(serde_json::json!({"resourceType": "Patient", "name": "secret-name"}));
            last = Some(store.append(secretive).unwrap());
        }
        // Records queued unredacted are redacted by whichever thread frames them: the
        // workers, or this caller helping while it waits.
        last.unwrap().wait_until(Stage::Written).unwrap();
        let bytes = std::fs::read(segment(dir.path(), 1)).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 300);
        for leak in ["secret", "eyJ"] {
            assert!(!text.contains(leak), "{workers} workers wrote {leak:?}");
        }
        store.close().unwrap();
        let first = lines(&segment(dir.path(), 1))[0].clone();
        let stored = StoredRecord::parse_line(first.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(
            stored.record.action.query.as_deref(),
            Some("patient=1&access_token=[redacted]")
        );
        assert_eq!(
            stored.record.outcome.reason.as_deref(),
            Some("rejected Bearer [redacted]")
        );
        assert_eq!(stored.record.token_jti.as_deref(), Some("[redacted]"));
        assert_eq!(stored.record.content, None);
        assert_eq!(verify(dir.path()).unwrap().records, 300);
    }
}

#[test]
fn a_full_queue_makes_callers_help_or_wait_and_loses_nothing() {
    // Capacity 1 counts records appended and not yet written: every append finds the record
    // before it in flight, and frames, seals and writes it itself or waits for the thread
    // that does, through workers, syncs and rotations.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        FileStore::open(
            dir.path(),
            StoreConfig::default()
                .queue_capacity(1)
                .workers(2)
                .max_segment_bytes(32 << 10),
        )
        .unwrap(),
    );
    std::thread::scope(|scope| {
        for writer in 0..3 {
            let store = &store;
            scope.spawn(move || {
                for n in 0..200 {
                    drop(store.append(record(writer * 1000 + n)).unwrap());
                }
            });
        }
    });
    store.flush().unwrap();
    assert_eq!(store.head().seq, 600);
    Arc::into_inner(store).unwrap().close().unwrap();
    let verification = verify(dir.path()).unwrap();
    assert_eq!(
        (verification.records, verification.first_break),
        (600, None)
    );
    assert!(segment(dir.path(), 3).exists(), "rotated");
}

#[test]
fn closing_writes_and_syncs_every_queued_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(
        dir.path(),
        StoreConfig::default().sync_delay(std::time::Duration::from_secs(3600)),
    )
    .unwrap();
    for n in 1..=1000 {
        drop(store.append(record(n)).unwrap());
    }
    // No receipt waited: everything may still be queued, framed or sealed.
    store.close().unwrap();
    assert_eq!(Head::read(dir.path()).unwrap().unwrap().seq, 1000);
    let verification = verify(dir.path()).unwrap();
    assert_eq!(
        (verification.records, verification.first_break),
        (1000, None)
    );
}
