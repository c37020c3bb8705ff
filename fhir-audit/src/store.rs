//! The file store: an append-only, hash-chained JSON Lines log in a directory. Opening,
//! crash recovery and the public interface; the threads that carry records from `append`
//! to the disk are in `pipeline.rs`.

use std::fs::File;
use std::num::NonZero;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::pipeline::{Pipeline, Settings, Start};
use crate::segment::{self, Head};
use crate::sink::{Durability as _, Receipt, Sink, Stage};
use crate::{AuditRecord, ContentPolicy, Digest256, Error, StoredRecord};

/// How a [`FileStore`] behaves.
///
/// ```
/// use fhir_audit::{ContentPolicy, StoreConfig};
/// let config = StoreConfig::default().queue_capacity(1024).max_segment_bytes(16 << 20).content(ContentPolicy::Full).workers(2);
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    queue_capacity: usize,
    max_segment_bytes: u64,
    content: ContentPolicy,
    sync_delay: Duration,
    workers: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            queue_capacity: 4096,
            max_segment_bytes: 64 << 20,
            content: ContentPolicy::ReferencesOnly,
            sync_delay: Duration::ZERO,
            // One core is left to the appending threads, which do a worker's part when they
            // wait for room or for their record.
            workers: std::thread::available_parallelism()
                .map_or(1, NonZero::get)
                .saturating_sub(1)
                .clamp(1, MAX_WORKERS),
        }
    }
}

/// Past this, more workers only contend for the chain, which one thread at a time extends.
const MAX_WORKERS: usize = 4;

impl StoreConfig {
    /// How many records may be appended and not yet written; past that, `append` waits. At
    /// least 1. Defaults to 4096.
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.queue_capacity = records.max(1);
        self
    }

    /// The size at which a segment is closed and the next one started (the chain goes on
    /// across them). Defaults to 64 MiB.
    pub fn max_segment_bytes(mut self, bytes: u64) -> Self {
        self.max_segment_bytes = bytes.max(1);
        self
    }

    /// Whether resource content is kept. Defaults to [`ContentPolicy::ReferencesOnly`].
    pub fn content(mut self, policy: ContentPolicy) -> Self {
        self.content = policy;
        self
    }

    /// How long written records may wait for their `fdatasync` while no caller waits for
    /// them to be durable ([`Receipt::wait`](crate::Receipt::wait), `flush`, `close`: those
    /// have it start at once). Fewer syncs under load, each `fdatasync` costing CPU in the
    /// kernel, for a longer window in which a power loss can lose records whose callers
    /// waited only for [`Stage::Written`]. At most an hour. Defaults to zero: the next sync
    /// starts as soon as the previous one returns.
    pub fn sync_delay(mut self, delay: Duration) -> Self {
        self.sync_delay = delay.min(Duration::from_secs(3600));
        self
    }

    /// How many background threads redact, serialise and chain records (from 1 to 4).
    /// Defaults to one less than the number of cores (at least 1, at most 4): callers that
    /// wait for room in the queue, or for their record to be written, do that work
    /// themselves meanwhile, so the remaining core is theirs.
    pub fn workers(mut self, threads: usize) -> Self {
        self.workers = threads.clamp(1, MAX_WORKERS);
        self
    }
}

/// What opening a store found after a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The sequence number of the last record in the store (0 when empty).
    pub last_seq: u64,
    /// A torn last line (a write cut by a crash), moved aside.
    pub torn: Option<TornTail>,
}

/// A torn tail: bytes after the last complete line of the last segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment it was cut from.
    pub segment: PathBuf,
    /// Where it started in that segment (the segment's length now).
    pub offset: u64,
    /// How many bytes it had.
    pub bytes: u64,
    /// The file its bytes were moved to, for inspection.
    pub moved_to: PathBuf,
}

/// The hash-chained JSON Lines store. See the module docs in `docs/audit.md`.
///
/// ```
/// use fhir_audit::{AuditRecord, Decision, FileStore, Interaction, Sink, StoreConfig, Timestamp};
/// # let dir = std::env::temp_dir().join(format!("fhir-audit-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let store = FileStore::open(&dir, StoreConfig::default())?;
/// let receipt = store.append(AuditRecord::new(Timestamp::now(), Interaction::Read, Decision::Permitted, 200, "fhir-1"))?;
/// receipt.wait()?; // durable: written and fdatasync'ed
/// store.close()?;
/// assert!(fhir_audit::verify(&dir)?.is_intact());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), fhir_audit::Error>(())
/// ```
#[derive(Debug)]
pub struct FileStore {
    pipeline: Arc<Pipeline>,
    threads: Vec<JoinHandle<()>>,
    recovery: Recovery,
    // Held for the store's life: one writer per directory.
    _lock: File,
}

impl FileStore {
    /// Opens (creating if needed) the store in `dir`, recovering from a crash: a torn last
    /// line is moved aside to `<segment>.torn` and reported in [`FileStore::recovery`], and
    /// the chain continues from the last complete record.
    ///
    /// # Errors
    /// [`Error::Locked`] when another writer has the directory, [`Error::Io`], or
    /// [`Error::Corrupt`] when the last complete record does not verify (the store refuses
    /// to extend a chain it cannot vouch for; run the verifier).
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<FileStore, Error> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|error| Error::io(dir, "create directory", error))?;
        let lock_path = dir.join("lock");
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|error| Error::io(&lock_path, "open", error))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked(dir.to_owned())),
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(Error::io(&lock_path, "lock", error));
            }
        }
        let (number, size, last, recovery) = recover(dir)?;
        let path = segment::path(dir, number);
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|error| Error::io(&path, "open", error))?;
        if size == 0 {
            segment::sync_dir(dir)?;
        }
        let head_path = dir.join(Head::FILE);
        let head_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&head_path)
            .map_err(|error| Error::io(&head_path, "open", error))?;
        let settings = Settings {
            capacity: config.queue_capacity,
            workers: config.workers,
            content: config.content,
            max_segment_bytes: config.max_segment_bytes,
            sync_delay: config.sync_delay,
        };
        let start = Start {
            dir: dir.to_owned(),
            number,
            path,
            file,
            size,
            last,
        };
        let pipeline = Arc::new(Pipeline::new(start, &settings));
        let mut store = FileStore {
            pipeline: Arc::clone(&pipeline),
            threads: Vec::with_capacity(settings.workers + 1),
            recovery,
            _lock: lock_file,
        };
        let syncer = Arc::clone(&pipeline);
        let mut spawned = spawn("fhir-audit-syncer", move || {
            syncer.syncer(last.seq, &head_file, &head_path);
        })
        .map(|thread| store.threads.push(thread));
        for _ in 0..settings.workers {
            let worker = Arc::clone(&pipeline);
            spawned = spawned.and_then(|()| {
                spawn("fhir-audit-worker", move || worker.worker())
                    .map(|thread| store.threads.push(thread))
            });
        }
        if let Err(error) = spawned {
            // The threads already started stop when `store` drops.
            pipeline.fail(&error);
            return Err(error);
        }
        Ok(store)
    }

    /// What opening the store found: the last record, and a torn tail if there was one.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The last durable record's number and hash.
    pub fn head(&self) -> Head {
        self.pipeline.committed()
    }

    /// Waits until every record appended so far is durable.
    ///
    /// # Errors
    /// The store failed first.
    pub fn flush(&self) -> Result<(), Error> {
        let last = self.pipeline.last_appended();
        self.pipeline.wait_for(last, Stage::Durable)
    }

    /// Stops taking records, writes and syncs every queued one, and stops the threads.
    ///
    /// # Errors
    /// The store failed before everything queued was durable.
    pub fn close(mut self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        self.pipeline.close();
        let mut panicked = false;
        for thread in self.threads.drain(..) {
            panicked |= thread.join().is_err();
        }
        if panicked {
            self.pipeline
                .fail(&Error::Failed("a store thread panicked".into()));
        }
        if self.pipeline.has_failed() {
            Err(self.pipeline.failure())
        } else {
            Ok(())
        }
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // Errors were already given to every receipt waiting; nothing is left to tell.
        let _ = self.shutdown();
    }
}

impl Sink for FileStore {
    /// Numbers the record and queues it as it is: redaction, serialisation, chaining and
    /// freeing the record happen on the store's threads (or on a caller's thread that waits
    /// for its receipt while the record is still queued).
    fn append(&self, record: AuditRecord) -> Result<Receipt<'_>, Error> {
        let seq = self.pipeline.append(record)?;
        Ok(Receipt::pending(seq, &*self.pipeline))
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, Error> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(|error| Error::io(name, "spawn thread", error))
}

/// Finds the last segment and record, moving a torn tail aside.
fn recover(dir: &Path) -> Result<(u64, u64, Head, Recovery), Error> {
    let segments = segment::list(dir)?;
    let Some((number, path)) = segments.last().cloned() else {
        return Ok((
            1,
            0,
            Head {
                seq: 0,
                hash: Digest256::GENESIS,
            },
            Recovery::default(),
        ));
    };
    let bytes = std::fs::read(&path).map_err(|error| Error::io(&path, "read", error))?;
    let good = memchr::memrchr(b'\n', &bytes).map_or(0, |at| at + 1);
    let mut recovery = Recovery::default();
    if good < bytes.len() {
        let moved_to = torn_path(&path);
        segment::write_new(&moved_to, bytes.get(good..).unwrap_or_default())?;
        let file = File::options()
            .write(true)
            .open(&path)
            .map_err(|error| Error::io(&path, "open", error))?;
        file.set_len(good as u64)
            .map_err(|error| Error::io(&path, "truncate", error))?;
        file.sync_all()
            .map_err(|error| Error::io(&path, "fsync", error))?;
        segment::sync_dir(dir)?;
        recovery.torn = Some(TornTail {
            segment: path.clone(),
            offset: good as u64,
            bytes: (bytes.len() - good) as u64,
            moved_to,
        });
    }
    let mut last = Head {
        seq: 0,
        hash: Digest256::GENESIS,
    };
    let mut data = bytes;
    data.truncate(good);
    let mut current = path;
    let mut earlier = segments.iter().rev().skip(1);
    loop {
        if let Some((offset, line)) = last_line(&data) {
            let stored = StoredRecord::parse_line(line).map_err(|error| Error::Corrupt {
                path: current.clone(),
                offset,
                reason: error.to_string(),
            })?;
            last = Head {
                seq: stored.seq,
                hash: stored.hash,
            };
            break;
        }
        let Some((_, path)) = earlier.next() else {
            break;
        };
        data = std::fs::read(path).map_err(|error| Error::io(path, "read", error))?;
        data.truncate(memchr::memrchr(b'\n', &data).map_or(0, |at| at + 1));
        current = path.clone();
    }
    recovery.last_seq = last.seq;
    Ok((number, good as u64, last, recovery))
}

/// The last complete line of `data` (which ends with a newline or is empty), and its offset.
fn last_line(data: &[u8]) -> Option<(u64, &[u8])> {
    let body = data.strip_suffix(b"\n")?;
    let start = memchr::memrchr(b'\n', body).map_or(0, |at| at + 1);
    Some((start as u64, body.get(start..)?))
}

/// `<segment>.torn`, or `<segment>.torn.N` when earlier crashes left some.
fn torn_path(segment: &Path) -> PathBuf {
    let base = segment.with_extension("jsonl.torn");
    let mut candidate = base.clone();
    let mut n = 1;
    while candidate.exists() {
        candidate = base.with_extension(format!("torn.{n}"));
        n += 1;
    }
    candidate
}
