//! The verifier: walks every segment in order and reports the first place where the chain
//! breaks, whatever broke it (a modified, deleted, inserted or reordered record, a torn or
//! cut tail).

use std::fmt;
use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};

use crate::segment::{self, Head};
use crate::{Digest256, Error, LineError, StoredRecord};

/// The verifier's finding on a whole store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Complete, valid records before the first break (all of them when intact).
    pub records: u64,
    /// Segment files read.
    pub segments: usize,
    /// The last valid record's number and hash.
    pub last: Head,
    /// `head.json`, when present.
    pub head: Option<Head>,
    /// The first break, if any.
    pub first_break: Option<ChainBreak>,
}

impl Verification {
    /// Whether the whole chain verified, up to and including the head.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Where the chain breaks first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The record number the chain expected at that place.
    pub seq: u64,
    /// The segment file.
    pub segment: PathBuf,
    /// The byte offset of the offending line in it.
    pub offset: u64,
    /// What is wrong.
    pub problem: Problem,
}

/// What breaks a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The line is not a valid record line, or its content does not match its hash.
    Invalid(LineError),
    /// A line with another number stands where record `seq` belongs: records were deleted,
    /// inserted or reordered.
    Sequence {
        /// The number found.
        found: u64,
    },
    /// The record does not name the previous record's hash: the previous one was replaced
    /// (and rehashed), or this one was forged.
    Link,
    /// The last segment ends in a line without its newline (a crash cut a write).
    TornTail {
        /// Bytes after the last complete line.
        bytes: u64,
    },
    /// `head.json` names a record after the last one: records were cut from the end.
    Truncated {
        /// The number `head.json` names.
        head_seq: u64,
    },
    /// The record `head.json` names has another hash: the tail was rewritten.
    HeadMismatch,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = format!(
            "record {} (`{}` byte {})",
            self.seq,
            self.segment.display(),
            self.offset
        );
        match &self.problem {
            Problem::Invalid(error) => write!(f, "{at}: {error}"),
            Problem::Sequence { found } => {
                write!(
                    f,
                    "{at}: found record {found} instead (records deleted, inserted or reordered)"
                )
            }
            Problem::Link => write!(
                f,
                "{at}: does not follow the hash of record {}",
                self.seq.saturating_sub(1)
            ),
            Problem::TornTail { bytes } => {
                write!(f, "{at}: torn tail of {bytes} bytes without a newline")
            }
            Problem::Truncated { head_seq } => {
                write!(
                    f,
                    "{at}: missing; head.json names record {head_seq} (records cut from the end)"
                )
            }
            Problem::HeadMismatch => write!(
                f,
                "{at}: hash differs from head.json (the tail was rewritten)"
            ),
        }
    }
}

/// Verifies the store in `dir`.
///
/// # Errors
/// [`Error::Io`] when a file cannot be read, [`Error::Corrupt`] when `head.json` is not a
/// head. A broken chain is not an error: it is the [`Verification`]'s `first_break`.
pub fn verify(dir: impl AsRef<Path>) -> Result<Verification, Error> {
    let dir = dir.as_ref();
    let head = Head::read(dir)?;
    let segments = segment::list(dir)?;
    let mut verification = Verification {
        records: 0,
        segments: 0,
        last: Head {
            seq: 0,
            hash: Digest256::GENESIS,
        },
        head,
        first_break: None,
    };
    let mut last_segment = dir.to_owned();
    let mut end_offset = 0;
    for (index, (_, path)) in segments.iter().enumerate() {
        verification.segments += 1;
        let is_last = index + 1 == segments.len();
        let file = File::open(path).map_err(|error| Error::io(path, "open", error))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let mut offset = 0_u64;
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|error| Error::io(path, "read", error))?;
            if read == 0 {
                break;
            }
            let seq = verification.last.seq + 1;
            let at = |problem| ChainBreak {
                seq,
                segment: path.clone(),
                offset,
                problem,
            };
            let Some(body) = line.strip_suffix(b"\n") else {
                let problem = if is_last {
                    Problem::TornTail { bytes: read as u64 }
                } else {
                    Problem::Invalid(LineError::Malformed(
                        "line without a newline before the last segment",
                    ))
                };
                verification.first_break = Some(at(problem));
                return Ok(verification);
            };
            let problem = match StoredRecord::parse_line(body) {
                Err(error) => Some(Problem::Invalid(error)),
                Ok(stored) if stored.seq != seq => Some(Problem::Sequence { found: stored.seq }),
                Ok(stored) if stored.prev != verification.last.hash => Some(Problem::Link),
                Ok(stored)
                    if head.is_some_and(|h| h.seq == stored.seq && h.hash != stored.hash) =>
                {
                    Some(Problem::HeadMismatch)
                }
                Ok(stored) => {
                    verification.last = Head {
                        seq: stored.seq,
                        hash: stored.hash,
                    };
                    verification.records += 1;
                    None
                }
            };
            if let Some(problem) = problem {
                verification.first_break = Some(at(problem));
                return Ok(verification);
            }
            offset += read as u64;
        }
        last_segment.clone_from(path);
        end_offset = offset;
    }
    if let Some(head) = head
        && head.seq > verification.last.seq
    {
        verification.first_break = Some(ChainBreak {
            seq: verification.last.seq + 1,
            segment: last_segment,
            offset: end_offset,
            problem: Problem::Truncated { head_seq: head.seq },
        });
    }
    Ok(verification)
}
