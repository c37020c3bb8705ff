//! What every sink does to a record before storing it: drop resource content unless told to
//! keep it, and replace secrets that a caller let slip into text (bearer tokens, JWTs,
//! `access_token=` and similar query parameters) with `[redacted]`. JSON string escaping
//! (see `json.rs`) is what keeps any remaining text from breaking the line format.

use std::sync::LazyLock;

use compact_str::CompactString;
use memchr::memmem;

use crate::AuditRecord;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Query parameters whose values are secrets (compared case-insensitively, after
/// percent-decoding the name and dropping a `:modifier`). FHIR's own `code` is not one.
const SECRET_PARAMETERS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "code_verifier",
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
];

/// Whether sinks keep the resource content a record carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentPolicy {
    /// Keep only references (type, id, version, patients): `content` is dropped.
    /// Defaults to this.
    #[default]
    ReferencesOnly,
    /// Keep `content` as given.
    Full,
}

impl AuditRecord {
    /// Prepares the record for storage as every sink does: applies `policy` to `content`
    /// and redacts secrets in all text fields.
    ///
    /// ```
    /// use fhir_audit::{AuditRecord, ContentPolicy, Decision, Interaction, Timestamp};
    /// let mut record = AuditRecord::new(Timestamp::from_millis(0)?, Interaction::SearchType, Decision::Permitted, 200, "s");
    /// record.action.query = Some("patient=1&access_token=abc.def&_count=5".into());
    /// record.content = Some(serde_json::json!({"resourceType": "Patient"}));
    /// record.redact(ContentPolicy::ReferencesOnly);
    /// assert_eq!(record.action.query.as_deref(), Some("patient=1&access_token=[redacted]&_count=5"));
    /// assert_eq!(record.content, None);
    /// # Ok::<(), fhir_audit::Error>(())
    /// ```
    pub fn redact(&mut self, policy: ContentPolicy) {
        if policy == ContentPolicy::ReferencesOnly {
            self.content = None;
        }
        let scrub = |text: &mut CompactString| {
            if may_hold_jwt(text.as_bytes()) {
                replace(text, jwt_spans(text));
            }
        };
        if let Some(user) = &mut self.user {
            scrub(&mut user.id);
            user.fhir_user.iter_mut().for_each(scrub);
            user.roles.iter_mut().for_each(scrub);
        }
        if let Some(client) = &mut self.client {
            scrub(&mut client.id);
        }
        self.on_behalf_of.iter_mut().for_each(scrub);
        let action = &mut self.action;
        for text in [
            &mut action.resource_type,
            &mut action.resource_id,
            &mut action.version_id,
            &mut action.operation,
        ] {
            text.iter_mut().for_each(scrub);
        }
        self.patients.iter_mut().for_each(scrub);
        self.outcome.rules.iter_mut().for_each(scrub);
        scrub(&mut self.origin.server_id);
        self.origin.client_ip.iter_mut().for_each(scrub);
        self.origin.request_id.iter_mut().for_each(scrub);
        self.purpose_of_use.iter_mut().for_each(scrub);
        self.token_jti.iter_mut().for_each(scrub);
        for text in [
            self.outcome.reason.as_mut(),
            self.break_glass.as_mut().map(|b| &mut b.reason),
        ]
        .into_iter()
        .flatten()
        {
            let mut spans = jwt_spans(text);
            spans.extend(bearer_spans(text));
            replace(text, spans);
        }
        if let Some(query) = &mut self.action.query {
            let mut spans = jwt_spans(query);
            spans.extend(bearer_spans(query));
            spans.extend(secret_parameter_spans(query));
            replace(query, spans);
        }
    }
}

/// Replaces the byte ranges `spans` of `text` (in any order, possibly overlapping, always on
/// character boundaries) with [`REDACTED`].
fn replace(text: &mut CompactString, mut spans: Vec<(usize, usize)>) {
    if spans.is_empty() {
        return;
    }
    spans.sort_unstable();
    let mut result = CompactString::with_capacity(text.len());
    let mut kept_to = 0;
    for (start, end) in spans {
        if end <= kept_to {
            continue;
        }
        if start >= kept_to {
            result.push_str(text.get(kept_to..start).unwrap_or_default());
            result.push_str(REDACTED);
        }
        kept_to = end;
    }
    result.push_str(text.get(kept_to..).unwrap_or_default());
    *text = result;
}

const MIN_JWT_LEN: usize = 22;

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'=' | b'+' | b'/' | b'~')
}

/// Whether `text` is long enough and has the two dots a JWS or JWE needs: most text is
/// not, and skips the search for `eyJ`.
fn may_hold_jwt(text: &[u8]) -> bool {
    // The shortest JWS header, `{"alg":"none"}`, is 19 base64url characters; with two dots
    // and a payload no token is shorter than this.
    text.len() >= MIN_JWT_LEN && text.iter().filter(|&&b| b == b'.').count() >= 2
}

/// JWS and JWE compact serialisations: `eyJ` (a base64url JSON object) then at least two dots.
fn jwt_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    if !may_hold_jwt(bytes) {
        return spans;
    }
    let mut from = 0;
    // Built once: a searcher per call would cost more than most scans.
    static JWT_START: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"eyJ"));
    for start in JWT_START.find_iter(bytes) {
        if start < from {
            continue;
        }
        let rest = bytes.get(start..).unwrap_or_default();
        let length = rest
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
            .unwrap_or(rest.len());
        let token = rest.get(..length).unwrap_or_default();
        if token.len() >= MIN_JWT_LEN && memchr::memchr_iter(b'.', token).count() >= 2 {
            spans.push((start, start + length));
        }
        from = start + length;
    }
    spans
}

/// The credential after `Bearer ` (any case; a space, `+` or `%20` after it).
fn bearer_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    for start in memchr::memchr2_iter(b'b', b'B', bytes) {
        let Some(word) = bytes.get(start..start + 6) else {
            break;
        };
        if !word.eq_ignore_ascii_case(b"bearer") {
            continue;
        }
        let mut at = start + 6;
        let mut separated = false;
        loop {
            match bytes.get(at..) {
                Some([b' ' | b'\t' | b'+', ..]) => at += 1,
                Some([b'%', b'2', b'0', ..]) => at += 3,
                _ => break,
            }
            separated = true;
        }
        let rest = bytes.get(at..).unwrap_or_default();
        let length = rest
            .iter()
            .position(|&b| !is_token_byte(b))
            .unwrap_or(rest.len());
        if separated && length > 0 {
            spans.push((at, at + length));
        }
    }
    spans
}

/// The values of [`SECRET_PARAMETERS`] in a query string.
fn secret_parameter_spans(query: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    // Byte splits: `&` and `=` are ASCII, so every split falls on a character boundary.
    // Plain loops: queries are short, and most pairs are rejected by their name's length.
    for pair in query.as_bytes().split(|&b| b == b'&') {
        let end = start + pair.len();
        if let Some(equals) = pair.iter().position(|&b| b == b'=')
            && equals + 1 < pair.len()
            && is_secret_name(pair.get(..equals).unwrap_or_default())
        {
            spans.push((start + equals + 1, end));
        }
        start = end + 1;
    }
    spans
}

/// The shortest and longest of [`SECRET_PARAMETERS`].
const SECRET_LENGTHS: std::ops::RangeInclusive<usize> = 6..=16;

/// Whether a parameter name (percent-encoded or not, any case, with or without a
/// `:modifier`) is one of [`SECRET_PARAMETERS`]. Allocates only for percent-encoded names.
fn is_secret_name(name: &[u8]) -> bool {
    let is_secret = |name: &[u8]| {
        let base = name
            .iter()
            .position(|&b| b == b':')
            .and_then(|colon| name.get(..colon))
            .unwrap_or(name);
        SECRET_LENGTHS.contains(&base.len())
            && SECRET_PARAMETERS
                .iter()
                .any(|secret| secret.as_bytes().eq_ignore_ascii_case(base))
    };
    if name.contains(&b'%') {
        is_secret(percent_decode_lower(name).as_bytes())
    } else {
        is_secret(name)
    }
}

/// A parameter name, percent-decoded and lowercased, so `Access%5FToken` is caught too.
fn percent_decode_lower(bytes: &[u8]) -> String {
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            byte,
            bytes.get(at + 1).copied().and_then(hex),
            bytes.get(at + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                // Two hex digits make a value below 256.
                decoded.push(u8::try_from(high * 16 + low).unwrap_or(0));
                at += 3;
            }
            _ => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact_query(query: &str) -> CompactString {
        let mut text = CompactString::from(query);
        let mut spans = jwt_spans(&text);
        spans.extend(bearer_spans(&text));
        spans.extend(secret_parameter_spans(&text));
        replace(&mut text, spans);
        text
    }

    #[test]
    fn secrets_in_queries() {
        assert_eq!(
            redact_query("code=1234-5&patient=7"),
            "code=1234-5&patient=7"
        );
        assert_eq!(
            redact_query("access_token=x.y&client_secret=s3"),
            "access_token=[redacted]&client_secret=[redacted]"
        );
        assert_eq!(
            redact_query("Access%5FToken=zzz&a=b"),
            "Access%5FToken=[redacted]&a=b"
        );
        assert_eq!(
            redact_query("password:exact=hunter2"),
            "password:exact=[redacted]"
        );
        assert_eq!(redact_query("password="), "password=");
        assert_eq!(
            redact_query("note=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln&x=eyJonly"),
            "note=[redacted]&x=eyJonly"
        );
        assert_eq!(
            redact_query("h=Bearer%20abc.def&k=bearerish"),
            "h=Bearer%20[redacted]&k=bearerish"
        );
    }

    #[test]
    fn secret_lengths_bound_every_secret_parameter() {
        let lengths = || SECRET_PARAMETERS.iter().map(|name| name.len());
        assert_eq!(
            SECRET_LENGTHS,
            lengths().min().unwrap()..=lengths().max().unwrap()
        );
    }

    #[test]
    fn bearer_in_reasons() {
        let mut text = CompactString::from("token Bearer  eyJa.b.c rejected; bearer xyz");
        let mut spans = jwt_spans(&text);
        spans.extend(bearer_spans(&text));
        replace(&mut text, spans);
        assert_eq!(text, "token Bearer  [redacted] rejected; bearer [redacted]");
    }
}
