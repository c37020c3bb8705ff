//! `fhir-access audit`: check a store's hash chain, search it, export it as FHIR AuditEvents.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use fhir_audit::{Decision, Query, Searcher, StoredRecord, Timestamp, audit_event_bundle, verify};
use serde_json::json;

use super::{Outcome, print_json};

/// Audit stores (fhir-audit's hash-chained JSON Lines directories).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the hash chain of every segment and `head.json`.
    ///
    /// Prints a JSON report; exits 0 when intact, 1 with the first bad record otherwise.
    Verify {
        /// The store's directory.
        dir: PathBuf,
    },
    /// Print matching records as JSON Lines (the stored lines), newest first.
    Search {
        /// The store's directory.
        dir: PathBuf,
        #[command(flatten)]
        filters: Filters,
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Export records as a FHIR R4 Bundle of AuditEvents (IHE BALP), oldest first.
    Export {
        /// The store's directory.
        dir: PathBuf,
        /// The output format.
        #[arg(long, value_enum)]
        format: Format,
        #[command(flatten)]
        filters: Filters,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// A Bundle (type `collection`) of AuditEvents, one per record and patient.
    Auditevent,
}

#[derive(Debug, clap::Args)]
struct Filters {
    /// Records involving this patient (`Patient/123`).
    #[arg(long)]
    patient: Option<String>,
    /// Records of this user (id or fhirUser).
    #[arg(long)]
    user: Option<String>,
    /// Records of this client id.
    #[arg(long)]
    client: Option<String>,
    /// Records on this resource (`Type` or `Type/id`).
    #[arg(long)]
    resource: Option<String>,
    /// Records with this outcome.
    #[arg(long, value_enum)]
    outcome: Option<OutcomeArg>,
    /// Records at or after this time (`2026-01-01` or `2026-01-01T08:00:00.000Z`).
    #[arg(long, value_parser = parse_time)]
    since: Option<Timestamp>,
    /// Records before this time.
    #[arg(long, value_parser = parse_time)]
    until: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutcomeArg {
    Permitted,
    Denied,
    Error,
}

fn parse_time(text: &str) -> Result<Timestamp, fhir_audit::Error> {
    Timestamp::parse_date_or_time(text)
}

impl Filters {
    fn query(self, limit: usize) -> Query {
        Query {
            patient: self.patient,
            user: self.user,
            client: self.client,
            resource: self.resource,
            outcome: self.outcome.map(|outcome| match outcome {
                OutcomeArg::Permitted => Decision::Permitted,
                OutcomeArg::Denied => Decision::Denied,
                OutcomeArg::Error => Decision::Error,
            }),
            since: self.since,
            until: self.until,
            limit,
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Verify { dir } => verify_store(&dir),
        Command::Search {
            dir,
            filters,
            limit,
        } => search(&dir, &filters.query(limit.max(1))),
        Command::Export {
            dir,
            format: Format::Auditevent,
            filters,
        } => export(&dir, &filters.query(usize::MAX)),
    }
}

fn existing(dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(dir.is_dir(), "`{}` is not a directory", dir.display());
    Ok(())
}

fn verify_store(dir: &Path) -> anyhow::Result<Outcome> {
    existing(dir)?;
    let verification = verify(dir).with_context(|| format!("verifying `{}`", dir.display()))?;
    let mut report = json!({
        "intact": verification.is_intact(),
        "records": verification.records,
        "segments": verification.segments,
        "last_seq": verification.last.seq,
        "last_hash": verification.last.hash.to_string(),
        "head_seq": verification.head.map(|head| head.seq),
    });
    let Some(first_break) = &verification.first_break else {
        print_json(&report)?;
        return Ok(Outcome::Success);
    };
    let line = read_line(&first_break.segment, first_break.offset);
    if let Some(object) = report.as_object_mut() {
        object.insert(
            "first_break".into(),
            json!({
                "seq": first_break.seq,
                "segment": first_break.segment.display().to_string(),
                "offset": first_break.offset,
                "message": first_break.to_string(),
                "line": line,
            }),
        );
    }
    print_json(&report)?;
    Ok(Outcome::Failure)
}

/// The line at `offset` of `segment` (what the verifier rejected), if it can be read.
fn read_line(segment: &Path, offset: u64) -> Option<String> {
    let bytes = std::fs::read(segment).ok()?;
    let rest = bytes.get(usize::try_from(offset).ok()?..)?;
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    Some(String::from_utf8_lossy(rest.get(..end)?).into_owned())
}

fn search(dir: &Path, query: &Query) -> anyhow::Result<Outcome> {
    existing(dir)?;
    let found = Searcher::open(dir)?.search(query)?;
    let mut out = std::io::stdout().lock();
    for stored in found {
        match out.write_all(&stored.to_line()) {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                return Ok(Outcome::Success);
            }
            other => other?,
        }
    }
    Ok(Outcome::Success)
}

fn export(dir: &Path, query: &Query) -> anyhow::Result<Outcome> {
    existing(dir)?;
    let mut found: Vec<StoredRecord> = Searcher::open(dir)?.search(query)?;
    found.reverse();
    print_json(&audit_event_bundle(
        found.iter().map(|stored| &stored.record),
    ))?;
    Ok(Outcome::Success)
}
