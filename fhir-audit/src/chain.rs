//! The hash chain and the store's line format.
//!
//! Each stored record is one line:
//! `{"seq":N,"prev":"<hex>","record":{...},"hash":"<hex>"}` and a newline, where `prev` is the
//! previous line's `hash` (64 zeros before the first record) and `hash` is the SHA-256 of the
//! line's bytes up to, not including, `,"hash":"`. Changing any byte of a record changes its
//! hash; removing, inserting or moving a record breaks `seq` or `prev` of the next one.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::AuditRecord;
use crate::json::write_u64;

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Digest256(pub [u8; 32]);

impl Digest256 {
    /// The `prev` of the first record: 32 zero bytes.
    pub const GENESIS: Digest256 = Digest256([0; 32]);

    /// Writes the 64 hex digits into `out`, which is 64 bytes long.
    fn hex_into(&self, out: &mut [u8]) {
        /// Both digits of every byte: one lookup per byte, twice per line in the chain.
        #[expect(
            clippy::indexing_slicing,
            reason = "byte < 256, so byte >> 4 and byte & 15 are below 16: in bounds"
        )]
        const fn pairs() -> [[u8; 2]; 256] {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut pairs = [[0_u8; 2]; 256];
            let mut byte = 0;
            while byte < 256 {
                pairs[byte] = [HEX[byte >> 4], HEX[byte & 15]];
                byte += 1;
            }
            pairs
        }
        static PAIRS: [[u8; 2]; 256] = pairs();
        for (pair, &byte) in out.chunks_exact_mut(2).zip(&self.0) {
            pair.copy_from_slice(PAIRS.get(usize::from(byte)).unwrap_or(&[b'0'; 2]));
        }
    }

    fn parse_hex(hex: &[u8]) -> Option<Digest256> {
        if hex.len() != 64 {
            return None;
        }
        let mut digest = [0_u8; 32];
        for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
            let nibble = |b: u8| match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                _ => None,
            };
            let [high, low] = pair else { return None };
            *byte = nibble(*high)? << 4 | nibble(*low)?;
        }
        Some(Digest256(digest))
    }
}

impl fmt::Display for Digest256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0_u8; 64];
        self.hex_into(&mut out);
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for Digest256 {
    type Err = LineError;

    fn from_str(text: &str) -> Result<Self, LineError> {
        Digest256::parse_hex(text.as_bytes())
            .ok_or(LineError::Malformed("expected 64 lowercase hex digits"))
    }
}

/// One line of the store: a record with its place in the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    /// Its sequence number, from 1, without gaps across the store's files.
    pub seq: u64,
    /// The previous record's hash.
    pub prev: Digest256,
    /// This line's hash.
    pub hash: Digest256,
    /// The record.
    pub record: AuditRecord,
}

/// Why a line is not a valid record line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not in the store's line format.
    #[error("not a record line: {0}")]
    Malformed(&'static str),
    /// The record inside is not a valid record (schema 1).
    #[error("invalid record: {0}")]
    Record(String),
    /// The line's bytes do not hash to its `hash`: it was modified.
    #[error("hash does not match the line's content (the record was modified)")]
    HashMismatch,
}

const PREFIX: &[u8] = b"{\"seq\":";
const PREV: &[u8] = b",\"prev\":\"";
const RECORD: &[u8] = b"\",\"record\":";
const HASH: &[u8] = b",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = HASH.len() + 64 + 2;

impl StoredRecord {
    /// Parses and checks one line (without its newline): the format, the record's schema, and
    /// that the line hashes to its `hash`. Linking to the previous line is the caller's part.
    ///
    /// # Errors
    /// [`LineError`] saying what is wrong; never a panic, whatever the bytes.
    pub fn parse_line(line: &[u8]) -> Result<StoredRecord, LineError> {
        let (seq, prev, record_json, hash) = split_line(line)?;
        let hashed = line
            .get(..line.len() - SUFFIX_LEN)
            .ok_or(LineError::Malformed("too short"))?;
        if Digest256(Sha256::digest(hashed).into()) != hash {
            return Err(LineError::HashMismatch);
        }
        let record = serde_json::from_slice(record_json)
            .map_err(|error| LineError::Record(error.to_string()))?;
        Ok(StoredRecord {
            seq,
            prev,
            hash,
            record,
        })
    }

    /// The line for this record (with its newline) exactly as the store writes it, whatever
    /// `hash` says: the hash is recomputed.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_line(self.seq, &self.prev, &self.record, &mut out);
        out
    }
}

/// Splits a line into `seq`, `prev`, the record's JSON bytes and `hash`, checking the frame.
fn split_line(line: &[u8]) -> Result<(u64, Digest256, &[u8], Digest256), LineError> {
    let rest = line
        .strip_prefix(PREFIX)
        .ok_or(LineError::Malformed("expected `{\"seq\":`"))?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (seq_text, rest) = rest
        .split_at_checked(digits)
        .ok_or(LineError::Malformed("bad seq"))?;
    if seq_text.is_empty() || (seq_text.len() > 1 && seq_text.first() == Some(&b'0')) {
        return Err(LineError::Malformed(
            "seq must be a number without leading zeros",
        ));
    }
    let seq = std::str::from_utf8(seq_text)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .filter(|&seq| seq > 0)
        .ok_or(LineError::Malformed("seq must be between 1 and 2^64-1"))?;
    let rest = rest
        .strip_prefix(PREV)
        .ok_or(LineError::Malformed("expected `,\"prev\":\"`"))?;
    let (prev_hex, rest) = rest
        .split_at_checked(64)
        .ok_or(LineError::Malformed("prev too short"))?;
    let prev = Digest256::parse_hex(prev_hex)
        .ok_or(LineError::Malformed("prev must be 64 lowercase hex digits"))?;
    let rest = rest
        .strip_prefix(RECORD)
        .ok_or(LineError::Malformed("expected `\",\"record\":`"))?;
    let (record, suffix) = rest
        .split_at_checked(
            rest.len()
                .checked_sub(SUFFIX_LEN)
                .ok_or(LineError::Malformed("too short"))?,
        )
        .ok_or(LineError::Malformed("too short"))?;
    let hash_hex = suffix
        .strip_prefix(HASH)
        .and_then(|rest| rest.strip_suffix(b"\"}"))
        .ok_or(LineError::Malformed(
            "expected `,\"hash\":\"<hex>\"}` at the end",
        ))?;
    let hash = Digest256::parse_hex(hash_hex)
        .ok_or(LineError::Malformed("hash must be 64 lowercase hex digits"))?;
    Ok((seq, prev, record, hash))
}

/// Appends the line for `record` (with its newline) to `out` and returns its hash.
pub(crate) fn encode_line(
    seq: u64,
    prev: &Digest256,
    record: &AuditRecord,
    out: &mut Vec<u8>,
) -> Digest256 {
    let start = out.len();
    let prev_at = frame(seq, out, |out| record.write_json(out)) - start;
    seal(out.get_mut(start..).unwrap_or_default(), prev_at, prev)
}

/// Appends record `seq`'s line (with its newline) to `out`, its `prev` and `hash` left as
/// zeros, and returns where `prev` starts in `out`. Framing needs no other record, so the
/// store's threads frame in parallel; [`seal`] then fills in the chain, in order.
pub(crate) fn frame(seq: u64, out: &mut Vec<u8>, record: impl FnOnce(&mut Vec<u8>)) -> usize {
    out.extend_from_slice(PREFIX);
    write_u64(out, seq);
    out.extend_from_slice(PREV);
    let prev_at = out.len();
    out.extend_from_slice(&[b'0'; 64]);
    out.extend_from_slice(RECORD);
    record(out);
    out.extend_from_slice(HASH);
    out.extend_from_slice(&[b'0'; 64]);
    out.extend_from_slice(b"\"}\n");
    prev_at
}

/// Completes a [`frame`]d `line` (from its first byte through its newline, its `prev` at
/// `prev_at`): writes `prev`, hashes the line up to `,"hash":"`, writes the hash and
/// returns it.
pub(crate) fn seal(line: &mut [u8], prev_at: usize, prev: &Digest256) -> Digest256 {
    if let Some(slot) = line.get_mut(prev_at..prev_at + 64) {
        prev.hex_into(slot);
    }
    let hashed = line.len().saturating_sub(1 + SUFFIX_LEN);
    let hash = Digest256(Sha256::digest(line.get(..hashed).unwrap_or_default()).into());
    let at = hashed + HASH.len();
    if let Some(slot) = line.get_mut(at..at + 64) {
        hash.hex_into(slot);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decision, Interaction, Timestamp};

    #[test]
    fn line_round_trip_and_exact_form() {
        let record = AuditRecord::new(
            Timestamp::from_millis(0).unwrap(),
            Interaction::Read,
            Decision::Permitted,
            200,
            "s",
        );
        let mut line = Vec::new();
        let hash = encode_line(1, &Digest256::GENESIS, &record, &mut line);
        let text = String::from_utf8(line.clone()).unwrap();
        let zeros = "0".repeat(64);
        assert_eq!(
            text,
            format!(
                "{{\"seq\":1,\"prev\":\"{zeros}\",\"record\":{{\"time\":\"1970-01-01T00:00:00.000Z\",\"action\":{{\"interaction\":\"read\"}},\"outcome\":{{\"decision\":\"permitted\",\"status\":200}},\"origin\":{{\"server_id\":\"s\"}}}},\"hash\":\"{hash}\"}}\n"
            )
        );
        let parsed = StoredRecord::parse_line(line.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(
            parsed,
            StoredRecord {
                seq: 1,
                prev: Digest256::GENESIS,
                hash,
                record
            }
        );
        assert_eq!(parsed.to_line(), line);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["hash"], serde_json::json!(hash.to_string()));
    }

    #[test]
    fn bad_lines_are_typed_errors() {
        let record = AuditRecord::new(
            Timestamp::from_millis(0).unwrap(),
            Interaction::Read,
            Decision::Permitted,
            200,
            "s",
        );
        let mut line = Vec::new();
        encode_line(7, &Digest256::GENESIS, &record, &mut line);
        line.pop();
        let modified = String::from_utf8(line.clone())
            .unwrap()
            .replace("permitted", "denied\"\"");
        let cases: Vec<(Vec<u8>, LineError)> = vec![
            (b"".to_vec(), LineError::Malformed("expected `{\"seq\":`")),
            (
                b"{\"seq\":01".to_vec(),
                LineError::Malformed("seq must be a number without leading zeros"),
            ),
            (
                b"{\"seq\":0,\"prev\":\"".to_vec(),
                LineError::Malformed("seq must be between 1 and 2^64-1"),
            ),
            (
                b"{\"seq\":99999999999999999999".to_vec(),
                LineError::Malformed("seq must be between 1 and 2^64-1"),
            ),
            (
                b"{\"seq\":1,\"prev\":\"00\"".to_vec(),
                LineError::Malformed("prev too short"),
            ),
            (
                line.get(..line.len() - 1).unwrap().to_vec(),
                LineError::Malformed("expected `,\"hash\":\"<hex>\"}` at the end"),
            ),
            (modified.into_bytes(), LineError::HashMismatch),
        ];
        for (bytes, expected) in cases {
            assert_eq!(StoredRecord::parse_line(&bytes).unwrap_err(), expected);
        }
    }
}
