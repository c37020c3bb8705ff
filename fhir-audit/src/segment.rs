//! The store's files: numbered segments `audit-00000001.jsonl`, ... (rotation by size keeps
//! one chain across them) and `head.json`, the last committed record's number and hash.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use crate::{Digest256, Error};

/// The segment files of `dir`, ordered by number.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    let entries =
        std::fs::read_dir(dir).map_err(|error| Error::io(dir, "read directory", error))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| Error::io(dir, "read directory", error))?;
        let name = entry.file_name();
        let Some(number) = name.to_str().and_then(number_of) else {
            continue;
        };
        segments.push((number, entry.path()));
    }
    segments.sort_unstable();
    Ok(segments)
}

/// The number in a segment's file name, for names this store writes.
fn number_of(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    (digits.len() >= 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())?
}

/// The path of segment `number`.
pub(crate) fn path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("audit-{number:08}.jsonl"))
}

/// Makes a directory entry (a new or renamed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| Error::io(dir, "fsync directory", error))
}

/// The last committed record as `head.json` records it: an anchor that shows a cut tail.
///
/// Rewritten in place after every group commit, without an `fsync` of its own: after a crash
/// it may lag behind the segments, never run ahead of them. Copy it somewhere the store's
/// writer cannot reach (a log shipper, a signed timestamp) to make truncation provable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The sequence number of the last committed record.
    pub seq: u64,
    /// Its hash.
    pub hash: Digest256,
}

/// `head.json` is always this long, so rewriting it in place never leaves old bytes behind.
const HEAD_LEN: usize = 127;

impl Head {
    /// The file name inside the store's directory.
    pub const FILE: &'static str = "head.json";

    pub(crate) fn write(&self, file: &File) -> std::io::Result<()> {
        let mut text = format!("{{\"seq\":{},\"hash\":\"{}\"}}", self.seq, self.hash);
        while text.len() < HEAD_LEN {
            text.push(' ');
        }
        text.push('\n');
        file.write_all_at(text.as_bytes(), 0)
    }

    /// Reads `head.json` of `dir`: `None` when there is none yet.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when it exists but is not a head.
    pub fn read(dir: &Path) -> Result<Option<Head>, Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Text {
            seq: u64,
            hash: String,
        }
        let path = dir.join(Head::FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(Error::io(path, "read", error)),
        };
        let corrupt = |reason: String| Error::Corrupt {
            path: path.clone(),
            offset: 0,
            reason,
        };
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(None);
        }
        let text: Text =
            serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
        let hash = text
            .hash
            .parse()
            .map_err(|error: crate::LineError| corrupt(error.to_string()))?;
        Ok(Some(Head {
            seq: text.seq,
            hash,
        }))
    }
}

/// Writes `bytes` to a new file at `path` and makes it durable.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|error| Error::io(path, "create", error))?;
    file.write_all(bytes)
        .map_err(|error| Error::io(path, "write", error))?;
    file.sync_all()
        .map_err(|error| Error::io(path, "fsync", error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        assert_eq!(number_of("audit-00000012.jsonl"), Some(12));
        assert_eq!(number_of("audit-123456789.jsonl"), Some(123_456_789));
        for other in [
            "audit-12.jsonl",
            "audit-0000001x.jsonl",
            "audit-00000001.jsonl.torn",
            "head.json",
            "audit-00000001.idx",
        ] {
            assert_eq!(number_of(other), None, "{other}");
        }
        assert_eq!(path(Path::new("d"), 3), Path::new("d/audit-00000003.jsonl"));
    }
}
