//! Crashes and failing disks, with child processes: a writer killed with SIGKILL loses no
//! committed record; a failing disk fails every caller and drops nothing silently.
//!
//! Kept apart from `store.rs`: a child forked while another test holds a store's lock file
//! would hold that lock too until it execs (`flock` locks belong to the open file), and make
//! that test's next `open` report the store locked.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::manual_is_multiple_of,
    reason = "tests: a panic is a failed test"
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fhir_audit::{
    AuditRecord, Decision, FileStore, Interaction, Problem, Sink, Stage, StoreConfig, Timestamp,
    verify,
};

fn record(n: u64) -> AuditRecord {
    let mut record = AuditRecord::new(
        Timestamp::from_millis(1_767_225_600_000 + i64::try_from(n).unwrap() * 1000).unwrap(),
        Interaction::Read,
        if n % 3 == 0 {
            Decision::Denied
        } else {
            Decision::Permitted
        },
        if n % 3 == 0 { 403 } else { 200 },
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

/// The child of `sigkill_mid_write_loses_no_committed_record`: appends records in groups,
/// printing the last durable number after each group, until killed.
#[test]
#[ignore = "run as a child process by sigkill_mid_write_loses_no_committed_record"]
fn child_writer() {
    let Some(dir) = std::env::var_os("FHIR_AUDIT_CHILD_DIR") else {
        return;
    };
    let store = FileStore::open(
        dir,
        StoreConfig::default()
            .queue_capacity(512)
            .max_segment_bytes(1 << 20),
    )
    .unwrap();
    let padding = "p".repeat(2000);
    for group in 0.. {
        let mut last = None;
        for n in 0..400 {
            let mut record = record(group * 400 + n);
            record.outcome.reason = Some(padding.clone().into());
            last = Some(store.append(record).unwrap());
        }
        let last = last.unwrap();
        let seq = last.seq().unwrap();
        last.wait().unwrap();
        println!("committed {seq}");
    }
}

#[test]
fn sigkill_mid_write_loses_no_committed_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FHIR_AUDIT_CHILD_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut committed = 0;
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        if let Some(seq) = line.unwrap().strip_prefix("committed ") {
            committed = seq.parse().unwrap();
            if committed >= 6_000 {
                break;
            }
        }
    }
    // Kill it while it is writing the next groups (Child::kill sends SIGKILL).
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(committed >= 6_000);
    let store = FileStore::open(dir.path(), StoreConfig::default()).unwrap();
    let recovery = store.recovery().clone();
    assert!(
        recovery.last_seq >= committed,
        "committed {committed}, recovered {}",
        recovery.last_seq
    );
    if let Some(torn) = &recovery.torn {
        assert!(torn.bytes > 0 && torn.moved_to.exists());
    }
    store.append(record(0)).unwrap().wait().unwrap();
    store.close().unwrap();
    let verification = verify(dir.path()).unwrap();
    assert!(verification.is_intact(), "{:?}", verification.first_break);
    assert_eq!(verification.records, recovery.last_seq + 1);
}

/// The child of `a_failing_disk_fails_every_caller_and_drops_nothing_silently`: appends
/// until the store fails (a file size limit makes `write` fail with EFBIG), then prints
/// what each caller saw.
#[test]
#[ignore = "run as a child process by a_failing_disk_fails_every_caller_and_drops_nothing_silently"]
fn child_failing_store() {
    let Some(dir) = std::env::var_os("FHIR_AUDIT_CHILD_DIR") else {
        return;
    };
    let stage = match std::env::var("FHIR_AUDIT_CHILD_STAGE").as_deref() {
        Ok("written") => Stage::Written,
        _ => Stage::Durable,
    };
    let store = FileStore::open(dir, StoreConfig::default().queue_capacity(16)).unwrap();
    let mut committed = 0;
    for n in 1..=10_000 {
        match store
            .append(record(n))
            .and_then(|receipt| receipt.wait_until(stage))
        {
            Ok(()) => committed = n,
            Err(error) => {
                println!("committed {committed}");
                println!("error {error}");
                let again = store.append(record(0)).unwrap_err();
                println!("then {again}");
                return;
            }
        }
    }
    println!("never failed");
}

#[test]
fn a_failing_disk_fails_every_caller_and_drops_nothing_silently() {
    failing_disk(Stage::Durable);
}

#[test]
fn a_failing_disk_fails_every_caller_waiting_until_written_too() {
    failing_disk(Stage::Written);
}

fn failing_disk(stage: Stage) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // bash's `ulimit -f` counts KiB; an ignored SIGXFSZ stays ignored across exec, so the
    // write past the limit returns EFBIG instead of killing the process.
    let output = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64; exec \"$0\" --exact child_failing_store --ignored --nocapture --test-threads=1")
        .arg(exe)
        .env("FHIR_AUDIT_CHILD_DIR", dir.path())
        .env(
            "FHIR_AUDIT_CHILD_STAGE",
            if stage == Stage::Written {
                "written"
            } else {
                "durable"
            },
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let field = |prefix: &str| {
        stdout
            .lines()
            .find_map(|line| line.find(prefix).map(|at| &line[at + prefix.len()..]))
            .unwrap_or_else(|| panic!("{stdout}"))
            .to_owned()
    };
    let committed: u64 = field("committed ").parse().unwrap();
    let segment = segment(dir.path(), 1);
    assert!(
        field("error ")
            .starts_with("audit store failed earlier and accepts no records: audit store `"),
        "{stdout}"
    );
    assert!(
        field("error ").contains("write: File too large"),
        "{stdout}"
    );
    assert!(
        field("then ").starts_with("audit store failed earlier and accepts no records"),
        "{stdout}"
    );
    assert!(committed > 50, "{stdout}");
    // Every record a caller saw committed is there, in a valid chain (a torn tail may follow).
    let verification = verify(dir.path()).unwrap();
    assert!(verification.records >= committed);
    if let Some(found) = &verification.first_break {
        assert!(matches!(found.problem, Problem::TornTail { .. }), "{found}");
        assert_eq!(found.segment, segment);
    }
}
