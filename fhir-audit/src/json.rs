//! The record's JSON writer: the same bytes as `serde_json::to_writer` of the derived
//! `Serialize` (a property test holds the two together), written straight into a reused
//! buffer with a word-at-a-time string escaper, because it runs once per audited request.

use crate::record::{Action, AuditRecord, Origin, Outcome};

impl AuditRecord {
    /// Appends the record's JSON (schema 1) to `out`: byte for byte what `serde_json` writes
    /// for it, faster.
    ///
    /// ```
    /// use fhir_audit::{AuditRecord, Decision, Interaction, Timestamp};
    /// let record = AuditRecord::new(Timestamp::from_millis(0)?, Interaction::Delete, Decision::Denied, 403, "s");
    /// let mut out = Vec::new();
    /// record.write_json(&mut out);
    /// assert_eq!(out, serde_json::to_vec(&record)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time\":\"");
        self.time.write_to(out);
        out.push(b'"');
        if let Some(user) = &self.user {
            out.extend_from_slice(b",\"user\":{\"id\":");
            write_str(out, &user.id);
            optional(out, b",\"fhir_user\":", user.fhir_user.as_deref());
            list(out, b",\"roles\":", &user.roles);
            out.push(b'}');
        }
        if let Some(client) = &self.client {
            out.extend_from_slice(b",\"client\":{\"id\":");
            write_str(out, &client.id);
            out.extend_from_slice(match client.kind {
                crate::ClientKind::Public => b",\"type\":\"public\"}",
                crate::ClientKind::Confidential => b",\"type\":\"confidential\"}",
            });
        }
        optional(out, b",\"on_behalf_of\":", self.on_behalf_of.as_deref());
        write_action(out, &self.action);
        list(out, b",\"patients\":", &self.patients);
        write_outcome(out, &self.outcome);
        write_origin(out, &self.origin);
        list(out, b",\"purpose_of_use\":", &self.purpose_of_use);
        if let Some(break_glass) = &self.break_glass {
            out.extend_from_slice(b",\"break_glass\":{\"reason\":");
            write_str(out, &break_glass.reason);
            out.push(b'}');
        }
        optional(out, b",\"token_jti\":", self.token_jti.as_deref());
        if let Some(content) = &self.content {
            out.extend_from_slice(b",\"content\":");
            // INVARIANT: a `Value` always serialises (string keys, finite numbers) and a
            // `Vec` never fails to grow short of aborting, so this error cannot happen.
            if serde_json::to_writer(&mut *out, content).is_err() {
                out.extend_from_slice(b"null");
            }
        }
        out.push(b'}');
    }
}

fn write_action(out: &mut Vec<u8>, action: &Action) {
    out.extend_from_slice(b",\"action\":{\"interaction\":\"");
    out.extend_from_slice(action.interaction.code().as_bytes());
    out.push(b'"');
    optional(out, b",\"resource_type\":", action.resource_type.as_deref());
    optional(out, b",\"resource_id\":", action.resource_id.as_deref());
    optional(out, b",\"version_id\":", action.version_id.as_deref());
    optional(out, b",\"query\":", action.query.as_deref());
    optional(out, b",\"operation\":", action.operation.as_deref());
    out.push(b'}');
}

fn write_outcome(out: &mut Vec<u8>, outcome: &Outcome) {
    out.extend_from_slice(b",\"outcome\":{\"decision\":\"");
    out.extend_from_slice(outcome.decision.code().as_bytes());
    out.extend_from_slice(b"\",\"status\":");
    write_u64(out, u64::from(outcome.status));
    list(out, b",\"rules\":", &outcome.rules);
    optional(out, b",\"reason\":", outcome.reason.as_deref());
    out.push(b'}');
}

fn write_origin(out: &mut Vec<u8>, origin: &Origin) {
    out.extend_from_slice(b",\"origin\":{\"server_id\":");
    write_str(out, &origin.server_id);
    optional(out, b",\"client_ip\":", origin.client_ip.as_deref());
    optional(out, b",\"request_id\":", origin.request_id.as_deref());
    out.push(b'}');
}

fn optional(out: &mut Vec<u8>, key: &[u8], value: Option<&str>) {
    if let Some(value) = value {
        out.extend_from_slice(key);
        write_str(out, value);
    }
}

fn list(out: &mut Vec<u8>, key: &[u8], values: &[compact_str::CompactString]) {
    let mut values = values.iter();
    let Some(first) = values.next() else { return };
    out.extend_from_slice(key);
    out.push(b'[');
    write_str(out, first);
    for value in values {
        out.push(b',');
        write_str(out, value);
    }
    out.push(b']');
}

/// Decimal digits of `value`.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0_u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        // `value % 10` is below 10, so the cast keeps it whole.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
        start -= 1;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `word` is a control character, `"` or `\`.
fn needs_escape(word: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    (control
        | has_zero(word ^ (ONES * u64::from(b'"')))
        | has_zero(word ^ (ONES * u64::from(b'\\'))))
        != 0
}

/// The escape serde_json writes for `byte`, if it needs one.
fn escape(byte: u8) -> Option<&'static [u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Six-byte `\u00XX` forms for the control characters without a short escape.
    #[expect(
        clippy::indexing_slicing,
        reason = "i < 32, so i >> 4 < 2 and i & 15 < 16: in bounds"
    )]
    const fn table() -> [[u8; 6]; 32] {
        let mut table = [[0_u8; 6]; 32];
        let mut i = 0;
        while i < 32 {
            table[i] = [b'\\', b'u', b'0', b'0', HEX[i >> 4], HEX[i & 15]];
            i += 1;
        }
        table
    }
    static UNICODE: [[u8; 6]; 32] = table();
    match byte {
        b'"' => Some(b"\\\""),
        b'\\' => Some(b"\\\\"),
        b'\n' => Some(b"\\n"),
        b'\r' => Some(b"\\r"),
        b'\t' => Some(b"\\t"),
        0x08 => Some(b"\\b"),
        0x0c => Some(b"\\f"),
        0..0x20 => UNICODE
            .get(usize::from(byte))
            .map(|escape| escape.as_slice()),
        _ => None,
    }
}

/// A JSON string: quotes, and escapes exactly where serde_json puts them.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if is_clean(bytes) {
        out.extend_from_slice(bytes);
    } else {
        let mut clean_from = 0;
        for (at, &byte) in bytes.iter().enumerate() {
            if let Some(escaped) = escape(byte) {
                out.extend_from_slice(bytes.get(clean_from..at).unwrap_or_default());
                out.extend_from_slice(escaped);
                clean_from = at + 1;
            }
        }
        out.extend_from_slice(bytes.get(clean_from..).unwrap_or_default());
    }
    out.push(b'"');
}

/// Whether no byte of `bytes` needs escaping, eight at a time: nearly every string in a
/// record is clean, and is then copied whole.
fn is_clean(bytes: &[u8]) -> bool {
    let word = |chunk: &[u8]| <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
    if bytes.len() < 8 {
        // Built in a register, padded with spaces (which need no escape): copying the bytes
        // into a stack buffer and loading it whole would stall on store forwarding.
        let padded = bytes
            .iter()
            .rev()
            .fold(ONES * u64::from(b' '), |word, &byte| {
                word << 8 | u64::from(byte)
            });
        return !needs_escape(padded);
    }
    // The last eight bytes overlap the whole words before them.
    let last = bytes.get(bytes.len() - 8..).map_or(0, word);
    !needs_escape(last)
        && bytes
            .chunks_exact(8)
            .all(|chunk| !needs_escape(word(chunk)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        let mut all = String::new();
        for c in (0_u8..0x80).map(char::from) {
            all.push(c);
        }
        for text in [
            "",
            "plain",
            "\"quoted\"\n",
            "a\\b",
            &all,
            "ünïcødé \u{2028} 😀",
            "12345678\u{1}",
            // An escape in the last byte of a short string, of a whole word, and of the
            // word that overlaps the one before.
            "\"",
            "123456\n",
            "1234567\\",
            "123456789\u{1f}",
            "\u{7}23456789abcdef",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
    }

    #[test]
    fn numbers() {
        for value in [0, 7, 10, 200, 65_535, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, value);
            assert_eq!(out, value.to_string().into_bytes());
        }
    }
}
