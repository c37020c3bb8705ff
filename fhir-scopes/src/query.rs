//! Search-parameter queries: the `?name=value&...` suffix of a granular scope, and the query
//! of a search request, parsed with FHIR search syntax.
//!
//! Each `name=value` item is split on the first `=`, both halves are percent-decoded once,
//! and the value is split on unescaped `,` into alternatives (an OR). A token alternative
//! splits on its first unescaped `|` into system and code. FHIR's backslash escapes (`\,`,
//! `\|`, `\$`, `\\`) stay in the decoded text and are removed only when a token is read.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use smallvec::SmallVec;

use crate::error::ScopeErrorKind;

/// Whether the query belongs to a scope (strict) or to a search request (anything FHIR allows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A granular scope; `experimental` enables modifiers, chains, `_include`, `_has`, `_filter`.
    Scope { experimental: bool },
    /// The query of a search request.
    Request,
}

/// Parameters that shape a result set rather than select resources.
const RESULT_PARAMETERS: [&str; 9] = [
    "_contained",
    "_containedType",
    "_count",
    "_elements",
    "_format",
    "_pretty",
    "_sort",
    "_summary",
    "_total",
];

/// A parsed query: parameters in the order written, each with its alternatives.
///
/// ```
/// use fhir_scopes::Query;
///
/// let query = Query::parse("category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory,vital-signs")?;
/// let category = query.parameters().next().unwrap();
/// assert_eq!(category.name(), "category");
/// let tokens: Vec<_> = category.values().map(|v| v.token()).collect();
/// assert_eq!(tokens[0].system().as_deref(), Some("http://terminology.hl7.org/CodeSystem/observation-category"));
/// assert_eq!(tokens[0].code(), "laboratory");
/// assert_eq!(tokens[1].system(), None);
/// # Ok::<(), fhir_scopes::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// The query as written, without the leading `?`, then the decoded text of any
    /// percent-encoded names and values.
    text: Box<str>,
    /// Where the query as written ends in `text`.
    raw_len: u32,
    /// Each parameter's name followed by its values, in the order written. One
    /// `name=value` (the shape of most granular scopes) is stored inline: scopes are parsed
    /// on every request, and an allocation costs more than the rest of the parse.
    entries: SmallVec<[Entry; 2]>,
}

/// A span of [`Query::text`] and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Entry {
    start: u32,
    end: u32,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    /// A parameter name, followed by this many value entries.
    Name { values: u32 },
    /// One alternative of a value, with the offset of its first unescaped `|`.
    Value { bar: Option<u32> },
}

/// A syntax error inside a query: offset within the query text and what was wrong.
pub(crate) type QueryError = (usize, ScopeErrorKind);

impl Query {
    /// Parses the query of a search request (without the leading `?`), accepting every
    /// parameter FHIR search allows. An empty string is an empty query.
    pub fn parse(raw: &str) -> Result<Query, crate::Error> {
        if raw.is_empty() {
            return Ok(Query::empty());
        }
        Query::parse_in(raw, Mode::Request).map_err(|(position, kind)| crate::Error::Scope {
            scope: raw.to_owned(),
            position,
            kind,
        })
    }

    pub(crate) fn empty() -> Query {
        Query {
            text: Box::from(""),
            raw_len: 0,
            entries: SmallVec::new(),
        }
    }

    pub(crate) fn parse_in(raw: &str, mode: Mode) -> Result<Query, QueryError> {
        if raw.is_empty() {
            return Err((0, ScopeErrorKind::EmptyQuery));
        }
        if raw.len() > (u32::MAX / 2) as usize {
            return Err((0, ScopeErrorKind::InvalidParameter("query too long")));
        }
        let mut builder = Builder {
            raw,
            mode,
            text: String::with_capacity(raw.len()),
            entries: SmallVec::new(),
        };
        builder.text.push_str(raw);
        let mut start = 0;
        for end in memchr::memchr_iter(b'&', raw.as_bytes()).chain([raw.len()]) {
            builder.push_item(start, end)?;
            start = end + 1;
        }
        Ok(Query {
            text: builder.text.into_boxed_str(),
            raw_len: raw.len() as u32,
            entries: builder.entries,
        })
    }

    /// The query as written, without the leading `?`.
    pub fn as_str(&self) -> &str {
        self.text.get(..self.raw_len as usize).unwrap_or_default()
    }

    /// Whether the query has no parameters.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The parameters in the order written.
    pub fn parameters(&self) -> impl Iterator<Item = Parameter<'_>> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(move |(index, entry)| match entry.kind {
                Kind::Name { values } => Some(Parameter {
                    query: self,
                    index,
                    values,
                }),
                Kind::Value { .. } => None,
            })
    }

    /// The first parameter with this exact name (modifier included), if any.
    pub fn parameter(&self, name: &str) -> Option<Parameter<'_>> {
        self.parameters().find(|p| p.name() == name)
    }

    /// An entry's bytes: comparing these skips the UTF-8 boundary checks of [`Self::span`].
    fn bytes(&self, entry: &Entry) -> &[u8] {
        self.text
            .as_bytes()
            .get(entry.start as usize..entry.end as usize)
            .unwrap_or_default()
    }

    fn span(&self, entry: &Entry) -> &str {
        self.text
            .get(entry.start as usize..entry.end as usize)
            .unwrap_or_default()
    }

    /// The query with parameters sorted by name, alternatives sorted and deduplicated,
    /// repeated identical parameters removed, and percent-encoding reduced to what the scope
    /// grammar needs. Two queries that select the same resources by the same tests normalise
    /// to the same text.
    pub(crate) fn normalized(&self) -> Query {
        let mut items: Vec<(String, Vec<&str>)> = self
            .parameters()
            .map(|p| {
                let mut values: Vec<&str> = p.values().map(|v| v.as_str()).collect();
                values.sort_unstable();
                values.dedup();
                (p.name().to_owned(), values)
            })
            .collect();
        items.sort();
        items.dedup();
        let items = items
            .iter()
            .map(|(name, values)| (name.as_str(), values.as_slice()));
        // Parsing text written from parsed parts cannot fail; keep a copy rather than
        // panic if it ever did.
        Query::from_items(items).unwrap_or_else(|| self.clone())
    }

    /// The query of these decoded names and alternatives, percent-encoded as the scope
    /// grammar needs.
    fn from_items<'a>(items: impl Iterator<Item = (&'a str, &'a [&'a str])>) -> Option<Query> {
        let mut text = String::new();
        for (name, values) in items {
            if !text.is_empty() {
                text.push('&');
            }
            text.extend(utf8_percent_encode(name, ENCODE));
            text.push('=');
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    text.push(',');
                }
                text.extend(utf8_percent_encode(value, ENCODE));
            }
        }
        Query::parse_in(&text, Mode::Scope { experimental: true }).ok()
    }

    /// Whether every parameter of `self` is implied by `other`: for each of ours, `other`
    /// has the same parameter with alternatives that are a subset of ours. Then every
    /// resource `other` selects, `self` selects too.
    pub(crate) fn is_implied_by(&self, other: &Query) -> bool {
        // Runs for every granular grant of every decision: compare the bytes of the parsed
        // entries rather than go through `Parameter` and `Value`.
        if let [name, value] = self.entries.as_slice() {
            // The usual granular scope: one parameter with one value.
            let (name, value) = (self.bytes(name), self.bytes(value));
            return other.groups().any(|(their_name, theirs)| {
                their_name == name && theirs.iter().all(|v| other.bytes(v) == value)
            });
        }
        self.groups().all(|(name, mine)| {
            other.groups().any(|(their_name, theirs)| {
                their_name == name
                    && theirs.iter().all(|v| {
                        let v = other.bytes(v);
                        mine.iter().any(|w| self.bytes(w) == v)
                    })
            })
        })
    }

    /// Each parameter's name with its value entries, in the order written.
    fn groups(&self) -> impl Iterator<Item = (&[u8], &[Entry])> + '_ {
        let mut rest = self.entries.as_slice();
        std::iter::from_fn(move || {
            let (name, tail) = rest.split_first()?;
            let count = match name.kind {
                Kind::Name { values } => values as usize,
                Kind::Value { .. } => 0,
            };
            let (values, tail) = tail.split_at_checked(count).unwrap_or((tail, &[]));
            rest = tail;
            Some((self.bytes(name), values))
        })
    }

    /// When both queries name the same parameters, each once, and differ in the alternatives
    /// of exactly one of them, the query with that parameter's alternatives united: it
    /// selects exactly what either query selects.
    pub(crate) fn merge_alternatives(&self, other: &Query) -> Option<Query> {
        fn names(query: &Query) -> Vec<&str> {
            let mut names: Vec<&str> = query.parameters().map(|p| p.name()).collect();
            names.sort_unstable();
            names
        }
        fn alternatives(parameter: Parameter<'_>) -> Vec<&str> {
            let mut values: Vec<&str> = parameter.values().map(|v| v.as_str()).collect();
            values.sort_unstable();
            values.dedup();
            values
        }
        let mine = names(self);
        if mine != names(other) || mine.windows(2).any(|w| w.first() == w.last()) {
            return None;
        }
        let mut differing = None;
        for parameter in self.parameters() {
            let theirs = other.parameter(parameter.name())?;
            if alternatives(parameter) != alternatives(theirs) {
                if differing.is_some() {
                    return None;
                }
                differing = Some(parameter.name());
            }
        }
        let differing = differing?;
        let items: Vec<(&str, Vec<&str>)> = self
            .parameters()
            .map(|parameter| {
                let mut values = alternatives(parameter);
                if parameter.name() == differing {
                    values.extend(
                        other
                            .parameter(differing)
                            .map(alternatives)
                            .unwrap_or_default(),
                    );
                }
                (parameter.name(), values)
            })
            .collect();
        let items = items
            .iter()
            .map(|(name, values)| (*name, values.as_slice()));
        Query::from_items(items).map(|q| q.normalized())
    }

    /// The parameters of both queries (an AND), as one query.
    pub(crate) fn and(&self, other: &Query) -> Query {
        if self.is_empty() {
            return other.clone();
        }
        if other.is_empty() {
            return self.clone();
        }
        let text = format!("{}&{}", self.as_str(), other.as_str());
        Query::parse_in(&text, Mode::Scope { experimental: true })
            .map(|q| q.normalized())
            .unwrap_or_else(|_| self.clone())
    }
}

/// The state of [`Query::parse_in`].
struct Builder<'r> {
    raw: &'r str,
    mode: Mode,
    /// `raw`, then decoded names and values.
    text: String,
    entries: SmallVec<[Entry; 2]>,
}

impl Builder<'_> {
    /// Parses the item `raw[start..end]`, jumping between the bytes that matter.
    fn push_item(&mut self, start: usize, end: usize) -> Result<(), QueryError> {
        let strict = self.mode != Mode::Request;
        let item = self.raw.as_bytes().get(start..end).unwrap_or_default();
        if item.is_empty() {
            return Err((
                start,
                ScopeErrorKind::InvalidParameter("empty parameter between `&`"),
            ));
        }
        let Some(equals) = memchr::memchr(b'=', item) else {
            return Err((
                end,
                ScopeErrorKind::InvalidParameter(
                    "expected `=` and a value after the parameter name",
                ),
            ));
        };
        if equals == 0 {
            return Err((
                start,
                ScopeErrorKind::InvalidParameter("empty parameter name"),
            ));
        }
        let name_end = start + equals;
        let name_raw = self.raw.get(start..name_end).unwrap_or_default();
        let name = if name_raw.contains('%') {
            let decoded = decode(name_raw, start)?;
            self.append(&decoded)
        } else {
            (start as u32, name_end as u32)
        };
        let name_text = self
            .text
            .get(name.0 as usize..name.1 as usize)
            .unwrap_or_default();
        check_name(name_text, self.mode).map_err(|kind| (start, kind))?;
        let value_start = name_end + 1;
        if strict && value_start == end {
            return Err((
                value_start,
                ScopeErrorKind::InvalidParameter("empty parameter value"),
            ));
        }
        let name_index = self.entries.len();
        self.entries.push(Entry {
            start: name.0,
            end: name.1,
            kind: Kind::Name { values: 0 },
        });
        let value = self.raw.get(value_start..end).unwrap_or_default();
        if !self.push_alternatives(value, value_start, true, strict)? {
            // Percent-encoded: decode once, then split the decoded text, where a `%` is
            // just a character.
            self.entries.truncate(name_index + 1);
            let decoded = decode(value, value_start)?;
            let (at, _) = self.append(&decoded);
            let appended = self.text.get(at as usize..).unwrap_or_default().to_owned();
            self.push_alternatives(&appended, at as usize, false, strict)
                .map_err(|(_, kind)| (value_start, kind))?;
        }
        let values = (self.entries.len() - name_index - 1) as u32;
        if let Some(entry) = self.entries.get_mut(name_index) {
            entry.kind = Kind::Name { values };
        }
        Ok(())
    }

    /// Appends decoded text; returns its span.
    fn append(&mut self, decoded: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        self.text.push_str(decoded);
        (start, self.text.len() as u32)
    }

    /// Splits `value` (which is `text[offset..]`'s prefix) on unescaped commas and records
    /// each alternative with the offset of its first unescaped `|`. With `stop_at_percent`,
    /// returns `Ok(false)` at the first `%`: the value must be decoded first.
    fn push_alternatives(
        &mut self,
        value: &str,
        offset: usize,
        stop_at_percent: bool,
        strict: bool,
    ) -> Result<bool, QueryError> {
        let bytes = value.as_bytes();
        let mut begin = 0;
        let mut bar = None;
        let mut index = 0;
        loop {
            let next = next_special(bytes, index);
            match next.and_then(|at| bytes.get(at).map(|b| (at, *b))) {
                Some((_, b'%')) if stop_at_percent => return Ok(false),
                Some((at, b'%')) => index = at + 1,
                Some((at, b'\\')) => {
                    if at + 1 >= bytes.len() {
                        return Err((
                            offset,
                            ScopeErrorKind::InvalidParameter("a `\\` must escape a character"),
                        ));
                    }
                    index = at + 2;
                }
                Some((at, b'|')) => {
                    if bar.is_none() {
                        bar = Some((at - begin) as u32);
                    }
                    index = at + 1;
                }
                found => {
                    // A `,` ends this alternative; no special byte left ends the value.
                    let at = found.map_or(bytes.len(), |(at, _)| at);
                    if strict && at == begin {
                        return Err((
                            offset,
                            ScopeErrorKind::InvalidParameter("empty alternative in a `,` list"),
                        ));
                    }
                    self.entries.push(Entry {
                        start: (offset + begin) as u32,
                        end: (offset + at) as u32,
                        kind: Kind::Value { bar },
                    });
                    if found.is_none() {
                        return Ok(true);
                    }
                    begin = at + 1;
                    index = begin;
                    bar = None;
                }
            }
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.parameters()).finish()
    }
}

/// What the normal form percent-encodes: what RFC 6749 forbids in a scope, plus the
/// characters that delimit a query or introduce an escape.
const ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b'&')
    .add(b'\\')
    .add(b'=')
    .add(b'?');

/// One `name=value` item of a [`Query`].
#[derive(Clone, Copy)]
pub struct Parameter<'a> {
    query: &'a Query,
    /// The index of the name entry.
    index: usize,
    values: u32,
}

impl<'a> Parameter<'a> {
    /// The decoded name as written, modifier and chain included (`code:in`, `patient.name`).
    pub fn name(&self) -> &'a str {
        self.query
            .entries
            .get(self.index)
            .map_or("", |entry| self.query.span(entry))
    }

    /// The name without modifier or chain.
    pub fn code(&self) -> &'a str {
        let name = self.name();
        name.split([':', '.']).next().unwrap_or(name)
    }

    /// The modifier after `:`, if any (`exact`, `in`, `not`, ...).
    pub fn modifier(&self) -> Option<&'a str> {
        let (_, rest) = self.name().split_once(':')?;
        Some(rest.split('.').next().unwrap_or(rest))
    }

    /// The alternatives of the value: the parameter matches when any of them matches.
    pub fn values(&self) -> impl ExactSizeIterator<Item = Value<'a>> + 'a {
        let query = self.query;
        let range = self.index + 1..self.index + 1 + self.values as usize;
        query
            .entries
            .get(range)
            .unwrap_or_default()
            .iter()
            .map(move |entry| Value {
                text: query.span(entry),
                bar: match entry.kind {
                    Kind::Value { bar } => bar,
                    Kind::Name { .. } => None,
                },
            })
    }
}

impl fmt::Debug for Parameter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parameter")
            .field("name", &self.name())
            .field("values", &self.values().map(|v| v.text).collect::<Vec<_>>())
            .finish()
    }
}

/// One alternative of a parameter value, percent-decoded, FHIR escapes kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value<'a> {
    text: &'a str,
    bar: Option<u32>,
}

impl<'a> Value<'a> {
    /// The decoded text, with FHIR escapes (`\,`, `\|`) still in place.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The value read as a token: `system|code`, `|code` (no system), `system|` (any code)
    /// or `code` (any system).
    pub fn token(&self) -> Token<'a> {
        match self.bar {
            Some(bar) => {
                let bar = bar as usize;
                Token {
                    system: Some(self.text.get(..bar).unwrap_or_default()),
                    code: self.text.get(bar + 1..).unwrap_or_default(),
                }
            }
            None => Token {
                system: None,
                code: self.text,
            },
        }
    }
}

/// A token search value: an optional system and a code, both still escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    system: Option<&'a str>,
    code: &'a str,
}

impl<'a> Token<'a> {
    /// The system: `None` when no `|` was written (any system matches), `Some("")` for
    /// `|code` (only codes without a system match).
    pub fn system(&self) -> Option<Cow<'a, str>> {
        self.system.map(unescape)
    }

    /// The code; empty for `system|`, which matches any code in the system.
    pub fn code(&self) -> Cow<'a, str> {
        unescape(self.code)
    }
}

/// The offset of the first `\\`, `|`, `,` or `%` at or after `index`. Values are mostly
/// long URIs with one or two of these, so the search tests eight bytes at a time: a byte
/// equal to `c` makes `word ^ c` have a zero byte, and the lowest flagged byte is exact.
fn next_special(bytes: &[u8], mut index: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(chunk) = bytes.get(index..index + 8) {
        let word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
        let found = zero(word ^ (ONES * u64::from(b'\\')))
            | zero(word ^ (ONES * u64::from(b'|')))
            | zero(word ^ (ONES * u64::from(b',')))
            | zero(word ^ (ONES * u64::from(b'%')));
        if found != 0 {
            return Some(index + (found.trailing_zeros() / 8) as usize);
        }
        index += 8;
    }
    bytes
        .get(index..)?
        .iter()
        .position(|b| matches!(b, b'\\' | b'|' | b',' | b'%'))
        .map(|offset| index + offset)
}

/// Removes FHIR search escapes: `\x` becomes `x`.
fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Percent-decodes `part` (found at `start` in the query) once, strictly: every `%` is
/// followed by two hex digits and the result is UTF-8.
fn decode(part: &str, start: usize) -> Result<Cow<'_, str>, QueryError> {
    let bytes = part.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'%' {
            let hex = bytes.get(index + 1..index + 3).unwrap_or_default();
            if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err((start + index, ScopeErrorKind::PercentEncoding));
            }
        }
    }
    percent_decode_str(part)
        .decode_utf8()
        .map_err(|_| (start, ScopeErrorKind::PercentEncoding))
}

const INVALID_NAME: ScopeErrorKind = ScopeErrorKind::InvalidParameter(
    "a parameter name is letters, digits, `-` and `_`, optionally with `:modifier` or `.chain`",
);

/// Checks a decoded parameter name: its characters, and in a scope the features SMART allows.
fn check_name(name: &str, mode: Mode) -> Result<(), ScopeErrorKind> {
    let first_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    let mut special = name.starts_with('_');
    for b in name.bytes() {
        match b {
            b':' | b'.' => special = true,
            b'_' | b'-' => {}
            _ if b.is_ascii_alphanumeric() => {}
            _ => return Err(INVALID_NAME),
        }
    }
    if !first_ok {
        return Err(INVALID_NAME);
    }
    let Mode::Scope { experimental } = mode else {
        return Ok(());
    };
    if !special {
        return Ok(());
    }
    if RESULT_PARAMETERS.contains(&name.split(':').next().unwrap_or(name)) {
        return Err(ScopeErrorKind::ResultParameter {
            name: name.to_owned(),
        });
    }
    if experimental {
        return Ok(());
    }
    let feature = if name.starts_with("_has") {
        Some("`_has`")
    } else if name == "_filter" {
        Some("`_filter`")
    } else if name.starts_with("_include") || name.starts_with("_revinclude") {
        Some("`_include`/`_revinclude`")
    } else if name.contains(':') {
        Some("a search modifier")
    } else if name.contains('.') {
        Some("a chained search")
    } else {
        None
    };
    match feature {
        Some(feature) => Err(ScopeErrorKind::ExperimentalParameter {
            name: name.to_owned(),
            feature,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_query(raw: &str) -> Result<Query, QueryError> {
        Query::parse_in(
            raw,
            Mode::Scope {
                experimental: false,
            },
        )
    }

    fn values(query: &Query) -> Vec<(String, Vec<String>)> {
        query
            .parameters()
            .map(|p| {
                (
                    p.name().to_owned(),
                    p.values().map(|v| v.as_str().to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn splits_items_alternatives_and_tokens() {
        let query = scope_query("category=a|b,c&status=final").unwrap();
        assert_eq!(
            values(&query),
            vec![
                (
                    "category".to_owned(),
                    vec!["a|b".to_owned(), "c".to_owned()]
                ),
                ("status".to_owned(), vec!["final".to_owned()]),
            ]
        );
        let first = query
            .parameters()
            .next()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .token();
        assert_eq!(first.system().as_deref(), Some("a"));
        assert_eq!(first.code(), "b");
    }

    #[test]
    fn decodes_percent_encoding_once() {
        let query = scope_query("code=http%3A%2F%2Floinc.org%7C1234-5%2525").unwrap();
        let value = query.parameters().next().unwrap().values().next().unwrap();
        assert_eq!(value.as_str(), "http://loinc.org|1234-5%25");
        assert_eq!(value.token().code(), "1234-5%25");
        // An encoded comma is an OR separator once decoded; an escaped one is literal.
        let query = scope_query("code=a%2Cb&x=c%5C%2Cd").unwrap();
        assert_eq!(
            values(&query),
            vec![
                ("code".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
                ("x".to_owned(), vec!["c\\,d".to_owned()]),
            ]
        );
        let x = query.parameter("x").unwrap().values().next().unwrap();
        assert_eq!(x.token().code(), "c,d");
    }

    #[test]
    fn rejects_malformed_items_with_positions() {
        assert_eq!(
            scope_query("").unwrap_err(),
            (0, ScopeErrorKind::EmptyQuery)
        );
        assert_eq!(
            scope_query("name").unwrap_err(),
            (
                4,
                ScopeErrorKind::InvalidParameter(
                    "expected `=` and a value after the parameter name"
                )
            )
        );
        assert_eq!(scope_query("a=1&&b=2").unwrap_err().0, 4);
        assert_eq!(scope_query("a=").unwrap_err().0, 2);
        assert_eq!(scope_query("=x").unwrap_err().0, 0);
        assert_eq!(scope_query("a=1,,2").unwrap_err().0, 2);
        assert_eq!(
            scope_query("a=%zz").unwrap_err(),
            (2, ScopeErrorKind::PercentEncoding)
        );
        assert_eq!(
            scope_query("a=%ff").unwrap_err(),
            (2, ScopeErrorKind::PercentEncoding)
        );
        assert_eq!(
            scope_query("a=x%4").unwrap_err(),
            (3, ScopeErrorKind::PercentEncoding)
        );
        assert_eq!(
            scope_query("a=x%5C").unwrap_err().1.code(),
            "invalid_parameter"
        );
    }

    #[test]
    fn experimental_features_need_opting_in() {
        for name in [
            "code:in",
            "patient.birthdate",
            "_has:Observation:patient:code",
            "_filter",
            "_include",
            "_revinclude:iterate",
        ] {
            let text = format!("{name}=x");
            assert_eq!(
                scope_query(&text).unwrap_err().1.code(),
                "experimental_parameter",
                "{name}"
            );
            assert!(
                Query::parse_in(&text, Mode::Scope { experimental: true }).is_ok(),
                "{name}"
            );
        }
        assert_eq!(
            scope_query("_count=1").unwrap_err().1.code(),
            "result_parameter"
        );
        assert_eq!(
            scope_query("_elements=id").unwrap_err().1.code(),
            "result_parameter"
        );
    }

    #[test]
    fn request_queries_accept_anything_fhir_does() {
        let query = Query::parse("patient=123&code:in=http://x&_count=10&empty=").unwrap();
        assert_eq!(query.parameters().count(), 4);
        assert_eq!(query.parameter("code:in").unwrap().modifier(), Some("in"));
        assert_eq!(query.parameter("code:in").unwrap().code(), "code");
        assert!(Query::parse("").unwrap().is_empty());
    }

    #[test]
    fn special_byte_search_agrees_with_a_plain_scan() {
        for special in [b'\\', b'|', b',', b'%', b'a'] {
            for at in 0..20 {
                let mut bytes = vec![b'x'; 20];
                bytes[at] = special;
                bytes[19] = b'|';
                for from in 0..20 {
                    let expected = bytes[from..]
                        .iter()
                        .position(|b| matches!(b, b'\\' | b'|' | b',' | b'%'))
                        .map(|p| from + p);
                    assert_eq!(
                        next_special(&bytes, from),
                        expected,
                        "{special} at {at} from {from}"
                    );
                }
            }
        }
        assert_eq!(next_special(b"", 0), None);
        assert_eq!(next_special(b"abc", 5), None);
    }

    #[test]
    fn normal_form_sorts_and_deduplicates() {
        let query = scope_query("status=final&category=b,a,b&status=final").unwrap();
        assert_eq!(query.normalized().as_str(), "category=a,b&status=final");
        let encoded = scope_query("code=a%20b%26c").unwrap();
        assert_eq!(encoded.normalized().as_str(), "code=a%20b%26c");
    }

    #[test]
    fn implication_is_alternative_subset() {
        let broad = scope_query("category=a,b").unwrap();
        let narrow = scope_query("category=a&status=final").unwrap();
        assert!(broad.is_implied_by(&narrow));
        assert!(!narrow.is_implied_by(&broad));
        assert!(Query::empty().is_implied_by(&broad));
    }

    #[test]
    fn implication_of_one_parameter_with_one_value() {
        let lab = scope_query("category=laboratory").unwrap();
        let implies = |other: &str| lab.is_implied_by(&Query::parse(other).unwrap());
        assert!(implies("category=laboratory"));
        assert!(implies("patient=123&category=laboratory"));
        assert!(implies("category=laboratory&category=laboratory"));
        // Compared decoded, as the search would be.
        assert!(implies("category=labor%61tory"));
        assert!(!implies("category=laboratory,vital-signs"));
        assert!(!implies("category=vital-signs"));
        assert!(!implies("category:not=laboratory"));
        assert!(!implies("code=laboratory"));
        assert!(!implies("patient=123"));
    }
}
