//! The crate's one error type. Messages name what was wrong and where; none carries record
//! content beyond a sequence number, a file and a byte offset.

use std::path::PathBuf;

/// What went wrong in a sink, the store, the verifier, the search or a parser.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on the store failed. The store stops accepting records: after a
    /// failed write or `fdatasync` nothing can be promised about data still in the page cache.
    #[error("audit store `{path}`: {operation}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`write`, `fdatasync`, `open`, ...).
        operation: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed earlier and accepts no more records; the message is the first failure.
    #[error("audit store failed earlier and accepts no records: {0}")]
    Failed(String),
    /// The store was closed.
    #[error("audit store is closed")]
    Closed,
    /// Another writer holds the store directory.
    #[error("audit store `{0}` is locked by another writer")]
    Locked(PathBuf),
    /// A line of the store is not a valid record line.
    #[error("audit store `{path}` byte {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// The byte offset of the line in that file.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A timestamp is not `YYYY-MM-DDTHH:MM:SS.sssZ` (or, where dates are allowed, `YYYY-MM-DD`).
    #[error("timestamp `{text}`: {reason}")]
    Timestamp {
        /// The text, cut to 40 characters.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A search query is not valid.
    #[error("search query: {0}")]
    Query(String),
    /// A record cannot be expressed as an AuditEvent.
    #[error("auditevent: {0}")]
    AuditEvent(String),
}

impl Error {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        operation: &'static str,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            path: path.into(),
            operation,
            source,
        }
    }

    pub(crate) fn timestamp(text: &str, reason: &'static str) -> Self {
        Error::Timestamp {
            text: text.chars().take(40).collect(),
            reason,
        }
    }
}
