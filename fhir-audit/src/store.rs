//! The file store: an append-only, hash-chained JSON Lines log in a directory.
//!
//! The caller redacts and serialises its record on its own thread (callers run in parallel)
//! and copies the bytes into a bounded queue under one short lock. A writer thread takes the
//! whole queue at once, numbers, chains (SHA-256, which only one thread can do, in order)
//! and writes the group with one `write`; a syncer thread makes what was written durable
//! with one `fdatasync` per group and wakes the receipts waiting on it. While the syncer
//! waits on the disk, the writer chains the next group, so hashing overlaps the I/O.

use std::cell::Cell;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::chain::encode_serialised;
use crate::segment::{self, Head};
use crate::sink::{Durability, Receipt, Sink, Stage};
use crate::{AuditRecord, ContentPolicy, Digest256, Error, StoredRecord};

/// How a [`FileStore`] behaves.
///
/// ```
/// use fhir_audit::{ContentPolicy, StoreConfig};
/// let config = StoreConfig::default().queue_capacity(1024).max_segment_bytes(16 << 20).content(ContentPolicy::Full);
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    queue_capacity: usize,
    max_segment_bytes: u64,
    content: ContentPolicy,
    sync_delay: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            queue_capacity: 4096,
            max_segment_bytes: 64 << 20,
            content: ContentPolicy::ReferencesOnly,
            sync_delay: Duration::ZERO,
        }
    }
}

impl StoreConfig {
    /// How many records may wait for the writer; past that, `append` waits. At least 1.
    /// Defaults to 4096.
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
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    recovery: Recovery,
    content: ContentPolicy,
    // Held for the store's life: one writer per directory.
    _lock: File,
}

struct Shared {
    queue: Mutex<Queue>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
    state: Mutex<State>,
    written_changed: Condvar,
    committed_changed: Condvar,
    /// A caller waits for durability, the store closes or fails: the syncer stops delaying.
    sync_now: Condvar,
    sync_delay: Duration,
    failed: AtomicBool,
    /// An `fdatasync` is under way: the writer lets records gather meanwhile.
    syncing: AtomicBool,
    /// The chain's tip and the open segment. Whoever holds it takes the queue and writes
    /// it, so groups reach the file in the order they were taken: the writer thread, or a
    /// caller waiting for [`Stage::Written`] whose record is still queued (it writes the
    /// group itself rather than wait for the writer thread to be scheduled).
    chain: Mutex<Chain>,
}

struct Queue {
    records: Serialised,
    next_seq: u64,
    closed: bool,
    writer_idle: bool,
    /// Callers waiting for room.
    waiting_for_room: usize,
}

impl Queue {
    /// Whether the writer should take the queue now: when the disk is free (so a lone
    /// record is not held back), when half the queue is used (so that hashing overlaps
    /// the disk under load), or when closing. In between, callers append without meeting
    /// the writer on the lock.
    fn ready(&self, capacity: usize, syncing: bool) -> bool {
        !self.records.is_empty()
            && (!syncing || self.closed || self.records.len() >= capacity.div_ceil(2))
    }
}

/// Records serialised back to back, in `seq` order. The writer swaps the queue's with its
/// own empty one, so the two buffers alternate and appending allocates nothing once they
/// have grown to a group's size.
#[derive(Default)]
struct Serialised {
    bytes: Vec<u8>,
    /// Where each record's JSON ends in `bytes`.
    ends: Vec<usize>,
}

impl Serialised {
    fn with_capacity(records: usize) -> Self {
        Serialised {
            bytes: Vec::with_capacity(records.saturating_mul(1024).min(16 << 20)),
            ends: Vec::with_capacity(records),
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn push(&mut self, json: &[u8]) {
        self.bytes.extend_from_slice(json);
        self.ends.push(self.bytes.len());
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| self.bytes.get(start..end).unwrap_or_default())
    }
}

thread_local! {
    /// Each calling thread's serialisation buffer, kept between appends.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A scratch buffer larger than this (a record with huge fields) is not kept.
const SCRATCH_KEPT: usize = 64 << 10;

struct State {
    /// The last record written (not yet necessarily durable), its hash, and its file.
    written: Head,
    file: Arc<File>,
    path: PathBuf,
    /// The last record durable.
    committed: Head,
    failure: Option<String>,
    writer_done: bool,
    /// Callers waiting for [`Stage::Durable`].
    durable_waiters: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The threads never panic while holding these locks (no user code runs under them).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn fail(&self, error: &Error) {
        let mut state = lock(&self.state);
        state.failure.get_or_insert_with(|| error.to_string());
        self.failed.store(true, Ordering::Release);
        drop(state);
        self.committed_changed.notify_all();
        self.written_changed.notify_all();
        self.sync_now.notify_all();
        let _queue = lock(&self.queue);
        self.not_full.notify_all();
        self.not_empty.notify_all();
    }

    fn failure(&self) -> Error {
        Error::Failed(lock(&self.state).failure.clone().unwrap_or_default())
    }
}

impl Durability for Shared {
    fn wait_for(&self, seq: u64, stage: Stage) -> Result<(), Error> {
        match stage {
            Stage::Written => self.wait_written(seq),
            Stage::Durable => {
                let mut state = lock(&self.state);
                if state.committed.seq >= seq {
                    return Ok(());
                }
                state.durable_waiters += 1;
                self.sync_now.notify_one();
                let result = loop {
                    if state.committed.seq >= seq {
                        break Ok(());
                    }
                    if let Some(failure) = &state.failure {
                        break Err(Error::Failed(failure.clone()));
                    }
                    state = self
                        .committed_changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                };
                state.durable_waiters -= 1;
                result
            }
        }
    }
}

impl Shared {
    /// Returns once record `seq` is written, writing the queue itself if it has to.
    fn wait_written(&self, seq: u64) -> Result<(), Error> {
        loop {
            {
                let state = lock(&self.state);
                // `committed` runs ahead of `written` never; at rotation they are equal.
                if state.written.seq.max(state.committed.seq) >= seq {
                    return Ok(());
                }
                if let Some(failure) = &state.failure {
                    return Err(Error::Failed(failure.clone()));
                }
            }
            // The record is queued or being written: with the chain in hand, whoever had
            // it before has finished, and the queue (if not empty) holds this record.
            let mut chain = lock(&self.chain);
            if self.failed.load(Ordering::Acquire) {
                return Err(self.failure());
            }
            if let Err(error) = chain.take_and_write(self) {
                self.fail(&error);
                return Err(self.failure());
            }
        }
    }
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
        let file = Arc::new(file);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                records: Serialised::with_capacity(config.queue_capacity),
                next_seq: last.seq + 1,
                closed: false,
                writer_idle: false,
                waiting_for_room: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: config.queue_capacity,
            state: Mutex::new(State {
                written: last,
                file: Arc::clone(&file),
                path: path.clone(),
                committed: last,
                failure: None,
                writer_done: false,
                durable_waiters: 0,
            }),
            written_changed: Condvar::new(),
            committed_changed: Condvar::new(),
            sync_now: Condvar::new(),
            sync_delay: config.sync_delay,
            failed: AtomicBool::new(false),
            syncing: AtomicBool::new(false),
            chain: Mutex::new(Chain {
                dir: dir.to_owned(),
                max_segment_bytes: config.max_segment_bytes,
                number,
                path,
                file,
                size,
                next_seq: last.seq + 1,
                prev: last.hash,
                batch: Serialised::with_capacity(config.queue_capacity),
                buffer: Vec::with_capacity(1 << 20),
            }),
        });
        let writer_shared = Arc::clone(&shared);
        let syncer_shared = Arc::clone(&shared);
        let threads = vec![
            spawn("fhir-audit-writer", move || writer(&writer_shared))?,
            spawn("fhir-audit-syncer", move || {
                syncer(&syncer_shared, last.seq, &head_file, &head_path)
            })?,
        ];
        Ok(FileStore {
            shared,
            threads,
            recovery,
            content: config.content,
            _lock: lock_file,
        })
    }

    /// What opening the store found: the last record, and a torn tail if there was one.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The last durable record's number and hash.
    pub fn head(&self) -> Head {
        lock(&self.shared.state).committed
    }

    /// Waits until every record appended so far is durable.
    ///
    /// # Errors
    /// The store failed first.
    pub fn flush(&self) -> Result<(), Error> {
        let last = lock(&self.shared.queue).next_seq - 1;
        self.shared.wait_for(last, Stage::Durable)
    }

    /// Stops taking records, writes and syncs every queued one, and stops the threads.
    ///
    /// # Errors
    /// The store failed before everything queued was durable.
    pub fn close(mut self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        {
            let mut queue = lock(&self.shared.queue);
            queue.closed = true;
        }
        self.shared.not_empty.notify_all();
        self.shared.not_full.notify_all();
        let mut panicked = false;
        for thread in self.threads.drain(..) {
            panicked |= thread.join().is_err();
        }
        if panicked {
            self.shared
                .fail(&Error::Failed("a store thread panicked".into()));
        }
        if self.shared.failed.load(Ordering::Acquire) {
            Err(self.shared.failure())
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
    fn append(&self, mut record: AuditRecord) -> Result<Receipt<'_>, Error> {
        // Outside the lock, on the caller's thread: concurrent callers serialise in parallel
        // and the single writer is left with what must be serial, the chain.
        record.redact(self.content);
        let mut json = SCRATCH.take();
        json.clear();
        record.write_json(&mut json);
        drop(record);
        let receipt = self.enqueue(&json);
        if json.capacity() <= SCRATCH_KEPT {
            SCRATCH.set(json);
        }
        receipt
    }
}

impl FileStore {
    /// Queues one serialised record, waiting for room, and numbers it.
    fn enqueue(&self, json: &[u8]) -> Result<Receipt<'_>, Error> {
        let shared = &*self.shared;
        let mut queue = lock(&shared.queue);
        loop {
            if shared.failed.load(Ordering::Acquire) {
                drop(queue);
                return Err(shared.failure());
            }
            if queue.closed {
                return Err(Error::Closed);
            }
            if queue.records.len() < shared.capacity {
                break;
            }
            queue.waiting_for_room += 1;
            queue = shared
                .not_full
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
            queue.waiting_for_room -= 1;
        }
        let seq = queue.next_seq;
        queue.next_seq += 1;
        queue.records.push(json);
        let wake = queue.writer_idle
            && queue.ready(shared.capacity, shared.syncing.load(Ordering::Acquire));
        if wake {
            queue.writer_idle = false;
        }
        drop(queue);
        if wake {
            shared.not_empty.notify_one();
        }
        Ok(Receipt::pending(seq, shared))
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

/// The writer thread: writes the queue whenever it is worth taking.
fn writer(shared: &Shared) {
    while wait_until_ready(shared) {
        let mut chain = lock(&shared.chain);
        if let Err(error) = chain.take_and_write(shared) {
            shared.fail(&error);
            return;
        }
    }
    // With the chain in hand: no group is still being written.
    let _chain = lock(&shared.chain);
    lock(&shared.state).writer_done = true;
    shared.written_changed.notify_all();
    shared.sync_now.notify_all();
}

/// Waits until the queue should be taken; false once the store is closed and drained, or
/// failed.
fn wait_until_ready(shared: &Shared) -> bool {
    let mut queue = lock(&shared.queue);
    loop {
        if shared.failed.load(Ordering::Acquire) {
            return false;
        }
        if queue.ready(shared.capacity, shared.syncing.load(Ordering::Acquire)) {
            queue.writer_idle = false;
            return true;
        }
        if queue.closed && queue.records.is_empty() {
            return false;
        }
        queue.writer_idle = true;
        queue = shared
            .not_empty
            .wait(queue)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

struct Chain {
    dir: PathBuf,
    max_segment_bytes: u64,
    number: u64,
    path: PathBuf,
    file: Arc<File>,
    size: u64,
    next_seq: u64,
    prev: Digest256,
    /// The group being written, swapped with the queue's.
    batch: Serialised,
    /// The group's lines.
    buffer: Vec<u8>,
}

impl Chain {
    /// Takes whatever is queued and writes it with one `write`; nothing when the queue is
    /// empty.
    fn take_and_write(&mut self, shared: &Shared) -> Result<(), Error> {
        self.batch.clear();
        {
            let mut queue = lock(&shared.queue);
            if queue.records.is_empty() {
                return Ok(());
            }
            std::mem::swap(&mut queue.records, &mut self.batch);
            let waiting = queue.waiting_for_room > 0;
            drop(queue);
            if waiting {
                shared.not_full.notify_all();
            }
        }
        self.buffer.clear();
        for json in self.batch.iter() {
            self.prev = encode_serialised(self.next_seq, &self.prev, json, &mut self.buffer);
            self.next_seq += 1;
        }
        (&*self.file)
            .write_all(&self.buffer)
            .map_err(|error| Error::io(&self.path, "write", error))?;
        self.size += self.buffer.len() as u64;
        let written = Head {
            seq: self.next_seq - 1,
            hash: self.prev,
        };
        lock(&shared.state).written = written;
        shared.written_changed.notify_one();
        if self.size >= self.max_segment_bytes {
            self.rotate(shared, written)?;
        }
        Ok(())
    }

    /// Makes the full segment durable, then starts the next one; the chain goes on.
    fn rotate(&mut self, shared: &Shared, written: Head) -> Result<(), Error> {
        self.file
            .sync_data()
            .map_err(|error| Error::io(&self.path, "fdatasync", error))?;
        let number = self.number + 1;
        let path = segment::path(&self.dir, number);
        let file = File::options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|error| Error::io(&path, "create", error))?;
        segment::sync_dir(&self.dir)?;
        let file = Arc::new(file);
        {
            let mut state = lock(&shared.state);
            if written.seq > state.committed.seq {
                state.committed = written;
            }
            state.file = Arc::clone(&file);
            state.path = path.clone();
        }
        shared.committed_changed.notify_all();
        (self.number, self.path, self.file, self.size) = (number, path, file, 0);
        Ok(())
    }
}

/// Group commit: one `fdatasync` for everything written since the last one.
fn syncer(shared: &Shared, mut synced: u64, head_file: &File, head_path: &Path) {
    loop {
        let (target, file, path) = {
            let mut state = lock(&shared.state);
            while state.written.seq == synced && !state.writer_done && state.failure.is_none() {
                state = shared
                    .written_changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.failure.is_some() || (state.written.seq == synced && state.writer_done) {
                return;
            }
            // Let more records gather unless someone waits for them to be durable.
            let deadline = Instant::now() + shared.sync_delay;
            while state.durable_waiters == 0 && !state.writer_done && state.failure.is_none() {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    break;
                };
                if left.is_zero() {
                    break;
                }
                state = shared
                    .sync_now
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if state.failure.is_some() {
                return;
            }
            (state.written, Arc::clone(&state.file), state.path.clone())
        };
        shared.syncing.store(true, Ordering::Release);
        let synced_data = file.sync_data();
        shared.syncing.store(false, Ordering::Release);
        {
            // Records that gathered during the sync go now.
            let mut queue = lock(&shared.queue);
            if queue.writer_idle && queue.ready(shared.capacity, false) {
                queue.writer_idle = false;
                drop(queue);
                shared.not_empty.notify_one();
            }
        }
        if let Err(error) = synced_data {
            shared.fail(&Error::io(path, "fdatasync", error));
            return;
        }
        // The head may name a durable record only, so it is written after the sync; and
        // before the receipts wake, so that whoever sees a record durable sees it anchored.
        if let Err(error) = target.write(head_file) {
            shared.fail(&Error::io(head_path, "write", error));
            return;
        }
        {
            let mut state = lock(&shared.state);
            if target.seq > state.committed.seq {
                state.committed = target;
            }
        }
        shared.committed_changed.notify_all();
        synced = target.seq;
    }
}
