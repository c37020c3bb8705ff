//! Search of the file store: by patient, user, client, resource, outcome and time range,
//! newest first, with a limit.
//!
//! Each segment gets an index: the offset, length and time of every line, and posting lists
//! (line numbers) per patient, user, client, resource and outcome. A closed segment's index
//! is saved beside it (`audit-N.idx`) the first time it is built; the open segment's index is
//! kept in memory and extended with the lines appended since the last search. A search
//! intersects the posting lists, skips segments outside the time range, and reads only the
//! lines it returns.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Seek as _, SeekFrom};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::segment;
use crate::{AuditRecord, Decision, Error, StoredRecord, Timestamp};

/// What to look for. Every given filter must match; results come newest first (by sequence
/// number), at most `limit` of them.
///
/// Its text form is a query string, as the CLI takes it:
///
/// ```
/// use fhir_audit::Query;
/// let query: Query = "patient=Patient/123&outcome=denied&since=2026-01-01&limit=20".parse()?;
/// assert_eq!(query.patient.as_deref(), Some("Patient/123"));
/// assert_eq!(query.to_string(), "patient=Patient/123&outcome=denied&since=2026-01-01T00:00:00.000Z&limit=20");
/// # Ok::<(), fhir_audit::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// A patient the record involves (`Patient/123`).
    pub patient: Option<String>,
    /// The user's id or `fhirUser`.
    pub user: Option<String>,
    /// The client id.
    pub client: Option<String>,
    /// The resource: `Type` or `Type/id`.
    pub resource: Option<String>,
    /// The outcome.
    pub outcome: Option<Decision>,
    /// Records at or after this time.
    pub since: Option<Timestamp>,
    /// Records before this time.
    pub until: Option<Timestamp>,
    /// At most this many records. Defaults to 100.
    pub limit: usize,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            patient: None,
            user: None,
            client: None,
            resource: None,
            outcome: None,
            since: None,
            until: None,
            limit: 100,
        }
    }
}

impl Query {
    /// Whether `record` passes every filter.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        let user_matches = |wanted: &String| {
            record.user.as_ref().is_some_and(|user| {
                user.id == wanted || user.fhir_user.as_deref() == Some(wanted.as_str())
            })
        };
        self.patient
            .as_ref()
            .is_none_or(|wanted| record.patients.iter().any(|patient| patient == wanted))
            && self.user.as_ref().is_none_or(user_matches)
            && self
                .client
                .as_ref()
                .is_none_or(|wanted| record.client.as_ref().is_some_and(|c| c.id == wanted))
            && self
                .resource
                .as_ref()
                .is_none_or(|wanted| resource_keys(record).any(|key| key == *wanted))
            && self
                .outcome
                .is_none_or(|wanted| record.outcome.decision == wanted)
            && self.in_time(record.time)
    }

    fn in_time(&self, time: Timestamp) -> bool {
        self.since.is_none_or(|since| time >= since) && self.until.is_none_or(|until| time < until)
    }

    /// The index keys this query needs, most selective kinds first.
    fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        keys.extend(self.resource.as_ref().map(|r| format!("r:{r}")));
        keys.extend(self.patient.as_ref().map(|p| format!("p:{p}")));
        keys.extend(self.user.as_ref().map(|u| format!("u:{u}")));
        keys.extend(self.client.as_ref().map(|c| format!("c:{c}")));
        keys.extend(self.outcome.map(|o| format!("o:{}", o.code())));
        keys
    }
}

fn resource_keys(record: &AuditRecord) -> impl Iterator<Item = String> {
    let action = &record.action;
    let kind = action.resource_type.as_ref().map(ToString::to_string);
    let instance = action
        .resource_reference()
        .filter(|_| action.resource_id.is_some());
    kind.into_iter().chain(instance)
}

impl FromStr for Query {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let mut query = Query::default();
        let mut seen = Vec::new();
        for pair in text.split('&').filter(|pair| !pair.is_empty()) {
            let (name, raw) = pair
                .split_once('=')
                .ok_or_else(|| Error::Query(format!("`{}`: expected `name=value`", cut(pair))))?;
            if seen.contains(&name) {
                return Err(Error::Query(format!("`{}` given twice", cut(name))));
            }
            seen.push(name);
            let value = percent_decode(raw)
                .ok_or_else(|| Error::Query(format!("`{}`: bad percent-encoding", cut(pair))))?;
            if value.is_empty() {
                return Err(Error::Query(format!("`{}` is empty", cut(name))));
            }
            match name {
                "patient" => query.patient = Some(value),
                "user" => query.user = Some(value),
                "client" => query.client = Some(value),
                "resource" => query.resource = Some(value),
                "outcome" => {
                    query.outcome = Some(match value.as_str() {
                        "permitted" => Decision::Permitted,
                        "denied" => Decision::Denied,
                        "error" => Decision::Error,
                        _ => {
                            return Err(Error::Query(format!(
                                "outcome `{}`: expected `permitted`, `denied` or `error`",
                                cut(&value)
                            )));
                        }
                    });
                }
                "since" => query.since = Some(Timestamp::parse_date_or_time(&value)?),
                "until" => query.until = Some(Timestamp::parse_date_or_time(&value)?),
                "limit" => {
                    query.limit =
                        value
                            .parse()
                            .ok()
                            .filter(|&limit| limit > 0)
                            .ok_or_else(|| {
                                Error::Query(format!(
                                    "limit `{}`: expected a positive number",
                                    cut(&value)
                                ))
                            })?;
                }
                _ => {
                    return Err(Error::Query(format!(
                        "unknown filter `{}`; expected patient, user, client, resource, outcome, since, until or limit",
                        cut(name)
                    )));
                }
            }
        }
        Ok(query)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (name, value) in [
            ("patient", &self.patient),
            ("user", &self.user),
            ("client", &self.client),
            ("resource", &self.resource),
        ] {
            if let Some(value) = value {
                parts.push(format!("{name}={}", percent_encode(value)));
            }
        }
        if let Some(outcome) = self.outcome {
            parts.push(format!("outcome={}", outcome.code()));
        }
        if let Some(since) = self.since {
            parts.push(format!("since={since}"));
        }
        if let Some(until) = self.until {
            parts.push(format!("until={until}"));
        }
        if self.limit != Query::default().limit {
            parts.push(format!("limit={}", self.limit));
        }
        f.write_str(&parts.join("&"))
    }
}

/// Error text quotes at most 60 characters of input.
fn cut(text: &str) -> String {
    text.chars().take(60).collect()
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"/._:~|-,".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let hex = bytes.get(at + 1..at + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(text, 16).ok()?);
            at += 3;
        } else {
            out.push(byte);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One line's place and time.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Entry {
    offset: u64,
    len: u64,
    time: i64,
}

/// A segment's index.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentIndex {
    version: u32,
    /// The segment's length when indexed: a saved index is used only while it still matches.
    indexed_len: u64,
    min_time: i64,
    max_time: i64,
    lines: Vec<Entry>,
    postings: HashMap<String, Vec<u32>>,
}

const INDEX_VERSION: u32 = 1;

/// The fields a search needs from a line, read without the rest.
#[derive(Deserialize)]
struct Keys {
    record: RecordKeys,
}

#[derive(Deserialize)]
struct RecordKeys {
    time: Timestamp,
    #[serde(default)]
    user: Option<UserKeys>,
    #[serde(default)]
    client: Option<ClientKeys>,
    action: ActionKeys,
    #[serde(default)]
    patients: Vec<String>,
    outcome: OutcomeKeys,
}

#[derive(Deserialize)]
struct UserKeys {
    id: String,
    #[serde(default)]
    fhir_user: Option<String>,
}

#[derive(Deserialize)]
struct ClientKeys {
    id: String,
}

#[derive(Deserialize)]
struct ActionKeys {
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    resource_id: Option<String>,
}

#[derive(Deserialize)]
struct OutcomeKeys {
    decision: Decision,
}

impl SegmentIndex {
    fn new() -> Self {
        SegmentIndex {
            version: INDEX_VERSION,
            min_time: i64::MAX,
            max_time: i64::MIN,
            ..SegmentIndex::default()
        }
    }

    /// Indexes the complete lines of `path` from `indexed_len` on.
    fn extend(&mut self, path: &Path) -> Result<(), Error> {
        let mut file = File::open(path).map_err(|error| Error::io(path, "open", error))?;
        file.seek(SeekFrom::Start(self.indexed_len))
            .map_err(|error| Error::io(path, "seek", error))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|error| Error::io(path, "read", error))?;
            let Some(body) = line.strip_suffix(b"\n") else {
                // End of file, or a line still being written: index it next time.
                return Ok(());
            };
            let offset = self.indexed_len;
            let keys: Keys = serde_json::from_slice(body).map_err(|error| Error::Corrupt {
                path: path.to_owned(),
                offset,
                reason: error.to_string(),
            })?;
            self.add(
                Entry {
                    offset,
                    len: read as u64,
                    time: keys.record.time.millis(),
                },
                keys.record,
            );
            self.indexed_len += read as u64;
        }
    }

    fn add(&mut self, entry: Entry, record: RecordKeys) {
        let Ok(number) = u32::try_from(self.lines.len()) else {
            return;
        };
        self.min_time = self.min_time.min(entry.time);
        self.max_time = self.max_time.max(entry.time);
        self.lines.push(entry);
        let mut keys: Vec<String> = Vec::with_capacity(8);
        keys.extend(record.patients.into_iter().map(|p| format!("p:{p}")));
        if let Some(user) = record.user {
            keys.push(format!("u:{}", user.id));
            keys.extend(user.fhir_user.map(|f| format!("u:{f}")));
        }
        keys.extend(record.client.map(|c| format!("c:{}", c.id)));
        if let Some(kind) = record.action.resource_type {
            if let Some(id) = record.action.resource_id {
                keys.push(format!("r:{kind}/{id}"));
            }
            keys.push(format!("r:{kind}"));
        }
        keys.push(format!("o:{}", record.outcome.decision.code()));
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            self.postings.entry(key).or_default().push(number);
        }
    }

    /// Line numbers matching every key, ascending; `None` when there are no keys.
    fn candidates(&self, keys: &[String]) -> Option<Vec<u32>> {
        let mut lists: Vec<&[u32]> = Vec::with_capacity(keys.len());
        for key in keys {
            lists.push(self.postings.get(key).map_or(&[], Vec::as_slice));
        }
        lists.sort_by_key(|list| list.len());
        let (first, rest) = lists.split_first()?;
        Some(
            first
                .iter()
                .copied()
                .filter(|n| rest.iter().all(|list| list.binary_search(n).is_ok()))
                .collect(),
        )
    }
}

/// Searches a store directory; keeps its indexes between searches.
///
/// ```
/// use fhir_audit::{AuditRecord, Decision, FileStore, Interaction, Searcher, Sink, StoreConfig, Timestamp};
/// # let dir = std::env::temp_dir().join(format!("fhir-audit-search-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let store = FileStore::open(&dir, StoreConfig::default())?;
/// let mut record = AuditRecord::new(Timestamp::now(), Interaction::Read, Decision::Permitted, 200, "fhir-1");
/// record.patients.push("Patient/123".into());
/// store.append(record)?.wait()?;
/// let mut searcher = Searcher::open(&dir)?;
/// let found = searcher.search(&"patient=Patient/123".parse()?)?;
/// assert_eq!(found.len(), 1);
/// assert!(searcher.search(&"patient=Patient/9".parse()?)?.is_empty());
/// # store.close()?;
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), fhir_audit::Error>(())
/// ```
#[derive(Debug)]
pub struct Searcher {
    dir: PathBuf,
    segments: Vec<Indexed>,
}

#[derive(Debug)]
struct Indexed {
    number: u64,
    path: PathBuf,
    file: File,
    index: SegmentIndex,
    /// Whether its index is saved beside it (closed segments only).
    saved: bool,
}

impl Searcher {
    /// Opens the store in `dir` for searching, loading or building each segment's index.
    ///
    /// # Errors
    /// [`Error::Io`], or [`Error::Corrupt`] for a line that is not a record line.
    pub fn open(dir: impl AsRef<Path>) -> Result<Searcher, Error> {
        let mut searcher = Searcher {
            dir: dir.as_ref().to_owned(),
            segments: Vec::new(),
        };
        searcher.refresh()?;
        Ok(searcher)
    }

    /// Takes in what was written since the last call: new lines and new segments.
    fn refresh(&mut self) -> Result<(), Error> {
        let listed = segment::list(&self.dir)?;
        let newest = listed.last().map(|(number, _)| *number);
        for (number, path) in listed {
            let sealed = Some(number) != newest;
            if let Some(known) = self.segments.iter_mut().find(|s| s.number == number) {
                let len = known
                    .file
                    .metadata()
                    .map_err(|error| Error::io(&known.path, "stat", error))?
                    .len();
                if len > known.index.indexed_len {
                    known.index.extend(&known.path)?;
                }
                if sealed && !known.saved {
                    save_index(&known.path, &known.index);
                    known.saved = true;
                }
                continue;
            }
            let file = File::open(&path).map_err(|error| Error::io(&path, "open", error))?;
            let len = file
                .metadata()
                .map_err(|error| Error::io(&path, "stat", error))?
                .len();
            let (index, saved) = match load_index(&path, len) {
                Some(index) => (index, true),
                None => {
                    let mut index = SegmentIndex::new();
                    index.extend(&path)?;
                    if sealed {
                        save_index(&path, &index);
                    }
                    (index, sealed)
                }
            };
            self.segments.push(Indexed {
                number,
                path,
                file,
                index,
                saved,
            });
        }
        self.segments.sort_by_key(|s| s.number);
        Ok(())
    }

    /// The records matching `query`, newest first, at most `query.limit`.
    ///
    /// Search trusts the store: run [`crate::verify`] to check the chain.
    ///
    /// # Errors
    /// [`Error::Io`], or [`Error::Corrupt`] for a line that is not a valid record line.
    pub fn search(&mut self, query: &Query) -> Result<Vec<StoredRecord>, Error> {
        self.refresh()?;
        let keys = query.keys();
        let since = query.since.map_or(i64::MIN, Timestamp::millis);
        let until = query.until.map_or(i64::MAX, Timestamp::millis);
        let mut found = Vec::new();
        let mut line = Vec::new();
        for segment in self.segments.iter().rev() {
            let index = &segment.index;
            if index.lines.is_empty() || index.max_time < since || index.min_time >= until {
                continue;
            }
            let candidates = index.candidates(&keys);
            let numbers: Box<dyn Iterator<Item = u32>> = match candidates {
                Some(numbers) => Box::new(numbers.into_iter().rev()),
                None => Box::new((0..u32::try_from(index.lines.len()).unwrap_or(u32::MAX)).rev()),
            };
            for number in numbers {
                let Some(entry) = index.lines.get(number as usize) else {
                    continue;
                };
                if entry.time < since || entry.time >= until {
                    continue;
                }
                let corrupt = |reason: String| Error::Corrupt {
                    path: segment.path.clone(),
                    offset: entry.offset,
                    reason,
                };
                line.resize(
                    usize::try_from(entry.len).map_err(|_| corrupt("line too long".into()))?,
                    0,
                );
                segment
                    .file
                    .read_exact_at(&mut line, entry.offset)
                    .map_err(|error| Error::io(&segment.path, "read", error))?;
                let stored = StoredRecord::parse_line(line.strip_suffix(b"\n").unwrap_or(&line))
                    .map_err(|error| corrupt(error.to_string()))?;
                if query.matches(&stored.record) {
                    found.push(stored);
                    if found.len() >= query.limit {
                        return Ok(found);
                    }
                }
            }
        }
        Ok(found)
    }
}

fn index_path(segment: &Path) -> PathBuf {
    segment.with_extension("idx")
}

/// A saved index, when there is one for this segment length and version.
fn load_index(segment: &Path, len: u64) -> Option<SegmentIndex> {
    let bytes = std::fs::read(index_path(segment)).ok()?;
    let index: SegmentIndex = serde_json::from_slice(&bytes).ok()?;
    (index.version == INDEX_VERSION && index.indexed_len == len).then_some(index)
}

/// Saves a closed segment's index, best effort: without it the next search rebuilds it.
fn save_index(segment: &Path, index: &SegmentIndex) {
    let path = index_path(segment);
    let temporary = path.with_extension("idx.tmp");
    let saved = serde_json::to_vec(index)
        .map_err(std::io::Error::from)
        .and_then(|bytes| std::fs::write(&temporary, bytes))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if saved.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
}
