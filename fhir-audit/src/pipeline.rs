//! The file store's path from `append` to the disk.
//!
//! - **`append`** numbers the owned record and moves it into a bounded queue under one short
//!   lock: no redaction, serialisation, hashing, I/O or freeing on the caller's thread. The
//!   capacity counts records appended and not yet written; a caller that finds it full does
//!   a worker's part until there is room.
//! - **Worker threads** (one per core but one, from one to four) each take a run of up to [`RUN`]
//!   queued records, redact them, frame them as lines (everything but `prev` and `hash`,
//!   which need the record before) and free them. Runs are framed in parallel, and this
//!   is most of the work.
//! - **Sealing and writing** are serial, and are roles rather than threads: the
//!   [`Sequencer`] hands framed runs out strictly in `seq` order, and whichever thread
//!   submits a run, or has nothing to frame, takes a role that is free and has work. The
//!   sealer fills in `prev` and the SHA-256 `hash` of each line, and leaves writing to
//!   another thread while it seals; the writer writes sealed lines with one `write` per
//!   group (gathered up to [`WRITE_BYTES`] while a sync runs and more records come). So
//!   the two serial steps run at once on different threads, and both cores keep busy
//!   whatever the split.
//! - **The syncer thread** makes what was written durable with one `fdatasync` per group
//!   (group commit) and wakes the receipts waiting on it.
//! - **Callers that wait** ([`Stage::Written`] or [`Stage::Durable`]) whose record is still
//!   queued do not wait for a worker to be scheduled: they frame the runs up to theirs
//!   themselves, and seal and write them when no one else is.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, IoSlice, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::chain::{frame, seal};
use crate::segment::{self, Head};
use crate::sink::{Durability, Stage};
use crate::{AuditRecord, ContentPolicy, Digest256, Error};

/// The most records a worker takes at once: enough to amortise the locks and the `write`,
/// few enough that two workers share a backlog evenly.
pub(crate) const RUN: usize = 64;

/// Room reserved per line when framing: a typical record's line is 500 to 800 bytes.
const LINE_BYTES: usize = 1024;

/// While a sync runs, sealed lines are written once this many bytes have gathered, or sooner
/// when every record appended is sealed or a caller waits for them: big writes cost the
/// kernel much less per byte than small ones.
const WRITE_BYTES: usize = 1 << 20;

/// A framed run whose buffer grew past this (records with huge fields) is not kept for reuse.
const KEPT_BYTES: usize = 4 << 20;

/// What the threads share.
pub(crate) struct Pipeline {
    queue: Mutex<Queue>,
    /// Workers wait here for records.
    work: Condvar,
    /// Callers wait here for room.
    room: Condvar,
    capacity: usize,
    workers: usize,
    content: ContentPolicy,
    sequencer: Mutex<Sequencer>,
    /// Locked only by the thread that set [`Sequencer::sealing`], so never contended.
    sealer: Mutex<Sealer>,
    /// Locked only by the thread that set [`Sequencer::writing`], so never contended.
    writer: Mutex<Writer>,
    state: Mutex<State>,
    /// Callers waiting for [`Stage::Written`] wait here.
    written_changed: Condvar,
    /// Callers waiting for [`Stage::Durable`] wait here.
    committed_changed: Condvar,
    /// The syncer waits here: something was written, a caller waits for durability, the
    /// store closes or fails.
    sync_wanted: Condvar,
    sync_delay: Duration,
    failed: AtomicBool,
    /// An `fdatasync` is under way or about to start (the syncer is waiting out its delay):
    /// workers let records gather meanwhile.
    syncing: AtomicBool,
    /// Callers waiting for [`Stage::Durable`]: records do not gather while there are some.
    durable_waiters: AtomicUsize,
    /// Callers waiting for their record to be written (for either stage): sealed lines are
    /// written at once while there are some.
    written_waiters: AtomicUsize,
    /// The last record appended.
    appended: AtomicU64,
}

/// Records appended and not yet taken by a worker, oldest first.
struct Queue {
    /// In runs of at most [`RUN`]; the first record has `seq` `front_seq`.
    runs: VecDeque<Vec<AuditRecord>>,
    queued: usize,
    front_seq: u64,
    next_seq: u64,
    /// The last record written: records from here to `next_seq` count against the capacity.
    written_seq: u64,
    /// Emptied run vectors, reused so that appending allocates nothing.
    spare: Vec<Vec<AuditRecord>>,
    closed: bool,
    /// Callers waiting for room.
    waiting_for_room: usize,
    /// Workers waiting for records.
    asleep: usize,
    /// A worker was woken and has not yet run.
    wake_pending: bool,
}

impl Queue {
    /// Whether a worker should take a run now: when the disk is free (so that a lone record
    /// is not held back), when half the capacity is queued or a caller waits for room (a
    /// backlog: framing and hashing must overlap the disk), when a caller waits for
    /// durability, or when closing. While a sync is under way, records otherwise gather:
    /// callers append without meeting the workers on the lock, or on the cores.
    fn ready(&self, pipeline: &Pipeline) -> bool {
        self.queued > 0
            && (!pipeline.syncing.load(Ordering::Acquire)
                || self.closed
                || self.queued >= pipeline.capacity.div_ceil(2)
                || self.waiting_for_room > 0
                || pipeline.durable_waiters.load(Ordering::Acquire) > 0)
    }

    /// Whether to wake a sleeping worker, given `cause` (why this caller would): only if one
    /// sleeps, none was woken and has not yet run, and records should be taken now. Marks
    /// the wake as pending; the caller notifies after releasing the lock.
    fn claim_wake(&mut self, pipeline: &Pipeline, cause: bool) -> bool {
        let wake = cause && self.asleep > 0 && !self.wake_pending && self.ready(pipeline);
        if wake {
            self.wake_pending = true;
        }
        wake
    }

    /// Enough is queued for another worker to frame meanwhile.
    fn backlog(&self, pipeline: &Pipeline) -> bool {
        self.queued >= RUN.max(pipeline.capacity / 4)
    }

    fn in_flight(&self) -> u64 {
        self.next_seq - 1 - self.written_seq
    }

    fn push(&mut self, record: AuditRecord) {
        match self.runs.back_mut() {
            Some(run) if run.len() < RUN => run.push(record),
            _ => {
                let mut run = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(RUN));
                run.push(record);
                self.runs.push_back(run);
            }
        }
        self.queued += 1;
    }

    /// Moves the oldest run into `records` (empty; its vector is kept for reuse) and returns
    /// the `seq` of its first record.
    fn take(&mut self, records: &mut Vec<AuditRecord>) -> Option<u64> {
        let run = self.runs.pop_front()?;
        let first = self.front_seq;
        self.front_seq += run.len() as u64;
        self.queued -= run.len();
        self.keep(std::mem::replace(records, run));
        Some(first)
    }

    fn keep(&mut self, run: Vec<AuditRecord>) {
        if run.capacity() > 0 {
            self.spare.push(run);
        }
    }
}

/// Runs between framing and the file: framed runs waiting to be sealed, handed out in
/// `seq` order, and sealed runs waiting to be written, in order.
///
/// Sealing (the hash chain) and writing are each done by one thread at a time, not always
/// the same: a thread that submits a run takes whichever role is free, does its work outside
/// this lock, and gives the role up only when it finds nothing more to do under this lock,
/// so nothing submitted is left behind. The two roles run on different threads at once.
#[derive(Default)]
struct Sequencer {
    framed: Vec<Framed>,
    /// The `seq` of the next record to seal.
    next_seq: u64,
    /// A thread holds the [`Sealer`].
    sealing: bool,
    sealed: VecDeque<Framed>,
    /// The bytes of `sealed`.
    sealed_bytes: usize,
    /// A thread holds the [`Writer`].
    writing: bool,
    spare: Vec<Framed>,
}

impl Sequencer {
    /// Moves the framed runs that come next, in order, into `group`.
    fn take_next(&mut self, group: &mut Vec<Framed>) {
        while let Some(at) = self
            .framed
            .iter()
            .position(|run| run.first_seq == self.next_seq)
        {
            let run = self.framed.swap_remove(at);
            self.next_seq += run.len();
            group.push(run);
        }
    }

    fn keep(&mut self, mut run: Framed) {
        if run.lines.capacity() <= KEPT_BYTES {
            run.lines.clear();
            run.marks.clear();
            self.spare.push(run);
        }
    }
}

/// A run of consecutive records framed as lines, `prev` and `hash` blank until sealed.
#[derive(Default)]
struct Framed {
    first_seq: u64,
    lines: Vec<u8>,
    /// Per line: where its `prev` starts and where the line ends, in `lines`.
    marks: Vec<(usize, usize)>,
    /// Once sealed: the hash of its last line.
    last_hash: Digest256,
}

impl Framed {
    fn len(&self) -> u64 {
        self.marks.len() as u64
    }
}

/// The chain's tip.
struct Sealer {
    prev: Digest256,
    /// The runs being sealed.
    group: Vec<Framed>,
}

impl Sealer {
    /// Fills in `prev` and `hash` of every line of the group, in order.
    fn seal_group(&mut self) {
        for run in &mut self.group {
            let mut start = 0;
            for &(prev_at, end) in &run.marks {
                let line = run.lines.get_mut(start..end).unwrap_or_default();
                self.prev = seal(line, prev_at - start, &self.prev);
                start = end;
            }
            run.last_hash = self.prev;
        }
    }
}

/// The open segment.
struct Writer {
    dir: PathBuf,
    max_segment_bytes: u64,
    number: u64,
    path: PathBuf,
    file: Arc<File>,
    size: u64,
    /// The sealed runs being written.
    group: Vec<Framed>,
}

struct State {
    /// The last record written (not yet necessarily durable), its hash, and its file.
    written: Head,
    file: Arc<File>,
    path: PathBuf,
    /// The last record durable.
    committed: Head,
    failure: Option<String>,
    /// Every worker has stopped: nothing more will be written.
    workers_done: bool,
    workers_left: usize,
    syncer_idle: bool,
}

/// Where the store starts: the open segment and the last record.
pub(crate) struct Start {
    pub(crate) dir: PathBuf,
    pub(crate) number: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) size: u64,
    pub(crate) last: Head,
}

/// How the pipeline runs: [`crate::StoreConfig`]'s settings.
pub(crate) struct Settings {
    pub(crate) capacity: usize,
    pub(crate) workers: usize,
    pub(crate) content: ContentPolicy,
    pub(crate) max_segment_bytes: u64,
    pub(crate) sync_delay: Duration,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("capacity", &self.capacity)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The threads never panic while holding these locks (no user code runs under them).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

impl Pipeline {
    pub(crate) fn new(start: Start, settings: &Settings) -> Pipeline {
        let file = Arc::new(start.file);
        let next_seq = start.last.seq + 1;
        Pipeline {
            queue: Mutex::new(Queue {
                runs: VecDeque::new(),
                queued: 0,
                front_seq: next_seq,
                next_seq,
                written_seq: start.last.seq,
                spare: Vec::new(),
                closed: false,
                waiting_for_room: 0,
                asleep: 0,
                wake_pending: false,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            capacity: settings.capacity,
            workers: settings.workers,
            content: settings.content,
            sequencer: Mutex::new(Sequencer {
                next_seq,
                ..Sequencer::default()
            }),
            sealer: Mutex::new(Sealer {
                prev: start.last.hash,
                group: Vec::new(),
            }),
            writer: Mutex::new(Writer {
                dir: start.dir,
                max_segment_bytes: settings.max_segment_bytes,
                number: start.number,
                path: start.path.clone(),
                file: Arc::clone(&file),
                size: start.size,
                group: Vec::new(),
            }),
            state: Mutex::new(State {
                written: start.last,
                file,
                path: start.path,
                committed: start.last,
                failure: None,
                workers_done: false,
                workers_left: settings.workers,
                syncer_idle: false,
            }),
            written_changed: Condvar::new(),
            committed_changed: Condvar::new(),
            sync_wanted: Condvar::new(),
            sync_delay: settings.sync_delay,
            failed: AtomicBool::new(false),
            syncing: AtomicBool::new(false),
            durable_waiters: AtomicUsize::new(0),
            written_waiters: AtomicUsize::new(0),
            appended: AtomicU64::new(start.last.seq),
        }
    }

    /// Numbers `record` and queues it. When the queue is full, the caller does a worker's
    /// part until there is room (frames the oldest run; seals and writes what waits for a
    /// thread), and sleeps only while others hold all the work. A producer that outruns the
    /// store so adds a thread that processes rather than one that waits, and a producer and
    /// the workers together need no more threads than cores.
    pub(crate) fn append(&self, record: AuditRecord) -> Result<u64, Error> {
        let mut records = Vec::new();
        let mut queue = lock(&self.queue);
        let mut waiting = false;
        let refused = loop {
            if self.failed.load(Ordering::Acquire) || queue.closed {
                break true;
            }
            if queue.in_flight() < self.capacity as u64 {
                break false;
            }
            if !waiting {
                waiting = true;
                queue.waiting_for_room += 1;
            }
            // A backlog: a sleeping worker takes runs too.
            if queue.claim_wake(self, true) {
                self.work.notify_one();
            }
            if let Some(first_seq) = queue.take(&mut records) {
                drop(queue);
                if let Err(error) = self.process(first_seq, &mut records) {
                    self.fail(&error);
                }
            } else {
                drop(queue);
                if let Err(error) = self.drive(None) {
                    self.fail(&error);
                }
            }
            queue = lock(&self.queue);
            let progress_possible = self.failed.load(Ordering::Acquire)
                || queue.closed
                || queue.in_flight() < self.capacity as u64
                || queue.queued > 0;
            if !progress_possible {
                // Everything in flight is with other threads: whoever writes wakes us.
                queue = wait(&self.room, queue);
            }
        };
        if waiting {
            queue.waiting_for_room -= 1;
        }
        if records.capacity() > 0 {
            queue.keep(records);
        }
        if refused {
            drop(queue);
            return Err(if self.failed.load(Ordering::Acquire) {
                self.failure()
            } else {
                Error::Closed
            });
        }
        let seq = queue.next_seq;
        queue.next_seq += 1;
        self.appended.store(seq, Ordering::Release);
        queue.push(record);
        // Awake workers come back for it: wake one if none is, or if a backlog gathers while
        // the awake ones seal or write.
        let cause = queue.asleep == self.workers || queue.backlog(self);
        let wake = queue.claim_wake(self, cause);
        drop(queue);
        if wake {
            self.work.notify_one();
        }
        Ok(seq)
    }

    /// The last record appended.
    pub(crate) fn last_appended(&self) -> u64 {
        lock(&self.queue).next_seq - 1
    }

    /// The last durable record.
    pub(crate) fn committed(&self) -> Head {
        lock(&self.state).committed
    }

    /// Stops taking records: the workers write what is queued, then stop.
    pub(crate) fn close(&self) {
        lock(&self.queue).closed = true;
        self.work.notify_all();
        self.room.notify_all();
    }

    pub(crate) fn fail(&self, error: &Error) {
        let mut state = lock(&self.state);
        state.failure.get_or_insert_with(|| error.to_string());
        self.failed.store(true, Ordering::Release);
        drop(state);
        self.committed_changed.notify_all();
        self.written_changed.notify_all();
        self.sync_wanted.notify_all();
        let _queue = lock(&self.queue);
        self.room.notify_all();
        self.work.notify_all();
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub(crate) fn failure(&self) -> Error {
        Error::Failed(lock(&self.state).failure.clone().unwrap_or_default())
    }

    /// A worker thread: frames runs (and chains them when no one else is) until the store is
    /// closed and drained, or fails.
    pub(crate) fn worker(&self) {
        let mut records = Vec::new();
        while let Some(first_seq) = self.next_run(&mut records) {
            if let Err(error) = self.process(first_seq, &mut records) {
                self.fail(&error);
                break;
            }
        }
        let mut state = lock(&self.state);
        state.workers_left -= 1;
        if state.workers_left == 0 {
            // Whoever chained finished before leaving: everything submitted is written.
            state.workers_done = true;
            drop(state);
            self.sync_wanted.notify_all();
            self.written_changed.notify_all();
        }
    }

    /// Waits until a run should be taken and takes it; `None` once the store is closed and
    /// drained, or failed.
    fn next_run(&self, records: &mut Vec<AuditRecord>) -> Option<u64> {
        let mut queue = lock(&self.queue);
        let mut idle_roles_tried = false;
        loop {
            if self.failed.load(Ordering::Acquire) {
                return None;
            }
            if queue.ready(self) {
                let first = queue.take(records);
                // A backlog: another worker frames the next run meanwhile.
                let cause = queue.backlog(self);
                let wake = queue.claim_wake(self, cause);
                drop(queue);
                if wake {
                    self.work.notify_one();
                }
                return first;
            }
            if queue.closed && queue.queued == 0 {
                return None;
            }
            if !idle_roles_tried {
                // Nothing to frame: seal or write, if that is waiting and no one does it, so
                // that the thread holding one role is not left with both.
                drop(queue);
                if let Err(error) = self.drive(None) {
                    self.fail(&error);
                    return None;
                }
                idle_roles_tried = true;
                queue = lock(&self.queue);
                continue;
            }
            queue.asleep += 1;
            queue = wait(&self.work, queue);
            queue.asleep -= 1;
            queue.wake_pending = false;
            idle_roles_tried = false;
        }
    }

    /// Redacts and frames `records` (numbered from `first_seq`), frees them, and submits the
    /// run to be sealed and written.
    fn process(&self, first_seq: u64, records: &mut Vec<AuditRecord>) -> Result<(), Error> {
        let mut run = lock(&self.sequencer).spare.pop().unwrap_or_default();
        run.first_seq = first_seq;
        // Grown once, not by doubling: a fresh store's runs would otherwise be copied over
        // and over while they reach their size.
        run.lines.reserve(records.len() * LINE_BYTES);
        run.marks.reserve(records.len());
        // In place: moving each record out of the run would copy it once more.
        for (seq, record) in (first_seq..).zip(records.iter_mut()) {
            // Redaction comes first: nothing unredacted is ever framed.
            record.redact(self.content);
            let prev_at = frame(seq, &mut run.lines, |out| record.write_json(out));
            run.marks.push((prev_at, run.lines.len()));
        }
        records.clear();
        self.drive(Some(run))
    }

    /// Submits `run`, then seals and writes for as long as there is sealing or writing to do
    /// and no other thread does it.
    fn drive(&self, mut submit: Option<Framed>) -> Result<(), Error> {
        let mut sealer: Option<MutexGuard<'_, Sealer>> = None;
        let mut writer: Option<MutexGuard<'_, Writer>> = None;
        loop {
            {
                let mut sequencer = lock(&self.sequencer);
                sequencer.framed.extend(submit.take());
                if let Some(held) = sealer.as_mut() {
                    for run in held.group.drain(..) {
                        sequencer.sealed_bytes += run.lines.len();
                        sequencer.sealed.push_back(run);
                    }
                } else if !sequencer.sealing {
                    sequencer.sealing = true;
                    sealer = Some(lock(&self.sealer));
                }
                if let Some(held) = sealer.as_mut() {
                    sequencer.take_next(&mut held.group);
                    if held.group.is_empty() {
                        // Released before the flag, so whoever sets it next finds it free.
                        sealer = None;
                        sequencer.sealing = false;
                    }
                }
                let waited_for = self.written_waiters.load(Ordering::Acquire) > 0;
                if let Some(held) = writer.as_mut() {
                    for run in held.group.drain(..) {
                        sequencer.keep(run);
                    }
                } else if !sequencer.writing && (sealer.is_none() || waited_for) {
                    // The sealer leaves writing to another thread (the two run at once)
                    // until it stops sealing, unless a caller waits.
                    sequencer.writing = true;
                    writer = Some(lock(&self.writer));
                }
                // While a sync runs and records are still coming, gather a big write unless
                // a caller waits. Whoever seals the last record appended finds this true, so
                // nothing sealed is left behind.
                let write_now = !self.syncing.load(Ordering::Acquire)
                    || sequencer.sealed_bytes >= WRITE_BYTES
                    || sequencer.next_seq > self.appended.load(Ordering::Acquire)
                    || waited_for;
                if let Some(held) = writer.as_mut() {
                    if write_now {
                        held.group.extend(sequencer.sealed.drain(..));
                        sequencer.sealed_bytes = 0;
                    }
                    if held.group.is_empty() {
                        writer = None;
                        sequencer.writing = false;
                    }
                }
            }
            if sealer.is_none() && writer.is_none() {
                return Ok(());
            }
            if self.failed.load(Ordering::Acquire) {
                // The store stopped for good: nothing more is written, and the roles held
                // stay taken.
                return Err(self.failure());
            }
            if let Some(held) = sealer.as_mut() {
                held.seal_group();
            }
            if let Some(held) = writer.as_mut() {
                held.write_group(self)?;
            }
        }
    }

    /// Returns once record `seq` is written, framing, sealing and writing queued runs up to
    /// it itself rather than waiting for a worker to be scheduled.
    fn wait_written(&self, seq: u64) -> Result<(), Error> {
        {
            let state = lock(&self.state);
            if state.written.seq.max(state.committed.seq) >= seq {
                return Ok(());
            }
        }
        // Counted before the checks below, so that a writer who misses this caller's check
        // sees the count and wakes it.
        self.written_waiters.fetch_add(1, Ordering::AcqRel);
        let result = self.help_until_written(seq);
        self.written_waiters.fetch_sub(1, Ordering::AcqRel);
        result
    }

    fn help_until_written(&self, seq: u64) -> Result<(), Error> {
        let mut records = Vec::new();
        let result = loop {
            {
                let state = lock(&self.state);
                // `committed` never runs ahead of `written`; at rotation they are equal.
                if state.written.seq.max(state.committed.seq) >= seq {
                    break Ok(());
                }
                if let Some(failure) = &state.failure {
                    break Err(Error::Failed(failure.clone()));
                }
                if state.workers_done {
                    // Closed and drained: a record not written by then was never appended.
                    break Err(Error::Closed);
                }
            }
            let first = {
                let mut queue = lock(&self.queue);
                if queue.front_seq <= seq {
                    queue.take(&mut records)
                } else {
                    None
                }
            };
            if let Some(first_seq) = first {
                if let Err(error) = self.process(first_seq, &mut records) {
                    self.fail(&error);
                    break Err(self.failure());
                }
                continue;
            }
            // Another thread is framing, sealing or writing it: take a role that waits for a
            // thread, if one does, then wait.
            if let Err(error) = self.drive(None) {
                self.fail(&error);
                break Err(self.failure());
            }
            let mut state = lock(&self.state);
            while state.written.seq.max(state.committed.seq) < seq
                && state.failure.is_none()
                && !state.workers_done
            {
                state = wait(&self.written_changed, state);
            }
        };
        if records.capacity() > 0 {
            lock(&self.queue).keep(records);
        }
        result
    }
}

impl Durability for Pipeline {
    fn wait_for(&self, seq: u64, stage: Stage) -> Result<(), Error> {
        if stage == Stage::Durable {
            // Counted first, so that records stop gathering and the syncer stops delaying.
            self.durable_waiters.fetch_add(1, Ordering::AcqRel);
            let result = self
                .wait_written(seq)
                .and_then(|()| self.wait_committed(seq));
            self.durable_waiters.fetch_sub(1, Ordering::AcqRel);
            result
        } else {
            self.wait_written(seq)
        }
    }
}

impl Pipeline {
    fn wait_committed(&self, seq: u64) -> Result<(), Error> {
        let mut state = lock(&self.state);
        if state.committed.seq >= seq {
            return Ok(());
        }
        self.sync_wanted.notify_one();
        loop {
            if state.committed.seq >= seq {
                return Ok(());
            }
            if let Some(failure) = &state.failure {
                return Err(Error::Failed(failure.clone()));
            }
            state = wait(&self.committed_changed, state);
        }
    }

    /// The syncer thread. Group commit: one `fdatasync` for everything written since the
    /// last one.
    pub(crate) fn syncer(&self, mut synced: u64, head_file: &File, head_path: &Path) {
        loop {
            let (target, file, path) = {
                let mut state = lock(&self.state);
                while state.written.seq == synced && !state.workers_done && state.failure.is_none()
                {
                    state.syncer_idle = true;
                    state = wait(&self.sync_wanted, state);
                }
                state.syncer_idle = false;
                if state.failure.is_some() || (state.written.seq == synced && state.workers_done) {
                    return;
                }
                // Let more records gather unless someone waits for them to be durable.
                self.syncing.store(true, Ordering::Release);
                let deadline = Instant::now() + self.sync_delay;
                while self.durable_waiters.load(Ordering::Acquire) == 0
                    && !state.workers_done
                    && state.failure.is_none()
                {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    if left.is_zero() {
                        break;
                    }
                    state = self
                        .sync_wanted
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if state.failure.is_some() {
                    return;
                }
                (state.written, Arc::clone(&state.file), state.path.clone())
            };
            let synced_data = file.sync_data();
            self.syncing.store(false, Ordering::Release);
            {
                // Records that gathered during the sync go now.
                let mut queue = lock(&self.queue);
                let cause = queue.asleep == self.workers;
                if queue.claim_wake(self, cause) {
                    drop(queue);
                    self.work.notify_one();
                }
            }
            if let Err(error) = synced_data {
                self.fail(&Error::io(path, "fdatasync", error));
                return;
            }
            // The head may name a durable record only, so it is written after the sync; and
            // before the receipts wake, so that whoever sees a record durable sees it
            // anchored.
            if let Err(error) = target.write(head_file) {
                self.fail(&Error::io(head_path, "write", error));
                return;
            }
            {
                let mut state = lock(&self.state);
                if target.seq > state.committed.seq {
                    state.committed = target;
                }
            }
            self.committed_changed.notify_all();
            synced = target.seq;
        }
    }
}

impl Writer {
    /// Writes the group with one `write`, and rotates the segment when it is full.
    fn write_group(&mut self, pipeline: &Pipeline) -> Result<(), Error> {
        let Some(last) = self.group.last() else {
            return Ok(());
        };
        let written = Head {
            seq: last.first_seq + last.len() - 1,
            hash: last.last_hash,
        };
        let mut slices: Vec<IoSlice<'_>> = self
            .group
            .iter()
            .map(|run| IoSlice::new(&run.lines))
            .collect();
        let bytes: usize = self.group.iter().map(|run| run.lines.len()).sum();
        write_all(&self.file, &mut slices)
            .map_err(|error| Error::io(&self.path, "write", error))?;
        self.size += bytes as u64;
        {
            let mut state = lock(&pipeline.state);
            state.written = written;
            if state.syncer_idle {
                // A sync starts now: records gather from here on, not once the syncer runs.
                pipeline.syncing.store(true, Ordering::Release);
                pipeline.sync_wanted.notify_one();
            }
            if pipeline.written_waiters.load(Ordering::Acquire) > 0 {
                pipeline.written_changed.notify_all();
            }
        }
        {
            let mut queue = lock(&pipeline.queue);
            queue.written_seq = written.seq;
            // Callers waiting for room go once a quarter of it is free, not one by one.
            let wake = queue.waiting_for_room > 0
                && queue.in_flight() <= (pipeline.capacity - (pipeline.capacity / 4).max(1)) as u64;
            drop(queue);
            if wake {
                pipeline.room.notify_all();
            }
        }
        if self.size >= self.max_segment_bytes {
            self.rotate(pipeline, written)?;
        }
        Ok(())
    }

    /// Makes the full segment durable, then starts the next one; the chain goes on.
    fn rotate(&mut self, pipeline: &Pipeline, written: Head) -> Result<(), Error> {
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
            let mut state = lock(&pipeline.state);
            if written.seq > state.committed.seq {
                state.committed = written;
            }
            state.file = Arc::clone(&file);
            state.path = path.clone();
        }
        pipeline.committed_changed.notify_all();
        (self.number, self.path, self.file, self.size) = (number, path, file, 0);
        Ok(())
    }
}

/// `write_all` for several buffers: one `writev` unless the kernel takes less.
fn write_all(mut file: &File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
