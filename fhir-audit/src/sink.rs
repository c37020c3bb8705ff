//! Where records go: the [`Sink`] trait, its [`Receipt`], and the in-memory and fan-out
//! sinks. The file store lives in `store.rs`.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{AuditRecord, ContentPolicy, Error};

/// A destination for audit records.
///
/// `append` accepts a record without waiting for storage; the returned [`Receipt`] waits
/// until the record is durable. A server that must not answer before its audit record is
/// safe waits on the receipt; either way an error means the request fails closed. A sink
/// never drops a record silently: it returns an error instead.
pub trait Sink: Send + Sync + fmt::Debug {
    /// Takes one record.
    ///
    /// # Errors
    /// The sink failed, is closed, or cannot take the record; the request should fail.
    fn append(&self, record: AuditRecord) -> Result<Receipt<'_>, Error>;
}

/// Proof that a sink took a record, and a way to wait until it is durable.
#[derive(Debug)]
#[must_use = "a receipt says whether the record was stored: wait on it, or drop it knowingly"]
pub struct Receipt<'a>(Inner<'a>);

enum Inner<'a> {
    Stored {
        seq: Option<u64>,
    },
    Pending {
        seq: u64,
        durability: &'a dyn Durability,
    },
    All(Vec<Receipt<'a>>),
}

/// How a receipt waits: implemented by the file store.
pub(crate) trait Durability: Send + Sync {
    /// Blocks until record `seq` has reached `stage`, or the store failed before it did.
    fn wait_for(&self, seq: u64, stage: Stage) -> Result<(), Error>;
}

/// How far [`Receipt::wait_until`] waits for a record to go.
///
/// Every stage keeps the store's other guarantees: the record is numbered and chained in
/// order, and an error means it may not be stored (the request fails closed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Written to the store's file and chained: the operating system has the bytes. The
    /// record survives the process being killed or crashing. A power loss or kernel crash
    /// before the group commit already under way (one `fdatasync`, typically a millisecond)
    /// can lose it, and an `fdatasync` that fails after this point stops the store for all
    /// later records instead of failing this one.
    Written,
    /// Made durable with `fdatasync`: the record survives a power loss too. The default.
    #[default]
    Durable,
}

impl<'a> Receipt<'a> {
    /// A receipt for a record already durable (a sink that stores synchronously).
    pub fn stored(seq: Option<u64>) -> Self {
        Receipt(Inner::Stored { seq })
    }

    pub(crate) fn pending(seq: u64, durability: &'a dyn Durability) -> Self {
        Receipt(Inner::Pending { seq, durability })
    }

    /// The record's sequence number in its store, where the sink numbers records (for a
    /// fan-out, the first sink that does).
    pub fn seq(&self) -> Option<u64> {
        match &self.0 {
            Inner::Stored { seq } => *seq,
            Inner::Pending { seq, .. } => Some(*seq),
            Inner::All(receipts) => receipts.iter().find_map(Receipt::seq),
        }
    }

    /// Waits until the record is durable in every sink that took it:
    /// `wait_until(Stage::Durable)`.
    ///
    /// # Errors
    /// A sink failed before the record was durable.
    pub fn wait(self) -> Result<(), Error> {
        self.wait_until(Stage::Durable)
    }

    /// Waits until the record has reached `stage` in every sink that took it. Sinks that
    /// store synchronously (in memory) have reached every stage when `append` returns.
    ///
    /// # Errors
    /// A sink failed before the record reached `stage`.
    pub fn wait_until(self, stage: Stage) -> Result<(), Error> {
        match self.0 {
            Inner::Stored { .. } => Ok(()),
            Inner::Pending { seq, durability } => durability.wait_for(seq, stage),
            Inner::All(receipts) => receipts
                .into_iter()
                .try_for_each(|receipt| receipt.wait_until(stage)),
        }
    }
}

impl fmt::Debug for Inner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inner::Stored { seq } => f.debug_struct("Stored").field("seq", seq).finish(),
            Inner::Pending { seq, .. } => f.debug_struct("Pending").field("seq", seq).finish(),
            Inner::All(receipts) => f.debug_tuple("All").field(receipts).finish(),
        }
    }
}

/// An in-memory sink, for tests and for servers that ship records elsewhere themselves.
///
/// ```
/// use fhir_audit::{AuditRecord, Decision, Interaction, MemorySink, Sink, Timestamp};
/// let sink = MemorySink::default();
/// let record = AuditRecord::new(Timestamp::now(), Interaction::Read, Decision::Denied, 403, "fhir-1");
/// let receipt = sink.append(record.clone())?;
/// assert_eq!(receipt.seq(), Some(1));
/// receipt.wait()?;
/// assert_eq!(sink.records(), vec![record]);
/// # Ok::<(), fhir_audit::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct MemorySink {
    policy: ContentPolicy,
    records: Mutex<Vec<AuditRecord>>,
}

impl MemorySink {
    /// An empty sink applying `policy` to content.
    pub fn new(policy: ContentPolicy) -> Self {
        MemorySink {
            policy,
            records: Mutex::new(Vec::new()),
        }
    }

    /// A copy of the records so far, in order.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many records the sink holds.
    pub fn len(&self) -> usize {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the sink holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sink for MemorySink {
    fn append(&self, mut record: AuditRecord) -> Result<Receipt<'_>, Error> {
        record.redact(self.policy);
        // A panic elsewhere while holding the lock left the vector whole: keep recording.
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records.push(record);
        Ok(Receipt::stored(u64::try_from(records.len()).ok()))
    }
}

/// Sends every record to several sinks (a local file store and a central collector, say).
///
/// Not atomic: when one sink fails, the others may have taken the record; the error is
/// returned all the same, so the request fails closed.
///
/// ```
/// use std::sync::Arc;
/// use fhir_audit::{AuditRecord, Decision, FanOut, Interaction, MemorySink, Sink, Timestamp};
/// let (a, b) = (Arc::new(MemorySink::default()), Arc::new(MemorySink::default()));
/// let fan_out = FanOut::new(vec![a.clone() as Arc<dyn Sink>, b.clone()]);
/// fan_out.append(AuditRecord::new(Timestamp::now(), Interaction::Read, Decision::Permitted, 200, "s"))?.wait()?;
/// assert_eq!((a.len(), b.len()), (1, 1));
/// # Ok::<(), fhir_audit::Error>(())
/// ```
#[derive(Debug)]
pub struct FanOut {
    sinks: Vec<Arc<dyn Sink>>,
}

impl FanOut {
    /// A sink that appends to each of `sinks`, in order.
    pub fn new(sinks: Vec<Arc<dyn Sink>>) -> Self {
        FanOut { sinks }
    }
}

impl Sink for FanOut {
    fn append(&self, record: AuditRecord) -> Result<Receipt<'_>, Error> {
        let mut receipts = Vec::with_capacity(self.sinks.len());
        if let Some((last, rest)) = self.sinks.split_last() {
            for sink in rest {
                receipts.push(sink.append(record.clone())?);
            }
            receipts.push(last.append(record)?);
        }
        Ok(Receipt(Inner::All(receipts)))
    }
}
