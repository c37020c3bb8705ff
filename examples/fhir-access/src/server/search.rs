//! Search requests: the query string of a search parsed into a typed [`SearchQuery`] (filters
//! from the R4 SearchParameters of the searched type, with their modifiers and prefixes, and the
//! result parameters `_count`, `_sort`, `_include`, ...), and each filter's SQL over the index
//! rows of `index.rs`. Anything not understood is an error: a silently ignored filter would
//! return more than was asked for.

use fhir_compartment::path::{ParameterKind, search_parameter};
use fhir_compartment::{Reference, ResourceType, ServerBases};
use rusqlite::types::Value as SqlValue;

use super::date::Range;
use super::index::normalise;
use super::outcome::Error;

/// A parsed search: filters (ANDed) and result parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SearchQuery {
    pub(crate) filters: Vec<Filter>,
    pub(crate) count: Option<usize>,
    pub(crate) offset: usize,
    pub(crate) sort: Vec<Sort>,
    pub(crate) includes: Vec<Include>,
    pub(crate) revincludes: Vec<Include>,
    pub(crate) summary_count: bool,
    pub(crate) elements: Option<Vec<String>>,
    /// The parameters as given, without `_offset`: what paging links repeat.
    pub(crate) params: Vec<(String, String)>,
    /// Chained parameters (`subject:Patient.name=x`), resolved by the engine into filters.
    pub(crate) chains: Vec<Chain>,
    /// Reverse chains (`_has:Observation:patient:code=x`), resolved by the engine.
    pub(crate) has: Vec<Has>,
}

/// A chained parameter: the searched resource's `param` must reference a `target` resource
/// that matches `query`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chain {
    pub(crate) param: &'static str,
    /// The type named by the modifier (`subject:Patient.name`); `None`: every type the
    /// stored references of `param` point to.
    pub(crate) target: Option<ResourceType>,
    /// One parameter, on `target`, possibly chained further.
    pub(crate) query: Box<SearchQuery>,
}

/// A reverse chain: some `source` resource matching `query` must reference the searched
/// resource through its `param`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Has {
    pub(crate) source: ResourceType,
    pub(crate) param: &'static str,
    pub(crate) query: Box<SearchQuery>,
}

/// How many links a parameter may chain (`a.b.c=x` is two).
const MAX_CHAIN_DEPTH: usize = 3;

/// One search parameter occurrence: the resource matches when one of `any_of` holds for one
/// of its index rows (or, with `negate`, for none of them); `missing` tests presence instead.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    pub(crate) param: &'static str,
    pub(crate) negate: bool,
    pub(crate) missing: Option<bool>,
    pub(crate) any_of: Vec<Test>,
}

/// A test on one index row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    /// `system|code`: `system` `Some("")` means "no system", `None` any system; `code` `None`
    /// any code (`system|`).
    Token {
        system: Option<String>,
        code: Option<String>,
    },
    /// Default string search: case-insensitive starts-with.
    StringStarts(String),
    /// `:exact`.
    StringExact(String),
    /// `:contains` (case-insensitive).
    StringContains(String),
    /// A reference to `Type/id` (or to an absolute URL).
    ReferenceTo(String),
    /// A reference to an id, of any type.
    ReferenceId(String),
    /// A URI, exactly.
    Uri(String),
    /// A date with a prefix.
    Date(Prefix, Range),
    /// A number with a prefix and the half-width its precision implies.
    Number(Prefix, f64, f64),
}

/// A search prefix (date and number parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// A sort key: a date parameter (or `_lastUpdated`), ascending unless `descending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sort {
    pub(crate) param: &'static str,
    pub(crate) descending: bool,
}

/// `_include` / `_revinclude`: `source:param[:target]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Include {
    pub(crate) source: ResourceType,
    pub(crate) param: &'static str,
    pub(crate) target: Option<ResourceType>,
    pub(crate) iterate: bool,
}

/// Result parameters that need no further handling.
const IGNORED: [&str; 2] = ["_pretty", "_total"];
/// Search features deliberately not offered; asked for, they are a 400, never ignored.
const UNSUPPORTED: [&str; 9] = [
    "_text",
    "_content",
    "_list",
    "_query",
    "_filter",
    "_type",
    "_contained",
    "_containedType",
    "_summary:text",
];

impl SearchQuery {
    /// Parses a search of `resource_type` from its (already percent-decoded) parameters.
    pub(crate) fn parse(
        resource_type: ResourceType,
        params: &[(String, String)],
        bases: &ServerBases,
    ) -> Result<SearchQuery, Error> {
        SearchQuery::parse_at(resource_type, params, bases, 0)
    }

    /// Whether a parameter name is a chain or a reverse chain (decided as its own search).
    pub(crate) fn is_chained(name: &str) -> bool {
        name.starts_with("_has:") || name.contains('.')
    }

    fn parse_at(
        resource_type: ResourceType,
        params: &[(String, String)],
        bases: &ServerBases,
        depth: usize,
    ) -> Result<SearchQuery, Error> {
        let mut query = SearchQuery::default();
        for (name, value) in params {
            let (code, modifier) = match name.split_once(':') {
                Some((code, modifier)) => (code, Some(modifier)),
                None => (name.as_str(), None),
            };
            if name != "_offset" {
                query.params.push((name.clone(), value.clone()));
            }
            match (code, modifier) {
                ("_count", None) => query.count = Some(parse_usize(name, value)?),
                ("_offset", None) => query.offset = parse_usize(name, value)?,
                ("_sort", None) => query.sort = parse_sort(resource_type, value)?,
                ("_include", iterate) | ("_revinclude", iterate) => {
                    let iterate = match iterate {
                        None => false,
                        Some("iterate" | "recurse") => true,
                        Some(other) => {
                            return Err(Error::Invalid(format!(
                                "unknown modifier `{other}` on `{code}`"
                            )));
                        }
                    };
                    let include = parse_include(value, iterate)?;
                    if code == "_include" {
                        query.includes.push(include);
                    } else {
                        query.revincludes.push(include);
                    }
                }
                ("_summary", None) => match value.as_str() {
                    "count" => query.summary_count = true,
                    "false" => {}
                    other => {
                        return Err(Error::NotSupported(format!(
                            "`_summary={other}` is not supported (only `count` and `false`)"
                        )));
                    }
                },
                ("_elements", None) => {
                    query.elements = Some(
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|e| !e.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    );
                }
                ("_format", None) => match value.as_str() {
                    "json" | "application/json" | "application/fhir+json" => {}
                    other => {
                        return Err(Error::NotSupported(format!(
                            "`_format={other}`: this server speaks JSON only"
                        )));
                    }
                },
                (code, None) if IGNORED.contains(&code) => {}
                _ if UNSUPPORTED.contains(&code) || UNSUPPORTED.contains(&name.as_str()) => {
                    return Err(Error::NotSupported(format!(
                        "search parameter `{name}` is not supported"
                    )));
                }
                ("_has", Some(_)) => {
                    query.has.push(parse_has(name, value, bases, depth)?);
                }
                _ if name.contains('.') => {
                    query
                        .chains
                        .push(parse_chain(resource_type, name, value, bases, depth)?);
                }
                _ => {
                    if let Some(filter) = parse_filter(resource_type, code, modifier, value, bases)?
                    {
                        query.filters.push(filter);
                    }
                }
            }
        }
        Ok(query)
    }
}

/// `param[:Type].rest=value`: `rest` is parsed as a search of the target type.
fn parse_chain(
    resource_type: ResourceType,
    name: &str,
    value: &str,
    bases: &ServerBases,
    depth: usize,
) -> Result<Chain, Error> {
    let bad = |why: &str| Error::Invalid(format!("chained parameter `{name}`: {why}"));
    // Counted on the whole name: a chain with no type is parsed again per target type.
    if depth + name.matches('.').count() > MAX_CHAIN_DEPTH {
        return Err(Error::NotSupported(format!(
            "chained parameter `{name}`: more than {MAX_CHAIN_DEPTH} links"
        )));
    }
    let (head, rest) = name.split_once('.').ok_or_else(|| bad("expected `.`"))?;
    let (code, target) = match head.split_once(':') {
        Some((code, t)) => (
            code,
            Some(ResourceType::from_name(t).ok_or_else(|| bad(&format!("unknown type `{t}`")))?),
        ),
        None => (head, None),
    };
    let parameter = search_parameter(resource_type, code)
        .filter(|p| p.kind() == ParameterKind::Reference)
        .ok_or_else(|| {
            bad(&format!(
                "`{resource_type}` has no reference parameter `{code}`"
            ))
        })?;
    if rest.is_empty() || rest.starts_with('_') && !rest.starts_with("_id") {
        return Err(bad("expected a search parameter after `.`"));
    }
    let inner = [(rest.to_owned(), value.to_owned())];
    let query = match target {
        Some(t) => SearchQuery::parse_at(t, &inner, bases, depth + 1)?,
        // Checked against each target type when the engine resolves it.
        None => SearchQuery {
            params: inner.to_vec(),
            ..SearchQuery::default()
        },
    };
    Ok(Chain {
        param: parameter.code(),
        target,
        query: Box::new(query),
    })
}

/// `_has:Type:param:rest=value`: `rest` is parsed as a search of `Type`, whose `param`
/// references the searched resource.
fn parse_has(name: &str, value: &str, bases: &ServerBases, depth: usize) -> Result<Has, Error> {
    let bad = |why: &str| Error::Invalid(format!("`{name}`: {why}"));
    if depth >= MAX_CHAIN_DEPTH {
        return Err(Error::NotSupported(format!(
            "`{name}`: more than {MAX_CHAIN_DEPTH} links"
        )));
    }
    let mut parts = name.splitn(4, ':');
    let (Some("_has"), Some(source), Some(param), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("expected `_has:Type:parameter:search-parameter`"));
    };
    let source =
        ResourceType::from_name(source).ok_or_else(|| bad(&format!("unknown type `{source}`")))?;
    let parameter = search_parameter(source, param)
        .filter(|p| p.kind() == ParameterKind::Reference)
        .ok_or_else(|| bad(&format!("`{source}` has no reference parameter `{param}`")))?;
    let query = SearchQuery::parse_at(
        source,
        &[(rest.to_owned(), value.to_owned())],
        bases,
        depth + 1,
    )?;
    if query.filters.is_empty() && query.chains.is_empty() && query.has.is_empty() {
        return Err(bad("expected a search parameter at the end"));
    }
    Ok(Has {
        source,
        param: parameter.code(),
        query: Box::new(query),
    })
}

fn parse_usize(name: &str, value: &str) -> Result<usize, Error> {
    value.parse().map_err(|_| {
        Error::Invalid(format!(
            "`{name}`: expected a non-negative integer, got `{value}`"
        ))
    })
}

fn parse_sort(resource_type: ResourceType, value: &str) -> Result<Vec<Sort>, Error> {
    value
        .split(',')
        .map(|key| {
            let (descending, code) = match key.strip_prefix('-') {
                Some(code) => (true, code),
                None => (false, key),
            };
            match search_parameter(resource_type, code) {
                Some(p) if p.kind() == ParameterKind::Date => Ok(Sort {
                    param: p.code(),
                    descending,
                }),
                Some(_) => Err(Error::NotSupported(format!(
                    "`_sort={key}`: only date parameters can be sorted by"
                ))),
                None => Err(Error::Invalid(format!(
                    "`_sort={key}`: `{resource_type}` has no search parameter `{code}`"
                ))),
            }
        })
        .collect()
}

fn parse_include(value: &str, iterate: bool) -> Result<Include, Error> {
    let bad = |why: &str| Error::Invalid(format!("include `{value}`: {why}"));
    let mut parts = value.split(':');
    let (Some(source), Some(param), target, None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(
            "expected `Type:parameter` or `Type:parameter:TargetType`",
        ));
    };
    let source = ResourceType::from_name(source)
        .ok_or_else(|| bad(&format!("unknown resource type `{source}`")))?;
    let parameter = search_parameter(source, param)
        .filter(|p| p.kind() == ParameterKind::Reference)
        .ok_or_else(|| bad(&format!("`{source}` has no reference parameter `{param}`")))?;
    let target = target
        .map(|t| {
            ResourceType::from_name(t).ok_or_else(|| bad(&format!("unknown resource type `{t}`")))
        })
        .transpose()?;
    Ok(Include {
        source,
        param: parameter.code(),
        target,
        iterate,
    })
}

fn parse_filter(
    resource_type: ResourceType,
    code: &str,
    modifier: Option<&str>,
    value: &str,
    bases: &ServerBases,
) -> Result<Option<Filter>, Error> {
    let parameter = search_parameter(resource_type, code).ok_or_else(|| {
        Error::Invalid(format!(
            "unknown search parameter `{code}` for `{resource_type}`"
        ))
    })?;
    let kind = parameter.kind();
    let param = parameter.code();
    let name = match modifier {
        Some(m) => format!("{code}:{m}"),
        None => code.to_owned(),
    };
    let bad_value = |why: &str| Error::Invalid(format!("`{name}={value}`: {why}"));
    if modifier == Some("missing") {
        let missing = match value {
            "true" => true,
            "false" => false,
            _ => return Err(bad_value("expected `true` or `false`")),
        };
        return Ok(Some(Filter {
            param,
            negate: false,
            missing: Some(missing),
            any_of: Vec::new(),
        }));
    }
    // A reference parameter's modifier may be a resource type (`subject:Patient=123`).
    let reference_type = match (kind, modifier) {
        (ParameterKind::Reference, Some(m)) => {
            Some(ResourceType::from_name(m).ok_or_else(|| {
                Error::NotSupported(format!("modifier `:{m}` is not supported on `{code}`"))
            })?)
        }
        _ => None,
    };
    let negate = match (kind, modifier) {
        (_, None) | (ParameterKind::Reference, Some(_)) => false,
        (ParameterKind::Token, Some("not")) => true,
        (ParameterKind::String, Some("exact" | "contains")) => false,
        (_, Some(m)) => {
            return Err(Error::NotSupported(format!(
                "modifier `:{m}` is not supported on `{code}`"
            )));
        }
    };
    let mut any_of = Vec::new();
    for item in split_unescaped(value, ',') {
        if item.is_empty() {
            continue;
        }
        let test = match kind {
            ParameterKind::Token => {
                let parts = split_unescaped(&item, '|');
                match parts.as_slice() {
                    [code] => Test::Token {
                        system: None,
                        code: Some(unescape(code)),
                    },
                    [system, code] => Test::Token {
                        system: Some(unescape(system)),
                        code: (!code.is_empty()).then(|| unescape(code)),
                    },
                    _ => {
                        return Err(bad_value(
                            "a token is `code`, `system|code`, `|code` or `system|`",
                        ));
                    }
                }
            }
            ParameterKind::String => {
                let text = unescape(&item);
                match modifier {
                    Some("exact") => Test::StringExact(text),
                    Some("contains") => Test::StringContains(normalise(&text)),
                    _ => Test::StringStarts(normalise(&text)),
                }
            }
            ParameterKind::Reference => reference_test(&unescape(&item), reference_type, bases)
                .ok_or_else(|| bad_value("expected `Type/id`, an id or an absolute URL"))?,
            ParameterKind::Uri => Test::Uri(unescape(&item)),
            ParameterKind::Date => {
                let (prefix, rest) = prefix(&item);
                let range = Range::parse(rest)
                    .ok_or_else(|| bad_value("expected a FHIR date, optionally after a prefix"))?;
                Test::Date(prefix, range)
            }
            ParameterKind::Number => {
                let (prefix, rest) = prefix(&item);
                let number: f64 = rest
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| bad_value("expected a number, optionally after a prefix"))?;
                let decimals = rest.split_once('.').map_or(0, |(_, d)| d.len());
                let half_width = 0.5 * 10f64.powi(-i32::try_from(decimals).unwrap_or(i32::MAX));
                Test::Number(prefix, number, half_width)
            }
            _ => {
                return Err(Error::NotSupported(format!(
                    "search parameter `{code}`: quantity search is not supported"
                )));
            }
        };
        any_of.push(test);
    }
    if any_of.is_empty() {
        // An empty value is no constraint (FHIR: empty parameters are ignored).
        return Ok(None);
    }
    Ok(Some(Filter {
        param,
        negate,
        missing: None,
        any_of,
    }))
}

fn reference_test(text: &str, of_type: Option<ResourceType>, bases: &ServerBases) -> Option<Test> {
    if !text.contains('/') {
        if !is_valid_id(text) {
            return None;
        }
        return Some(match of_type {
            Some(t) => Test::ReferenceTo(format!("{t}/{text}")),
            None => Test::ReferenceId(text.to_owned()),
        });
    }
    let parsed = Reference::parse(text).ok()?;
    if let Some(target) = bases.local(&parsed) {
        if of_type.is_some_and(|t| t != target.resource_type) {
            return None;
        }
        return Some(Test::ReferenceTo(format!(
            "{}/{}",
            target.resource_type, target.id
        )));
    }
    match parsed {
        Reference::Absolute { .. } if of_type.is_none() => Some(Test::ReferenceTo(text.to_owned())),
        _ => None,
    }
}

/// A FHIR logical id: 1 to 64 of `A-Z a-z 0-9 - .`.
pub(crate) fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn prefix(item: &str) -> (Prefix, &str) {
    let prefixes = [
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("gt", Prefix::Gt),
        ("lt", Prefix::Lt),
        ("ge", Prefix::Ge),
        ("le", Prefix::Le),
        ("sa", Prefix::Sa),
        ("eb", Prefix::Eb),
        ("ap", Prefix::Ap),
    ];
    for (text, prefix) in prefixes {
        if let Some(rest) = item.strip_prefix(text) {
            return (prefix, rest);
        }
    }
    (Prefix::Eq, item)
}

/// Splits on `separator` where it is not escaped with `\` (escapes are kept for `unescape`).
fn split_unescaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            parts.push(String::new());
            continue;
        }
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

/// Removes the search escapes `\,` `\|` `\$` `\\`.
fn unescape(text: &str) -> String {
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
    out
}

/// A WHERE-clause fragment and its arguments.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) args: Vec<SqlValue>,
}

impl Sql {
    fn arg(&mut self, value: impl Into<SqlValue>) -> &mut Sql {
        self.args.push(value.into());
        self
    }

    /// The OR of what `term` writes for each item, parenthesised; a single term bare (SQLite
    /// uses an index for `x = ?`, not for `(0 OR x = ?)`); no item: `(0)`, which matches
    /// nothing.
    pub(crate) fn any_of<T>(&mut self, items: &[T], mut term: impl FnMut(&mut Sql, &T)) {
        if let [one] = items {
            return term(self, one);
        }
        self.text.push_str("(0");
        for item in items {
            self.text.push_str(" OR ");
            term(self, item);
        }
        self.text.push(')');
    }
}

impl Filter {
    /// Resources whose `param` references one of `targets` (`Type/id`); none: no resource.
    pub(crate) fn references(param: &'static str, targets: Vec<String>) -> Filter {
        Filter {
            param,
            negate: false,
            missing: None,
            any_of: targets.into_iter().map(Test::ReferenceTo).collect(),
        }
    }

    /// Resources with one of these ids; none: no resource.
    pub(crate) fn ids(ids: Vec<String>) -> Filter {
        Filter {
            param: "_id",
            negate: false,
            missing: None,
            any_of: ids
                .into_iter()
                .map(|id| Test::Token {
                    system: None,
                    code: Some(id),
                })
                .collect(),
        }
    }

    /// Appends ` AND <condition>` on the resource row `r` (of `resource_type`) to `sql`. The
    /// matching ids are selected once (`IN`, not a correlated `EXISTS`), through the
    /// `(type, param, value)` index when the test is an equality.
    pub(crate) fn push_sql(&self, resource_type: ResourceType, sql: &mut Sql) {
        let rows = "SELECT i.id FROM idx i WHERE i.type = ? AND i.param = ?";
        let (not, tests) = match self.missing {
            Some(true) => ("NOT ", false),
            Some(false) => ("", false),
            None if self.negate => ("NOT ", true),
            None => ("", true),
        };
        sql.text.push_str(&format!(" AND r.id {not}IN ({rows}"));
        sql.arg(resource_type.as_str().to_owned())
            .arg(self.param.to_owned());
        if tests {
            // No alternatives (a chain that resolved to nothing): no row matches.
            sql.text.push_str(" AND ");
            sql.any_of(&self.any_of, |sql, test| test.push_sql(sql));
        }
        sql.text.push(')');
    }
}

impl Test {
    fn push_sql(&self, sql: &mut Sql) {
        match self {
            Test::Token { system, code } => {
                sql.text.push_str("(1");
                if let Some(code) = code {
                    sql.text.push_str(" AND i.value = ?");
                    sql.arg(code.clone());
                }
                match system.as_deref() {
                    None => {}
                    Some("") => sql.text.push_str(" AND i.system IS NULL"),
                    Some(system) => {
                        sql.text.push_str(" AND i.system = ?");
                        sql.arg(system.to_owned());
                    }
                }
                sql.text.push(')');
            }
            Test::StringStarts(text) => {
                sql.text.push_str("substr(i.value, 1, ?) = ?");
                sql.arg(i64::try_from(text.chars().count()).unwrap_or(i64::MAX))
                    .arg(text.clone());
            }
            Test::StringExact(text) => {
                sql.text.push_str("i.text = ?");
                sql.arg(text.clone());
            }
            Test::StringContains(text) => {
                sql.text.push_str("instr(i.value, ?) > 0");
                sql.arg(text.clone());
            }
            Test::ReferenceTo(value) | Test::Uri(value) => {
                sql.text.push_str("i.value = ?");
                sql.arg(value.clone());
            }
            Test::ReferenceId(id) => {
                sql.text.push_str("i.text = ?");
                sql.arg(id.clone());
            }
            Test::Date(prefix, range) => {
                let (low, high) = (range.low, range.high);
                let (text, args): (&str, Vec<i64>) = match prefix {
                    Prefix::Eq => ("(i.low >= ? AND i.high <= ?)", vec![low, high]),
                    Prefix::Ne => ("NOT (i.low >= ? AND i.high <= ?)", vec![low, high]),
                    Prefix::Gt => ("i.high > ?", vec![high]),
                    Prefix::Lt => ("i.low < ?", vec![low]),
                    Prefix::Ge => (
                        "(i.high > ? OR (i.low >= ? AND i.high <= ?))",
                        vec![high, low, high],
                    ),
                    Prefix::Le => (
                        "(i.low < ? OR (i.low >= ? AND i.high <= ?))",
                        vec![low, low, high],
                    ),
                    Prefix::Sa => ("i.low >= ?", vec![high]),
                    Prefix::Eb => ("i.high <= ?", vec![low]),
                    Prefix::Ap => ("(i.low < ? AND i.high > ?)", vec![high, low]),
                };
                sql.text.push_str(text);
                for arg in args {
                    sql.arg(arg);
                }
            }
            Test::Number(prefix, value, half_width) => {
                let (value, half_width) = (*value, *half_width);
                let (text, args): (&str, Vec<f64>) = match prefix {
                    Prefix::Eq => (
                        "(i.number >= ? AND i.number < ?)",
                        vec![value - half_width, value + half_width],
                    ),
                    Prefix::Ne => (
                        "NOT (i.number >= ? AND i.number < ?)",
                        vec![value - half_width, value + half_width],
                    ),
                    Prefix::Gt | Prefix::Sa => ("i.number > ?", vec![value]),
                    Prefix::Lt | Prefix::Eb => ("i.number < ?", vec![value]),
                    Prefix::Ge => ("i.number >= ?", vec![value]),
                    Prefix::Le => ("i.number <= ?", vec![value]),
                    Prefix::Ap => {
                        let margin = (value * 0.1).abs();
                        (
                            "(i.number >= ? AND i.number <= ?)",
                            vec![value - margin, value + margin],
                        )
                    }
                };
                sql.text.push_str(text);
                for arg in args {
                    sql.arg(arg);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn alternatives_are_an_or_and_a_single_one_stands_bare() {
        let sql_of = |items: &[&str]| {
            let mut sql = Sql {
                text: String::new(),
                args: Vec::new(),
            };
            sql.any_of(items, |sql, item| {
                sql.text.push_str("x = ?");
                sql.arg((*item).to_owned());
            });
            (sql.text, sql.args.len())
        };
        assert_eq!(sql_of(&[]), ("(0)".to_owned(), 0));
        assert_eq!(sql_of(&["a"]), ("x = ?".to_owned(), 1));
        assert_eq!(sql_of(&["a", "b"]), ("(0 OR x = ? OR x = ?)".to_owned(), 2));
    }

    #[test]
    fn chains_and_has_parse_into_searches_of_their_own() {
        let bases = ServerBases::new(["http://x/fhir"]).unwrap();
        let parse = |t: ResourceType, name: &str, value: &str| {
            SearchQuery::parse(t, &[(name.to_owned(), value.to_owned())], &bases)
        };
        let query = parse(ResourceType::Observation, "subject:Patient.name", "hahn").unwrap();
        assert!(query.filters.is_empty());
        let [chain] = query.chains.as_slice() else {
            panic!("{query:?}")
        };
        assert_eq!(
            (chain.param, chain.target),
            ("subject", Some(ResourceType::Patient))
        );
        assert_eq!(chain.query.filters.len(), 1);
        assert_eq!(chain.query.filters[0].param, "name");
        // No type: kept unparsed until the engine knows the targets.
        let query = parse(ResourceType::Observation, "subject.name", "hahn").unwrap();
        assert_eq!(query.chains[0].target, None);
        assert_eq!(
            query.chains[0].query.params,
            [("name".to_owned(), "hahn".to_owned())]
        );
        let query = parse(ResourceType::Patient, "_has:Observation:patient:code", "1").unwrap();
        let [has] = query.has.as_slice() else {
            panic!("{query:?}")
        };
        assert_eq!(
            (has.source, has.param),
            (ResourceType::Observation, "patient")
        );
        assert_eq!(has.query.filters[0].param, "code");
        // Nested `_has`, within the depth bound.
        let nested = parse(
            ResourceType::Patient,
            "_has:Observation:subject:_has:Provenance:target:agent",
            "Practitioner/1",
        )
        .unwrap();
        assert_eq!(nested.has[0].query.has[0].source, ResourceType::Provenance);
        assert_eq!(
            parse(ResourceType::Patient, "_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:code", "1")
                .unwrap_err()
                .to_string(),
            "`_has:Observation:patient:code`: more than 3 links"
        );
        assert_eq!(
            parse(ResourceType::Observation, "subject:Nope.name", "x")
                .unwrap_err()
                .to_string(),
            "chained parameter `subject:Nope.name`: unknown type `Nope`"
        );
    }
    use super::*;

    fn parse(t: ResourceType, query: &str) -> Result<SearchQuery, Error> {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        SearchQuery::parse(t, &params, &ServerBases::default())
    }

    #[test]
    fn tokens_modifiers_and_escapes() {
        let q = parse(
            ResourceType::Observation,
            "code=http://loinc.org|8867-4,|x,sys|&status:not=final",
        )
        .unwrap();
        assert_eq!(
            q.filters[0].any_of,
            [
                Test::Token {
                    system: Some("http://loinc.org".into()),
                    code: Some("8867-4".into())
                },
                Test::Token {
                    system: Some(String::new()),
                    code: Some("x".into())
                },
                Test::Token {
                    system: Some("sys".into()),
                    code: None
                },
            ]
        );
        assert!(q.filters[1].negate);
        let q = parse(ResourceType::Patient, r"name=a\,b").unwrap();
        assert_eq!(q.filters[0].any_of, [Test::StringStarts("a,b".into())]);
    }

    #[test]
    fn references_dates_numbers() {
        let q = parse(
            ResourceType::Observation,
            "subject=Patient/1&subject:Patient=2&patient=3",
        )
        .unwrap();
        assert_eq!(q.filters[0].any_of, [Test::ReferenceTo("Patient/1".into())]);
        assert_eq!(q.filters[1].any_of, [Test::ReferenceTo("Patient/2".into())]);
        assert_eq!(q.filters[2].any_of, [Test::ReferenceId("3".into())]);
        let q = parse(ResourceType::Observation, "date=ge2021-03&date=lt2022").unwrap();
        assert!(matches!(q.filters[0].any_of[0], Test::Date(Prefix::Ge, _)));
        assert!(matches!(q.filters[1].any_of[0], Test::Date(Prefix::Lt, _)));
        let q = parse(ResourceType::RiskAssessment, "probability=gt0.5").unwrap();
        assert_eq!(q.filters[0].any_of, [Test::Number(Prefix::Gt, 0.5, 0.05)]);
    }

    #[test]
    fn bad_queries_are_errors_with_messages() {
        let cases = [
            (
                "nope=1",
                "unknown search parameter `nope` for `Observation`",
            ),
            (
                "date=yesterday",
                "`date=yesterday`: expected a FHIR date, optionally after a prefix",
            ),
            (
                "status:exact=x",
                "modifier `:exact` is not supported on `status`",
            ),
            (
                "code.name=x",
                "chained parameter `code.name`: `Observation` has no reference parameter `code`",
            ),
            (
                "_has:Observation:patient=1",
                "`_has:Observation:patient`: expected `_has:Type:parameter:search-parameter`",
            ),
            (
                "_count=-1",
                "`_count`: expected a non-negative integer, got `-1`",
            ),
            (
                "_include=Observation:code",
                "include `Observation:code`: `Observation` has no reference parameter `code`",
            ),
            (
                "_sort=status",
                "`_sort=status`: only date parameters can be sorted by",
            ),
            (
                "code:missing=maybe",
                "`code:missing=maybe`: expected `true` or `false`",
            ),
            (
                "value-quantity=5",
                "search parameter `value-quantity`: quantity search is not supported",
            ),
            (
                "subject=Patient/",
                "`subject=Patient/`: expected `Type/id`, an id or an absolute URL",
            ),
        ];
        for (query, message) in cases {
            assert_eq!(
                parse(ResourceType::Observation, query)
                    .unwrap_err()
                    .to_string(),
                message,
                "{query}"
            );
        }
    }

    #[test]
    fn result_parameters() {
        let q = parse(
            ResourceType::Observation,
            "_count=5&_offset=10&_sort=-date&_include=Observation:subject&_revinclude:iterate=Provenance:target&_summary=count&_elements=code,subject",
        )
        .unwrap();
        assert_eq!(q.count, Some(5));
        assert_eq!(q.offset, 10);
        assert_eq!(
            q.sort,
            [Sort {
                param: "date",
                descending: true
            }]
        );
        assert_eq!(q.includes[0].param, "subject");
        assert!(q.revincludes[0].iterate);
        assert!(q.summary_count);
        assert_eq!(
            q.elements,
            Some(vec!["code".to_owned(), "subject".to_owned()])
        );
        assert!(q.params.iter().all(|(n, _)| n != "_offset"));
    }
}
